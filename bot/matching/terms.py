"""Terms of the keywords file → sequences of word tests, and the index that finds them fast.

    index = AtomIndex()
    term = compile_term("втік ~1 з (частини|ППД)", index)
    index.atoms_of("частини")   # the ids of every word test that «частини» passes

A term is one or more alternatives (`a b | c d`); an alternative is a sequence of steps; a step is
a set of word tests ("atoms") that the word at that position must pass, and how many other words
may come before it. Atoms are shared between all rules, so each distinct word of a message is
looked up once and the answer – which atoms it passes – is cached per set of rules.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.matching.normalise import normalise
from bot.matching.words import forms, tokenise

MAX_GAP = 10
MIN_PREFIX = 3
_TYPO_READINGS = 4
# Typos are tolerated for Cyrillic terms only: an English word one letter off a term is usually
# another word (deserted, deserter), while a Latin «dezerter» reaches «дезертир» through its reading.
_CYRILLIC_WORD = re.compile(r"[а-яіїєґё']+")
_CACHE_LIMIT = 200_000
_TERM_TOKEN = re.compile(r"\s*(?:(?P<open>\()|(?P<close>\))|(?P<bar>\|)|(?P<gap>~\S*)|(?P<word>[^\s()|~]+))")


class TermError(ValueError):
    """A term that cannot be compiled; the message says what to write instead."""


@dataclass(frozen=True, slots=True)
class Step:
    atoms: frozenset[int]
    gap: int  # how many other words may stand between the previous step and this one


@dataclass(frozen=True, slots=True)
class Term:
    source: str  # as the moderator wrote it
    alternatives: tuple[tuple[Step, ...], ...]
    first_atoms: frozenset[int] = frozenset()  # atoms a message must have for the term to start
    single_word: bool = False  # one word, no phrase: present iff one of first_atoms is

    @classmethod
    def of(cls, source: str, alternatives: tuple[tuple[Step, ...], ...]) -> Term:
        first = frozenset().union(*(alt[0].atoms for alt in alternatives))
        return cls(source, alternatives, first, all(len(alt) == 1 for alt in alternatives))


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


@dataclass
class AtomIndex:
    """Every word test of a rule set, indexed by the word forms that pass it.

    With typo_min_length > 0, a word the dictionaries do not know also passes the word and prefix
    tests of Cyrillic terms that long or longer when it is one letter off (a letter missing, extra, wrong or
    two swapped). The index holds each long term and its one-letter deletions (a deletion
    neighbourhood), so a word is looked up with its own deletions only: a few dozen dict probes.
    """

    typo_min_length: int = 0
    by_key: dict[str, set[int]] = field(default_factory=dict)  # lemma/stem/word → word atoms
    by_surface: dict[str, set[int]] = field(default_factory=dict)  # exact spelling → exact atoms
    by_prefix: dict[str, set[int]] = field(default_factory=dict)
    by_infix: dict[str, set[int]] = field(default_factory=dict)  # letters anywhere inside a word
    by_typo_key: dict[str, set[int]] = field(default_factory=dict)  # long key and its deletions → atoms
    by_typo_prefix: dict[int, dict[str, set[int]]] = field(default_factory=dict)  # length → ditto
    _interned: dict[tuple, int] = field(default_factory=dict)
    _prefix_lengths: tuple[int, ...] = ()
    _cache: dict[str, frozenset[int]] = field(default_factory=dict)

    def intern(self, kind: str, value) -> int:
        key = (kind, value)
        if key not in self._interned:
            atom = self._interned[key] = len(self._interned)
            typos = self.typo_min_length
            if kind == "word":
                for k in value:
                    self.by_key.setdefault(k, set()).add(atom)
                    if typos and len(k) >= typos and _CYRILLIC_WORD.fullmatch(k):
                        for variant in _deletions(k) | {k}:
                            self.by_typo_key.setdefault(variant, set()).add(atom)
            elif kind == "exact":
                self.by_surface.setdefault(value, set()).add(atom)
            elif kind == "infix":
                self.by_infix.setdefault(value, set()).add(atom)
            else:
                self.by_prefix.setdefault(value, set()).add(atom)
                self._prefix_lengths = tuple(sorted({len(p) for p in self.by_prefix}))
                if typos and len(value) >= typos and _CYRILLIC_WORD.fullmatch(value):
                    table = self.by_typo_prefix.setdefault(len(value), {})
                    for variant in _deletions(value) | {value}:
                        table.setdefault(variant, set()).add(atom)
            self._cache.clear()
        return self._interned[key]

    @property
    def cached(self) -> dict[str, frozenset[int]]:
        """Words already looked up → their atoms (read-only for callers)."""
        return self._cache

    def atoms_of(self, word: str) -> frozenset[int]:
        """Ids of the atoms that the normalised `word` passes (cached)."""
        found = self._cache.get(word)
        if found is not None:
            return found
        word_forms = forms(word)
        hits: set[int] = set()
        for key in word_forms.keys:
            atoms = self.by_key.get(key)
            if atoms:
                hits |= atoms
        for surface in word_forms.surfaces:
            atoms = self.by_surface.get(surface)
            if atoms:
                hits |= atoms
            for length in self._prefix_lengths:
                if length > len(surface):
                    break
                atoms = self.by_prefix.get(surface[:length])
                if atoms:
                    hits |= atoms
            for infix, atoms in self.by_infix.items():
                if infix in surface:
                    hits |= atoms
        if self.typo_min_length and not word_forms.known and len(word) >= self.typo_min_length - 1:
            hits |= self._typos(word_forms)
        found = frozenset(hits)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[word] = found
        return found

    def _typos(self, word_forms) -> set[int]:
        hits: set[int] = set()
        # The word, its guessed lemmas and its likeliest Cyrillic readings; not the long tail.
        spellings = {*word_forms.surfaces[:_TYPO_READINGS], *(k for k in word_forms.keys if k not in word_forms.surfaces)}
        for spelling in spellings:
            if len(spelling) < self.typo_min_length - 1:
                continue
            for variant in _deletions(spelling) | {spelling}:
                atoms = self.by_typo_key.get(variant)
                if atoms:
                    hits |= atoms
            for length, table in self.by_typo_prefix.items():
                if len(spelling) < length - 1:
                    continue
                probes = {spelling[:length - 1]} | _deletions(spelling[:length])
                if len(spelling) > length:
                    probes |= _deletions(spelling[:length + 1])
                for probe in probes:
                    atoms = table.get(probe)
                    if atoms:
                        hits |= atoms
        return hits


def compile_term(source: str, index: AtomIndex) -> Term:
    """Compile one term; TermError says what is wrong with it."""
    if not source.strip():
        raise TermError("empty term")
    alternatives = []
    for phrase in _split_alternatives(source):
        steps = _compile_phrase(phrase, index)
        alternatives.append(tuple(steps))
    return Term.of(source, tuple(alternatives))


def _split_alternatives(source: str) -> list[list[tuple[str, str]]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    source = source.strip()
    while pos < len(source):
        m = _TERM_TOKEN.match(source, pos)
        if not m or m.end() == pos:
            raise TermError(f"cannot read {source[pos:]!r}")
        pos = m.end()
        kind = m.lastgroup
        tokens.append((kind, m.group(kind)))
    phrases: list[list[tuple[str, str]]] = [[]]
    depth = 0
    for kind, text in tokens:
        if kind == "open":
            depth += 1
            if depth > 1:
                raise TermError("brackets inside brackets: write one word choice as (a|b|c)")
        elif kind == "close":
            depth -= 1
            if depth < 0:
                raise TermError("')' without '('")
        if kind == "bar" and depth == 0:
            phrases.append([])
        else:
            phrases[-1].append((kind, text))
    if depth:
        raise TermError("'(' without ')'")
    if any(not p for p in phrases):
        raise TermError("empty alternative: '|' needs a word on both sides")
    return phrases


def _compile_phrase(tokens: list[tuple[str, str]], index: AtomIndex) -> list[Step]:
    steps: list[Step] = []
    gap = 0
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "gap":
            if not steps:
                raise TermError(f"{text!r} must stand between two words")
            if not re.fullmatch(r"~\d+", text) or not 1 <= int(text[1:]) <= MAX_GAP:
                raise TermError(f"{text!r}: a gap is ~N with N from 1 to {MAX_GAP}, e.g. 'втік ~1 з частини'")
            if gap:
                raise TermError("two gaps in a row")
            gap = int(text[1:])
            i += 1
            continue
        if kind == "open":
            close = next(j for j in range(i, len(tokens)) if tokens[j][0] == "close")
            inner = tokens[i + 1:close]
            if any(k == "gap" for k, _ in inner):
                raise TermError("a gap (~N) cannot stand inside brackets")
            kinds = [k for k, _ in inner]
            if not kinds or kinds != ["word", "bar"] * (len(kinds) // 2) + ["word"]:
                raise TermError("write a word choice as (a|b|c), one word between bars")
            choices = [t for k, t in inner if k == "word"]
            atoms: set[int] = set()
            for choice in choices:
                words = _atoms_of_word(choice, index)
                if len(words) != 1:
                    raise TermError(f"{choice!r} in brackets must be one word; put phrases in separate terms")
                atoms |= words[0]
            steps.append(Step(frozenset(atoms), gap))
            gap = 0
            i = close + 1
            continue
        if kind == "close":
            raise TermError("')' without '('")
        for n, atoms in enumerate(_atoms_of_word(text, index)):
            steps.append(Step(frozenset(atoms), gap if n == 0 else 0))
        gap = 0
        i += 1
    if gap:
        raise TermError("a gap (~N) must stand between two words")
    return steps


def _atoms_of_word(text: str, index: AtomIndex) -> list[set[int]]:
    """One atom set per word that `text` normalises to (a hyphenated word gives two)."""
    infix = len(text) > 2 and text.startswith("*") and text.endswith("*")
    exact = text.startswith("=")
    prefix = text.endswith("*") and not infix
    body = text[1 if exact or infix else 0: -1 if prefix or infix else None]
    if "*" in body or "=" in body:
        raise TermError(f"{text!r}: '*' goes only at the end of a word (or at both ends: *тцк*), '=' only at its start")
    if exact and prefix:
        raise TermError(f"{text!r}: a word is either exact (=word) or a prefix (word*), not both")
    words = [t.text for t in tokenise(normalise(body).text)]
    if not words:
        raise TermError(f"{text!r} has no letters")
    if infix:
        if len(words) != 1:
            raise TermError(f"{text!r}: letters inside a word (*abc*) must be a single word")
        if len(words[0]) < MIN_PREFIX:
            raise TermError(f"{text!r}: letters inside a word need at least {MIN_PREFIX} of them, or they match too much")
        return [{index.intern("infix", words[0])}]
    if prefix:
        if len(words) != 1:
            raise TermError(f"{text!r}: a prefix must be a single word")
        if len(words[0]) < MIN_PREFIX:
            raise TermError(f"{text!r}: a prefix needs at least {MIN_PREFIX} letters, or it matches too much")
        return [{index.intern("prefix", words[0])}]
    if exact:
        return [{index.intern("exact", w)} for w in words]
    return [{index.intern("word", forms(w, transliterate=False).keys)} for w in words]


def occurrences(term: Term, token_atoms: list[frozenset[int]], starts: list[int], present=None):
    """Yield (first, last) token positions of each place where `term` matches.

    `starts` are the candidate first positions (tokens that pass an atom of a first step);
    `present` (atoms anywhere in the message) lets a phrase whose later word is absent be skipped
    without a search: «на лижах» is not looked for in every message that says «на».
    """
    n = len(token_atoms)
    for alternative in term.alternatives:
        if present is not None and any(step.atoms.isdisjoint(present) for step in alternative[1:]):
            continue
        first = alternative[0].atoms
        for start in starts:
            if not token_atoms[start] & first:
                continue
            end = _follow(alternative, 1, start, token_atoms, n)
            if end is not None:
                yield start, end


def _follow(steps: tuple[Step, ...], k: int, at: int, token_atoms: list[frozenset[int]], n: int) -> int | None:
    if k == len(steps):
        return at
    step = steps[k]
    for j in range(at + 1, min(at + 2 + step.gap, n)):
        if token_atoms[j] & step.atoms:
            end = _follow(steps, k + 1, j, token_atoms, n)
            if end is not None:
                return end
    return None
