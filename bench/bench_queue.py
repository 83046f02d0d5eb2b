"""The review queue at a chain's size: 10,000 open items in the store, read and decided through the functions
the dashboard's queue view calls (scanner.review.queue): the menu badge (`counts`), the first page
(`queue_rows` with the view's default filters and sort, highest risk first), the filters (channel, problem,
severity, source), the other two sorts (each picks its own page), opening one item (`get_item`), and one bulk approval of 100 items
(`decide_many`, one transaction with its audit entries).

The items are the labeled drafts in tests/data/ (the ones the scanner flags), scanned for real once, then
stored again and again under new ids, spread over channels, sources and the last 60 days, as a chain's
queue fills. Times are the median of 5 warm calls (the first, cold call is printed too).

    .venv/bin/python bench/bench_queue.py [--items 10000]

The store is a SQLite file in a temporary home, or the database MEDSPA_SCAN_DB names.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DRAFTS = [ROOT / "tests" / "data" / "generalization.jsonl", ROOT / "tests" / "data" / "generalization_wording.jsonl"]
SOURCES = ("api", "api", "crawl", "crawl", "dashboard")  # the reply gate and the crawl fill most of it
RISK = {"block": 2, "review": 1, "pass": 0}  # the view's risk order (dashboard/views/queue.py)


def timed(fn: Callable[[], Any], runs: int = 5) -> tuple[float, float, Any]:
    """(first call ms, median of RUNS more ms, the last answer)."""
    t = time.perf_counter()
    out = fn()
    first = (time.perf_counter() - t) * 1000
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t) * 1000)
    return first, statistics.median(times), out


def fill(store: Any, n: int) -> None:
    """N open items: the flagged drafts, scanned once, stored under new ids over channels, sources and days."""
    from sqlalchemy import update

    from scanner import Item, Scanner
    from scanner.core.models import CHANNELS
    from scanner.core.store import StoredItem

    drafts = [json.loads(line) for p in DRAFTS for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    items = [Item(id=d["id"], kind=d["kind"], channel=d["channel"], text=d["text"], in_reply_to=d.get("in_reply_to"),
                  author=d.get("author")) for d in drafts]
    t = time.perf_counter()
    flagged = [(it, r) for it, r in zip(items, Scanner(store=store).scan_many(items), strict=True) if r.verdict != "pass"]
    print(f"scanned {len(items)} labeled drafts in {time.perf_counter() - t:.1f} s: {len(flagged)} flagged "
          f"({sum(r.verdict == 'block' for _, r in flagged)} block), stored {n:,} times over", flush=True)
    t = time.perf_counter()
    now = datetime.now(UTC).replace(tzinfo=None)
    for src_i, source in enumerate(dict.fromkeys(SOURCES)):
        share = [i for i in range(n) if SOURCES[i % len(SOURCES)] == source]
        run = store.start_run(source, actor="bench")
        pairs = [(flagged[i % len(flagged)][0].model_copy(update={
                    "id": f"q{i}", "channel": CHANNELS[(i + src_i) % len(CHANNELS)]}), flagged[i % len(flagged)][1])
                 for i in share]
        ids = store.save_results(run, pairs, source=source, submitted_by="bench")
        with store.session() as s:  # spread over the last 60 days, older first (ids grow with time)
            for pk, i in zip(ids, share, strict=True):
                s.execute(update(StoredItem).where(StoredItem.id == pk)
                          .values(created_at=now - timedelta(minutes=int((n - i) * 60 * 24 * 60 / n))))
        store.finish_run(run, {"items": len(pairs)})
    print(f"stored {n:,} open items in {time.perf_counter() - t:.1f} s", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=10_000)
    args = ap.parse_args()
    if "MEDSPA_SCAN_HOME" not in os.environ:
        os.environ["MEDSPA_SCAN_HOME"] = tempfile.mkdtemp(prefix="medspa-bench-queue-")
    from scanner import Store
    from scanner.review import queue as review

    store = Store()
    fill(store, args.items)
    today = date.today()
    view = {"since": today - timedelta(days=90), "until": today, "status": "open"}  # the view's defaults

    def first_page() -> list[dict[str, Any]]:  # the view's default sort: highest risk first
        rows = review.queue_rows(store, **view, order="risk")
        rows.sort(key=lambda it: (-RISK.get(it["effective_verdict"], 0),
                                  -sum(1 for f in it["findings"] if not f["waived"]), it["submitted_at"]))
        return rows

    badge = timed(lambda: sum(review.counts(store).values()))
    page = timed(first_page)
    print(f"\n{badge[2]:,} open items; the view shows a page of at most {review.QUEUE_LIMIT}, chosen by its sort")
    print(f"  menu badge (counts)                      {badge[1]:7.1f} ms   (first call {badge[0]:.1f} ms)")
    print(f"  first page: {len(page[2])} rows, risk-sorted        {page[1]:7.1f} ms   (first call {page[0]:.1f} ms)")
    for label, kw in (("filter channel = instagram", {"channel": "instagram"}),
                      ("filter problem = patient_identifier", {"category": "patient_identifier"}),
                      ("filter severity = high", {"severity": "high"}),
                      ("filter source = crawl, last 7 days", {"source": "crawl", "since": today - timedelta(days=7)})):
        first, med, rows = timed(lambda kw=kw: review.queue_rows(store, **{**view, **kw}, order="risk"))
        print(f"  {label:<38} {med:7.1f} ms   ({len(rows)} rows; first call {first:.1f} ms)")
    for order in ("oldest", "newest"):
        def sorted_page(order: str = order) -> list[dict[str, Any]]:
            return sorted(review.queue_rows(store, **view, order=order), key=lambda it: it["submitted_at"],
                          reverse=order == "newest")
        first, med, rows = timed(sorted_page)
        print(f"  {'sort ' + order + ' first':<38} {med:7.1f} ms   ({len(rows)} rows; first call {first:.1f} ms)")
    rows = page[2]
    _, med, _ = timed(lambda: review.get_item(store, rows[0]["pk"]))
    print(f"  open one item (get_item)                 {med:7.1f} ms")
    times = []
    for _ in range(3):  # each time the newest 100 still open
        pks = [r["pk"] for r in review.queue_rows(store, **view)[:100]]
        t = time.perf_counter()
        done, errors = review.decide_many(store, pks, "approve", "bench", "bench: approved in bulk")
        times.append((time.perf_counter() - t) * 1000)
        if len(done) != 100 or errors:
            print(f"bulk approval decided {len(done)} of 100: {errors[:3]}")
            return 1
    print(f"  bulk approve 100 (decide_many)           {statistics.median(times):7.1f} ms   "
          f"(median of 3: {', '.join(f'{x:.0f}' for x in times)} ms)")
    left = sum(review.counts(store).values())
    print(f"  open items left: {left:,}")
    return 0 if left == badge[2] - 300 else 1


if __name__ == "__main__":
    sys.exit(main())
