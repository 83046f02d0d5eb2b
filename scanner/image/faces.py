"""Faces and before/after composites.

Detection: HOG (face_recognition/dlib) on a copy whose longest side is DETECT_SIDE pixels (finds faces from
~80 px there, 5 % of the long side); a second, finer pass (real pixels of a copy FINE_FACTOR times larger,
or dlib's 2x upsampling when the image is small) runs only when faces may be small: the first pass found
nothing, or found no face that fills a fifth of the picture's shorter side.
`MEDSPA_SCAN_FACE_MODEL=cnn` selects dlib's CNN detector instead (slower, finds more profiles).

Composites: the same face twice, or a straight seam (a cut or a divider bar) between two halves that look
alike or each hold a face of similar size.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .load import LoadedImage, resized

DETECT_SIDE = int(os.environ.get("MEDSPA_SCAN_DETECT_SIDE", 1600))
#: the finer pass reads real pixels at this many times the first pass's size (faces down to ~55 px there),
#: never more than FINE_SIDE on the longest side; small images are upsampled by dlib (2x) instead
FINE_FACTOR = 1.5
FINE_SIDE = 3200
#: a face at least this fraction of the picture's shorter side means a close-up: no finer pass
CLOSE_UP = 0.2
#: encodings closer than this are the same person (../shared/faces: same person <= 0.53, others >= 0.65)
SAME_PERSON = 0.58


@dataclass
class Face:
    """A detected face: box [x0, y0, x1, y1] in upright-original pixels and its 128-d encoding."""

    box: list[int]
    encoding: np.ndarray
    detect_pass: int = 1

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def center(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2


@dataclass
class Composite:
    """Why an image looks like a before/after composite."""

    layout: str  # side_by_side | stacked | same_face_twice
    seam: float | None = None  # position of the seam as a fraction of width (side_by_side) or height (stacked)
    seam_kind: str | None = None  # cut | divider
    halves_similarity: float | None = None
    same_face: list[int] = field(default_factory=list)  # indexes of the repeated faces

    def public(self) -> dict[str, Any]:
        d: dict[str, Any] = {"layout": self.layout}
        if self.seam is not None:
            d["seam_at"] = round(self.seam, 3)
            d["seam_kind"] = self.seam_kind
        if self.halves_similarity is not None:
            d["halves_similarity"] = round(self.halves_similarity, 2)
        if self.same_face:
            d["same_face"] = self.same_face
        return d


def _model() -> str:
    return "cnn" if os.environ.get("MEDSPA_SCAN_FACE_MODEL", "hog").lower() == "cnn" else "hog"


def _iou(a: list[int], b: list[int]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def _locate(image: Any, upsample: int) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    import face_recognition

    arr = np.ascontiguousarray(np.asarray(image))
    return arr, face_recognition.face_locations(arr, number_of_times_to_upsample=upsample, model=_model())


def _encode(img: LoadedImage, arr: np.ndarray, locs: list[tuple[int, int, int, int]], scale: float,
            n: int) -> list[Face]:
    """Encodings for `locs` found on `arr` (`scale` times the working copy); boxes in original pixels."""
    import face_recognition

    if not locs:
        return []
    encs = face_recognition.face_encodings(arr, known_face_locations=locs)
    s = img.scale * scale
    return [Face(img.to_original((left, top, right, bottom), s), enc, n)
            for (top, right, bottom, left), enc in zip(locs, encs, strict=True)]


def needs_fine_pass(img: LoadedImage, faces: list[Face], detect_size: tuple[int, int]) -> bool:
    """Faces may be small: nothing found, or no face fills CLOSE_UP of the shorter side (a close-up's
    background faces are tiny and blurred). Images so small that an upsampled pass could only add faces of
    a few dozen pixels are not re-scanned."""
    short = min(img.size)
    if any(f.width >= CLOSE_UP * short for f in faces):
        return False
    return min(detect_size) >= 160


def detect_faces(img: LoadedImage) -> list[Face]:
    """Every face in the image with its encoding (see the module docstring for the two-pass strategy)."""
    small, k = resized(img.image, DETECT_SIDE)
    arr, locs = _locate(small, 0)
    faces = _encode(img, arr, locs, k, 1)
    if _model() == "cnn" or not needs_fine_pass(img, faces, small.size):
        return faces
    if max(img.image.size) >= 1.25 * max(small.size):  # real pixels beat upsampling
        fine, k2 = resized(img.image, min(FINE_SIDE, int(FINE_FACTOR * max(small.size))))
        arr2, locs2 = _locate(fine, 0)
    else:
        k2, (arr2, locs2) = k, _locate(small, 1)
    s2 = img.scale * k2
    new = [loc for loc in locs2
           if all(_iou(img.to_original((loc[3], loc[0], loc[1], loc[2]), s2), f.box) < 0.3 for f in faces)]
    faces.extend(_encode(img, arr2, new, k2, 2))
    faces.sort(key=lambda f: (f.box[0], f.box[1]))
    return faces


# -- composites ----------------------------------------------------------------------------------
def _gray(image: Any, side: int = 512) -> np.ndarray:
    small, _ = resized(image.convert("L"), side)
    return np.asarray(small, dtype=np.float32)


def _seam(g: np.ndarray) -> tuple[float, str, int, int] | None:
    """A vertical seam in the middle 30-70 % of the width: a divider bar, or a straight full-height cut.

    A cut is a column whose edge strength is well above the picture's typical edge (score), much stronger
    than the columns two to four pixels away (peak: a pasted edge is one pixel wide, natural edges are
    soft and slanted) and the strongest edge nearby in most rows (straight). On ../shared/faces natural
    photos peak at most 1.6 and straight 0.31; pasted composites 3.6+ and 0.69+.
    Returns (position as a fraction of the width, kind, first and last column of the seam)."""
    h, w = g.shape
    if w < 60 or h < 40:
        return None
    lo, hi = max(5, int(0.3 * w)), min(w - 6, int(0.7 * w))
    col_std = g.std(axis=0)
    uniform = col_std < 4.0
    x = lo
    while x < hi:  # divider bar: up to 8 % of the width of near-uniform columns, textured on both sides
        if not uniform[x]:
            x += 1
            continue
        end = x
        while end + 1 < w and uniform[end + 1]:
            end += 1
        textured = x > 3 and end < w - 4 and col_std[x - 3] > 12 and col_std[end + 3] > 12
        if textured and end - x + 1 <= 0.08 * w:
            return (x + end + 1) / 2 / w, "divider", x, end
        x = end + 1
    diff = np.abs(np.diff(g, axis=1))  # h x (w-1)
    col_mean = diff.mean(axis=0)
    base = float(np.median(col_mean)) + 1.0
    best: tuple[float, str, int, int] | None = None
    best_score = 0.0
    for x in range(lo, hi):
        score = col_mean[x] / base
        if score < 3.0 or score <= best_score:
            continue
        near = max(col_mean[x - 4:x - 1].max(), col_mean[x + 2:x + 5].max()) + 1e-3
        window = diff[:, x - 3:x + 4]
        straight = float(((window.argmax(axis=1) == 3) & (diff[:, x] > 6)).mean())
        if col_mean[x] / near >= 2.5 and straight >= 0.5:
            best, best_score = ((x + 1) / w, "cut", x, x + 1), score
    return best


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two halves (structure at 24 x 24 plus the grey-level histogram), in [-1, 1]."""
    from PIL import Image

    def prep(x: np.ndarray) -> np.ndarray:
        im = Image.fromarray(x.astype(np.uint8)).resize((24, 24), Image.Resampling.BILINEAR)
        v = np.asarray(im, dtype=np.float32).ravel()
        return (v - v.mean()) / (v.std() + 1e-6)

    structure = float(np.mean(prep(a) * prep(b)))
    ha, _ = np.histogram(a, bins=16, range=(0, 255))
    hb, _ = np.histogram(b, bins=16, range=(0, 255))
    hist = float(np.minimum(ha / ha.sum(), hb / hb.sum()).sum())  # histogram intersection in [0, 1]
    return 0.5 * structure + 0.5 * (2 * hist - 1)


