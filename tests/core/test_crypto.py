"""Encryption at rest: a real Fernet round trip, the key file created 0600, a wrong, malformed or missing
key is a clear error, and no new key is minted over photos encrypted with the old one."""
from __future__ import annotations

import os
import sqlite3

import pytest
from cryptography.fernet import Fernet

from scanner import Registry, Store
from scanner.core import at_rest as _at_rest
from scanner.core.crypto import KeyError_, Vault, key_path, load_key
from scanner.registry.authorizations import FaceRecord, Patient, open_vault


def test_round_trip_and_key_file_permissions(home, monkeypatch):
    monkeypatch.delenv("MEDSPA_SCAN_KEY", raising=False)
    vault = Vault()
    assert key_path() == home / "registry.key"
    assert os.stat(key_path()).st_mode & 0o777 == 0o600
    token = vault.encrypt(b"face bytes")
    assert b"face bytes" not in token and vault.decrypt(token) == b"face bytes"
    assert Vault().decrypt(token) == b"face bytes"  # the same key file is read again
    assert vault.fingerprint(b"a") == Vault().fingerprint(b"a") != vault.fingerprint(b"b")


def test_key_from_the_environment_wins(home, monkeypatch):
    key = Fernet.generate_key()
    monkeypatch.setenv("MEDSPA_SCAN_KEY", key.decode())
    assert load_key() == key and not key_path().exists()
    assert Fernet(key).decrypt(Vault().encrypt(b"x")) == b"x"


def test_wrong_malformed_and_missing_keys(home, monkeypatch):
    monkeypatch.delenv("MEDSPA_SCAN_KEY", raising=False)
    token = Vault().encrypt(b"photo")
    monkeypatch.setenv("MEDSPA_SCAN_KEY", Fernet.generate_key().decode())
    with pytest.raises(KeyError_, match=r"does not open the stored registry data \(wrong key\?\)"):
        Vault().decrypt(token)
    monkeypatch.setenv("MEDSPA_SCAN_KEY", "not-a-key")
    with pytest.raises(KeyError_, match=r"MEDSPA_SCAN_KEY is malformed"):
        Vault()
    monkeypatch.delenv("MEDSPA_SCAN_KEY")
    key_path().unlink()
    with pytest.raises(KeyError_, match="no encryption key: set MEDSPA_SCAN_KEY or restore the key file"):
        Vault(create=False)


def _store_with_an_encrypted_photo() -> Store:
    store = Store()
    Registry(store)
    with store.session() as s:
        s.add(Patient(patient_id="K1", full_name="Kim Lee", aliases=[], social_handles=[]))
        s.flush()
        vault = open_vault(s, create=True)
        s.add(FaceRecord(patient_id="K1", photo_enc=vault.encrypt(b"jpeg"),
                         encoding_enc=vault.encrypt(bytes(8 * 128))))
    return store


def test_a_lost_key_file_is_an_error_not_a_new_key_or_an_empty_registry(home, monkeypatch):
    monkeypatch.delenv("MEDSPA_SCAN_KEY", raising=False)
    store = _store_with_an_encrypted_photo()
    key_path().unlink()
    _at_rest._FERNETS.clear()  # a new process: no key in memory either
    with pytest.raises(KeyError_, match="restore the key file"):  # the names are encrypted too
        Registry(store).match_face([0.0] * 128)
    with store.session() as s, pytest.raises(KeyError_, match="holds 1 encrypted photo"):
        open_vault(s, create=True)
    assert not key_path().exists()  # no new key was minted over the old data


def test_a_wrong_key_fails_the_key_check_at_once(home, monkeypatch):
    monkeypatch.delenv("MEDSPA_SCAN_KEY", raising=False)
    store = _store_with_an_encrypted_photo()
    monkeypatch.setenv("MEDSPA_SCAN_KEY", Fernet.generate_key().decode())
    with pytest.raises(KeyError_, match="wrong key"):
        Registry(store).face_encodings()
    raw = sqlite3.connect(home / "medspa.db").execute("select value from registry_meta").fetchone()[0]
    assert b"key check" not in raw  # the check token itself is encrypted


def test_cli_reports_a_key_problem_as_one_line(home, monkeypatch, capsys, tmp_path):
    from scanner.cli.main import main

    monkeypatch.delenv("MEDSPA_SCAN_KEY", raising=False)
    _store_with_an_encrypted_photo()
    monkeypatch.setenv("MEDSPA_SCAN_KEY", "garbage")
    (tmp_path / "p.jpg").write_bytes(b"x")
    assert main(["registry", "enroll", "K1", str(tmp_path / "p.jpg")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("medspa-scan: error: ") and "malformed" in err and "Traceback" not in err
