"""Append-only, hash-chained audit log: every registry change, review decision, user and key change.

Each entry stores the SHA-256 of the previous entry's hash plus its own content, so editing or
deleting an entry breaks the chain and `verify()` names the entry. A one-row head (entry count and
last hash) also catches a deleted last entry, and its row lock serialises appends from several
processes, so the chain never forks. Entries carry ids and reasons, not PHI.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

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


class AuditHead(Base):
    """The chain's head (one row, id 1): how many entries were written and the last one's hash."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entries: Mapped[int] = mapped_column(Integer, default=0)
    last_id: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default=GENESIS)


def _digest(prev: str, at: datetime, actor: str, action: str, target: str, detail: dict[str, Any]) -> str:
    body = json.dumps([prev, at.isoformat(), actor, action, target, detail], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def record(store: Store, actor: str, action: str, target: str = "", detail: dict[str, Any] | None = None,
           *, session: Session | None = None) -> int:
    """Append one entry (who, what, on which target, why) and return its id.

    With `session`, the entry is written in the caller's transaction: it commits (or rolls back)
    together with the change it describes."""
    if session is not None:
        return _append(session, actor, action, target, detail)
    with store.session() as s:
        return _append(s, actor, action, target, detail)


def _lock_head(s: Session) -> tuple[int, int, str]:
    """Take the head row's write lock (SQLite: the database write lock) and return it; create it once."""
    for _ in range(2):
        res = s.execute(update(AuditHead).where(AuditHead.id == 1).values(entries=AuditHead.entries)
                        .execution_options(synchronize_session=False))
        if getattr(res, "rowcount", 0):
            row = s.execute(select(AuditHead.entries, AuditHead.last_id, AuditHead.last_hash)
                            .where(AuditHead.id == 1)).one()
            return int(row[0]), int(row[1]), str(row[2])
        # first entry ever, or a log written before the head existed: start the head at its last entry
        last = s.execute(select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).first()
        count = s.execute(select(func.count()).select_from(AuditEntry)).scalar() or 0
        try:
            with s.begin_nested():
                s.execute(insert(AuditHead).values(id=1, entries=count, last_id=last[0] if last else 0,
                                              last_hash=last[1] if last else GENESIS))
        except IntegrityError:  # another process created it first
            continue
    raise RuntimeError("audit log head could not be locked")


def _append(s: Session, actor: str, action: str, target: str, detail: dict[str, Any] | None) -> int:
    # what is hashed must be exactly what reads back: JSON-normalise (tuples -> lists, dates -> strings)
    clean: dict[str, Any] = json.loads(json.dumps(detail or {}, ensure_ascii=False, default=str))
    count, _last_id, prev = _lock_head(s)
    at = utcnow().replace(microsecond=0)  # whole seconds survive every SQL backend's DATETIME
    entry = AuditEntry(at=at, actor=actor, action=action, target=target, detail=clean, prev_hash=prev,
                       hash=_digest(prev, at, actor, action, target, clean))
    s.add(entry)
    s.flush()
    s.execute(update(AuditHead).where(AuditHead.id == 1).values(entries=count + 1, last_id=entry.id,
                                                                last_hash=entry.hash)
              .execution_options(synchronize_session=False))
    return entry.id


def entries(store: Store, limit: int | None = None, action: str | None = None, actor: str | None = None,
            target: str | None = None) -> list[dict[str, Any]]:
    """Newest first; `action` may end with '.' or '*' to select a family ('registry.')."""
    with store.session() as s:
        q = select(AuditEntry).order_by(AuditEntry.id.desc())
        if action:
            if action.endswith((".", "*")):
                q = q.where(AuditEntry.action.like(action.rstrip("*") + "%"))
            else:
                q = q.where(AuditEntry.action == action)
        if actor:
            q = q.where(AuditEntry.actor == actor)
        if target:
            q = q.where(AuditEntry.target == target)
        if limit:
            q = q.limit(limit)
        return [
            {"id": e.id, "at": e.at.isoformat(timespec="seconds"), "actor": e.actor, "action": e.action,
             "target": e.target, "detail": e.detail, "hash": e.hash}
            for e in s.execute(q).scalars()
        ]


def verify(store: Store) -> list[str]:
    """Problems found in the chain, each naming the entry (empty when intact): edited, deleted or
    reordered entries, and a deleted last entry (the head remembers how many were written)."""
    problems: list[str] = []
    prev = GENESIS
    last_id = 0
    count = 0
    with store.session() as s:
        for e in s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars():
            count += 1
            if e.prev_hash != prev:
                if e.id > last_id + 1:
                    gone = f"entry {last_id + 1}" if e.id == last_id + 2 else f"entries {last_id + 1}-{e.id - 1}"
                    problems.append(f"entry {e.id}: {gone} before it deleted (the chain link is broken)")
                else:
                    problems.append(f"entry {e.id}: does not chain to entry {last_id} (entry {last_id} was "
                                    "edited and re-hashed, or an entry between them was removed)")
            if _digest(e.prev_hash, e.at, e.actor, e.action, e.target, e.detail) != e.hash:
                problems.append(f"entry {e.id} ({e.action}, {e.at.isoformat(timespec='seconds')}): edited "
                                "(its content does not match its hash)")
            prev, last_id = e.hash, e.id
        head = s.execute(select(AuditHead.entries, AuditHead.last_id, AuditHead.last_hash)
                         .where(AuditHead.id == 1)).first()
    if head is not None and (head[2] != prev or head[0] != count):
        if head[1] > last_id:
            gone = f"entry {head[1]}" if head[1] == last_id + 1 else f"entries {last_id + 1}-{head[1]}"
            problems.append(f"{gone}: deleted (the log ends at entry {last_id}; {head[0]} entries were written)")
        elif not problems:
            problems.append(f"entry {head[1]}: the log's head does not match it ({head[0]} entries written, "
                            f"{count} present); entries were deleted or replaced")
    return problems
