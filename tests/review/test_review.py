"""The review queue and decisions on a real SQLite file with the real scanner: pre-checks stay drafts until
submitted, filters, approve/reject rules, waivers (justification, expiry, following the content, never
for an incomplete scan), the audit trail, and the registry freshness of a long-running scanner."""
from __future__ import annotations

import copy
from datetime import date, timedelta

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.backends

VIOLATING = "Thanks Sarah! So glad you loved your lip filler, see you at your touch-up!"
SAFE = "Thank you for taking the time to share this! We truly appreciate the kind words."


@pytest.fixture()
def store(home):
    from scanner import Store

    return Store()


def scan_and_save(scanner, store, text: str, source: str = "api", channel: str = "google", kind: str = "reply",
                  item_id: str = "r1") -> int:
    from scanner import Item

    item = Item(id=item_id, kind=kind, channel=channel, text=text, author="Sarah K.")
    result = scanner.scan(item)
    run = store.start_run(source, actor="test")
    pk = store.save_results(run, [(item, result)], source=source, submitted_by="gate")[0]
    store.finish_run(run, {"items": 1, result.verdict: 1})
    return pk


def precheck(scanner, store, text: str = VIOLATING, user: str = "marketer"):
    from scanner import Item
    from scanner.review import queue as review

    item = Item(id=review.new_precheck_id(), kind="reply", channel="google", text=text, author="Sarah K.")
    return review.precheck(scanner, store, item, user)


def test_precheck_is_a_draft_until_submitted(text_scanner, store):
    from scanner.core import audit
    from scanner.review import queue as review

    result, pk = precheck(text_scanner, store)
    assert result.verdict == "block"
    assert review.get_item(store, pk)["status"] == "draft"
    assert review.queue(store) == []  # drafts do not flood the reviewers' queue
    review.submit(store, pk, "marketer", "for Friday's replies")
    q = review.queue(store)
    assert [i["pk"] for i in q] == [pk] and q[0]["source"] == "dashboard" and q[0]["submitted_by"] == "marketer"
    with pytest.raises(review.ReviewError, match="already submitted"):
        review.submit(store, pk, "marketer")
    assert review.mine(store, "marketer")[0]["status"] == "open"
    assert review.mine(store, "someone-else") == []
    last = audit.entries(store, limit=1)[0]
    assert (last["actor"], last["action"], last["target"]) == ("marketer", "review.submit", f"item:{pk}")
    assert "Sarah" not in str(audit.entries(store))  # ids and reasons, no content


def test_queue_filters(text_scanner, store):
    from scanner.review import queue as review

    a = scan_and_save(text_scanner, store, VIOLATING, source="api", channel="google", item_id="a")
    b = scan_and_save(text_scanner, store, VIOLATING, source="crawl", channel="yelp", item_id="b")
    scan_and_save(text_scanner, store, SAFE, source="api", channel="google", item_id="c")  # pass: never queued
    assert [i["pk"] for i in review.queue(store)] == [b, a]
    assert [i["pk"] for i in review.queue(store, source="api")] == [a]
    assert [i["pk"] for i in review.queue(store, channel="yelp")] == [b]
    assert len(review.queue(store, category="treatment_disclosure", severity="high")) == 2
    assert review.queue(store, category="medical_advice") == []
    assert review.queue(store, severity="medium", category="relationship_confirmation") == []
    today = date.today()
    assert len(review.queue(store, since=today, until=today)) == 2
    assert review.queue(store, until=today - timedelta(days=1)) == []
    assert review.queue(store, since=today + timedelta(days=1)) == []
    with pytest.raises(review.ReviewError, match="unknown status"):
        review.queue(store, status="pending")


