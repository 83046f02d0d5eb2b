"""`make run` / `python -m scanner.demo` and `medspa-scan dashboard` without a browser: seeding only an
empty store, the printed verdicts, and clear one-line errors for an unusable address."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

from tests.conftest import ROOT


def run(args: list[str], home, **env: str) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ, MEDSPA_SCAN_HOME=str(home), **env)
    full.pop("MEDSPA_SCAN_DB", None)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=full, capture_output=True, text=True, timeout=300)


def test_demo_seeds_an_empty_store_once(home):
    first = run(["-m", "scanner.demo"], home, MEDSPA_SCAN_NO_DASHBOARD="1")
    assert first.returncode == 0, first.stderr
    assert "block  demo-01" in first.stdout and "pass   demo-02" in first.stdout
    from scanner import accounts, review
    from scanner.store import Store

    store = Store()
    assert {u["name"] for u in accounts.list_users(store)} == {"manager", "marketer", "admin"}
    runs, queued = len(review.runs(store)), len(review.queue(store))
    assert runs == 3 and {i["source"] for i in review.queue(store)} == {"api", "crawl", "dashboard"}
    second = run(["-m", "scanner.demo"], home, MEDSPA_SCAN_NO_DASHBOARD="1")
    assert second.returncode == 0 and "Using the existing data" in second.stdout
    assert len(review.runs(store)) == runs and len(review.queue(store)) == queued  # nothing scanned twice


def test_dashboard_refuses_a_busy_port_in_one_line(home):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = run(["-m", "scanner", "dashboard", "--port", str(port)], home)
    assert r.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr and "Traceback" not in r.stderr
    r = run(["-m", "scanner", "dashboard", "--port", "70000"], home)
    assert r.returncode == 2 and "--port 70000" in r.stderr
