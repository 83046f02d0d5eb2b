"""Text length benchmark: seconds to scan one item of 1k, 10k and 100k characters (should grow linearly).

The text is the hardening issue's worst case, many proper-noun pairs on one line
("Thanks Sarah Jones and Mike Brown! " repeated), plus a prose mix for comparison. Sarah Jones is in
the registry (authorized for testimonials only), so the registry look-ups run on every mention.

Run: .venv/bin/python bench/bench_text_length.py [--sizes 1000,10000,100000] [--budget SECONDS]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PATTERNS = {
    "name pairs": "Thanks Sarah Jones and Mike Brown! ",
    "prose": "So glad you loved your lip filler, Amy! Dr. Lee says hi. Call 662-555-0100 to book a touch-up.\n",
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--budget", type=float, default=0.0, help="per-item budget in seconds (0: none)")
    args = ap.parse_args()
    os.environ.setdefault("MEDSPA_SCAN_HOME", tempfile.mkdtemp())
    os.environ["MEDSPA_SCAN_ITEM_BUDGET"] = str(args.budget)
    from scanner import Item, Registry, Scanner, Store

    home = Path(os.environ["MEDSPA_SCAN_HOME"])
    store = Store(f"sqlite:///{home / 'bench.db'}")
    csv = home / "consents.csv"
    csv.write_text("patient_id,full_name,aliases,social_handles,purposes,channels,signed_on,expires_on,revoked_on,photo\n"
                   "P1,Sarah Jones,,,testimonial,all,2024-01-01,,,\n", encoding="utf-8")
    Registry.import_csv(store, csv, actor="bench")
    scanner = Scanner(store=store)
    scanner.scan(Item(text="warm up, Amy"))
    sizes = [int(s) for s in args.sizes.split(",")]
    for label, unit in PATTERNS.items():
        prev = None
        for n in sizes:
            text = (unit * (n // len(unit) + 1))[:n]
            t = time.perf_counter()
            res = scanner.scan(Item(id="len", kind="post", channel="facebook", text=text))
            dt = time.perf_counter() - t
            growth = f"  x{dt / prev:.1f} for x{n / sizes[sizes.index(n) - 1]:.1f} text" if prev else ""
            print(f"{label:>10}: {n:>7,} chars {dt:7.2f} s  verdict {res.verdict:<6} "
                  f"{len(res.findings):>5} findings{growth}")
            prev = dt


if __name__ == "__main__":
    main()
