"""Commands `check`, `batch` and `rules`: scan content from the command line and explain the rules."""
from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import logging
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from ..core.models import CHANNELS, KINDS

log = logging.getLogger(__name__)
FORMATS = ("jsonl", "json", "csv", "sarif")
MAX_LINE_BYTES = 1_000_000
# Examples shown by --help; tests/review/test_dashboard_cli.py runs each of them exactly as printed.
CHECK_EXAMPLES = """examples:
  medspa-scan check "Thanks Sarah! See you at your touch-up." --kind reply --channel google --author "Sarah K."
  medspa-scan check "New year, new glow! Book your HydraFacial today."
  echo "Your results are ready, call us to book" | medspa-scan check --kind message --channel sms --format json

exit status: 0 nothing to stop, 1 needs review or blocked, 2 usage or input error"""
BATCH_EXAMPLES = """examples:
  medspa-scan batch rules/demo/drafts.jsonl --format csv --no-progress
  head -n 3 rules/demo/drafts.jsonl | medspa-scan batch - --no-progress

a bad line is reported with its number and the others are still checked (exit status 2)"""
RULES_EXAMPLES = """examples:
  medspa-scan rules list
  medspa-scan rules explain PAT002"""


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {value!r}") from exc


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="check one text (and images)", description="Check one draft, reply or message.",
                       epilog=CHECK_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("text", nargs="?", help="the text to check ('-' or omitted: read standard input)")
    p.add_argument("--kind", default="post", choices=KINDS, help="what the text is (default: post)")
    p.add_argument("--channel", default="instagram", choices=CHANNELS, help="where it goes out (default: instagram)")
    p.add_argument("--in-reply-to", dest="in_reply_to", help="the review or comment this text answers")
    p.add_argument("--author", help="who wrote the review or comment (or the message recipient)")
    p.add_argument("--image", dest="images", action="append", default=[], metavar="PATH", help="an image (repeatable)")
    p.add_argument("--id", default="check", help="an id for the stored result")
    p.add_argument("--format", default="text", choices=("text", "json"), help="output (default: text)")
    p.add_argument("--as-of", type=_date, help="judge authorizations as of this date (default: today)")
    p.add_argument("--redact", metavar="OUT", help="write a preview of the (first) image with faces and PHI text masked")
    p.add_argument("--strip-metadata", dest="strip_metadata", metavar="OUT",
                   help="write a copy of the (first) image without EXIF/XMP/IPTC")
    p.set_defaults(handler=cmd_check)

    b = sub.add_parser("batch", help="check a JSONL file of items", epilog=BATCH_EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description='Check one JSON item per line: {"id", "kind", "channel", "text", "in_reply_to"?, '
                                   '"author"?, "images"?: [paths]}.')
    b.add_argument("file", help="JSONL input ('-' for standard input)")
    b.add_argument("--format", default="jsonl", choices=FORMATS, help="output (default: jsonl)")
    b.add_argument("-o", "--output", help="write results here instead of standard output")
    b.add_argument("--workers", type=int, default=0, help="worker processes (default: all cores for large batches)")
    b.add_argument("--as-of", type=_date, help="judge authorizations as of this date (default: today)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.set_defaults(handler=cmd_batch)

    r = sub.add_parser("rules", help="list or explain the rules", epilog=RULES_EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    rsub = r.add_subparsers(dest="rules_command", required=True, metavar="SUBCOMMAND")
    rl = rsub.add_parser("list", help="every rule with its id, category and severity")
    rl.add_argument("--format", default="text", choices=("text", "json"))
    rl.set_defaults(handler=cmd_rules_list)
    re_ = rsub.add_parser("explain", help="why a rule matters, what to write instead, its examples")
    re_.add_argument("rule_id")
    re_.set_defaults(handler=cmd_rules_explain)


# ---------------------------------------------------------------------------------------------
def _load_scanner(as_of: date | None):
    from ..core.store import Store
    from ..pipeline.engine import Scanner

    store = Store()
    return store, Scanner(store=store, as_of=as_of)


def _exit_code(verdicts: list[str]) -> int:
    return 1 if any(v != "pass" for v in verdicts) else 0


def cmd_check(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from ..core.models import Item
    from .errors import UsageError

    text = args.text
    if text is None or text == "-":
        raw = sys.stdin.buffer.read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UsageError(f"standard input is not valid UTF-8 (byte {exc.start})") from None
    if not text.strip() and not args.images:
        raise UsageError("nothing to check: the text is empty and no --image was given")
    for path in args.images:
        if not Path(path).exists():
            raise UsageError(f"--image {path}: no such file")
    try:
        item = Item(id=args.id, kind=args.kind, channel=args.channel, text=text, in_reply_to=args.in_reply_to,
                    author=args.author, images=args.images)
    except ValidationError as exc:
        raise UsageError(_validation_message(exc)) from None
    store, scanner = _load_scanner(args.as_of)
    result = scanner.scan(item)
    run = store.start_run("cli-check", rule_pack=scanner.rule_pack)
    store.save_results(run, [(item, result)], source="cli")
    store.finish_run(run, {"items": 1, result.verdict: 1})
    if args.images and (args.redact or args.strip_metadata):
        from ..image import analysis as image

        if args.redact:
            image.redact(args.images[0], args.redact, result.findings)
        if args.strip_metadata:
            image.strip_metadata(args.images[0], args.strip_metadata)
    if args.format == "json":
        print(json.dumps(result.public(), ensure_ascii=False, indent=2))
    else:
        print(render_text(item, result))
    return _exit_code([result.verdict])


def render_text(item, result) -> str:
    lines = [f"verdict: {result.verdict}  ({len(result.findings)} finding(s), rule pack {result.rule_pack})"]
    for f in result.findings:
        where = f" chars {f.start}-{f.end}" if f.start is not None else ""
        lines.append(f"\n  [{f.severity.value.upper()}] {f.rule_id} {f.category}{where} ({f.source})")
        if f.evidence:
            lines.append(f"    evidence: {f.evidence!r}")
        lines.append(f"    {f.message}")
        if f.suggestion:
            lines.append(f"    fix: {f.suggestion}")
        lines.append(f"    citation: {f.citation}")
    if result.suggested_text:
        lines.append(f"\nsuggested text:\n  {result.suggested_text}")
    return "\n".join(lines)


def _validation_message(exc) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ())) or "item"
        msg = err.get("msg", "invalid").replace("Value error, ", "")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def read_items(path: str) -> Iterator[tuple[int, Any, str | None]]:
    """Yield (line number, Item or None, error) for each non-blank line; bad lines carry an error."""
    from pydantic import ValidationError

    from ..core.models import Item

    stream = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    with stream:
        for lineno, raw in enumerate(stream, 1):
            if not raw.strip():
                continue
            if len(raw) > MAX_LINE_BYTES:
                yield lineno, None, f"line is {len(raw):,} bytes; the limit is {MAX_LINE_BYTES:,}"
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield lineno, None, f"not valid UTF-8 (byte {exc.start})"
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield lineno, None, f"not JSON ({exc.msg} at column {exc.colno})"
                continue
            if not isinstance(obj, dict):
                yield lineno, None, "not a JSON object"
                continue
            obj.setdefault("id", f"line{lineno}")
            if "text" not in obj and not obj.get("images"):
                yield lineno, None, "missing 'text'"
                continue
            try:
                yield lineno, Item(**obj), None
            except ValidationError as exc:
                yield lineno, None, _validation_message(exc)


BATCH_CHUNK = 200  # items scanned, stored (committed) and written at a time


def cmd_batch(args: argparse.Namespace) -> int:
    """Scan, store and write BATCH_CHUNK items at a time: a run that is killed keeps (in the database and in
    the output) every chunk it finished, and the next start marks it failed (Store.fail_interrupted_runs)."""
    from tqdm import tqdm

    from ..core.config import one_compute_thread
    from .errors import UsageError

    if args.file != "-" and not Path(args.file).is_file():
        raise UsageError(f"{args.file}: no such file")
    items = []
    errors = 0
    for lineno, item, err in read_items(args.file):
        if err:
            errors += 1
            print(f"medspa-scan: {args.file}:{lineno}: {err}; line skipped", file=sys.stderr)
        else:
            items.append(item)
    if not args.no_progress and items:
        print(f"medspa-scan: loading models… ({len(items)} item(s) to check)", file=sys.stderr, flush=True)
    one_compute_thread()  # the batch runs one worker per core
    store, scanner = _load_scanner(args.as_of)
    try:
        out = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"{args.output}: cannot be written ({exc.strerror})") from None
    run = store.start_run("cli-batch", rule_pack=scanner.rule_pack)
    counts: dict[str, Any] = {"items": 0, "bad_lines": errors}
    verdicts: list[str] = []
    bar = tqdm(total=len(items), unit="item", file=sys.stderr, disable=args.no_progress or not items,
               desc="scanning", mininterval=0.5)
    from ..pipeline.engine import scan_parallel

    scanned = scan_parallel(scanner, items, workers=args.workers)  # one pool for the whole batch, started lazily
    try:
        writer = ResultWriter(out, args.format, scanner, args.file)
        for start in range(0, len(items), BATCH_CHUNK):
            chunk = items[start:start + BATCH_CHUNK]
            results = []
            for res in itertools.islice(scanned, len(chunk)):
                results.append(res)
                bar.update(1)
            store.save_results(run, list(zip(chunk, results, strict=True)), source="cli")
            writer.write(results)
            counts["items"] += len(results)
            for r in results:
                counts[r.verdict] = counts.get(r.verdict, 0) + 1
                verdicts.append(r.verdict)
        writer.close()
    except BaseException:
        store.finish_run(run, {**counts, "error": "stopped before the end"}, status="failed")
        raise
    finally:
        scanned.close()  # stops the workers if the batch ended early
        bar.close()
        if args.output:
            out.close()
    store.finish_run(run, counts)
    print(f"medspa-scan: {counts['items']} scanned: {counts.get('block', 0)} block, {counts.get('review', 0)} "
          f"review, {counts.get('pass', 0)} pass; {errors} bad line(s)", file=sys.stderr)
    if errors:
        return 2
    return _exit_code(verdicts)


