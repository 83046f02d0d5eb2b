"""The learned layer with its real weights, on sentences written for these tests
(none comes from a labeled set): where it adds a finding, what the finding says, and where it stays quiet."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from scanner import Item
from scanner.text import learned

LEARNED_IDS = {"PHI801", "PAT801", "TRT801", "ADV801"}  # PAT801 retired (rules/learned.yaml)

CLEAN_KINDS = [  # the clean kinds; the layer must never fire on them alone
    Item(id="price", kind="comment", channel="instagram", text="Prices start at $12 a unit and the consult is free!",
         in_reply_to="How much is botox?"),
    Item(id="hours", kind="reply", channel="google", text="Our hours are 9 to 6, Monday through Saturday. Call anytime!",
         in_reply_to="When are you open?", author="Pat L."),
    Item(id="education", kind="comment", channel="instagram", in_reply_to="how long does filler take to settle?",
         text="@marta.k great question! Filler usually settles over about two weeks; everyone is a little different."),
    Item(id="celebrity", kind="post", channel="instagram",
         text="Everyone wants the Hailey Bieber glazed look this season. Ask us how our glow facial gets you there!"),
    Item(id="reminder", kind="message", channel="sms",
         text="Hi Rosa, a reminder of your appointment tomorrow at 2:30 pm. Reply C to confirm."),
    Item(id="short-thanks", kind="reply", channel="google", text="Thanks Jo!", in_reply_to="Great place",
         author="Jo M."),
    Item(id="thanks", kind="reply", channel="yelp", text="Thank you so much for the kind words! Reviews like this make our week.",
         in_reply_to="Best team ever", author="Lena M."),
]


def test_weights_ship_with_the_scanner_and_load(text_scanner):
    assert text_scanner.learned is not None, "models/learned/weights.npz should load (run `make train`)"
    heads = text_scanner.learned.heads
    assert set(heads.info["fitted_on"]) >= {"train-replies", "train-marketing", "train-messages"}
    assert all(0 < t < 1 for t in heads.thresholds)


@pytest.mark.parametrize("item", CLEAN_KINDS, ids=[i.id for i in CLEAN_KINDS])
def test_never_fires_on_the_clean_kinds(text_scanner, item):
    result = text_scanner.scan(item)
    assert not {f.rule_id for f in result.findings} & LEARNED_IDS, result.findings


# drafts that confirm care in words no rule lists as a treatment or an identifier (written for these tests)
NEW_WORDING = [
    ("Congrats on the new glasses, Arturo, that prescription change made a big difference! Thanks for the review.",
     "I can see!"),
    ("We'll have your room ready at 9 on Friday, Lorna! Thank you for the kind words.", "Can't wait for my next session"),
    ("Hope the bruising fades fast, you were such a trooper! We appreciate you.", "A little bruised but happy."),
    ("That's our girl Kim! She trusted us with her jawline and we are so proud.", "who is this?"),
]


def _new_wording_items() -> list[Item]:
    return [Item(id=str(i), kind="reply", channel="google", text=t, in_reply_to=r)
            for i, (t, r) in enumerate(NEW_WORDING)]


def test_a_model_finding_names_its_sentence_and_only_asks_for_review(text_scanner):
    results = text_scanner.scan_many(_new_wording_items())
    model = [(item, f) for item, r in zip(_new_wording_items(), results, strict=True)
             for f in r.findings if f.rule_id in LEARNED_IDS]
    assert model, [r.findings for r in results]
    for item, f in model:
        assert f.severity.value == "medium" and f.pattern == "learned layer"
        assert f.start is not None and f.end is not None and item.text[f.start:f.end].strip() == f.evidence
        assert f.evidence != item.text and "thank" not in f.evidence.lower() and "appreciate" not in f.evidence
        assert "reads like" in f.message


def test_adds_to_the_rules_on_new_wording(text_scanner):
    """The rules catch these drafts as confirmations; the layer adds the category they miss to some of them
    (the treatment in "that prescription change", who is meant in "you were such a trooper")."""
    results = text_scanner.scan_many(_new_wording_items())
    added = []
    for r in results:
        by_rules = {f.category for f in r.findings if f.rule_id not in LEARNED_IDS and f.severity.value in ("high", "medium")}
        added += [f.category for f in r.findings if f.rule_id in LEARNED_IDS and f.category not in by_rules]
    assert len(added) >= 2, [r.findings for r in results]


def test_switched_off_and_missing_weights(monkeypatch, tmp_path):
    from scanner import load_rule_pack

    pack = load_rule_pack()
    monkeypatch.setenv("MEDSPA_SCAN_LEARNED", "off")
    assert learned.LearnedLayer.load(pack) is None
    monkeypatch.setenv("MEDSPA_SCAN_LEARNED", str(tmp_path / "nowhere.npz"))
    with pytest.raises(RuntimeError, match="weights not found"):
        learned.LearnedLayer.load(pack)


def test_text_features_are_the_same_in_every_process():
    """Weights fitted in one process are applied in another: the n-gram buckets must not depend on
    Python's per-process string hashing."""
    texts = ["So glad the filler settled, Jo!", "Your 40 units are booked for Friday."]
    here = learned.hashed_ngrams(texts)
    code = ("import sys, numpy as np; from scanner.text.learned import hashed_ngrams; "
            f"np.save(sys.stdout.buffer, hashed_ngrams({texts!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True,
                         env=dict(os.environ, PYTHONHASHSEED="12345")).stdout
    import io

    import numpy as np

    there = np.load(io.BytesIO(out))
    assert np.array_equal(here, there)
    assert np.allclose(np.linalg.norm(here, axis=1), 1.0) and (here > 0).sum(axis=1).min() >= 8


