"""The README's main command (`make run`, `python -m scanner.demo`): on an empty store, seed the demo data
(review/demo_data.py) and print what was found, then start the review dashboard and print its address and
the demo logins. Set MEDSPA_SCAN_NO_DASHBOARD=1 to seed and print without starting the dashboard.
"""
from __future__ import annotations

import os
import sys

from .core import config
from .review.demo_data import NotEmpty, print_summary, seed_if_empty


def main() -> int:
    from .core.store import Store

    config.private_umask()

    try:
        pairs = seed_if_empty(Store())
    except NotEmpty as exc:
        print(f"medspa-scan demo: {exc}", file=sys.stderr)
        return 2
    if pairs is not None:
        print_summary(pairs)
    else:
        print(f"Using the existing data in {config.home()}.", flush=True)
    if os.environ.get("MEDSPA_SCAN_NO_DASHBOARD") == "1":
        return 0
    from .cli.dashboard import launch

    return launch(host=os.environ.get("MEDSPA_SCAN_HOST", "127.0.0.1"),
                  port=int(os.environ.get("MEDSPA_SCAN_PORT", "8501")))


if __name__ == "__main__":
    sys.exit(main())
