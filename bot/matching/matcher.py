"""Match one message against the rules: which topics, which rule fired, where in the text.

    result = match(rules, "Т.Ц.К пакують біля метро", chat)
    result.topics                  # ['busification', 'enlistment_centre']
    result.matches[0].start, .end  # span in the original text, for highlighting

Pure and fast: the text is normalised and split into words; each distinct word is looked up once
(cached) to learn which word tests ("atoms") it passes; only rules whose terms start with one of
those atoms are evaluated. A typical chat message passes no atom at all and costs a regex split
and a few dictionary lookups.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from bot.matching.language import detect, from_letters
from bot.matching.normalise import Normalised, normalise
from bot.matching.rules import Rule, Rules
from bot.matching.terms import Term, occurrences
from bot.matching.words import WORD_RE
from bot.model import Chat, Match, MatchResult

_CYRILLIC = re.compile(r"[а-яіїєґё]")


@dataclass(frozen=True, slots=True)
class Firing:
    """One rule that fired, with the normalised-token span of its term."""

    rule: Rule
    term: Term
    first: int
    last: int


class _Message:
    """A normalised message and, per word, the atoms it passes."""

    __slots__ = ("normalised", "words", "token_atoms", "positions", "_spans")

    def __init__(self, rules: Rules, text: str):
        self.normalised: Normalised = normalise(text)
        # findall, not Token objects: word positions are only needed for the rare message that matches.
        self.words = WORD_RE.findall(self.normalised.text)
        atoms_of = rules.index.atoms_of
        self.token_atoms = [atoms_of(word) for word in self.words]
        self.positions: dict[int, list[int]] = {}
        for i, atoms in enumerate(self.token_atoms):
            for atom in atoms:
                self.positions.setdefault(atom, []).append(i)
        self._spans: list[tuple[int, int]] | None = None

    def find(self, term: Term):
        if term.first_atoms.isdisjoint(self.positions):
            return iter(())
        found: set[int] = set()
        for atom in term.first_atoms:
            found.update(self.positions.get(atom, ()))
        return occurrences(term, self.token_atoms, sorted(found), self.positions)

    def present(self, terms: tuple[Term, ...]) -> bool:
        for term in terms:
            if term.first_atoms.isdisjoint(self.positions):
                continue
            if term.single_word or next(iter(self.find(term)), None) is not None:
                return True
        return False

    def span(self, first: int, last: int) -> tuple[int, int]:
        if self._spans is None:
            self._spans = [m.span() for m in WORD_RE.finditer(self.normalised.text)]
        return self.normalised.span(self._spans[first][0], self._spans[last][1])


def fired(rules: Rules, text: str, chat: Chat | None = None) -> tuple[_Message, list[Firing]]:
    """Every rule that fires on `text`, in file order (used by match and by the examples runner)."""
    message = _Message(rules, text or "")
    candidates: set[int] = set()
    for atom in message.positions:
        candidates.update(rules.triggers.get(atom, ()))
    firings = []
    for position in sorted(candidates):
        rule = rules.rules[position]
        firing = _evaluate(rule, message, chat)
        if firing is not None:
            firings.append(firing)
    return message, firings


def _evaluate(rule: Rule, message: _Message, chat: Chat | None) -> Firing | None:
    if rule.scope is not None and not rule.scope.admits(chat):
        return None
    if rule.unless and message.present(rule.unless):
        return None
    if rule.requires and not message.present(rule.requires):
        return None
    guards = [span for term in rule.unless_near for span in message.find(term)]
    for term in rule.terms:
        for first, last in message.find(term):
            if not any(g_first <= last + rule.near and g_last >= first - rule.near for g_first, g_last in guards):
                return Firing(rule, term, first, last)
    return None


def match(rules: Rules, text: str, chat: Chat | None = None) -> MatchResult:
    """Topics that `text` matches, one Match per topic (the first rule in file order that fired)."""
    message, firings = fired(rules, text, chat)
    matches: list[Match] = []
    seen: set[str] = set()
    for firing in firings:
        if firing.rule.topic in seen:
            continue
        seen.add(firing.rule.topic)
        start, end = message.span(firing.first, firing.last)
        matches.append(Match(firing.rule.topic, firing.rule.id, firing.term.source, start, end))
    return MatchResult(tuple(matches), _language(message, matches))


def _language(message: _Message, matches: list[Match]) -> str | None:
    normalised = message.normalised.text
    language = from_letters(normalised, message.normalised.original)
    if language is not None or not matches:
        # langdetect is the slowest step by far; unmatched messages are not worth it.
        return language
    detected = detect(normalised)
    latin_text = not _CYRILLIC.search(normalised)
    if latin_text and detected != "en" and any(_CYRILLIC.search(m.term.casefold()) for m in matches):
        # Latin text that is not English is transliterated uk/ru here, which langdetect (trained on
        # Cyrillic uk/ru) calls Finnish or Croatian; the letters of the Cyrillic terms it matched tell more.
        return from_letters(" ".join(m.term.casefold() for m in matches))
    return detected
