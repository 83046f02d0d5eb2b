"""The authorization registry on a real SQLite file: CSV import (upsert, all or nothing, errors naming
row and field), the purposes x channels x dates x revocation matrix, several authorizations per patient,
add and revoke with their audit entries, the schema upgrade from the first layout."""
from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from scanner import Registry, RegistryError, Store
from scanner.core import audit
from tests.conftest import SHARED

pytestmark = pytest.mark.backends

HEADER = "patient_id,full_name,aliases,social_handles,purposes,channels,signed_on,expires_on,revoked_on,photo\n"
ROWS = (
    "A1,Jennifer Lopez Vega,Jen V.;Jenny Vega,@jen.glows,before_after_photos;name_in_marketing,instagram,2024-01-01,2030-01-01,,\n"
    "A2,Marta Olsen,,@marta.o,testimonial,all,2024-01-01,,2025-06-01,\n"
    "A3,Sam Rivers,Sam R.,,case_study,website;print,2024-01-01,2025-01-01,,\n"
    "A4,Sam Okafor,,,case_study,website,2024-01-01,,,\n"
)


@pytest.fixture()
def store(home) -> Store:
    return Store()


def write_csv(tmp_path: Path, body: str, name: str = "consents.csv", header: str = HEADER) -> Path:
    p = tmp_path / name
    p.write_text(header + body, encoding="utf-8")
    return p


def test_import_inserts_then_upserts_by_patient_id(store, tmp_path):
    res = Registry.import_csv(store, write_csv(tmp_path, ROWS), actor="alice")
    assert (res["rows"], res["patients"], res["inserted"], res["updated"], res["photos"]) == (4, 4, 4, 0, 0)
    changed = ROWS.replace("2030-01-01", "2031-01-01").replace("Marta Olsen,,", "Marta Olsen,Marty O.,")
    res = Registry.import_csv(store, write_csv(tmp_path, changed), actor="bob")
    assert (res["inserted"], res["updated"], res["unchanged"], res["removed"]) == (0, 2, 2, 0)
    reg = Registry(store)
    assert reg.get("A1").authorizations[0].expires_on == date(2031, 1, 1)
    assert reg.find_in_text("Marty O. loved it")[0].patient_ids == ("A2",)  # the new alias is matched
    assert len(reg) == 4
    last = audit.entries(store, limit=1)[0]
    assert (last["actor"], last["action"], last["target"]) == ("bob", "registry.import", "consents.csv")
    assert last["detail"]["changed"] == ["A1", "A2"] and len(last["detail"]["file_sha256"]) == 64
    assert "Jennifer" not in json.dumps(audit.entries(store))  # ids, never names


def test_rows_of_one_patient_are_its_complete_set(store, tmp_path):
    two = ("B1,Bea Kowalski,,,testimonial,instagram,2023-01-01,2024-01-01,,\n"
           "B1,Bea Kowalski,Bea K.,,before_after_photos,all,2024-02-01,,,\n")
    res = Registry.import_csv(store, write_csv(tmp_path, two))
    assert (res["rows"], res["patients"], res["inserted"]) == (2, 1, 2)
    rec = Registry(store).get("B1")
    assert [a.authorization_id for a in rec.authorizations] == ["B1/2024-02-01", "B1/2023-01-01"]  # newest first
    assert rec.aliases == ("Bea K.",)
    res = Registry.import_csv(store, write_csv(tmp_path, two.splitlines(keepends=True)[1]))
    assert res["removed"] == 1  # the file no longer lists the 2023 authorization
    assert [a.authorization_id for a in Registry(store).get("B1").authorizations] == ["B1/2024-02-01"]


def test_the_development_corpus_registry_imports(store):
    res = Registry.import_csv(store, SHARED / "corpus" / "registry.csv", actor="tests")
    assert res["rows"] == 8 and res["inserted"] == 8
    reg = Registry(store)
    today = date(2025, 3, 1)
    assert reg.check(["P005"], {"testimonial"}, "instagram", today).status == "expired"
    assert reg.check(["P006"], {"testimonial"}, "instagram", today).status == "revoked"
    assert reg.check(["P002"], {"testimonial"}, "tiktok", today).status == "wrong_channel"
    assert reg.check(["P008"], {"testimonial"}, "website", today).status == "missing_purpose"
    assert reg.check(["P003"], {"before_after_photos"}, "tiktok", today).ok  # no expiry, all channels


