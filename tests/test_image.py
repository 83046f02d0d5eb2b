"""The image pipeline with real photos (../shared/faces), real face models and real OCR."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from scanner._models import Item
from scanner.engine import Scanner
from scanner.registry import Registry
from scanner.store import Store
from tests.conftest import SHARED

ROOT = Path(__file__).resolve().parent.parent
FACES = SHARED / "faces"
pytestmark = pytest.mark.skipif(not FACES.exists(), reason="../shared/faces not present")
HEADER = "patient_id,full_name,aliases,social_handles,purposes,channels,signed_on,expires_on,revoked_on,photo\n"


@pytest.fixture(scope="module")
def scanner(tmp_path_factory):
    home = tmp_path_factory.mktemp("img-home")
    import os

    os.environ["MEDSPA_SCAN_HOME"] = str(home)
    shutil.copy(FACES / "obama.jpg", home / "ref.jpg")
    (home / "consents.csv").write_text(
        HEADER + "F1,Barry Example,,,before_after_photos,instagram,2024-01-01,2099-01-01,,ref.jpg\n")
    store = Store(f"sqlite:///{home / 'img.db'}")
    Registry.import_csv(store, home / "consents.csv", actor="tests")
    return Scanner(store=store)


def scan(scanner, path, channel="instagram", kind="post", text="Amazing results!"):
    return scanner.scan(Item(kind=kind, channel=channel, text=text, images=[str(path)]))


def rules(res):
    return {f.rule_id for f in res.findings}


def test_same_person_matches_and_is_authorized_on_its_channel(scanner):
    for name in ("obama2.jpg", "obama3.jpg"):
        res = scan(scanner, FACES / name)
        assert "IMG100" in rules(res), name
        face = next(f for f in res.findings if f.rule_id == "IMG100")
        assert face.box and len(face.box) == 4 and face.registry_record.startswith("F1/")


def test_wrong_channel_is_unauthorized(scanner):
    res = scan(scanner, FACES / "obama2.jpg", channel="tiktok")
    assert "IMG002" in rules(res) and res.verdict == "block"


def test_other_person_never_matches(scanner):
    res = scan(scanner, FACES / "biden.jpg")
    assert "IMG100" not in rules(res) and "IMG002" not in rules(res)
    assert "IMG001" in rules(res) and res.verdict != "pass"


def test_rotated_phone_photo_is_still_found(scanner, tmp_path):
    im = Image.open(FACES / "obama2.jpg").rotate(90, expand=True)  # stored sideways
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 clockwise to display upright
    path = tmp_path / "rotated.jpg"
    im.save(path, exif=exif)
    assert "IMG100" in rules(scan(scanner, path))


def test_gps_and_caption_metadata(scanner, tmp_path):
    exif = Image.Exif()
    exif[0x010E] = "Jane Roe lip filler day 2"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (30.0, 16.0, 0.0)
    path = tmp_path / "meta.jpg"
    Image.new("RGB", (300, 200), "white").save(path, exif=exif)
    res = scan(scanner, path)
    assert {"IMG010", "IMG012"} <= rules(res)
    out = tmp_path / "clean.jpg"
    from scanner.image import strip_metadata

    strip_metadata(path, out)
    assert not Image.open(out).getexif()
    assert not ({"IMG010", "IMG012"} & rules(scan(scanner, out)))


def test_text_in_the_image_goes_through_the_text_rules(scanner, tmp_path):
    im = Image.new("RGB", (1000, 400), "white")
    d = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=40)
    d.text((40, 40), "Tuesday appointments", fill="black", font=font)
    d.text((40, 120), "10:30  Jenna  Marlow  -  Botox  follow-up", fill="black", font=font)
    d.text((40, 200), "Jenna cell: 737-555-0182", fill="black", font=font)
    path = tmp_path / "screenshot.png"
    im.save(path)
    res = scan(scanner, path, text="Busy day!")
    text_findings = [f for f in res.findings if f.category == "image_text"]
    assert text_findings and all(f.box for f in text_findings), res.findings
    assert res.verdict == "block"


@pytest.mark.parametrize("content", [b"not an image at all", b"\xff\xd8\xff\xe0" + b"\x00" * 50])
def test_corrupt_or_non_image_file_is_incomplete_never_pass(scanner, tmp_path, content):
    path = tmp_path / "broken.jpg"
    path.write_bytes(content)
    res = scan(scanner, path)
    assert "IMG900" in rules(res) and res.verdict == "review"


def test_decompression_bomb_is_refused(scanner, tmp_path, monkeypatch):
    monkeypatch.setattr("scanner.image.MAX_PIXELS", 1_000_000)
    path = tmp_path / "huge.png"
    Image.new("RGB", (2000, 1000), "white").save(path)
    res = scan(scanner, path)
    f = next(f for f in res.findings if f.rule_id == "IMG900")
    assert "megapixels" in f.message and res.verdict != "pass"


def test_side_by_side_composite(scanner, tmp_path):
    a = Image.open(FACES / "obama2.jpg").convert("RGB").resize((400, 500))
    b = Image.open(FACES / "obama3.jpg").convert("RGB").resize((400, 500))
    comp = Image.new("RGB", (800, 500))
    comp.paste(a, (0, 0))
    comp.paste(b, (400, 0))
    path = tmp_path / "ba.jpg"
    comp.save(path)
    res = scan(scanner, path)
    assert "IMG004" in rules(res)


def test_missing_file_is_judged_by_name_and_never_silently_passes(scanner):
    unknown = scanner.scan(Item(kind="post", text="Results!", images=["IMG_0042.jpg"]))
    assert unknown.verdict == "review"
    model = scanner.scan(Item(kind="post", text="Our spring shoot", images=["spring_campaign_model_01.jpg"]))
    f = next(f for f in model.findings if f.rule_id == "IMG901")
    assert f.severity.value == "low"


def test_cli_redact_writes_a_blurred_preview(tmp_path, scanner):
    out = tmp_path / "preview.jpg"
    env = {"MEDSPA_SCAN_HOME": str(tmp_path / "h"), "PATH": "/usr/bin:/bin", "MEDSPA_SCAN_OCR": "0"}
    r = subprocess.run([sys.executable, "-m", "scanner", "check", "Results!", "--image", str(FACES / "biden.jpg"),
                        "--redact", str(out), "--format", "json"], cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert r.returncode == 1, r.stderr
    face = next(f for f in json.loads(r.stdout)["findings"] if f["rule_id"] == "IMG001")
    x0, y0, x1, y1 = face["box"]
    orig = Image.open(FACES / "biden.jpg").convert("L").crop((x0, y0, x1, y1))
    blurred = Image.open(out).convert("L").crop((x0, y0, x1, y1))
    import numpy as np

    def sharpness(im):
        return float(np.abs(np.diff(np.asarray(im, dtype=float), axis=1)).mean())
    assert sharpness(blurred) < 0.6 * sharpness(orig)


def test_iphone_heic_photo_is_read(scanner, tmp_path):
    import pillow_heif

    pillow_heif.register_heif_opener()
    path = tmp_path / "IMG_0001.heic"
    Image.open(FACES / "obama3.jpg").save(path, format="HEIF")
    assert "IMG100" in rules(scan(scanner, path))
