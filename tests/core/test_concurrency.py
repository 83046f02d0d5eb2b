"""Several processes writing one store at once, on a SQLite file and on a real PostgreSQL server: log-ins
from several processes count every failure exactly (and the lock-out holds), two `registry import` runs
at once both succeed, and two API servers answering checks while a crawl writes lose nothing. (Audit
appends from several processes: tests/core/test_audit.py, which runs on both backends too.)"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from scanner.api import keys as apikeys
from scanner.core import audit
from scanner.core.store import Run, Store, StoredItem
from scanner.review import accounts
from tests.api.test_api import BAD_REPLY, GOOD_REPLY
from tests.api.test_api_serve import serve_process
from tests.conftest import ROOT
from tests.crawl.test_crawl import config, platforms
from tests.fixtures.crawl.server import TOKEN, FixtureServer, standard_routes

pytestmark = pytest.mark.backends

# A child process: get ready (imports, a warm connection), say so, wait for the start signal, then log in
# argv[4] times as `pat` with a wrong password from address argv[5]; prints one outcome per attempt.
LOGINS = """
import datetime, os, sys, time
from scanner.core.store import Store
from scanner.review import accounts
go, ready, n, address, free, frozen = sys.argv[1:7]
if int(free):
    accounts.FREE_FAILURES = accounts.ADDRESS_FREE_FAILURES = int(free)
now = datetime.datetime.fromisoformat(frozen)
accounts.utcnow = lambda: now  # a loaded machine must not let a 2-second lock run out mid-test
store = Store()
accounts.role_of(store, "pat")
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.002)
out = []
for _ in range(int(n)):
    try:
        out.append(accounts.authenticate(store, "pat", "guess", address=address) or "wrong")
    except accounts.LockedOut:
        out.append("locked")