@pytest.mark.parametrize(("bad", "where"), [
    ("B1,Ann Bell,,,testimonial,instagram,2024-13-01,,,\n", "line 3 (row 2): signed_on: not an ISO date"),
    ("B1,Ann Bell,,,testimonial,instagram,,,,\n", "line 3 (row 2): signed_on: required"),
    ("B1,Ann Bell,,,billboard,instagram,2024-01-01,,,\n", "line 3 (row 2): purposes: unknown purpose 'billboard'"),
    ("B1,Ann Bell,,,testimonial,myspace,2024-01-01,,,\n", "line 3 (row 2): channels: unknown channel 'myspace'"),
    ("B1,Ann Bell,,,,instagram,2024-01-01,,,\n", "line 3 (row 2): purposes: required"),
    ("B1,Ann Bell,,,testimonial,,2024-01-01,,,\n", "line 3 (row 2): channels: required"),
    ("B1,,,,testimonial,instagram,2024-01-01,,,\n", "line 3 (row 2): full_name: required"),
    (",Ann Bell,,,testimonial,instagram,2024-01-01,,,\n", "line 3 (row 2): patient_id: required"),
    ("B1,Ann Bell,,,testimonial,instagram,2024-01-01,2023-01-01,,\n", "line 3 (row 2): expires_on"),
    ("B1,Ann Bell,,,testimonial,instagram,2024-01-01,,2023-05-01,\n", "line 3 (row 2): revoked_on"),
    ("B1,Ann Bell,,ann bell,testimonial,instagram,2024-01-01,,,\n", "line 3 (row 2): social_handles"),
    ("B1,Ann Bell,,,testimonial,instagram,2024-01-01,,\n", "line 3 (row 2): 9 fields, the header has 10"),
    ("B1,Ann Bell,,,testimonial,instagram,2024-01-01,,,missing.jpg\n", "line 3 (row 2): photo: no such file"),
    ("C1,Cora Diaz,,,testimonial,instagram,2024-01-01,,,\n", "line 3 (row 2): signed_on: patient_id 'C1' already"),
    ("C1,Cora Diaz-Lee,,,testimonial,instagram,2025-01-01,,,\n", "line 3 (row 2): full_name: differs from line 2"),
])
def test_a_bad_row_fails_the_whole_import(store, tmp_path, bad, where):
    Registry.import_csv(store, write_csv(tmp_path, "Z9,Zed Zero,,,testimonial,all,2020-01-01,,,\n", "old.csv"))
    body = "C1,Cora Diaz,,,testimonial,instagram,2024-01-01,,,\n" + bad
    with pytest.raises(RegistryError) as err:
        Registry.import_csv(store, write_csv(tmp_path, body))
    assert str(err.value).startswith("consents.csv " + where), str(err.value)
    assert set(Registry(store).records) == {"Z9"}  # nothing half-imported
    assert audit.entries(store, limit=1)[0]["target"] == "old.csv"  # and nothing logged


def test_file_level_problems_are_named(store, tmp_path):
    with pytest.raises(RegistryError, match=r"line 1: missing column\(s\) aliases, social_handles"):
        Registry.import_csv(store, write_csv(tmp_path, "A,B\n", header="patient_id,full_name,purposes\n"))
    with pytest.raises(RegistryError, match="no such file"):
        Registry.import_csv(store, tmp_path / "nope.csv")
    bad = tmp_path / "latin1.csv"
    bad.write_bytes((HEADER + "A1,Zoë,,,testimonial,all,2024-01-01,,,\n").encode("latin-1"))
    with pytest.raises(RegistryError, match="not valid UTF-8"):
        Registry.import_csv(store, bad)
    # the photo column may be left out; a BOM and upper-case header are fine
    p = tmp_path / "nophoto.csv"
    p.write_text("\ufeff" + HEADER.upper().replace(",PHOTO", "") + "A1,Ann Bell,,,testimonial,all,2024-01-01,,\n")
    assert Registry.import_csv(store, p)["rows"] == 1


# -- the authorization matrix -------------------------------------------------------------------
MATRIX = "M1,Mia Torres,,,before_after_photos;name_in_marketing,instagram;facebook,2024-03-01,2025-03-01,2024-12-15,\n"


@pytest.mark.parametrize(("purposes", "channel", "as_of", "status"), [
    ({"before_after_photos"}, "instagram", "2024-03-01", "authorized"),   # first day signed
    ({"before_after_photos", "name_in_marketing"}, "facebook", "2024-06-01", "authorized"),
    (set(), "instagram", "2024-06-01", "authorized"),                       # no purpose = name_in_marketing
    ({"before_after_photos"}, "instagram", "2024-02-29", "not_yet_valid"),
    ({"before_after_photos"}, "tiktok", "2024-06-01", "wrong_channel"),
    ({"before_after_photos"}, "print", "2024-06-01", "wrong_channel"),
    ({"testimonial"}, "instagram", "2024-06-01", "missing_purpose"),
    ({"testimonial", "before_after_photos"}, "instagram", "2024-06-01", "missing_purpose"),
    ({"case_study"}, "tiktok", "2024-06-01", "missing_purpose"),            # purpose before channel
    ({"before_after_photos"}, "instagram", "2024-12-14", "authorized"),    # day before revocation
    ({"before_after_photos"}, "instagram", "2024-12-15", "revoked"),       # revoked_on <= as_of
    ({"before_after_photos"}, "tiktok", "2025-06-01", "revoked"),
])
def test_authorization_matrix(store, tmp_path, purposes, channel, as_of, status):
    Registry.import_csv(store, write_csv(tmp_path, MATRIX))
    d = Registry(store).check(["M1"], purposes, channel, date.fromisoformat(as_of))
    assert (d.ok, d.status) == (status == "authorized", status)
    assert d.patient_id == "M1" and d.authorization_id == "M1/2024-03-01"
    assert "Mia" not in d.detail and "Torres" not in d.detail


