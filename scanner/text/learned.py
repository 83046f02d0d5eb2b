"""The learned layer: logistic heads over hashed word n-grams and the rule signals.

Rules catch the wording they were written for; this layer catches some of the rest. Each item's text
becomes hashed word unigrams and bigrams (2^14 buckets, L2-normalised; no model file, no vocabulary to
ship); those, the item's kind and what the rules and the text analysis already found are the features of
one logistic head per category. The weights are plain arrays in models/learned/weights.npz
(`make train`, evaluation/train.py); nothing is fitted or downloaded at run time.

A sentence-embedding model (all-MiniLM-L6-v2, int8 ONNX) was used here before: on the leave-one-set-out
sets it scored no better than these features and cost more than the rest of the scan together
(models/README.md has the figures).

A category the rules already flag gets nothing more from here. Where the head's probability passes its
threshold (chosen on labeled sets the weights were not fitted on), the item gets one medium finding
(`review`, never `block`) that names the sentence that scored highest and says plainly why.

`MEDSPA_SCAN_LEARNED=off` turns the layer off; `MEDSPA_SCAN_LEARNED=PATH` loads other weights (the
leave-one-set-out evaluation does this).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.config import models_dir
from ..core.models import Finding, Item, Severity
from .personal_remarks import unsafe_sentences

log = logging.getLogger(__name__)

MODELS_DIR = models_dir()  # the checkout's models/, else the copy in the wheel
DEFAULT_WEIGHTS = MODELS_DIR / "learned" / "weights.npz"
KINDS = ("post", "reply", "comment", "message")
SEVERITY_LEVEL = {"high": 3, "medium": 2, "low": 1, "info": 1}
ROLES = ("addressee", "third_party", "unknown", "staff", "recipient", "celebrity", "spa")
CATEGORIES = ("patient_identifier", "relationship_confirmation", "treatment_disclosure", "medical_advice")
HASH_BUCKETS = 2 ** 14
_WORD = re.compile(r"\w\w+")
MIN_WORDS = 5  # below this a bag of n-grams cannot tell "Thanks Jo!" (convention 3: clean) from a confirmation
EXTRA_SIGNALS = 9  # the `extra` list in signal_features
SIGNAL_COUNT = (len(CATEGORIES) + 1) * 3 + len(KINDS) + len(ROLES) + EXTRA_SIGNALS


def hashed_ngrams(texts: list[str]) -> np.ndarray:
    """Word unigrams and bigrams of each text (lower-cased, words of 2+ letters), counted into
    HASH_BUCKETS buckets by a stable hash and scaled to unit length: (len(texts), HASH_BUCKETS)."""
    out = np.zeros((len(texts), HASH_BUCKETS), dtype=np.float32)
    for row, text in enumerate(texts):
        words = _WORD.findall(text.lower())
        for gram in words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]:
            digest = hashlib.blake2b(gram.encode("utf-8"), digest_size=8).digest()
            out[row, int.from_bytes(digest, "little") % HASH_BUCKETS] += 1.0
        norm = float(np.linalg.norm(out[row]))
        if norm:
            out[row] /= norm
    return out


def rule_levels(findings: list[Finding]) -> dict[str, int]:
    """The highest severity the rules gave each category: 3 high, 2 medium, 1 low or info."""
    level: dict[str, int] = {}
    for f in findings:
        level[f.category] = max(level.get(f.category, 0), SEVERITY_LEVEL.get(f.severity.value, 0))
    return level


def signal_features(item: Item, analysis: Any, findings: list[Finding]) -> np.ndarray:
    """What the rules and the text analysis already know about the item, as numbers."""
    level = rule_levels(findings)
    cats = [*CATEGORIES, "unauthorized_use"]
    rule = [float(level.get(c, 0) == lv) for c in cats for lv in (3, 2, 1)]
    kind = [float(item.kind == k) for k in KINDS]
    roles = [min(sum(p.role == r for p in analysis.persons), 3) / 3 for r in ROLES]
    sents = analysis.sentences or []
    terms = {t.text.lower() for t in analysis.treatment_terms}
    extra = [
        float(bool(item.in_reply_to)),
        float(bool(terms)),
        min(len(terms), 4) / 4,
        sum(s.has_2p for s in sents) / max(len(sents), 1),
        float(any(s.has_2p for s in sents)),
        float(bool(terms & analysis.reply_terms)),
        float(analysis.reviewer_prospect),
        float(bool(item.images)),
        min(len(item.text), 600) / 600,
    ]
    return np.array(rule + kind + roles + extra, dtype=np.float32)


def about_someone(item: Item, analysis: Any) -> bool:
    """Every category the heads judge needs a specific person: one named or tagged who is not staff, the spa
    or a celebrity, or, in a reply or comment, the "you" being answered. A post's "you" is the generic reader
    of an ad, and a one-to-one message's "you" (and its greeting) is the patient herself (convention 7)."""
    if any(p.role in ("addressee", "third_party", "unknown") for p in analysis.persons):
        return True
    return item.kind in ("reply", "comment") and any(s.has_2p for s in analysis.sentences)


def feature_matrix(texts: list[str], signals: np.ndarray) -> np.ndarray:
    """The heads' input: the draft's hashed n-grams and the rule signals (which already say what the draft
    shares with the review it answers; the review's own words added nothing on held-out sets)."""
    return np.hstack([hashed_ngrams(texts), signals]).astype(np.float32)


