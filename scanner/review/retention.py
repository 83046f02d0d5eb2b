"""Uploaded images and how long PHI is kept: dashboard uploads are written sealed (encrypted with the
registry key, 0600, never in plain form on disk) and read back through `read_upload`; `purge` deletes
uploads older than the upload retention and clears the raw text (text, reply, author, evidence) of
scanned items older than the text retention that no longer wait for a decision.

Settings: $MEDSPA_SCAN_UPLOAD_DAYS (default 30) and $MEDSPA_SCAN_TEXT_DAYS (default: keep). The
dashboard applies them when it starts; `medspa-scan purge` applies them (or `--older-than`) at once.
"""
from __future__ import annotations

import os
import shutil
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from ..core import config
from ..core.at_rest import open_sealed_bytes, seal_bytes

DEFAULT_UPLOAD_DAYS = 30


def _days(env: str, default: int | None) -> int | None:
    raw = os.environ.get(env, "").strip()
    if not raw:
        return default
    try:
        days = int(raw)
    except ValueError:
        raise ValueError(f"${env} must be a whole number of days, got {raw!r}") from None
    return days if days > 0 else None


def upload_days() -> int | None:
    return _days("MEDSPA_SCAN_UPLOAD_DAYS", DEFAULT_UPLOAD_DAYS)


def text_days() -> int | None:
    return _days("MEDSPA_SCAN_TEXT_DAYS", None)


def uploads_dir() -> Path:
    return config.home() / "uploads"


def save_upload(data: bytes, name: str) -> Path:
    """Write an uploaded file sealed under uploads/<random>/<name> (the name is kept: the scanner checks
    it too, a file called 'sarah-before.jpg' names a client)."""
    folder = uploads_dir() / uuid.uuid4().hex
    folder.mkdir(parents=True, mode=0o700)
    path = folder / (Path(name).name or "upload")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(seal_bytes(data))
    return path


def read_upload(path: str | Path) -> bytes:
    """The plain bytes of an upload (sealed or from before sealing)."""
    return open_sealed_bytes(Path(path).read_bytes())


def purge_uploads(older_than_days: int, now: float | None = None) -> int:
    """Delete upload folders last changed more than `older_than_days` ago; returns how many."""
    root = uploads_dir()
    if not root.is_dir():
        return 0
    cutoff = (now or time.time()) - older_than_days * 86400
    gone = 0
    for folder in root.iterdir():
        try:
            if folder.lstat().st_mtime < cutoff:
                if folder.is_dir() and not folder.is_symlink():
                    shutil.rmtree(folder)
                else:
                    folder.unlink()
                gone += 1
        except OSError:
            continue
    return gone


def purge_text(store: Any, older_than_days: int, actor: str = "retention") -> int:
    """Clear the text, reply, author, suggested text and finding evidence of items scanned more than
    `older_than_days` ago, except those still waiting for a decision; audit-logged. Returns how many."""
    from sqlalchemy import and_, not_, or_, select

    from ..core import audit
    from ..core.store import StoredFinding, StoredItem, utcnow

    cutoff = utcnow() - timedelta(days=older_than_days)
    waiting = and_(StoredItem.review_status == "open", StoredItem.verdict != "pass")
    n = 0
    with store.session(immediate=True) as s:
        rows = s.execute(select(StoredItem).where(StoredItem.created_at < cutoff, not_(waiting),
                                                  or_(StoredItem.text != "", StoredItem.author.is_not(None),
                                                      StoredItem.in_reply_to.is_not(None)))).scalars()
        for it in rows:
            it.text, it.in_reply_to, it.author, it.suggested_text = "", None, None, None
            for f in s.execute(select(StoredFinding).where(StoredFinding.item_pk == it.id)).scalars():
                f.data = {**f.data, "evidence": ""}
            n += 1
        if n:
            audit.record(store, actor, "data.purge", "items", {"items": n, "older_than_days": older_than_days},
                         session=s)
    return n


def seal_existing(store: Any) -> int:
    """Encrypt content stored before encryption at rest existed (items, finding evidence, registry
    names); returns how many rows were rewritten. Idempotent and cheap when there is nothing left."""
    import json

    from sqlalchemy import text, update

    from ..core.at_rest import PREFIX, open_sealed
    from ..core.store import StoredFinding, StoredItem
    from ..registry.authorizations import Patient

    plain = f"NOT LIKE '{PREFIX}%'"
    n = 0

    def _plain_list(value: str | None) -> list[str]:
        return list(json.loads(open_sealed(value))) if value else []

    with store.session(immediate=True) as s:
        for pk, body, reply, author in s.execute(text(
                f"SELECT id, text, in_reply_to, author FROM items WHERE (text != '' AND text {plain}) "
                f"OR in_reply_to {plain} OR author {plain}")).all():
            s.execute(update(StoredItem).where(StoredItem.id == pk)
                      .values(text=body, in_reply_to=reply, author=author))
            n += 1
        for pk, data in s.execute(text("SELECT id, CAST(data AS TEXT) FROM findings WHERE CAST(data AS TEXT) NOT LIKE "
                                       f"'%\"evidence\": \"{PREFIX}%' AND CAST(data AS TEXT) NOT LIKE "
                                       "'%\"evidence\": \"\"%'")).all():
            s.execute(update(StoredFinding).where(StoredFinding.id == pk).values(data=json.loads(data)))
            n += 1
        for pid, name, aliases, handles in s.execute(text(
                f"SELECT patient_id, full_name, aliases, social_handles FROM registry_patients WHERE full_name {plain}")).all():
            s.execute(update(Patient).where(Patient.patient_id == pid).values(
                full_name=name, aliases=_plain_list(aliases), social_handles=_plain_list(handles)))
            n += 1
    return n


def apply(store: Any, actor: str = "retention") -> dict[str, int]:
    """Apply the configured retention (uploads and, when set, raw text); seal what an older version
    stored in plain form."""
    seal_existing(store)
    out = {"uploads": 0, "items": 0}
    if (days := upload_days()) is not None:
        out["uploads"] = purge_uploads(days)
    if (days := text_days()) is not None:
        out["items"] = purge_text(store, days, actor)
    return out
