"""Metadata embedded in image files (EXIF, XMP, IPTC, file comments and PNG text chunks) -> image_metadata
findings, and `strip_metadata`, which writes a copy with the pixels only.

What is reported: GPS position (IMG010), capture time (IMG011, advisory), names, captions, owner or device
serial in EXIF (IMG012), XMP captions and people tags (IMG013), IPTC captions, keywords and places (IMG014),
file comments and PNG text chunks (IMG015), photographer or copyright credits (IMG016, advisory).
"""
from __future__ import annotations

import html
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from ..core.models import Finding
from .findings import finding
from .load import ImageError, LoadedImage, load_full

EXIF_IFD, GPS_IFD = 0x8769, 0x8825
#: IFD0 tags that hold free text (captions, titles, comments, keywords); Windows XP* tags are UTF-16
CAPTION_TAGS = {0x010E: "ImageDescription", 0x9C9B: "XPTitle", 0x9C9C: "XPComment", 0x9C9E: "XPKeywords",
                0x9C9F: "XPSubject", 0x010D: "DocumentName"}
CREDIT_TAGS = {0x013B: "Artist", 0x8298: "Copyright", 0x9C9D: "XPAuthor"}
EXIF_IFD_TAGS = {0x9286: "UserComment", 0xA430: "CameraOwnerName", 0xA431: "BodySerialNumber",
                 0xA435: "LensSerialNumber"}
TIME_TAGS = ((EXIF_IFD, 0x9003, "DateTimeOriginal"), (EXIF_IFD, 0x9004, "DateTimeDigitized"), (None, 0x0132, "DateTime"))
#: camera defaults and empty placeholders that say nothing about anyone
JUNK = re.compile(r"^(?:[\W_]*|olympus digital camera|sony dsc|digital camera|default|image|photo|picture|"
                  r"screenshot|untitled|none|null|unknown|copyright|charset=\w+|\w*\s*dsc|exif_jpeg_\d+|"
                  r"created with .*|processed with .*|0+|gray|red|green|blue|yellow|purple)$", re.I)
XMP_CAPTION = ("dc:description", "dc:title", "dc:subject", "photoshop:Headline", "photoshop:Instructions",
               "exif:UserComment", "tiff:ImageDescription", "lr:hierarchicalSubject", "digiKam:TagsList",
               "acdsee:caption")
XMP_PEOPLE = ("mwg-rs:Name", "MP:PersonDisplayName", "MPReg:PersonDisplayName", "Iptc4xmpExt:PersonInImage",
              "Iptc4xmpExt:PersonName", "photoshop:CaptionWriter")
XMP_PLACE = ("photoshop:City", "photoshop:State", "Iptc4xmpCore:Location", "Iptc4xmpExt:Sublocation",
             "Iptc4xmpExt:City", "Iptc4xmpExt:LocationShown")
XMP_GPS = ("exif:GPSLatitude", "exif:GPSLongitude", "exifEX:GPSLatitude")
XMP_TIME = ("exif:DateTimeOriginal", "photoshop:DateCreated", "xmp:CreateDate")
XMP_CREDIT = ("dc:creator", "dc:rights", "photoshop:Credit", "xmpRights:Owner", "aux:OwnerName", "aux:SerialNumber",
              "exifEX:BodySerialNumber", "exifEX:CameraOwnerName")
IPTC_TEXT = {(2, 5): "object name", (2, 25): "keywords", (2, 105): "headline", (2, 120): "caption",
             (2, 40): "special instructions", (2, 90): "city", (2, 92): "sublocation", (2, 95): "province/state"}
IPTC_CREDIT = {(2, 80): "by-line", (2, 110): "credit", (2, 116): "copyright notice"}
IPTC_TIME = {(2, 55): "date created"}
#: PNG text keys that never carry personal data
PNG_BENIGN = {"software", "xml:com.adobe.xmp", "dpi", "gamma", "signature", "thumb::uri", "thumb::mimetype",
              "thumb::size", "thumb::mtime", "thumb::image::width", "thumb::image::height"}


def _text(value: Any) -> str:
    """Printable text of an EXIF/IPTC/XMP value: UTF-16 XP tags, UserComment charset headers, byte strings."""
    if isinstance(value, tuple | list):
        if value and all(isinstance(v, int) for v in value):
            value = bytes(v & 0xFF for v in value)
        else:
            return "; ".join(t for t in (_text(v) for v in value) if t)
    if isinstance(value, bytes):
        head = value[:8]
        if head.startswith((b"ASCII", b"UNICODE", b"JIS", b"\x00\x00\x00\x00\x00\x00\x00\x00")):
            body = value[8:]
            candidates = ("utf-16-le", "utf-16-be", "utf-8") if head.startswith(b"UNICODE") else ("utf-8", "latin-1")
        elif len(value) >= 2 and value[1:2] == b"\x00":  # XP* tags: UTF-16-LE
            body, candidates = value, ("utf-16-le", "utf-8", "latin-1")
        else:
            body, candidates = value, ("utf-8", "latin-1")
        for enc in candidates:
            try:
                s = body.decode(enc)
            except UnicodeDecodeError:
                continue
            s = s.replace("\x00", "").strip()
            if s and sum(ch.isprintable() for ch in s) >= 0.9 * len(s):
                return "".join(ch for ch in s if ch.isprintable())
        return ""
    return str(value).replace("\x00", "").strip()


