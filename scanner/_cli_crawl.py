"""Commands `crawl` (weekly scan of published content) and `report` (HTML and CSV for a run)."""
from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("crawl", help="scan what is already published (sources.yaml)")
    c.add_argument("--config", required=True, help="sources.yaml")
    c.add_argument("--since", help="only items published in this window, e.g. 7d, 24h, 2w")
    c.add_argument("--format", choices=("summary", "jsonl"), default="summary",
                   help="jsonl: one output item per scanned published item on stdout")
    c.add_argument("--report-dir", help="also write the weekly report (HTML and CSV) here")
    c.add_argument("--concurrency", type=int, default=4)
    c.add_argument("--timeout", type=float, default=15.0, help="seconds per request")
    c.add_argument("--no-progress", action="store_true")
    c.set_defaults(handler=cmd_crawl)
    r = sub.add_parser("report", help="write the weekly report for a crawl run")
    r.add_argument("--run", type=int, required=True)
    r.add_argument("--out", required=True, help="folder for the HTML and CSV")
    r.set_defaults(handler=cmd_report)


def cmd_crawl(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .cli import UsageError
    from .crawl import ConfigError, crawl, load_config, parse_since
    from .engine import Scanner
    from .store import Store

    try:
        since = parse_since(args.since)
        load_config(args.config)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    store = Store()
    scanner = Scanner(store=store)
    bar = tqdm(total=0, unit="item", file=sys.stderr, desc="scanning", disable=args.no_progress)

    def total(n: int) -> None:
        bar.total = n
        bar.refresh()

    res = crawl(args.config, scanner, store, since=since, concurrency=args.concurrency, timeout=args.timeout,
                progress=bar.update, on_total=total)
    bar.close()
    if args.format == "jsonl":
        for _, r in res.scanned:
            sys.stdout.write(json.dumps(r.public(), ensure_ascii=False) + "\n")
    cats = ", ".join(f"{k} {v}" for k, v in sorted(res.by_category.items())) or "none"
    summary = (f"crawl run {res.run_id}: {res.fetched} fetched, {res.new_or_changed} new or changed, "
               f"{res.unchanged} unchanged, {len(res.scanned)} scanned, {res.removed} removed since earlier crawls; "
               f"findings by category: {cats}; sources failed: "
               + (", ".join(f"{k} ({v})" for k, v in res.failed.items()) or "none"))
    print(summary, file=sys.stderr if args.format == "jsonl" else sys.stdout)
    if args.report_dir:
        from .report import write_report

        h, c = write_report(store, res.run_id, args.report_dir)
        print(f"report: {h} and {c}", file=sys.stderr)
    return 1 if any(r.verdict != "pass" for _, r in res.scanned) else 0


def cmd_report(args: argparse.Namespace) -> int:
    from .cli import UsageError
    from .report import write_report
    from .store import Store

    try:
        h, c = write_report(Store(), args.run, args.out)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote {h} and {c}")
    return 0
