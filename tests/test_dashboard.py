"""The dashboard with streamlit's AppTest: every page and role, the pre-check flow, queue decisions."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")
PAGES = ROOT / "dashboard" / "pages"


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory):
    import os

    home = tmp_path_factory.mktemp("dash-home")
    os.environ["MEDSPA_SCAN_HOME"] = str(home)
    from scanner._cli_dashboard import seed_demo_if_empty

    assert seed_demo_if_empty()
    return home


def as_user(at: AppTest, name: str, role: str) -> AppTest:
    at.session_state["user"] = name
    at.session_state["role"] = role
    at.session_state["last_seen"] = time.time()
    return at


def page(name: str) -> AppTest:
    return AppTest.from_file(str(PAGES / name), default_timeout=120)


def test_login_wrong_then_right(demo_home):
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.text_input(key="login_name").input("manager")
    at.text_input(key="login_password").input("wrong-password")
    at.button[0].click().run()
    assert any("Wrong user name or password" in e.value for e in at.error)
    at.text_input(key="login_password").input("demo-compliance")
    at.button[0].click().run()
    assert at.session_state["role"] == "compliance"


@pytest.mark.parametrize("name", ["registry.py", "queue.py", "scans.py", "audit.py"])
def test_marketing_cannot_open_compliance_pages_even_directly(demo_home, name):
    at = as_user(page(name), "marketer", "marketing").run()
    assert any("do not have access" in e.value for e in at.error)
    assert not at.dataframe  # nothing of the registry or queue is shown


@pytest.mark.parametrize("name", ["precheck.py", "rules.py", "queue.py", "scans.py", "registry.py", "audit.py"])
def test_every_page_renders_for_compliance(demo_home, name):
    at = as_user(page(name), "manager", "compliance").run()
    assert not at.exception, at.exception
    assert at.title


def test_logged_out_user_is_stopped(demo_home):
    at = page("precheck.py").run()
    assert any("log in" in w.value.lower() for w in at.warning)


def test_session_times_out(demo_home):
    at = page("rules.py")
    as_user(at, "manager", "compliance")
    at.session_state["last_seen"] = time.time() - 10 * 3600
    at.run()
    assert any("log in" in w.value.lower() for w in at.warning)


def test_precheck_blocks_a_violating_reply_and_submits_it(demo_home):
    at = as_user(page("precheck.py"), "marketer", "marketing").run()
    at.text_area(key="draft_text").input("Thanks Sarah! So glad you loved your lip filler, see you at your touch-up!")
    at.text_area(key="draft_reply_to").input("Got lip filler here last week, obsessed")
    at.text_input(key="draft_author").input("Sarah K.")
    at.button[0].click().run()
    assert any("BLOCK" in m.value for m in at.markdown)
    assert any("<mark" in m.value for m in at.markdown)  # findings highlighted in the text
    submit = next(b for b in at.button if b.label == "Submit for approval")
    submit.click().run()
    assert any("Submitted" in s.value for s in at.success)
    from scanner import review
    from scanner.store import Store

    q = review.queue(Store(), source="dashboard")
    assert q and q[0]["submitted_by"] == "marketer"


def test_queue_approve_is_stored_and_audited(demo_home):
    from scanner import audit, review
    from scanner.store import Store

    store = Store()
    target = review.queue(store)[0]
    at = as_user(page("queue.py"), "manager", "compliance").run()
    btn = next(b for b in at.button if b.key == f"approve-{target['pk']}")
    btn.click().run()
    assert review.get_item(store, target["pk"])["status"] == "approved"
    last = audit.entries(store, limit=1)[0]
    assert last["actor"] == "manager" and last["action"] == "review.approve"


def test_waiver_needs_a_justification(demo_home):
    from scanner import review
    from scanner.store import Store

    store = Store()
    item = review.queue(store)[0]
    fid = next(f["id"] for f in item["findings"] if f["severity"] != "info")
    with pytest.raises(review.ReviewError):
        review.waive(store, fid, "manager", "  ")
    review.waive(store, fid, "manager", "hired model, release on file")
    assert any(f["waived"] for f in review.get_item(store, item["pk"])["findings"])


def test_login_throttling(demo_home):
    from scanner import accounts
    from scanner.store import Store

    store = Store()
    accounts.add_user(store, "temp", "temp-password", "marketing")
    for _ in range(accounts.FREE_FAILURES + 1):
        assert accounts.authenticate(store, "temp", "nope") is None
    with pytest.raises(accounts.LockedOut):
        accounts.authenticate(store, "temp", "temp-password")
