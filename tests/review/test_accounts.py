"""Dashboard users: bcrypt hashes, roles, throttled log-ins, audit entries without typed names, session
timeout, and the `users` commands on a real SQLite file."""
from __future__ import annotations

import contextlib
import subprocess
import sys
from datetime import timedelta

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.backends


@pytest.fixture()
def store(home):
    from scanner import Store

    return Store()


@pytest.fixture()
def fast_hash(monkeypatch):
    """Cheaper bcrypt for tests that log in many times (the cost factor is checked elsewhere)."""
    from scanner.review import accounts

    monkeypatch.setattr(accounts, "BCRYPT_ROUNDS", 4)


def test_password_is_stored_as_a_bcrypt_hash(store):
    from scanner.review import accounts
    from scanner.review.accounts import User

    accounts.add_user(store, "dana", "correct horse", "compliance")
    with store.session() as s:
        digest = s.query(User).filter_by(name="dana").one().password_hash
    assert digest.startswith("$2b$12$") and "correct horse" not in digest
    assert accounts.authenticate(store, "dana", "correct horse") == "compliance"
    assert accounts.authenticate(store, "dana", "Correct horse") is None
    assert accounts.list_users(store)[0]["name"] == "dana" and "password_hash" not in accounts.list_users(store)[0]


@pytest.mark.parametrize(("name", "password", "role", "message"), [
    ("ann", "long enough", "owner", "unknown role 'owner'"),
    ("ann", "short", "marketing", "at least 8 characters"),
    ("ann", "é" * 40, "marketing", "at most 72 bytes"),
    ("   ", "long enough", "marketing", "needs a name"),
])
def test_bad_users_are_refused_with_a_reason(store, name, password, role, message):
    from scanner.review import accounts

    with pytest.raises(accounts.AccountError, match=message):
        accounts.add_user(store, name, password, role)
    assert accounts.count(store) == 0


def test_duplicate_user_is_refused(store):
    from scanner.review import accounts

    accounts.add_user(store, "sam", "password-1", "marketing")
    with pytest.raises(accounts.AccountError, match="already exists"):
        accounts.add_user(store, " sam ", "password-2", "admin")
    assert accounts.role_of(store, "sam") == "marketing"


def test_repeated_failures_lock_the_account_with_growing_waits(store, monkeypatch, fast_hash):
    from scanner.review import accounts

    accounts.add_user(store, "pat", "the-right-one", "marketing")
    clock = [accounts.utcnow()]
    monkeypatch.setattr(accounts, "utcnow", lambda: clock[0])
    for _ in range(accounts.FREE_FAILURES):
        assert accounts.authenticate(store, "pat", "wrong") is None  # free tries
    assert accounts.authenticate(store, "pat", "wrong") is None  # 4th: locked for 2 s
    with pytest.raises(accounts.LockedOut) as exc:
        accounts.authenticate(store, "pat", "the-right-one")  # even the right password waits
    assert 1 <= exc.value.seconds <= 3
    clock[0] += timedelta(seconds=3)
    assert accounts.authenticate(store, "pat", "wrong") is None  # 5th: locked for 4 s
    clock[0] += timedelta(seconds=3)
    with pytest.raises(accounts.LockedOut):
        accounts.authenticate(store, "pat", "the-right-one")
    clock[0] += timedelta(seconds=2)
    assert accounts.authenticate(store, "pat", "the-right-one") == "marketing"  # and the count resets
    for _ in range(accounts.FREE_FAILURES):
        assert accounts.authenticate(store, "pat", "wrong") is None
    assert accounts.authenticate(store, "pat", "the-right-one") == "marketing"


def test_lock_out_is_capped(store, monkeypatch, fast_hash):
    from scanner.review import accounts

    accounts.add_user(store, "max", "the-right-one", "marketing")
    clock = [accounts.utcnow()]
    monkeypatch.setattr(accounts, "utcnow", lambda: clock[0])
    for _ in range(13):
        with contextlib.suppress(accounts.LockedOut):
            accounts.authenticate(store, "max", "wrong")
        clock[0] += timedelta(seconds=accounts.MAX_LOCK_SECONDS + 1)
    accounts.authenticate(store, "max", "wrong")
    with pytest.raises(accounts.LockedOut) as exc:
        accounts.authenticate(store, "max", "wrong")
    assert exc.value.seconds <= accounts.MAX_LOCK_SECONDS + 1


