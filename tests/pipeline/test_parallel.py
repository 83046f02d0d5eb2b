"""Batches on several cores: the forked workers give every item the result one process gives it, in input
order, and a batch longer than a store chunk keeps every result (real models, the example registry, real
`medspa-scan batch` processes)."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from scanner import Item, scan_parallel

ROOT = Path(__file__).resolve().parents[2]


def _cases(n: int) -> list[dict]:
    """n drafts cycled from tests/data/generalization.jsonl (replies with their reviews, posts, messages),
    each made distinct by a trailing tag."""
    base = [json.loads(line) for line in (ROOT / "tests" / "data" / "generalization.jsonl").read_text(
        encoding="utf-8").splitlines() if line.strip()]
    out = []
    for i in range(n):
        case = {k: v for k, v in base[i % len(base)].items() if k != "expected"}
        case.update(id=f"p{i}", text=f"{case['text']} #{i}")
        out.append(case)
    return out


def test_two_workers_give_the_results_of_one_process_in_order(text_scanner):
    items = [Item(**c) for c in _cases(150)]  # enough for scan_parallel to fork
    one = [r.public() for r in text_scanner.scan_many(items)]
    two = [r.public() for r in scan_parallel(text_scanner, items, workers=2, chunk=16)]
    assert [r["id"] for r in two] == [it.id for it in items]
    assert two == one
    assert any(r["verdict"] == "block" for r in two) and any(r["verdict"] == "pass" for r in two)


def test_batch_longer_than_a_store_chunk_on_two_workers_matches_one_worker(tmp_path):
    """One worker pool serves the whole batch (it used to be one pool per 200-item chunk, the last chunk
    on one core); the output and the stored items are those of a one-worker run."""
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(c) + "\n" for c in _cases(230)), encoding="utf-8")
    outputs = {}
    for workers in ("1", "2"):
        home = tmp_path / f"home{workers}"
        out = tmp_path / f"out{workers}.jsonl"
        # the same hash seed for both runs: only the number of workers differs
        env = {"MEDSPA_SCAN_HOME": str(home), "PATH": "/usr/bin:/bin", "HOME": str(home), "PYTHONHASHSEED": "7"}
        r = subprocess.run([sys.executable, "-m", "scanner", "batch", str(src), "-o", str(out), "--workers", workers,
                            "--no-progress"], cwd=ROOT, env=env, capture_output=True, timeout=600)
        assert r.returncode == 1, r.stderr.decode()[-2000:]  # 1: something to review or block
        outputs[workers] = out.read_text(encoding="utf-8")
        with sqlite3.connect(home / "medspa.db") as db:
            stored = [row[0] for row in db.execute("select item_id from items order by id")]
        assert stored == [f"p{i}" for i in range(230)]
    assert outputs["2"] == outputs["1"]
    assert [json.loads(line)["id"] for line in outputs["2"].splitlines()] == [f"p{i}" for i in range(230)]
