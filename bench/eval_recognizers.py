"""Recognizer quality on external labeled text (../shared/datasets), for the model card.

Measures PERSON precision/recall and phone/e-mail recall of the scanner's analysis layer (person
mentions after the product/staff filters) against plain Presidio, on text nobody here tuned for,
and how often a labeled product or company is called a person.
Run: .venv/bin/python bench/eval_recognizers.py [--limit 600]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "datasets"


def overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def prf(pred: list, gold: list) -> tuple[float, float]:
    tp_p = sum(1 for p in pred if any(overlap(p, g) for g in gold))
    tp_g = sum(1 for g in gold if any(overlap(p, g) for p in pred))
    return (tp_p / len(pred) if pred else 1.0), (tp_g / len(gold) if gold else 1.0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=600)
    a = ap.parse_args()
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    from scanner import Item
    from scanner.core.config import spacy_model
    from scanner.text.analysis import TextAnalyzer

    ours = TextAnalyzer()
    plain = AnalyzerEngine(nlp_engine=NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": spacy_model()}]}).create_engine())

    synth = json.loads((DATA / "presidio_synth_dataset_v2.json").read_text())[: a.limit]
    wnut = [json.loads(x) for x in (DATA / "wnut17_test.spans.jsonl").read_text().splitlines()[: a.limit]]
    for name, rows, text_of, spans_of, person_label, thing_labels in (
        ("presidio synth v2", synth, lambda r: r["full_text"],
         lambda r: [(s["start_position"], s["end_position"], s["entity_type"]) for s in r["spans"]], "PERSON",
         {"ORGANIZATION"}),
        ("WNUT-17 test", wnut, lambda r: r["text"], lambda r: [(s["start"], s["end"], s["label"]) for s in r["spans"]],
         "person", {"product", "corporation"}),
    ):
        texts = [text_of(r) for r in rows]
        analyses = ours.analyze_items([Item(kind="post", text=t[:100_000]) for t in texts])
        stats = {"ours": [[], []], "plain": [[], []]}
        things_ours = things_plain = things_total = 0
        phone = {"ours": [0, 0], "plain": [0, 0]}
        for r, t, an in zip(rows, texts, analyses, strict=True):
            gold = spans_of(r)
            gp = [(s, e) for s, e, lab in gold if lab == person_label]
            gt = [(s, e) for s, e, lab in gold if lab in thing_labels]
            mine = [(p.start, p.end) for p in an.persons if p.kind == "name" and p.role not in ("spa", "celebrity")]
            theirs = [(x.start, x.end) for x in plain.analyze(t, language="en") if x.entity_type == "PERSON"]
            for key, pred in (("ours", mine), ("plain", theirs)):
                p, rc = prf(pred, gp)
                if pred:
                    stats[key][0].append(p)
                if gp:
                    stats[key][1].append(rc)
            things_total += len(gt)
            things_ours += sum(1 for g in gt if any(overlap(g, m) for m in mine))
            things_plain += sum(1 for g in gt if any(overlap(g, m) for m in theirs))
            gph = [(s, e) for s, e, lab in gold if lab in ("PHONE_NUMBER", "EMAIL_ADDRESS")]
            if gph:
                for key, pred in (("ours", [(x.start, x.end) for x in an.spans("PHONE_NUMBER", "EMAIL_ADDRESS")]),
                                  ("plain", [(x.start, x.end) for x in plain.analyze(t, language="en")
                                             if x.entity_type in ("PHONE_NUMBER", "EMAIL_ADDRESS")])):
                    phone[key][0] += sum(1 for g in gph if any(overlap(g, q) for q in pred))
                    phone[key][1] += len(gph)
        print(f"\n{name} ({len(rows)} texts)")
        for key in ("ours", "plain"):
            ps, rs = stats[key]
            print(f"  {key:5s} PERSON precision {sum(ps) / max(1, len(ps)):.2f} recall {sum(rs) / max(1, len(rs)):.2f}"
                  + (f"  phone/e-mail recall {phone[key][0] / phone[key][1]:.2f}" if phone[key][1] else ""))
        if things_total:
            print(f"  labeled products/companies called a person: ours {things_ours}/{things_total}, "
                  f"plain {things_plain}/{things_total}")


if __name__ == "__main__":
    main()
