"""The model's side of the archive: what it wants reviewed, and texts to ask it about.

    reviews = await period_reviews(archive, period.start, period.end)   # for the digest
    texts = await recent_texts(archive, since)                           # for `dozor keywords report`

Confident model hits are ordinary matches (rule "model") and live in `matches`; only the
uncertain ones are kept apart, in `model_reviews`, so that nothing unsure is counted as found.
"""
from __future__ import annotations

from datetime import datetime

from bot.archive import Archive, iso

_REVIEWS = """
    SELECT m.chat_id, m.message_id, r.topic, r.score
    FROM model_reviews r JOIN messages m ON m.id = r.message
    WHERE m.date >= :start AND m.date < :until
      AND NOT EXISTS (SELECT 1 FROM matches x WHERE x.message = m.id AND x.topic = r.topic)
    ORDER BY r.score DESC, m.date
"""


async def period_reviews(archive: Archive, start: datetime, end: datetime) -> dict[tuple[int, int], dict[str, float]]:
    """(chat_id, message_id) → {topic: score} of the messages dated in [start, end) that the
    model wants reviewed for a topic nothing found."""
    out: dict[tuple[int, int], dict[str, float]] = {}
    for r in await archive.rows(_REVIEWS, {"start": iso(start), "until": iso(end)}):
        out.setdefault((r.chat_id, r.message_id), {})[r.topic] = r.score
    return out


async def recent_texts(archive: Archive, since: datetime, limit: int = 20_000) -> list[str]:
    """Texts of the messages archived since `since`, newest first."""
    rows = await archive.rows(
        "SELECT text FROM messages WHERE date >= :since AND text != '' ORDER BY date DESC LIMIT :limit",
        {"since": iso(since), "limit": limit})
    return [r.text for r in rows]
