"""The model's second opinion on messages the rules have already seen.

    classifier = Classifier.load(Path("bot/classifier/model.npz"))   # ModelError naming the file
    results = classifier.second_opinion([(text, rules_result), ...]) # MatchResults, model added

Rules stay primary: a topic a rule found is left as it is, and the model is only asked about
the others. A confident model hit is added as a Match with rule MODEL_RULE whose term names the
labelled examples it resembles; an uncertain one becomes an Opinion the digest lists to review.
Batched: a whole page of messages is scored with a few numpy operations.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from bot.classifier.features import Neighbours, Rows, prepare, vectorise
from bot.classifier.modelfile import Stored, load
from bot.model import MODEL_RULE, Match, MatchResult, Opinion

NEIGHBOURS = 3
QUOTE = 80  # characters of each neighbour quoted in a Match's term


class Classifier:
    def __init__(self, stored: Stored, path: Path | None = None):
        self.stored = stored
        self.path = path
        self.topics = stored.topics
        self._neighbours: Neighbours | None = None  # the quotable examples, indexed on first use

    @classmethod
    def load(cls, path: Path) -> "Classifier":
        return cls(load(path), path)

    def scores(self, texts: list[str]) -> np.ndarray:
        """Probabilities, len(texts) × topics."""
        return self._scores(vectorise(texts))

    def _scores(self, X: Rows) -> np.ndarray:
        logits = X.dot(self.stored.weights) + self.stored.bias
        return 1.0 / (1.0 + np.exp(-logits))

    def _neighbour_index(self) -> Neighbours:
        if self._neighbours is None:
            self._neighbours = Neighbours(vectorise([n["text"] for n in self.stored.neighbours]))
        return self._neighbours

    def like(self, text: str, topic: str, k: int = NEIGHBOURS) -> list[dict]:
        """The k labelled examples of `topic` nearest to `text` (cosine over the same features)."""
        return self._nearest(self._neighbour_index().similarity(vectorise([text]), 0), topic, k)

    def _nearest(self, similarity: np.ndarray, topic: str, k: int = NEIGHBOURS) -> list[dict]:
        candidates = np.array([i for i, n in enumerate(self.stored.neighbours) if topic in n["topics"]], dtype=int)
        if not len(candidates):
            return []
        best = candidates[np.argsort(-similarity[candidates], kind="stable")[:k]]
        return [self.stored.neighbours[i] for i in best]

    def second_opinion(self, items: list[tuple[str, MatchResult]]) -> list[MatchResult]:
        """Each rules' result with the model's confident hits and review topics added."""
        if not items:
            return []
        X = vectorise([prepare(text) for text, _ in items], prepared=True)
        scores = self._scores(X)
        thresholds = [self.stored.thresholds[t] for t in self.topics]
        # the usual message is far below every review threshold: decided without a Python loop
        review = np.array([th.review for th in thresholds])
        rows = np.flatnonzero((scores >= review).any(axis=1))
        out = [result for _, result in items]
        for row in rows:
            out[row] = self._decide(out[row], scores[row], thresholds, X, row)
        return out

    def _decide(self, result: MatchResult, row: np.ndarray, thresholds: list, X: Rows, r: int) -> MatchResult:
        found_by_rules = set(result.topics)
        opinions, added = [], []
        near = None
        for topic, score, threshold in zip(self.topics, row, thresholds):
            if topic in found_by_rules or score < threshold.review:
                continue
            found = bool(score >= threshold.found)
            if near is None:
                near = self._neighbour_index().similarity(X, r)
            like = tuple(n["text"] for n in self._nearest(near, topic))
            opinions.append(Opinion(topic, round(float(score), 4), found, like))
            if found:
                added.append(Match(topic, MODEL_RULE, explanation(like), 0, 0))
        if not opinions:
            return result
        return replace(result, matches=result.matches + tuple(added), opinions=tuple(opinions))


def explanation(like: tuple[str, ...]) -> str:
    """What a model hit says instead of a matched term."""
    quoted = "; ".join(f"«{_cut(text)}»" for text in like)
    return f"found by the model, like these labelled examples: {quoted}" if quoted else "found by the model"


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE else text[: QUOTE - 1] + "…"
