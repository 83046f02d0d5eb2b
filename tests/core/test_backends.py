"""Every command on the store $MEDSPA_SCAN_DB names, run as a user would (separate processes), on a SQLite
file and on a real PostgreSQL server: registry, check, batch, crawl, report, purge, users, apikeys, audit
and the dashboard (seeded with --demo, answering its health check); and a server database that cannot
be reached is one clear line naming it without its password."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.api.test_api import free_port
from tests.conftest import ROOT
from tests.crawl.test_crawl import config, platforms
from tests.fixtures.crawl.server import TOKEN, FixtureServer, standard_routes

pytestmark = pytest.mark.backends
DEMO = ROOT / "rules" / "demo"


def cli(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MEDSPA_SCAN_HOME=str(home), SPA_GRAPH_TOKEN=TOKEN)
    return subprocess.run([sys.executable, "-m", "scanner", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=600)


def test_every_command_works_on_the_configured_store(home, tmp_path):
    assert cli(home, "registry", "import", str(DEMO / "registry.csv")).returncode == 0
    listed = json.loads(cli(home, "registry", "list", "--format", "json").stdout)
    assert len(listed) >= 3
    checked = cli(home, "check", "Thanks Sarah! So glad you loved your lip filler, see you at your touch-up!",
                  "--kind", "reply", "--channel", "google")
    assert checked.returncode == 1 and "block" in checked.stdout.lower()
    batch = cli(home, "batch", str(DEMO / "drafts.jsonl"), "--format", "jsonl")
    assert batch.returncode in (0, 1), batch.stderr
    assert len(batch.stdout.splitlines()) == len((DEMO / "drafts.jsonl").read_text().splitlines())
    with FixtureServer() as srv:
        standard_routes(srv)
        crawled = cli(home, "crawl", "--config", str(config(tmp_path, platforms(srv.base))))
    assert crawled.returncode in (0, 1), crawled.stderr
    reported = cli(home, "report", "--run", "latest", "--out", str(tmp_path / "reports"))
    assert reported.returncode == 0, reported.stderr
    assert sorted(p.suffix for p in (tmp_path / "reports").iterdir()) == [".csv", ".html"]
    assert cli(home, "users", "add", "ops", "--role", "admin", "--password-stdin",
               stdin="a-real-long-password\n").returncode == 0
    assert cli(home, "users", "list").stdout.split()[0] == "ops"
    key = cli(home, "apikeys", "create", "tool").stdout.strip().splitlines()[-1]
    assert key.startswith("msk_") and "tool" in cli(home, "apikeys", "list").stdout
    purged = cli(home, "purge", "--older-than", "1d")
    assert purged.returncode == 0, purged.stderr
    verified = cli(home, "audit", "verify")
    assert verified.returncode == 0 and "intact" in verified.stdout, verified.stdout + verified.stderr


def test_the_dashboard_seeds_its_demo_and_answers(home):
    port = free_port()
    log = home.parent / "dashboard.log"
    env = dict(os.environ, MEDSPA_SCAN_HOME=str(home), PYTHONUNBUFFERED="1")
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "scanner", "dashboard", "--demo", "--port", str(port)],
                                cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    try:
        deadline, healthy = time.monotonic() + 300, False
        while not healthy and time.monotonic() < deadline and proc.poll() is None:
            try:
                healthy = httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.5)
        assert healthy, log.read_text()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "Seeded" in log.read_text()
    assert len(cli(home, "users", "list").stdout.splitlines()) >= 3  # the demo users are in this store
    assert cli(home, "audit", "verify").returncode == 0


@pytest.mark.sqlite_only  # not about a backend's behaviour: a server that is not there
def test_an_unreachable_server_database_is_one_clear_line(home):
    env = dict(os.environ, MEDSPA_SCAN_HOME=str(home),
               MEDSPA_SCAN_DB=f"postgresql+psycopg://scan:s3cret-pw@/medspa?host={home}/no-server-here")
    r = subprocess.run([sys.executable, "-m", "scanner", "audit", "verify"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.startswith("medspa-scan: error: the database postgresql+psycopg://scan:***@")
    assert "cannot be reached" in r.stderr and "s3cret-pw" not in r.stderr and "Traceback" not in r.stderr
