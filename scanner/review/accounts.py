"""Local dashboard users: bcrypt-hashed passwords, roles (marketing, compliance, admin), throttled
log-ins and the session-timeout rule. Every change and every log-in outcome is audit-logged (by user
name when the user exists; a mistyped name, which may be a password typed in the wrong box, never is).

Throttling: the first FREE_FAILURES wrong passwords in a row cost nothing; each further one locks the
account for twice as long as the last (2 s, 4 s, 8 s ... up to MAX_LOCK_SECONDS). While locked even
the right password is refused. A successful log-in resets the count. The client address has its own
count (ADDRESS_FREE_FAILURES free, then the same doubling), so trying many names from one address is
throttled too.

Counting is atomic: before bcrypt runs, one transaction checks the locks and counts the attempt as a
failure (`failed = failed + 1`, locking when over the free tries); a right password then takes the
count back to zero. Parallel log-ins therefore see each other's attempts: after the free tries, at
most one attempt per lock period reaches bcrypt and the rest are told to wait.
"""
from __future__ import annotations

import os
import time
from datetime import datetime, timedelta
from functools import lru_cache

import bcrypt
from sqlalchemy import DateTime, Integer, String, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..core import audit
from ..core.store import Base, Store, utcnow

ROLES = ("marketing", "compliance", "admin")
REVIEWER_ROLES = ("compliance", "admin")  # who may see the queue, scans, registry and audit log
FREE_FAILURES = 3
ADDRESS_FREE_FAILURES = 10  # one address may serve several people (an office behind one router)
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


class AddressThrottle(Base):
    """Failed log-ins per client address (any user name, known or not)."""

    __tablename__ = "login_throttle"
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


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


@lru_cache(maxsize=4)
def _dummy_hash(rounds: int) -> bytes:
    """A hash with the real cost, checked for unknown names so both answers take as long."""
    return bcrypt.hashpw(b"no such user", bcrypt.gensalt(rounds=rounds))


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


def set_role(store: Store, name: str, role: str, actor: str = "cli") -> None:
    """Change a user's role (open sessions pick it up on their next page view); audit-logged."""
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; expected {', '.join(ROLES)}")
    with store.session() as s:
        u = s.execute(select(User).where(User.name == name.strip())).scalar()
        if u is None:
            raise AccountError(f"no user {name.strip()!r}")
        before, u.role = u.role, role
    audit.record(store, actor, "users.role", name.strip(), {"from": before, "to": role})


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


def _lock_seconds(failed: int, free: int) -> int:
    return min(MAX_LOCK_SECONDS, 2 ** (failed - free)) if failed > free else 0


def _count_attempt(s: Session, model: type[User] | type[AddressThrottle], where: object, free: int,
                   now: datetime) -> tuple[bool, int]:
    """Count one attempt against a row unless it is locked, in one statement: (row exists, seconds to
    wait, 0 when counted). Taking a write lock first serialises parallel log-ins on every backend."""
    open_ = or_(model.locked_until.is_(None), model.locked_until <= now)
    res = s.execute(update(model).where(and_(where, open_)).values(failed=model.failed + 1)  # type: ignore[arg-type]
                    .execution_options(synchronize_session=False))
    row = s.execute(select(model.failed, model.locked_until).where(where)).first()  # type: ignore[arg-type]
    if row is None:
        return False, 0
    if not getattr(res, "rowcount", 0):
        if row[1] is None or row[1] <= now:  # a parallel first attempt created it after the update looked
            return _count_attempt(s, model, where, free, now)  # (PostgreSQL: each statement its own snapshot)
        return True, int(((row[1] or now) - now).total_seconds()) + 1
    lock = _lock_seconds(int(row[0]), free)
    if lock:
        s.execute(update(model).where(where).values(locked_until=now + timedelta(seconds=lock))  # type: ignore[arg-type]
                  .execution_options(synchronize_session=False))
    return True, 0


def _reserve(store: Store, name: str, address: str, now: datetime) -> tuple[str | None, str | None, int]:
    """Check both locks and count this attempt as a failure, atomically: (role, password hash, wait)."""
    with store.session() as s:
        wait = 0
        if address:
            known, wait = _count_attempt(s, AddressThrottle, AddressThrottle.address == address,
                                         ADDRESS_FREE_FAILURES, now)
            if not known:
                try:
                    with s.begin_nested():
                        s.execute(insert(AddressThrottle).values(address=address, failed=1))
                except IntegrityError:  # a parallel first attempt from the same address created it
                    _known, wait = _count_attempt(s, AddressThrottle, AddressThrottle.address == address,
                                                  ADDRESS_FREE_FAILURES, now)
        row = s.execute(select(User.role, User.password_hash).where(User.name == name)).first() if name else None
        if row is None or wait:
            return (row[0] if row else None), None, wait
        _known, wait = _count_attempt(s, User, User.name == name, FREE_FAILURES, now)
        return row[0], (None if wait else row[1]), wait


def _succeeded(store: Store, name: str, address: str) -> None:
    with store.session() as s:
        s.execute(update(User).where(User.name == name).values(failed=0, locked_until=None)
                  .execution_options(synchronize_session=False))
        if address:
            s.execute(update(AddressThrottle).where(AddressThrottle.address == address)
                      .values(failed=0, locked_until=None).execution_options(synchronize_session=False))


def authenticate(store: Store, name: str, password: str, address: object = "") -> str | None:
    """The user's role when the password is right; None when wrong; raises LockedOut while the user or
    the client `address` is throttled (checked and counted before bcrypt runs)."""
    name = name.strip()
    address = address.strip()[:64] if isinstance(address, str) else ""  # the server may not know it
    now = utcnow()
    role, digest, wait = _reserve(store, name, address, now)
    known = role is not None
    if wait:
        if known:
            audit.record(store, name, "auth.refused", "dashboard", {"locked_seconds": wait})
        else:
            audit.record(store, "anonymous", "auth.refused", "dashboard", {"locked_seconds": wait})
        raise LockedOut(wait)
    if digest is None:
        bcrypt.checkpw(b"wrong", _dummy_hash(BCRYPT_ROUNDS))  # same cost as a real check
        audit.record(store, "anonymous", "auth.failed", "dashboard", {"reason": "unknown user"})
        return None
    if _matches(password, digest):
        _succeeded(store, name, address)
        audit.record(store, name, "auth.login", "dashboard", {})
        return role
    with store.session() as s:
        failed = s.execute(select(User.failed).where(User.name == name)).scalar() or 0
    audit.record(store, name, "auth.failed", "dashboard",
                 {"locked_seconds": _lock_seconds(int(failed), FREE_FAILURES)})
    return None


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
