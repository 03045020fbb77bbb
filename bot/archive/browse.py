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
        """SELECT c.*, v.complete_up_to, s.sources, s.error, n.messages, n.matched, n.deleted, n.first, n.last
           FROM chats c
           LEFT JOIN (SELECT chat_id, group_concat(source, char(10)) AS sources, MAX(error) AS error
                      FROM chat_sources GROUP BY chat_id) s ON s.chat_id = c.id
           LEFT JOIN (SELECT chat_id, COUNT(*) AS messages, SUM(matched) AS matched,
                             SUM(deleted_at IS NOT NULL) AS deleted, MIN(date) AS first, MAX(date) AS last
                      FROM messages GROUP BY chat_id) n ON n.chat_id = c.id
           LEFT JOIN coverage v ON v.chat_id = c.id
           ORDER BY c.title COLLATE NOCASE""")
    return [Coverage(chat=chat_from_row(r), sources=tuple((r["sources"] or "").split("\n")) if r["sources"] else (),
                     error=r["error"], checkpoint=r["checkpoint"], complete_up_to=from_iso(r["complete_up_to"]),
                     messages=r["messages"] or 0, matched=r["matched"] or 0, deleted=r["deleted"] or 0,
                     first=from_iso(r["first"]), last=from_iso(r["last"]))
            for r in rows]


async def topic_counts(archive: Archive) -> list[tuple[str, int]]:
    """Every topic with the number of archived messages that matched it, most first."""
    rows = await archive.rows(
        "SELECT topic, COUNT(DISTINCT message) AS n FROM matches GROUP BY topic ORDER BY n DESC, topic")
    return [(r["topic"], r["n"]) for r in rows]
