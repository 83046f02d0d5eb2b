"""Encryption at rest for registry photos and face encodings (Fernet: AES-128-CBC + HMAC-SHA256).

The key comes from $MEDSPA_SCAN_KEY, or from the key file $MEDSPA_SCAN_HOME/registry.key, created
with 0600 permissions on first use. A missing or wrong key is a clear error, never silent data loss.
"""
from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from . import config


class KeyError_(RuntimeError):
    """The encryption key is missing, malformed or does not open the stored data."""


def key_path() -> Path:
    return config.home() / "registry.key"


def load_key(create: bool = True) -> bytes:
    env = os.environ.get("MEDSPA_SCAN_KEY")
    if env:
        key = env.strip().encode()
    else:
        path = key_path()
        if not path.exists():
            if not create:
                raise KeyError_(f"no encryption key: set MEDSPA_SCAN_KEY or restore {path}")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(Fernet.generate_key())
        key = path.read_bytes().strip()
    try:
        Fernet(key)
    except (ValueError, TypeError) as exc:
        raise KeyError_("the encryption key is malformed (expected 32 url-safe base64 bytes)") from exc
    return key


class Vault:
    """Encrypts and decrypts blobs with the registry key."""

    def __init__(self, key: bytes | None = None, create: bool = True):
        self._fernet = Fernet(key or load_key(create=create))

    def encrypt(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken as exc:
            raise KeyError_("the encryption key does not open the stored registry data (wrong key?)") from exc
