"""Demo data for `make run` / `python -m scanner.demo` and `medspa-scan dashboard --demo`: on an empty store,
seed demo users, the demo registry from rules/demo/registry.csv, the demo drafts in rules/demo/drafts.jsonl
(scanned and stored as a reply-gate batch), submitted pre-checks and a published-content crawl; print what
was found and the demo logins that still work.

Demo data only ever goes into an empty store (no row in any table): a store that already has users is
left alone (the dashboard starts on it as it is), and a real store without users (a registry imported,
API keys created) is refused, so it never gets demo patients or default passwords.
"""
from __future__ import annotations

import json
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from ..core import config

# Demo logins, printed while they still work. Real users: `medspa-scan users add NAME --role ROLE`.
DEMO_USERS = (("manager", "demo-compliance", "compliance"), ("marketer", "demo-marketing", "marketing"),
              ("admin", "demo-admin-pass", "admin"))


def _source(item: Any) -> str:
    """Where a demo item pretends to come from: published pages and replies were crawled, other replies
    and comments went through the reply gate (API), posts and messages are dashboard pre-checks."""
    if item.permalink:
        return "crawl"
    return "api" if item.kind in ("reply", "comment") else "dashboard"


def load_drafts() -> list[Any]:
    from ..core.models import Item

    path = config.rules_dir() / "demo" / "drafts.jsonl"
    items = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                items.append(Item(**json.loads(line)))
            except (ValueError, TypeError) as exc:
                raise SystemExit(f"{path.name} line {lineno}: {exc}") from None
    return items


def seed(store: Any) -> list[tuple[Any, Any]]:
    """Demo registry, users and scanned demo items (one run per source). Returns (item, result) pairs."""
    from ..pipeline.engine import Scanner
    from ..registry.authorizations import Registry
    from . import accounts
    from . import queue as review

    demo = config.rules_dir() / "demo"
    Registry.import_csv(store, demo / "registry.csv", actor="demo")
    for name, password, role in DEMO_USERS:
        accounts.add_user(store, name, password, role, actor="demo")
    items = load_drafts()
    scanner = Scanner(store=store)
    pairs = list(zip(items, scanner.scan_many(items), strict=True))
    for source, actor in (("api", "reply-gate-demo"), ("crawl", "weekly-crawl"), ("dashboard", "marketer")):
        group = [(i, r) for i, r in pairs if _source(i) == source]
        if not group:
            continue
        run = store.start_run(source, actor=actor, rule_pack=scanner.rule_pack)
        pks = store.save_results(run, group, source=source, submitted_by=actor)
        tally: dict[str, int] = {"items": len(group)}
        for _, r in group:
            tally[r.verdict] = tally.get(r.verdict, 0) + 1
        store.finish_run(run, tally)
        if source == "dashboard":  # pre-checks: drafts the marketer submitted for approval
            from ..core.store import StoredItem

            with store.session() as s:
                for pk in pks:
                    row = s.get(StoredItem, pk)
                    if row is not None:
                        row.review_status = "draft"
            for pk, (_, r) in zip(pks, group, strict=True):
                if r.verdict != "pass":
                    review.submit(store, pk, actor, "demo draft")
    return pairs


class NotEmpty(RuntimeError):
    """The store holds real data (but no users): demo data and demo passwords are never added to it."""


def is_empty(store: Any) -> bool:
    """True when no table of the store has a single row (a brand-new data home)."""
    from sqlalchemy import select

    from ..core.store import Base

    with store.session() as s:
        return all(s.execute(select(1).select_from(t).limit(1)).first() is None
                   for t in Base.metadata.sorted_tables)


def seed_if_empty(store: Any = None) -> list[tuple[Any, Any]] | None:
    """Seed a brand-new store; None when it already has users (left alone). Raises NotEmpty for a store
    with data but no users: that is a real store whose first admin is still to be added."""
    from ..core.store import Store
    from . import accounts

    store = store or Store()
    if accounts.count(store):
        return None
    if not is_empty(store):
        raise NotEmpty(f"the data in {config.home()} is not a demo store (it has data but no users); demo data "
                       "is only added to an empty folder. Add the first admin with: "
                       "medspa-scan users add NAME --role admin")
    return seed(store)


def working_demo_logins(store: Any) -> list[tuple[str, str, str]]:
    """The demo logins whose passwords were not changed (these are the ones worth printing)."""
    from . import accounts

    return [(n, p, r) for n, p, r in DEMO_USERS if accounts.password_matches(store, n, p)]


def print_summary(pairs: list[tuple[Any, Any]]) -> None:
    print(f"Demo data in {config.home()}:\n")
    for item, res in pairs:
        cats = sorted({f.category for f in res.findings if f.severity.value in ("high", "medium")})
        print(f"  {res.verdict:6s} {item.id:8s} [{item.kind}/{item.channel}, {_source(item)}] "
              f"{', '.join(cats) or '-'}")
    print("\n" + try_lines(), flush=True)


def command() -> str:
    """How to run medspa-scan from here, as a user would type it: the checkout's venv when there is one."""
    venv = Path.cwd() / ".venv" / "bin" / "medspa-scan"
    if venv.is_file():
        return ".venv/bin/medspa-scan"
    return "medspa-scan" if shutil.which("medspa-scan") else f"{sys.executable} -m scanner"


def try_lines() -> str:
    """Commands that work as printed and write into the same data folder as this dashboard."""
    exe = command()
    home = config.home()
    try:
        shown = f"./{home.relative_to(Path.cwd())}"
    except ValueError:
        shown = str(home)
    return ("Try, in another terminal in this folder (same data as the dashboard):\n"
            f"  export MEDSPA_SCAN_HOME={shlex.quote(shown)}\n"
            f"  {exe} rules explain PAT002\n"
            f"  {exe} check \"Thanks Sarah! See you at your touch-up.\" --kind reply --channel google\n"
            + ("Start over with fresh demo data: make demo-reset\n" if shown == "./.demo-home" else
               f"Start over with fresh demo data: delete {shlex.quote(shown)} and run this again\n"))
