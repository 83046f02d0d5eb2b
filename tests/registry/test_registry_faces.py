"""Reference photos with the real face_recognition models: enrolled obama.jpg matches obama2/obama3 and
never biden; photos and encodings are encrypted at rest; EXIF-rotated photos work; exactly one face
is required; the CSV photo column; ambiguity between two patients is reported, never authorized."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scanner import Registry, RegistryError, Store
from scanner.cli.main import main
from scanner.registry.authorizations import FaceRecord, encode_single_face, open_vault
from tests.conftest import SHARED, raw_sql

FACES = SHARED / "faces"
pytestmark = [pytest.mark.skipif(not (FACES / "obama.jpg").exists(), reason="../shared/faces not present"),
              pytest.mark.backends]
HEADER = "patient_id,full_name,aliases,social_handles,purposes,channels,signed_on,expires_on,revoked_on,photo\n"
ROWS = ("F1,Faye Obi,,,before_after_photos,instagram,2024-01-01,,,{photo}\n"
        "F2,Gus Hale,,,before_after_photos,all,2024-01-01,,,\n")


@pytest.fixture(scope="module")
def probes() -> dict[str, np.ndarray]:
    return {n: encode_single_face(FACES / f"{n}.jpg")[1] for n in ("obama2", "obama3", "biden")}


@pytest.fixture()
def store(home, tmp_path, monkeypatch) -> Store:
    monkeypatch.delenv("MEDSPA_SCAN_KEY", raising=False)
    p = tmp_path / "consents.csv"
    p.write_text(HEADER + ROWS.format(photo=""))
    s = Store()
    Registry.import_csv(s, p, actor="tests")
    return s


def test_enroll_then_match_same_person_only(store, home, probes, capsys):
    assert main(["registry", "--actor", "nurse.kim", "enroll", "F1", str(FACES / "obama.jpg")]) == 0
    assert "enrolled face record 1 for F1" in capsys.readouterr().out
    reg = Registry(store)
    for name in ("obama2", "obama3"):
        m = reg.match_face(probes[name])
        assert m is not None and (m.patient_id, m.ambiguous) == ("F1", False) and m.distance < 0.5, name
    m = reg.match_face(probes["biden"])
    assert m is not None and m.patient_id is None and m.distance > 0.6
    raw = raw_sql(home, "select photo_enc, encoding_enc from registry_photos")[0]
    original = (FACES / "obama.jpg").read_bytes()
    assert original[200:264] not in raw[0] and len(raw[1]) > 1024  # ciphertext, not the JPEG or 128 floats
    assert reg.decrypt_photo(1) == original
    from scanner.core import audit

    e = audit.entries(store, limit=1)[0]
    assert (e["actor"], e["action"], e["target"], e["detail"]) == ("nurse.kim", "registry.enroll", "F1",
                                                                   {"face_record": 1})


def test_an_exif_rotated_phone_photo_is_enrolled_upright(store, tmp_path, probes):
    im = Image.open(FACES / "obama.jpg").convert("RGB").transpose(Image.Transpose.ROTATE_90)  # stored sideways
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "sideways.jpg"
    im.save(path, exif=exif)
    reg = Registry(store)
    reg.enroll_face("F1", path, actor="tests")
    m = reg.match_face(probes["obama2"])
    assert m is not None and m.patient_id == "F1"


@pytest.mark.parametrize(("make", "message"), [
    (lambda: Image.new("RGB", (400, 400), "white"), "no face found"),
    (lambda: _side_by_side("obama2.jpg", "obama3.jpg"), "2 faces found"),
])
def test_exactly_one_face_is_required(store, tmp_path, make, message):
    path = tmp_path / "photo.jpg"
    make().save(path)
    with pytest.raises(RegistryError, match=message):
        Registry(store).enroll_face("F1", path, actor="tests")
    with pytest.raises(RegistryError, match="no registry record"):
        Registry(store).enroll_face("NOPE", FACES / "obama.jpg", actor="tests")
    bad = tmp_path / "notes.jpg"
    bad.write_bytes(b"not a picture")
    with pytest.raises(RegistryError, match="not a readable image"):
        Registry(store).enroll_face("F1", bad, actor="tests")
    assert Registry.photo_counts(store) == {}


def _side_by_side(a: str, b: str) -> Image.Image:
    left = Image.open(FACES / a).convert("RGB").resize((400, 500))
    right = Image.open(FACES / b).convert("RGB").resize((400, 500))
    out = Image.new("RGB", (800, 500))
    out.paste(left, (0, 0))
    out.paste(right, (400, 0))
    return out


def test_csv_photo_column_relative_to_the_csv(home, tmp_path, probes, monkeypatch):
    monkeypatch.delenv("MEDSPA_SCAN_KEY", raising=False)
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "f1.jpg").write_bytes((FACES / "obama.jpg").read_bytes())
    p = tmp_path / "consents.csv"
    p.write_text(HEADER + ROWS.format(photo="photos/f1.jpg"))
    store = Store()
    assert Registry.import_csv(store, p, actor="tests")["photos"] == 1
    assert Registry.import_csv(store, p, actor="tests")["photos"] == 0  # unchanged photo: not re-encoded
    m = Registry(store).match_face(probes["obama3"])
    assert m is not None and m.patient_id == "F1"
    (tmp_path / "photos" / "f1.jpg").write_bytes((FACES / "biden.jpg").read_bytes())  # a replaced photo
    assert Registry.import_csv(store, p, actor="tests")["photos"] == 1
    assert Registry.photo_counts(store) == {"F1": 1}
    assert Registry(store).match_face(probes["obama3"]).patient_id is None


def test_a_bad_photo_fails_the_whole_import(home, tmp_path, monkeypatch):
    monkeypatch.delenv("MEDSPA_SCAN_KEY", raising=False)
    Image.new("RGB", (300, 300), "gray").save(tmp_path / "blank.jpg")
    p = tmp_path / "consents.csv"
    p.write_text(HEADER + ROWS.format(photo="blank.jpg"))
    store = Store()
    with pytest.raises(RegistryError, match=r"consents.csv line 2 \(row 1\): photo 'blank.jpg': no face found"):
        Registry.import_csv(store, p)
    assert len(Registry(store)) == 0


def _enroll_vectors(store: Store, vectors: list[tuple[str, np.ndarray]]) -> None:
    with store.session() as s:
        vault = open_vault(s, create=True)
        for pid, v in vectors:
            s.add(FaceRecord(patient_id=pid, photo_enc=vault.encrypt(b"-"),
                             encoding_enc=vault.encrypt(np.asarray(v, dtype=np.float64).tobytes())))


def test_two_patients_equally_close_is_ambiguous_never_a_match(store):
    rng = np.random.default_rng(7)
    a = rng.normal(0, 0.1, 128)
    b = a.copy()
    b[0] += 0.06  # another patient, 0.06 away
    _enroll_vectors(store, [("F1", a), ("F2", b)])
    reg = Registry(store)
    m = reg.match_face(a + np.r_[0.03, np.zeros(127)])  # halfway: 0.03 from both
    assert m is not None and m.ambiguous and m.second_distance is not None
    m = reg.match_face(a)  # exactly F1, F2 0.06 away: beyond the 0.05 margin
    assert m is not None and (m.patient_id, m.ambiguous) == ("F1", False)
    assert reg.match_face(a, margin=0.1).ambiguous


def test_several_photos_of_one_patient_are_not_ambiguous(store):
    rng = np.random.default_rng(3)
    a = rng.normal(0, 0.1, 128)
    _enroll_vectors(store, [("F1", a), ("F1", a + 0.001), ("F2", a + 0.2)])
    m = Registry(store).match_face(a + 0.0005)
    assert m is not None and (m.patient_id, m.ambiguous) == ("F1", False) and m.second_distance > 1.0
    assert Registry(store).face_encodings()[1].shape == (3, 128)
    with pytest.raises(ValueError, match="expected 128"):
        Registry(store).match_face(np.zeros(64))


def test_nobody_enrolled_means_no_match(store):
    assert Registry(store).match_face(np.zeros(128)) is None


def test_enroll_a_missing_file_is_a_usage_error(store, capsys):
    assert main(["registry", "enroll", "F1", str(Path("/nonexistent/photo.jpg"))]) == 2
    assert "no such file" in capsys.readouterr().err
