"""Dashboard benchmark: a real `medspa-scan dashboard` driven by Debian's chromium (Playwright).

Prints: server start to healthy (demo seeding included), the first check (models may still be loading),
click "Check" to verdict for a 300-character reply with warm models (median, p90, max over 20 checks), the
server-side share of that (scan + store, in process), the time to open the review queue with 300+ open
items and to approve 60 of them in one action. Reuses the browser test's helpers
(tests/review/test_dashboard_browser.py).

Run: .venv/bin/python bench/bench_dashboard.py [--checks 20] [--queue-items 300]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.review.test_dashboard_browser import (  # noqa: E402
    BULK,
    CHROMIUM,
    NAMES,
    VIOLATING,
    approve_all_shown,
    browser_page,
    check,
    fill_queue,
    log_in,
    open_queue,
    reply_300,
    running_dashboard,
    select,
)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def server_side(home: Path, runs: int) -> list[float]:
    """review.precheck (scan + store) in this process, warm, for the same 300-character replies."""
    os.environ["MEDSPA_SCAN_HOME"] = str(home)
    from scanner import Item, Scanner, Store
    from scanner.review import queue as review

    store = Store()
    scanner = Scanner(store=store)
    review.precheck(scanner, store, Item(id="warm", kind="reply", channel="google", text=VIOLATING), "bench")
    out = []
    for i in range(runs):
        item = Item(id=review.new_precheck_id(), kind="reply", channel="google", text=reply_300(NAMES[i % len(NAMES)]))
        t = time.perf_counter()
        review.precheck(scanner, store, item, "bench")
        out.append(time.perf_counter() - t)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checks", type=int, default=20)
    ap.add_argument("--queue-items", type=int, default=300)
    args = ap.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"skipped: {CHROMIUM} is not installed (apt-get install chromium)")
        return 0
    from playwright.sync_api import expect

    home = Path(tempfile.mkdtemp(prefix="bench-dash-"))
    t0 = time.perf_counter()
    with running_dashboard(home) as (url, _):
        started = time.perf_counter() - t0
        print(f"server start to healthy (empty store, demo seeded): {started:.1f} s")
        with browser_page() as page:
            log_in(page, url, "manager", "demo-compliance")
            first = check(page, VIOLATING, "Sarah", "Sarah K.")
            print(f"first check after log-in (models loading in the background since the log-in page): {first:.2f} s")
            times = [check(page, reply_300(NAMES[i % len(NAMES)]), NAMES[i % len(NAMES)], "")
                     for i in range(args.checks)]
            print(f"click 'Check' -> verdict, 300-character reply, warm: median {statistics.median(times):.2f} s, "
                  f"p90 {pct(times, 0.9):.2f} s, max {max(times):.2f} s ({len(times)} checks)")
            fill_queue(home, BULK, channel="tiktok", source="cli")
            fill_queue(home, max(0, args.queue_items - BULK), channel="google", source="api")
            page.get_by_role("link", name="Pre-check").click()
            opened = open_queue(page)
            shown = page.get_by_text("item(s)", exact=False).first.inner_text().split(" ")[0]
            print(f"open the review queue with {shown} open items (table of all of them): {opened:.2f} s")
            select(page, "Source", "command line")
            select(page, "Channel", "tiktok")
            expect(page.get_by_text(f"{BULK} item(s)", exact=False)).to_be_visible(timeout=60_000)
            took = approve_all_shown(page, BULK, "bench: archived")
            print(f"approve {BULK} items in one action (click to done): {took:.2f} s")
    side = server_side(home, args.checks)
    print(f"server side of a check (scan + store), 300 characters: median {statistics.median(side) * 1000:.0f} ms, "
          f"max {max(side) * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
