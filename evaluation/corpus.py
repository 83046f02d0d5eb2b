"""The labeled sets and their features: each set scanned by the rules as a stranger's text would be.

`collect(set, holdout)` scans one labeled set in a fresh data home (its spa.yaml and registry imported,
as score_corpus.py does), with the rules and vocabulary fitted on the `holdout` sets left out and the
learned layer off, and returns the normalized texts, rule signals and labels the heads train on. Results are
cached under build/features/ by the rule files' digest.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CATEGORIES = ("patient_identifier", "relationship_confirmation", "treatment_disclosure", "medical_advice",
              "unauthorized_use")


def corpus_dir() -> Path:
    for cand in (os.environ.get("MEDSPA_SHARED"), ROOT.parent / "shared", "/work/shared"):
        if cand and (Path(cand) / "corpus").is_dir():
            return Path(cand) / "corpus"
    raise SystemExit("labeled sets not found: set MEDSPA_SHARED to the folder holding corpus/")


SHARED_SETS = ("dev", "train-replies", "train-marketing", "train-messages")
EXTRA_DIR = ROOT / "evaluation" / "sets"  # sets written here (evaluation/sets/README.md says by whom and how)
SETS = SHARED_SETS + tuple(sorted(p.parent.name for p in EXTRA_DIR.glob("*/cases.jsonl")))
BLIND_DIR = ROOT / "evaluation" / "blind"  # never read, never fitted on (evaluation/blind/README.md)
BLIND_SETS = tuple(sorted(p.parent.name for p in BLIND_DIR.glob("*/cases.jsonl")))


def cases_path(name: str) -> Path:
    if name == "dev":
        return corpus_dir() / "cases.jsonl"
    if name in SHARED_SETS:
        return corpus_dir() / name / "cases.jsonl"
    return (BLIND_DIR if name in BLIND_SETS else EXTRA_DIR) / name / "cases.jsonl"


def load_cases(name: str) -> list[dict]:
    return [json.loads(line) for line in cases_path(name).read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass
class SetFeatures:
    name: str
    ids: list[str]
    texts: list[str]  # the normalized text the rules read, as the layer sees it at run time
    signals: np.ndarray
    labels: np.ndarray  # (n, len(CATEGORIES)) 0/1
    violation: np.ndarray  # (n,) 0/1
    rule_level: np.ndarray  # (n, len(CATEGORIES)) highest rule severity level per category (3 high, 2 medium)


DIGESTED = ("text", "pipeline", "registry", "core")  # scanner/ packages whose code the rule signals depend on


def _rules_digest() -> str:
    """What the features depend on: the rule packs, the vocabulary and the code that evaluates them."""
    h = hashlib.sha256()
    code = [p for n in DIGESTED for p in (ROOT / "scanner" / n).rglob("*.py")]
    rules = [p for p in sorted((ROOT / "rules").rglob("*.yaml")) if p.name != "learned.yaml"]  # the layer's own findings
    for p in rules + sorted(code):
        h.update(p.relative_to(ROOT).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


def tagged_sets() -> frozenset[str]:
    """The labeled sets some rule, pattern or vocabulary file says it was fitted on."""
    import re

    text = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "rules").rglob("*.yaml"))
    named = {n.strip(" '\"") for m in re.finditer(r"fitted_on:\s*\[?([^\]\n}]*)", text) for n in m.group(1).split(",")}
    return frozenset(s for s in SETS if s in named)


def collect(name: str, holdout: frozenset[str], cache: Path | None = None) -> SetFeatures:
    cache = cache or ROOT / "build" / "features"
    holdout = holdout & tagged_sets()  # holding out a set nothing was fitted on changes nothing
    key = f"{name}--{'+'.join(sorted(holdout)) or 'none'}--{_rules_digest()}.npz"
    path = cache / key
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _scan_set(name, holdout, path)
    with np.load(path, allow_pickle=False) as z:
        return SetFeatures(name, list(z["ids"]), [str(t) for t in z["texts"]], z["signals"], z["labels"],
                           z["violation"], z["rule_level"])


def _scan_set(name: str, holdout: frozenset[str], out: Path) -> None:
    """Scan in a child process: the rule pack and vocabulary are read once per process."""
    import subprocess
    import sys

    env = dict(os.environ, MEDSPA_SCAN_HOLDOUT=",".join(sorted(holdout)), MEDSPA_SCAN_LEARNED="off")
    python = ROOT / ".venv" / "bin" / "python"  # the scanner's environment, also when training runs elsewhere
    subprocess.run([str(python if python.exists() else sys.executable), "-m", "evaluation.corpus", name, str(out)],
                   check=True, cwd=ROOT, env=env)


def _scan_in_process(name: str, out: Path) -> None:
    from scanner import Item
    from scanner.text.learned import rule_levels, signal_features

    cases = load_cases(name)
    src = cases_path(name)
    with tempfile.TemporaryDirectory() as home:
        os.environ["MEDSPA_SCAN_HOME"] = home
        if (src.parent / "spa.yaml").exists():
            shutil.copyfile(src.parent / "spa.yaml", Path(home) / "spa.yaml")
        from scanner import Registry, Scanner, Store

        store = Store(f"sqlite:///{home}/medspa.db")
        Registry.import_csv(store, src.parent / "registry.csv", actor="evaluation")
        scanner = Scanner(store=store)
        items = [Item(**{k: v for k, v in c.items() if k != "expected"}) for c in cases]
        staged = []
        for k in range(0, len(items), 64):
            staged.extend(scanner.rule_stage(items[k:k + 64]))
    signals = np.vstack([signal_features(it, a, f) for it, a, f in staged])
    level = np.array([[rule_levels(findings).get(c, 0) for c in CATEGORIES] for _, _, findings in staged])
    labels = np.array([[c in case["expected"]["categories"] for c in CATEGORIES] for case in cases], dtype=np.int8)
    violation = np.array([bool(case["expected"]["violation"]) for case in cases], dtype=np.int8)
    np.savez_compressed(out, ids=np.array([c["id"] for c in cases]), texts=np.array([a.text for _, a, _ in staged]),
                        signals=signals, labels=labels, violation=violation, rule_level=level)


if __name__ == "__main__":
    import sys

    _scan_in_process(sys.argv[1], Path(sys.argv[2]))
