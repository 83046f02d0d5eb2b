"""Image pipeline: safe load -> EXIF/XMP/IPTC metadata -> faces (matched to the registry) ->
before/after composites -> OCR (fed back through the text rules) -> findings.

Fail closed: an image that cannot be opened, is too large, or whose OCR failed yields a
`scan_incomplete` finding, so the item can never pass unchecked. Boxes are [x0, y0, x1, y1] in the
pixel coordinates of the upright (EXIF-rotated) original.
"""
from __future__ import annotations

import io
import logging
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ._models import Finding, Item, Severity

log = logging.getLogger(__name__)
MAX_PIXELS = int(os.environ.get("MEDSPA_SCAN_MAX_PIXELS", 100_000_000))
MAX_BYTES = int(os.environ.get("MEDSPA_SCAN_MAX_IMAGE_BYTES", 60_000_000))
DETECT_SIDE = 1600
CITATION_PHOTO = "45 CFR 164.508(a)(3); 45 CFR 164.514(b)(2)(i)(Q)"
SUBJECT_MARKERS = re.compile(r"(?:^|[_\-. ])(staff|team|model|models|headshot|stock|logo|product|flyer|graphic|banner|"
                             r"menu|promo|office|clinic|building|interior)(?:[_\-. ]|\d|$)", re.I)


def incomplete(message: str, source: str = "image", severity: Severity = Severity.medium,
               rule_id: str = "IMG900") -> Finding:
    return Finding(rule_id=rule_id, category="scan_incomplete", severity=severity, message=message, evidence="",
                   source=source, citation="45 CFR 164.530(c)",
                   suggestion="Fix or replace the file and scan again; until then a reviewer must check it.")


class ImageError(Exception):
    """The file could not be loaded safely; the message says why (no content)."""


@dataclass
class LoadedImage:
    name: str
    image: Any  # PIL.Image, RGB, upright
    raw_exif: Any
    info: dict[str, Any] = field(default_factory=dict)


@cache
def _register_heif() -> None:
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
    except ImportError:  # pragma: no cover - dependency is declared
        pass


