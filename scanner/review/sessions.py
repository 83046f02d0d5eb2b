"""Dashboard sessions that survive a reload, and disabled accounts.

A log-in gets a signed, expiring token (HMAC-SHA256 with a secret kept in the data home, mode 0600) that
the browser keeps in a cookie. The token names a server-side session row, so logging out (or disabling
the user) ends it at once, and a session idle for longer than `accounts.session_minutes()` ends too. The
token carries no password and no role: the role is read from the user table on every page view.

Disabled accounts are kept here (not in the user table, so older stores need no migration): a disabled
user cannot log in to the dashboard and their sessions end. Every change is audit-logged.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Boolean, DateTime, String, select, update
from sqlalchemy.orm import Mapped, mapped_column

from ..core import audit, config
from ..core.store import Base, Store, utcnow
from . import accounts

COOKIE = "medspa_session"
MAX_HOURS = 12  # a token is never valid longer than this, however active its session
SECRET_FILE = "dashboard-session.key"


class DashboardSession(Base):
    __tablename__ = "dashboard_sessions"
    sid: Mapped[str] = mapped_column(String(40), primary_key=True)
    user: Mapped[str] = mapped_column(String(120), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ended: Mapped[bool] = mapped_column(Boolean, default=False)


class DisabledUser(Base):
    __tablename__ = "disabled_users"
    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


def secret_path() -> Path:
    return config.home() / SECRET_FILE


def _secret() -> bytes:
    """The signing secret, created on first use with mode 0600 (never world-readable, even briefly)."""
    path = secret_path()
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it meanwhile
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def _sign(payload: str) -> str:
    return hmac.new(_secret(), payload.encode(), hashlib.sha256).hexdigest()[:40]


def issue(store: Store, user: str, now: datetime | None = None) -> str:
    """Start a session for `user` (already authenticated) and return its token."""
    now = now or utcnow()
    sid = secrets.token_urlsafe(18)
    with store.session() as s:
        s.add(DashboardSession(sid=sid, user=user, created_at=now, last_seen=now))
    expires = int((now + timedelta(hours=MAX_HOURS)).timestamp())
    payload = f"{sid}.{base64.urlsafe_b64encode(user.encode()).decode().rstrip('=')}.{expires}"
    return f"{payload}.{_sign(payload)}"


def _parse(token: str) -> tuple[str, str, int] | None:
    try:
        sid, name64, expires, sig = token.split(".")
        payload = f"{sid}.{name64}.{expires}"
        if not hmac.compare_digest(sig, _sign(payload)):
            return None
        user = base64.urlsafe_b64decode(name64 + "=" * (-len(name64) % 4)).decode()
        return sid, user, int(expires)
    except (ValueError, UnicodeDecodeError):
        return None


def resolve(store: Store, token: str | None, now: datetime | None = None) -> str | None:
    """The user a token belongs to, or None when it is forged, expired, idle too long, ended, or the user
    was removed or disabled. A valid token's session counts as active from now on."""
    if not token:
        return None
    parsed = _parse(token)
    now = now or utcnow()
    if parsed is None:
        return None
    sid, user, expires = parsed
    if expires < now.timestamp():
        return None
    with store.session() as s:
        row = s.get(DashboardSession, sid)
        if row is None or row.ended or row.user != user:
            return None
        if now - row.last_seen > timedelta(minutes=accounts.session_minutes()):
            row.ended = True
            return None
        if s.get(DisabledUser, user) is not None or accounts.role_of(store, user) is None:
            return None
        row.last_seen = now
    return user


def end(store: Store, token: str | None) -> None:
    """Log out: the token's session ends (a copy of the token is worthless from now on)."""
    parsed = _parse(token) if token else None
    if parsed is None:
        return
    with store.session() as s:
        s.execute(update(DashboardSession).where(DashboardSession.sid == parsed[0]).values(ended=True))


def end_all(store: Store, user: str) -> None:
    with store.session() as s:
        s.execute(update(DashboardSession).where(DashboardSession.user == user).values(ended=True))


# -- disabled accounts -------------------------------------------------------------------------------
def is_disabled(store: Store, user: str) -> bool:
    with store.session() as s:
        return s.get(DisabledUser, user) is not None


def disabled(store: Store) -> set[str]:
    with store.session() as s:
        return set(s.execute(select(DisabledUser.name)).scalars())


def set_disabled(store: Store, user: str, disable: bool, actor: str) -> None:
    """Disable (sessions end, no log-in) or enable a user; audit-logged. A user cannot disable themself."""
    if accounts.role_of(store, user) is None:
        raise accounts.AccountError(f"no user {user!r}")
    if disable and user == actor:
        raise accounts.AccountError("you cannot disable your own account")
    with store.session() as s:
        row = s.get(DisabledUser, user)
        if disable and row is None:
            s.add(DisabledUser(name=user))
        elif not disable and row is not None:
            s.delete(row)
    if disable:
        end_all(store, user)
    audit.record(store, actor, "users.disable" if disable else "users.enable", user, {})
