"""`medspa-scan serve` for real: a subprocess with two uvicorn workers, keys made with the CLI, and
the README's reply gate (examples/reply_gate.py) end to end against it and a local stand-in for
Google's review-reply endpoint (a real HTTP server on 127.0.0.1)."""
from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tests.api.test_api import free_port

pytestmark = pytest.mark.backends

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "reply_gate.py"
REVIEW = "Got lip filler here last week with Dr. Kim, obsessed!"
REVIEW_NAME = "accounts/111/locations/222/reviews/abc-333"
SECRET = "Xylophia Brandywine"  # appears only in request bodies; must never reach the server log


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MEDSPA_SCAN_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "scanner", *args], capture_output=True, text=True, env=env,
                          timeout=120, cwd=ROOT)


@pytest.fixture(scope="module")
def served(tmp_path_factory, module_db):
    home = tmp_path_factory.mktemp("serve-home")
    with pytest.MonkeyPatch.context() as mp:  # the server and every command of this module use this store
        mp.setenv("MEDSPA_SCAN_DB", module_db)
        yield from _serve(home, module_db)


def _serve(home: Path, url: str):
    made = cli(home, "apikeys", "create", "google-gate")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"msk_[A-Za-z0-9_-]{43}", key)
    with serve_process(home, workers=2) as (base, proc):
        yield {"base": base, "key": key, "home": home, "log": home / "server.log", "proc": proc, "db": url}


@contextlib.contextmanager
def serve_process(home: Path, workers: int = 1, log_name: str = "server.log"):
    """`medspa-scan serve` as its own process on a free port (the store from the environment), once it
    answers /healthz: (base URL, process); its output goes to `home/log_name`."""
    port = free_port()
    log = (home / log_name).open("w")
    env = {**os.environ, "MEDSPA_SCAN_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "scanner", "serve", "--port", str(port), "--workers", str(workers)],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, (home / log_name).read_text()
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.3)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_serve_loads_the_models_once_per_worker_and_answers(served):
    headers = {"Authorization": f"Bearer {served['key']}"}
    with httpx.Client(base_url=served["base"], headers=headers, timeout=60) as c:
        for i in range(12):
            r = c.post("/v1/check", json={"id": f"s{i}", "kind": "reply", "channel": "google",
                                          "text": f"Thank you for the kind words, {SECRET}! See you at your next visit."})
            assert r.status_code == 200 and r.json()["verdict"] == "block"
        assert c.get("/v1/rules").status_code == 200
    text = served["log"].read_text()
    ready = re.findall(r"scan worker ready: rule pack \S+, pid (\d+)", text)
    assert len(ready) == 2 and len(set(ready)) == 2, ready  # once per worker, not per request
    assert re.search(r"reply gate ready: rule pack \S+, 2 scan worker\(s\)", text)
    assert re.search(r"medspa_scan\.api\.access: POST /v1/check 200 [\d.]+ms rid=\w+ key=google-gate", text)
    assert "Xylophia" not in text and "Brandywine" not in text
    assert '"POST /v1/check' not in text  # uvicorn's own access log (it prints query strings) is off


def test_apikeys_list_shows_names_never_keys(served):
    out = cli(served["home"], "apikeys", "list")
    assert out.returncode == 0 and "google-gate" in out.stdout and served["key"] not in out.stdout
    data = json.loads(cli(served["home"], "apikeys", "list", "--format", "json").stdout)
    assert data[0]["name"] == "google-gate" and data[0]["revoked"] is False