def _meaningful(s: str) -> bool:
    return bool(s) and not JUNK.match(s.strip()) and any(ch.isalnum() for ch in s)


def _ratio(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError, ZeroDivisionError):
        return 0.0


def _deg(v: Any) -> float:
    return sum(_ratio(x) / 60 ** i for i, x in enumerate(v)) if isinstance(v, tuple | list) else _ratio(v)


def _gps(gps: Any) -> str | None:
    """'30.270, -97.733' (about 100 m) from a GPS IFD with a latitude or longitude, else None."""
    lat, lon = gps.get(2), gps.get(4)
    if not lat and not lon:
        return None
    parts = []
    if lat:
        la = _deg(lat)
        parts.append(f"{-la if str(gps.get(1, 'N')).upper().startswith('S') else la:.3f}")
    if lon:
        lo = _deg(lon)
        parts.append(f"{-lo if str(gps.get(3, 'E')).upper().startswith('W') else lo:.3f}")
    return ", ".join(parts)


def _xmp_text(img: LoadedImage) -> str:
    raw = img.info.get("xmp") or img.info.get("XML:com.adobe.xmp") or img.text_chunks.get("XML:com.adobe.xmp") or ""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    return str(raw)[:1_000_000]


def _xmp_values(xmp: str, tags: tuple[str, ...]) -> list[tuple[str, str]]:
    """(tag, value) for each tag as an element (with rdf:li lists) or as an attribute. Regex, not an XML
    parser: XMP comes from untrusted files and entity expansion must never run."""
    out = []
    for tag in tags:
        t = re.escape(tag)
        for m in re.finditer(rf"<{t}\b[^>]*?(?:/>|>(.*?)</{t}\s*>)", xmp, re.S):
            val = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", m.group(1) or "")).split())
            if val:
                out.append((tag, val))
        for m in re.finditer(rf"\b{t}\s*=\s*(['\"])(.*?)\1", xmp, re.S):
            val = " ".join(html.unescape(m.group(2)).split())
            if val:
                out.append((tag, val))
    return [(t, v) for t, v in out if _meaningful(v)]


def _tagged(found: Any, table: dict[Any, str]) -> list[tuple[Any, str, str]]:
    """(tag, label, text) for each tag of TABLE that FOUND (EXIF, an EXIF IFD or IPTC) holds meaningful
    text in."""
    texts = ((tag, label, _text(found.get(tag, ""))) for tag, label in table.items())
    return [(tag, label, text) for tag, label, text in texts if _meaningful(text)]