print(" ".join(out))
"""


def _logins_at_once(tmp_path: Path, procs: int, attempts: int, address: str, free: int = 0) -> list[str]:
    """`procs` processes log in `attempts` times each, released together; every outcome."""
    go, frozen = tmp_path / "go", accounts.utcnow().isoformat()
    ready = [tmp_path / f"ready-{i}" for i in range(procs)]
    children = [subprocess.Popen([sys.executable, "-c", LOGINS, str(go), str(r), str(attempts), address, str(free),
                                  frozen], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for r in ready]
    deadline = time.monotonic() + 120
    while not all(r.exists() for r in ready):
        assert time.monotonic() < deadline and all(c.poll() is None for c in children), \
            [c.communicate() for c in children if c.poll() is not None]
        time.sleep(0.01)
    go.touch()
    outs = [c.communicate(timeout=300) for c in children]
    assert [c.returncode for c in children] == [0] * procs, outs
    return [o for out, _ in outs for o in out.split()]


def _counters(store: Store, address: str) -> tuple[int, int, bool]:
    """(the user's failure count, the address's, whether the user is locked)."""
    with store.session() as s:
        failed, locked = s.execute(select(accounts.User.failed, accounts.User.locked_until)
                                   .where(accounts.User.name == "pat")).one()
        by_address = s.execute(select(accounts.AddressThrottle.failed)
                               .where(accounts.AddressThrottle.address == address)).scalar()
    return int(failed), int(by_address or 0), locked is not None


@pytest.fixture()
def pat(home, monkeypatch) -> Store:
    monkeypatch.setattr(accounts, "BCRYPT_ROUNDS", 4)  # the stored hash is cheap to check 40 times
    store = Store()
    accounts.add_user(store, "pat", "pats-real-password", "marketing")
    return store


def test_failed_logins_from_several_processes_are_all_counted(pat, tmp_path):
    outcomes = _logins_at_once(tmp_path, procs=4, attempts=10, address="198.51.100.7", free=1000)
    assert outcomes == ["wrong"] * 40
    assert _counters(pat, "198.51.100.7") == (40, 40, False)  # no increment lost, per user and per address
    failed = audit.entries(pat, action="auth.failed")
    assert len(failed) == 40 and audit.verify(pat) == []


def test_the_lock_out_holds_against_parallel_processes(pat, tmp_path):
    outcomes = _logins_at_once(tmp_path, procs=8, attempts=1, address="203.0.113.9")
    # 3 free failures, the fourth locks the account, the other 4 are refused before bcrypt runs
    assert sorted(outcomes) == ["locked"] * 4 + ["wrong"] * 4, outcomes
    assert _counters(pat, "203.0.113.9") == (accounts.FREE_FAILURES + 1, 8, True)


def test_two_registry_imports_at_once_both_succeed(home, tmp_path):
    rows = [f"P{i:05d},Person{i} Surname{i},,,testimonial,all,2025-01-10,,," for i in range(1500)]
    csv_path = tmp_path / "big.csv"
    csv_path.write_text("patient_id,full_name,aliases,social_handles,purposes,channels,signed_on,expires_on,"
                        "revoked_on,photo\n" + "\n".join(rows) + "\n", encoding="utf-8")
    for round_ in ("a new store", "an existing store"):
        procs = [subprocess.Popen([sys.executable, "-m", "scanner", "registry", "import", str(csv_path)], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [p.communicate(timeout=300) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], f"{round_}: {outs}"
        assert all("imported 1500 authorization(s)" in out for out, _ in outs), outs
    from scanner.registry.authorizations import Authorization

    store = Store()
    with store.session() as s:
        assert s.execute(select(func.count()).select_from(Authorization)).scalar() == 1500
    assert len(audit.entries(store, action="registry.import")) == 4 and audit.verify(store) == []


def test_two_api_servers_and_a_crawl_write_one_store_at_once(home, tmp_path, monkeypatch):
    store = Store()
    key = apikeys.create(store, "review-tool")
    monkeypatch.setenv("SPA_GRAPH_TOKEN", TOKEN)
    answers: list[tuple[str, int, str]] = []

    def send(base: str, tag: str) -> None:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120) as c:
            for i in range(8):
                body = {**(BAD_REPLY if i % 2 else GOOD_REPLY), "id": f"{tag}-{i}"}
                r = c.post("/v1/check", json=body)
                answers.append((body["text"], r.status_code, r.json().get("verdict", "")))

    with FixtureServer() as fixtures, serve_process(home, log_name="api-1.log") as (base1, _), \
            serve_process(home, log_name="api-2.log") as (base2, _):
        standard_routes(fixtures)
        cfg = config(tmp_path, platforms(fixtures.base))
        crawl = subprocess.Popen([sys.executable, "-m", "scanner", "crawl", "--config", str(cfg), "--format", "jsonl"],
                                 cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env={**os.environ, "MEDSPA_SCAN_HOME": str(home)})
        clients = [threading.Thread(target=send, args=(base, f"s{n}-t{t}"))
                   for n, base in enumerate((base1, base2)) for t in range(2)]
        for t in clients:
            t.start()
        for t in clients:
            t.join()
        _out, err = crawl.communicate(timeout=600)
    assert crawl.returncode in (0, 1), err  # 1: published items need review; never a crash
    assert len(answers) == 32 and {code for _, code, _ in answers} == {200}
    verdicts = {text: {v for t, _, v in answers if t == text} for text, _, _ in answers}
    assert verdicts[GOOD_REPLY["text"]] == {"pass"} and verdicts[BAD_REPLY["text"]] == {"block"}  # same on both

    with store.session() as s:
        api_runs = s.execute(select(Run.status, func.count()).where(Run.source == "api").group_by(Run.status)).all()
        api_items = s.execute(select(func.count(func.distinct(StoredItem.item_id)))
                              .where(StoredItem.source == "api")).scalar()
        crawl_run = s.execute(select(Run).where(Run.source == "crawl")).scalars().one()
        crawl_items = s.execute(select(func.count()).select_from(StoredItem)
                                .where(StoredItem.run_id == crawl_run.id)).scalar()
    assert api_runs == [("done", 32)] and api_items == 32  # every check recorded, none twice
    assert crawl_run.status in ("done", "partial") and crawl_items == crawl_run.counts["items"]
    assert crawl_items > 10 and audit.verify(store) == []