# -- the reply gate example --------------------------------------------------------------------------
class FakeGoogle:
    """A real HTTP server standing in for mybusiness.googleapis.com: records every reply PUT."""

    def __init__(self) -> None:
        self.posted: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.posted.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                out = json.dumps({"comment": body["comment"], "updateTime": "2026-11-23T00:00:00Z"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v4"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def google():
    g = FakeGoogle()
    yield g
    g.close()


def gate(served, google, *args: str, key: str | None = None, api: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "MEDSPA_SCAN_API_KEY": key or served["key"], "GOOGLE_ACCESS_TOKEN": "ya29.test-token",
           "MEDSPA_SCAN_URL": api or served["base"], "GOOGLE_API_BASE": google.url}
    return subprocess.run([sys.executable, str(EXAMPLE), "--review-name", REVIEW_NAME, "--review", REVIEW,
                           "--reviewer", "Sarah K.", *args], capture_output=True, text=True, env=env, timeout=120,
                          stdin=subprocess.DEVNULL)


def test_a_safe_reply_is_posted(served, google):
    draft = "Thank you so much for taking the time to share this! We'll pass your kind words to the team."
    out = gate(served, google, "--reply", draft)
    assert out.returncode == 0, out.stderr
    assert google.posted == [{"path": f"/v4/{REVIEW_NAME}/reply", "auth": "Bearer ya29.test-token",
                              "body": {"comment": draft}}]


def test_an_unsafe_reply_is_held_and_the_suggestion_offered(served, google, monkeypatch):
    draft = "Thanks Sarah! So glad you loved your lip filler, see you at your touch-up!"
    out = gate(served, google, "--reply", draft)
    assert out.returncode == 1
    assert google.posted == []
    assert "NOT posted" in out.stderr and "suggested instead:" in out.stderr
    # the held decision is in the dashboard's queue, under the gate's key name
    from scanner import Store
    from scanner.core.store import StoredItem

    monkeypatch.setenv("MEDSPA_SCAN_HOME", str(served["home"]))  # stored text is encrypted with that home's key
    store = Store(served["db"])
    with store.session() as s:
        row = s.execute(select(StoredItem).where(StoredItem.item_id == "abc-333", StoredItem.verdict == "block")
                        ).scalars().first()
        assert row.text == draft
        assert row.source == "api" and row.submitted_by == "google-gate" and row.verdict == "block"
        assert row.item_id == "abc-333" and row.review_status == "open"


def test_use_suggestion_posts_the_checked_rewrite_instead(served, google):
    draft = "Hi Sarah, great having you in for your Botox last Tuesday!"
    out = gate(served, google, "--reply", draft, "--use-suggestion")
    assert out.returncode == 0, out.stderr
    [posted] = google.posted
    comment = posted["body"]["comment"]
    assert comment != draft and "Sarah" not in comment and "Botox" not in comment


@pytest.mark.parametrize("problem", ["bad key", "scanner down"])
def test_when_the_gate_cannot_check_nothing_is_posted(served, google, problem):
    if problem == "bad key":
        out = gate(served, google, "--reply", "Thank you!", key="msk_" + "x" * 43)
        assert "401" in out.stderr
    else:
        out = gate(served, google, "--reply", "Thank you!", api=f"http://127.0.0.1:{free_port()}")
        assert "could not be reached" in out.stderr
    assert out.returncode == 2 and google.posted == [] and "nothing was posted" in out.stderr


def test_a_scan_worker_that_dies_is_replaced_and_no_check_passes_unscanned(served):
    import signal

    pids = [int(p) for p in re.findall(r"scan worker ready: rule pack \S+, pid (\d+)", served["log"].read_text())]
    os.kill(pids[0], signal.SIGKILL)  # a worker of the server this module started
    headers = {"Authorization": f"Bearer {served['key']}"}
    codes = []
    deadline = time.monotonic() + 120
    with httpx.Client(base_url=served["base"], headers=headers, timeout=60) as c:
        while time.monotonic() < deadline:
            r = c.post("/v1/check", json={"kind": "reply", "channel": "google", "text": "See you at your next visit!"})
            codes.append(r.status_code)
            if r.status_code == 200:
                assert r.json()["verdict"] == "block"
                if codes.count(200) >= 3:
                    break
            else:
                assert "verdict" not in r.json()
            time.sleep(0.2)
    assert codes.count(200) >= 3 and set(codes) <= {200, 500, 503}, codes
    text = served["log"].read_text()
    assert "a scan worker died" in text
    assert len(re.findall(r"scan worker ready: rule pack", text)) >= 4  # a fresh pool of two
