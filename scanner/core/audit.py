"""Append-only, hash-chained audit log: every registry change, review decision, user and key change.

Each entry stores the SHA-256 of the previous entry's hash plus its own content, so editing or
deleting an entry breaks the chain and `verify()` names the entry. A one-row head (entry count and
last hash) also catches a deleted last entry, and its row lock serialises appends from several
processes, so the chain never forks. Entries carry ids and reasons, not PHI.

Anyone who can write the database can recompute SHA-256, so each entry is also sealed with an HMAC
under a key kept outside the database (`audit.key` beside the registry key, 0600), and after each
append a signed head (entry count, last id, last hash) is written to a file outside the database
(`audit.head`, or $MEDSPA_SCAN_AUDIT_HEAD). Cutting the tail, emptying the log or copying a later
hash into the head then shows; `verify(expect="ID:SEAL")` also checks a head noted down earlier
(which catches a rolled-back head file). See SECURITY.md for what this does and does not guarantee.
"""
from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, delete, event, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from . import config
from .store import Base, Store, utcnow

GENESIS = "0" * 64
KEY_FILE_ENV = "MEDSPA_SCAN_AUDIT_KEY_FILE"
HEAD_ENV = "MEDSPA_SCAN_AUDIT_HEAD"
log = logging.getLogger("medspa_scan.audit")


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


class AuditSeal(Base):
    """An entry's HMAC seal under the audit key (kept outside the database)."""

    __tablename__ = "audit_seal"
    entry_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seal: Mapped[str] = mapped_column(String(64))


# -- the key and the signed head outside the database -------------------------------------------------
def key_path() -> Path:
    env = os.environ.get(KEY_FILE_ENV)
    return Path(env).expanduser() if env else config.home() / "audit.key"


def head_path(url: str) -> Path:
    """$MEDSPA_SCAN_AUDIT_HEAD, else `audit.head` in the data home (one per database: `url`)."""
    env = os.environ.get(HEAD_ENV)
    if env:
        return Path(env).expanduser()
    if url == f"sqlite:///{config.home() / 'medspa.db'}":
        return config.home() / "audit.head"
    return config.home() / f"audit-{hashlib.sha256(url.encode()).hexdigest()[:12]}.head"


def _key(create: bool) -> bytes | None:
    path = key_path()
    if not path.exists():
        if not create:
            return None
        from .crypto import create_key_file

        create_key_file(path, secrets.token_hex(32).encode())
    return path.read_bytes().strip()


def _seal(key: bytes, entry_id: int, prev_hash: str, digest: str) -> str:
    return hmac.new(key, f"medspa-scan audit entry\0{entry_id}:{prev_hash}:{digest}".encode(), hashlib.sha256).hexdigest()


def _head_sig(key: bytes, entries: int, last_id: int, last_hash: str) -> str:
    return hmac.new(key, f"medspa-scan audit head\0{entries}:{last_id}:{last_hash}".encode(), hashlib.sha256).hexdigest()