CSV_HEADER = ["id", "verdict", "rule_id", "category", "severity", "start", "end", "source", "evidence", "message",
              "citation", "suggested_text"]


class ResultWriter:
    """Writes results as they come (jsonl, csv, a json array) and flushes after each write; SARIF is one
    document, written by `close` (the results are in the database as they come either way)."""

    def __init__(self, out: Any, fmt: str, scanner: Any, source: str):
        self.out, self.fmt, self.scanner, self.source = out, fmt, scanner, source
        self.n = 0
        self.kept: list = []
        if fmt == "csv":
            self._csv_rows([CSV_HEADER])

    def _csv_rows(self, rows: list[list[Any]]) -> None:
        buf = io.StringIO()
        csv.writer(buf).writerows(rows)
        self.out.write(buf.getvalue())

    def write(self, results: list) -> None:
        if self.fmt == "jsonl":
            self.out.write("".join(json.dumps(r.public(), ensure_ascii=False) + "\n" for r in results))
        elif self.fmt == "json":
            for r in results:
                body = "\n".join("  " + line for line in json.dumps(r.public(), ensure_ascii=False, indent=2).splitlines())
                self.out.write(("[\n" if self.n == 0 else ",\n") + body)
                self.n += 1
        elif self.fmt == "csv":
            self._csv_rows([row for r in results for row in csv_rows(r)])
        else:
            self.kept.extend(results)
        self.out.flush()

    def close(self) -> None:
        if self.fmt == "json":
            self.out.write("[]\n" if self.n == 0 else "\n]\n")
        elif self.fmt == "sarif":
            self.out.write(json.dumps(to_sarif(self.kept, self.scanner, self.source), ensure_ascii=False, indent=2) + "\n")
        self.out.flush()


