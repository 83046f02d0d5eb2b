"""Fit the learned layer's heads (`make train`) and choose their thresholds on sets they were not fitted on.

    python -m evaluation.train [--out models/learned/weights.npz] [--holdout SET]

Without --holdout: heads fitted on every labeled set, thresholds chosen on out-of-fold predictions
(each set predicted by heads fitted on the others). With --holdout S: the same with S left out entirely,
which is what `make eval` scores S with. Rule signals of a training set T always come from the rules with
T's own fitted entries left out, so the heads learn how the rules behave on unseen text.
"""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
from scipy import sparse

from scanner.text.learned import CATEGORIES as HEAD_CATEGORIES
from scanner.text.learned import HASH_BUCKETS, Heads, feature_matrix

from .corpus import CATEGORIES, SETS, SetFeatures, collect

C_REG = 2.0  # inverse L2 strength of the logistic heads
BETA = 0.8  # thresholds maximize F-beta of (rule or head): a little more weight on precision


def training_features(train_sets: list[str], outside: frozenset[str]) -> list[SetFeatures]:
    """Each training set scanned with its own fitted rules (and everything in `outside`) left out."""
    return [collect(t, outside | {t}) for t in train_sets]


_MATRICES: dict[tuple[str, bytes], sparse.csr_matrix] = {}


def _matrix(f: SetFeatures) -> sparse.csr_matrix:
    """A set's feature matrix (sparse: the hashed n-grams are mostly zeros), built once per set and signals."""
    key = (f.name, hashlib.blake2b(f.signals.tobytes(), digest_size=16).digest())
    if key not in _MATRICES:
        _MATRICES[key] = sparse.csr_matrix(feature_matrix(f.texts, f.signals))
    return _MATRICES[key]


def _xy(feats: list[SetFeatures]) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
    x = sparse.vstack([_matrix(f) for f in feats], format="csr")
    y = np.vstack([f.labels for f in feats])
    rule = np.vstack([f.rule_level for f in feats])
    return x, y, rule


def fit_heads(feats: list[SetFeatures]) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    x, y, _ = _xy(feats)
    w, b = [], []
    for cat in HEAD_CATEGORIES:
        j = CATEGORIES.index(cat)
        clf = LogisticRegression(C=C_REG, class_weight="balanced", max_iter=3000)
        clf.fit(x, y[:, j])
        w.append(clf.coef_[0])
        b.append(clf.intercept_[0])
    return np.array(w, dtype=np.float32), np.array(b, dtype=np.float32)


def _fbeta(tp: int, fp: int, fn: int, beta: float = BETA) -> float:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return (1 + beta**2) * p * r / (beta**2 * p + r) if p + r else 0.0


def choose_thresholds(probs: np.ndarray, y: np.ndarray, rule: np.ndarray) -> np.ndarray:
    """Per head, the threshold at which (rule flags it or head >= t) scores best on out-of-fold data."""
    out = []
    for c, cat in enumerate(HEAD_CATEGORIES):
        j = CATEGORIES.index(cat)
        truth = y[:, j] == 1
        ruled = rule[:, j] >= 2
        best, best_t = -1.0, 0.99
        for t in np.arange(0.30, 0.99, 0.01):
            pred = ruled | (probs[:, c] >= t)
            score = _fbeta(int((pred & truth).sum()), int((pred & ~truth).sum()), int((~pred & truth).sum()))
            if score > best + 1e-9:
                best, best_t = score, float(t)
        out.append(best_t)
    return np.array(out, dtype=np.float32)


def out_of_fold(train_sets: list[str], outside: frozenset[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predictions for each training set from heads fitted on the other training sets."""
    probs, ys, rules = [], [], []
    for t in train_sets:
        others = [s for s in train_sets if s != t]
        w, b = fit_heads(training_features(others, outside))
        heads = Heads(HEAD_CATEGORIES, w, b, np.zeros(len(w)), {})
        feat = collect(t, outside | {t})
        x, y, rule = _xy([feat])
        probs.append(heads.proba(x))
        ys.append(y)
        rules.append(rule)
    return np.vstack(probs), np.vstack(ys), np.vstack(rules)


def train(holdout: str | None = None) -> Heads:
    outside = frozenset([holdout]) if holdout else frozenset()
    train_sets = [s for s in SETS if s != holdout]
    probs, y, rule = out_of_fold(train_sets, outside)
    thresholds = choose_thresholds(probs, y, rule)
    w, b = fit_heads(training_features(train_sets, outside))
    info = {"name": "ngram-logistic-v2", "fitted_on": train_sets, "C": C_REG, "beta": BETA,
            "text_features": f"hashed word 1-2-grams, {HASH_BUCKETS} buckets"}
    return Heads(HEAD_CATEGORIES, w, b, thresholds, info)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--holdout", choices=SETS)
    ap.add_argument("--out", type=Path, default=Path("models/learned/weights.npz"))
    a = ap.parse_args()
    heads = train(a.holdout)
    heads.save(a.out)
    print(f"wrote {a.out}: fitted on {', '.join(heads.info['fitted_on'])}; thresholds "
          + ", ".join(f"{c} {t:.2f}" for c, t in zip(heads.categories, heads.thresholds, strict=True)))


if __name__ == "__main__":
    main()
