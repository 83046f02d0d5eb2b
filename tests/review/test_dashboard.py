"""The dashboard with streamlit's AppTest on a real SQLite store seeded with the demo data and the real
scanner: log-in and throttling, every page for every role (a marketing user never reaches the registry,
not even by going to the page directly), the pre-check flow with text and an image, queue decisions and
waivers, charts and drill-down, registry changes, rules and the audit log."""
from __future__ import annotations

import html
import time
from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT, SHARED

APP = str(ROOT / "dashboard" / "app.py")
PAGES = ROOT / "dashboard" / "views"
VIOLATING = "Thanks Sarah! So glad you loved your lip filler, see you at your touch-up!"
COMPLIANCE_PAGES = ["queue.py", "scans.py", "registry.py", "audit.py"]
TIMEOUT = 180  # the first check in a worker loads the models


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A data home with the demo users, registry and scanned demo items (set for the whole module)."""
    home = tmp_path_factory.mktemp("dash-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDSPA_SCAN_HOME", str(home))
        mp.delenv("MEDSPA_SCAN_DB", raising=False)
        from scanner import Store
        from scanner.review.demo_data import seed_if_empty

        assert seed_if_empty(Store()) is not None
        yield home


@pytest.fixture()
def store(demo):
    from scanner import Store

    return Store()


def as_user(at: AppTest, name: str, role: str) -> AppTest:
    at.session_state["user"] = name
    at.session_state["role"] = role
    at.session_state["last_seen"] = time.time()
    return at


def page(name: str, user: str = "manager", role: str = "compliance") -> AppTest:
    return as_user(AppTest.from_file(str(PAGES / name), default_timeout=TIMEOUT), user, role)


def texts(at: AppTest) -> str:
    """Everything a user can read on the page (markdown, captions, alerts, titles, dataframes)."""
    parts = [e.value for kind in ("markdown", "caption", "title", "subheader", "success", "info", "warning", "error",
                                  "code", "text") for e in at.get(kind) if isinstance(e.value, str)]
    parts += [df.value.to_csv() for df in at.dataframe]
    parts += [x.label for x in at.expander]
    return plain("\n".join(parts))


def plain(markdown: str) -> str:
    """Markdown as read on screen (the dashboard backslash-escapes untrusted text)."""
    return markdown.replace("\\", "")


def labels(at: AppTest) -> list[str]:
    return [plain(e.label) for e in at.expander]


# -- log-in ------------------------------------------------------------------------------------------
def test_login_wrong_then_right(demo):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert at.button[0].label == "Log in" and not at.sidebar.button  # nothing but the log-in form
    at.text_input(key="login_name").input("manager")
    at.text_input(key="login_password").input("wrong-password")
    at.form_submit_button[0].click().run()
    assert any("Wrong user name or password" in e.value for e in at.error)
    assert "role" not in at.session_state
    at.text_input(key="login_password").input("demo-compliance")
    at.form_submit_button[0].click().run()
    assert at.session_state["role"] == "compliance"
    assert any(t.value == "Pre-check a draft" for t in at.title)  # lands on the pre-check page
    at.switch_page("views/registry.py").run()
    assert any(t.value == "Authorization registry" for t in at.title)


def test_repeated_failed_logins_are_slowed_down(demo, store):
    from scanner.review import accounts

    accounts.add_user(store, "slowpoke", "slowpoke-password", "marketing")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.text_input(key="login_name").input("slowpoke")
    at.text_input(key="login_password").input("guess")
    for _ in range(accounts.FREE_FAILURES + 1):
        at.form_submit_button[0].click().run()
    at.text_input(key="login_password").input("slowpoke-password")
    at.form_submit_button[0].click().run()
    assert any("Too many failed log-ins" in e.value for e in at.error)
    assert "role" not in at.session_state


def test_logout(demo):
    at = as_user(AppTest.from_file(APP, default_timeout=TIMEOUT), "manager", "compliance").run()
    at.sidebar.button[0].click().run()
    assert "user" not in at.session_state
    assert any("logged out" in i.value for i in at.info)


def test_session_times_out(demo):
    at = page("rules.py")
    at.session_state["last_seen"] = time.time() - 10 * 3600
    at.run()
    assert any("log in" in w.value.lower() for w in at.warning)
    assert not at.expander  # no rule shown
    at = as_user(AppTest.from_file(APP, default_timeout=TIMEOUT), "manager", "compliance")
    at.session_state["last_seen"] = time.time() - 10 * 3600
    at.run()
    assert at.button[0].label == "Log in" and any("timed out" in i.value for i in at.info)


def test_a_removed_user_is_logged_out_and_a_changed_role_counts_at_once(demo, store):
    from scanner.review import accounts
    from scanner.review.accounts import User

    accounts.add_user(store, "temp-manager", "temp-password", "compliance")
    at = page("registry.py", "temp-manager", "compliance").run()
    assert any(t.value == "Authorization registry" for t in at.title)
    with store.session() as s:
        s.query(User).filter_by(name="temp-manager").one().role = "marketing"
    at.run()
    assert any("do not have access" in e.value for e in at.error) and "Camila" not in texts(at)
    with store.session() as s:
        s.query(User).filter_by(name="temp-manager").delete()
    at.run()
    assert any("log in" in w.value.lower() for w in at.warning)


def test_login_starts_a_signed_session_and_logging_out_ends_it(demo, store):
    from scanner.review import sessions

    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.text_input(key="login_name").input("manager")
    at.text_input(key="login_password").input("demo-compliance")
    at.form_submit_button[0].click().run()
    token = at.session_state["token"]
    assert sessions.resolve(store, token) == "manager"  # what a reload presents (the cookie) logs back in
    assert any(sessions.COOKIE in h.proto.body and token in h.proto.body for h in at.sidebar.get("html"))
    at.sidebar.button[0].click().run()
    assert sessions.resolve(store, token) is None  # a copy of the cookie is worthless after log-out
    assert any(f"{sessions.COOKIE}=;" in h.proto.body and "max-age=0" in h.proto.body for h in at.get("html"))


def test_admin_manages_users_and_every_change_is_audited(demo, store):
    from scanner.core import audit
    from scanner.review import accounts, sessions

    at = page("users.py", "admin", "admin").run()
    assert not at.exception, at.exception
    assert {"manager", "marketer", "admin"} <= set(at.dataframe[0].value["name"])
    at.text_input(key="new_name").input("nina")
    at.selectbox(key="new_role").select("marketing")
    at.text_input(key="new_pw1").input("nina-password")
    at.text_input(key="new_pw2").input("nina-password")
    at.form_submit_button[0].click().run()
    assert accounts.role_of(store, "nina") == "marketing"
    at.selectbox(key="edit_user").select("nina").run()
    at.selectbox(key="edit_role").select("compliance").run()
    at.button(key="change_role").click().run()
    assert accounts.role_of(store, "nina") == "compliance"
    token = sessions.issue(store, "nina")
    at.selectbox(key="edit_user").select("nina").run()
    at.text_input(key="reset_pw").input("nina-new-password")
    at.button(key="reset_password").click().run()
    assert accounts.authenticate(store, "nina", "nina-new-password") == "compliance"
    assert sessions.resolve(store, token) is None  # a reset ends the open sessions
    at.selectbox(key="edit_user").select("nina").run()
    at.button(key="disable_user").click().run()
    assert "disabled" in list(at.dataframe[0].value.set_index("name").loc[["nina"], "status"])
    login = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    login.text_input(key="login_name").input("nina")
    login.text_input(key="login_password").input("nina-new-password")
    login.form_submit_button[0].click().run()
    assert any("disabled" in e.value for e in login.error) and "role" not in login.session_state
    changes = [e for e in audit.entries(store, limit=20) if e["target"] == "nina" and e["action"].startswith("users.")]
    assert {"users.add", "users.role", "users.password", "users.disable"} <= {e["action"] for e in changes}
    assert all(e["actor"] == "admin" for e in changes)


def test_only_admins_see_the_users_page(demo):
    at = page("users.py", "manager", "compliance").run()
    assert any("do not have access" in e.value for e in at.error) and not at.dataframe


# -- roles -------------------------------------------------------------------------------------------
def test_marketing_menu_has_no_compliance_pages(demo):
    at = as_user(AppTest.from_file(APP, default_timeout=TIMEOUT), "marketer", "marketing").run()
    assert any(t.value == "Pre-check a draft" for t in at.title)
    for name in COMPLIANCE_PAGES:
        with pytest.raises(ValueError, match="not|registered"):
            at.switch_page(f"views/{name}")


@pytest.mark.parametrize("name", COMPLIANCE_PAGES)
def test_marketing_cannot_open_compliance_pages_even_directly(demo, name):
    at = page(name, "marketer", "marketing").run()
    assert not at.exception
    assert any("do not have access" in e.value for e in at.error)
    shown = texts(at)
    for secret in ("Camila", "Reyes", "D001", "@cami.glow", "demo-0"):  # registry details, queued items
        assert secret not in shown
    assert not at.dataframe and not at.button and not at.text_input


@pytest.mark.parametrize("role", ["compliance", "admin"])
@pytest.mark.parametrize("name", ["precheck.py", "rules.py", *COMPLIANCE_PAGES])
def test_every_page_renders_for_reviewers(demo, name, role):
    at = page(name, "manager" if role == "compliance" else "admin", role).run()
    assert not at.exception, at.exception
    assert at.title and not at.error


@pytest.mark.parametrize("name", ["precheck.py", "rules.py"])
def test_marketing_pages_render(demo, name):
    at = page(name, "marketer", "marketing").run()
    assert not at.exception, at.exception
    assert at.title and not at.error


@pytest.mark.parametrize("name", ["precheck.py", "rules.py", *COMPLIANCE_PAGES])
def test_logged_out_visitor_is_stopped_on_every_page(demo, name):
    at = AppTest.from_file(str(PAGES / name), default_timeout=TIMEOUT).run()
    assert any("log in" in w.value.lower() for w in at.warning)
    assert not at.dataframe and not at.button


# -- pre-check ---------------------------------------------------------------------------------------
def _check(at: AppTest, text: str, *, reply_to: str = "", author: str = "", kind: str = "reply",
           channel: str = "google") -> AppTest:
    at.text_area(key="draft_text").input(text)
    at.text_area(key="draft_reply_to").input(reply_to)
    at.text_input(key="draft_author").input(author)
    at.selectbox(key="draft_kind").select(kind)
    at.selectbox(key="draft_channel").select(channel)
    at.form_submit_button[0].click().run()
    assert not at.exception, at.exception
    return at


def _card_titles(at: AppTest) -> list[str]:
    return [plain(m.value) for m in at.markdown if m.value.startswith("**") and ". " in m.value[:8]]


def _safe_text(at: AppTest) -> str:
    box = next(m.value for m in at.markdown if "data-testid='safe-text'" in m.value)
    return box.split(">", 1)[1].rsplit("</div>", 1)[0]


def test_precheck_says_what_is_wrong_in_one_sentence_with_one_card_per_span_and_submits(demo, store):
    from scanner.core import audit
    from scanner.review import queue as review

    at = _check(page("precheck.py", "marketer", "marketing").run(), VIOLATING,
                reply_to="Got lip filler here last week, obsessed", author="Sarah K.")
    sentence = at.error[0].value
    assert sentence.startswith("Don't post: it names Sarah") and "lip filler" in sentence
    marked = next(m.value for m in at.markdown if "<mark" in m.value)
    assert "Sarah</mark>" in marked and "lip filler</mark>" in marked  # each problem highlighted at its span
    # 5 findings, 3 places: "see you at your touch-up" is one card, not three
    titles = _card_titles(at)
    assert len(titles) == 3 and marked.count("<mark") == 3, titles
    assert any("“see you at your touch-up” — Confirms someone is a client" in t for t in titles), titles
    outside_details = "\n".join(m.value for m in at.markdown) + "\n".join(e.value for e in at.error)
    assert "PHI001" not in outside_details and "patient_identifier" not in outside_details
    assert "45 CFR" not in outside_details  # citations are behind the toggle
    details = [e for e in at.expander if e.label == "Compliance details"]
    assert len(details) == 3 and "PHI001" in "".join(c.value for c in details[0].caption)
    suggestion = _safe_text(at)
    assert "Sarah" not in suggestion and "filler" not in suggestion  # the safe text confirms nothing
    assert at.button(key="use_suggested").proto.type == "primary"
    at.text_input(key="submit_note").input("for this week's replies")
    submit = next(b for b in at.button if b.label == "Submit for approval")
    assert submit.proto.type != "primary"  # the primary action is the safe text, not an approval request
    submit.click().run()
    assert any("Submitted" in s.value for s in at.success)
    assert not [b for b in at.button if b.label == "Submit for approval"]  # once
    mine = at.dataframe[0].value
    assert list(mine["status"])[0] == "open" and list(mine["verdict"])[0] == "block"
    queued = review.queue(store, source="dashboard")
    assert queued[0]["submitted_by"] == "marketer" and queued[0]["text"] == VIOLATING
    last = audit.entries(store, limit=1)[0]
    assert (last["actor"], last["action"]) == ("marketer", "review.submit")


def test_precheck_use_this_text_checks_it_again_and_it_passes(demo):
    at = _check(page("precheck.py", "marketer", "marketing").run(), VIOLATING, author="Sarah K.")
    suggestion = _safe_text(at)
    at.button(key="use_suggested").click().run()
    assert at.text_area(key="draft_text").value == suggestion
    assert at.success and at.success[0].value.startswith("Good to go")  # checked again without another click
    assert not [b for b in at.button if b.label == "Submit for approval"]
    assert not [m for m in at.markdown if "Advisories" in m.value]


def test_precheck_post_suggestion_reads_as_finished_text_and_passes_itself(demo):
    post = "Our client Jessica is loving her lip filler results! Book your consultation today."
    at = _check(page("precheck.py", "marketer", "marketing").run(), post, kind="post", channel="instagram")
    assert at.error and at.error[0].value.startswith("Don't post:") and "Jessica" in at.error[0].value
    suggestion = _safe_text(at)
    assert "[" not in suggestion and "Jessica" not in suggestion and "filler" not in suggestion
    at.button(key="use_suggested").click().run()
    assert at.success[0].value.startswith("Good to go"), texts(at)


def test_precheck_needs_something_to_check(demo):
    at = page("precheck.py", "marketer", "marketing").run()
    at.form_submit_button[0].click().run()
    assert any("Paste a draft or upload an image" in e.value for e in at.error)


def _precheck_post_with_a_face(text: str, filename: str):
    """The pre-check page after checking an instagram post with a real photo of an unregistered face."""
    photo = SHARED / "faces" / "biden.jpg"
    if not photo.is_file():
        pytest.skip("../shared/faces is not available")
    at = page("precheck.py", "marketer", "marketing").run()
    at.text_area(key="draft_text").input(text)
    at.selectbox(key="draft_kind").select("post")
    at.selectbox(key="draft_channel").select("instagram")
    at.file_uploader(key="draft_image").upload(filename, photo.read_bytes(), "image/jpeg")
    at.form_submit_button[0].click().run()
    assert not at.exception, at.exception
    return at


def test_precheck_image_shows_face_boxes_and_fixed_copies_to_download(demo):
    at = _precheck_post_with_a_face("New year, new glow! Book your HydraFacial today.", "model-shoot.jpg")
    assert not at.success  # an unknown face needs review
    assert any("Identifiable face" in t for t in _card_titles(at))
    shown = [str(h.proto) for h in at.get("html") if "data:image/jpeg;base64," in str(h.proto)]
    assert shown, "the image with its face boxes is shown, inside the page (never through /media)"
    assert "1 face marked" in shown[0] and not at.image
    buttons = [b.proto.label for b in at.get("download_button")]
    assert "Download with faces blurred" in buttons, buttons
    fixes = " ".join(m.value for m in at.markdown if "Instead:" in m.value)
    assert "Download with faces blurred" in fixes and "medspa-scan" not in texts(at)  # no command to run


def test_precheck_results_post_with_an_unregistered_face_is_blocked_with_a_reason(demo):
    at = _precheck_post_with_a_face("Our client loving her results after her HydraFacial!", "results.jpg")
    sentence = at.error[0].value
    assert sentence.startswith("Don't post:") and "face nobody has authorized" in sentence
    face = next(m.value for m in at.markdown if "presents treatment results with a face nobody has authorized"
                in m.value)
    assert face
    assert at.session_state["last_check"]["result"].get("suggested_text") != \
        "Our client loving her results after her HydraFacial!"  # never the draft unchanged as its "safe text"


# -- review queue ------------------------------------------------------------------------------------
def _queue_item(store, item_id: str):
    from scanner.review import queue as review

    return next(i for i in review.queue(store, status=None) if i["id"] == item_id)


def queue_page(item_pk: int | None = None, **state) -> AppTest:
    at = page("queue.py")
    if item_pk is not None:
        at.query_params["item"] = str(item_pk)
    for k, v in state.items():
        at.session_state[k] = v
    return at.run()


def table_texts(at: AppTest) -> list[str]:
    return list(at.dataframe[0].value["text"]) if at.dataframe else []


def test_queue_rows_show_preview_submitter_note_age_and_sort_by_risk(demo, store):
    at = queue_page()
    assert not at.exception, at.exception
    df = at.dataframe[0].value
    for column in ("verdict", "text", "kind / channel", "problem", "source", "submitted by", "submitted", "age",
                   "note", "link"):
        assert column in df.columns, column
    assert all(link.startswith("?item=") for link in df["link"])
    verdicts = list(df["verdict"])
    assert verdicts == sorted(verdicts, key=lambda v: 0 if "block" in v else 1)  # risk first
    assert df["problem"].str.contains("_").sum() == 0  # readable labels, not snake_case
    at.selectbox(key="q_sort").select("oldest").run()
    stamps = list(at.dataframe[0].value["submitted"])
    assert stamps == sorted(stamps)


def test_queue_table_rows_agree_with_the_full_queue_including_waivers(demo, store):
    from scanner.review import queue as review

    target = next(i for i in review.queue(store) if i["effective_verdict"] == "review")
    fid = next(f["id"] for f in target["findings"] if f["severity"] == "medium")
    review.waive(store, fid, "manager", "general education, not about this person")
    try:
        full = {i["pk"]: i for i in review.queue(store, status=None)}
        rows = {r["pk"]: r for r in review.queue_rows(store, status=None)}
        assert full.keys() == rows.keys()
        for pk, row in rows.items():
            assert row["effective_verdict"] == full[pk]["effective_verdict"], pk
            assert (row["text"], row["note"], row["submitted_by"]) == (full[pk]["text"], full[pk]["note"],
                                                                       full[pk]["submitted_by"])
    finally:
        review.unwaive(store, fid, "manager", "test over")


def test_queue_item_link_opens_it_and_approving_a_blocked_item_needs_a_reason(demo, store):
    from scanner.core import audit
    from scanner.review import queue as review

    target = _queue_item(store, "demo-03")
    at = queue_page(target["pk"])
    assert at.error and at.error[0].value.startswith("Don't post:")  # the item's verdict sentence
    approve = at.button(key=f"approve-{target['pk']}")
    assert approve.label == "Approve anyway" and approve.proto.type != "primary"  # secondary on a blocked item
    if target["suggested_text"]:
        assert at.button(key=f"send-back-{target['pk']}").proto.type == "primary"
    approve.click().run()
    assert any("needs a justification" in e.value for e in at.error)
    assert review.get_item(store, target["pk"])["status"] == "open"
    at.text_input(key=f"reason-{target['pk']}").input("reply was never posted; archived")
    at.button(key=f"approve-{target['pk']}").click().run()
    assert any("Approved demo-03" in plain(s.value) for s in at.success)
    assert review.get_item(store, target["pk"])["status"] == "approved"
    last = audit.entries(store, limit=1)[0]
    assert (last["actor"], last["action"], last["target"]) == ("manager", "review.approve", f"item:{target['pk']}")
    assert last["detail"]["justification"] == "reply was never posted; archived"


def test_queue_reject_with_reason(demo, store):
    from scanner.review import queue as review

    target = _queue_item(store, "demo-12")
    at = queue_page(target["pk"])
    at.button(key=f"reject-{target['pk']}").click().run()
    assert any("needs a reason" in e.value for e in at.error)
    at.text_input(key=f"reason-{target['pk']}").input("names a client without authorization")
    at.button(key=f"reject-{target['pk']}").click().run()
    assert review.get_item(store, target["pk"])["status"] == "rejected"
    at.radio(key="q_status").set_value("rejected").run()
    assert any(target["text"][:40] in t for t in table_texts(at))


def test_queue_send_back_with_the_safe_text_reaches_the_submitter(demo, store):
    from scanner.core import audit
    from scanner.review import queue as review

    pre = page("precheck.py", "marketer", "marketing").run()
    _check(pre, "Thanks Jenna! Hope your Botox settled in nicely, see you next month!", author="Jenna R.")
    next(b for b in pre.button if b.label == "Submit for approval").click().run()
    pk = review.queue(store, source="dashboard")[0]["pk"]
    at = queue_page(pk)
    at.button(key=f"send-back-{pk}").click().run()
    assert any("Sent back" in x.value for x in at.success)
    assert audit.entries(store, limit=1)[0]["action"] == "review.send_back"
    mine = page("precheck.py", "marketer", "marketing").run().dataframe[0].value
    row = mine.iloc[0]
    assert row["status"] == "sent back" and "Jenna" not in row["safe text"] and row["safe text"]


def test_queue_never_sends_back_a_safe_text_that_does_not_pass(demo, store):
    from scanner import Finding, Item, ScanResult
    from scanner.review import queue as review

    item = Item(id="gate-unsafe-suggestion", kind="reply", channel="google", author="Sarah K.",
                text="Thanks Sarah! See you at your touch-up next week!")
    unsafe = "Thanks Sarah, see you at your touch-up!"  # a stored suggestion that was never checked
    result = ScanResult(id=item.id, verdict="block", rule_pack="test", suggested_text=unsafe, findings=[
        Finding(rule_id="PHI001", category="patient_identifier", severity="high", message="names the reviewer",
                evidence="Sarah", start=7, end=12)])
    run = store.start_run("api", actor="test")
    [pk] = store.save_results(run, [(item, result)], source="api", submitted_by="test")
    at = queue_page(pk)
    shown = next(m.value for m in at.markdown if "#ebfbee" in m.value)
    assert "Sarah" not in shown and "touch-up" not in shown
    at.button(key=f"send-back-{pk}").click().run()
    sent = review.get_item(store, pk)
    assert sent["status"] == "rejected" and sent["suggested_text"] != unsafe
    assert "Sarah" not in sent["suggested_text"] and shown.endswith(html.escape(sent["suggested_text"]) + "</div>")


def test_queue_bulk_approve_with_one_reason(demo, store):
    from scanner.core import audit
    from scanner.review import queue as review

    at = queue_page(q_source="crawl", q_all=True)
    n = len(table_texts(at))
    assert n >= 2
    at.button(key="bulk_approve").click().run()
    assert at.error  # blocked ones need the reason
    at.text_input(key="bulk_reason").input("archived posts, taken down last week")
    at.button(key="bulk_approve").click().run()
    assert any(f"Approved {n} item(s)" in x.value for x in at.success), [x.value for x in at.success]
    assert not review.queue(store, source="crawl")
    assert sum(e["action"] == "review.approve" for e in audit.entries(store, limit=n)) == n


def test_queue_false_positive_waiver(demo, store):
    from scanner.core import audit
    from scanner.review import queue as review

    target = _queue_item(store, "demo-05")  # medical advice in a comment: review
    fid = next(f["id"] for f in target["findings"] if f["severity"] in ("high", "medium"))
    at = queue_page(target["pk"])
    at.button(key=f"fp-{fid}").click().run()
    assert any("needs a justification" in e.value for e in at.error)
    at.text_input(key=f"just-{fid}").input("general aftercare published on our website")
    at.button(key=f"fp-{fid}").click().run()
    assert any("waived" in s.value for s in at.success)
    f = next(x for x in review.get_item(store, target["pk"])["findings"] if x["id"] == fid)
    assert f["waived"] and f["waiver"]["reviewer"] == "manager" and f["waiver"]["expires_on"]
    assert any("Waived as a false positive by manager" in i.value for i in at.info)
    last = audit.entries(store, limit=1)[0]
    assert last["action"] == "review.false_positive" and last["detail"]["expires_on"] == f["waiver"]["expires_on"]


def test_queue_filters_by_source_channel_category(demo, store):
    at = queue_page()
    at.selectbox(key="q_source").select("api").run()
    shown = at.dataframe[0].value
    assert len(shown) and all(f == "reply gate" for f in shown["source"])
    at.selectbox(key="q_source").select("all")
    at.selectbox(key="q_channel").select("sms").run()
    assert all(k.endswith("· sms") for k in at.dataframe[0].value["kind / channel"])
    at.selectbox(key="q_channel").select("all")
    at.selectbox(key="q_category").select("image_metadata").run()
    assert not at.dataframe and any("Nothing here" in i.value for i in at.info)


# -- published scans ---------------------------------------------------------------------------------
def test_scans_count_published_items_not_drafts_and_drill_down(demo, store):
    from scanner.review import queue as review

    pre = page("precheck.py", "marketer", "marketing").run()  # an unsubmitted draft with many findings
    _check(pre, "Sarah, Megan and Chloe loved their lip filler, Botox and CoolSculpting! See you at your "
                "touch-ups, ladies!", kind="post", channel="instagram")
    draft_pk = pre.session_state["last_check"]["pk"]
    at = page("scans.py").run()
    assert not at.exception, at.exception
    assert len(at.get("vega_lite_chart")) == 3  # by problem, channel and week
    published = {r["pk"] for r in review.published_rows(store)}
    assert draft_pk not in published
    assert at.metric[0].value == str(len(published))  # items, not findings
    table = at.dataframe[0].value
    assert "open" in table.columns and all(o.startswith("queue?item=") for o in table["open"])
    charts = "".join(c.proto.spec for c in at.get("vega_lite_chart"))
    assert "#e03131" not in charts and '"field": "problem"' in charts and '"field": "category"' not in charts
    at.selectbox(key="s_source").select("crawl").run()
    at.selectbox(key="s_cat").select("Reveals a treatment").run()
    df = at.dataframe[0].value
    assert len(df) and set(df["source"]) == {"published (crawl)"}
    assert all("Reveals a treatment" in p for p in df["problems"])
    assert "demo-14" in set(df["item"])
    assert at.get("download_button")
    runs = at.dataframe[-1].value
    assert set(runs["source"]) <= {"crawl", "reply-gate batch", "command-line batch"}  # no pre-check "runs"


# -- registry ----------------------------------------------------------------------------------------
def test_registry_lists_people_by_expiry_and_revokes_by_name_after_confirming(demo, store):
    from scanner import Registry
    from scanner.core import audit

    at = page("registry.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table.columns[:3]) == ["expires", "status", "name"]  # expiry first
    status = dict(zip(table["id"], table["status"], strict=True))
    assert status["D001"] == "valid" and status["D003"] == "expired" and status["D004"] == "revoked"
    assert "before/after photos" in set(table.loc[table["id"] == "D001", "covers"].iloc[0].split(", "))
    assert "#ffe3e3" in at.dataframe[0].proto.arrow_data.styler.styles  # coloured by status
    assert "Noah Bennett (D002)" in at.selectbox(key="revoke_pid").format_func("D002")
    at.selectbox(key="revoke_pid").select("D002")
    at.text_input(key="revoke_reason").input("revocation letter received")
    at.button(key="revoke_ask").click().run()
    assert any("Noah Bennett" in w.value for w in at.warning)  # asks first
    assert next(r for r in Registry.all_records(store) if r.patient_id == "D002").revoked_on is None
    at.button(key="revoke_yes").click().run()
    assert any("Revoked Noah Bennett (D002)" in x.value for x in at.success)
    assert next(r for r in Registry.all_records(store) if r.patient_id == "D002").revoked_on is not None
    last = audit.entries(store, limit=1)[0]
    assert (last["actor"], last["action"], last["target"]) == ("manager", "registry.revoke", "D002")


def test_registry_form_adds_a_new_client_and_renews_an_expired_one(demo, store):
    from scanner import Registry

    at = page("registry.py").run()
    at.text_input(key="add_name").input("Priya Nair")
    at.text_input(key="add_id").input("D200")
    at.multiselect(key="add_purposes").select("testimonial")
    next(b for b in at.form_submit_button if b.label == "Save authorization").click().run()
    assert any("Saved an authorization for Priya Nair (D200)" in x.value for x in at.success), [e.value for e in at.error]
    at.selectbox(key="add_pid").select("D003")  # Hazel Park, expired in 2023
    at.multiselect(key="add_purposes").select("before_after_photos")
    next(b for b in at.form_submit_button if b.label == "Save authorization").click().run()
    assert any("Hazel Park (D003)" in x.value for x in at.success), [e.value for e in at.error]
    statuses = {r.status(date.today()) for r in Registry.all_records(store) if r.patient_id == "D003"}
    assert "valid" in statuses
    at = page("registry.py").run()
    at.text_input(key="add_id").input("D201")  # a new client without a name
    at.multiselect(key="add_purposes").select("testimonial")
    next(b for b in at.form_submit_button if b.label == "Save authorization").click().run()
    assert any("Not saved: full_name" in e.value for e in at.error), [e.value for e in at.error]


def test_registry_import_reports_the_bad_row_and_imports_a_good_file(demo, store):
    from scanner import Registry

    header = "patient_id,full_name,aliases,social_handles,purposes,channels,signed_on,expires_on,revoked_on,photo\n"
    at = page("registry.py").run()
    bad = header + "D100,Amy Stone,,,testimonial,all,2024-01-01,,,\nD101,Bo Li,,,dancing,all,2024-01-01,,,\n"
    at.file_uploader(key="import_csv").upload("consents.csv", bad.encode(), "text/csv").run()
    next(b for b in at.button if b.label == "Import").click().run()
    err = " ".join(e.value for e in at.error)
    assert "Nothing imported" in err and "line 3" in err
    assert not any(r.patient_id == "D100" for r in Registry.all_records(store))  # all or nothing
    good = header + "D100,Amy Stone,,,testimonial,all,2024-01-01,2099-01-01,,\n"
    at.file_uploader(key="import_csv").upload("consents.csv", good.encode(), "text/csv").run()
    next(b for b in at.button if b.label == "Import").click().run()
    assert any("Imported 1 authorization" in s.value for s in at.success)
    assert any(r.patient_id == "D100" for r in Registry.all_records(store))


def test_registry_enroll_photo(demo, store):
    photo = SHARED / "faces" / "obama.jpg"
    if not photo.is_file():
        pytest.skip("../shared/faces is not available")
    at = page("registry.py", "admin", "admin").run()
    at.selectbox(key="enroll_pid").select("D001")
    at.file_uploader(key="enroll_photo").upload("camila.jpg", photo.read_bytes(), "image/jpeg").run()
    next(b for b in at.button if b.label == "Enroll").click().run()
    assert any("Enrolled a photo for Camila Reyes (D001)" in s.value for s in at.success), [e.value for e in at.error]
    table = at.dataframe[0].value
    assert int(table.set_index("id").loc["D001", "photos"]) >= 1


# -- rules and audit ---------------------------------------------------------------------------------
def test_rules_page_is_generated_from_the_rule_data(demo):
    from scanner import load_rule_pack

    pack = load_rule_pack()
    at = page("rules.py", "marketer", "marketing").run()
    assert len(at.expander) == len(pack.rules)
    rule = pack.get("PAT001") or pack.rules[0]
    assert any(e.label.startswith(rule.id) for e in at.expander)
    assert rule.rationale in texts(at) and rule.remediation in texts(at)
    at.selectbox(key="rules_cat").select("medical_advice").run()
    assert at.expander and all("medical_advice" in label for label in labels(at))


def test_audit_log_reads_in_plain_words_filters_exports_and_verifies(demo, store):
    from scanner.core import audit

    audit.record(store, "manager", "review.approve", "item:1", {"justification": "test"})
    at = page("audit.py").run()
    assert not at.exception, at.exception
    top = at.dataframe[0].value.iloc[0]
    assert (top["who"], top["what"], top["open"], top["details"]) == ("manager", "Approved", "queue?item=1",
                                                                     "justification: test")
    assert "{" not in "".join(at.dataframe[0].value["details"])  # no JSON
    at.selectbox(key="audit_family").select("users").run()
    df = at.dataframe[0].value
    assert len(df) >= 3 and set(df["what"]) <= {"Added a user", "Set a password", "Changed a role",
                                                "Disabled a user", "Enabled a user"}
    assert at.get("download_button")
    at.selectbox(key="audit_family").select("all")
    at.selectbox(key="audit_actor").select("manager").run()
    assert set(at.dataframe[0].value["who"]) == {"manager"}
    next(b for b in at.button if b.label == "Verify the hash chain").click().run()
    assert any("Audit log intact" in s.value for s in at.success)


def test_pages_only_use_scanner_public_functions():
    """No scanning logic in the dashboard: pages never touch the text/rule/image internals or the tables."""
    for path in [ROOT / "dashboard" / "app.py", ROOT / "dashboard" / "_common.py", *PAGES.glob("*.py")]:
        src = Path(path).read_text(encoding="utf-8")
        for internal in ("scanner.text.analysis", "scanner.image.faces", "scanner.image.ocr", "scanner.image.load",
                         "scanner.pipeline.verdict", "sqlalchemy", "StoredItem",
                         "StoredFinding", "presidio", "spacy", "face_recognition"):
            assert internal not in src, f"{path.name} uses {internal}"
