"""Text pipeline benchmark: warm latency, batch throughput vs a plain Presidio loop, CLI cold start.

Run: .venv/bin/python bench/bench_text.py [--n 1000]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def load_texts(n: int) -> list[dict]:
    sources = [ROOT.parent / "shared" / "corpus" / "cases.jsonl", ROOT / "tests" / "data" / "generalization.jsonl"]
    base = []
    for p in sources:
        if p.exists():
            for line in p.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    o = json.loads(line)
                    base.append({k: o[k] for k in ("kind", "channel", "text", "in_reply_to", "author") if k in o})
    out = []
    for i in range(n):
        case = dict(base[i % len(base)])
        case["id"] = f"b{i}"
        if i >= len(base):  # vary the text so nothing is cached by accident
            case["text"] = case["text"] + f" #{i}"
        out.append(case)
    return out


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    args = ap.parse_args()
    os.environ.setdefault("MEDSPA_SCAN_HOME", tempfile.mkdtemp())
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    from scanner import Item, Scanner, scan_parallel
    from scanner.core.config import spacy_model

    raw = load_texts(args.n)
    items = [Item(**r) for r in raw]
    texts = [r["text"] for r in raw]

    t0 = time.perf_counter()
    scanner = Scanner(store=None)
    load_s = time.perf_counter() - t0

    # warm single-text latency (reply gate style: one item at a time)
    lat = []
    cpu = time.process_time()
    for it in items[:200]:
        t = time.perf_counter()
        scanner.scan(it)
        lat.append((time.perf_counter() - t) * 1000)
    cpu = (time.process_time() - cpu) / 200 * 1000
    print(f"models loaded in {load_s:.2f} s")
    print(f"warm single-text latency: p50 {pct(lat, .5):.1f} ms  p95 {pct(lat, .95):.1f} ms  (200 texts); "
          f"CPU {cpu:.1f} ms per check (the API's cost per check; steadier than latency on a shared machine)")

    t = time.perf_counter()
    n_one = sum(1 for _ in scanner.scan_many(items))
    one_core = n_one / (time.perf_counter() - t)
    t = time.perf_counter()
    n_all = sum(1 for _ in scan_parallel(scanner, items, workers=os.cpu_count() or 1))
    all_cores = n_all / (time.perf_counter() - t)
    print(f"scanner batch ({len(items)} mixed items): {one_core:.0f} items/s on one core (nlp.pipe), "
          f"{all_cores:.0f} items/s on {os.cpu_count()} cores")

    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": spacy_model()}]})
    plain = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    plain.analyze(texts[0], language="en")
    t = time.perf_counter()
    for text in texts:
        plain.analyze(text=text, language="en")
    presidio_rate = len(texts) / (time.perf_counter() - t)
    print(f"plain Presidio AnalyzerEngine.analyze loop (same texts, same process): {presidio_rate:.0f} texts/s")
    print(f"ratio scanner batch / plain Presidio: {all_cores / presidio_rate:.2f}x "
          f"(one core: {one_core / presidio_rate:.2f}x)")

    cold = []
    env = dict(os.environ)
    exe = str(ROOT / ".venv" / "bin" / "medspa-scan")
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run([exe, "check", "Thanks for coming in, Amy! See you at your touch-up.", "--kind", "reply",
                        "--author", "Amy T."], env=env, capture_output=True)
        cold.append(time.perf_counter() - t)
    print(f"cold start of `medspa-scan check` to its answer: median {statistics.median(cold):.2f} s "
          f"(min {min(cold):.2f} s)")


if __name__ == "__main__":
    main()