@pytest.mark.parametrize(("as_of", "status"), [("2026-02-28", "authorized"), ("2026-03-01", "expired")])
def test_expiry_is_exclusive(store, tmp_path, as_of, status):
    Registry.import_csv(store, write_csv(tmp_path, "E1,Eli Stone,,,testimonial,all,2025-03-01,2026-03-01,,\n"))
    assert Registry(store).check(["E1"], {"testimonial"}, "sms", date.fromisoformat(as_of)).status == status


def test_all_covers_every_channel_and_ambiguity_is_never_ok(store, tmp_path):
    Registry.import_csv(store, write_csv(tmp_path, ROWS))
    reg = Registry(store)
    today = date(2024, 6, 1)
    for channel in ("instagram", "sms", "email", "yelp", "print"):
        assert reg.check(["A2"], {"testimonial"}, channel, today).ok
    d = reg.check(["A3", "A4"], {"case_study"}, "website", today)  # both would be authorized alone
    assert (d.ok, d.status, d.patient_id, d.authorization_id) == (False, "ambiguous", None, None)
    assert "A3" in d.detail and "A4" in d.detail
    assert reg.check(["ZZ"], {"case_study"}, "website", today).status == "no_record"
    assert reg.check([], {"case_study"}, "website", today).status == "no_record"


def test_several_authorizations_per_patient(store, tmp_path):
    body = ("S1,Sia Lund,,,testimonial,instagram,2023-01-01,2024-01-01,,\n"
            "S1,Sia Lund,,,before_after_photos,all,2023-06-01,,,\n"
            "S1,Sia Lund,,,testimonial,instagram;tiktok,2024-05-01,,,\n")
    Registry.import_csv(store, write_csv(tmp_path, body))
    reg = Registry(store)
    both = {"testimonial", "before_after_photos"}
    d = reg.check(["S1"], both, "instagram", date(2023, 7, 1))  # two authorizations together
    assert d.ok and set(d.authorization_id.split("+")) == {"S1/2023-01-01", "S1/2023-06-01"}
    d = reg.check(["S1"], both, "instagram", date(2024, 2, 1))  # the testimonial one expired in between
    assert (d.status, d.authorization_id) == ("expired", "S1/2023-01-01")
    d = reg.check(["S1"], both, "tiktok", date(2024, 6, 1))  # renewed, now also on tiktok
    assert d.ok and set(d.authorization_id.split("+")) == {"S1/2024-05-01", "S1/2023-06-01"}
    assert reg.check(["S1"], {"testimonial"}, "facebook", date(2024, 6, 1)).status == "wrong_channel"
    assert reg.get("S1").status(date(2024, 2, 1)) == "valid"


def test_revoke_needs_a_reason_applies_from_its_date_and_is_audited(store, tmp_path):
    Registry.import_csv(store, write_csv(tmp_path, ROWS))
    with pytest.raises(RegistryError, match="reason"):
        Registry.revoke(store, "A1", date(2024, 5, 1), "  ", actor="bob")
    with pytest.raises(RegistryError, match="no registry record"):
        Registry.revoke(store, "NOPE", date(2024, 5, 1), "asked", actor="bob")
    assert Registry.revoke(store, "A1", date(2024, 5, 1), "patient asked by phone", actor="bob") == ["A1/2024-01-01"]
    reg = Registry(store)
    assert reg.check(["A1"], {"before_after_photos"}, "instagram", date(2024, 4, 30)).ok  # audits as of earlier
    d = reg.check(["A1"], {"before_after_photos"}, "instagram", date(2024, 6, 1))
    assert d.status == "revoked" and "2024-05-01" in d.detail
    e = audit.entries(store, limit=1)[0]
    assert (e["actor"], e["action"], e["target"]) == ("bob", "registry.revoke", "A1")
    assert e["detail"] == {"on": "2024-05-01", "reason": "patient asked by phone", "authorizations": ["A1/2024-01-01"]}
    with pytest.raises(RegistryError, match="already revoked"):
        Registry.revoke(store, "A1", date(2024, 6, 1), "again", actor="bob")


