"""Latin spellings of Ukrainian and Russian words back to Cyrillic candidates.

    candidates("pikseli")      # ('пікселі', 'пикселі', 'піксели', …)
    candidates("tck")          # ('цк', 'тцк', 'тск', …)

People write Cyrillic in Latin letters when their keyboard or their channel's filter forces it,
and nobody follows one standard: «ts», «tc» and «c» all stand for «ц», «y» for «и», «й» or «ы».
The first candidate uses the most common reading of every letter; the others change one or two
letters to a less common reading, so likely spellings come first and the list stays short.
"""
from __future__ import annotations

import re
from itertools import combinations, product

MAX_CANDIDATES = 64

# Longest first: «shch» before «sch» before «sh». Each value lists readings, most common first.
_SEGMENTS: dict[str, tuple[str, ...]] = {
    "shch": ("щ",), "sch": ("щ", "ш"), "zh": ("ж",), "kh": ("х",), "ch": ("ч",), "sh": ("ш",),
    "ts": ("ц", "тс"), "tc": ("ц", "тц", "тс"), "ck": ("к", "цк"),
    "ya": ("я", "иа"), "ia": ("я", "іа", "ія"), "ja": ("я",),
    "yu": ("ю", "иу"), "iu": ("ю", "іу"), "ju": ("ю",),
    "ye": ("є", "е", "ие"), "ie": ("є", "іе", "е"), "je": ("є", "е"),
    "yi": ("ї", "ий", "ый"), "ji": ("ї",), "yo": ("йо", "е"), "jo": ("йо",),
    "a": ("а",), "b": ("б",), "c": ("ц", "к", "с"), "d": ("д",), "e": ("е", "є", "э"),
    "f": ("ф",), "g": ("г",), "h": ("х", "г"), "i": ("і", "и"), "j": ("й", "ж"), "k": ("к",),
    "l": ("л",), "m": ("м",), "n": ("н",), "o": ("о",), "p": ("п",), "q": ("к",), "r": ("р",),
    "s": ("с",), "t": ("т",), "u": ("у",), "v": ("в",), "w": ("в",), "x": ("х", "кс"),
    "y": ("и", "й", "ы", "у"), "z": ("з",), "'": ("ь", ""),
}
_SEGMENT_RE = re.compile("|".join(sorted(map(re.escape, _SEGMENTS), key=len, reverse=True)))
_LATIN_WORD = re.compile(r"[a-z']+")
# Transliteration drops the soft sign, so «pakuyut» is «пакуют» or «пакують».
_SOFT_ENDINGS = tuple("тлнсдзц")


def candidates(word: str, limit: int = MAX_CANDIDATES) -> tuple[str, ...]:
    """Cyrillic readings of a lowercase Latin `word`, most likely first; () if it is not Latin."""
    if not _LATIN_WORD.fullmatch(word):
        return ()
    options = [_SEGMENTS[m.group()] for m in _SEGMENT_RE.finditer(word)]
    variable = [i for i, opts in enumerate(options) if len(opts) > 1]
    found: dict[str, None] = {}

    def add(letters: list[str]) -> None:
        text = "".join(letters)
        found.setdefault(text)
        if text.endswith(_SOFT_ENDINGS):
            found.setdefault(text + "ь")

    default = [opts[0] for opts in options]
    add(default)
    for changed in (1, 2):
        for positions in combinations(variable, changed):
            for picks in product(*(options[i][1:] for i in positions)):
                letters = default.copy()
                for i, pick in zip(positions, picks):
                    letters[i] = pick
                add(letters)
                if len(found) >= limit:
                    return tuple(found)[:limit]
    return tuple(found)
