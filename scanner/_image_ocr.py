"""Text in the picture: RapidOCR (ONNX Runtime; its models ship inside the wheel, nothing is downloaded).

The engine loads lazily, once per process (a forked worker builds its own: ONNX Runtime's thread pool does
not survive fork). Lines are grouped into rows so a schedule line reads as one sentence; every character
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

from ._image_load import LoadedImage, resized

#: longest side given to OCR (RapidOCR itself caps detection at 2000)
OCR_SIDE = int(os.environ.get("MEDSPA_SCAN_OCR_SIDE", 1600))
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
                _engines.clear()
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


def _word_gaps(ink: np.ndarray, h: int) -> list[tuple[int, int]]:
    """Column ranges of the ink groups of a text line separated by gaps of at least 0.35 line heights
    (a word space; letter gaps, even around a '1', stay below that)."""
    cols = np.flatnonzero(ink.any(axis=0))
    if cols.size == 0:
        return []
    gap = max(3, int(0.35 * h))
    breaks = np.flatnonzero(np.diff(cols) - 1 >= gap)
    starts = [int(cols[0])] + [int(cols[b + 1]) for b in breaks]
    ends = [int(cols[b]) + 1 for b in breaks] + [int(cols[-1]) + 1]
    return list(zip(starts, ends, strict=True))


def _respace(eng: Any, bgr: np.ndarray, gray: np.ndarray, pts: Any, text: str) -> str:
    """The recognizer (a Chinese/English model) often drops word spaces ('MarlowBotoxfollow-up'). Where the
    line's ink shows word gaps that the text lacks, recognize each word group on its own and keep that
    reading when it spells the same characters."""
    xs, ys = [float(p[0]) for p in pts], [float(p[1]) for p in pts]
    x0, x1, y0, y1 = int(min(xs)), int(max(xs)) + 1, int(min(ys)), int(max(ys)) + 1
    h = y1 - y0
    if h < 8 or abs(float(pts[1][1]) - float(pts[0][1])) > 0.25 * h:  # tiny or slanted: leave it
        return text
    crop = gray[y0:y1, x0:x1].astype(np.float32)
    if crop.size == 0 or float(crop.max() - crop.min()) < 40:
        return text
    thr = (float(crop.max()) + float(crop.min())) / 2
    ink = crop > thr if (crop < thr).mean() > 0.5 else crop < thr  # text is the minority colour
    groups = _word_gaps(ink, h)
    if len(groups) < 2 or (len(groups) - 1 <= text.count(" ") and not _GLUED.search(text)):
        return text
    pieces = [bgr[y0:y1, max(0, x0 + a - 3):min(bgr.shape[1], x0 + b + 3)] for a, b in groups]
    read, _ = eng.text_rec(pieces)
    words = [" ".join(str(t).split()) for t, _ in read]
    if "".join(words).replace(" ", "").lower() != text.replace(" ", "").lower() or not all(words):
        return text
    return " ".join(words)


_GLUED = re.compile(r"\S{10,}")
_CAMEL = re.compile(r"(?<=[a-z]{3})(?=[A-Z][a-z])")


def ocr_lines(img: LoadedImage) -> list[Line]:
    """Lines of text in the image (score >= MIN_SCORE, readable), boxes in original pixels."""
    small, k = resized(img.image, OCR_SIDE)
    rgb = np.asarray(small)
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])  # RapidOCR expects OpenCV's BGR order
    eng = engine()
    result, _ = eng(bgr)
    gray = np.asarray(small.convert("L"))
    lines = []
    for pts, text, score in result or []:
        text = " ".join(str(text).split())
        if float(score) < MIN_SCORE or not _readable(text):
            continue
        text = _CAMEL.sub(" ", _respace(eng, bgr, gray, pts, text))
        xs, ys = [float(p[0]) for p in pts], [float(p[1]) for p in pts]
        box = img.to_original((min(xs), min(ys), max(xs), max(ys)), img.scale * k)
        lines.append(Line(box, text, float(score)))
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