def test_an_import_never_undoes_a_revocation(store, tmp_path):
    Registry.import_csv(store, write_csv(tmp_path, ROWS))
    Registry.revoke(store, "A1", date(2024, 5, 1), "written revocation", actor="bob")
    res = Registry.import_csv(store, write_csv(tmp_path, ROWS))  # the EHR export does not know about it
    assert res["revocations_kept"] == 1
    assert Registry(store).check(["A1"], {"before_after_photos"}, "instagram", date(2024, 6, 1)).status == "revoked"
    renewed = ROWS.replace("2024-01-01,2030-01-01", "2024-07-01,2030-01-01")  # a newly signed form
    Registry.import_csv(store, write_csv(tmp_path, renewed))
    d = Registry(store).check(["A1"], {"before_after_photos"}, "instagram", date(2024, 8, 1))
    assert d.ok and d.authorization_id == "A1/2024-07-01"


def test_add_a_patient_and_a_second_authorization(store, tmp_path):
    fields = {"patient_id": "N1", "full_name": "Noor Haddad", "aliases": "", "social_handles": "@noor.h",
              "purposes": "testimonial", "channels": "instagram", "signed_on": "2024-01-01", "expires_on": "",
              "revoked_on": ""}
    assert Registry.add(store, fields, actor="carol", reason="signed at front desk") == "N1/2024-01-01"
    with pytest.raises(RegistryError, match="already has an authorization signed on 2024-01-01"):
        Registry.add(store, fields, actor="carol")
    more = {**fields, "full_name": "", "purposes": "before_after_photos", "channels": "all",
            "signed_on": "2024-09-01", "social_handles": "https://www.instagram.com/noorglow/"}
    assert Registry.add(store, more, actor="carol") == "N1/2024-09-01"
    with pytest.raises(RegistryError, match="another name"):
        Registry.add(store, {**more, "full_name": "Nora Haddad", "signed_on": "2024-10-01"}, actor="carol")
    with pytest.raises(RegistryError, match="required for a new patient"):
        Registry.add(store, {**more, "patient_id": "N2"}, actor="carol")
    rec = Registry(store).get("N1")
    assert rec.social_handles == ("@noor.h", "@noorglow") and len(rec.authorizations) == 2
    e = audit.entries(store, action="registry.add")
    assert [x["detail"]["authorization_id"] for x in e] == ["N1/2024-09-01", "N1/2024-01-01"]
    assert e[1]["detail"]["reason"] == "signed at front desk"


def test_a_failed_change_writes_no_audit_entry(store, tmp_path):
    Registry.import_csv(store, write_csv(tmp_path, ROWS))
    n = len(audit.entries(store))
    with pytest.raises(RegistryError):
        Registry.revoke(store, "A2", date(2025, 7, 1), "late", actor="x")  # already revoked 2025-06-01
    assert len(audit.entries(store)) == n and audit.verify(store) == []


@pytest.mark.sqlite_only  # the first layout only ever existed in SQLite files
def test_schema_upgrade_from_one_row_per_patient(home):
    """A database written by the first registry layout is moved to the new tables once, audited."""
    db = home / "medspa.db"
    con = sqlite3.connect(db)
    con.executescript("""
        CREATE TABLE registry_authorizations (patient_id VARCHAR(80) PRIMARY KEY, full_name VARCHAR(300),
            aliases JSON, social_handles JSON, purposes JSON, channels JSON, signed_on DATE, expires_on DATE,
            revoked_on DATE, revoke_reason TEXT, updated_at DATETIME);
        CREATE TABLE registry_faces (id INTEGER PRIMARY KEY, patient_id VARCHAR(80), photo_enc BLOB,
            encoding_enc BLOB, created_at DATETIME);
        INSERT INTO registry_authorizations VALUES ('O1', 'Olga Petrova', '["Olya P."]', '["@olya.p"]',
            '["testimonial"]', '["all"]', '2023-01-01', NULL, '2024-02-02', 'moved away', '2023-01-01 00:00:00');
    """)
    con.commit()
    con.close()
    store = Store()
    reg = Registry(store)
    rec = reg.get("O1")
    assert rec.aliases == ("Olya P.",) and rec.authorizations[0].revoke_reason == "moved away"
    assert reg.check(["O1"], {"testimonial"}, "sms", date(2023, 6, 1)).ok
    assert reg.check(["O1"], {"testimonial"}, "sms", date(2024, 6, 1)).status == "revoked"
    tables = {r[0] for r in sqlite3.connect(db).execute("select name from sqlite_master where type='table'")}
    assert "registry_authorizations" not in tables and "registry_faces" not in tables
    assert audit.entries(store, limit=1)[0]["action"] == "registry.migrate"
