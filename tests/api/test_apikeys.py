"""API keys on a real SQLite file: created once and shown once, stored hashed, revocable, audit-logged;
the CLI commands; the per-key rate limiter."""
from __future__ import annotations

import hashlib
import sqlite3
import threading
import time

import pytest

from scanner import Store
from scanner.api import keys as apikeys
from scanner.cli.main import main
from scanner.core import audit
from tests.conftest import raw_sql

pytestmark = pytest.mark.backends


@pytest.fixture()
def store(home) -> Store:
    return Store()


def test_a_key_is_random_shown_once_and_only_its_hash_is_stored(store, home, backend):
    a, b = apikeys.create(store, "tool-a"), apikeys.create(store, "tool-b")
    assert a != b and a.startswith("msk_") and len(a) == 47
    if backend == "sqlite":
        raw = (home / "medspa.db").read_bytes()
        assert a.encode() not in raw and b.encode() not in raw
    rows = raw_sql(home, "SELECT name, key_hash FROM api_keys ORDER BY id")
    assert rows == [("tool-a", hashlib.sha256(a.encode()).hexdigest()), ("tool-b", hashlib.sha256(b.encode()).hexdigest())]


def test_verify_accepts_only_exact_unrevoked_keys(store):
    key = apikeys.create(store, "gate", rate_per_minute=50)
    assert apikeys.verify(store, key) == apikeys.KeyInfo("gate", 50)
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    for wrong in (tampered, key + "x", key[:-5], "", "Bearer " + key, key.upper(), "msk_" + "a" * 43):
        assert apikeys.verify(store, wrong) is None
    apikeys.revoke(store, "gate")
    assert apikeys.verify(store, key) is None


def test_names_are_checked_and_never_reused(store):
    apikeys.create(store, "review-tool")
    with pytest.raises(apikeys.ApiKeyError, match="already exists"):
        apikeys.create(store, "review-tool")
    apikeys.revoke(store, "review-tool")
    with pytest.raises(apikeys.ApiKeyError, match=r"already exists \(revoked\).*review-tool-2"):
        apikeys.create(store, "review-tool")
    for bad in ("", " ", "has space", "-dash-first", "x" * 101, "semi;colon"):
        with pytest.raises(apikeys.ApiKeyError, match="invalid key name"):
            apikeys.create(store, bad)
    with pytest.raises(apikeys.ApiKeyError, match="at least 1"):
        apikeys.create(store, "zero", rate_per_minute=0)


def test_revoking_unknown_or_revoked_keys_says_so(store):
    with pytest.raises(apikeys.ApiKeyError, match="no key named 'ghost'"):
        apikeys.revoke(store, "ghost")
    apikeys.create(store, "once")
    apikeys.revoke(store, "once")
    with pytest.raises(apikeys.ApiKeyError, match="already revoked"):
        apikeys.revoke(store, "once")


def test_list_shows_names_and_state_never_keys_or_hashes(store):
    key = apikeys.create(store, "a", rate_per_minute=10)
    apikeys.create(store, "b")
    apikeys.revoke(store, "b")
    listed = apikeys.list_keys(store)
    assert [(k["name"], k["revoked"], k["rate_per_minute"]) for k in listed] == [("a", False, 10), ("b", True, None)]
    flat = repr(listed)
    assert key not in flat and hashlib.sha256(key.encode()).hexdigest() not in flat


def test_creating_and_revoking_are_audit_logged_without_the_key(store):
    key = apikeys.create(store, "gate", actor="cli:alice")
    apikeys.revoke(store, "gate", actor="cli:bob")
    log = audit.entries(store)
    assert [(e["action"], e["target"], e["actor"]) for e in log[:2]] == [
        ("apikey.revoke", "gate", "cli:bob"), ("apikey.create", "gate", "cli:alice")]
    assert key not in repr(log)
    assert audit.verify(store) == []