def load(path: str | Path) -> LoadedImage:
    """Open an image safely: size and pixel limits, format check, EXIF orientation applied."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    _register_heif()
    p = Path(path)
    if not p.is_file():
        raise ImageError("file not found")
    size = p.stat().st_size
    if size > MAX_BYTES:
        raise ImageError(f"file is {size / 1e6:.0f} MB; the limit is {MAX_BYTES / 1e6:.0f} MB")
    try:
        im = Image.open(p)
        w, h = im.size
        if w * h > MAX_PIXELS:
            raise ImageError(f"image is {w * h / 1e6:.0f} megapixels; the limit is {MAX_PIXELS / 1e6:.0f}")
        if im.format not in ("JPEG", "PNG", "WEBP", "HEIF", "MPO", "GIF", "TIFF", "BMP", "AVIF"):
            raise ImageError(f"unsupported image format {im.format}")
        exif = im.getexif()
        info = dict(im.info)
        im.load()
        upright = ImageOps.exif_transpose(im).convert("RGB")
    except ImageError:
        raise
    except Image.DecompressionBombError:
        raise ImageError(f"image exceeds the pixel limit ({MAX_PIXELS / 1e6:.0f} megapixels)") from None
    except UnidentifiedImageError as exc:
        raise ImageError(f"not a readable image ({type(exc).__name__})") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"corrupt or truncated image ({type(exc).__name__})") from None
    return LoadedImage(p.name, upright, exif, {str(k): v for k, v in info.items()})


# ---------------------------------------------------------------------------------------------
# Metadata
# ---------------------------------------------------------------------------------------------
EXIF_TEXT_TAGS = {0x010E: "ImageDescription", 0x013B: "Artist", 0x8298: "Copyright", 0x9C9B: "XPTitle",
                  0x9C9C: "XPComment", 0x9C9D: "XPAuthor", 0x9C9F: "XPSubject"}
EXIF_IFD_TAGS = {0x9286: "UserComment", 0xA430: "CameraOwnerName", 0xA431: "BodySerialNumber",
                 0xA435: "LensSerialNumber"}


def _decode(v: Any) -> str:
    if isinstance(v, bytes):
        for enc in ("utf-16-le", "utf-8", "latin-1"):
            try:
                s = v.decode(enc).replace("\x00", "").strip()
                if s.isprintable():
                    return s.removeprefix("ASCII").strip()
            except UnicodeDecodeError:
                continue
        return ""
    return str(v).strip()


def metadata_findings(img: LoadedImage) -> list[Finding]:
    out: list[Finding] = []
    src = f"image:{img.name}"
    exif = img.raw_exif

    def add(rule: str, sev: Severity, what: str, evidence: str) -> None:
        out.append(Finding(rule_id=rule, category="image_metadata", severity=sev,
                           message=f"The image file carries {what}.", evidence=evidence[:200], source=src,
                           citation="45 CFR 164.514(b)(2)(i)(B),(C),(R)",
                           suggestion="Publish a copy without metadata (medspa-scan check --strip-metadata OUT)."))

    if exif:
        gps = exif.get_ifd(0x8825)
        if gps:
            add("IMG010", Severity.medium, "GPS coordinates of where it was taken", "GPS position present")
        ifd = exif.get_ifd(0x8769)
        when = ifd.get(0x9003) or exif.get(0x0132)
        if when:
            add("IMG011", Severity.low, "the date and time it was taken", _decode(when))
        for tag, label in {**EXIF_TEXT_TAGS}.items():
            val = _decode(exif.get(tag, ""))
            if val:
                add("IMG012", Severity.medium, f"a name or caption in EXIF {label}", f"{label}: {val}")
        for tag, label in EXIF_IFD_TAGS.items():
            val = _decode(ifd.get(tag, ""))
            if val:
                add("IMG012", Severity.medium, f"owner or device details in EXIF {label}", f"{label}: {val}")
    xmp = img.info.get("xmp") or img.info.get("XML:com.adobe.xmp")
    if xmp:
        text = _decode(xmp) if isinstance(xmp, bytes) else str(xmp)
        fields = re.findall(r"<(dc:creator|dc:description|dc:title|photoshop:Credit|Iptc4xmpCore:Location|"
                            r"exif:GPSLatitude|mwg-rs:Name)[^>]*>(.*?)</\1>", text, re.S)
        for tag, val in fields:
            val = re.sub(r"<[^>]+>", " ", val).strip()
            if val:
                add("IMG013", Severity.medium, f"XMP {tag}", f"{tag}: {' '.join(val.split())}")
        if re.search(r'(mwg-rs:Name|exif:GPSLatitude)="', text):
            add("IMG013", Severity.medium, "XMP people or location tags", "XMP attributes")
    try:
        from PIL import IptcImagePlugin

        iptc = IptcImagePlugin.getiptcinfo(img.image) if hasattr(img.image, "getxmp") else None
    except Exception:  # noqa: BLE001 - malformed IPTC blocks are common; they are not PHI findings
        iptc = None
    for key, label in {(2, 80): "by-line", (2, 120): "caption", (2, 25): "keywords", (2, 90): "city"}.items():
        if iptc and iptc.get(key):
            add("IMG014", Severity.medium, f"IPTC {label}", f"{label}: {_decode(iptc[key])}")
    return out


def strip_metadata(path: str | Path, out_path: str | Path) -> Path:
    """Write a copy with the pixels only: no EXIF, XMP, IPTC or ICC text (orientation applied)."""
    img = load(path)
    out = Path(out_path)
    clean = img.image.copy()
    clean.info = {}
    fmt = "JPEG" if out.suffix.lower() in (".jpg", ".jpeg") else None
    clean.save(out, format=fmt, quality=95) if fmt else clean.save(out)
    return out


# ---------------------------------------------------------------------------------------------
# Faces and composites
# ---------------------------------------------------------------------------------------------
@dataclass
class Face:
    box: list[int]  # x0, y0, x1, y1 in original coordinates
    encoding: np.ndarray


def detect_faces(image: Any) -> list[Face]:
    """HOG on a copy downscaled to DETECT_SIDE; a second, upsampled pass only when the first finds nothing."""
    import face_recognition

    w, h = image.size
    scale = min(1.0, DETECT_SIDE / max(w, h))
    small = image.resize((max(1, int(w * scale)), max(1, int(h * scale)))) if scale < 1 else image
    arr = np.asarray(small)
    boxes = face_recognition.face_locations(arr, number_of_times_to_upsample=0, model="hog")
    if not boxes and min(small.size) >= 200:
        boxes = face_recognition.face_locations(arr, number_of_times_to_upsample=1, model="hog")
    if not boxes:
        return []
    encs = face_recognition.face_encodings(arr, known_face_locations=boxes)
    faces = []
    for (top, right, bottom, left), enc in zip(boxes, encs, strict=True):
        faces.append(Face([int(left / scale), int(top / scale), int(right / scale), int(bottom / scale)], enc))
    return faces


def is_composite(image: Any, faces: list[Face]) -> str | None:
    """'same_face_twice' or 'seam' when the picture looks like a before/after composite, else None."""
    for i in range(len(faces)):
        for j in range(i + 1, len(faces)):
            if float(np.linalg.norm(faces[i].encoding - faces[j].encoding)) < 0.5:
                return "same_face_twice"
    gray = np.asarray(image.convert("L").resize((400, 400)), dtype=np.float32)
    for axis in (1, 0):  # vertical seam (side by side), then horizontal (stacked)
        diff = np.abs(np.diff(gray, axis=axis)).mean(axis=1 - axis)
        mid = diff[160:240]
        if mid.size and mid.max() > 6 * (np.median(diff) + 1.0) and mid.max() > 25:
            return "seam"
    return None


def face_findings(img: LoadedImage, item: Item, ctx: Any) -> list[Finding]:
    faces = detect_faces(img.image)
    composite = is_composite(img.image, faces) if faces else None
    src = f"image:{img.name}"
    reg = getattr(ctx, "registry", None)
    out = []
    for face in faces:
        match = reg.match_face(face.encoding) if reg is not None else None
        detail: dict[str, Any] = {"composite": composite} if composite else {}
        if match is not None:
            detail["distance"] = round(match.distance, 3)
        if match is None or match.patient_id is None:
            out.append(Finding(
                rule_id="IMG001", category="identifiable_image", severity=Severity.medium,
                message="A face in the image matches nobody in the registry; confirm it is a hired model or staff "
                        "(waive with a justification) or get a photo authorization.",
                evidence="face matched nobody", source=src, box=face.box, citation=CITATION_PHOTO,
                suggestion="Use a photo of a consenting model, or blur the face.", detail=detail or None))
            continue
        if match.ambiguous:
            out.append(Finding(
                rule_id="IMG003", category="unauthorized_use", severity=Severity.medium,
                message="A face matches more than one registry client closely; a reviewer must confirm who it is.",
                evidence="ambiguous face match", source=src, box=face.box, citation=CITATION_PHOTO,
                suggestion="Confirm the person and their authorization before publishing.", detail=detail))
            continue
        assert reg is not None
        decision = reg.check([match.patient_id], {"before_after_photos"}, item.channel, ctx.as_of)
        detail["status"] = decision.status
        if decision.ok:
            out.append(Finding(
                rule_id="IMG100", category="unauthorized_use", severity=Severity.info,
                message=f"Face matches a client with a valid photo authorization ({decision.detail}).",
                evidence="authorized face", source=src, box=face.box, citation=CITATION_PHOTO,
                registry_record=decision.authorization_id, detail=detail))
        else:
            out.append(Finding(
                rule_id="IMG002", category="unauthorized_use", severity=Severity.high,
                message=f"Face matches a registry client whose photo authorization does not cover this use "
                        f"({decision.status}: {decision.detail}).",
                evidence="face of a registry client", source=src, box=face.box, citation=CITATION_PHOTO,
                registry_record=decision.authorization_id or decision.patient_id,
                suggestion="Remove the photo, blur the face, or renew the authorization for this channel.",
                detail=detail))
    if composite:
        out.append(Finding(
            rule_id="IMG004", category="identifiable_image", severity=Severity.low,
            message="The image looks like a before/after composite; it needs a before_after_photos authorization "
                    "for the person shown.", evidence=composite, source=src, citation=CITATION_PHOTO))
    return out


# ---------------------------------------------------------------------------------------------
# OCR
# ---------------------------------------------------------------------------------------------
@cache
def _ocr_engine() -> Any:
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR()


def ocr_lines(image: Any) -> list[tuple[list[int], str]]:
    """(box, text) per line of text found in the image, boxes in original coordinates."""
    w, h = image.size
    scale = min(1.0, DETECT_SIDE / max(w, h))
    small = image.resize((max(1, int(w * scale)), max(1, int(h * scale)))) if scale < 1 else image
    result, _ = _ocr_engine()(np.asarray(small))
    lines = []
    for pts, text, score in result or []:
        if float(score) < 0.5 or not str(text).strip():
            continue
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        lines.append(([int(min(xs) / scale), int(min(ys) / scale), int(max(xs) / scale), int(max(ys) / scale)],
                      str(text)))
    return lines


def ocr_findings(img: LoadedImage, item: Item, ctx: Any) -> list[Finding]:
    src = f"image:{img.name}"
    try:
        lines = ocr_lines(img.image)
    except ImportError:
        return [incomplete("OCR engine not installed; text in the image was not checked", src, rule_id="IMG902")]
    except Exception as exc:  # noqa: BLE001 - any OCR failure means the image text was not checked
        log.warning("OCR failed on an image of item %s: %s", item.id, type(exc).__name__)
        return [incomplete(f"OCR failed ({type(exc).__name__}); text in the image was not checked", src,
                           rule_id="IMG902")]
    if not lines:
        return []
    text = "\n".join(t for _, t in lines)
    offsets: list[tuple[int, int, list[int] | None]] = []
    pos = 0
    for line_box, t in lines:
        offsets.append((pos, pos + len(t), line_box))
        pos += len(t) + 1
    out = []
    for f in ctx.scan_text(text, item):
        if f.severity.value == "info":
            continue
        box = next((b for s, e, b in offsets if f.start is not None and s <= f.start < e), None)
        out.append(Finding(
            rule_id="IMG020", category="image_text", severity=f.severity,
            message=f"Text in the image: {f.message}", evidence=f.evidence, source=src, box=box,
            citation=f.citation, suggestion="Crop or black out the text (medspa-scan check --redact OUT).",
            detail={"text_rule": f.rule_id, "text_category": f.category}))
    return out


# ---------------------------------------------------------------------------------------------
def _missing(item: Item, path: str, ctx: Any) -> Finding:
    """A referenced image that is not on disk: judged by its name only, never silently passed."""
    name = Path(path).name
    reg = getattr(ctx, "registry", None)
    named = bool(SUBJECT_MARKERS.search(Path(name).stem)) or bool(reg is not None and reg.find_in_filename(name))
    sev = Severity.low if named else Severity.medium
    msg = ("Image file not available: its pixels were not checked; judged by its file name "
           + ("(which names its subject)." if named else "only, which does not say who is pictured."))
    return incomplete(msg, f"image:{name}", sev, rule_id="IMG901")


def scan_images(item: Item, analysis: Any, ctx: Any) -> list[Finding]:
    out: list[Finding] = []
    base = getattr(ctx, "base_dir", None)
    use_ocr = os.environ.get("MEDSPA_SCAN_OCR", "1") != "0"
    for path in item.images:
        p = Path(path)
        if not p.is_absolute() and base is not None:
            p = Path(base) / p
        src = f"image:{p.name}"
        if not p.exists():
            out.append(_missing(item, str(p), ctx))
            continue
        try:
            img = load(p)
        except ImageError as exc:
            out.append(incomplete(f"Image could not be checked: {exc}.", src))
            continue
        out.extend(metadata_findings(img))
        try:
            out.extend(face_findings(img, item, ctx))
        except Exception as exc:  # noqa: BLE001 - fail closed
            log.warning("face stage failed on item %s: %s", item.id, type(exc).__name__)
            out.append(incomplete(f"face check failed ({type(exc).__name__})", src))
        if use_ocr:
            out.extend(ocr_findings(img, item, ctx))
        else:
            out.append(incomplete("OCR disabled (MEDSPA_SCAN_OCR=0); text in the image was not checked", src,
                                  rule_id="IMG902"))
    return out


def redact(path: str | Path, out_path: str | Path, findings: list[Finding]) -> Path:
    """Write a preview: unauthorized or unmatched faces blurred, PHI text blacked out, no metadata."""
    from PIL import ImageDraw, ImageFilter

    img = load(path)
    im = img.image.copy()
    name = f"image:{img.name}"
    for f in findings:
        if f.source != name or not f.box or f.severity.value == "info":
            continue
        x0, y0, x1, y1 = f.box
        if f.category in ("identifiable_image", "unauthorized_use"):
            pad = int((x1 - x0) * 0.25)
            region = (max(0, x0 - pad), max(0, y0 - pad), min(im.width, x1 + pad), min(im.height, y1 + pad))
            im.paste(im.crop(region).filter(ImageFilter.GaussianBlur(radius=max(8, (x1 - x0) // 6))), region[:2])
        elif f.category == "image_text":
            ImageDraw.Draw(im).rectangle([x0 - 2, y0 - 2, x1 + 2, y1 + 2], fill="black")
    out = Path(out_path)
    buf = io.BytesIO()
    im.save(buf, format="JPEG" if out.suffix.lower() in (".jpg", ".jpeg") else "PNG", quality=92)
    out.write_bytes(buf.getvalue())
    return out
