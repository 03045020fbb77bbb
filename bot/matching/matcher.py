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
from bot.matching.rules import Rule, Rules, Settings
from bot.matching.terms import Term, occurrences
from bot.matching.words import WORD_RE
from bot.model import Chat, Match, MatchResult

_CYRILLIC = re.compile(r"[а-яіїєґё]")
# A four-digit number followed by one of these is an amount, not a year.
_NOT_A_YEAR = frozenset("грн гривень гривні гривня доларів долларов дол євро евро руб рублей рублів тис тыс км кг "
                        "метрів метров осіб человек людей чоловік га uah usd eur".split())


@dataclass(frozen=True, slots=True)
class Firing:
    """One rule that fired, with the normalised-token span of its term."""

    rule: Rule
    term: Term
    first: int
    last: int


class _Message:
    """A normalised message and, per word, the atoms it passes."""

    __slots__ = ("normalised", "words", "token_atoms", "positions", "_spans", "_years")

    def __init__(self, rules: Rules, text: str):
        self.normalised: Normalised = normalise(text)
        # findall, not Token objects: word positions are only needed for the rare message that matches.
        self.words = WORD_RE.findall(self.normalised.text)
        atoms_of = rules.index.atoms_of
        known = rules.index.cached  # the cache itself: one dict lookup per word seen before
        self.token_atoms = token_atoms = []
        self.positions: dict[int, list[int]] = {}
        positions = self.positions
        for i, word in enumerate(self.words):
            atoms = known.get(word)
            if atoms is None:
                atoms = atoms_of(word)
            token_atoms.append(atoms)
            if atoms:  # most words pass no atom
                for atom in atoms:
                    if atom in positions:
                        positions[atom].append(i)
                    else:
                        positions[atom] = [i]
        self._spans: list[tuple[int, int]] | None = None
        self._years: list[int] | None = None

    def years_before(self, year: int) -> list[int]:
        """Positions of the words that are a year before `year` (not a sum: «1500 грн» is money)."""
        if self._years is None:
            words = self.words
            self._years = [i for i, w in enumerate(words)
                           if len(w) == 4 and w.isdigit() and 1900 <= int(w) < year
                           and (i + 1 == len(words) or words[i + 1] not in _NOT_A_YEAR)]
        return self._years

    def find(self, term: Term):
        if term.first_atoms.isdisjoint(self.positions):
            return iter(())
        found: set[int] = set()
        for atom in term.first_atoms:
            found.update(self.positions.get(atom, ()))
        return occurrences(term, self.token_atoms, sorted(found), self.positions)

    def may_have(self, term: Term) -> bool:
        """False when some word of every alternative of `term` is missing: no search needed."""
        positions = self.positions
        if term.single_word:
            return not term.first_atoms.isdisjoint(positions)
        return any(all(not step.atoms.isdisjoint(positions) for step in alternative)
                   for alternative in term.alternatives)

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


def fired(rules: Rules, text: str, chat: Chat | None = None,
          kind: str | None = None) -> tuple[_Message, list[Firing]]:
    """Every rule that fires on `text`, in file order (used by match and by the examples runner).

    `kind` is the kind of chat (city, news …) when the caller knows it; else [kinds] tells from `chat`.
    """
    message = _Message(rules, text or "")
    candidates: set[int] = set()
    for atom in message.positions:
        candidates.update(rules.triggers.get(atom, ()))
    if not candidates:
        return message, []
    kind = kind or rules.kind_of(chat)
    history = rules.settings
    firings = []
    for position in sorted(candidates):
        rule = rules.rules[position]
        firing = _evaluate(rule, message, chat, kind, history)
        if firing is not None:
            firings.append(firing)
    return message, firings


def _evaluate(rule: Rule, message: _Message, chat: Chat | None, kind: str,
              settings: Settings) -> Firing | None:
    if rule.scope is not None or rule.kinds is not None:
        # A rule limited to chats and kinds fires in a chat it names or in a chat of a kind it names.
        by_chat = rule.scope is not None and rule.scope.admits(chat)
        if not by_chat and not (rule.kinds is not None and kind in rule.kinds):
            return None
    # The terms' words first: most rules tried on a message lack a later word of every term, and
    # the guards (long lists) need not be looked at then.
    if not any(message.may_have(term) for term in rule.terms):
        return None
    if rule.unless and message.present(rule.unless):
        return None
    if rule.requires and not message.present(rule.requires):
        return None
    guards = [span for term in rule.unless_near for span in message.find(term)]
    if rule.history_guard and settings.history_before:
        # A year before the war began (2014 by default) near the term: a history lesson, not news.
        near = settings.history_near
        guards += [(year - near + rule.near, year + near - rule.near)
                   for year in message.years_before(settings.history_before)]
    for term in rule.terms:
        for first, last in message.find(term):
            if not any(g_first <= last + rule.near and g_last >= first - rule.near for g_first, g_last in guards):
                return Firing(rule, term, first, last)
    return None


def match(rules: Rules, text: str, chat: Chat | None = None, kind: str | None = None) -> MatchResult:
    """Topics that `text` matches, one Match per topic (the first rule in file order that fired)."""
    message, firings = fired(rules, text, chat, kind)
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
