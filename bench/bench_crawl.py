"""Crawl benchmark: 2,000 fixture items (Google reviews with owner replies and Facebook posts) served by a
local HTTP server, crawled end to end; prints items per second and where the time goes.

Run: .venv/bin/python bench/bench_crawl.py [--n 2000]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REPLIES = ["Thank you so much for the kind words!", "So glad you loved your lip filler, {n}! See you at your touch-up.",
           "We're sorry to hear this; please call our office so we can help.", "Thanks {n}!"]


def make_handler(n: int):
    per_page = 100

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):  # noqa: N802
            u = urlparse(self.path)
            page = int(parse_qs(u.query).get("pageToken", ["0"])[0])
            reviews = [{"reviewId": f"r{i}", "reviewer": {"displayName": f"Client{i} K."}, "comment": "Great visit!",
                        "reviewReply": {"comment": REPLIES[i % 4].format(n=f"Client{i}")}}
                       for i in range(page * per_page, min(n, (page + 1) * per_page))]
            body = {"reviews": reviews}
            if (page + 1) * per_page < n:
                body["nextPageToken"] = str(page + 1)
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
    return H


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    a = ap.parse_args()
    home = Path(tempfile.mkdtemp())
    os.environ["MEDSPA_SCAN_HOME"] = str(home)
    from scanner import Scanner, Store
    from scanner.crawl.run import crawl

    srv = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(a.n))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    cfg = home / "sources.yaml"
    cfg.write_text(f"sources:\n  - {{name: g, type: google_business, account_id: A, location_id: L, "
                   f"base_url: 'http://127.0.0.1:{srv.server_port}'}}\n")
    store = Store()
    sc = Scanner(store=store)
    t = time.perf_counter()
    res = crawl(cfg, sc, store)
    wall = time.perf_counter() - t
    print(f"crawled {res.fetched} items end to end in {wall:.1f} s: {res.fetched / wall:.0f} items/s")
    print("time by stage (s): " + ", ".join(f"{k} {v}" for k, v in res.seconds.items()))
    t = time.perf_counter()
    again = crawl(cfg, sc, store)
    print(f"second crawl, nothing changed: {again.unchanged} unchanged, {len(again.scanned)} scanned, "
          f"{time.perf_counter() - t:.1f} s")
    srv.shutdown()


if __name__ == "__main__":
    main()
