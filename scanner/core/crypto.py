"""Encryption at rest for registry photos and face encodings (Fernet: AES-128-CBC + HMAC-SHA256).

The key comes from $MEDSPA_SCAN_KEY, or from the key file $MEDSPA_SCAN_HOME/registry.key, created
atomically with 0600 permissions on first use. A missing, malformed or wrong key is a clear error
(`KeyError_`), never silent data loss; the registry refuses to mint a new key while encrypted data
exists (see `registry.open_vault`).
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from . import config

log = logging.getLogger("medspa_scan.crypto")
KEY_ENV = "MEDSPA_SCAN_KEY"


class KeyError_(RuntimeError):  # noqa: N801 - the name says "encryption key error" without shadowing KeyError
    """The encryption key is missing, malformed or does not open the stored data."""


def key_path() -> Path:
    return config.home() / "registry.key"


def key_source() -> str:
    """Where the key comes from, for messages (never the key itself)."""
    return f"${KEY_ENV}" if os.environ.get(KEY_ENV) else str(key_path())


def create_key_file(path: Path, key: bytes | None = None) -> None:
    """Write a new key (default: a Fernet key) next to `path` with 0600 and link it into place; a
    concurrent creator wins cleanly."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write((key or Fernet.generate_key()) + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
            log.info("created a new key file %s (0600)", path.name)
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)


def load_key(create: bool = True) -> bytes:
    """The key from $MEDSPA_SCAN_KEY or the key file; with `create`, a missing key file is created."""
    env = os.environ.get(KEY_ENV)
    if env is not None and env.strip():
        key = env.strip().encode()
        where = f"${KEY_ENV}"
    else:
        path = key_path()
        if not path.exists():
            if not create:
                raise KeyError_(f"no encryption key: set {KEY_ENV} or restore the key file {path}")
            create_key_file(path)
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            log.warning("the key file %s is readable by others (mode %o); run: chmod 600 %s", path, mode, path)
        key = path.read_bytes().strip()
        where = str(path)
    try:
        Fernet(key)
    except (ValueError, TypeError) as exc:
        raise KeyError_(f"the encryption key in {where} is malformed (expected 32 url-safe base64 bytes, "
                        "as made by Fernet.generate_key())") from exc
    return key


class Vault:
    """Encrypts and decrypts blobs with the registry key; keyed fingerprints for change detection."""

    def __init__(self, key: bytes | None = None, create: bool = True):
        self._key = key or load_key(create=create)
        self._fernet = Fernet(self._key)

    def encrypt(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken as exc:
            raise KeyError_(f"the encryption key ({key_source()}) does not open the stored registry data "
                            "(wrong key?)") from exc

    def fingerprint(self, data: bytes) -> str:
        """HMAC-SHA256 of `data` under the key: says "same photo" without storing a plain hash of it."""
        return hmac.new(self._key, b"medspa-scan fingerprint\0" + data, hashlib.sha256).hexdigest()
