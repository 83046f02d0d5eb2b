"""The labeled sets written here (evaluation/sets, evaluation/blind) are well formed, the blind ones are never
among the sets rules or the learned layer are fitted on, and every `fitted_on` tag names a set that exists (a
typo would silently keep a fitted rule in its own set's held-out score)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evaluation.corpus import BLIND_DIR, BLIND_SETS, CATEGORIES, EXTRA_DIR, SETS, SHARED_SETS, cases_path

ROOT = Path(__file__).resolve().parents[1]
WRITTEN = sorted([*EXTRA_DIR.glob("*/cases.jsonl"), *BLIND_DIR.glob("*/cases.jsonl")])


def test_written_sets_are_found():
    assert len(WRITTEN) >= 6
    assert set(SETS) >= set(SHARED_SETS) and {p.parent.name for p in EXTRA_DIR.glob("*/cases.jsonl")} <= set(SETS)


def test_blind_sets_are_never_fitted_on():
    assert BLIND_SETS and not set(BLIND_SETS) & set(SETS)
    for name in BLIND_SETS:
        assert cases_path(name).parent.parent == BLIND_DIR


@pytest.mark.parametrize("path", WRITTEN, ids=lambda p: p.parent.name)
def test_written_set_is_well_formed(path: Path):
    assert (path.parent / "registry.csv").is_file() and (path.parent / "spa.yaml").is_file()
    cases = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    ids = [c["id"] for c in cases]
    assert len(ids) == len(set(ids)) >= 50
    for c in cases:
        cats = c["expected"]["categories"]
        assert set(cats) <= set(CATEGORIES), c["id"]
        assert bool(cats) == c["expected"]["violation"], c["id"]
        assert c["kind"] in ("reply", "comment", "post", "message") and c["text"].strip(), c["id"]


def test_every_fitted_on_tag_names_a_known_set():
    text = "\n".join(line for p in (ROOT / "rules").rglob("*.yaml")
                     for line in p.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#"))
    named = {n.strip(" '\"") for m in re.finditer(r"fitted_on:\s*\[([^\]]*)\]", text) for n in m.group(1).split(",")}
    assert named and named - {""} <= set(SETS), sorted(named - set(SETS))
