"""Metadata findings (EXIF, XMP, IPTC, comments, PNG text) and strip_metadata, on generated files and the
real photos in ../shared/faces (which carry captions, credits, camera serials and capture times)."""
from __future__ import annotations

import struct
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from scanner.image.load import ImageError, load, register_heif
from scanner.image.metadata import metadata_findings, strip_metadata
from tests.conftest import SHARED

FACES = SHARED / "faces"
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/" '
       b'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/">'
       b'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">Jane Roe after lip filler</rdf:li></rdf:Alt>'
       b'</dc:description><photoshop:City>Austin</photoshop:City><mwg-rs:Regions><mwg-rs:RegionList><rdf:Bag>'
       b'<rdf:li mwg-rs:Name="Jane Roe" mwg-rs:Type="Face"/></rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions>'
       b'</rdf:Description></rdf:RDF></x:xmpmeta>')


def found(path: Path) -> dict[str, dict]:
    return {f.rule_id: f.detail["fields"] for f in metadata_findings(load(path))}


def phone_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Apple", "iPhone 15"
    exif[0x010E] = "Jane Roe lip filler day 2"
    exif[0x9C9C] = "Jane's 2nd session".encode("utf-16-le")  # XPComment
    exif[0x013B] = "Luma Aesthetics"  # Artist
    ifd = exif.get_ifd(0x8769)
    ifd[0x9003] = "2024:03:05 14:22:01"
    ifd[0x9286] = b"ASCII\x00\x00\x00left side treated"
    ifd[0xA430], ifd[0xA431] = "Dana Wells", "SN-0042-7781"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (30.0, 16.0, 12.0), "W", (97.0, 44.0, 24.0)
    return exif


def iptc_jpeg(path: Path, caption: str, byline: str) -> Path:
    """A JPEG with an APP13 Photoshop/IPTC block (caption 2:120, by-line 2:80), as newsroom tools write."""
    def ds(rec: int, tag: int, value: str) -> bytes:
        data = value.encode()
        return b"\x1c" + bytes([rec, tag]) + struct.pack(">H", len(data)) + data

    iptc = ds(2, 120, caption) + ds(2, 80, byline)
    if len(iptc) % 2:
        iptc += b"\x00"
    block = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iptc)) + iptc
    payload = b"Photoshop 3.0\x00" + block
    seg = b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload
    Image.new("RGB", (120, 80), "white").save(path)
    raw = path.read_bytes()
    path.write_bytes(raw[:2] + seg + raw[2:])
    return path


def test_phone_photo_exif_gps_time_caption_owner_serial(tmp_path):
    path = tmp_path / "phone.jpg"
    Image.new("RGB", (300, 200), "white").save(path, exif=phone_exif())
    rules = found(path)
    assert rules["IMG010"] == {"EXIF GPS": "30.270, -97.740"}
    assert rules["IMG011"] == {"EXIF DateTimeOriginal": "2024:03:05 14:22:01"}
    assert rules["IMG012"]["EXIF ImageDescription"] == "Jane Roe lip filler day 2"
    assert rules["IMG012"]["EXIF XPComment"] == "Jane's 2nd session"
    assert rules["IMG012"]["EXIF UserComment"] == "left side treated"
    assert rules["IMG012"]["EXIF CameraOwnerName"] == "Dana Wells"
    assert rules["IMG012"]["EXIF BodySerialNumber"] == "SN-0042-7781"
    assert rules["IMG016"] == {"EXIF Artist": "Luma Aesthetics"}


def test_one_finding_per_rule_with_every_field_in_detail(tmp_path):
    path = tmp_path / "phone.jpg"
    Image.new("RGB", (300, 200), "white").save(path, exif=phone_exif())
    findings = metadata_findings(load(path))
    ids = [f.rule_id for f in findings]
    assert len(ids) == len(set(ids))
    f12 = next(f for f in findings if f.rule_id == "IMG012")
    assert f12.category == "image_metadata" and f12.severity.value == "medium"
    assert f12.evidence.startswith("EXIF ImageDescription: Jane Roe") and "(+4 more)" in f12.evidence
    assert "strip-metadata" in (f12.suggestion or "") and f12.citation.startswith("45 CFR 164.514")


def test_camera_defaults_and_plain_exif_stay_silent(tmp_path):
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "OLYMPUS", "E-M10"
    exif[0x010E] = "OLYMPUS DIGITAL CAMERA         "
    exif.get_ifd(0x8769)[0xA435] = "0000000000"  # lens serial placeholder
    path = tmp_path / "camera.jpg"
    Image.new("RGB", (300, 200), "white").save(path, exif=exif)
    assert found(path) == {}


