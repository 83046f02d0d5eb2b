"""Text in the picture: RapidOCR (ONNX Runtime; its models ship inside the wheel, nothing is downloaded).

The engine loads lazily, once per process: a forked worker builds its own, single-threaded (ONNX Runtime's
thread pool does not survive fork, so the parent's engine is neither used nor destroyed there). Lines are grouped into rows so a schedule line reads as one sentence; every character
of the joined text maps back to the box of the line it came from.
"""
from __future__ import annotations

import multiprocessing
import os
import re
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from .load import LoadedImage, resized

#: OCR reads a copy of at most this many pixels (and 2000 on the longest side, RapidOCR's own cap): on a
#: 12 MP photo that keeps 8-pixel-high text legible at a third of the cost of 1600 px
OCR_PIXELS = int(os.environ.get("MEDSPA_SCAN_OCR_PIXELS", 1_400_000))
OCR_MAX_SIDE = 2000
MIN_SCORE = 0.6
_LATIN = re.compile(r"[A-Za-z0-9]")


class OcrUnavailable(RuntimeError):
    """The OCR engine is not installed or cannot start."""


@dataclass
class Line:
    box: list[int]  # x0, y0, x1, y1 in upright-original pixels
    text: str
    score: float


_engines: dict[int, Any] = {}
_lock = threading.Lock()


def _threads() -> int:
    env = os.environ.get("MEDSPA_SCAN_OCR_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    if multiprocessing.parent_process() is not None:  # a pool worker: one core each
        return 1
    return max(1, min(4, os.cpu_count() or 1))


def engine() -> Any:
    """The process's RapidOCR instance (created on first use); OcrUnavailable when it cannot be built."""
    pid = os.getpid()
    eng = _engines.get(pid)
    if eng is not None:
        return eng
    with _lock:
        if pid not in _engines:
            try:
                import logging

                from rapidocr_onnxruntime import RapidOCR

                logging.getLogger("RapidOCR").setLevel(logging.ERROR)
                # a parent's engine inherited through fork stays in the dict on purpose: destroying it
                # here would wait forever on thread-pool threads that do not exist in this process
                _engines[pid] = RapidOCR(intra_op_num_threads=_threads(), inter_op_num_threads=1, use_cls=False)
            except ImportError as exc:
                raise OcrUnavailable("the OCR engine (rapidocr-onnxruntime) is not installed") from exc
            except Exception as exc:  # noqa: BLE001 - a broken install or model file
                raise OcrUnavailable(f"the OCR engine could not start ({type(exc).__name__})") from exc
        return _engines[pid]


def _readable(text: str) -> bool:
    """Latin text the text rules can judge (drops OCR noise such as single CJK glyphs on textures)."""
    t = text.strip()
    if len(_LATIN.findall(t)) < 2:
        return False
    ascii_share = sum(1 for ch in t if ord(ch) < 0x250) / len(t)
    return ascii_share >= 0.8


_GLUED = re.compile(r"\S{10,}")


def _respace(eng: Any, bgr: np.ndarray, found: list[tuple[Any, str]]) -> list[str]:
    """The recognizer (a Chinese/English model) often drops word spaces ('MarlowBotoxfollow-up') when it
    reads RapidOCR's perspective-warped crop. For near-horizontal lines with a long unbroken token, read the
    upright bounding box (plus a 10 % margin) again, all lines in one batch, and keep that reading when it
    spells the same characters with more spaces."""
    texts = [t for _, t in found]
    todo, crops = [], []
    for i, (pts, text) in enumerate(found):
        if not _GLUED.search(text):
            continue
        xs, ys = [float(p[0]) for p in pts], [float(p[1]) for p in pts]
        h = max(ys) - min(ys)
        if h < 8 or abs(float(pts[1][1]) - float(pts[0][1])) > 0.25 * h:  # tiny or slanted: leave it
            continue
        m = int(0.1 * h)
        y0, y1 = max(0, int(min(ys)) - m), min(bgr.shape[0], int(max(ys)) + 1 + m)
        x0, x1 = max(0, int(min(xs)) - m), min(bgr.shape[1], int(max(xs)) + 1 + m)
        todo.append(i)
        crops.append(np.ascontiguousarray(bgr[y0:y1, x0:x1]))
    if crops:
        again, _ = eng.text_rec(crops)
        for i, (reading, _score) in zip(todo, again, strict=True):
            new = " ".join(str(reading).split())
            old = texts[i]
            if new.replace(" ", "").lower() == old.replace(" ", "").lower() and new.count(" ") > old.count(" "):
                texts[i] = new
    return texts


def ocr_lines(img: LoadedImage) -> list[Line]:
    """Lines of text in the image (score >= MIN_SCORE, readable), boxes in original pixels."""
    w, h = img.image.size
    side = min(OCR_MAX_SIDE, int(max(w, h) * min(1.0, (OCR_PIXELS / (w * h)) ** 0.5)))
    small, k = resized(img.image, side)
    bgr = np.ascontiguousarray(np.asarray(small)[:, :, ::-1])  # RapidOCR expects OpenCV's BGR order
    eng = engine()
    result, _ = eng(bgr)
    found = []
    for pts, text, score in result or []:
        text = " ".join(str(text).split())
        if float(score) >= MIN_SCORE and _readable(text):
            found.append((pts, text, float(score)))
    texts = _respace(eng, bgr, [(pts, text) for pts, text, _ in found])
    lines = []
    for (pts, _, score), text in zip(found, texts, strict=True):
        xs, ys = [float(p[0]) for p in pts], [float(p[1]) for p in pts]
        box = img.to_original((min(xs), min(ys), max(xs), max(ys)), img.scale * k)
        lines.append(Line(box, text, score))
    return lines


def rows(lines: list[Line]) -> list[list[Line]]:
    """Lines grouped into rows (vertical centres within half a line height), each row left to right."""
    out: list[list[Line]] = []
    for ln in sorted(lines, key=lambda ln: (ln.box[1] + ln.box[3]) / 2):
        cy, hgt = (ln.box[1] + ln.box[3]) / 2, ln.box[3] - ln.box[1]
        if out:
            last = out[-1][-1]
            lcy, lh = (last.box[1] + last.box[3]) / 2, last.box[3] - last.box[1]
            if abs(cy - lcy) <= 0.5 * max(hgt, lh):
                out[-1].append(ln)
                continue
        out.append([ln])
    return [sorted(r, key=lambda ln: ln.box[0]) for r in out]


def join(lines: list[Line]) -> tuple[str, list[tuple[int, int, Line]]]:
    """(text, [(start, end, line)]): rows joined by newlines, lines of a row by two spaces."""
    parts: list[str] = []
    spans: list[tuple[int, int, Line]] = []
    pos = 0
    for r in rows(lines):
        for i, ln in enumerate(r):
            if i:
                parts.append("  ")
                pos += 2
            spans.append((pos, pos + len(ln.text), ln))
            parts.append(ln.text)
            pos += len(ln.text)
        parts.append("\n")
        pos += 1
    return "".join(parts).rstrip("\n"), spans


def box_for(spans: list[tuple[int, int, Line]], start: int | None, end: int | None) -> list[int] | None:
    """Union of the boxes of the lines a character range touches (None when it touches none)."""
    if start is None:
        return None
    stop = end if end is not None and end > start else start + 1
    hit = [ln.box for s, e, ln in spans if s < stop and start < e]
    if not hit:
        return None
    return [min(b[0] for b in hit), min(b[1] for b in hit), max(b[2] for b in hit), max(b[3] for b in hit)]
