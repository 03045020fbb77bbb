"""Words of a normalised text and the forms they stand for.

    [w.text for w in tokenise("тцк пакують біля метро")]   # ['тцк', 'пакують', 'біля', 'метро']
    forms("пакують").keys        # {'пакують', 'пакувати'}: the word and its dictionary forms
    forms("pakuyut").keys        # includes 'паковать' and 'пакувати' through transliteration

Two words "are the same word" when their keys overlap. Keys are the word itself, its lemmas from
the Ukrainian and Russian pymorphy3 dictionaries (both: chats mix the languages within a sentence),
a light English stem, and for Latin-only words the lemmas of their Cyrillic readings.
Every answer is cached, because chats repeat the same few thousand words all day.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from bot.matching.translit import candidates

# Words, numbers (article numbers, years) and single pictographs (🫒, 🎿): each is one token.
EMOJI = "\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF"
WORD_RE = re.compile(rf"[^\W\d_]+(?:'[^\W\d_]+)*|\d+|[{EMOJI}]")
_LATIN = re.compile(r"[a-z']+")
_CYRILLIC = re.compile(r"[а-яіїєґё']+")
# Transliterated readings whose surface (not only lemma) is kept as a key: the likeliest few,
# so unknown words such as «tck» → «тцк» match, while the long tail adds no accidental keys.
_SURFACE_READINGS = 8


@dataclass(frozen=True, slots=True)
class Token:
    text: str  # normalised
    start: int  # in the normalised text
    end: int


@dataclass(frozen=True, slots=True)
class Forms:
    keys: frozenset[str]  # the word, its lemmas, its stem: what word terms are compared with
    surfaces: tuple[str, ...]  # spellings that prefix and exact terms are compared with
    known: bool = True  # a dictionary knows the word: a typo of a term it is not


def tokenise(text: str) -> list[Token]:
    """The words of a normalised text; digits and punctuation separate words."""
    return [Token(m.group(), m.start(), m.end()) for m in WORD_RE.finditer(text)]


@lru_cache(maxsize=None)
def _analysers():
    # Loaded on first use: the dictionaries take a tenth of a second and most imports never match.
    import pymorphy3

    return pymorphy3.MorphAnalyzer(lang="uk"), pymorphy3.MorphAnalyzer(lang="ru")


def _fold(lemma: str) -> str:
    return lemma.replace("ё", "е").replace("ґ", "г")


def lemmas(word: str) -> set[str]:
    """Dictionary forms of a Cyrillic word; a best guess from each dictionary when neither knows it."""
    found: set[str] = set()
    guesses: set[str] = set()
    for analyser in _analysers():
        parses = analyser.parse(word)
        known = {_fold(p.normal_form) for p in parses if p.is_known}
        found |= known
        if not known and parses:
            guesses.add(_fold(parses[0].normal_form))
    return found or guesses


def is_known(word: str) -> bool:
    return any(analyser.word_is_known(word) for analyser in _analysers())


def known_lemmas(word: str) -> set[str]:
    """Dictionary forms only when a dictionary knows the word (used for transliterated guesses)."""
    found: set[str] = set()
    for analyser in _analysers():
        if analyser.word_is_known(word):
            found |= {_fold(p.normal_form) for p in analyser.parse(word) if p.is_known}
    return found


_EN_SUFFIXES = ("ations", "ation", "ments", "ment", "ings", "ing", "ers", "er", "ed", "ies", "es", "s")


def stem(word: str) -> str:
    """A deliberately small English stemmer: enough for «deserters/deserted», «offices/office»."""
    if word.endswith("'s"):
        word = word[:-2]
    for suffix in _EN_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                break
            word = word[: -len(suffix)] + ("y" if suffix == "ies" else "")
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


@lru_cache(maxsize=262_144)
def forms(word: str, transliterate: bool = True) -> Forms:
    """The keys and spellings of one normalised word.

    Terms pass transliterate=False: a Latin word in the keywords file is English on purpose,
    while a Latin word in a message may be Ukrainian or Russian typed in Latin letters.
    """
    if _CYRILLIC.fullmatch(word):
        return Forms(frozenset({word, *lemmas(word)}), (word,), is_known(word))
    if _LATIN.fullmatch(word):
        if not transliterate:
            return Forms(frozenset({word, stem(word)}), (word,))
        readings = candidates(word)
        keys = {word, stem(word), *readings[:_SURFACE_READINGS]}
        known = False
        for reading in readings:
            found = known_lemmas(reading)
            keys |= found
            known = known or bool(found)
        return Forms(frozenset(keys), (word, *readings), known)
    return Forms(frozenset({word}), (word,))