@dataclass
class Heads:
    """One logistic head per category: p = sigmoid(x . w + b); fires at p >= threshold."""

    categories: tuple[str, ...]
    weights: np.ndarray  # (categories, features)
    bias: np.ndarray  # (categories,)
    thresholds: np.ndarray  # (categories,)
    info: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> Heads:
        with np.load(path, allow_pickle=False) as z:
            info = json.loads(str(z["info"]))
            return cls(tuple(info["categories"]), z["weights"], z["bias"], z["thresholds"], info)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        info = dict(self.info, categories=list(self.categories))
        np.savez_compressed(path, weights=self.weights, bias=self.bias, thresholds=self.thresholds,
                            info=np.array(json.dumps(info, sort_keys=True)))

    def proba(self, x: np.ndarray) -> np.ndarray:
        z = x @ self.weights.T + self.bias
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))

    def sentence_scores(self, category: str, sentences: list[str]) -> np.ndarray:
        """How strongly each sentence's own words push the head (the text part of the weights)."""
        return hashed_ngrams(sentences) @ self.weights[self.categories.index(category)][:HASH_BUCKETS]


def weights_path() -> Path | None:
    setting = os.environ.get("MEDSPA_SCAN_LEARNED", "").strip()
    if setting.lower() in ("off", "0", "no", "false"):
        return None
    return Path(setting) if setting else DEFAULT_WEIGHTS


class LearnedLayer:
    """Loaded once per scanner; `assess` adds model findings to items the rules under-flagged."""

    def __init__(self, heads: Heads, rules: dict[str, Any], generic_reply: Any = None):
        self.heads = heads
        self.rules = rules  # category -> the rule entry (rules/learned.yaml) its findings are reported as
        self.generic_reply = generic_reply  # the rule whose safe-reply markers a reply's sentences must escape

    def candidates(self, item: Item, analysis: Any) -> list[Any]:
        """The sentences a finding may name: in a reply to someone, only those that are not a generic reply
        (thanks, apologies, wishes, general information), so the model never flags a pleasantry alone; never a
        sentence without a word ("💕")."""
        if self.generic_reply is None or item.kind not in ("reply", "comment") or not (item.in_reply_to or "").strip():
            sentences = list(analysis.sentences)
        else:
            sentences = unsafe_sentences(self.generic_reply, analysis)
        return [s for s in sentences if _WORD.search(s.text)]  # an emoji alone says nothing a finding could name

    @classmethod
    def load(cls, pack: Any) -> LearnedLayer | None:
        """The layer for a rule pack, or None when it is switched off (or its rules are not in the pack)."""
        path = weights_path()
        if path is None:
            return None
        if not path.exists():
            if os.environ.get("MEDSPA_SCAN_LEARNED"):
                raise RuntimeError(f"learned-layer weights not found at {path} (MEDSPA_SCAN_LEARNED)")
            log.warning("learned layer off: %s is missing (run `make train`)", path)
            return None
        rules = {r.category: r for r in pack.rules if r.detector == "learned"}
        if not rules:
            return None
        heads = Heads.load(path)
        width = HASH_BUCKETS + SIGNAL_COUNT
        if heads.weights.shape[1] != width:
            raise RuntimeError(f"learned-layer weights at {path} expect {heads.weights.shape[1]} features, this "
                               f"scanner makes {width}: they were trained for another version (run `make train`)")
        generic_reply = next((r for r in pack.rules if r.detector == "personal_remark"), None)
        return cls(heads, rules, generic_reply)

    def features(self, staged: list[tuple[Item, Any, list[Finding]]]) -> np.ndarray:
        signals = np.vstack([signal_features(it, a, f) for it, a, f in staged])
        return feature_matrix([a.text for _, a, _ in staged], signals)  # the normalized text the rules read

    def assess(self, staged: list[tuple[Item, Any, list[Finding]]]) -> list[list[Finding]]:
        """Extra findings per item: one per category the heads flag and the rules did not.

        Only items that could get a finding are scored: about a specific person, with some reported category
        the rules left unflagged, and at least MIN_WORDS words long."""
        out: list[list[Finding]] = [[] for _ in staged]
        flagged = [{f.category for f in fs if f.severity in (Severity.high, Severity.medium)} for _, _, fs in staged]
        sentences: dict[int, list[Any]] = {}  # the sentences a finding may name, for the items worth scoring
        for i, (item, analysis, _) in enumerate(staged):
            if about_someone(item, analysis) and set(self.rules) - flagged[i] and len(_WORD.findall(analysis.text)) >= MIN_WORDS:
                sentences[i] = self.candidates(item, analysis)
        todo = [i for i, cands in sentences.items() if cands]
        if not todo:
            return out
        x = self.features([staged[i] for i in todo])
        probs = self.heads.proba(x)
        for row, i in enumerate(todo):
            item, analysis, _ = staged[i]
            for c, cat in enumerate(self.heads.categories):
                p = float(probs[row, c])
                if cat in flagged[i] or cat not in self.rules or p < self.heads.thresholds[c]:
                    continue
                out[i].append(self._finding(item, analysis, sentences[i], cat, p))
        return out

    def _finding(self, item: Item, analysis: Any, sentences: list[Any], category: str, p: float) -> Finding:
        start, end = 0, len(item.text)
        if len(analysis.sentences) > 1:
            scores = self.heads.sentence_scores(category, [s.text for s in sentences])
            best = sentences[int(np.argmax(scores))]
            start, end = analysis.to_original(best.start, best.end)  # sentences are in the normalized text
        rule = self.rules[category]
        return Finding(
            rule_id=rule.id, category=category, severity=Severity(rule.severity), message=rule.message,
            evidence=item.text[start:end].strip()[:300], start=start, end=end, source="text",
            citation=rule.citation, suggestion=rule.remediation, score=round(p, 3), pattern="learned layer",
            detail={"model": self.heads.info.get("name", "learned"), "threshold": float(
                self.heads.thresholds[self.heads.categories.index(category)])},
        )
