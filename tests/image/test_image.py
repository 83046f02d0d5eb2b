"""The image pipeline end to end with the real parts: the photos in ../shared/faces, face_recognition's
models, RapidOCR, the real Registry on a SQLite file and the real text rules (Scanner.scan_text)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont, ImageOps

from scanner import Item, Registry, Scanner, Store
from scanner.image import analysis as image
from scanner.image import ocr as _image_ocr
from scanner.image.load import register_heif
from scanner.pipeline.engine import ScanContext
from tests.conftest import SHARED

ROOT = Path(__file__).resolve().parents[2]
FACES = SHARED / "faces"
pytestmark = pytest.mark.skipif(not FACES.exists(), reason="../shared/faces not present")
HEADER = "patient_id,full_name,aliases,social_handles,purposes,channels,signed_on,expires_on,revoked_on,photo\n"
VALID = "F1,Barry Example,,,before_after_photos;testimonial,instagram;website,2024-01-01,2099-01-01,,ref.jpg\n"
TODAY = date(2026, 6, 1)


def make_registry(home: Path, rows: str) -> Registry:
    shutil.copy(FACES / "obama.jpg", home / "ref.jpg")
    (home / "consents.csv").write_text(HEADER + rows)
    store = Store(f"sqlite:///{home / 'reg.db'}")
    Registry.import_csv(store, home / "consents.csv", actor="tests")
    reg = Registry(store)
    reg.face_encodings()  # decrypt now, while $MEDSPA_SCAN_HOME points at this key
    return reg


@pytest.fixture(scope="module")
def scanner(tmp_path_factory):
    """One Scanner (spaCy, rules) whose registry has obama.jpg enrolled as client F1."""
    home = tmp_path_factory.mktemp("img-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("MEDSPA_SCAN_HOME", str(home))
    reg = make_registry(home, VALID)
    sc = Scanner(store=reg.store, as_of=TODAY)
    sc.registry.face_encodings()
    yield sc
    mp.undo()


def ctx_for(scanner, registry="default", **extra):
    ctx = ScanContext(registry=scanner.registry if registry == "default" else registry, as_of=TODAY,
                      scan_text=scanner.scan_text, vocabulary=scanner.rules.lexicon.terms,
                      switches=scanner.rules.switches)
    for k, v in extra.items():
        setattr(ctx, k, v)
    return ctx


def analyze(scanner, path, channel="instagram", registry="default", ocr=False):
    item = Item(kind="post", channel=channel, text="Amazing results!", images=[str(path)])
    return image.analyze(path, item, ctx_for(scanner, registry), ocr=ocr)


def by_rule(findings, rule):
    return [f for f in findings if f.rule_id == rule]


def ids(findings):
    return {f.rule_id for f in findings}


# -- faces and the registry ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["obama2.jpg", "obama3.jpg", "obama_partial_face.jpg"])
def test_same_person_matches_and_is_authorized_on_its_channel(scanner, name):
    res = analyze(scanner, FACES / name)
    [face] = by_rule(res.findings, "IMG100")
    assert face.severity.value == "info" and face.registry_record.startswith("F1/")
    assert face.detail["matched"] == "F1" and face.detail["distance"] < 0.5
    assert "F1/" in face.message and "before_after_photos on instagram" in face.message
    x0, y0, x1, y1 = face.box
    assert 0 <= x0 < x1 <= res.size[0] and 0 <= y0 < y1 <= res.size[1]
    assert not ids(res.findings) & {"IMG001", "IMG002", "IMG003"}


def test_another_person_never_matches(scanner):
    res = analyze(scanner, FACES / "biden.jpg")
    [face] = by_rule(res.findings, "IMG001")
    assert face.category == "identifiable_image" and face.severity.value == "medium"
    assert face.detail["matched"] is None and face.detail["distance"] > 0.6
    assert "waive" in face.message
    assert not ids(res.findings) & {"IMG100", "IMG002", "IMG003"}


def test_rotated_phone_photo_is_still_found(scanner, tmp_path):
    im = Image.open(FACES / "obama2.jpg").rotate(90, expand=True)  # stored sideways
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    path = tmp_path / "rotated.jpg"
    im.save(path, exif=exif)
    res = analyze(scanner, path)
    assert res.size == Image.open(FACES / "obama2.jpg").size
    [face] = by_rule(res.findings, "IMG100")
    assert face.box[3] - face.box[1] > 150  # an upright face box, in upright coordinates


def test_iphone_heic_is_read(scanner, tmp_path):
    """HEIC via pillow-heif. (libheif applies a real iPhone file's rotation itself, from its irot box.)"""
    register_heif()
    path = tmp_path / "IMG_0001.HEIC"
    Image.open(FACES / "obama3.jpg").save(path, quality=90)
    res = analyze(scanner, path)
    assert by_rule(res.findings, "IMG100"), [f.rule_id for f in res.findings]


@pytest.mark.parametrize(("row", "channel", "status"), [
    (VALID, "tiktok", "wrong_channel"),
    ("F1,Barry Example,,,before_after_photos,instagram,2020-01-01,2021-01-01,,ref.jpg\n", "instagram", "expired"),
    ("F1,Barry Example,,,before_after_photos,instagram,2020-01-01,,2025-02-01,ref.jpg\n", "instagram", "revoked"),
    ("F1,Barry Example,,,testimonial,all,2024-01-01,,,ref.jpg\n", "instagram", "missing_purpose"),
])
def test_matched_but_not_authorized_blocks(scanner, tmp_path, monkeypatch, row, channel, status):
    monkeypatch.setenv("MEDSPA_SCAN_HOME", str(tmp_path))
    reg = make_registry(tmp_path, row)
    res = analyze(scanner, FACES / "obama2.jpg", channel=channel, registry=reg)
    [face] = by_rule(res.findings, "IMG002")
    assert face.severity.value == "high" and face.category == "unauthorized_use"
    assert face.detail["status"] == status and status in face.message
    assert "IMG100" not in ids(res.findings)


def test_ambiguous_match_is_never_authorized(scanner, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDSPA_SCAN_HOME", str(tmp_path))
    reg = make_registry(tmp_path, VALID + VALID.replace("F1,Barry", "F2,Barrie"))  # one face, two records
    res = analyze(scanner, FACES / "obama2.jpg", registry=reg)
    [face] = by_rule(res.findings, "IMG003")
    assert face.severity.value == "medium" and face.detail["second_distance"] - face.detail["distance"] < 0.05
    assert not ids(res.findings) & {"IMG100", "IMG101"}


def test_without_a_registry_every_face_matches_nobody(scanner):
    res = analyze(scanner, FACES / "obama2.jpg", registry=None)
    assert by_rule(res.findings, "IMG001") and "IMG100" not in ids(res.findings)


def test_zero_false_matches_and_every_pair_matched_on_shared_faces(scanner):
    """Every Obama photo matches F1 (enrolled from obama.jpg); Biden never does."""
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "obama_partial_face.jpg", "biden.jpg"):
        res = analyze(scanner, FACES / name)
        matched = [f.detail["matched"] for f in res.findings if f.detail and "matched" in f.detail]
        assert matched == ([None] if name == "biden.jpg" else ["F1"]), name


def test_a_small_face_in_a_large_picture_is_found(scanner, tmp_path):
    face = Image.open(FACES / "biden.jpg").convert("RGB")
    face = face.resize((face.width * 70 // 356, face.height * 70 // 356))  # face about 70 px wide
    canvas = Image.new("RGB", (2400, 1600), (120, 130, 140))
    canvas.paste(face, (1500, 300))
    path = tmp_path / "lobby.jpg"
    canvas.save(path, quality=92)
    res = analyze(scanner, path)
    [f] = by_rule(res.findings, "IMG001")
    assert 1500 < f.box[0] < f.box[2] < 1500 + face.width


# -- composites ------------------------------------------------------------------------------------
def side_by_side(a: Image.Image, b: Image.Image, bar: int = 0) -> Image.Image:
    out = Image.new("RGB", (a.width + b.width + bar, max(a.height, b.height)), "white")
    out.paste(a, (0, 0))
    out.paste(b, (a.width + bar, 0))
    return out


def after(im: Image.Image) -> Image.Image:
    """A plausible 'after' shot: same framing, slightly shifted and brighter."""
    return im.transform(im.size, Image.Transform.AFFINE, (1, 0, 6, 0, 1, 4)).point(lambda v: min(255, int(v * 1.1)))


def test_authorized_before_after_composite(scanner, tmp_path):
    a = Image.open(FACES / "obama2.jpg").convert("RGB").resize((400, 700))
    path = tmp_path / "ba.jpg"
    side_by_side(a, after(a)).save(path)
    res = analyze(scanner, path)
    assert len(by_rule(res.findings, "IMG100")) == 2
    [comp] = by_rule(res.findings, "IMG101")
    assert comp.severity.value == "info" and comp.detail["layout"] == "side_by_side"
    assert comp.detail["same_face"] == [0, 1] and abs(comp.detail["seam_at"] - 0.5) < 0.02


def test_composite_of_an_unknown_person_needs_review(scanner, tmp_path):
    b = ImageOps.fit(Image.open(FACES / "biden.jpg").convert("RGB"), (500, 500), centering=(0.5, 0.15))
    path = tmp_path / "stacked.jpg"
    stacked = Image.new("RGB", (500, 1010), "white")
    stacked.paste(b, (0, 0))
    stacked.paste(after(b), (0, 510))
    stacked.save(path)
    res = analyze(scanner, path)
    faces = by_rule(res.findings, "IMG001")
    assert len(faces) == 2 and len({f.evidence for f in faces}) == 2  # distinct evidence: both survive dedup
    [comp] = by_rule(res.findings, "IMG004")
    assert comp.severity.value == "medium" and comp.detail["layout"] == "stacked"
    assert comp.detail["seam_kind"] == "divider"


def test_body_area_composite_without_a_face_needs_review(scanner, tmp_path):
    skin = Image.open(FACES / "obama.jpg").convert("RGB").crop((300, 500, 700, 900))  # no face in it
    path = tmp_path / "area.jpg"
    side_by_side(skin, after(skin)).save(path)
    res = analyze(scanner, path)
    [comp] = by_rule(res.findings, "IMG004")
    assert comp.detail["faces"] == 0 and comp.detail["seam_kind"] == "cut"


@pytest.mark.parametrize("name", ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "obama_partial_face.jpg"])
def test_single_photos_are_not_composites(scanner, name):
    assert not ids(analyze(scanner, FACES / name).findings) & {"IMG004", "IMG101"}


# -- OCR -------------------------------------------------------------------------------------------
def render(path: Path, lines: list[str], size=(1100, 520)) -> Path:
    im = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=34)  # Pillow's bundled TrueType font
    for i, line in enumerate(lines):
        d.text((40, 40 + i * 90), line, fill="black", font=font)
    im.save(path)
    return path


APPOINTMENTS = ["Tuesday appointments", "10:30   Jenna Marlow    Botox follow-up",
                "11:15   Sofia Alvarez   Microneedling", "Jenna cell: 737-555-0182"]


def test_text_in_the_image_goes_through_the_text_rules(scanner, tmp_path):
    path = render(tmp_path / "schedule.png", APPOINTMENTS)
    res = analyze(scanner, path, ocr=True)
    text = [f for f in res.findings if f.category == "image_text"]
    assert text and all(f.rule_id == "IMG020" and f.box and f.detail["text_rule"] for f in text)
    assert any(f.severity.value == "high" for f in text)
    joined = " ".join(ln.text for ln in res.lines)
    assert "Jenna Marlow" in joined and "Botox follow-up" in joined and "737-555-0182" in joined
    names = [f for f in text if "Jenna" in f.evidence or "Marlow" in f.evidence]
    assert names and all(f.box[1] >= 120 and f.box[3] <= 360 for f in names)  # boxes on the rows named


def test_a_flyer_without_phi_has_no_text_findings(scanner, tmp_path):
    path = render(tmp_path / "flyer.png", ["Spring special", "20% off every HydraFacial", "Book online today"])
    res = analyze(scanner, path, ocr=True)
    assert [ln.text for ln in res.lines][:1] == ["Spring special"]
    assert not [f for f in res.findings if f.category in ("image_text", "scan_incomplete")]


def test_missing_ocr_engine_is_scan_incomplete(scanner, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)  # the import now fails
    monkeypatch.setattr(_image_ocr, "_engines", {})
    path = render(tmp_path / "schedule.png", APPOINTMENTS)
    res = analyze(scanner, path, ocr=True)
    [f] = by_rule(res.findings, "IMG902")
    assert f.category == "scan_incomplete" and f.severity.value == "medium" and "not installed" in f.message


def test_ocr_switched_off_is_scan_incomplete(scanner, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDSPA_SCAN_OCR", "0")
    path = tmp_path / "blank.png"
    Image.new("RGB", (200, 200), "white").save(path)
    res = scanner.scan(Item(kind="post", text="New look!", images=[str(path)]))
    assert "IMG902" in ids(res.findings) and res.verdict == "review"


# -- files that cannot be checked -----------------------------------------------------------------
@pytest.mark.parametrize(("content", "reason"), [(b"not an image at all", "not an image"),
                                                 (b"\xff\xd8\xff\xe0" + b"\x00" * 50, "corrupt JPEG")])
def test_corrupt_or_non_image_file_is_incomplete_never_pass(scanner, tmp_path, content, reason):
    path = tmp_path / "broken.jpg"
    path.write_bytes(content)
    res = scanner.scan(Item(kind="post", text="Results!", images=[str(path)]))
    [f] = by_rule(res.findings, "IMG900")
    assert reason in f.message and f.source == "image:broken.jpg" and res.verdict == "review"


def test_a_200_megapixel_image_is_incomplete(scanner, tmp_path):
    from tests.image.test_image_load import png_header_only

    path = png_header_only(tmp_path / "huge.png", 20_000, 10_000)
    res = scanner.scan(Item(kind="post", text="Results!", images=[str(path)]))
    [f] = by_rule(res.findings, "IMG900")
    assert "200 megapixels" in f.message and res.verdict == "review"


def test_animated_gif_checks_the_first_frame_and_says_so(scanner, tmp_path):
    frames = [Image.new("RGB", (60, 60), (40 * i, 0, 0)) for i in range(4)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    res = analyze(scanner, path)
    [f] = by_rule(res.findings, "IMG903")
    assert "4 frames" in f.message


def test_missing_files_are_judged_by_name_and_never_silently_pass(scanner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, severity in [("IMG_0042.jpg", "medium"), ("spring_campaign_model_01.jpg", "low"),
                           ("staff_taylor_reed_headshot.jpg", "low"), ("barry_example_ba.jpg", "low"),
                           ("lumamedspa_logo.png", "low"), ("lip_flip_injection_points_diagram.png", "low"),
                           ("peel_layers_illustrated.webp", "low"), ("iStock_552101_laser_face.jpg", "low"),
                           ("before_after_0193.jpg", "medium"), ("mushroom_facial_client.jpg", "medium")]:
        item = Item(kind="post", text="Results!", images=[name])
        [f] = image.scan_images(item, None, ctx_for(scanner))
        assert (f.rule_id, f.severity.value, f.source) == ("IMG901", severity, f"image:{name}"), name
        assert "not checked" in f.message
    res = scanner.scan(Item(kind="post", text="Results!", images=["IMG_0042.jpg"]))
    assert res.verdict == "review"


def test_relative_paths_resolve_against_base_dir(scanner, tmp_path, monkeypatch):
    (tmp_path / "media").mkdir()
    shutil.copy(FACES / "biden.jpg", tmp_path / "media" / "post.jpg")
    monkeypatch.setenv("MEDSPA_SCAN_OCR", "0")
    item = Item(kind="post", text="Results!", images=["post.jpg"])
    found = image.scan_images(item, None, ctx_for(scanner, base_dir=tmp_path / "media"))
    assert "IMG001" in ids(found)
    monkeypatch.chdir(tmp_path / "media")
    assert "IMG001" in ids(image.scan_images(item, None, ctx_for(scanner)))


# -- the whole scanner and the outputs ------------------------------------------------------------
def test_full_scan_of_an_authorized_clean_photo_passes(scanner, tmp_path):
    clean = image.strip_metadata(FACES / "obama2.jpg", tmp_path / "after.jpg")
    res = scanner.scan(Item(kind="post", channel="instagram", text="Amazing results!", images=[str(clean)]))
    assert res.verdict == "pass", [(f.rule_id, f.severity.value) for f in res.findings]
    assert "IMG100" in ids(res.findings)
    public = res.public()["findings"]
    face = next(f for f in public if f["rule_id"] == "IMG100")
    assert face["source"] == "image:after.jpg" and len(face["box"]) == 4 and face["detail"]["box_format"]


def sharpness(im: Image.Image) -> float:
    return float(np.abs(np.diff(np.asarray(im.convert("L"), dtype=float), axis=1)).mean())


def test_redact_blurs_unauthorized_faces_blacks_out_text_and_keeps_authorized_faces(scanner, tmp_path):
    a = Image.open(FACES / "obama2.jpg").convert("RGB").resize((400, 700))
    b = ImageOps.fit(Image.open(FACES / "biden.jpg").convert("RGB"), (400, 700), centering=(0.5, 0.1))
    canvas = Image.new("RGB", (1400, 1200), "white")
    canvas.paste(a, (0, 0))
    canvas.paste(b, (1000, 0))
    ImageDraw.Draw(canvas).text((40, 900), "10:30  Jenna Marlow  Botox follow-up", fill="black",
                                font=ImageFont.load_default(size=40))
    src = tmp_path / "mix.png"
    canvas.save(src)
    res = analyze(scanner, src, ocr=True)
    known = by_rule(res.findings, "IMG100")[0].box
    unknown = by_rule(res.findings, "IMG001")[0].box
    text = [f.box for f in res.findings if f.category == "image_text"]
    assert known and unknown and text
    out = image.redact(src, tmp_path / "preview.png", res.findings)
    before, preview = Image.open(src).convert("RGB"), Image.open(out).convert("RGB")
    assert sharpness(preview.crop(unknown)) < 0.35 * sharpness(before.crop(unknown))
    assert preview.crop(known).tobytes() == before.crop(known).tobytes()
    for box in text:
        assert np.asarray(preview.crop(box).convert("L")).max() < 30  # covered in black
    assert not Image.open(out).info.get("exif")


def test_cli_check_with_redact_and_strip_metadata(tmp_path):
    out, clean = tmp_path / "preview.jpg", tmp_path / "clean.jpg"
    env = {**os.environ, "MEDSPA_SCAN_HOME": str(tmp_path / "h"), "MEDSPA_SCAN_OCR": "0"}
    r = subprocess.run([sys.executable, "-m", "scanner", "check", "Results!", "--image", str(FACES / "biden.jpg"),
                        "--redact", str(out), "--strip-metadata", str(clean), "--format", "json"],
                       cwd=ROOT, env=env, capture_output=True, timeout=300, text=True)
    assert r.returncode == 1, r.stderr
    result = json.loads(r.stdout)
    assert result["verdict"] == "review"
    face = next(f for f in result["findings"] if f["rule_id"] == "IMG001")
    x0, y0, x1, y1 = face["box"]
    orig = Image.open(FACES / "biden.jpg").crop((x0, y0, x1, y1))
    assert sharpness(Image.open(out).crop((x0, y0, x1, y1))) < 0.35 * sharpness(orig)
    assert "Traceback" not in r.stderr
    from scanner.image.metadata import metadata_findings

    assert metadata_findings(image.load(clean)) == []