def test_a_full_queue_page_holds_the_items_its_sort_puts_first(text_scanner, store):
    """With more open items than a page, "oldest first" shows the oldest and "highest risk first" the blocked
    ones, not a re-sort of the newest page (a chain's queue of thousands)."""
    from scanner.review import queue as review

    mild = "Yes, go ahead with your spin class tomorrow!"  # review: medical advice (medium) only
    old_block = scan_and_save(text_scanner, store, VIOLATING, item_id="old-block")
    reviews = [scan_and_save(text_scanner, store, mild, channel="instagram", kind="comment", item_id=f"mild-{i}")
               for i in range(3)]
    assert [r["verdict"] for r in review.queue_rows(store, limit=10)] == ["review"] * 3 + ["block"]
    assert [r["pk"] for r in review.queue_rows(store, limit=2)] == [reviews[2], reviews[1]]
    assert [r["pk"] for r in review.queue_rows(store, limit=2, order="oldest")] == [old_block, reviews[0]]
    assert [r["pk"] for r in review.queue_rows(store, limit=2, order="risk")] == [old_block, reviews[0]]
    assert [r["pk"] for r in review.queue_rows(store, limit=1, order="risk", channel="google")] == [old_block]
    with pytest.raises(review.ReviewError, match="unknown order 'sideways'"):
        review.queue_rows(store, order="sideways")


def test_reject_needs_a_reason_and_approving_a_blocked_item_a_justification(text_scanner, store):
    from scanner.core import audit
    from scanner.review import queue as review

    pk = scan_and_save(text_scanner, store, VIOLATING)
    with pytest.raises(review.ReviewError, match="needs a reason"):
        review.decide(store, pk, "reject", "manager", "  ")
    with pytest.raises(review.ReviewError, match="needs a justification"):
        review.decide(store, pk, "approve", "manager")
    with pytest.raises(review.ReviewError, match="unknown decision"):
        review.decide(store, pk, "publish", "manager", "x")
    assert review.get_item(store, pk)["status"] == "open"  # nothing changed
    review.decide(store, pk, "reject", "manager", "confirms a treatment; use the suggested text")
    item = review.get_item(store, pk)
    assert item["status"] == "rejected" and review.queue(store) == []
    assert review.queue(store, status="rejected")[0]["pk"] == pk
    with pytest.raises(review.ReviewError, match="not open"):
        review.decide(store, pk, "approve", "manager", "changed my mind")
    assert [h["decision"] for h in review.history(store, pk)] == ["reject"]
    e = audit.entries(store, limit=1)[0]
    assert e["action"] == "review.reject" and e["detail"]["justification"].startswith("confirms")
    with pytest.raises(review.ReviewError, match="no item"):
        review.decide(store, 999_999, "approve", "manager", "x")


def test_waivers_need_a_justification_and_a_sensible_expiry(text_scanner, store):
    from scanner.review import queue as review

    pk = scan_and_save(text_scanner, store, VIOLATING)
    fid = review.get_item(store, pk)["findings"][0]["id"]
    with pytest.raises(review.ReviewError, match="justification"):
        review.waive(store, fid, "manager", "")
    with pytest.raises(review.ReviewError, match="after today"):
        review.waive(store, fid, "manager", "fine", expires_on=date.today())
    with pytest.raises(review.ReviewError, match="at most"):
        review.waive(store, fid, "manager", "fine", expires_on=date.today() + timedelta(days=800))
    with pytest.raises(review.ReviewError, match="no finding"):
        review.waive(store, 999_999, "manager", "fine")
    assert not any(f["waived"] for f in review.get_item(store, pk)["findings"])
    assert review.waive(store, fid, "manager", "fine") == date.today() + timedelta(days=review.WAIVER_DAYS)


def test_waiving_every_blocking_finding_lets_the_item_be_approved_without_more(text_scanner, store):
    from scanner.core import audit
    from scanner.review import queue as review

    pk = scan_and_save(text_scanner, store, VIOLATING)
    item = review.get_item(store, pk)
    assert item["effective_verdict"] == "block"
    for f in item["findings"]:
        if f["severity"] in ("high", "medium"):
            review.waive(store, f["id"], "manager", "the reviewer is our staff member, not a client",
                         expires_on=date.today() + timedelta(days=30))
    item = review.get_item(store, pk)
    assert item["verdict"] == "block" and item["effective_verdict"] == "pass"  # the stored verdict is kept
    w = item["findings"][0]["waiver"]
    assert w["reviewer"] == "manager" and w["expires_on"] == (date.today() + timedelta(days=30)).isoformat()
    review.decide(store, pk, "approve", "manager")
    assert review.get_item(store, pk)["status"] == "approved"
    actions = [e["action"] for e in audit.entries(store)]
    assert actions[0] == "review.approve" and "review.false_positive" in actions
    assert audit.verify(store) == []


