"""Issue 12, attack 9 rerun as described: the crawl against real hostile servers on 127.0.0.1 (a feed
trickling one byte every 2 s, a 300 MB feed, a 1 MB gzip body that unpacks to 1 GB), in a real
`medspa-scan crawl` process whose time and peak memory are measured; the crawl lock is free afterwards."""
from __future__ import annotations

import fcntl
import gzip
import io
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tests._peak import run_peak
from tests.conftest import ROOT

RSS_HEAD = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Spa</title>'
ITEM = b"<item><title>Glow week</title><description>" + b"Our new facial menu is here. " * 30 + b"</description></item>"


def _gzip_bomb(size: int) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9) as gz:
        gz.write(RSS_HEAD)
        block = b"\x00" * 1_000_000
        for _ in range(size // len(block)):
            gz.write(block)
    return buf.getvalue()


class Hostile(BaseHTTPRequestHandler):
    bomb = b""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        try:
            if self.path == "/slow.xml":  # one byte every 2 s, forever (each read well under the timeout)
                self._head(100_000)
                while True:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(2)
            elif self.path == "/huge.xml":  # a 300 MB feed
                self._head(300_000_000)
                self.wfile.write(RSS_HEAD)
                chunk = ITEM * (1_000_000 // len(ITEM))
                for _ in range(300_000_000 // len(chunk)):
                    self.wfile.write(chunk)
            elif self.path == "/bomb.xml":  # 1 MB on the wire, 1 GB once gunzipped
                self._head(len(self.bomb), gzip=True)
                self.wfile.write(self.bomb)
            else:
                self.send_error(404)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _head(self, length: int, gzip: bool = False) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        if gzip:
            self.send_header("Content-Encoding", "gzip")
        else:  # no length for the plain ones: the client cannot refuse them up front
            length = 0
        if length:
            self.send_header("Content-Length", str(length))
        self.end_headers()


@pytest.fixture(scope="module")
def hostile() -> Iterator[str]:
    Hostile.bomb = _gzip_bomb(1_000_000_000)
    assert len(Hostile.bomb) < 1_200_000
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def crawl_measured(home: Path, cfg: Path) -> tuple[int, str, float, float]:
    """(exit status, output, seconds, peak resident MB) of a real `medspa-scan crawl` process."""
    env = dict(os.environ, MEDSPA_SCAN_HOME=str(home))
    env.pop("MEDSPA_SCAN_DB", None)
    out = home.parent / "crawl.out"
    t = time.monotonic()
    with open(out, "w") as fh:
        rc, peak = run_peak([sys.executable, "-m", "scanner", "crawl", "--config", str(cfg)], home.parent / "peak.txt",
                            cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    return rc, out.read_text(), time.monotonic() - t, peak


def lock_is_free(home: Path) -> bool:
    with open(home / "crawl.lock", "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return True


def test_crawl_has_memory_and_time_bounds(home, tmp_path, hostile):
    cfg = tmp_path / "sources.yaml"
    cfg.write_text(yaml.safe_dump({
        "defaults": {"timeout": 5, "retries": 1, "backoff": 0.1},
        "sources": [{"name": "slow", "type": "rss", "url": f"{hostile}/slow.xml", "max_request_seconds": 8},
                    {"name": "huge", "type": "rss", "url": f"{hostile}/huge.xml"},
                    {"name": "bomb", "type": "rss", "url": f"{hostile}/bomb.xml"}]}), encoding="utf-8")
    holder: dict[str, object] = {}
    runner = threading.Thread(target=lambda: holder.update(result=crawl_measured(home, cfg)))
    runner.start()
    held = False
    for _ in range(600):  # the process loads the scanner before it takes the lock
        if (home / "crawl.lock").exists() and not lock_is_free(home):
            held = True
            break
        time.sleep(0.1)
    assert held  # the running crawl holds the lock ...
    runner.join(timeout=120)
    assert not runner.is_alive(), "the crawl did not end"
    rc, out, seconds, peak_mb = holder["result"]  # type: ignore[misc]
    assert rc == 1, out
    assert "took longer than 8 s (max_request_seconds)" in out, out
    assert "too large (more than 50,000,000 bytes)" in out, out
    assert "more than 50,000,000 bytes once decompressed" in out, out
    assert seconds < 60, f"{seconds:.0f} s"  # the trickling server held one request 131.7 s
    assert peak_mb < 800, f"peak {peak_mb:.0f} MB"  # the 300 MB feed peaked at 1.05 GB, the bomb at 4.1 GB
    assert lock_is_free(home)  # ... and lets go of it when it ends


def test_crawl_lock_is_released_when_the_crawl_fails(home, tmp_path, monkeypatch):
    from scanner import Store
    from scanner.crawl import run as crawl_mod

    (tmp_path / "posts.jsonl").write_text("", encoding="utf-8")
    cfg = tmp_path / "sources.yaml"
    cfg.write_text(yaml.safe_dump({"sources": [{"name": "f", "type": "file", "path": str(tmp_path / "posts.jsonl")}]}),
                   encoding="utf-8")

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("the scanner broke")

    monkeypatch.setattr(crawl_mod, "_run", boom)
    with pytest.raises(RuntimeError):
        crawl_mod.crawl(cfg, scanner=object(), store=Store())
    assert lock_is_free(home)
