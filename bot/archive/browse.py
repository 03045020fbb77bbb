"""What the web viewer lists: chats with their coverage, and the topics found.

    for chat in await coverage(archive): chat.chat.title, chat.messages, chat.first, chat.last
    for topic, count in await topic_counts(archive): ...

Read-only, like everything the viewer asks.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.archive import Archive, chat_from_row, from_iso
from bot.model import Chat


@dataclass(frozen=True, slots=True)
class Coverage:
    chat: Chat
    sources: tuple[str, ...]  # how DOZOR_CHATS names it; empty for an imported chat
    error: str | None  # why it cannot be resolved now, if it cannot
    checkpoint: int  # every message up to this id has been seen
    complete_up_to: datetime | None  # every message before this moment is known (bot/coverage.py)
    messages: int
    matched: int
    deleted: int
    first: datetime | None  # the oldest and newest archived message
    last: datetime | None


async def coverage(archive: Archive) -> list[Coverage]:
    rows = await archive.rows(
        """SELECT c.*, v.complete_up_to, n.messages, n.matched, n.deleted, n.first, n.last
           FROM chats c
           LEFT JOIN (SELECT chat_id, COUNT(*) AS messages, SUM(matched) AS matched,
                             SUM(CASE WHEN deleted_at IS NOT NULL THEN 1 ELSE 0 END) AS deleted,
                             MIN(date) AS first, MAX(date) AS last
                      FROM messages GROUP BY chat_id) n ON n.chat_id = c.id
           LEFT JOIN coverage v ON v.chat_id = c.id""")
    sources: dict[int, list[str]] = {}
    errors: dict[int, str] = {}
    for s in await archive.rows("SELECT chat_id, source, error FROM chat_sources WHERE chat_id IS NOT NULL "
                                "ORDER BY source"):
        sources.setdefault(s.chat_id, []).append(s.source)
        if s.error is not None:
            errors[s.chat_id] = max(errors.get(s.chat_id, s.error), s.error)
    # SUM gives a decimal in PostgreSQL; titles are ordered here, where case folding knows Cyrillic
    found = [Coverage(chat=chat_from_row(r), sources=tuple(sources.get(r.id, ())), error=errors.get(r.id),
                      checkpoint=r.checkpoint, complete_up_to=from_iso(r.complete_up_to),
                      messages=int(r.messages or 0), matched=int(r.matched or 0), deleted=int(r.deleted or 0),
                      first=from_iso(r.first), last=from_iso(r.last))
             for r in rows]
    return sorted(found, key=lambda c: (c.chat.title.casefold(), c.chat.id))


async def topic_counts(archive: Archive) -> list[tuple[str, int]]:
    """Every topic with the number of archived messages that matched it, most first."""
    rows = await archive.rows(
        "SELECT topic, COUNT(DISTINCT message) AS n FROM matches GROUP BY topic ORDER BY n DESC, topic")
    return [(r.topic, r.n) for r in rows]
