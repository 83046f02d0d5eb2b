"""New sentences with the verdict a careful compliance officer would give (tests/data/*.jsonl), and the shipped
scanner's wrong answers on them; shared by the tests that check a kind of wording rather than one sentence."""
from __future__ import annotations

import json
from pathlib import Path

from scanner import Item

DATA = Path(__file__).resolve().parent / "data"


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def _scan(scanner, case: dict):
    fields = {k: case[k] for k in ("text", "kind", "channel", "in_reply_to", "author") if k in case}
    return scanner.scan(Item(id=case["id"], **fields))


def wrong_verdicts(scanner, cases: list[dict]) -> list[tuple[str, str, list[str]]]:
    """(id, verdict, rule ids) of each case whose verdict (pass or not) differs from `expected_violation`."""
    wrong = []
    for case in cases:
        result = _scan(scanner, case)
        if (result.verdict != "pass") != case["expected_violation"]:
            wrong.append((case["id"], result.verdict, sorted({f.rule_id for f in result.findings})))
    return wrong


LEARNED_IDS = {"PHI801", "TRT801", "ADV801"}


def rule_findings(scanner, case: dict) -> set[str]:
    """The rule ids (not the learned layer's) with a medium or high finding on `case`."""
    return {f.rule_id for f in _scan(scanner, case).findings if f.severity.value in ("high", "medium")} - LEARNED_IDS
