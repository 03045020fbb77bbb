"""Train the model: one linear classifier per topic over character n-grams, thresholds by
cross-validation. Deterministic: the same examples give the same model, bit for bit.

    model = train(examples, topics=["szch", "busification", "enlistment_centre"])
    model.thresholds["szch"]      # Thresholds(found=0.83, review=0.41)

Two thresholds per topic, both chosen on out-of-fold scores of the training data only (each
example scored by a model that never saw it), among the examples the rules do not find: at or
above `found` the model was right at least FOUND_PRECISION of the time, so its hit counts as
found; from `review` up it was right at least REVIEW_PRECISION of the time, worth a human look
but not a claim.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from bot.classifier.examples import Example, fingerprint, topic_targets
from bot.classifier.features import N_FEATURES, prepare, vectorise
from bot.classifier.modelfile import Thresholds

SEED = 20261130
FOLDS = 5
C = 10.0
FOUND_PRECISION = 0.95
REVIEW_PRECISION = 0.6
NEVER = 1.01  # a threshold no probability reaches


@dataclass(slots=True)
class Trained:
    topics: list[str]
    weights: np.ndarray  # N_FEATURES × topics, float32
    bias: np.ndarray  # topics, float32
    thresholds: dict[str, Thresholds]
    examples: list[Example]  # in training order
    data_sha256: str
    counts: dict[str, tuple[int, int]]  # topic → (positives, negatives)


def _classifier() -> LogisticRegression:
    return LogisticRegression(C=C, solver="liblinear", class_weight="balanced", random_state=SEED)


def train(examples: list[Example], topics: list[str],
          found_by_rules: Callable[[Example], Iterable[str]] | None = None) -> Trained:
    """A model for `topics` from `examples`; ValueError if a topic has too few positives or negatives.

    `found_by_rules(example)`: the topics the rules find in it. The model is only ever asked
    about the others, so its thresholds are set on those examples alone: where the rules are
    silent, the negatives left are the look-alikes the rules were written to reject."""
    found = [set(found_by_rules(e)) if found_by_rules else set() for e in examples]
    prepared = [prepare(e.text) for e in examples]
    X_all = vectorise(prepared, prepared=True).matrix()
    index = {id(e): i for i, e in enumerate(examples)}
    weights = np.zeros((N_FEATURES, len(topics)), dtype=np.float32)
    bias = np.zeros(len(topics), dtype=np.float32)
    thresholds, counts = {}, {}
    for column, topic in enumerate(topics):
        pairs = topic_targets(examples, topic)
        y = np.array([t for _, t in pairs], dtype=int)
        positives = int(y.sum())
        counts[topic] = (positives, len(y) - positives)
        if positives < FOLDS or len(y) - positives < FOLDS:
            raise ValueError(f"topic {topic!r}: {positives} positive and {len(y) - positives} negative "
                             f"examples; at least {FOLDS} of each are needed")
        X = X_all[[index[id(e)] for e, _ in pairs]]
        asked = np.array([topic not in found[index[id(e)]] for e, _ in pairs], dtype=bool)
        thresholds[topic] = _thresholds(_out_of_fold(X, y)[asked], y[asked])
        model = _classifier().fit(X, y)
        weights[:, column] = model.coef_[0].astype(np.float32)
        bias[column] = np.float32(model.intercept_[0])
    return Trained(topics=list(topics), weights=weights, bias=bias, thresholds=thresholds,
                   examples=list(examples), data_sha256=fingerprint(examples), counts=counts)


def _out_of_fold(X, y: np.ndarray) -> np.ndarray:
    scores = np.zeros(len(y))
    for fit, held in StratifiedKFold(FOLDS, shuffle=True, random_state=SEED).split(X, y):
        scores[held] = _classifier().fit(X[fit], y[fit]).predict_proba(X[held])[:, 1]
    return scores


def _thresholds(scores: np.ndarray, y: np.ndarray) -> Thresholds:
    found = lowest_threshold(scores, y, FOUND_PRECISION)
    review = min(lowest_threshold(scores, y, REVIEW_PRECISION), found)
    return Thresholds(found=round(found, 4), review=round(review, 4))


def lowest_threshold(scores: np.ndarray, y: np.ndarray, precision: float) -> float:
    """The lowest score t such that the examples scored t or more are right at least
    `precision` of the time; NEVER if no such cut exists. Ties are cut together."""
    if not len(y):
        return NEVER
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    good = np.cumsum(y[order]) / np.arange(1, len(y) + 1) >= precision
    # a cut can only fall after the last of equal scores
    cuttable = np.append(ranked[1:] != ranked[:-1], True)
    candidates = np.flatnonzero(good & cuttable)
    return float(ranked[candidates[-1]]) if len(candidates) else NEVER
