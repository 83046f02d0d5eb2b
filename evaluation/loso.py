"""`make eval`: the leave-one-set-out table, scored by ../shared/tools/score_corpus.py as a stranger would.

For each labeled set S: heads trained without S (evaluation.train --holdout S), and the scanner run with
every rule, pattern and vocabulary entry fitted on S left out (MEDSPA_SCAN_HOLDOUT=S). Rows: rules alone,
rules + learned layer, both held out; then the shipped scanner (everything fitted on every set) for scale.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

from .corpus import BLIND_SETS, CATEGORIES, ROOT, SETS, cases_path, corpus_dir
from .train import train

SHORT = {"patient_identifier": "PI", "relationship_confirmation": "RC", "treatment_disclosure": "TD",
         "medical_advice": "MA", "unauthorized_use": "AU"}


def score(set_name: str, env: dict[str, str]) -> dict[str, float]:
    """Run the official scorer on one set with the scanner configured by `env`."""
    scorer = corpus_dir().parent / "tools" / "score_corpus.py"
    prefix = " ".join(f"{k}={v}" for k, v in env.items())
    cmd = f"env {prefix} {ROOT / '.venv' / 'bin' / 'medspa-scan'}"
    out = subprocess.run([sys.executable, str(scorer), "--cases", str(cases_path(set_name)), "--cmd", cmd],
                         capture_output=True, text=True, cwd=ROOT, timeout=1800).stdout
    m = re.search(r"violation recall ([\d.]+) precision ([\d.]+) F1 ([\d.]+)", out)
    if not m:
        raise SystemExit(f"scorer failed on {set_name}:\n{out[-2000:]}")
    res = {"recall": float(m.group(1)), "precision": float(m.group(2)), "f1": float(m.group(3))}
    for cat in CATEGORIES:
        c = re.search(rf"{cat}\s+P ([\d.]+)\s+R ([\d.]+)\s+F1 ([\d.]+)\s+\(labeled (\d+)\)", out)
        if c and int(c.group(4)):
            res[cat] = float(c.group(3))
    return res


def row(label: str, set_name: str, r: dict[str, float]) -> str:
    cats = " ".join(f"{SHORT[c]} {r[c]:.2f}" if c in r else f"{SHORT[c]} -" for c in CATEGORIES)
    ok = "yes" if r["recall"] >= 0.9 and r["precision"] >= 0.9 and r.get("medical_advice", 1.0) >= 0.8 else "no"
    return f"| {set_name} | {label} | {r['recall']:.3f} | {r['precision']:.3f} | {r['f1']:.3f} | {cats} | {ok} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="*", default=list(SETS))
    ap.add_argument("--blind", nargs="*", default=list(BLIND_SETS))
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "eval")
    a = ap.parse_args()
    t0 = time.time()
    lines = ["| set | scanner | recall | precision | F1 | category F1 | target met |", "|---|---|---|---|---|---|---|"]
    everything = []
    for s in a.sets:
        weights = a.out / f"loso-{s}.npz"
        train(s).save(weights)
        rules_only = score(s, {"MEDSPA_SCAN_HOLDOUT": s, "MEDSPA_SCAN_LEARNED": "off"})
        stacked = score(s, {"MEDSPA_SCAN_HOLDOUT": s, "MEDSPA_SCAN_LEARNED": str(weights)})
        lines.append(row("held out: rules", s, rules_only))
        lines.append(row("held out: rules + learned", s, stacked))
        print(lines[-2], lines[-1], sep="\n", file=sys.stderr, flush=True)
        everything.append(row("everything (fitted on it too)", s, score(s, {"MEDSPA_SCAN_HOLDOUT": ""})))
    blind = [row("shipped (never fitted on it)", s, score(s, {"MEDSPA_SCAN_HOLDOUT": ""})) for s in a.blind]
    print("\nLeave-one-set-out (the figure that counts), then the shipped scanner on each set:\n")
    print("\n".join(lines + everything))
    if blind:
        print("\nBlind sets (evaluation/blind: never read, nothing fitted on them), the shipped scanner:\n")
        print("\n".join(lines[:2] + blind))
    print(f"\n({time.time() - t0:.0f} s; weights in {a.out}; shipped weights: models/learned/weights.npz)")


if __name__ == "__main__":
    main()