def csv_rows(r: Any) -> list[list[Any]]:
    """The CSV rows of one result: one per finding, or one without a finding."""
    from ..core.csv_cells import csv_cell  # no cell a spreadsheet would run as a formula

    if not r.findings:
        return [[csv_cell(r.id), r.verdict, "", "", "", "", "", "", "", "", "", ""]]
    return [[csv_cell(v) for v in (r.id, r.verdict, f.rule_id, f.category, f.severity.value, f.start, f.end, f.source,
                                   f.evidence, f.message, f.citation, r.suggested_text or "")] for f in r.findings]


def format_results(results: list, fmt: str, scanner, source: str) -> str:
    """All results in one string, as `batch` writes them."""
    buf = io.StringIO()
    writer = ResultWriter(buf, fmt, scanner, source)
    writer.write(results)
    writer.close()
    return buf.getvalue()


SARIF_LEVEL = {"high": "error", "medium": "warning", "low": "note", "info": "none"}


def to_sarif(results: list, scanner, source: str) -> dict[str, Any]:
    from ..core.scrub import scrub  # a file name that is not UTF-8 must not break the output

    rules = [{
        "id": r.id, "name": r.title or r.id, "shortDescription": {"text": r.message},
        "fullDescription": {"text": r.rationale}, "help": {"text": f"{r.remediation}\nCitation: {r.citation}"},
        "properties": {"category": r.category, "severity": r.severity},
        "defaultConfiguration": {"level": SARIF_LEVEL[r.severity]},
    } for r in scanner.rules.rules]
    out = []
    for res in results:
        for f in res.findings:
            loc: dict[str, Any] = {"physicalLocation": {"artifactLocation": {"uri": scrub(source)}},
                                   "logicalLocations": [{"name": res.id, "kind": "item"}]}
            if f.start is not None and f.end is not None:
                loc["physicalLocation"]["region"] = {"charOffset": f.start, "charLength": f.end - f.start}
            out.append({"ruleId": f.rule_id, "level": SARIF_LEVEL[f.severity.value],
                        "message": {"text": f.message}, "locations": [loc],
                        "properties": {"category": f.category, "itemId": res.id, "verdict": res.verdict,
                                       "source": f.source}})
    return {"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
            "runs": [{"tool": {"driver": {"name": "medspa-scan", "version": scanner.rule_pack,
                                          "informationUri": "https://github.com/medspa-scan", "rules": rules}},
                      "results": out}]}


