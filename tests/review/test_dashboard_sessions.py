"""Dashboard sessions (scanner.sessions) on a real SQLite store and a real PostgreSQL database: a token survives a reload (it resolves
again), a forged, tampered, expired, idle, logged-out or disabled one does not, and the signing secret
is created in the data home readable by its owner only."""
from __future__ import annotations

import stat
from datetime import timedelta

import pytest

from scanner import Store
from scanner.core.store import utcnow
from scanner.review import accounts, sessions

pytestmark = pytest.mark.backends


@pytest.fixture()
def store(home):
    s = Store()
    accounts.add_user(s, "ana", "ana-password", "compliance")
    accounts.add_user(s, "bo", "bo-password", "admin")
    return s


def test_a_token_resolves_again_until_logout(store):
    token = sessions.issue(store, "ana")
    assert sessions.resolve(store, token) == "ana"
    assert sessions.resolve(store, token) == "ana"  # a reload presents the same cookie
    sessions.end(store, token)
    assert sessions.resolve(store, token) is None


def test_secret_is_private_to_the_owner(store):
    sessions.issue(store, "ana")
    mode = stat.S_IMODE(sessions.secret_path().stat().st_mode)
    assert mode == 0o600, oct(mode)


@pytest.mark.parametrize("tamper", [
    lambda t: t[:-1] + ("0" if t[-1] != "0" else "1"),   # signature changed
    lambda t: t.replace(t.split(".")[1], "Ym8", 1),      # another user's name (bo) under ana's signature
    lambda t: t.split(".")[0] + ".YW5h.9999999999.deadbeef",  # far expiry, made-up signature
    lambda t: "garbage",
    lambda t: "",
])
def test_forged_or_tampered_tokens_are_refused(store, tamper):
    token = sessions.issue(store, "ana")
    assert sessions.resolve(store, tamper(token)) is None


def test_idle_and_old_sessions_end(store, monkeypatch):
    monkeypatch.setenv("MEDSPA_SCAN_SESSION_MINUTES", "30")
    start = utcnow()
    token = sessions.issue(store, "ana", now=start)
    assert sessions.resolve(store, token, now=start + timedelta(minutes=29)) == "ana"
    assert sessions.resolve(store, token, now=start + timedelta(minutes=58)) == "ana"  # active, so still on
    assert sessions.resolve(store, token, now=start + timedelta(minutes=95)) is None  # 37 idle minutes
    assert sessions.resolve(store, token, now=start + timedelta(minutes=96)) is None  # and it stays ended
    token = sessions.issue(store, "ana", now=start)
    assert sessions.resolve(store, token, now=start + timedelta(hours=sessions.MAX_HOURS, minutes=1)) is None


def test_disabled_or_removed_users_lose_their_sessions(store):
    token = sessions.issue(store, "ana")
    with pytest.raises(accounts.AccountError, match="your own"):
        sessions.set_disabled(store, "bo", True, actor="bo")
    sessions.set_disabled(store, "ana", True, actor="bo")
    assert sessions.resolve(store, token) is None and sessions.is_disabled(store, "ana")
    sessions.set_disabled(store, "ana", False, actor="bo")
    assert sessions.resolve(store, token) is None  # disabling ended it for good
    assert sessions.resolve(store, sessions.issue(store, "ana")) == "ana"
    with pytest.raises(accounts.AccountError, match="no user"):
        sessions.set_disabled(store, "nobody", True, actor="bo")
