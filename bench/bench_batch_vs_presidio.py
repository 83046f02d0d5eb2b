"""Whole-process speed of `medspa-scan batch` against a plain Presidio loop on the same texts, in one run.

Both start cold as separate processes (model loading included) and are interleaved, three rounds each;
CPU is user + system time of the process and its workers (steadier than wall time on a shared machine).
The scanner's figure includes the learned layer, the rules, the store and the output; the plain loop is
`AnalyzerEngine.analyze` (spaCy en_core_web_sm, default recognizers) on each text in one process.

Run: .venv/bin/python bench/bench_batch_vs_presidio.py [--n 500]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PLAIN = """
import json, os, sys
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NlpEngineProvider
provider = NlpEngineProvider(nlp_configuration={"nlp_engine_name": "spacy",
                                                "models": [{"lang_code": "en", "model_name": sys.argv[2]}]})
engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
for line in open(sys.argv[1], encoding="utf-8"):
    engine.analyze(text=json.loads(line)["text"], language="en")
"""


def mixed_items(n: int) -> list[dict]:
    from evaluation.corpus import SETS, load_cases

    base = [c for s in SETS for c in load_cases(s)]
    out = []
    for i in range(n):
        c = {k: v for k, v in base[i % len(base)].items() if k not in ("expected", "images")}
        c["id"] = f"b{i}"
        out.append(c)
    return out


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    rc = subprocess.run(cmd, env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    if rc not in (0, 1):  # 1: the batch found something to review or block
        raise SystemExit(f"{cmd[0]} exited {rc}")
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    from scanner.core.config import spacy_model

    work = Path(tempfile.mkdtemp())
    items = work / "items.jsonl"
    items.write_text("".join(json.dumps(i) + "\n" for i in mixed_items(a.n)), encoding="utf-8")
    env = dict(os.environ, MEDSPA_SCAN_HOME=str(work / "home"))
    scan_cmd = [str(ROOT / ".venv" / "bin" / "medspa-scan"), "batch", str(items), "--format", "jsonl",
                "-o", str(work / "out.jsonl")]
    plain_cmd = [sys.executable, "-c", PLAIN, str(items), spacy_model()]
    scan, plain = [], []
    load_before = os.getloadavg()[0]
    for _ in range(a.rounds):
        scan.append(timed(scan_cmd, env))
        plain.append(timed(plain_cmd, env))
    sw, sc = statistics.median(w for w, _ in scan), statistics.median(c for _, c in scan)
    pw, pc = statistics.median(w for w, _ in plain), statistics.median(c for _, c in plain)
    print(f"{a.n} mixed items from the labeled sets, whole process, median of {a.rounds} interleaved rounds:")
    print(f"  medspa-scan batch     {sw:6.1f} s wall  {sc:6.1f} s CPU")
    print(f"  plain Presidio loop   {pw:6.1f} s wall  {pc:6.1f} s CPU")
    print(f"  ratio scanner / plain {sw / pw:6.2f} wall  {sc / pc:6.2f} CPU")
    print(f"  ({os.cpu_count()} cores; load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after: "
          "a load near or above the core count means other work shared the machine and the wall figures with it)")


if __name__ == "__main__":
    main()
