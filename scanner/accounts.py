"""Local dashboard users: bcrypt-hashed passwords, roles (marketing, compliance, admin), throttled
log-ins and the session-timeout rule. Every change and every log-in outcome is audit-logged (by user
name when the user exists; a mistyped name, which may be a password typed in the wrong box, never is).

Throttling: the first FREE_FAILURES wrong passwords in a row cost nothing; each further one locks the
account for twice as long as the last (2 s, 4 s, 8 s ... up to MAX_LOCK_SECONDS). While locked even
the right password is refused. A successful log-in resets the count.
"""
from __future__ import annotations

import os
import time
from datetime import datetime, timedelta
from functools import lru_cache

import bcrypt
from sqlalchemy import DateTime, Integer, String, func, select
from sqlalchemy.orm import Mapped, mapped_column

from . import audit
from .store import Base, Store, utcnow

ROLES = ("marketing", "compliance", "admin")
REVIEWER_ROLES = ("compliance", "admin")  # who may see the queue, scans, registry and audit log
FREE_FAILURES = 3
MAX_LOCK_SECONDS = 300
MIN_PASSWORD = 8
MAX_PASSWORD_BYTES = 72  # bcrypt's limit
BCRYPT_ROUNDS = 12
DEFAULT_SESSION_MINUTES = 30.0


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    password_hash: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    failed: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AccountError(ValueError):
    """Bad user input (unknown role, weak password, duplicate or unknown name)."""


class LockedOut(Exception):
    """Too many failed log-ins; `seconds` to wait."""

    def __init__(self, seconds: int):
        super().__init__(f"Too many failed log-ins; try again in {seconds} s.")
        self.seconds = seconds


# -- passwords ---------------------------------------------------------------------------------------
def _check_password(password: str) -> bytes:
    raw = password.encode("utf-8")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
    if len(raw) > MAX_PASSWORD_BYTES:
        raise AccountError(f"the password may have at most {MAX_PASSWORD_BYTES} bytes (bcrypt's limit)")
    return raw


def _hash(raw: bytes) -> str:
    return bcrypt.hashpw(raw, bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode()


@lru_cache(maxsize=1)
def _dummy_hash() -> bytes:
    """A hash with the real cost, checked for unknown names so both answers take as long."""
    return bcrypt.hashpw(b"no such user", bcrypt.gensalt(rounds=BCRYPT_ROUNDS))


def _matches(password: str, digest: str | bytes) -> bool:
    raw = password.encode("utf-8")
    if len(raw) > MAX_PASSWORD_BYTES:
        return False
    return bcrypt.checkpw(raw, digest.encode() if isinstance(digest, str) else digest)


# -- users -------------------------------------------------------------------------------------------
def add_user(store: Store, name: str, password: str, role: str, actor: str = "cli") -> None:
    name = name.strip()
    if not name:
        raise AccountError("a user needs a name")
    if len(name) > 120:
        raise AccountError("a user name may have at most 120 characters")
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; expected {', '.join(ROLES)}")
    digest = _hash(_check_password(password))
    with store.session() as s:
        if s.execute(select(User).where(User.name == name)).scalar() is not None:
            raise AccountError(f"user {name!r} already exists")
        s.add(User(name=name, password_hash=digest, role=role))
    audit.record(store, actor, "users.add", name, {"role": role})


def set_password(store: Store, name: str, password: str, actor: str = "cli") -> None:
    """Replace a user's password and lift any lock-out."""
    digest = _hash(_check_password(password))
    with store.session() as s:
        u = s.execute(select(User).where(User.name == name.strip())).scalar()
        if u is None:
            raise AccountError(f"no user {name.strip()!r}")
        u.password_hash, u.failed, u.locked_until = digest, 0, None
    audit.record(store, actor, "users.password", name.strip(), {})


def list_users(store: Store) -> list[dict[str, str]]:
    with store.session() as s:
        return [{"name": u.name, "role": u.role, "created_at": u.created_at.isoformat(timespec="seconds")}
                for u in s.execute(select(User).order_by(User.name)).scalars()]


def count(store: Store) -> int:
    with store.session() as s:
        return int(s.execute(select(func.count()).select_from(User)).scalar() or 0)


def role_of(store: Store, name: str) -> str | None:
    """The user's current role (None when the user no longer exists); sessions re-check it."""
    with store.session() as s:
        return s.execute(select(User.role).where(User.name == name)).scalar()


def password_matches(store: Store, name: str, password: str) -> bool:
    """Whether a user still has this password, without counting a failure. Only for the demo banner
    (it prints the demo logins while they still work); never use it to log someone in."""
    with store.session() as s:
        digest = s.execute(select(User.password_hash).where(User.name == name)).scalar()
    return digest is not None and _matches(password, digest)


def authenticate(store: Store, name: str, password: str) -> str | None:
    """The user's role when the password is right; None when wrong; raises LockedOut while throttled."""
    name = name.strip()
    now = utcnow()
    role: str | None = None
    known, locked_for, wait = False, 0, 0
    with store.session() as s:
        u = s.execute(select(User).where(User.name == name)).scalar() if name else None
        if u is None:
            bcrypt.checkpw(b"wrong", _dummy_hash())  # same cost as a real check
        else:
            known = True
            if u.locked_until and u.locked_until > now:
                wait = int((u.locked_until - now).total_seconds()) + 1
            elif _matches(password, u.password_hash):
                u.failed, u.locked_until = 0, None
                role = u.role
            else:
                u.failed += 1
                if u.failed > FREE_FAILURES:
                    locked_for = min(MAX_LOCK_SECONDS, 2 ** (u.failed - FREE_FAILURES))
                    u.locked_until = now + timedelta(seconds=locked_for)
    if wait:
        audit.record(store, name, "auth.refused", "dashboard", {"locked_seconds": wait})
        raise LockedOut(wait)
    if not known:
        audit.record(store, "anonymous", "auth.failed", "dashboard", {"reason": "unknown user"})
        return None
    if role is None:
        audit.record(store, name, "auth.failed", "dashboard", {"locked_seconds": locked_for})
        return None
    audit.record(store, name, "auth.login", "dashboard", {})
    return role


# -- sessions ----------------------------------------------------------------------------------------
def session_minutes() -> float:
    """Idle minutes before a dashboard session ends ($MEDSPA_SCAN_SESSION_MINUTES, default 30)."""
    try:
        minutes = float(os.environ.get("MEDSPA_SCAN_SESSION_MINUTES", DEFAULT_SESSION_MINUTES))
    except ValueError:
        return DEFAULT_SESSION_MINUTES
    return minutes if minutes > 0 else DEFAULT_SESSION_MINUTES


def session_expired(last_seen: float | None, now: float | None = None, minutes: float | None = None) -> bool:
    """True when a session last active at `last_seen` (epoch seconds) has been idle too long."""
    if not last_seen:
        return True
    now = time.time() if now is None else now
    return now - last_seen > (session_minutes() if minutes is None else minutes) * 60
