"""The README's main command (`make run`): seed the embedded SQLite store with demo data, scan the
demo drafts, print what was found and, when the dashboard is installed, start it.

Idempotent: an existing demo store is reused (the registry is upserted, the drafts scanned again).
"""
from __future__ import annotations

import json
import os
import sys

from . import config


def seed_and_scan() -> list:
    from ._models import Item
    from .engine import Scanner
    from .registry import Registry
    from .store import Store

    demo = config.rules_dir() / "demo"
    store = Store()
    Registry.import_csv(store, demo / "registry.csv", actor="demo")
    items = [Item(**json.loads(line)) for line in (demo / "drafts.jsonl").read_text(encoding="utf-8").splitlines()
             if line.strip()]
    scanner = Scanner(store=store)
    run = store.start_run("demo", actor="demo", rule_pack=scanner.rule_pack)
    results = list(scanner.scan_many(items))
    store.save_results(run, list(zip(items, results, strict=True)), source="cli", submitted_by="demo")
    counts: dict[str, int] = {}
    for r in results:
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    store.finish_run(run, {"items": len(items), **counts})
    return list(zip(items, results, strict=True))


def main() -> int:
    pairs = seed_and_scan()
    print(f"Demo data in {config.home()} (SQLite: {config.database_url()})\n")
    for item, res in pairs:
        cats = sorted({f.category for f in res.findings if f.severity.value in ("high", "medium")})
        print(f"  {res.verdict:6s} {item.id:8s} [{item.kind}/{item.channel}] {', '.join(cats) or '-'}")
    print("\nTry: medspa-scan rules explain PAT002   |   medspa-scan check \"...\" --kind reply")
    app = config.PROJECT_ROOT / "dashboard" / "app.py"
    if app.exists() and os.environ.get("MEDSPA_SCAN_NO_DASHBOARD") != "1":
        from ._cli_dashboard import ensure_demo_users, launch

        return launch(host=os.environ.get("MEDSPA_SCAN_HOST", "127.0.0.1"),
                      port=int(os.environ.get("MEDSPA_SCAN_PORT", "8501")), created=ensure_demo_users())
    return 0


if __name__ == "__main__":
    sys.exit(main())
