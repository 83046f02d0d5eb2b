"""Image benchmark: per-image time for a 1 MP and a 12 MP photo with and without OCR, and batch
images per second on all cores. Uses ../shared/faces/obama.jpg scaled to size.

Run: .venv/bin/python bench/bench_image.py
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FACE = ROOT.parent / "shared" / "faces" / "obama.jpg"


def make(path: Path, megapixels: float) -> Path:
    from PIL import Image

    im = Image.open(FACE).convert("RGB")
    scale = (megapixels * 1e6 / (im.width * im.height)) ** 0.5
    im.resize((int(im.width * scale), int(im.height * scale))).save(path, quality=90)
    return path


def main() -> None:
    os.environ["MEDSPA_SCAN_HOME"] = tempfile.mkdtemp()
    from scanner._models import Item
    from scanner.engine import Scanner, scan_parallel

    tmp = Path(tempfile.mkdtemp())
    one, twelve = make(tmp / "one.jpg", 1), make(tmp / "twelve.jpg", 12)
    sc = Scanner(store=None)
    sc.scan(Item(kind="post", text="warm up", images=[str(one)]))  # load models
    for ocr in ("0", "1"):
        os.environ["MEDSPA_SCAN_OCR"] = ocr
        for name, path in (("1 MP", one), ("12 MP", twelve)):
            t = time.perf_counter()
            n = 3
            for _ in range(n):
                sc.scan(Item(kind="post", text="Results!", images=[str(path)]))
            print(f"{name:6s} {'with' if ocr == '1' else 'without'} OCR: {(time.perf_counter() - t) / n:.2f} s per image")
    os.environ["MEDSPA_SCAN_OCR"] = "0"
    items = [Item(id=f"i{i}", kind="post", text="Results!", images=[str(one)]) for i in range(128)]
    t = time.perf_counter()
    list(scan_parallel(sc, items, workers=os.cpu_count() or 1, chunk=8))
    print(f"batch of 128 1-MP images without OCR on {os.cpu_count()} cores: "
          f"{len(items) / (time.perf_counter() - t):.1f} images/s")


if __name__ == "__main__":
    main()