def test_xmp_people_tags_captions_and_places(tmp_path):
    path = tmp_path / "xmp.jpg"
    Image.new("RGB", (100, 100), "white").save(path, xmp=XMP)
    fields = found(path)["IMG013"]
    assert fields == {"XMP mwg-rs:Name": "Jane Roe", "XMP dc:description": "Jane Roe after lip filler",
                      "XMP photoshop:City": "Austin"}


def test_xmp_entities_are_never_expanded(tmp_path):
    bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><dc:title>&b;</dc:title></x:xmpmeta>')
    path = tmp_path / "bomb.png"
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", bomb.decode())
    Image.new("RGB", (10, 10)).save(path, pnginfo=info)
    assert found(path)["IMG013"] == {"XMP dc:title": "&b;"}


def test_iptc_caption_and_byline(tmp_path):
    path = iptc_jpeg(tmp_path / "iptc.jpg", "Jane Roe, HydraFacial, March 5", "Dana Wells")
    rules = found(path)
    assert rules["IMG014"] == {"IPTC caption": "Jane Roe, HydraFacial, March 5"}
    assert rules["IMG016"] == {"IPTC by-line": "Dana Wells"}


def test_jpeg_comment_and_png_text_chunks(tmp_path):
    jpg = tmp_path / "c.jpg"
    Image.new("RGB", (50, 50)).save(jpg, comment=b"for Jane R. - before")
    assert found(jpg)["IMG015"] == {"JPEG comment": "for Jane R. - before"}
    png = tmp_path / "t.png"
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "GIMP 2.10")
    info.add_text("Description", "Jane Roe week 6")
    info.add_text("Raw profile type exif", "\nexif\n      40\n4578696600")
    Image.new("RGB", (50, 50)).save(png, pnginfo=info)
    # ImageMagick-style raw profile; this one is malformed, which is reported rather than fatal
    assert found(png)["IMG015"] == {"EXIF": "malformed", "PNG Description": "Jane Roe week 6",
                                    "PNG Raw profile type exif": "25 characters"}
    plain = tmp_path / "plain.png"
    only_software = PngImagePlugin.PngInfo()
    only_software.add_text("Software", "GIMP 2.10")
    Image.new("RGB", (50, 50)).save(plain, pnginfo=only_software)
    assert found(plain) == {}


def test_heic_and_webp_metadata(tmp_path):
    register_heif()
    for suffix in (".heic", ".webp"):
        path = tmp_path / f"phone{suffix}"
        Image.new("RGB", (64, 64), "white").save(path, exif=phone_exif())
        assert {"IMG010", "IMG011", "IMG012"} <= set(found(path)), suffix


def test_real_press_photos_carry_captions_credits_and_serials():
    rules = found(FACES / "obama.jpg")
    assert {"IMG011", "IMG012", "IMG013", "IMG014", "IMG016"} <= set(rules)
    assert rules["IMG012"]["EXIF BodySerialNumber"] == "042033006980"
    assert rules["IMG011"]["EXIF DateTimeOriginal"].startswith("2012:12:06")


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".heic"])
def test_strip_metadata_leaves_pixels_only_and_keeps_them_upright(tmp_path, suffix):
    register_heif()
    exif = phone_exif()
    exif[0x0112] = 6  # stored sideways
    src = tmp_path / "phone.jpg"
    im = Image.new("RGB", (400, 300), "white")
    im.paste((255, 0, 0), (0, 0, 40, 40))  # a red corner (top-left as stored)
    im.save(src, exif=exif, xmp=XMP, comment=b"Jane")
    assert len(found(src)) >= 5
    out = strip_metadata(src, tmp_path / f"clean{suffix}")
    assert found(out) == {}
    clean = Image.open(out)
    assert clean.size == (300, 400)  # rotated upright, no orientation tag needed
    assert not clean.getexif() and "xmp" not in clean.info and "comment" not in clean.info
    r, g, b = clean.convert("RGB").getpixel((290, 10))[:3]  # the red corner is now top-right
    assert r > 200 and g < 60 and b < 60


def test_strip_metadata_on_the_real_photos(tmp_path):
    for name in ("obama.jpg", "biden.jpg"):
        out = strip_metadata(FACES / name, tmp_path / name)
        assert found(out) == {}
        assert Image.open(out).size == Image.open(FACES / name).size


def test_strip_metadata_refuses_unknown_output_formats_and_bad_inputs(tmp_path):
    src = tmp_path / "a.png"
    Image.new("RGB", (10, 10)).save(src)
    with pytest.raises(ImageError, match="cannot write a .xyz"):
        strip_metadata(src, tmp_path / "out.xyz")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    with pytest.raises(ImageError):
        strip_metadata(bad, tmp_path / "out.jpg")
    assert not (tmp_path / "out.jpg").exists() and not list(tmp_path.glob(".medspa-*"))
