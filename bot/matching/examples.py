"""Run the example messages embedded in the keywords file.

    failures = run_examples(rules)
    for f in failures: print(f)     # "keywords.toml:40: rule 'povistka': «повістка дня …» expected no match, got rule 'povistka'"

A `must_match` example passes when its own rule fires (other rules of the topic may fire too).
A `must_not_match` example passes when its topic does not match at all: the moderator wrote it to
keep a meaning out of the topic, whichever rule would let it in. Examples of a rule limited to some
chats are run as if posted in the first of those chats (a rule limited to kinds of chat: in a chat of
its first kind); examples of disabled rules are skipped.
"""
from __future__ import annotations

from dataclasses import dataclass

from bot.matching.matcher import fired
from bot.matching.rules import Example, Rules


@dataclass(frozen=True, slots=True)
class ExampleFailure:
    example: Example
    got: tuple[str, ...]  # ids of the rules of the example's topic that fired
    source: str

    def __str__(self) -> str:
        e = self.example
        where = f"{self.source}:{e.line}" if e.line else self.source
        if e.should_match:
            got = f"rules of the topic that fired: {', '.join(self.got)}" if self.got else "nothing fired"
            return f"{where}: rule {e.rule!r} should match «{e.text}» but did not ({got})"
        return f"{where}: rule {e.rule!r}: «{e.text}» should not match topic {e.topic!r}, got rule {self.got[0]!r}"


def run_examples(rules: Rules) -> tuple[int, list[ExampleFailure]]:
    """(how many examples ran, the ones that failed)."""
    enabled = {r.id for r in rules.rules if r.enabled}
    failures = []
    ran = 0
    for example in rules.examples:
        if example.rule not in enabled:
            continue
        ran += 1
        _, firings = fired(rules, example.text, example.chat, example.kind)
        topic_rules = tuple(f.rule.id for f in firings if f.rule.topic == example.topic)
        if example.should_match and example.rule not in topic_rules:
            failures.append(ExampleFailure(example, topic_rules, rules.source))
        elif not example.should_match and topic_rules:
            failures.append(ExampleFailure(example, topic_rules, rules.source))
    return ran, failures
