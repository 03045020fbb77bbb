"""Text normalisation for matching: one canonical spelling, with a map back to the original.

    text = normalise("Т.Ц.К на блокпосту, повiстки роздають")
    text.text             # 'тцк на блокпосту, повістки роздають'
    text.span(0, 3)       # (0, 5): 'Т.Ц.К' in the original

Chat writers dodge keyword filters (and sometimes just type fast): dotted or starred acronyms,
Latin look-alike letters inside Cyrillic words, a zero in place of an «о», zero-width characters.
Each step below undoes one of those tricks. Steps that keep the length (letter swaps) need no
offset bookkeeping, so the common message – clean lowercase-ish text – costs a few C-level calls.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

APOSTROPHE = "'"  # the one the pymorphy3 Ukrainian dictionary is written with
_APOSTROPHES = "’ʼ`‘′ʹ＇"
_INVISIBLE = "\u00ad\u200b\u200c\u200d\u2060\ufeff\ufe0f\u180e\u200e\u200f"
_INVISIBLE_RE = re.compile(f"[{_INVISIBLE}]")

# Same-length swaps applied after casefolding: one spelling for apostrophes, ё and ґ.
_SWAPS = str.maketrans({**{c: APOSTROPHE for c in _APOSTROPHES}, "ё": "е", "ґ": "г"})
_NEEDS_SWAP = re.compile(f"[{_APOSTROPHES}ёґ]")

_CYR = "а-яіїєґё"
_LAT = "a-z"
# Lowercase Latin letters that pass for Cyrillic ones (and that pass in a Cyrillic word).
_LOOKALIKES = str.maketrans({"a": "а", "b": "в", "c": "с", "e": "е", "h": "н", "i": "і", "k": "к",
                             "m": "м", "o": "о", "p": "р", "t": "т", "x": "х", "y": "у"})
# Digits written for letters; only «0», «3» and «6» are common enough to be worth the risk.
_DIGITS = str.maketrans({"0": "о", "3": "з", "6": "б"})
# A run of letters and digits is found once and tested for both alphabets by plain searches:
# lookaheads over the rest of a run made a long run without spaces cost quadratic time.
# Runs longer than MAX_WORD are not words anybody reads (base64, hashes, keyboard mashing) and are
# left as typed, so the work on one run is bounded.
MAX_WORD = 64
_RUN = re.compile(f"[{_CYR}{_LAT}0-9]+")
_HAS_LAT = re.compile(f"[{_LAT}]")
_HAS_CYR = re.compile(f"[{_CYR}]")
_DIGIT_IN_WORD = re.compile(f"(?<=[{_CYR}])[036]+(?=[{_CYR}])")
# A whole word typed in Latin capitals that all look Cyrillic («BOEHKOMAT») inside a Cyrillic
# message is a disguise; four letters at least, so English acronyms such as TCC or OK stay English.
_CAPITAL_LOOKALIKES = str.maketrans("ABCEHKMOPTXY", "АВСЕНКМОРТХУ")
_DISGUISED_WORD = re.compile(r"(?<![^\W\d_])[ABCEHKMOPTXY]{4,}(?![^\W\d_])")
_HAS_CYRILLIC = re.compile(r"[А-ЯІЇЄҐЁа-яіїєґё]")
_CYR_NEXT_TO_OTHER = re.compile(f"[{_CYR}][{_LAT}0-9]|[{_LAT}0-9][{_CYR}]")

_L = r"[^\W\d_]"
# Acronyms spelled out letter by letter: «Т.Ц.К.», «т. ц. к», «Т*Ц*К» (any case, one separator
# kind per run), and «Т Ц К» (capitals only, because «і в з у» are everyday one-letter words).
_DOTTED = re.compile(rf"(?<!{_L}){_L}(?P<sep>\.[ \t]?|\*)(?:{_L}(?P=sep))*{_L}(?!{_L})")
_CAPITAL = "[A-ZА-ЯІЇЄҐЁ]"
_SPACED = re.compile(rf"(?<!{_L}){_CAPITAL}(?: {_CAPITAL})+(?!{_L})")
_ONE_LETTER_WORDS = set("АІВЗУОЯЙИКСAIO")
# Cheap necessary conditions, tried before the exact patterns: lookbehinds cost ~4 µs a message
# each, and almost no message has anything to join or unmask.
_MAYBE_SPACED = re.compile(f"{_CAPITAL} {_CAPITAL}")
_MAYBE_DOTTED = re.compile(rf"\b{_L}[.*] ?{_L}")
_MAYBE_DISGUISED = re.compile("[ABCEHKMOPTXY]{4}")


@dataclass(frozen=True, slots=True)
class Normalised:
    """The normalised text and, when its length differs from the original, where each char came from."""

    original: str
    text: str
    starts: tuple[int, ...] | None = None  # original index of each char of `text`
    ends: tuple[int, ...] | None = None  # original end (exclusive) of each char of `text`

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text that produced text[start:end]."""
        if self.starts is None:
            return start, end
        if start >= end:
            at = self.starts[start] if start < len(self.starts) else len(self.original)
            return at, at
        return self.starts[start], self.ends[end - 1]