def _read_head(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_head(path: Path, key: bytes, entries: int, last_id: int, last_hash: str, seal: str) -> None:
    """Replace the head file unless a newer head is already there (appends from several processes)."""
    try:
        with open(path.with_name(path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            old = _read_head(path) or {}
            if isinstance(old.get("entries"), int) and old["entries"] > entries and old.get("last_id", 0) > last_id:
                return
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"entries": entries, "last_id": last_id, "last_hash": last_hash, "seal": seal,
                           "signature": _head_sig(key, entries, last_id, last_hash)}, fh)
            os.replace(tmp, path)
    except OSError as exc:
        log.warning("could not write the audit head file %s (%s)", path, exc.strerror)


def head_token(store: Store) -> str:
    """`ID:SEAL16` for the newest entry (what `audit verify --expect` takes); '' for an empty log."""
    with store.session() as s:
        row = s.execute(select(AuditSeal.entry_id, AuditSeal.seal).join(AuditEntry, AuditEntry.id == AuditSeal.entry_id)
                        .order_by(AuditSeal.entry_id.desc()).limit(1)).first()
    return f"{row[0]}:{row[1][:16]}" if row else ""


def _digest(prev: str, at: datetime, actor: str, action: str, target: str, detail: dict[str, Any]) -> str:
    body = json.dumps([prev, at.isoformat(), actor, action, target, detail], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def record(store: Store, actor: str, action: str, target: str = "", detail: dict[str, Any] | None = None,
           *, session: Session | None = None) -> int:
    """Append one entry (who, what, on which target, why) and return its id.

    With `session`, the entry is written in the caller's transaction: it commits (or rolls back)
    together with the change it describes."""
    if session is not None:
        return _append(store.url, session, actor, action, target, detail)
    with store.session() as s:
        return _append(store.url, s, actor, action, target, detail)


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


def _append(url: str, s: Session, actor: str, action: str, target: str, detail: dict[str, Any] | None) -> int:
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
    key = _key(create=True)
    assert key is not None
    if s.execute(select(AuditSeal.entry_id).limit(1)).first() is None:  # a log from before seals: seal it once
        for old in s.execute(select(AuditEntry.id, AuditEntry.prev_hash, AuditEntry.hash)
                             .where(AuditEntry.id != entry.id)).all():
            s.add(AuditSeal(entry_id=old[0], seal=_seal(key, old[0], old[1], old[2])))
    seal = _seal(key, entry.id, prev, entry.hash)
    s.execute(delete(AuditSeal).where(AuditSeal.entry_id == entry.id))  # a stale seal of a cut entry
    s.add(AuditSeal(entry_id=entry.id, seal=seal))
    path, head = head_path(url), (count + 1, entry.id, entry.hash, seal)
    event.listen(s, "after_commit", lambda _s: _write_head(path, key, *head), once=True)
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


def verify(store: Store, expect: str | None = None) -> list[str]:
    """Problems found in the chain, each naming the entry (empty when intact): edited, deleted or
    reordered entries, a deleted last entry (the head remembers how many were written), entries whose
    seal is missing or wrong (written or re-hashed without the key), a cut tail or an emptied log (the
    signed head file outside the database), and, with `expect` ("ID:SEAL" from an earlier verify), a
    log that no longer reaches that entry."""
    problems: list[str] = []
    prev = GENESIS
    last_id = 0
    count = 0
    key = _key(create=False)
    with store.session() as s:
        seals: dict[int, str] = {int(r[0]): str(r[1]) for r in s.execute(select(AuditSeal.entry_id, AuditSeal.seal))}
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
            if key is not None and seals and not hmac.compare_digest(
                    seals.get(e.id, ""), _seal(key, e.id, e.prev_hash, e.hash)):
                problems.append(f"entry {e.id}: its seal is {'wrong' if e.id in seals else 'missing'} (written "
                                "or re-hashed without the audit key)")
            prev, last_id = e.hash, e.id
        head = s.execute(select(AuditHead.entries, AuditHead.last_id, AuditHead.last_hash)
                         .where(AuditHead.id == 1)).first()
    if head is not None and (head[2] != prev or head[0] != count):
        if head[1] > last_id:
            problems.append(_cut(head[1], head[0], last_id))
        elif not problems:
            problems.append(f"entry {head[1]}: the log's head does not match it ({head[0]} entries written, "
                            f"{count} present); entries were deleted or replaced")
    if key is not None:
        problems += _check_head_file(head_path(store.url), key, seals, last_id, prev,
                                     None if problems else count)  # a gap already named explains the count
    if expect:
        problems += _check_expected(expect, key, seals, last_id)
    return list(dict.fromkeys(problems))  # one line per problem, even when two checks see it


def _cut(head_last: int, head_entries: int, last_id: int) -> str:
    gone = f"entry {head_last}" if head_last == last_id + 1 else f"entries {last_id + 1}-{head_last}"
    return f"{gone}: deleted (the log ends at entry {last_id}; {head_entries} entries were written)"


def _check_head_file(path: Path, key: bytes, seals: dict[int, str], last_id: int, last_hash: str,
                     count: int | None) -> list[str]:
    """Compare the log with the signed head written after the last append (outside the database)."""
    head = _read_head(path)
    if head is None:
        return [f"the signed audit head {path} is missing (the log was sealed; the file was deleted or "
                "moved)"] if seals else []
    try:
        entries, hid, hhash = int(head["entries"]), int(head["last_id"]), str(head["last_hash"])
        good = hmac.compare_digest(str(head["signature"]), _head_sig(key, entries, hid, hhash))
    except (KeyError, TypeError, ValueError):
        good = False
    if not good:
        return [f"the signed audit head {path} is damaged or was not signed with the audit key"]
    if hid > last_id:
        return [_cut(hid, entries, last_id)]
    if hid == last_id and (hhash != last_hash or (count is not None and entries != count)):
        return [f"entry {hid}: does not match the signed head ({entries} entries written, {count} present); "
                "entries were deleted or replaced"]
    return []


def _check_expected(expect: str, key: bytes | None, seals: dict[int, str], last_id: int) -> list[str]:
    want_id, _, want_seal = expect.strip().partition(":")
    if not want_id.isdigit() or len(want_seal) < 8:
        return [f"--expect {expect!r}: expected ID:SEAL as printed by `audit verify` (e.g. 42:1f0c9e7a2b3d4c5e)"]
    eid = int(want_id)
    if eid > last_id or eid not in seals:
        return [f"entry {eid}: expected (head {expect}) but the log ends at entry {last_id}; entries were deleted"]
    if key is None or not seals[eid].startswith(want_seal.lower()):
        return [f"entry {eid}: does not carry the expected seal {want_seal} (the log was replaced)"]
    return []
