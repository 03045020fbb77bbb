"""An editor's verdict on a digest item, from the words of a reply. Pure.

    verdict("👎 №3 #szch")      # False
    item_number("👎 №3 #szch")  # 3
    tags("👎 №3 #szch")         # ["szch"]
    pick(items, part=1, number=None)   # the item a reply means, or None when it cannot tell

👎, «-», «ні», «не те» say the item is wrong; 👍, «+», «так», «вірно» that it is right.
"""
from __future__ import annotations

import re

from bot.digest.compose import ItemRef

WRONG = ("👎", "❌", "ні", "нет", "не те", "невірно", "wrong", "no")
RIGHT = ("👍", "✅", "так", "да", "вірно", "right", "yes")
_NUMBER = re.compile(r"(?:№|#|\bn)?\s*(\d{1,4})\b")
_TAG = re.compile(r"#([A-Za-z_][\w]*)")


def verdict(text: str) -> bool | None:
    """True (right), False (wrong) or None (not a verdict)."""
    lowered = " ".join(text.casefold().split())
    plain = _TAG.sub("", re.sub(r"№\s*\d+", "", lowered)).strip(" .!,")
    if plain in ("-", "−") or any(_says(lowered, w) for w in WRONG):
        return False
    if plain == "+" or any(_says(lowered, w) for w in RIGHT):
        return True
    return None


def _says(text: str, word: str) -> bool:
    if not word[0].isalpha():
        return word in text
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text) is not None


def item_number(text: str) -> int | None:
    found = _NUMBER.search(_TAG.sub("", text))
    return int(found.group(1)) if found else None


def tags(text: str) -> list[str]:
    return list(dict.fromkeys(_TAG.findall(text)))


def pick(items: list[ItemRef], part: int, number: int | None) -> ItemRef | None:
    """The item a reply to `part` means: the one numbered, or the part's only item."""
    if number is not None:
        return next((i for i in items if i.number == number), None)
    own = {(i.chat_id, i.message_id) for i in items if i.part == part}
    if len(own) == 1:
        return next(i for i in items if i.part == part)
    return None