def metadata_findings(img: LoadedImage) -> list[Finding]:
    """image_metadata findings for one loaded image (GPS, time, names and captions, owner, serial)."""
    src = f"image:{img.name}"
    found: dict[str, dict[str, str]] = {}  # rule -> field -> value
    what_by_rule: dict[str, list[str]] = {}

    def add(rule: str, what: str, label: str, value: str) -> None:
        fields = found.setdefault(rule, {})
        if label in fields or value in fields.values():
            return
        fields[label] = value[:200]
        if what not in what_by_rule.setdefault(rule, []):
            what_by_rule[rule].append(what)

    if img.exif_error:
        add("IMG015", "an EXIF block that cannot be parsed (it may hold anything)", "EXIF", "malformed")
    exif = img.exif
    gps_done = time_done = False
    if exif:
        gps = exif.get_ifd(GPS_IFD)
        pos = _gps(gps) if gps else None
        if pos:
            add("IMG010", "the GPS position where it was taken", "EXIF GPS", pos)
            gps_done = True
        ifd = exif.get_ifd(EXIF_IFD)
        for where, tag, label in TIME_TAGS:
            val = _text((ifd if where else exif).get(tag, ""))
            if val and val.strip(": 0"):
                add("IMG011", "the date and time it was taken", f"EXIF {label}", val)
                time_done = True
                break
        for _, label, text in _tagged(exif, CAPTION_TAGS):
            add("IMG012", f"a caption or name in EXIF {label}", f"EXIF {label}", text)
        for tag, label, text in _tagged(ifd, EXIF_IFD_TAGS):
            what = "a comment" if tag == 0x9286 else "owner or device details"
            add("IMG012", f"{what} in EXIF {label}", f"EXIF {label}", text)
        for _, label, text in _tagged(exif, CREDIT_TAGS):
            add("IMG016", f"a photographer or copyright credit in EXIF {label}", f"EXIF {label}", text)

    xmp = _xmp_text(img)
    if xmp:
        for xtag, value in _xmp_values(xmp, XMP_PEOPLE):
            add("IMG013", f"a people tag in XMP {xtag}", f"XMP {xtag}", value)
        for xtag, value in _xmp_values(xmp, XMP_CAPTION + XMP_PLACE):
            add("IMG013", f"a caption, keyword or place in XMP {xtag}", f"XMP {xtag}", value)
        if not gps_done:
            gps_vals = _xmp_values(xmp, XMP_GPS)
            if gps_vals:
                add("IMG010", "the GPS position where it was taken", "XMP GPS", "; ".join(v for _, v in gps_vals[:2]))
        if not time_done:
            times = _xmp_values(xmp, XMP_TIME)
            if times:
                add("IMG011", "the date and time it was taken", f"XMP {times[0][0]}", times[0][1])
                time_done = True
        for xtag, value in _xmp_values(xmp, XMP_CREDIT):
            rule = "IMG012" if "Serial" in xtag or "Owner" in xtag else "IMG016"
            add(rule, f"owner, device or credit details in XMP {xtag}", f"XMP {xtag}", value)

    iptc = img.iptc or {}
    for _, label, text in _tagged(iptc, IPTC_TEXT):
        add("IMG014", f"an IPTC {label}", f"IPTC {label}", text)
    for _, label, text in _tagged(iptc, IPTC_CREDIT):
        add("IMG016", f"an IPTC {label}", f"IPTC {label}", text)
    if not time_done:
        for code, label in IPTC_TIME.items():
            text = _text(iptc.get(code, ""))
            if text:
                add("IMG011", "the date it was taken", f"IPTC {label}", text)

    comment = _text(img.info.get("comment", ""))
    if _meaningful(comment):
        add("IMG015", "a comment", f"{img.format} comment", comment)
    for key, chunk in img.text_chunks.items():
        val = str(chunk)
        k = key.strip().lower()
        if k in PNG_BENIGN or k.startswith("date:"):
            continue
        if k.startswith("raw profile type"):
            add("IMG015", f"an embedded metadata profile ({key})", f"PNG {key}", f"{len(val)} characters")
        elif k in ("author", "copyright"):
            if _meaningful(_text(val)):
                add("IMG016", f"a credit in the PNG {key} field", f"PNG {key}", _text(val))
        elif k == "creation time":
            if not time_done and val.strip():
                add("IMG011", "the date and time it was made", f"PNG {key}", val.strip())
        elif _meaningful(_text(val)):
            add("IMG015", f"text in the PNG {key} field", f"PNG {key}", _text(val))
    out = []
    for rule in sorted(found):
        fields, whats = found[rule], what_by_rule[rule]
        first = next(iter(fields.items()))
        evidence = f"{first[0]}: {first[1]}" + (f" (+{len(fields) - 1} more)" if len(fields) > 1 else "")
        what = whats[0] if len(whats) == 1 else f"{whats[0]} and {len(fields) - 1} more field(s)"
        out.append(finding(rule, f"The image file carries {what}.", src, evidence=evidence,
                           detail={"fields": fields}))
    return out


def strip_metadata(path: str | Path, out_path: str | Path) -> Path:
    """Write a copy of the image at `path` to `out_path` with the pixels only.

    EXIF (including GPS and the orientation tag: the pixels are rotated upright first), XMP, IPTC, file
    comments and PNG text chunks are all dropped; the ICC colour profile is kept. The output format follows
    the extension of `out_path` (JPEG at quality 95, PNG, WebP, HEIC, ...). The copy is checked after
    writing and written atomically. Raises ImageError when the source cannot be loaded safely or the format
    of `out_path` is unknown. Returns `out_path`.
    """
    image, _, info = load_full(path)
    return save_clean(image, out_path, info.get("icc_profile"))


def save_clean(image: Any, out_path: str | Path, icc_profile: bytes | None = None) -> Path:
    """Save `image` to `out_path` with no metadata (format from the extension), then verify it."""
    from PIL import Image

    from .load import load, register_heif

    register_heif()
    out = Path(out_path)
    fmt = Image.registered_extensions().get(out.suffix.lower())
    if fmt is None or fmt not in Image.SAVE:
        raise ImageError(f"cannot write a {out.suffix or 'file without an extension'}; use .jpg, .png or .webp")
    clean = image.copy()
    clean.info = {}
    if fmt in ("JPEG", "BMP") and clean.mode != "RGB":
        clean = clean.convert("RGB")
    params: dict[str, Any] = {}
    if icc_profile:
        params["icc_profile"] = icc_profile
    if fmt in ("JPEG", "WEBP", "HEIF", "AVIF"):
        params["quality"] = 95
    if fmt in ("HEIF", "AVIF"):
        params["exif"] = None
        params["xmp"] = None
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".medspa-", suffix=out.suffix, dir=out.parent)
    os.close(fd)
    try:
        clean.save(tmp, format=fmt, **params)
        left = metadata_findings(load(tmp))
        if left:
            raise ImageError(f"metadata survived writing {fmt} ({', '.join(sorted({f.rule_id for f in left}))})")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out
