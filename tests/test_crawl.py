"""The weekly crawl against a real HTTP server on 127.0.0.1 serving payloads in the real API shapes."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from PIL import Image

from scanner.crawl import ConfigError, crawl, load_config
from scanner.report import write_report
from scanner.store import Store

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "SECRET-TOKEN-123456"
STATE: dict[str, object] = {"hits": {}, "deleted": False}


def png(size: int = 64) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), "white").save(buf, format="PNG")
    return buf.getvalue()


def fb_page(after: str | None, base: str) -> dict:
    if after is None:
        posts = [{"id": "p1", "message": "Botox Happy Hour this Thursday! Call (512) 555-0148.",
                  "permalink_url": "https://facebook.com/luma/posts/p1", "created_time": "2026-11-20T10:00:00+0000",
                  "comments": {"data": [{"id": "c1", "message": "Just got my lips done here, so swollen!",
                                         "from": {"id": "u9", "name": "Nina Q."},
                                         "comments": {"data": [
                                             {"id": "r1", "message": "Nina, ice 10 minutes on/off and take Tylenol tonight!",
                                              "from": {"id": "PAGE"}, "created_time": "2026-11-20T11:00:00+0000"},
                                             {"id": "r2", "message": "same here lol", "from": {"id": "u7"}}]}}]}}]
        return {"data": posts, "paging": {"cursors": {"after": "A1"}, "next": f"{base}/graph/PAGE/posts?after=A1"}}
    posts = [] if STATE["deleted"] else [
        {"id": "p2", "message": "Huge thank you to Brittany Cole for the glowing review! We loved doing her Dysport 💕",
         "permalink_url": "https://facebook.com/luma/posts/p2", "created_time": "2026-11-19T10:00:00+0000"}]
    return {"data": posts, "paging": {"cursors": {"after": "A2"}}}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def send(self, code: int, body: bytes, ctype: str = "application/json", headers: dict | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        u = urlparse(self.path)
        q = parse_qs(u.query)
        hits = STATE["hits"]
        hits[u.path] = hits.get(u.path, 0) + 1
        base = f"http://127.0.0.1:{self.server.server_port}"
        if u.path.startswith("/graph/") and self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self.send(401, b'{"error": "no token"}')
        if u.path == "/graph/PAGE/posts":
            return self.send(200, json.dumps(fb_page(q.get("after", [None])[0], base)).encode())
        if u.path == "/graph/IG/media":
            if hits[u.path] == 1:
                return self.send(429, b'{"error": "slow down"}', headers={"Retry-After": "1"})
            return self.send(200, json.dumps({"data": [{
                "id": "m1", "caption": "Transformation Tuesday! Shoutout to @tess.m, down 20 lbs on semaglutide 🙌",
                "media_type": "IMAGE", "media_url": f"{base}/img/big.jpg", "permalink": "https://instagram.com/p/m1",
                "timestamp": "2026-11-20T10:00:00+0000", "username": "lumamedspa"}], "paging": {}}).encode())
        if u.path.startswith("/gbp/accounts/A/locations/L/reviews"):
            if hits[u.path] == 1:
                return self.send(500, b"oops", "text/plain")
            if not q.get("pageToken"):
                return self.send(200, json.dumps({"reviews": [
                    {"reviewId": "g1", "reviewer": {"displayName": "Amy T."}, "starRating": "FIVE",
                     "comment": "Got my lip filler with Taylor, obsessed!", "updateTime": "2026-11-20T10:00:00Z",
                     "reviewReply": {"comment": "So glad you loved your results, Amy!", "updateTime": "2026-11-20T12:00:00Z"}}],
                    "nextPageToken": "T2"}).encode())
            return self.send(200, json.dumps({"reviews": [
                {"reviewId": "g2", "reviewer": {"displayName": "Bo K."}, "comment": "Nice staff",
                 "reviewReply": {"comment": "Thank you for the kind words!", "updateTime": "2026-11-20T12:00:00Z"}},
                {"reviewId": "g3", "reviewer": {"displayName": "Cy L."}, "comment": "ok"}]}).encode())
        if u.path == "/slow/x/media":
            time.sleep(2)
            return self.send(200, b'{"data": []}')
        if u.path == "/broken/x/media":
            return self.send(200, b'{"data": [oops', "application/json")
        if u.path == "/img/big.jpg":
            return self.send(200, b"\xff\xd8" + b"0" * 3_000_000, "image/jpeg")
        if u.path == "/img/ok.png":
            return self.send(200, png(), "image/png")
        if u.path == "/sitemap.xml":
            return self.send(200, (f"<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
                                   f"<url><loc>{base}/stories.html</loc></url></urlset>").encode(), "application/xml")
        if u.path == "/stories.html":
            return self.send(200, b"<html><head><title>x</title><script>var a=1</script></head><body><h1>Client stories"
                                  b"</h1><p>Our 9am client this morning, a local teacher, loved her Kybella.</p>"
                                  b"<img src='/img/ok.png' alt='before and after'></body></html>", "text/html")
        if u.path == "/feed.xml":
            return self.send(200, b"<?xml version='1.0'?><rss><channel><item><guid>b1</guid><title>Peel 101</title>"
                                  b"<description>&lt;p&gt;Days 3-5: peeling. Don't pick!&lt;/p&gt;</description>"
                                  b"<link>https://lumamedspa.com/blog/peel</link></item></channel></rss>",
                             "application/rss+xml")
        return self.send(404, b"{}")


@pytest.fixture(scope="module")
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


@pytest.fixture()
def config(server, tmp_path, monkeypatch):
    monkeypatch.setenv("FB_TOKEN", TOKEN)
    cfg = {"sources": [
        {"name": "fb", "type": "facebook_page", "page_id": "PAGE", "base_url": f"{server}/graph", "token_env": "FB_TOKEN"},
        {"name": "ig", "type": "instagram", "ig_user_id": "IG", "base_url": f"{server}/graph", "token_env": "FB_TOKEN"},
        {"name": "gbp", "type": "google_business", "account_id": "A", "location_id": "L", "base_url": f"{server}/gbp",
         "backoff": 0.05},
        {"name": "site", "type": "website", "url": f"{server}/sitemap.xml"},
        {"name": "blog", "type": "rss", "url": f"{server}/feed.xml"},
        {"name": "slow", "type": "instagram", "ig_user_id": "x", "base_url": f"{server}/slow", "retries": 0},
        {"name": "broken", "type": "instagram", "ig_user_id": "x", "base_url": f"{server}/broken"},
    ]}
    p = tmp_path / "sources.yaml"
    import yaml

    p.write_text(yaml.safe_dump(cfg))
    return p


@pytest.fixture()
def scanner_store(text_scanner, tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'crawl.db'}")
    text_scanner.store = store
    return text_scanner, store


def test_crawl_judges_what_the_spa_published(config, scanner_store, tmp_path):
    STATE["hits"], STATE["deleted"] = {}, False
    sc, store = scanner_store
    t = time.perf_counter()
    res = crawl(config, sc, store, timeout=0.5)
    took = time.perf_counter() - t
    by_id = {item.id: (item, r) for item, r in res.scanned}
    assert set(res.failed) == {"slow", "broken"}
    assert "timed out" in res.failed["slow"] and "malformed JSON" in res.failed["broken"]
    # the page's own reply is judged with the public comment as context; the public comment is not judged
    reply, r = by_id["fb:r1"]
    assert reply.kind == "comment" and reply.in_reply_to.startswith("Just got my lips") and r.verdict != "pass"
    assert "fb:r2" not in by_id and "fb:c1" not in by_id
    assert by_id["fb:p1"][1].verdict == "pass" and by_id["fb:p2"][1].verdict == "block"  # second page via paging.next
    assert by_id["gbp:g1"][1].verdict == "block" and by_id["gbp:g2"][1].verdict == "pass" and "gbp:g3" not in by_id
    assert STATE["hits"]["/gbp/accounts/A/locations/L/reviews"] == 3  # 500 retried, then two pages
    assert STATE["hits"]["/graph/IG/media"] == 2 and took >= 1.0  # 429 honoured Retry-After
    ig_item, ig = by_id["ig:m1"]
    assert any(f.category == "scan_incomplete" for f in ig.findings)  # oversized image: never a silent pass
    assert by_id["site:" + next(i for i in by_id if i.startswith("site:"))[5:]][1].verdict == "block"
    assert res.fetched == len(res.scanned) == res.new_or_changed

    # second run: nothing changed -> nothing rescanned; a deleted post is counted as removed
    STATE["deleted"] = True
    again = crawl(config, sc, store, timeout=0.5)
    assert again.scanned == [] and again.unchanged == res.fetched - 1 and again.removed == 1

    html, csvp = write_report(store, res.run_id, tmp_path / "report")
    page = html.read_text()
    assert "https://facebook.com/luma/posts/p2" in page and "four factors" in page and "notification deadline" in page
    assert "fb:p2" in csvp.read_text()
    for text in (page, csvp.read_text()):
        assert TOKEN not in text


def test_config_errors_name_the_source_and_key(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("sources:\n  - {name: fb, type: facebook_page}\n")
    with pytest.raises(ConfigError, match="source 'fb': missing 'page_id'"):
        load_config(p)
    p.write_text("sources:\n  - {name: x, type: myspace}\n")
    with pytest.raises(ConfigError, match="unknown type"):
        load_config(p)


def test_cli_crawl_jsonl_with_permalinks_and_no_token_in_output(config, tmp_path):
    STATE["hits"], STATE["deleted"] = {}, False
    env = dict(os.environ, MEDSPA_SCAN_HOME=str(tmp_path / "home"), FB_TOKEN=TOKEN)
    r = subprocess.run([sys.executable, "-m", "scanner", "crawl", "--config", str(config), "--format", "jsonl",
                        "--timeout", "0.5", "--no-progress", "--report-dir", str(tmp_path / "rep")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1, r.stderr
    out = [json.loads(line) for line in r.stdout.splitlines()]
    assert all(o["id"] and "verdict" in o for o in out)
    assert any(o.get("permalink") == "https://facebook.com/luma/posts/p2" for o in out)
    assert "sources failed: " in r.stderr and "slow" in r.stderr
    assert TOKEN not in r.stdout + r.stderr
    db = (tmp_path / "home" / "medspa.db").read_bytes()
    assert TOKEN.encode() not in db
