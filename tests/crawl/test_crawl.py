"""The weekly crawl end to end, against a real HTTP server on 127.0.0.1 serving payloads in the real API
shapes, with the real scanner and a real SQLite file: what the spa published is judged, failing sources
(timeout, malformed JSON, missing token) are isolated and shown as failed, 429 and 500 are retried,
oversized pictures never pass silently, and the second crawl rescans only what changed (or everything
when the rule pack changed) and notices what was deleted."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from scanner import Store
from scanner.core import audit
from scanner.core.store import Run
from scanner.crawl.run import CrawlSighting, CrawlState, crawl, scan_version, to_items
from scanner.crawl.sources import Published
from tests.conftest import db_url, stored_bytes
from tests.fixtures.crawl.server import HERE, TOKEN, FixtureServer, Resp, fixture, png, standard_routes

pytestmark = pytest.mark.backends

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def srv():
    with FixtureServer() as s:
        standard_routes(s)
        yield s


@pytest.fixture()
def store(home):
    return Store(db_url(home, "crawl"))


@pytest.fixture()
def token(monkeypatch):
    monkeypatch.setenv("SPA_GRAPH_TOKEN", TOKEN)
    monkeypatch.delenv("NO_SUCH_TOKEN_VAR", raising=False)


def config(tmp_path: Path, sources: list[dict]) -> Path:
    p = tmp_path / "sources.yaml"
    p.write_text(yaml.safe_dump({"defaults": {"backoff": 0.05}, "sources": sources}), encoding="utf-8")
    return p


def platforms(base: str) -> list[dict]:
    return [
        {"name": "fb", "type": "facebook_page", "page_id": "lumamedspa", "base_url": f"{base}/graph",
         "token_env": "SPA_GRAPH_TOKEN"},
        {"name": "ig", "type": "instagram", "ig_user_id": "17841400000000001", "base_url": f"{base}/graph",
         "token_env": "SPA_GRAPH_TOKEN"},
        {"name": "gbp", "type": "google_business", "account_id": "111", "location_id": "222",
         "base_url": f"{base}/gbp", "token_env": "SPA_GRAPH_TOKEN"},
        {"name": "blog", "type": "rss", "url": f"{base}/blog/feed.xml"},
        {"name": "site", "type": "website", "url": f"{base}/sitemap_index.xml"},
    ]


def test_crawl_judges_what_the_spa_published_and_isolates_failures(srv, store, token, tmp_path, text_scanner):
    srv.route("/throttled/atom.xml", Resp(429, b"", headers={"Retry-After": "1"}), fixture("rss/atom.xml"))
    srv.route("/flaky/atom.xml", Resp(500, b"oops", "text/plain"), fixture("rss/atom.xml"))
    srv.route("/slow/17841400000000009", Resp(200, {"id": "17841400000000009"}, delay=2.0))
    srv.route("/broken/lumamedspa", Resp(200, b'{"id": "104", "name": "Luma', "application/json"))
    srv.route("/big/feed.xml", Resp(200, "<rss><channel><item><guid>big1</guid><title>New laser</title>"
                                         "<enclosure url='{BASE}/cdn/huge.jpg' type='image/jpeg'/></item></channel></rss>",
                                    "application/rss+xml"))
    srv.route("/cdn/huge.jpg", Resp(200, b"\xff\xd8\xff" + b"0" * 1_500_000, "image/jpeg"))
    cfg = config(tmp_path, platforms(srv.base) + [
        {"name": "throttled", "type": "rss", "url": f"{srv.base}/throttled/atom.xml"},
        {"name": "flaky", "type": "rss", "url": f"{srv.base}/flaky/atom.xml"},
        {"name": "slow", "type": "instagram", "ig_user_id": "17841400000000009", "base_url": f"{srv.base}/slow",
         "timeout": 0.3, "retries": 0},
        {"name": "broken", "type": "facebook_page", "page_id": "lumamedspa", "base_url": f"{srv.base}/broken"},
        {"name": "notoken", "type": "facebook_page", "page_id": "lumamedspa", "base_url": f"{srv.base}/graph",
         "token_env": "NO_SUCH_TOKEN_VAR"},
        {"name": "big", "type": "rss", "url": f"{srv.base}/big/feed.xml", "max_image_mb": 1},
    ])
    t = time.perf_counter()
    res = crawl(cfg, text_scanner, store, concurrency=4)
    took = time.perf_counter() - t
    got = {item.id: (item, r) for item, r in res.scanned}

    # failing sources are isolated, named, and shown as failed
    assert res.failed == {
        "slow": f"timed out after 0.3 s from {srv.base}/slow/17841400000000009 after 1 attempt",
        "broken": f"malformed JSON from {srv.base}/broken/lumamedspa (HTTP 200, 27 bytes)",
        "notoken": "environment variable NO_SUCH_TOKEN_VAR (token_env) is not set"}
    assert srv.hits["/throttled/atom.xml"] == 2 and took >= 1.0  # waited for Retry-After
    assert srv.hits["/flaky/atom.xml"] == 2 and "flaky:urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a" in got

    # what the spa published is judged; the public's comments and reviews are context only
    reply, r = got["fb:1001_5002"]
    assert reply.kind == "comment" and reply.author == "Nina Quinn" and reply.in_reply_to.startswith("Just got my lips")
    assert r.verdict != "pass" and r.permalink.endswith("comment_id=5002")
    assert not {"fb:1001_5001", "fb:1001_5003", "ig:17900000000000101", "gbp:AbFvOqn3"} & set(got)
    assert got["fb:104_1003"][1].verdict == "block"  # from the second page of posts (paging.next)
    assert got["gbp:AbFvOqn1"][1].verdict == "block" and got["gbp:AbFvOqn2"][1].verdict == "pass"
    assert got["ig:17900000000000102"][1].verdict == "block"
    assert got[f"site:{srv.base}/stories.html"][1].verdict == "block"
    assert got["blog:lumamedspa-blog-102"][1].verdict == "block"
    assert got["fb:104_1002"][0].images and all(Path(p).is_file() for p in got["fb:104_1002"][0].images)

    # what could not be checked never passes: a video, a picture over the size limit
    for vid in ("fb:104_1004", "ig:18000000000000013"):
        assert any(f.rule_id == "IMG900" and "video" in f.message for f in got[vid][1].findings)
        assert got[vid][1].verdict != "pass"
    big = got["big:big1"][1]
    assert big.verdict != "pass"
    assert any(f.category == "scan_incomplete" and "too large" in f.message and f.source == "image:huge.jpg"
               for f in big.findings)

    # the run is stored with its counts, as the dashboard's run list reads them, and audit-logged
    with store.session() as s:
        run = s.get(Run, res.run_id)
        assert run.source == "crawl" and run.status == "partial"
        counts = run.counts
    assert counts["items"] == len(res.scanned) == res.fetched == counts["new"]
    assert counts["block"] + counts["review"] + counts["pass"] == counts["items"]
    assert set(counts["failed_sources"]) == {"slow", "broken", "notoken"}
    assert counts["sources"]["site"]["status"] == "partial" and counts["sources"]["fb"]["status"] == "ok"
    assert counts["findings_by_category"]["treatment_disclosure"] >= 1 and counts["live_problems"] == res.problems
    assert [e["target"] for e in audit.entries(store, action="crawl.run")] == [f"run:{res.run_id}"]
    summary = res.summary()
    assert "sources failed: slow" in summary and "broken" in summary and "partly read: site" in summary
    db = stored_bytes(store.url)
    assert TOKEN.encode() not in db and TOKEN not in json.dumps(counts)


def test_second_crawl_rescans_only_what_changed_and_notices_deletions(srv, store, token, tmp_path, text_scanner,
                                                                        monkeypatch):
    cfg = config(tmp_path, platforms(srv.base)[:1] + platforms(srv.base)[2:3])  # fb and gbp
    first = crawl(cfg, text_scanner, store)
    assert first.status["new"] == first.fetched == 11 and not first.failed

    # a week later: the CDN signs picture URLs anew, one post is edited, one deleted, the rest untouched
    posts_1 = (HERE / "facebook" / "posts_1.json").read_text().replace("oh=00_AfB", "oh=00_ZzQ")
    posts_2 = json.loads((HERE / "facebook" / "posts_2.json").read_text())
    posts_2["data"] = posts_2["data"][1:]  # 104_1003 deleted
    posts_2["data"][0]["message"] = "A peek inside our new laser suite, now open Sundays."
    srv.route("/graph/lumamedspa/posts", Resp(200, posts_1))
    srv.route("/graph/104/posts?after=QVFIUjFwb3N0cw", Resp(200, posts_2))
    second = crawl(cfg, text_scanner, store)
    assert [i.id for i, _ in second.scanned] == ["fb:104_1004"]  # only the edited post was scanned
    assert second.status == {"changed": 1, "unchanged": 9, "removed": 1}
    assert second.problems == first.problems - 1  # the deleted block post no longer counts; the rest still do
    with store.session() as s:
        sightings = {x.item_id: x for x in s.execute(select(CrawlSighting).where(
            CrawlSighting.run_id == second.run_id)).scalars()}
        state = {x.item_id: x for x in s.execute(select(CrawlState)).scalars()}
        s.expunge_all()
    assert sightings["fb:104_1003"].status == "removed" and state["fb:104_1003"].removed_run == second.run_id
    assert sightings["fb:104_1004"].status == "changed" and sightings["fb:104_1001"].status == "unchanged"
    amy = state["gbp:AbFvOqn1"]
    assert amy.verdict == "block" and sightings["gbp:AbFvOqn1"].flagged_since == amy.flagged_since
    assert amy.first_seen_run == first.run_id and amy.last_seen_run == second.run_id

    # a new rule pack: everything is scanned again, nothing counts as new
    monkeypatch.setattr(text_scanner.rules, "version", text_scanner.rules.version + "-next")
    third = crawl(cfg, text_scanner, store)
    assert third.status == {"rescanned": 10} and len(third.scanned) == 10
    assert state["gbp:AbFvOqn1"].flagged_since is not None
    with store.session() as s:
        again = s.get(CrawlState, "gbp:AbFvOqn1")
        assert again.flagged_since == amy.flagged_since  # still the first discovery, for the 60-day clock


def test_a_failed_source_is_not_taken_for_deletions(srv, store, token, tmp_path, text_scanner):
    cfg = config(tmp_path, platforms(srv.base)[2:3])
    first = crawl(cfg, text_scanner, store)
    srv.route("/gbp/accounts/111/locations/222/reviews", Resp(503, b"down", "text/plain"))
    cfg_fast = config(tmp_path, [{**platforms(srv.base)[2], "retries": 0}])
    second = crawl(cfg_fast, text_scanner, store)
    assert second.failed == {"gbp": f"HTTP 503 from {srv.base}/gbp/accounts/111/locations/222/reviews after 1 attempt"}
    assert second.removed == 0 and second.fetched == 0
    with store.session() as s:
        assert s.get(Run, second.run_id).status == "failed"
        assert all(x.removed_run is None for x in s.execute(select(CrawlState)).scalars())
    assert first.fetched == 4


def test_since_window_filters_and_never_concludes_deletion_outside_it(srv, store, token, tmp_path, text_scanner):
    cfg = config(tmp_path, platforms(srv.base)[2:3])
    crawl(cfg, text_scanner, store)
    recent = crawl(cfg, text_scanner, store, since=timedelta(days=1))  # the fixtures are older than a day
    assert recent.fetched == 0 and recent.removed == 0 and not recent.failed


def test_a_picture_that_failed_to_download_is_retried_next_week(srv, store, tmp_path, text_scanner):
    srv.route("/pic/feed.xml", Resp(200, "<rss><channel><item><guid>p1</guid><title>Our new lobby</title>"
                                         "<enclosure url='{BASE}/cdn/lobby.png' type='image/png'/></item></channel></rss>",
                                    "application/rss+xml"))
    srv.route("/cdn/lobby.png", Resp(404, b"", "text/plain"))
    cfg = config(tmp_path, [{"name": "pic", "type": "rss", "url": f"{srv.base}/pic/feed.xml", "retries": 0}])
    first = crawl(cfg, text_scanner, store)
    (item, r), = first.scanned
    assert r.verdict == "review" and [f.rule_id for f in r.findings] == ["IMG901"] and not item.images
    srv.route("/cdn/lobby.png", Resp(200, png(40, "tan"), "image/png"))
    second = crawl(cfg, text_scanner, store)
    (item2, r2), = second.scanned
    assert second.status["changed"] == 1 and item2.images and r2.verdict == "pass"


def test_long_pages_are_split_so_every_word_is_checked():
    text = ("Our team shares skin tips every week. " * 8000).strip()  # ~300k characters
    items = to_items(Published(id="site:https://spa.example/blog", kind="post", channel="website", text=text,
                               permalink="https://spa.example/blog"), ["/tmp/a.png"])
    assert [i.id for i in items] == ["site:https://spa.example/blog", "site:https://spa.example/blog#part2",
                                     "site:https://spa.example/blog#part3", "site:https://spa.example/blog#part4"]
    assert all(len(i.text) <= 100_000 for i in items) and sum(len(i.text) for i in items) >= len(text) - 10
    assert items[0].images == ["/tmp/a.png"] and items[1].images == [] and items[3].permalink == "https://spa.example/blog"


def test_scan_version_follows_the_registry(home, text_scanner):
    from scanner import Registry

    store = Store(db_url(home, "reg"))

    class Probe:
        rule_pack = text_scanner.rule_pack
        profile = text_scanner.profile
        registry = Registry(store)

    before = scan_version(Probe)
    Registry.add(store, {"patient_id": "P9", "full_name": "Dana Park", "purposes": "testimonial",
                         "channels": "instagram", "signed_on": "2026-01-01"}, actor="tests")
    Probe.registry = Registry(store)
    assert scan_version(Probe) != before and scan_version(Probe).startswith(text_scanner.rule_pack + "|")


def test_cli_crawl_prints_jsonl_writes_the_report_and_keeps_the_token_secret(srv, tmp_path, home):
    cfg = config(tmp_path, platforms(srv.base)[2:3] + [
        {"name": "slow", "type": "instagram", "ig_user_id": "17841400000000009", "base_url": f"{srv.base}/slow",
         "timeout": 0.2, "retries": 0}])
    srv.route("/slow/17841400000000009", Resp(200, {"id": "x"}, delay=1.0))
    env = dict(os.environ, MEDSPA_SCAN_HOME=str(home), SPA_GRAPH_TOKEN=TOKEN)
    r = subprocess.run([sys.executable, "-m", "scanner", "crawl", "--config", str(cfg), "--format", "jsonl",
                        "--report-dir", str(tmp_path / "reports")], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 1, r.stderr
    out = [json.loads(line) for line in r.stdout.splitlines()]
    assert [o["id"] for o in out] == ["gbp:AbFvOqn1", "gbp:AbFvOqn2", "gbp:AbFvOqn4", "gbp:AbFvOqn5"]
    assert all(o["permalink"].startswith(f"{srv.base}/gbp/") and o["verdict"] in ("pass", "review", "block")
               and isinstance(o["findings"], list) for o in out)
    assert out[0]["verdict"] == "block" and out[0]["findings"][0]["rule_id"]
    assert "sources failed: slow (timed out after 0.2 s" in r.stderr and "published items that need review" in r.stderr
    reports = sorted(p.name for p in (tmp_path / "reports").iterdir())
    assert reports == ["crawl-run-1.csv", "crawl-run-1.html"]
    everything = r.stdout + r.stderr + "".join(p.read_text(encoding="utf-8-sig") for p in (tmp_path / "reports").iterdir())
    assert TOKEN not in everything and TOKEN.encode() not in stored_bytes(db_url(home))


def test_cli_crawl_exit_0_when_nothing_needs_action(tmp_path):
    (tmp_path / "posts.jsonl").write_text(json.dumps({"id": "p1", "kind": "post", "channel": "instagram",
                                                      "text": "Holiday hours: closed Dec 25.",
                                                      "permalink": "https://instagram.com/p/1"}) + "\n")
    cfg = config(tmp_path, [{"name": "export", "type": "file", "path": "posts.jsonl"}])
    env = dict(os.environ, MEDSPA_SCAN_HOME=str(tmp_path / "home"))
    r = subprocess.run([sys.executable, "-m", "scanner", "crawl", "--config", str(cfg), "--no-progress"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 fetched from 1 source(s)" in r.stdout and "published items that need review or removal: 0" in r.stdout
