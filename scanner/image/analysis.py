"""Image pipeline, public surface: `scan_images` (called by the engine for every item with images),
`analyze` (one image -> ImageAnalysis), `redact` and `strip_metadata` (the `check --redact/--strip-metadata`
outputs) and `incomplete`.

Stages per image: safe load (image.load) -> metadata (image.metadata) -> faces matched to the registry and
before/after composites (image.faces) -> OCR fed back through the text rules (image.ocr). Fail closed:
an image that is missing, cannot be opened, is too large, has frames left unchecked or whose OCR could not
run yields a `scan_incomplete` finding, so the item never passes unchecked.

Boxes are [x0, y0, x1, y1] (left, top, right, bottom) in pixels of the upright original, i.e. after the EXIF
orientation is applied; `detail.box_format` says so on every finding that has a box.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.models import Finding, Item, Severity
from . import ocr as ocr_engine
from .faces import Composite, Face, detect_faces, find_composite
from .findings import finding, incomplete
from .load import ImageError, LoadedImage, load, load_full
from .metadata import metadata_findings, save_clean, strip_metadata

__all__ = ["ImageAnalysis", "ImageError", "analyze", "incomplete", "load", "redact", "scan_images",
           "strip_metadata"]

log = logging.getLogger(__name__)
BOX_FORMAT = "x0,y0,x1,y1"
PHOTO_PURPOSE = "before_after_photos"
#: file-name words that say the picture shows no client (staff, hired models, stock, graphics)
SUBJECT_MARKERS = re.compile(
    r"(?:^|[_\-. ])(staff|team|teams|model|models|headshot|headshots|stock|logo|logos|product|products|flyer|"
    r"graphic|graphics|banner|menu|storefront|interior|lobby)(?=[_\-. ]|\d|$)", re.I)


#: text that presents someone's treatment results (the pictured person is shown as a client)
RESULTS_RE = re.compile(
    r"\bbefore\s*(?:&|and|/|-|\+)\s*after\b|\b(?:her|his|their|client'?s?|patient'?s?|[A-Z][a-z]+'s)\s+"
    r"(?:\w+\s+){0,3}?(?:results?|transformation|glow-?up|progress)\b|\bresults are in\b", re.I)


def presents_results(text: str) -> bool:
    return bool(RESULTS_RE.search(text or ""))


@dataclass
class ImageAnalysis:
    """Everything the stages found in one image (findings plus the raw material for redaction)."""

    name: str
    size: tuple[int, int] = (0, 0)
    faces: list[Face] = field(default_factory=list)
    composite: Composite | None = None
    lines: list[ocr_engine.Line] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def _ocr_enabled() -> bool:
    return os.environ.get("MEDSPA_SCAN_OCR", "1").strip().lower() not in ("0", "false", "no", "off")


# -- faces -----------------------------------------------------------------------------------------
def face_findings(img: LoadedImage, faces: list[Face], composite: Composite | None, item: Item,
                  ctx: Any) -> list[Finding]:
    """One finding per face (authorized, unauthorized, ambiguous, unknown) plus the composite verdict."""
    src = f"image:{img.name}"
    reg = getattr(ctx, "registry", None)
    out: list[Finding] = []
    covered: list[bool] = []
    n = len(faces)
    for i, face in enumerate(faces):
        where = f"face {i + 1} of {n} at [{', '.join(map(str, face.box))}]"
        detail: dict[str, Any] = {"face": i + 1, "faces": n, "box_format": BOX_FORMAT}
        if composite is not None:
            detail["composite"] = composite.layout
        match = reg.match_face(face.encoding) if reg is not None else None
        if match is not None:
            detail["distance"] = round(float(match.distance), 3)
        if match is None or match.patient_id is None:
            covered.append(False)
            detail["matched"] = None
            if presents_results(item.text):  # "loving her results": the face is presented as a client's
                out.append(finding(
                    "IMG001", "The post presents treatment results with a face nobody has authorized: shown this "
                    "way the person is presented as a client, which needs their before_after_photos authorization.",
                    src, evidence=f"{where}: matched nobody, in a post that presents results", box=face.box,
                    detail={**detail, "presents_results": True}, severity=Severity.high))
                continue
            out.append(finding(
                "IMG001", "A face in the image matches nobody in the registry. If it is a hired model or staff, a "
                "reviewer can waive this with a justification; otherwise get a photo authorization or blur it.",
                src, evidence=f"{where}: matched nobody", box=face.box, detail=detail))
            continue
        detail["matched"] = match.patient_id
        if match.ambiguous:
            covered.append(False)
            if match.second_distance is not None:
                detail["second_distance"] = round(float(match.second_distance), 3)
            out.append(finding(
                "IMG003", "A face matches more than one registry client almost equally well; a reviewer must "
                "confirm who it is (an ambiguous match is never treated as authorized).",
                src, evidence=f"{where}: ambiguous match", box=face.box, detail=detail,
                registry_record=match.patient_id))
            continue
        assert reg is not None  # a match came from it
        decision = reg.check([match.patient_id], {PHOTO_PURPOSE}, item.channel, ctx.as_of)
        detail["status"] = decision.status
        detail["purpose"] = PHOTO_PURPOSE
        record = decision.authorization_id or decision.patient_id or match.patient_id
        if decision.ok:
            covered.append(True)
            out.append(finding(
                "IMG100", f"Face matches registry client {match.patient_id}, whose authorization "
                f"{decision.authorization_id} covers {PHOTO_PURPOSE} on {item.channel} ({decision.detail}).",
                src, evidence=f"{where}: authorized", box=face.box, detail=detail, registry_record=record,
                suggestion=""))
        else:
            covered.append(False)
            out.append(finding(
                "IMG002", f"Face matches registry client {match.patient_id}, whose authorization does not cover "
                f"{PHOTO_PURPOSE} on {item.channel} ({decision.status}: {decision.detail}).",
                src, evidence=f"{where}: {decision.status}", box=face.box, detail=detail, registry_record=record))
    if composite is not None:
        detail = {**composite.public(), "faces": n}
        if n and all(covered):
            out.append(finding(
                "IMG101", "Before/after composite; every face in it is covered by a before_after_photos "
                "authorization for this channel.", src, evidence=composite.layout, detail=detail, suggestion=""))
        else:
            why = "no face could be tied to an authorization" if not n else "not every face in it is authorized"
            out.append(finding(
                "IMG004", f"The image looks like a before/after composite ({composite.layout.replace('_', ' ')}); "
                f"it needs the pictured client's before_after_photos authorization, and {why}.",
                src, evidence=composite.layout, detail=detail))
    return out


# -- OCR -------------------------------------------------------------------------------------------
def ocr_findings(img: LoadedImage, lines: list[ocr_engine.Line], item: Item, ctx: Any) -> list[Finding]:
    """Text rules over the OCR text; each finding relabelled `image_text` with the box of its line(s)."""
    if not lines:
        return []
    src = f"image:{img.name}"
    text, spans = ocr_engine.join(lines)
    out = []
    everything = ocr_engine.box_for(spans, 0, len(text))
    for f in ctx.scan_text(text, item):
        if f.severity == Severity.info or f.category == "scan_incomplete":
            continue
        touched = [n for n, (s, e, _) in enumerate(spans, 1)
                   if f.start is not None and s < (f.end if f.end and f.end > f.start else f.start + 1) and f.start < e]
        box = ocr_engine.box_for(spans, f.start, f.end)
        if box is None and f.evidence:  # no span: point at the line that holds the evidence
            touched = [n for n, (_, _, ln) in enumerate(spans, 1) if f.evidence[:20] in ln.text][:1]
            box = spans[touched[0] - 1][2].box if touched else None
        where = f"OCR line {touched[0]}" if len(touched) == 1 else (
            f"OCR lines {touched[0]}-{touched[-1]}" if touched else "OCR text")
        out.append(finding(
            "IMG020", f"Text in the image: {f.message}", src, evidence=f"{f.evidence} ({where})",
            severity=f.severity, box=box or everything, citation=f.citation, registry_record=f.registry_record,
            score=f.score, detail={"text_rule": f.rule_id, "text_category": f.category, "box_format": BOX_FORMAT,
                                   "box_covers": "its line(s)" if box else "all text in the image",
                                   "ocr_lines": len(lines)}))
    return out


# -- one image -------------------------------------------------------------------------------------
def analyze(path: str | Path, item: Item, ctx: Any, ocr: bool | None = None) -> ImageAnalysis:
    """Run every stage on one image file that exists. Never raises for a bad image: problems become
    scan_incomplete findings in the result."""
    p = Path(path)
    src = f"image:{p.name}"
    res = ImageAnalysis(p.name)
    try:
        img = load(p)
    except ImageError as exc:
        res.findings.append(incomplete(f"Image could not be checked: {exc}. Its pixels, faces and text were not "
                                       "checked.", src))
        return res
    res.size = img.size
    try:
        res.findings.extend(metadata_findings(img))
    except Exception as exc:  # noqa: BLE001 - fail closed, never a traceback
        log.warning("metadata stage failed on an image of item %s: %s", item.id, type(exc).__name__)
        res.findings.append(incomplete(f"Image metadata could not be read ({type(exc).__name__}).", src,
                                       rule_id="IMG903"))
    if img.frames > 1:
        res.findings.append(incomplete(
            f"The image has {img.frames} frames or pages; only the first was checked.", src, rule_id="IMG903"))
    try:
        res.faces = detect_faces(img)
        res.composite = find_composite(img, res.faces)
        res.findings.extend(face_findings(img, res.faces, res.composite, item, ctx))
    except Exception as exc:  # noqa: BLE001 - fail closed
        log.warning("face stage failed on an image of item %s: %s", item.id, type(exc).__name__)
        res.findings.append(incomplete(f"Face check failed ({type(exc).__name__}); faces were not checked.", src,
                                       rule_id="IMG903"))
    run_ocr = _ocr_enabled() if ocr is None else ocr
    if run_ocr:
        try:
            res.lines = ocr_engine.ocr_lines(img)
        except ocr_engine.OcrUnavailable as exc:
            res.findings.append(incomplete(f"Text in the image was not checked: {exc}.", src, rule_id="IMG902"))
        except Exception as exc:  # noqa: BLE001 - any OCR failure means the text was not checked
            log.warning("OCR failed on an image of item %s: %s", item.id, type(exc).__name__)
            res.findings.append(incomplete(f"Text in the image was not checked: OCR failed ({type(exc).__name__}).",
                                           src, rule_id="IMG902"))
        else:
            res.findings.extend(ocr_findings(img, res.lines, item, ctx))
    else:
        res.findings.append(incomplete("Text in the image was not checked: OCR is switched off "
                                       "(MEDSPA_SCAN_OCR=0).", src, rule_id="IMG902"))
    return res


def names_subject(name: str, registry: Any, extra: tuple[str, ...] = ()) -> bool:
    """Whether a file name says who is pictured: a registry client, or a staff/model/stock/graphic marker
    (also `extra`, the vocabulary's `image_subject_words`: illustrations, diagrams, stock libraries)."""
    stem = Path(name).stem
    if SUBJECT_MARKERS.search(stem):
        return True
    if extra and set(re.split(r"[^a-z]+", stem.lower())) & set(extra):
        return True
    return bool(registry is not None and registry.find_in_filename(name))


def missing_finding(path: str, ctx: Any, text: str = "", people: set[str] | None = None) -> Finding:
    """A referenced image that is not on disk: judged by its file name only, never silently passed. `people`: the
    first names of the people the item's text names."""
    name = Path(path).name
    registry = getattr(ctx, "registry", None)
    words = getattr(ctx, "vocabulary", lambda key: ())("image_subject_words")
    named = names_subject(name, registry, words) or (
        # the file name carries the first name of a registry client the text names in full (text_named_images)
        registry is not None and "text_named_images" in getattr(ctx, "switches", frozenset())
        and registry.client_in_filename(name, text, people or set()))
    if named:
        msg = ("Image file not found, so its pixels, faces, text and metadata were not checked; it is judged by "
               "its file name, which names its subject.")
    else:
        msg = ("Image file not found, so its pixels, faces, text and metadata were not checked, and its file name "
               "does not say who is pictured; a reviewer must look at the picture.")
    return incomplete(msg, f"image:{name}", Severity.low if named else Severity.medium, rule_id="IMG901")


def resolve(path: str, ctx: Any) -> Path:
    """An item's image path: absolute as given, relative against ctx.base_dir (if set) or the current dir."""
    p = Path(path).expanduser()
    base = getattr(ctx, "base_dir", None)
    if not p.is_absolute() and base:
        p = Path(base) / p
    return p


def scan_images(item: Item, analysis: Any, ctx: Any) -> list[Finding]:
    """Findings for every image of `item` (see the module docstring). `analysis` (the item's text analysis)
    only lends its time budget (an image left when it has run out is IMG903); ctx supplies registry (None:
    every face matches nobody), as_of, scan_text and optionally base_dir."""
    out: list[Finding] = []
    deadline = getattr(analysis, "deadline", None)
    # first names of the people the text names, for judging a missing image by its file name (once per item)
    people = {q.text.split()[0] for q in getattr(analysis, "persons", ()) if q.kind == "name" and q.text.split()}
    for path in item.images:
        p = resolve(path, ctx)
        if deadline is not None and deadline.skip(f"image {Path(p).name}"):
            out.append(incomplete(f"The image was not checked: the item ran past its time budget "
                                  f"({deadline.seconds:g} s).", source=f"image:{Path(p).name}", rule_id="IMG903"))
            continue
        if not os.path.lexists(p):
            out.append(missing_finding(str(p), ctx, item.text, people))
            continue
        out.extend(analyze(p, item, ctx).findings)
    return out


# -- outputs ---------------------------------------------------------------------------------------
def _should_blur(f: Finding) -> bool:
    return f.category in ("identifiable_image", "unauthorized_use") and f.severity != Severity.info


def redact(path: str | Path, out_path: str | Path, findings: list[Finding]) -> Path:
    """Write a redacted preview of the image at `path` to `out_path` and return `out_path`.

    Uses the findings of a scan of that image (those whose source is `image:<its file name>` and that carry
    a box): faces that matched nobody, matched an unauthorized client or matched ambiguously are pixelated
    and blurred beyond recognition; text the text rules flagged (`image_text`) is covered by black boxes.
    Authorized faces (info findings) are left as they are. The preview carries no metadata (like
    `strip_metadata`); its format follows the extension of `out_path`. Raises ImageError when the image
    cannot be loaded safely or the output format is unknown.
    """
    from PIL import Image, ImageDraw, ImageFilter

    image, _, info = load_full(path)
    im = image.convert("RGB")
    src = f"image:{Path(path).name}"
    w, h = im.size
    for f in findings:
        if f.source != src or not f.box or len(f.box) != 4:
            continue
        x0, y0, x1, y1 = f.box
        if _should_blur(f):
            pad_x, pad_y = int((x1 - x0) * 0.25), int((y1 - y0) * 0.35)
            region = (max(0, x0 - pad_x), max(0, y0 - pad_y), min(w, x1 + pad_x), min(h, y1 + pad_y))
            rw, rh = region[2] - region[0], region[3] - region[1]
            if rw < 2 or rh < 2:
                continue
            patch = im.crop(region)
            cells = max(4, min(rw, rh) // 12)  # pixelate to ~12-pixel cells, then blur the blocks
            patch = patch.resize((max(1, rw // cells), max(1, rh // cells)), Image.Resampling.BILINEAR)
            patch = patch.resize((rw, rh), Image.Resampling.NEAREST)
            patch = patch.filter(ImageFilter.GaussianBlur(radius=max(4, cells)))
            im.paste(patch, region[:2])
        elif f.category == "image_text" and f.severity != Severity.info:
            pad = max(2, (y1 - y0) // 6)
            ImageDraw.Draw(im).rectangle([max(0, x0 - pad), max(0, y0 - pad), min(w - 1, x1 + pad),
                                          min(h - 1, y1 + pad)], fill="black")
    return save_clean(im, out_path, info.get("icc_profile"))
