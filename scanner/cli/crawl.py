"""Commands `crawl` (the weekly scan of published content, sources.yaml) and `report` (the weekly HTML and
CSV report of a crawl run). Exit codes: 0 nothing to act on; 1 published items that need review or
removal, or a source that could not be read; 2 a usage or config error (the message names the key)."""
from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("crawl", help="scan what is already published (sources listed in sources.yaml)",
                       description="Fetch the spa's published posts, captions, comment replies and review "
                                   "replies, scan what is new or changed, store the run and print a summary.")
    c.add_argument("--config", required=True, metavar="sources.yaml", help="the sources to crawl")
    c.add_argument("--since", metavar="WINDOW",
                   help="only items published in this window, e.g. 7d, 24h, 2w (default: everything listed)")
    c.add_argument("--format", choices=("text", "jsonl"), default="text",
                   help="jsonl: one DESIGN.md output item per scanned item on stdout (summary on stderr)")
    c.add_argument("--report-dir", metavar="DIR", help="also write the weekly report (HTML and CSV) here")
    c.add_argument("--concurrency", type=int, default=4, metavar="N",
                   help="requests in flight at once, across all sources (default 4)")
    c.add_argument("--timeout", type=float, default=20.0, metavar="SECONDS",
                   help="per request, unless a source sets its own (default 20)")
    c.add_argument("--full", action="store_true", help="scan everything again, changed or not")
    c.add_argument("--no-progress", action="store_true", help="no progress bar (for cron and logs)")
    c.set_defaults(handler=cmd_crawl)
    r = sub.add_parser("report", help="write the weekly report (HTML and CSV) of a crawl run")
    r.add_argument("--run", required=True, metavar="ID", help="a crawl run id, or 'latest'")
    r.add_argument("--out", required=True, metavar="DIR", help="folder for the HTML and CSV files")
    r.set_defaults(handler=cmd_report)


class _Bar:
    """tqdm on stderr, one bar per phase; thread-safe (sources report items from several threads)."""

    def __init__(self, disabled: bool):
        self.disabled = disabled
        self.bar: Any = None
        self.lock = threading.Lock()

    def phase(self, name: str, total: int | None) -> None:
        from tqdm import tqdm

        with self.lock:
            if self.bar is not None:
                self.bar.close()
            tqdm.monitor_interval = 0  # no monitor thread (scans fork worker processes)
            self.bar = tqdm(total=total, desc=name, unit="item", file=sys.stderr, disable=self.disabled,
                            mininterval=0.2 if sys.stderr.isatty() else 5.0, dynamic_ncols=True)

    def advance(self, n: int = 1) -> None:
        with self.lock:
            if self.bar is not None:
                self.bar.update(n)

    def close(self) -> None:
        with self.lock:
            if self.bar is not None:
                self.bar.close()
                self.bar = None


def cmd_crawl(args: argparse.Namespace) -> int:
    from ..crawl.config import ConfigError, load_config, parse_since
    from ..crawl.run import crawl
    from .errors import UsageError

    if args.concurrency < 1 or args.concurrency > 64:
        raise UsageError("--concurrency must be between 1 and 64")
    if args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    try:
        since = parse_since(args.since)
        cfg = load_config(args.config)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None

    from ..core.config import one_compute_thread
    from ..core.store import Store
    from ..pipeline.engine import Scanner

    one_compute_thread()  # the scan runs one worker per core
    store = Store()
    scanner = Scanner(store=store)
    bar = _Bar(disabled=args.no_progress)
    try:
        res = crawl(cfg, scanner, store, since=since, concurrency=args.concurrency, timeout=args.timeout,
                    full=args.full, progress=bar)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    finally:
        bar.close()
    if args.format == "jsonl":
        out = sys.stdout
        for _, r in res.scanned:
            out.write(json.dumps(r.public(), ensure_ascii=False) + "\n")
        out.flush()
    print(res.summary(), file=sys.stderr if args.format == "jsonl" else sys.stdout)
    if args.report_dir:
        from ..crawl.report import write_report

        html_path, csv_path = write_report(store, res.run_id, args.report_dir)
        print(f"report: {html_path} and {csv_path}", file=sys.stderr)
    return 1 if res.problems or res.failed or res.scan_errors else 0


def cmd_report(args: argparse.Namespace) -> int:
    from ..core.store import Store
    from ..crawl.report import ReportError, latest_crawl_run, write_report
    from .errors import UsageError

    store = Store()
    if str(args.run).lower() == "latest":
        run_id = latest_crawl_run(store)
        if run_id is None:
            raise UsageError("--run latest: no crawl has run yet (medspa-scan crawl --config sources.yaml)")
    else:
        try:
            run_id = int(args.run)
        except ValueError:
            raise UsageError(f"--run: expected a run id or 'latest', got {args.run!r}") from None
    try:
        html_path, csv_path = write_report(store, run_id, args.out)
    except ReportError as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote {html_path} and {csv_path}")
    return 0
