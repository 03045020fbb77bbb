"""How the rules and the model fare against labelled messages. Pure.

    scores = rule_scores(rules, examples)      # per rule: where it fired, right and wrong
    for m in mistakes(rules, examples): print(m)
    top = suggestions(classifier, rules, texts)

Examples are bot.classifier.examples.Example: the project's labelled sets (every topic judged)
and the archive's labels (one topic each). A rule is right where it fires on a message labelled
with its topic and wrong where the message was labelled as not about it; a message of a topic
that no rule fires on is a miss of the topic, not of any one rule.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from bot.classifier.examples import Example
from bot.matching import Rules
from bot.matching.matcher import fired


@dataclass(slots=True)
class RuleScore:
    rule: str
    topic: str
    right: int = 0
    wrong: list[Example] = field(default_factory=list)  # fired on a message labelled "not this topic"

    @property
    def fires(self) -> int:
        return self.right + len(self.wrong)

    @property
    def precision(self) -> float | None:
        return self.right / self.fires if self.fires else None


@dataclass(frozen=True, slots=True)
class Mistake:
    example: Example
    topic: str
    expected: bool
    rules: tuple[str, ...]  # the rules of the topic that fired (none for a miss)

    def __str__(self) -> str:
        where = f"{self.example.source} {self.example.id}"
        if self.expected:
            return f"{where}: labelled {self.topic}, no rule finds it: «{_cut(self.example.text)}»"
        return (f"{where}: labelled not {self.topic}, but rule {', '.join(repr(r) for r in self.rules)} "
                f"fires: «{_cut(self.example.text)}»")


def _fired(rules: Rules, example: Example) -> dict[str, list[str]]:
    _, firings = fired(rules, example.text, example.chat)
    by_topic: dict[str, list[str]] = {}
    for firing in firings:
        by_topic.setdefault(firing.rule.topic, []).append(firing.rule.id)
    return by_topic


def rule_scores(rules: Rules, examples: list[Example]) -> list[RuleScore]:
    """One score per enabled rule, in file order."""
    scores = {r.id: RuleScore(r.id, r.topic) for r in rules.rules if r.enabled}
    for example in examples:
        for topic, ids in _fired(rules, example).items():
            target = example.target(topic)
            if target is None:
                continue
            for rule_id in ids:
                if rule_id not in scores:
                    continue
                if target:
                    scores[rule_id].right += 1
                else:
                    scores[rule_id].wrong.append(example)
    return list(scores.values())


def mistakes(rules: Rules, examples: list[Example]) -> list[Mistake]:
    """Labelled messages the rules get wrong: a topic missed, or found against the label."""
    out = []
    for example in examples:
        found = _fired(rules, example)
        judged = example.judged if example.judged is not None else set(rules.topics) | set(example.topics)
        for topic in sorted(judged):
            expected = topic in example.topics
            if expected != (topic in found):
                out.append(Mistake(example, topic, expected, tuple(found.get(topic, ()))))
    return out


def suggestions(classifier, rules: Rules, texts: list[str], top: int = 5) -> dict[str, tuple[Counter, list]]:
    """Per topic: how often the model found it or wants it reviewed where no rule did
    (Counter with "found" and "review"), and its `top` most confident suggestions (score, text)."""
    from bot.matching import match

    results = classifier.second_opinion([(t, match(rules, t)) for t in texts])
    out: dict[str, tuple[Counter, list]] = {}
    for text, result in zip(texts, results):
        for opinion in result.opinions:
            counts, best = out.setdefault(opinion.topic, (Counter(), []))
            counts["found" if opinion.found else "review"] += 1
            best.append((opinion.score, text))
    for counts, best in out.values():
        best.sort(key=lambda pair: -pair[0])
        del best[top:]
    return out


def _cut(text: str, width: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
