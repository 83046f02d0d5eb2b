"""The `medspa-scan` command line: check, batch and rules here; feature modules add their own commands.

Exit codes, as linters do: 0 nothing to stop, 1 findings that need review or block, 2 usage or input error.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from .errors import UsageError

log = logging.getLogger("medspa_scan")

# Each feature module exposes `register(subparsers)`; its handlers import heavy modules lazily.
FEATURE_MODULES = (
    "scanner.cli.scan",
    "scanner.cli.registry",
    "scanner.cli.crawl",
    "scanner.cli.serve",
    "scanner.cli.dashboard",
)


EPILOG = """examples (each command has its own --help with more):
  medspa-scan check "Thanks Sarah! See you at your touch-up." --kind reply --channel google
  medspa-scan rules explain PAT002

data: $MEDSPA_SCAN_HOME (default ~/.local/share/medspa-scan); `make run` uses ./.demo-home"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medspa-scan",
        description="Checks med-spa posts, review replies, images and messages for patient information.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details (never PHI)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in FEATURE_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from ..core.config import private_umask

    private_umask()  # the data it writes (database, reports, uploads, keys) is PHI: owner only
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    try:
        return int(args.handler(args) or 0)
    except UsageError as exc:
        print(f"medspa-scan: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("medspa-scan: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # no traceback (it could carry PHI); the type and the command only
        if os.environ.get("MEDSPA_SCAN_DEBUG"):  # developer mode: the traceback may quote content
            raise
        from ..core import config
        from ..core.sqlite_file import describe

        if (db_problem := describe(exc, config.database_url())) is not None:  # corrupt, read-only, busy
            print(f"medspa-scan: error: {db_problem}", file=sys.stderr)
            return 2
        print(
            f"medspa-scan: internal error ({type(exc).__name__}) in '{args.command}'; "
            "rerun with -v and report it. No content was printed.",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
