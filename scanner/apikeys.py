"""API keys for the reply-gate API: created once and shown once, stored as SHA-256 hashes,
revocable; plus a per-key sliding-window rate limiter (in memory, per worker process).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from datetime import datetime

from sqlalchemy import DateTime, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from .store import Base, Store, utcnow

PREFIX = "msk_"


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class ApiKeyError(ValueError):
    """A key name that already exists, or a key that does not."""


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create(store: Store, name: str) -> str:
    """Create a key named NAME and return it (the only time it is ever shown)."""
    name = name.strip()
    if not name:
        raise ApiKeyError("a key needs a name")
    key = PREFIX + secrets.token_urlsafe(32)
    with store.session() as s:
        if s.execute(select(ApiKey).where(ApiKey.name == name)).scalar() is not None:
            raise ApiKeyError(f"a key named {name!r} already exists")
        s.add(ApiKey(name=name, key_hash=_hash(key)))
    return key


def revoke(store: Store, name: str) -> None:
    with store.session() as s:
        row = s.execute(select(ApiKey).where(ApiKey.name == name)).scalar()
        if row is None:
            raise ApiKeyError(f"no key named {name!r}")
        row.revoked_at = utcnow()


def list_keys(store: Store) -> list[dict]:
    with store.session() as s:
        return [{"name": k.name, "created_at": k.created_at.isoformat(timespec="seconds"),
                 "revoked": k.revoked_at is not None} for k in s.execute(select(ApiKey).order_by(ApiKey.id)).scalars()]


def verify(store: Store, key: str) -> str | None:
    """The key's name when KEY is a valid, unrevoked key; else None."""
    if not key.startswith(PREFIX):
        return None
    digest = _hash(key)
    with store.session() as s:
        row = s.execute(select(ApiKey).where(ApiKey.key_hash == digest)).scalar()
        if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, digest):
            return None
        return row.name


class RateLimiter:
    """At most `per_minute` requests per key in any 60-second window."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key_name: str) -> tuple[bool, int]:
        """(allowed, seconds to wait when not)."""
        now = time.monotonic()
        with self._lock:
            q = self._hits.setdefault(key_name, deque())
            while q and now - q[0] >= 60:
                q.popleft()
            if len(q) >= self.per_minute:
                return False, max(1, int(60 - (now - q[0])) + 1)
            q.append(now)
            return True, 0
