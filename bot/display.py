"""Text from Telegram made safe to show on a terminal or in the digest.

    print(shown("Київ\x1b[2J\u202eнови"))   # Київ[2Jнови: the screen is not cleared, nothing reversed

A post can carry characters that act instead of being read: NUL and other control characters,
terminal escape sequences (ESC …) that move the cursor or rewrite the screen, a carriage
return that overwrites the line, and bidi overrides (U+202E) that make text read backwards.
They are dropped; line breaks and tabs stay. The archive keeps the text as it was posted:
this is applied only where text is shown.
"""
from __future__ import annotations

import sys

_KEPT = {"\n", "\t"}
_BIDI = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_DROP = {
    code: None
    # lone surrogates (from a broken UTF-16 entity offset) cannot be printed at all
    for code in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *_BIDI, *range(0xD800, 0xE000)]
    if chr(code) not in _KEPT
}


def shown(text: str) -> str:
    """`text` without control characters, escape characters and bidi overrides."""
    return text.translate(_DROP)


def say(text: str = "", *, file=None) -> None:
    """print() for anything that may hold text from Telegram."""
    print(shown(text), file=file or sys.stdout)