def test_set_password_lifts_the_lock(store, fast_hash):
    from scanner.review import accounts

    accounts.add_user(store, "lee", "first-password", "admin")
    for _ in range(accounts.FREE_FAILURES + 1):
        accounts.authenticate(store, "lee", "nope")
    with pytest.raises(accounts.LockedOut):
        accounts.authenticate(store, "lee", "first-password")
    accounts.set_password(store, "lee", "second-password", actor="admin")
    assert accounts.authenticate(store, "lee", "second-password") == "admin"
    assert accounts.authenticate(store, "lee", "first-password") is None
    with pytest.raises(accounts.AccountError, match="no user"):
        accounts.set_password(store, "nobody", "whatever-pass")


def test_audit_log_records_outcomes_but_never_a_typed_unknown_name(store):
    from scanner.core import audit
    from scanner.review import accounts

    accounts.add_user(store, "kim", "kims-password", "compliance", actor="admin")
    accounts.authenticate(store, "kim", "bad")
    accounts.authenticate(store, "kim", "kims-password")
    accounts.authenticate(store, "hunter2-typed-in-the-name-box", "x")
    log = audit.entries(store)
    actions = [(e["actor"], e["action"]) for e in reversed(log)]
    assert actions == [("admin", "users.add"), ("kim", "auth.failed"), ("kim", "auth.login"),
                       ("anonymous", "auth.failed")]
    assert "hunter2" not in str(log) and "kims-password" not in str(log)
    assert audit.verify(store) == []


def test_unknown_user_takes_as_long_as_a_wrong_password(store):
    import time

    from scanner.review import accounts

    accounts.add_user(store, "ivy", "ivys-password", "marketing")
    accounts.authenticate(store, "nobody", "x")  # warm the dummy hash
    t = time.perf_counter()
    accounts.authenticate(store, "nobody", "x")
    unknown = time.perf_counter() - t
    t = time.perf_counter()
    accounts.authenticate(store, "ivy", "x")
    known = time.perf_counter() - t
    assert unknown > known / 3  # both pay for a full bcrypt check


def test_session_timeout(monkeypatch):
    from scanner.review import accounts

    assert accounts.session_expired(None)
    assert not accounts.session_expired(1000.0, now=1000.0 + 29 * 60)
    assert accounts.session_expired(1000.0, now=1000.0 + 31 * 60)
    monkeypatch.setenv("MEDSPA_SCAN_SESSION_MINUTES", "5")
    assert accounts.session_expired(1000.0, now=1000.0 + 6 * 60)
    monkeypatch.setenv("MEDSPA_SCAN_SESSION_MINUTES", "nonsense")
    assert accounts.session_minutes() == accounts.DEFAULT_SESSION_MINUTES


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scanner", *args], input=stdin, capture_output=True, text=True,
                          cwd=ROOT, timeout=60)


def test_users_commands(home):
    r = cli("users", "add", "maria", "--role", "compliance", "--password-stdin", stdin="maria-password\n")
    assert r.returncode == 0, r.stderr
    assert "added maria (compliance)" in r.stdout
    r = cli("users", "add", "maria", "--role", "admin", "--password-stdin", stdin="other-password\n")
    assert r.returncode == 2 and "already exists" in r.stderr and "Traceback" not in r.stderr
    r = cli("users", "add", "joe", "--role", "marketing", "--password-stdin", stdin="short\n")
    assert r.returncode == 2 and "at least 8 characters" in r.stderr
    r = cli("users", "add", "joe", "--role", "boss", "--password-stdin", stdin="long-enough\n")
    assert r.returncode == 2 and "boss" in r.stderr
    r = cli("users", "passwd", "maria", "--password-stdin", stdin="new-maria-password\n")
    assert r.returncode == 0, r.stderr
    r = cli("users", "list")
    assert r.returncode == 0 and "maria" in r.stdout and "compliance" in r.stdout and "joe" not in r.stdout
    from scanner import Store
    from scanner.review import accounts

    assert accounts.authenticate(Store(), "maria", "new-maria-password") == "compliance"
