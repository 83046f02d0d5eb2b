"""Cost of encryption at rest: storing and reading back a batch of scanned items (text, reply, author
and each finding's evidence sealed with Fernet) and importing a registry (names, aliases, handles
sealed), each with sealing on and with it switched off in this process only, on a real SQLite file.

Run: .venv/bin/python bench/bench_at_rest.py
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ITEMS = 2000
PATIENTS = 5000


@contextmanager
def sealing(on: bool) -> Iterator[None]:
    from scanner.core import at_rest as _at_rest

    saved = _at_rest.seal
    if not on:
        _at_rest.seal = lambda text: text  # type: ignore[assignment]
    try:
        yield
    finally:
        _at_rest.seal = saved  # type: ignore[assignment]


def batch() -> list[tuple[object, object]]:
    from scanner import Finding, Item, ScanResult

    pairs = []
    for i in range(ITEMS):
        item = Item(id=f"r{i}", kind="reply", channel="google", author=f"Reviewer Number{i}",
                    in_reply_to=f"I loved my lip filler with Dr. Reyes, visit {i}! " * 3,
                    text=f"Thanks Reviewer Number{i}, so glad your lip filler turned out great! " * 2)
        findings = [Finding(rule_id="PAT001", category="relationship_confirmation", severity="high",
                            message="Confirms a client.", evidence=f"Reviewer Number{i}", source="text",
                            citation="45 CFR 164.502(a)") for _ in range(3)]
        pairs.append((item, ScanResult(id=item.id, verdict="block", findings=findings)))
    return pairs


def measure(on: bool) -> dict[str, float]:
    from scanner import Registry, Store
    from scanner.review import queue as review

    home = Path(tempfile.mkdtemp(prefix="bench-at-rest-"))
    os.environ["MEDSPA_SCAN_HOME"] = str(home)
    store = Store()
    pairs = batch()
    out: dict[str, float] = {}
    with sealing(on):
        run = store.start_run("cli-batch")
        t = time.perf_counter()
        store.save_results(run, pairs)  # type: ignore[arg-type]
        out["store"] = time.perf_counter() - t
        t = time.perf_counter()
        got = review.queue(store, limit=ITEMS)
        out["read"] = time.perf_counter() - t
        assert len(got) == ITEMS and got[0]["author"].startswith("Reviewer Number")
        csv = home / "registry.csv"
        csv.write_text("patient_id,full_name,aliases,social_handles,purposes,channels,signed_on,expires_on,"
                       "revoked_on,photo\n" + "".join(f"P{i},Person{i} Surname{i},P{i}x;Nick{i},@person{i},"
                                                       "testimonial,all,2025-01-10,,,\n" for i in range(PATIENTS)),
                       encoding="utf-8")
        t = time.perf_counter()
        Registry.import_csv(store, csv, actor="bench")
        out["import"] = time.perf_counter() - t
        t = time.perf_counter()
        assert len(Registry.all_records(store)) == PATIENTS
        out["load"] = time.perf_counter() - t
    return out


def main() -> None:
    plain, sealed = measure(on=False), measure(on=True)
    print(f"encryption at rest ({ITEMS} items with 3 findings each; {PATIENTS} registry patients)")
    for key, label in (("store", f"store {ITEMS} items"), ("read", f"read {ITEMS} items back"),
                       ("import", f"import {PATIENTS} patients"), ("load", f"load {PATIENTS} patients")):
        extra = sealed[key] - plain[key]
        print(f"  {label:28s} plain {plain[key] * 1000:8.0f} ms   sealed {sealed[key] * 1000:8.0f} ms   "
              f"+{extra * 1000:6.0f} ms ({extra / max(plain[key], 1e-9) * 100:+.0f} %)")


if __name__ == "__main__":
    main()