def test_a_waiver_follows_the_same_content_until_it_expires_or_is_withdrawn(text_scanner, store):
    from scanner.review import queue as review

    first = scan_and_save(text_scanner, store, VIOLATING, source="crawl", item_id="page-1")
    again = scan_and_save(text_scanner, store, VIOLATING, source="crawl", item_id="page-1")  # next week's crawl
    other = scan_and_save(text_scanner, store, VIOLATING.replace("Sarah", "Maria"), source="crawl", item_id="page-2")
    f = review.get_item(store, first)["findings"][0]
    review.waive(store, f["id"], "manager", "published with consent on file", expires_on=date.today() + timedelta(days=10))
    same = next(x for x in review.get_item(store, again)["findings"] if x["rule_id"] == f["rule_id"]
                and x["evidence"] == f["evidence"])
    assert same["waived"]
    assert not any(x["waived"] for x in review.get_item(store, other)["findings"])
    later = date.today() + timedelta(days=11)
    assert review.active_waivers(store, today=later) == {}  # expired: the finding counts again
    assert review.active_waivers(store, today=date.today() + timedelta(days=10))
    with pytest.raises(review.ReviewError, match="reason"):
        review.unwaive(store, f["id"], "manager", " ")
    review.unwaive(store, f["id"], "manager", "consent was withdrawn")
    assert not any(x["waived"] for x in review.get_item(store, again)["findings"])
    assert [h["decision"] for h in review.history(store, first)] == ["false_positive", "unwaive"]


def test_an_incomplete_scan_cannot_be_waived(text_scanner, store, tmp_path):
    from scanner import Item
    from scanner.review import queue as review

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not really a jpeg")
    item = Item(id="img", kind="post", channel="instagram", text="New year, new glow!", images=[str(broken)])
    result = text_scanner.scan(item)
    assert result.verdict != "pass"
    run = store.start_run("api")
    pk = store.save_results(run, [(item, result)], source="api")[0]
    incomplete = [f for f in review.get_item(store, pk)["findings"] if f["category"] == "scan_incomplete"]
    assert incomplete
    with pytest.raises(review.ReviewError, match="cannot be waived"):
        review.waive(store, incomplete[0]["id"], "manager", "looks fine to me")


def test_findings_table_and_runs_for_the_charts(text_scanner, store):
    from scanner.review import queue as review

    scan_and_save(text_scanner, store, VIOLATING, source="crawl", channel="yelp")
    scan_and_save(text_scanner, store, SAFE, source="crawl", channel="google")
    rows = review.findings_table(store, source="crawl")
    assert rows and {r["channel"] for r in rows} == {"yelp"}
    assert {r["severity"] for r in rows} <= {"high", "medium"}
    assert rows[0]["week"] == date.today().strftime("%G-W%V")
    assert review.findings_table(store, source="api") == []
    runs = review.runs(store)
    assert [r["items"] for r in runs] == [1, 1] and runs[0]["pass"] == 1 and runs[1]["block"] == 1
    assert review.counts(store) == {"crawl": 1}


def test_the_scanner_sees_registry_changes_made_elsewhere(text_scanner, store):
    """A dashboard keeps one scanner for days: an import or a revocation (another process) counts at once."""
    from scanner import Item, Registry, Store
    from scanner.review import queue as review

    sc = copy.copy(text_scanner)
    sc.registry = Registry(store)
    post = Item(id="p", kind="post", channel="instagram",
                text="'I finally feel like me again!' — Camila Reyes. Swipe for her before & after.")
    assert sc.scan(post).verdict == "block"  # nobody authorized yet
    review.keep_current(sc)
    Registry.import_csv(Store(), ROOT / "rules" / "demo" / "registry.csv", actor="other-process")
    review.keep_current(sc)
    assert sc.scan(post).verdict == "pass"  # Camila's authorization covers this
    Registry.revoke(Store(), "D001", date.today(), "revoked in writing", actor="other-process")
    review.keep_current(sc)
    assert sc.scan(post).verdict == "block"
