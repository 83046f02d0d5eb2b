"""Local dashboard users: bcrypt-hashed passwords, roles (marketing, compliance, admin), throttled
log-ins (each failure after the third doubles a lock-out, up to 5 minutes). Changes are audit-logged.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import bcrypt
from sqlalchemy import DateTime, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from . import audit
from .store import Base, Store, utcnow

ROLES = ("marketing", "compliance", "admin")
FREE_FAILURES = 3
MAX_LOCK_SECONDS = 300


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
    """Bad user input (unknown role, short password, duplicate name)."""


class LockedOut(Exception):
    """Too many failed log-ins; `seconds` to wait."""

    def __init__(self, seconds: int):
        super().__init__(f"too many failed log-ins; try again in {seconds} s")
        self.seconds = seconds


def add_user(store: Store, name: str, password: str, role: str, actor: str = "cli") -> None:
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; expected {', '.join(ROLES)}")
    if len(password) < 8:
        raise AccountError("the password needs at least 8 characters")
    name = name.strip()
    if not name:
        raise AccountError("a user needs a name")
    digest = bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=12)).decode()
    with store.session() as s:
        if s.execute(select(User).where(User.name == name)).scalar() is not None:
            raise AccountError(f"user {name!r} already exists")
        s.add(User(name=name, password_hash=digest, role=role))
    audit.record(store, actor, "users.add", name, {"role": role})


def list_users(store: Store) -> list[dict]:
    with store.session() as s:
        return [{"name": u.name, "role": u.role, "created_at": u.created_at.isoformat(timespec="seconds")}
                for u in s.execute(select(User).order_by(User.name)).scalars()]


def count(store: Store) -> int:
    return len(list_users(store))


def authenticate(store: Store, name: str, password: str) -> str | None:
    """The user's role when the password is right; None when wrong; LockedOut while throttled."""
    now = utcnow()
    with store.session() as s:
        u = s.execute(select(User).where(User.name == name.strip())).scalar()
        if u is None:
            bcrypt.checkpw(b"x", bcrypt.hashpw(b"y", bcrypt.gensalt(rounds=4)))  # similar timing
            return None
        if u.locked_until and u.locked_until > now:
            raise LockedOut(int((u.locked_until - now).total_seconds()) + 1)
        if bcrypt.checkpw(password.encode("utf-8"), u.password_hash.encode()):
            u.failed, u.locked_until = 0, None
            return u.role
        u.failed += 1
        if u.failed > FREE_FAILURES:
            u.locked_until = now + timedelta(seconds=min(MAX_LOCK_SECONDS, 2 ** (u.failed - FREE_FAILURES)))
    audit.record(store, name.strip()[:120], "auth.failed", "dashboard", {})
    return None
