"""The wheel on its own: build it, install it with the README's command (`uv tool install WHEEL --override
overrides.txt`) into a tool folder outside the checkout, and run every command from a folder outside the
checkout: check, batch, registry import, crawl of a file source, serve (/healthz) and dashboard
(/_stcore/health, and the app itself rendering its log-in page). Nothing here may read the checkout's rules/,
models/ or dashboard/: the installed package must carry its own copies.

uv reuses its cache (the one `make setup` filled), so the install takes seconds, not minutes; on a cold
cache it downloads from PyPI like a user's install would."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCKED = "Thanks Jessica! Your lip filler looks amazing, see you at your touch-up!"
pytestmark = pytest.mark.slow


def _uv() -> str:
    for cand in (ROOT / ".tools" / "bin" / "uv", Path(sys.prefix) / "bin" / "uv"):
        if cand.is_file():
            return str(cand)
    found = shutil.which("uv")
    assert found, "uv not found: run `make setup` (it installs .tools/bin/uv)"
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel installed as a uv tool outside the checkout; yields run(args) in a foreign folder."""
    base = tmp_path_factory.mktemp("wheel")
    assert not base.resolve().is_relative_to(ROOT)
    uv = _uv()
    # the user's environment, minus anything that would point back into the checkout
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "MEDSPA_SCAN_RULES", "MEDSPA_SCAN_DB", "MEDSPA_SCAN_LEARNED")}
    env.update(UV_TOOL_DIR=str(base / "tools"), UV_TOOL_BIN_DIR=str(base / "bin"), UV_PYTHON_DOWNLOADS="never",
               MEDSPA_SCAN_HOME=str(base / "home"), PATH=f"{base / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    built = subprocess.run([uv, "build", "--wheel", "-o", str(base / "dist")], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    wheel = next((base / "dist").glob("medspa_scan-*.whl"))
    work = base / "elsewhere"
    work.mkdir()
    shutil.copyfile(ROOT / "overrides.txt", work / "overrides.txt")  # what a user downloads next to the wheel
    shutil.copyfile(wheel, work / wheel.name)
    # the README's install command, as written there (run where the user put the two files)
    tool = subprocess.run([uv, "tool", "install", f"./{wheel.name}", "--override", "overrides.txt"], cwd=work,
                          env=env, capture_output=True, text=True, timeout=600)
    assert tool.returncode == 0, tool.stderr
    (work / wheel.name).unlink()

    def run(*args: str, stdin: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(["medspa-scan", *args], cwd=work, env=env, input=stdin, capture_output=True,
                              text=True, timeout=timeout)

    def start(*args: str, log: Path) -> subprocess.Popen:
        with log.open("w") as fh:
            return subprocess.Popen(["medspa-scan", *args], cwd=work, env={**env, "PYTHONUNBUFFERED": "1"},
                                    stdout=fh, stderr=subprocess.STDOUT)

    python = base / "tools" / "medspa-scan" / "bin" / "python"
    yield {"run": run, "start": start, "work": work, "env": env, "python": python, "wheel_bytes": wheel.stat().st_size}


def wait_healthy(proc: subprocess.Popen, url: str, log: Path, timeout: float = 180) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            r = httpx.get(url, timeout=2)
            if r.status_code == 200:
                return r
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{url} did not answer: {log.read_text()}"
        time.sleep(0.3)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def test_installed_package_carries_its_data_and_not_the_checkouts(installed):
    probe = ("import json, scanner, scanner.text.learned as l, scanner.core.config as c; print(json.dumps([scanner.__file__, "
             "str(c.rules_dir()), str(c.models_dir()), str(c.dashboard_dir()), str(l.DEFAULT_WEIGHTS)]))")
    r = subprocess.run([str(installed["python"]), "-c", probe], cwd=installed["work"], env=installed["env"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    paths = [Path(p) for p in json.loads(r.stdout)]
    assert all(not p.resolve().is_relative_to(ROOT) for p in paths), paths
    package = paths[0].parent
    rules, models, dashboard, weights = paths[1:]
    assert rules == package / "_data" / "rules" and (rules / "lexicons.d" / "spanish.yaml").is_file()
    assert (rules / "demo" / "drafts.jsonl").is_file() and (rules / "replies.yaml").is_file()
    assert (models / "manifest.yaml").is_file() and (models / "learned" / "weights.npz").is_file()
    assert weights.is_file() and (dashboard / "app.py").is_file() and (dashboard / "views" / "queue.py").is_file()
    assert installed["wheel_bytes"] < 5_000_000  # data, not a copy of the virtual environment


def test_check_blocks_from_outside_the_checkout(installed):
    r = installed["run"]("check", BLOCKED)
    assert r.returncode == 1, r.stderr
    assert r.stdout.startswith("verdict: block") and "lip filler" in r.stdout and "suggested text:" in r.stdout


def test_batch_three_items(installed):
    items = [{"id": "a", "kind": "reply", "channel": "google", "text": "Thank you for the kind review!"},
             {"id": "b", "kind": "post", "channel": "instagram", "text": BLOCKED},
             {"id": "c", "kind": "reply", "channel": "yelp", "author": "Amy T.", "text": "So glad you loved your results, Amy!"}]
    f = installed["work"] / "drafts.jsonl"
    f.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    r = installed["run"]("batch", f.name, "--no-progress")
    assert r.returncode == 1, r.stderr
    verdicts = {o["id"]: o["verdict"] for o in map(json.loads, r.stdout.splitlines())}
    assert verdicts == {"a": "pass", "b": "block", "c": "block"}


def test_registry_import_then_list(installed):
    csv = installed["work"] / "authorizations.csv"
    csv.write_text("patient_id,full_name,aliases,social_handles,purposes,channels,signed_on,expires_on,revoked_on,photo\n"
                   "W001,Wren Packaged,Wren P.,@wren.pkg,testimonial;name_in_marketing,instagram,2024-01-01,2099-12-31,,\n",
                   encoding="utf-8")
    r = installed["run"]("registry", "import", csv.name, "--reason", "packaging test")
    assert r.returncode == 0, r.stderr
    listed = installed["run"]("registry", "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    assert "W001" in listed.stdout and "Wren Packaged" in listed.stdout


def test_crawl_of_a_file_source(installed):
    work = installed["work"]
    (work / "posts.jsonl").write_text(
        json.dumps({"id": "p1", "kind": "post", "channel": "instagram", "text": "Holiday hours: closed Dec 25.",
                    "permalink": "https://instagram.com/p/1"}) + "\n"
        + json.dumps({"id": "p2", "kind": "post", "channel": "instagram", "text": BLOCKED,
                      "permalink": "https://instagram.com/p/2"}) + "\n", encoding="utf-8")
    (work / "sources.yaml").write_text("sources:\n  - name: export\n    type: file\n    path: posts.jsonl\n",
                                       encoding="utf-8")
    r = installed["run"]("crawl", "--config", "sources.yaml", "--no-progress")
    assert r.returncode == 1, r.stdout + r.stderr  # one published post needs action
    assert "2 fetched from 1 source(s)" in r.stdout and "published items that need review or removal: 1" in r.stdout


def test_serve_answers_healthz_and_checks(installed):
    made = installed["run"]("apikeys", "create", "packaging-test")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    port = free_port()
    log = installed["work"] / "serve.log"
    proc = installed["start"]("serve", "--port", str(port), log=log)
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_healthy(proc, base + "/healthz", log).json()["rule_pack"]
        r = httpx.post(base + "/v1/check", headers={"Authorization": f"Bearer {key}"}, timeout=120,
                       json={"id": "r1", "kind": "post", "channel": "instagram", "text": BLOCKED})
        assert r.status_code == 200 and r.json()["verdict"] == "block"
    finally:
        stop(proc)


def test_dashboard_starts_and_its_app_renders(installed):
    added = installed["run"]("users", "add", "ops", "--role", "admin", "--password-stdin",
                             stdin="a-long-packaging-password\n")
    assert added.returncode == 0, added.stderr
    port = free_port()
    log = installed["work"] / "dashboard.log"
    proc = installed["start"]("dashboard", "--port", str(port), log=log)
    try:
        wait_healthy(proc, f"http://127.0.0.1:{port}/_stcore/health", log)
    finally:
        stop(proc)
    assert f"Dashboard: http://localhost:{port}" in log.read_text()
    # /_stcore/health answers before any page runs: run the installed app.py itself (log-in page), which must
    # import `scanner` as the installed package, with no sys.path edits pointing at a checkout
    script = ("from streamlit.testing.v1 import AppTest; from scanner.core import config; "
              "at = AppTest.from_file(str(config.dashboard_dir() / 'app.py'), default_timeout=120).run(); "
              "assert not at.exception, [e.value for e in at.exception]; "
              "print([b.label for b in at.button], [t.label for t in at.text_input])")
    r = subprocess.run([str(installed["python"]), "-c", script], cwd=installed["work"], env=installed["env"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Password" in r.stdout, r.stdout


def test_overrides_file_matches_pyproject():
    """overrides.txt (for users' installs) and [tool.uv] override-dependencies (for uv sync) say the same."""
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["uv"]["override-dependencies"]
    shipped = [line.strip() for line in (ROOT / "overrides.txt").read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.lstrip().startswith("#")]
    assert shipped == declared and shipped
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "uv tool install ./medspa_scan-0.1.0-py3-none-any.whl --override overrides.txt" in readme
