"""Whole archived messages, every version and file with them: what exports and the viewer show.

    async for record in records(archive, topic="szch", since=start, until=end):
        record.versions[-1].text, record.versions[0].seen_at, record.media.sha256
    one = await record(archive, chat_id, message_id)
    found = await referenced_file(archive, sha256)    # only files an archived message points to

Read-only. A version's `seen_at` is the archive's own time: the first text was seen when the
message was archived, each later one when it replaced the one before.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import AsyncIterator

from bot.archive import Archive, from_iso, iso
from bot.model import Chat, Match


@dataclass(frozen=True, slots=True)
class Version:
    number: int  # 1 = the first text seen
    text: str
    edit_date: datetime | None  # Telegram's edit time, when the text came from an edit
    seen_at: datetime  # when the archive first held this text


@dataclass(frozen=True, slots=True)
class MediaFile:
    kind: str
    status: str  # pending | done | skipped | failed
    reason: str | None
    mime_type: str | None
    file_name: str | None
    size: int | None
    sha256: str | None  # set once the file is stored
    path: str | None  # relative to the storage directory


@dataclass(frozen=True, slots=True)
class Record:
    chat: Chat
    message_id: int
    date: datetime
    archived_at: datetime
    deleted_at: datetime | None
    author_name: str | None
    forward_from: str | None
    reply_to: int | None
    views: int | None
    language: str | None
    versions: tuple[Version, ...]  # oldest first; the last is the current text
    matches: tuple[Match, ...]
    media: MediaFile | None

    @property
    def text(self) -> str:
        return self.versions[-1].text

    @property
    def edit_date(self) -> datetime | None:
        return self.versions[-1].edit_date

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(sorted({m.topic for m in self.matches}))

    @property
    def link(self) -> str:
        return self.chat.link(self.message_id)


_MESSAGES = """SELECT m.*, c.title, c.username, c.kind, c.keep_all FROM messages m JOIN chats c ON c.id = m.chat_id"""


def _selected(chat_id: int | None, topic: str | None, since: datetime | None, until: datetime | None) -> str:
    """The filters given, and only those: PostgreSQL cannot type a parameter that is only
    compared with NULL."""
    return "".join((
        " AND EXISTS (SELECT 1 FROM matches WHERE message = m.id AND topic = :topic)" if topic is not None else "",
        " AND m.chat_id = :chat" if chat_id is not None else "",
        " AND m.date >= :since" if since is not None else "",
        " AND m.date < :until" if until is not None else "",
    ))


async def records(archive: Archive, *, chat_id: int | None = None, topic: str | None = None,
                  since: datetime | None = None, until: datetime | None = None,
                  batch: int = 500) -> AsyncIterator[Record]:
    """Oldest first by message date, read in batches so any archive size fits in memory."""
    params = {"topic": topic, "chat": chat_id, "since": iso(since), "until": iso(until), "limit": batch}
    selected = _selected(chat_id, topic, since, until)
    after = ""
    while True:
        rows = await archive.rows(
            f"""{_MESSAGES} WHERE 1 = 1 {after} {selected} ORDER BY m.date, m.id LIMIT :limit""", params)
        if not rows:
            return
        for found in await _complete(archive, rows):
            yield found
        # the next batch starts after the last row (the date as the backend gave it)
        after = "AND (m.date, m.id) > (:after_date, :after_id)"
        params["after_date"], params["after_id"] = rows[-1].date, rows[-1].id


async def record(archive: Archive, chat_id: int, message_id: int) -> Record | None:
    rows = await archive.rows(f"{_MESSAGES} WHERE m.chat_id = :chat_id AND m.message_id = :message_id",
                              {"chat_id": chat_id, "message_id": message_id})
    found = await _complete(archive, rows)
    return found[0] if found else None


@dataclass(frozen=True, slots=True)
class StoredMedia:
    path: str  # relative to the storage directory
    mime_type: str | None
    file_name: str | None
    kind: str


async def referenced_file(archive: Archive, sha256: str) -> StoredMedia | None:
    """A stored file that an archived message carries; None for anything else, so a guessed
    hash never reaches a file the archive does not vouch for."""
    row = await archive.row(
        """SELECT f.path, m.mime_type, m.file_name, m.kind FROM media_files f
           JOIN media m ON m.sha256 = f.sha256 AND m.status = 'done'
           WHERE f.sha256 = :sha256 ORDER BY m.id LIMIT 1""", {"sha256": sha256})
    return StoredMedia(row.path, row.mime_type, row.file_name, row.kind) if row else None


async def _complete(archive: Archive, rows: list) -> list[Record]:
    if not rows:
        return []
    ids = {"ids": [r.id for r in rows]}
    versions: dict[int, list] = {}
    for v in await archive.rows(
            "SELECT * FROM message_versions WHERE message IN :ids ORDER BY message, version", ids):
        versions.setdefault(v.message, []).append(v)
    matches: dict[int, list[Match]] = {}
    for m in await archive.rows(
            "SELECT * FROM matches WHERE message IN :ids ORDER BY message, start, topic, rule", ids):
        matches.setdefault(m.message, []).append(Match(m.topic, m.rule, m.term, m.start, m.end))
    media: dict[int, MediaFile] = {}
    for f in await archive.rows(
            """SELECT m.message, m.kind, m.status, m.reason, m.mime_type, m.file_name,
                      COALESCE(f.size, m.size) AS size, m.sha256, f.path
               FROM media m LEFT JOIN media_files f ON f.sha256 = m.sha256 WHERE m.message IN :ids""", ids):
        media[f.message] = MediaFile(f.kind, f.status, f.reason, f.mime_type, f.file_name, f.size, f.sha256, f.path)
    return [_record(r, versions.get(r.id, []), matches.get(r.id, []), media.get(r.id)) for r in rows]


def _record(row, earlier: list, matches: list[Match], media: MediaFile | None) -> Record:
    chat = Chat(id=row.chat_id, title=row.title, username=row.username, kind=row.kind, keep_all=bool(row.keep_all))
    archived_at = from_iso(row.archived_at)
    versions, seen = [], archived_at
    for v in earlier:
        versions.append(Version(v.version, v.text, from_iso(v.edit_date), seen))
        seen = from_iso(v.replaced_at)
    versions.append(Version(len(earlier) + 1, row.text, from_iso(row.edit_date), seen))
    return Record(chat=chat, message_id=row.message_id, date=from_iso(row.date), archived_at=archived_at,
                  deleted_at=from_iso(row.deleted_at), author_name=row.author_name,
                  forward_from=row.forward_from, reply_to=row.reply_to, views=row.views,
                  language=row.language, versions=tuple(versions), matches=tuple(matches), media=media)
