"""Full-text search over the archive, for editors when a story breaks.

    hits = await search(archive, "ТЦК метро*", topic="busification", since=yesterday)
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.archive import Archive, from_iso, iso
from bot.model import Chat


@dataclass(frozen=True, slots=True)
class Hit:
    chat: Chat
    message_id: int
    date: datetime
    text: str
    snippet: str  # with the found words between [ and ]
    topics: tuple[str, ...]
    deleted: bool

    @property
    def link(self) -> str | None:
        return None if self.deleted else self.chat.link(self.message_id)


def fts_query(words: str) -> str:
    """Each word quoted (so punctuation in a query is never FTS syntax); `word*` stays a prefix."""
    terms = []
    for word in words.split():
        prefix = word.endswith("*")
        word = word.rstrip("*").replace('"', '""')
        if word:
            terms.append(f'"{word}"' + ("*" if prefix else ""))
    return " ".join(terms)


_FILTERS = """
             AND (:topic IS NULL OR EXISTS (SELECT 1 FROM matches WHERE message = m.id AND topic = :topic))
             AND (:chat IS NULL OR m.chat_id = :chat)
             AND (:since IS NULL OR m.date >= :since)
             AND (:until IS NULL OR m.date < :until)"""
_NEWEST = " ORDER BY m.date DESC LIMIT :limit OFFSET :skip"


async def search(archive: Archive, words: str = "", *, topic: str | None = None, chat_id: int | None = None,
                 since: datetime | None = None, until: datetime | None = None, limit: int = 50,
                 best_first: bool = False, skip: int = 0) -> list[Hit]:
    """Newest first: messages containing every word (all messages when no words are given),
    optionally of one topic, one chat, or a period [since, until). `best_first`: the closest
    matches first (FTS5's bm25 rank), newest among equals. `skip`: the ones before a page."""
    query = fts_query(words)
    params = {"query": query, "topic": topic, "chat": chat_id, "since": iso(since), "until": iso(until),
              "limit": limit, "skip": skip}
    columns = """m.message_id, m.date, m.text, m.deleted_at, c.id AS chat_id, c.title, c.username, c.kind,
                  (SELECT group_concat(DISTINCT topic) FROM matches WHERE message = m.id) AS topics"""
    if query:
        rows = await archive.rows(
            f"""SELECT {columns}, snippet(messages_fts, 0, '[', ']', '…', 16) AS snippet
               FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid JOIN chats c ON c.id = m.chat_id
               WHERE messages_fts MATCH :query {_FILTERS}
               {" ORDER BY messages_fts.rank, m.date DESC LIMIT :limit OFFSET :skip" if best_first else _NEWEST}""",
            params)
    else:
        rows = await archive.rows(
            f"""SELECT {columns}, substr(m.text, 1, 120) AS snippet
               FROM messages m JOIN chats c ON c.id = m.chat_id WHERE 1 {_FILTERS}{_NEWEST}""", params)
    return [
        Hit(chat=Chat(id=r["chat_id"], title=r["title"], username=r["username"], kind=r["kind"]),
            message_id=r["message_id"], date=from_iso(r["date"]), text=r["text"], snippet=r["snippet"],
            topics=tuple(sorted((r["topics"] or "").split(","))) if r["topics"] else (),
            deleted=r["deleted_at"] is not None)
        for r in rows
    ]
