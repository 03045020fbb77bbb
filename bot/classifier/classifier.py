"""The model's second opinion on messages the rules have already seen.

    classifier = Classifier.load(Path("bot/classifier/model.npz"))   # ModelError naming the file
    results = classifier.second_opinion([(text, rules_result), ...]) # MatchResults, model added

Rules stay primary: a topic a rule found is left as it is, and the model is only asked about
the others. A confident model hit is added as a Match with rule MODEL_RULE whose term names the
labelled examples it resembles; an uncertain one becomes an Opinion the digest lists to review.
Batched: one sparse-matrix product scores a whole page of messages.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from bot.classifier.features import prepare, vectorise
from bot.classifier.modelfile import Stored, load
from bot.model import MODEL_RULE, Match, MatchResult, Opinion

NEIGHBOURS = 3
QUOTE = 80  # characters of each neighbour quoted in a Match's term


class Classifier:
    def __init__(self, stored: Stored, path: Path | None = None):
        self.stored = stored
        self.path = path
        self.topics = stored.topics
        self._neighbours = None  # vectors of the quotable examples, made on first use

    @classmethod
    def load(cls, path: Path) -> "Classifier":
        return cls(load(path), path)

    def scores(self, texts: list[str]) -> np.ndarray:
        """Probabilities, len(texts) × topics."""
        return self._scores(vectorise(texts))

    def _scores(self, X) -> np.ndarray:
        logits = np.asarray(X @ self.stored.weights) + self.stored.bias
        return 1.0 / (1.0 + np.exp(-logits))

    def like(self, text: str, topic: str, k: int = NEIGHBOURS) -> list[dict]:
        """The k labelled examples of `topic` nearest to `text` (cosine over the same features)."""
        candidates = [i for i, n in enumerate(self.stored.neighbours) if topic in n["topics"]]
        if not candidates:
            return []
        if self._neighbours is None:
            self._neighbours = vectorise([n["text"] for n in self.stored.neighbours])
        similarity = (self._neighbours[candidates] @ vectorise([text]).T).toarray().ravel()
        best = np.argsort(-similarity, kind="stable")[:k]
        return [self.stored.neighbours[candidates[i]] for i in best]

    def second_opinion(self, items: list[tuple[str, MatchResult]]) -> list[MatchResult]:
        """Each rules' result with the model's confident hits and review topics added."""
        if not items:
            return []
        scores = self._scores(vectorise([prepare(text) for text, _ in items], normalised=True))
        out = []
        for (text, result), row in zip(items, scores):
            out.append(self._decide(text, result, row))
        return out

    def _decide(self, text: str, result: MatchResult, row: np.ndarray) -> MatchResult:
        found_by_rules = set(result.topics)
        opinions, added = [], []
        for topic, score in zip(self.topics, row):
            if topic in found_by_rules:
                continue
            thresholds = self.stored.thresholds[topic]
            if score < thresholds.review:
                continue
            found = bool(score >= thresholds.found)
            like = tuple(n["text"] for n in self.like(text, topic))
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