def _faces_on_both_sides(faces: list[Face], seam_px: float, axis: int) -> bool:
    """One face on each side of the seam, of similar size (a before and an after)."""
    first = [f for f in faces if f.center[axis] < seam_px]
    second = [f for f in faces if f.center[axis] >= seam_px]
    return any(0.6 <= a.width / max(1, b.width) <= 1.66 for a in first for b in second)


def find_composite(img: LoadedImage, faces: list[Face]) -> Composite | None:
    """A Composite when the image looks like a before/after picture, else None."""
    for i in range(len(faces)):
        for j in range(i + 1, len(faces)):
            if float(np.linalg.norm(faces[i].encoding - faces[j].encoding)) < SAME_PERSON:
                dx = abs(faces[i].center[0] - faces[j].center[0]) / img.size[0]
                dy = abs(faces[i].center[1] - faces[j].center[1]) / img.size[1]
                layout = "side_by_side" if dx >= dy else "stacked"
                comp = Composite(layout, same_face=[i, j])
                seam = _check_seams(img, faces)
                if seam is not None:
                    comp.seam, comp.seam_kind, comp.halves_similarity = seam.seam, seam.seam_kind, seam.halves_similarity
                    comp.layout = seam.layout
                return comp
    return _check_seams(img, faces)


def _check_seams(img: LoadedImage, faces: list[Face]) -> Composite | None:
    g = _gray(img.image)
    for layout, arr, axis in (("side_by_side", g, 0), ("stacked", g.T, 1)):
        seam = _seam(arr)
        if seam is None:
            continue
        pos, kind, start, end = seam
        panel = min(start, arr.shape[1] - end - 1)  # compare equal widths either side (3-panel layouts too)
        first, second = arr[:, start - panel:start], arr[:, end + 1:end + 1 + panel]
        if first.shape[1] < 10 or second.shape[1] < 10 or first.std() < 8 or second.std() < 8:
            continue
        sim = _similarity(first, second)
        seam_px = pos * img.size[axis]
        if sim >= 0.45 or _faces_on_both_sides(faces, seam_px, axis):
            return Composite(layout, seam=pos, seam_kind=kind, halves_similarity=sim)
    return None
