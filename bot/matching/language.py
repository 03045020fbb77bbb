"""Which language a message is in: from its letters when they tell, from langdetect when not.

    language("Повістки роздають біля метро")   # 'uk' (і, є, ї are Ukrainian-only letters)
    language("Повестки раздают у метро")       # 'ru' (ы, э, ъ are Russian-only)
    language("ТЦК на блокпосту")               # needs langdetect: no telling letters

The letters are counted in C (str.count) and decide most messages. langdetect costs about a
millisecond a message, more than everything else together, so the matcher asks it only for a
message that matched and whose letters do not tell (see matcher.match), reads at most
_DETECT_CHARS characters and caches the answer: a repost of the same text costs nothing.
"""
from __future__ import annotations

import re
from functools import lru_cache

_UK_LETTERS = "іїє"  # ґ is folded to г during normalisation, so it is counted in the original
_RU_LETTERS = "ыэъ"
_CYRILLIC = re.compile(r"[а-яіїєґё]")
_LATIN = re.compile(r"[a-z]")
_DETECT_CHARS = 400
_CLEAR_MAJORITY = 3  # a few і in a Russian message are usually Latin i typed by accident


def from_letters(normalised: str, original: str = "") -> str | None:
    """'uk' or 'ru' when the alphabet tells; None when it does not (or the text has no Cyrillic)."""
    uk = sum(normalised.count(c) for c in _UK_LETTERS) + original.count("ґ") + original.count("Ґ")
    ru = sum(normalised.count(c) for c in _RU_LETTERS) + original.count("ё") + original.count("Ё")
    if uk > ru * _CLEAR_MAJORITY:
        return "uk"
    if ru > uk * _CLEAR_MAJORITY:
        return "ru"
    return None


def detect(normalised: str) -> str | None:
    """langdetect's answer for a text whose letters do not tell; None when it has no letters."""
    sample = normalised[:_DETECT_CHARS]
    if not (_CYRILLIC.search(sample) or _LATIN.search(sample)):
        return None
    return _detect(sample)


@lru_cache(maxsize=None)
def _factory():
    from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

    DetectorFactory.seed = 0  # langdetect is random by default; the same text must get the same answer
    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    return factory


@lru_cache(maxsize=4096)
def _detect(sample: str) -> str | None:
    from langdetect.lang_detect_exception import LangDetectException

    factory = _factory()
    detector = factory.create()
    detector.append(sample)
    if _CYRILLIC.search(sample):
        # Cyrillic chat text here is uk or ru; left free, langdetect calls short texts bg or mk.
        detector.set_prior_map({lang: (0.5 if lang in ("uk", "ru") else 0.0) for lang in factory.get_lang_list()})
    try:
        guesses = detector.get_probabilities()
    except LangDetectException:
        return None
    return guesses[0].lang if guesses else None


def language(text: str) -> str | None:
    """The language of a raw text (used by tools; the matcher works on normalised text)."""
    from bot.matching.normalise import normalise

    normalised = normalise(text).text
    return from_letters(normalised, text) or detect(normalised)