def normalise(text: str) -> Normalised:
    """Normalise `text` for matching; pure, never raises, idempotent on its own output."""
    starts: list[int] | None = None
    ends: list[int] | None = None

    def remap(new_starts: list[int], new_ends: list[int]) -> None:
        nonlocal starts, ends
        if starts is None:
            starts, ends = new_starts, new_ends
        else:
            starts, ends = [starts[i] for i in new_starts], [ends[i - 1] for i in new_ends]

    current = text
    if not unicodedata.is_normalized("NFKC", current):
        current, s, e = _nfkc(current, casefold=False)
        remap(s, e)
    if _INVISIBLE_RE.search(current):
        keep = [i for i, c in enumerate(current) if c not in _INVISIBLE]
        current = "".join(current[i] for i in keep)
        remap(keep, [i + 1 for i in keep])
    if _MAYBE_SPACED.search(current) and _SPACED.search(current):
        current, s, e = _join_acronyms(current, _SPACED)
        remap(s, e)
    if _MAYBE_DISGUISED.search(current) and _DISGUISED_WORD.search(current) and _HAS_CYRILLIC.search(current):
        current = _DISGUISED_WORD.sub(lambda m: m.group().translate(_CAPITAL_LOOKALIKES), current)
    folded = current.casefold()
    if len(folded) != len(current) or not unicodedata.is_normalized("NFKC", folded):
        folded, s, e = _nfkc(current, casefold=True)
        remap(s, e)
    current = folded.translate(_SWAPS) if _NEEDS_SWAP.search(folded) else folded
    if _MAYBE_DOTTED.search(current) and _DOTTED.search(current):
        # After casefolding, so that a second pass over the output sees the very same letters.
        current, s, e = _join_acronyms(current, _DOTTED)
        remap(s, e)
    current = _swap_letters(current)
    # A swapped letter can meet a combining mark and compose anew (г + ◌́ → ѓ); settle that.
    for _ in range(3):
        if unicodedata.is_normalized("NFKC", current):
            break
        current, s, e = _nfkc(current, casefold=True)
        remap(s, e)
        current = _swap_letters(current)
    if starts is None:
        return Normalised(text, current)
    return Normalised(text, current, tuple(starts), tuple(ends))


def _swap_letters(text: str) -> str:
    """The same-length steps: apostrophes, ё/ґ, look-alike Latin letters and digits in Cyrillic words."""
    if _NEEDS_SWAP.search(text):
        text = text.translate(_SWAPS)
    if _CYR_NEXT_TO_OTHER.search(text):
        text = _RUN.sub(_fold_run, text)
    return text


def _fold_run(m: re.Match) -> str:
    run = m.group()
    if len(run) > MAX_WORD or not _HAS_CYR.search(run):
        return run
    if _HAS_LAT.search(run):
        run = run.translate(_LOOKALIKES)
    return _DIGIT_IN_WORD.sub(lambda d: d.group().translate(_DIGITS), run)


def _nfkc(text: str, casefold: bool) -> tuple[str, list[int], list[int]]:
    """NFKC (and casefold) cluster by cluster – a base char and its combining marks – keeping offsets."""
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    n = len(text)
    i = 0
    while i < n:
        j = i + 1
        while j < n and unicodedata.combining(text[j]):
            j += 1
        cluster = unicodedata.normalize("NFKC", text[i:j])
        if casefold:
            cluster = unicodedata.normalize("NFKC", cluster.casefold())
        out.append(cluster)
        starts.extend([i] * len(cluster))
        ends.extend([j] * len(cluster))
        i = j
    return "".join(out), starts, ends


def _join_acronyms(text: str, pattern: re.Pattern) -> tuple[str, list[int], list[int]]:
    keep: list[int] = []
    last = 0
    for m in pattern.finditer(text):
        letters = [i for i in range(m.start(), m.end()) if text[i].isalpha()]
        if pattern is _SPACED and all(text[i] in _ONE_LETTER_WORDS for i in letters):
            continue
        keep.extend(range(last, m.start()))
        keep.extend(letters)
        last = m.end()
    keep.extend(range(last, len(text)))
    return "".join(text[i] for i in keep), keep, [i + 1 for i in keep]