@pytest.mark.sqlite_only  # the first version only wrote SQLite files
def test_a_database_from_the_first_version_gains_the_rate_limit_column(home):
    db = home / "old.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE api_keys (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(120) NOT NULL UNIQUE, "
                "key_hash VARCHAR(64) NOT NULL, created_at DATETIME NOT NULL, revoked_at DATETIME)")
    con.execute("INSERT INTO api_keys VALUES (1, 'legacy', ?, '2026-11-01 00:00:00', NULL)",
                (hashlib.sha256(b"msk_" + b"L" * 43).hexdigest(),))
    con.commit()
    con.close()
    store = Store(f"sqlite:///{db}")
    assert apikeys.verify(store, "msk_" + "L" * 43) == apikeys.KeyInfo("legacy", None)
    apikeys.create(store, "new", rate_per_minute=5)
    assert [k["name"] for k in apikeys.list_keys(store)] == ["legacy", "new"]


# -- the command line ------------------------------------------------------------------------------------------
def test_apikeys_commands(home, capsys):
    assert main(["apikeys", "create", "review-bot", "--rate-limit", "120"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    key = out[-1]
    assert key.startswith("msk_") and all(key not in line for line in out[:-1])
    store = Store()
    assert apikeys.verify(store, key) == apikeys.KeyInfo("review-bot", 120)

    assert main(["apikeys", "list"]) == 0
    listing = capsys.readouterr().out
    assert "review-bot" in listing and "120" in listing and "active" in listing and key not in listing

    assert main(["apikeys", "create", "review-bot"]) == 2
    assert "already exists" in capsys.readouterr().err

    assert main(["apikeys", "revoke", "review-bot"]) == 0
    assert apikeys.verify(store, key) is None
    assert main(["apikeys", "list"]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["apikeys", "revoke", "nobody"]) == 2
    assert "no key named 'nobody'" in capsys.readouterr().err


def test_list_with_no_keys_says_how_to_make_one(home, capsys):
    assert main(["apikeys", "list"]) == 0
    assert "apikeys create NAME" in capsys.readouterr().out


@pytest.mark.parametrize("args", [["serve", "--port", "0"], ["serve", "--port", "70000"], ["serve", "--workers", "0"],
                                  ["serve", "--rate-limit", "fast"], ["apikeys", "create", "x", "--rate-limit", "-1"]])
def test_bad_options_are_usage_errors(home, capsys, args):
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_bad_limit_settings_in_the_environment_are_reported_by_name(home, monkeypatch, capsys):
    monkeypatch.setenv("MEDSPA_SCAN_API_WORKERS", "1")  # serve sets it; monkeypatch restores it afterwards
    monkeypatch.setenv("MEDSPA_SCAN_API_MAX_BATCH", "many")
    assert main(["serve", "--port", "18999"]) == 2
    assert "MEDSPA_SCAN_API_MAX_BATCH" in capsys.readouterr().err


# -- the rate limiter -----------------------------------------------------------------------------------------------
def test_rate_limiter_is_an_exact_sliding_window_per_key():
    rl = apikeys.RateLimiter(per_minute=3, window=0.5)
    assert [rl.allow("a")[0] for _ in range(4)] == [True, True, True, False]
    ok, wait = rl.allow("a")
    assert not ok and wait == 1  # whole seconds, never 0
    assert rl.allow("b") == (True, 0)  # other keys are independent
    assert rl.allow("c", limit=1) == (True, 0) and rl.allow("c", limit=1)[0] is False  # a key's own limit
    time.sleep(0.55)
    assert rl.allow("a") == (True, 0)


def test_rate_limiter_counts_exactly_under_threads():
    rl = apikeys.RateLimiter(per_minute=500)
    allowed = []

    def hammer():
        allowed.append(sum(rl.allow("k")[0] for _ in range(100)))

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 500


def test_serve_on_a_port_in_use_says_so_before_loading_models(home, monkeypatch, capsys):
    import socket

    monkeypatch.setenv("MEDSPA_SCAN_API_WORKERS", "1")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        assert main(["serve", "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
    assert time.monotonic() - started < 5
