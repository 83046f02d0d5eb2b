"""Append-only, hash-chained audit log: every registry change and every dashboard decision.

Each entry stores the SHA-256 of the previous entry's hash plus its own content, so deleting or
editing any entry breaks the chain and `verify()` reports where. Entries carry ids, not PHI.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from .store import Base, Store, utcnow

GENESIS = "0" * 64


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(80), index=True)
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


def _digest(prev: str, at: datetime, actor: str, action: str, target: str, detail: dict[str, Any]) -> str:
    body = json.dumps([prev, at.isoformat(), actor, action, target, detail], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def record(store: Store, actor: str, action: str, target: str = "", detail: dict[str, Any] | None = None) -> int:
    """Append one entry (who, what, on which target, why) and return its id."""
    detail = detail or {}
    with store.session() as s:
        last = s.execute(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).scalar()
        prev = last or GENESIS
        at = utcnow()
        entry = AuditEntry(
            at=at, actor=actor, action=action, target=target, detail=detail, prev_hash=prev,
            hash=_digest(prev, at, actor, action, target, detail),
        )
        s.add(entry)
        s.flush()
        return entry.id


def entries(store: Store, limit: int | None = None, action: str | None = None) -> list[dict[str, Any]]:
    with store.session() as s:
        q = select(AuditEntry).order_by(AuditEntry.id.desc())
        if action:
            q = q.where(AuditEntry.action == action)
        if limit:
            q = q.limit(limit)
        return [
            {"id": e.id, "at": e.at.isoformat(timespec="seconds"), "actor": e.actor, "action": e.action,
             "target": e.target, "detail": e.detail, "hash": e.hash}
            for e in s.execute(q).scalars()
        ]


def verify(store: Store) -> list[str]:
    """Problems found in the chain (empty when intact): edited, deleted or reordered entries."""
    problems: list[str] = []
    prev = GENESIS
    with store.session() as s:
        for e in s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars():
            if e.prev_hash != prev:
                problems.append(f"entry {e.id}: previous-hash mismatch (an entry before it was deleted or edited)")
            if _digest(e.prev_hash, e.at, e.actor, e.action, e.target, e.detail) != e.hash:
                problems.append(f"entry {e.id}: content does not match its hash (edited)")
            prev = e.hash
    return problems