def test_signals_have_the_width_the_weights_expect(text_scanner):
    item = Item(id="w", kind="reply", channel="google", text="Thanks Dana, see you Friday!", author="Dana R.")
    ((it, analysis, findings),) = text_scanner.rule_stage([item])
    assert learned.signal_features(it, analysis, findings).shape == (learned.SIGNAL_COUNT,)
    assert text_scanner.learned.heads.weights.shape[1] == learned.HASH_BUCKETS + learned.SIGNAL_COUNT


def test_weights_for_other_features_are_refused_with_a_clear_error(monkeypatch, tmp_path):
    import numpy as np

    from scanner import load_rule_pack

    old = learned.Heads(learned.CATEGORIES, np.zeros((4, 384 + 35), np.float32), np.zeros(4, np.float32),
                        np.full(4, 0.5, np.float32), {"name": "older-weights"})
    old.save(tmp_path / "old.npz")
    monkeypatch.setenv("MEDSPA_SCAN_LEARNED", str(tmp_path / "old.npz"))
    with pytest.raises(RuntimeError, match="trained for another version"):
        learned.LearnedLayer.load(load_rule_pack())


def test_in_a_reply_it_never_names_a_generic_sentence(text_scanner):
    """Answering a review, the model may only name a sentence that is not thanks, an apology, a wish or general
    information (the safe-reply markers of PAT080): warm generic replies get no model finding."""
    import json
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "data" / "personal_remarks.jsonl"
    clean = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines() if line.strip()]
    clean = [c for c in clean if not c["expected_violation"]]
    items = [Item(id=c["id"], kind=c["kind"], channel=c["channel"], text=c["text"], in_reply_to=c["in_reply_to"])
             for c in clean]
    fired = [(r.id, f.evidence) for r in text_scanner.scan_many(items) for f in r.findings if f.rule_id in LEARNED_IDS]
    assert len(clean) >= 40 and fired == []


ADVICE_NO_RULE_MATCHES = [  # individual advice in words the advice rules do not list (written for this test)
    ("Rina, that itch is your skin healing, a little aloe at bedtime and leave the scabs alone until Friday!",
     "so itchy after my laser, is that ok?"),
    ("Noor, those little bumps are normal at this stage of your filler, give it another week before you worry.",
     "bumps in my lips??"),
    ("Jae, the redness from your peel should calm in two days, hydrocortisone is fine if it itches.", "still red"),
]


def test_the_advice_head_adds_advice_the_rules_miss(text_scanner):
    items = [Item(id=str(i), kind="comment", channel="instagram", text=t, in_reply_to=r)
             for i, (t, r) in enumerate(ADVICE_NO_RULE_MATCHES)]
    results = list(text_scanner.scan_many(items))
    by_rules = [f for r in results for f in r.findings if f.category == "medical_advice" and f.rule_id != "ADV801"]
    added = [f for r in results for f in r.findings if f.rule_id == "ADV801"]
    assert not by_rules and len(added) >= 2, [(f.rule_id, f.evidence) for r in results for f in r.findings]
    assert all(f.severity.value == "medium" and "advice" in f.message for f in added)
