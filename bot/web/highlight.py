"""Where a text matched, cut into pieces a template can mark without writing HTML itself.

    pieces(text, matches)   # [("ТЦК", Match(...)), (" біля метро", None)]

Pure. The template escapes every piece, so the text never becomes markup.
"""
from __future__ import annotations

from bot.model import Match


def pieces(text: str, matches: tuple[Match, ...] | list[Match]) -> list[tuple[str, Match | None]]:
    """The text split at the matched spans; overlapping spans are joined, the first one named.
    Spans beyond the text (matches kept from an earlier version) are left out."""
    spans = sorted((m for m in matches if 0 <= m.start < m.end <= len(text)), key=lambda m: (m.start, -m.end))
    result, at = [], 0
    for m in spans:
        if m.end <= at:
            continue
        start = max(m.start, at)
        if start > at:
            result.append((text[at:start], None))
        result.append((text[start:m.end], m))
        at = m.end
    if at < len(text) or not result:
        result.append((text[at:], None))
    return result
