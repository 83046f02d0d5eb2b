"""Encryption at rest for stored content (PHI): the column types that seal items' text, in_reply_to and
author, the evidence inside each stored finding and the registry's names, aliases and handles with the
registry's key (Fernet, see crypto.py), and the sealing of uploaded files.

Sealing happens where SQLAlchemy binds a value and opening where it reads one, so every reader that
goes through the ORM (dashboard, reports, review, API) sees plain text and the database file never
holds it. Values written before sealing existed (no `enc1:` prefix) read as they are.
"""
from __future__ import annotations

import json
import os
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import JSON, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

PREFIX = "enc1:"
FILE_MAGIC = b"medspa-scan sealed file 1\n"
_FERNETS: dict[tuple[Any, ...], Fernet] = {}
_KEY_PATHS: dict[tuple[str | None, str | None], Any] = {}


def _fernet(create: bool = True) -> Fernet:
    """The Fernet of the registry key (cached per key file version or $MEDSPA_SCAN_KEY value)."""
    from . import crypto

    env = os.environ.get(crypto.KEY_ENV, "").strip()
    if env:
        ident: tuple[Any, ...] = ("env", env)
    else:
        where = (os.environ.get("MEDSPA_SCAN_HOME"), os.environ.get("XDG_DATA_HOME"))
        path = _KEY_PATHS.get(where) or _KEY_PATHS.setdefault(where, crypto.key_path())
        try:
            st = path.stat()
            ident = ("file", str(path), st.st_ino, st.st_mtime_ns)
        except FileNotFoundError:
            ident = ()
    f = _FERNETS.get(ident) if ident else None
    if f is None:
        f = Fernet(crypto.load_key(create=create))
        if ident:
            _FERNETS[ident] = f
    return f


def seal(text: str) -> str:
    return PREFIX + _fernet(create=False).encrypt(text.encode("utf-8")).decode("ascii")


def ensure_key(store: Any) -> None:
    """Create the key for a store that has none yet; never over encrypted data (a lost key file must
    be restored, not replaced: reads and writes then say so)."""
    from sqlalchemy import text

    from . import crypto

    if os.environ.get(crypto.KEY_ENV, "").strip() or crypto.key_path().exists():
        return
    probes = (f"SELECT 1 FROM items WHERE text LIKE '{PREFIX}%' OR author LIKE '{PREFIX}%' LIMIT 1",
              f"SELECT 1 FROM registry_patients WHERE full_name LIKE '{PREFIX}%' LIMIT 1",
              "SELECT 1 FROM registry_faces LIMIT 1", "SELECT 1 FROM registry_meta LIMIT 1")
    with store.engine.connect() as conn:
        for probe in probes:
            try:
                if conn.execute(text(probe)).first() is not None:
                    return
            except Exception:  # noqa: BLE001 - a table this database does not have
                conn.rollback()
    crypto.load_key(create=True)


def open_sealed(value: str) -> str:
    if not value.startswith(PREFIX):
        return value  # written before sealing existed
    return _decrypt(value[len(PREFIX):].encode("ascii"), "the stored content").decode("utf-8")


def _decrypt(token: bytes, what: str) -> bytes:
    """Decrypt with the current key, else with any key this process has already loaded (a store
    opened from one data folder while $MEDSPA_SCAN_HOME points at another)."""
    from .crypto import KeyError_, key_source

    try:
        current: Fernet | None = _fernet(create=False)
    except KeyError_:
        if not _FERNETS:
            raise
        current = None
    keys = ([current] if current is not None else []) + [f for f in _FERNETS.values() if f is not current]
    try:
        return MultiFernet(keys).decrypt(token)
    except InvalidToken:
        raise KeyError_(f"the encryption key ({key_source()}) does not open {what} (wrong key?)") from None


def seal_bytes(data: bytes) -> bytes:
    return FILE_MAGIC + _fernet(create=False).encrypt(data)


def is_sealed_file(head: bytes) -> bool:
    return head.startswith(FILE_MAGIC)


def open_sealed_bytes(data: bytes) -> bytes:
    """The plain bytes of a sealed file's content (as read); other content is returned as it is."""
    if not is_sealed_file(data):
        return data
    return _decrypt(data[len(FILE_MAGIC):], "a stored upload")


class SealedText(TypeDecorator[str]):
    """Text stored encrypted; reads back as plain text."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return value if value is None or value == "" or value.startswith(PREFIX) else seal(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else open_sealed(value)


class SealedFinding(TypeDecorator[dict[str, Any]]):
    """A stored finding (JSON) whose `evidence` (the quoted text) is stored encrypted."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: dict[str, Any] | None, dialect: Dialect) -> dict[str, Any] | None:
        ev = value.get("evidence") if isinstance(value, dict) else None
        if isinstance(value, dict) and isinstance(ev, str) and ev and not ev.startswith(PREFIX):
            return {**value, "evidence": seal(ev)}
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        ev = value.get("evidence") if isinstance(value, dict) else None
        if isinstance(value, dict) and isinstance(ev, str) and ev.startswith(PREFIX):
            return {**value, "evidence": open_sealed(ev)}
        return value


class SealedList(TypeDecorator[list[str]]):
    """A list of strings (aliases, handles) stored as encrypted JSON; plain JSON from before reads as is."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: list[str] | None, dialect: Dialect) -> str | None:
        return None if value is None else seal(json.dumps(list(value), ensure_ascii=False))

    def process_result_value(self, value: str | None, dialect: Dialect) -> list[str] | None:
        return None if value is None else list(json.loads(open_sealed(value)))
