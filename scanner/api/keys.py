"""API keys for the reply-gate HTTP API (table `api_keys`) and the per-key rate limiter.

A key is `msk_` + 43 URL-safe characters (256 random bits from `secrets`). It is printed once, when
it is created; only its SHA-256 is stored (a fast hash is right for a high-entropy secret), and the
check compares digests in constant time. A key has a unique name (the `actor` of the runs it
submits, so names are never reused), a creation time, an optional revocation time and an optional
rate limit of its own. Creating and revoking keys is audit-logged. Nothing here logs a key.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from ..core.store import Base, Store, utcnow

PREFIX = "msk_"
DEFAULT_RATE_PER_MINUTE = 1200  # a busy reply gate sends a few a minute; this stops runaway loops only
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")
KEY_RE = re.compile(r"^msk_[A-Za-z0-9_-]{20,100}$")


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    rate_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)


class ApiKeyError(ValueError):
    """A bad key name, a name already taken, or a key that does not exist."""


@dataclass(frozen=True)
class KeyInfo:
    """Who is calling: the key's name and its own rate limit (None: the server default)."""

    name: str
    rate_per_minute: int | None = None


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create(store: Store, name: str, rate_per_minute: int | None = None, actor: str = "cli") -> str:
    """Create a key named NAME and return it: the only time the key itself is ever available."""
    from ..core import audit

    name = name.strip()
    if not NAME_RE.match(name):
        raise ApiKeyError(f"invalid key name {name[:40]!r}: use 1-100 letters, digits, '.', '_', '-' or '@', "
                          "starting with a letter or digit")
    if rate_per_minute is not None and rate_per_minute < 1:
        raise ApiKeyError("--rate-limit must be at least 1 request a minute")
    key = PREFIX + secrets.token_urlsafe(32)
    with store.session() as s:
        existing = s.execute(select(ApiKey).where(ApiKey.name == name)).scalar()
        if existing is not None:
            state = "revoked" if existing.revoked_at else "active"
            raise ApiKeyError(f"a key named {name!r} already exists ({state}); names are never reused, "
                              f"choose another (for example {name}-2)")
        s.add(ApiKey(name=name, key_hash=_hash(key), rate_per_minute=rate_per_minute))
    audit.record(store, actor, "apikey.create", name, {"rate_per_minute": rate_per_minute})
    return key


def revoke(store: Store, name: str, actor: str = "cli") -> None:
    """Revoke the key named NAME; requests with it are refused from then on."""
    from ..core import audit

    with store.session() as s:
        row = s.execute(select(ApiKey).where(ApiKey.name == name)).scalar()
        if row is None:
            raise ApiKeyError(f"no key named {name[:120]!r}; see 'medspa-scan apikeys list'")
        if row.revoked_at is not None:
            raise ApiKeyError(f"the key {name!r} was already revoked on {row.revoked_at:%Y-%m-%d %H:%M} UTC")
        row.revoked_at = utcnow()
    audit.record(store, actor, "apikey.revoke", name, {})


def list_keys(store: Store) -> list[dict[str, Any]]:
    """Every key's name, creation time, revocation and rate limit (never the key or its hash)."""
    with store.session() as s:
        return [{"name": k.name, "created_at": k.created_at.isoformat(timespec="seconds"),
                 "revoked": k.revoked_at is not None,
                 "revoked_at": k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else None,
                 "rate_per_minute": k.rate_per_minute}
                for k in s.execute(select(ApiKey).order_by(ApiKey.id)).scalars()]


def verify(store: Store, key: str) -> KeyInfo | None:
    """Who holds KEY when it is a valid, unrevoked key; else None."""
    if not KEY_RE.match(key):
        return None
    digest = _hash(key)
    with store.session() as s:
        row = s.execute(select(ApiKey.name, ApiKey.key_hash, ApiKey.revoked_at, ApiKey.rate_per_minute)
                        .where(ApiKey.key_hash == digest)).first()
    if row is None or not hmac.compare_digest(row.key_hash, digest) or row.revoked_at is not None:
        return None
    return KeyInfo(row.name, row.rate_per_minute)


class RateLimiter:
    """At most N requests per key in any 60-second window (exact sliding window, thread-safe).

    State lives in memory, so with several server worker processes each enforces the limit on its own.
    """

    def __init__(self, per_minute: int = DEFAULT_RATE_PER_MINUTE, window: float = 60.0):
        self.per_minute = per_minute
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key_name: str, limit: int | None = None) -> tuple[bool, int]:
        """(allowed, whole seconds to wait before the next request is allowed when not)."""
        limit = limit or self.per_minute
        now = time.monotonic()
        with self._lock:
            q = self._hits.setdefault(key_name, deque())
            while q and now - q[0] >= self.window:
                q.popleft()
            if len(q) >= limit:
                wait = self.window - (now - q[len(q) - limit])
                return False, max(1, int(wait + 0.999))
            q.append(now)
            return True, 0