# ---------------------------------------------------------------------------------------------
def cmd_rules_list(args: argparse.Namespace) -> int:
    from ..text.rule_loader import load_rule_pack

    pack = load_rule_pack()
    if args.format == "json":
        print(json.dumps({"version": pack.version, "rules": [
            {k: v for k, v in r.meta().items() if k != "examples"} for r in pack.rules]}, indent=2))
        return 0
    print(f"rule pack {pack.version}: {len(pack.rules)} rules")
    for r in pack.rules:
        print(f"  {r.id:7s} {r.severity:6s} {r.category:26s} {r.title or r.message}")
    return 0


def cmd_rules_explain(args: argparse.Namespace) -> int:
    from ..text.rule_loader import load_rule_pack
    from .errors import UsageError

    pack = load_rule_pack()
    r = pack.get(args.rule_id.upper())
    if r is None:
        raise UsageError(f"no rule {args.rule_id!r}; see 'medspa-scan rules list'")
    print(explain_text(r))
    return 0


def _example_text(ex: Any) -> str:
    if isinstance(ex, str):
        return ex
    extra = f" [{ex.get('kind', 'post')}]"
    if ex.get("in_reply_to"):
        extra += f" (in reply to: {ex['in_reply_to']!r})"
    return f"{ex['text']!r}{extra}"


def explain_text(r) -> str:
    lines = [f"{r.id}  {r.title}", f"category: {r.category}   severity: {r.severity}   applies to: {', '.join(r.kinds)}",
             "", f"What it finds: {r.message}", f"Why it matters: {r.rationale}", f"Write instead: {r.remediation}",
             f"Citation: {r.citation}", "", "Fires on:"]
    lines += [f"  - {_example_text(e)}" for e in r.examples.get("fire", [])]
    lines.append("Stays silent on:")
    lines += [f"  - {_example_text(e)}" for e in r.examples.get("silent", [])]
    return "\n".join(lines)
