"""The archive: the only place that speaks SQL.

    archive = await Archive.open(Path("storage/archive.sqlite3"))   # or "postgresql://…"
    await archive.ingest(chat, [(post, result)])   # one transaction; checkpoint moves after it
    await archive.close()

SQLite (the embedded default) or PostgreSQL (one archive shared by several workers), through
`bot/archive/database.py`. Transactions are explicit and serialised by a lock, so two
coroutines of one process never interleave statements inside one transaction.
"""
from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, AsyncIterator, Iterable

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError as DatabaseError  # what callers catch when a write is refused

from bot.archive import database
from bot.archive.database import Connection, Location, describe
from bot.archive.schema import MIGRATIONS
from bot.archive.terms import write_terms
from bot.model import CHANNEL_ID_OFFSET, Chat, ChatStatus, MatchResult, MediaRef, Post

UTC = timezone.utc
FAILURE_RETENTION = timedelta(days=30)  # how long a resolved failure is kept

__all__ = ["Archive", "ArchiveError", "DatabaseError", "NoArchive", "IngestReport", "iso", "from_iso", "utcnow"]


def iso(moment: datetime | None) -> str | None:
    """UTC ISO 8601 text: SQLite stores it as is (sorting the text sorts the moments) and
    PostgreSQL casts it to timestamptz."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def from_iso(value: str | datetime | None) -> datetime | None:
    """A stored moment as an aware UTC datetime: SQLite gives text, PostgreSQL a datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class IngestReport:
    archived: int = 0  # messages newly written
    edited: int = 0  # messages whose text changed (a version kept)
    matched: int = 0  # of the archived ones, how many matched a topic
    checkpoint: int = 0


class ArchiveError(Exception):
    pass


class NoArchive(ArchiveError):
    def __init__(self, location: Location):
        super().__init__(f"no archive at {describe(location)} yet: start the service with `dozor run`")


def _refuse_newer(location: Location, revision: str | None, legacy: int | None) -> None:
    """An archive written by a newer dozor is never touched: its schema may mean other things."""
    known = database.known_revisions()
    if (revision is not None and revision not in known) or (legacy or 0) > len(MIGRATIONS):
        raise ArchiveError(f"{describe(location)} was written by a newer dozor (schema {revision or legacy}, this "
                           f"one knows up to {known[-1]}): use the dozor that runs the service")


class Archive:
    def __init__(self, engine: sa.ext.asyncio.AsyncEngine, location: Location):
        self.engine = engine
        self.location = location
        self.dialect = engine.dialect.name  # "sqlite" | "postgresql"
        self._lock = asyncio.Lock()
        # the last write refused (time, reason): a full disk refuses growth, yet small writes
        # may still pass, so a success does not clear it; the heartbeat tells how recent it is
        self.write_refused: tuple[datetime, str] | None = None

    @property
    def path(self) -> Path | None:
        """The SQLite file, or None for a PostgreSQL archive."""
        return None if database.is_url(self.location) else Path(self.location)

    @classmethod
    async def open(cls, location: Location) -> "Archive":
        """Open (creating and migrating as needed) the archive at a SQLite path or a
        postgresql:// URL."""
        engine = await database.connect(location)
        try:
            _refuse_newer(location, *await database.schema_state(engine))
            await database.migrate(engine)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine, location)

    @classmethod
    @contextlib.asynccontextmanager
    async def opened(cls, location: Location, must_exist: bool = True) -> AsyncIterator["Archive"]:
        """For commands: the archive for the length of a block; NoArchive if there is none
        (a read-only command must not create an empty one)."""
        if must_exist and not database.exists(location):
            raise NoArchive(location)
        archive = await cls.open(location)
        try:
            yield archive
        finally:
            await archive.close()

    @classmethod
    @contextlib.asynccontextmanager
    async def opened_read_only(cls, location: Location) -> AsyncIterator["Archive"]:
        """For commands that only read (status, search, media, digest --preview): no write, no
        migration (SQLite's mode=ro, PostgreSQL's read-only transactions). A command line of
        another version must neither upgrade the archive under a running service nor misread
        it, so a schema that differs from the one this dozor knows is refused with what to do."""
        if not database.exists(location):
            raise NoArchive(location)
        engine = await database.connect(location, read_only=True)
        try:
            revision, legacy = await database.schema_state(engine)
            if revision is None and not legacy:
                raise NoArchive(location)
            _refuse_newer(location, revision, legacy)
            known = database.known_revisions()
            if revision != known[-1]:
                raise ArchiveError(f"{describe(location)} has an older schema ({revision or f'legacy {legacy}'}, "
                                   f"this dozor knows {known[-1]}): `dozor run` of this version upgrades it when "
                                   "it starts")
            yield cls(engine, location)
        finally:
            await engine.dispose()

    async def close(self) -> None:
        async with self._lock:
            await self.engine.dispose()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self._lock:
            try:
                async with self.engine.connect() as connection:
                    async with connection.begin():
                        yield Connection(connection)
            except BaseException as error:
                self._note_refusal(error)
                raise

    def _note_refusal(self, error: BaseException) -> None:
        """Remember why the archive refused a write (disk full, I/O error, server gone), for
        the heartbeat."""
        if isinstance(error, sa.exc.OperationalError):
            self.write_refused = (utcnow(), str(error.orig))

    async def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[sa.Row]:
        """All rows of one read query (for the query modules of this package)."""
        async with self._lock:
            async with self.engine.connect() as connection:
                # a plain BEGIN: a read must not take SQLite's write lock (see database.py)
                connection = await connection.execution_options(reading=True)
                rows = (await Connection(connection).execute(sql, params)).fetchall()
                await connection.rollback()
                return list(rows)

    async def row(self, sql: str, params: dict[str, Any] | None = None) -> sa.Row | None:
        rows = await self.rows(sql, params)
        return rows[0] if rows else None

    async def scalar(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        row = await self.row(sql, params)
        return row[0] if row else None

    # ---- chats -------------------------------------------------------------------------

    async def save_chat(self, chat: Chat, source: str | None = None) -> None:
        """Remember a resolved chat (title and username may change; the checkpoint stays)."""
        async with self.transaction() as db:
            await db.execute(
                """INSERT INTO chats (id, title, username, kind, keep_all, added_at)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (id) DO UPDATE SET title = excluded.title,
                       username = excluded.username, kind = excluded.kind, keep_all = excluded.keep_all""",
                (chat.id, chat.title, chat.username, chat.kind, int(chat.keep_all), iso(utcnow())),
            )
            if source is not None:
                await db.execute(
                    """INSERT INTO chat_sources (source, chat_id, error, checked_at) VALUES (?, ?, NULL, ?)
                       ON CONFLICT (source) DO UPDATE SET chat_id = excluded.chat_id, error = NULL,
                           checked_at = excluded.checked_at""",
                    (source, chat.id, iso(utcnow())),
                )

    async def save_source_error(self, source: str, error: str) -> None:
        """A configured chat could not be resolved: shown by `dozor status` until it can."""
        async with self.transaction() as db:
            await db.execute(
                """INSERT INTO chat_sources (source, chat_id, error, checked_at) VALUES (?, NULL, ?, ?)
                   ON CONFLICT (source) DO UPDATE SET error = excluded.error, checked_at = excluded.checked_at""",
                (source, error, iso(utcnow())),
            )

    async def chat_for_source(self, source: str) -> Chat | None:
        """The chat a DOZOR_CHATS entry resolved to before, so restarts need no lookup."""
        row = await self.row(
            """SELECT chats.* FROM chat_sources JOIN chats ON chats.id = chat_sources.chat_id
               WHERE chat_sources.source = ?""",
            (source,),
        )
        return chat_from_row(row) if row else None

    async def chats(self) -> list[Chat]:
        return [chat_from_row(row) for row in await self.rows("SELECT * FROM chats ORDER BY id")]

    async def checkpoint(self, chat_id: int) -> int:
        row = await self.row("SELECT checkpoint FROM chats WHERE id = ?", (chat_id,))
        return row["checkpoint"] if row else 0

    async def advance_checkpoint(self, chat_id: int, message_id: int) -> None:
        """Move the checkpoint past ids that hold nothing to archive (service messages)."""
        async with self.transaction() as db:
            await db.execute("UPDATE chats SET checkpoint = MAX(checkpoint, ?) WHERE id = ?", (message_id, chat_id))

    async def mark_read(self, chat_id: int, at: datetime) -> None:
        """History of this chat was re-read up to now (for the quiet-chat timer)."""
        async with self.transaction() as db:
            await db.execute("UPDATE chats SET last_read_at = ? WHERE id = ?", (iso(at), chat_id))
            # a whole read of the chat went through: its earlier troubles are over
            await db.execute(
                """UPDATE failures SET resolved_at = ? WHERE chat_id = ? AND message_id IS NULL
                       AND resolved_at IS NULL AND at <= ?""", (iso(utcnow()), chat_id, iso(at)))

    # ---- messages ----------------------------------------------------------------------

    async def ingest(self, chat: Chat, items: list[tuple[Post, MatchResult]],
                     advance_checkpoint: bool = True) -> IngestReport:
        """Store a batch of posts of one chat in one transaction; idempotent on (chat, message).

        A post is archived when it matched, when the chat keeps everything, or when it
        belongs to an album of which an archived item matched. A post already archived
        with a different text becomes a new version; the earlier text is kept.
        The checkpoint moves to the highest id seen, only with the commit.
        """
        report = IngestReport()
        now = iso(utcnow())
        async with self.transaction() as db:
            albums = await _matched_albums(db, chat.id, {p.grouped_id for p, _ in items if p.grouped_id})
            for post, result in items:
                if post.grouped_id and result:
                    albums.add(post.grouped_id)
            # one query for the whole batch instead of one per post: most posts of a page are
            # not archived, and a round trip to aiosqlite's thread costs more than the lookup;
            # kept up to date below, so a post repeated within the batch sees its first write
            known: dict[tuple[int, int], tuple[int, str, str | None]] = {}
            deleted: set[int] = set()  # rows marked deleted: a message seen again may clear its mark
            wanted: dict[int, list[int]] = {}
            for post, _ in items:
                wanted.setdefault(post.chat_id, []).append(post.message_id)
            for chat_id, ids in wanted.items():
                for start in range(0, len(ids), 500):
                    chunk = ids[start:start + 500]
                    for found in await db.execute_fetchall(
                        f"""SELECT message_id, id, text, edit_date, deleted_at FROM messages
                            WHERE chat_id = ? AND message_id IN ({",".join("?" * len(chunk))})""",
                        (chat_id, *chunk),
                    ):
                        known[(chat_id, found[0])] = (found[1], found[2], found[3])
                        if found[4] is not None:
                            deleted.add(found[1])
            for post, result in items:
                row = known.get((post.chat_id, post.message_id))
                if row is None:
                    keep = bool(result) or bool(result.review) or chat.keep_all or (post.grouped_id in albums)
                    if not keep:
                        continue
                    rowid = await _insert_message(db, post, result, now)
                    await write_terms(db, rowid, post.text)
                    report.archived += 1
                    report.matched += bool(result)
                else:
                    rowid, text, edit_date = row
                    if rowid in deleted:
                        deleted.discard(rowid)
                        await _restore_if_inferred(db, post, now)
                    if edit_date is not None and (post.edit_date is None or iso(post.edit_date) < edit_date):
                        # read before an edit we already hold (a history page fetched before the
                        # live edit arrived): only the counters are news
                        await db.execute(
                            "UPDATE messages SET views = COALESCE(?, views), forwards = COALESCE(?, forwards) "
                            "WHERE id = ?", (post.views, post.forwards, rowid))
                        continue
                    kept = None
                    if text != post.text:
                        kept = await _keep_version(db, rowid, text, edit_date, now)
                        report.edited += 1
                    await db.execute(
                        """UPDATE messages SET text = ?, edit_date = ?, views = COALESCE(?, views),
                               forwards = COALESCE(?, forwards), matched = MAX(matched, ?),
                               language = COALESCE(?, language)
                           WHERE id = ?""",
                        (post.text, iso(post.edit_date), post.views, post.forwards, int(bool(result)),
                         result.language, rowid),
                    )
                    if kept is not None:
                        await write_terms(db, rowid, post.text)
                        # spans index the text they were found in: an edit that matches replaces
                        # them; one that no longer matches keeps them with the version they belong
                        # to, which says why the message was archived
                        if result.matches:
                            await db.execute("DELETE FROM matches WHERE message = ? AND version = 0", (rowid,))
                        else:
                            await db.execute("UPDATE matches SET version = ? WHERE message = ? AND version = 0",
                                             (kept, rowid))
                    if post.media is not None:
                        await _queue_edited_media(db, rowid, post, now)
                known[(post.chat_id, post.message_id)] = (rowid, post.text, iso(post.edit_date))
                if result.matches:
                    await db.executemany(
                        """INSERT INTO matches (message, topic, rule, term, start, end) VALUES (?, ?, ?, ?, ?, ?)
                           ON CONFLICT DO UPDATE SET term = excluded.term, end = excluded.end, version = 0""",
                        [(rowid, m.topic, m.rule, m.term, m.start, m.end) for m in result.matches],
                    )
                if result.review:
                    scores = {o.topic: o.score for o in result.opinions}
                    await db.executemany(
                        "INSERT OR REPLACE INTO model_reviews (message, topic, score) VALUES (?, ?, ?)",
                        [(rowid, topic, scores[topic]) for topic in result.review])
            if advance_checkpoint and items:
                newest = max(items, key=lambda item: item[0].message_id)[0]
                # RETURNING saves the separate read of the checkpoint below
                found = await db.execute_fetchall(
                    """UPDATE chats SET checkpoint = MAX(checkpoint, ?),
                           last_message_at = MAX(COALESCE(last_message_at, ''), ?) WHERE id = ?
                       RETURNING checkpoint""",
                    (newest.message_id, iso(newest.date), chat.id),
                )
                await db.execute("DELETE FROM early_deletions WHERE chat_id = ? AND message_id <= ?",
                                 (chat.id, found[0][0] if found else 0))
            else:
                found = await db.execute_fetchall("SELECT checkpoint FROM chats WHERE id = ?", (chat.id,))
            report.checkpoint = found[0][0] if found else 0
            # these messages went through conversion, matching and storing: failures of theirs are over
            await db.execute(
                """UPDATE failures SET resolved_at = ? WHERE chat_id = ? AND resolved_at IS NULL
                       AND message_id IN (SELECT value FROM json_each(?))""",
                (now, chat.id, json.dumps([p.message_id for p, _ in items])))
        return report

    async def mark_deleted(self, chat_id: int | None, message_ids: Iterable[int], at: datetime,
                           how: str = "telegram") -> int:
        """Mark messages deleted (never erase). chat_id None: Telegram did not say which chat,
        which only happens outside channels and supergroups. `how`: "telegram" when Telegram
        said so, "absent" when history lacked the message and getMessages confirmed it; only the
        latter is cleared if the message is seen again."""
        ids = list(message_ids)
        if not ids:
            return 0
        marks = ",".join("?" * len(ids))
        async with self.transaction() as db:
            if chat_id is None:
                # only chats whose ids come from the account-wide sequence (basic groups, private
                # chats): supergroups number their own messages and would collide
                marked = await db.execute_fetchall(
                    f"""UPDATE messages SET deleted_at = ? WHERE deleted_at IS NULL AND message_id IN ({marks})
                        AND chat_id > ? RETURNING chat_id, message_id""",
                    (iso(at), *ids, CHANNEL_ID_OFFSET),
                )
            else:
                marked = await db.execute_fetchall(
                    f"""UPDATE messages SET deleted_at = ? WHERE deleted_at IS NULL AND chat_id = ?
                        AND message_id IN ({marks}) RETURNING chat_id, message_id""",
                    (iso(at), chat_id, *ids),
                )
                # a deletion can overtake the history page that carries the message: kept until
                # the page is written (see _insert_message) or the checkpoint passes it
                await db.execute(
                    """INSERT OR IGNORE INTO early_deletions (chat_id, message_id, deleted_at)
                        SELECT ?, value, ? FROM json_each(?)
                        WHERE value > (SELECT checkpoint FROM chats WHERE id = ?)
                          AND NOT EXISTS (SELECT 1 FROM messages WHERE chat_id = ? AND message_id = value)""",
                    (chat_id, iso(at), json.dumps(ids), chat_id, chat_id),
                )
            await db.executemany(
                "INSERT OR IGNORE INTO deletion_marks (chat_id, message_id, marked_at, how) VALUES (?, ?, ?, ?)",
                [(row[0], row[1], iso(at), how) for row in marked],
            )
            return len(marked)

    async def deletion_marks(self, chat_id: int, message_id: int) -> list[dict]:
        """Every deletion mark a message got, oldest first, with when and how (and any restore)."""
        return [dict(r) for r in await self.rows(
            """SELECT marked_at, how, restored_at FROM deletion_marks WHERE chat_id = ? AND message_id = ?
               ORDER BY marked_at""", (chat_id, message_id))]

    async def message(self, chat_id: int, message_id: int) -> dict | None:
        """One archived message with its matches and earlier versions, for tests and search."""
        row = await self.row("SELECT * FROM messages WHERE chat_id = ? AND message_id = ?", (chat_id, message_id))
        if row is None:
            return None
        found = dict(row)
        found["matches"] = [dict(r) for r in await self.rows(
            "SELECT topic, rule, term, start, end, version FROM matches WHERE message = ? ORDER BY start", (row["id"],))]
        found["versions"] = [dict(r) for r in await self.rows(
            "SELECT version, text, edit_date, replaced_at FROM message_versions WHERE message = ? ORDER BY version",
            (row["id"],))]
        return found

    async def message_ids(self, chat_id: int, above: int = 0, up_to: int | None = None) -> list[int]:
        """Ids archived in this chat (not deleted), ascending, in (above, up_to]."""
        rows = await self.rows(
            """SELECT message_id FROM messages WHERE chat_id = ? AND message_id > ? AND message_id <= ?
               AND deleted_at IS NULL ORDER BY message_id""",
            (chat_id, above, up_to if up_to is not None else 2**62),
        )
        return [r[0] for r in rows]

    # ---- failures ----------------------------------------------------------------------

    async def record_failure(self, stage: str, reason: str, chat_id: int | None = None,
                             message_id: int | None = None, detail: str | None = None) -> None:
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO failures (stage, chat_id, message_id, reason, detail, at) VALUES (?, ?, ?, ?, ?, ?)",
                (stage, chat_id, message_id, reason, detail, iso(utcnow())),
            )
            # resolved failures are history; kept for a while for whoever looks into an incident
            await db.execute("DELETE FROM failures WHERE resolved_at < ?",
                             (iso(utcnow() - FAILURE_RETENTION),))

    async def failures(self, stage: str | None = None) -> list[dict]:
        sql = "SELECT * FROM failures" + (" WHERE stage = ?" if stage else "") + " ORDER BY id"
        return [dict(r) for r in await self.rows(sql, (stage,) if stage else ())]

    # ---- status ------------------------------------------------------------------------

    async def status(self, since: datetime) -> list[ChatStatus]:
        """Per configured chat: checkpoint, last message, archived and matched since `since`, error."""
        rows = await self.rows(
            """SELECT s.source, s.error, c.id, c.title, c.checkpoint, c.last_message_at,
                   (SELECT COUNT(*) FROM messages m WHERE m.chat_id = c.id AND m.archived_at >= :since) AS archived,
                   (SELECT COUNT(*) FROM messages m WHERE m.chat_id = c.id AND m.archived_at >= :since
                        AND m.matched = 1) AS matched,
                   (SELECT reason FROM failures f WHERE f.chat_id = c.id AND f.resolved_at IS NULL
                        ORDER BY f.id DESC LIMIT 1) AS failure
               FROM chat_sources s LEFT JOIN chats c ON c.id = s.chat_id
               ORDER BY s.source""",
            {"since": iso(since)},
        )
        return [
            ChatStatus(
                chat_id=r["id"], source=r["source"], title=r["title"], checkpoint=r["checkpoint"] or 0,
                last_message_at=from_iso(r["last_message_at"]), archived_today=r["archived"] or 0,
                matches_today=r["matched"] or 0, error=r["error"] or r["failure"],
            )
            for r in rows
        ]

    async def totals(self) -> dict[str, int]:
        row = await self.row(
            """SELECT (SELECT COUNT(*) FROM messages) AS messages,
                      (SELECT COUNT(*) FROM messages WHERE matched = 1) AS matched,
                      (SELECT COUNT(*) FROM message_versions) AS versions,
                      (SELECT COUNT(*) FROM messages WHERE deleted_at IS NOT NULL) AS deleted,
                      (SELECT COUNT(*) FROM failures WHERE resolved_at IS NULL) AS failures"""
        )
        return dict(row)


def chat_from_row(row: aiosqlite.Row) -> Chat:
    return Chat(id=row["id"], title=row["title"], username=row["username"], kind=row["kind"],
                keep_all=bool(row["keep_all"]))


async def _matched_albums(db: aiosqlite.Connection, chat_id: int, grouped_ids: set[int]) -> set[int]:
    if not grouped_ids:
        return set()
    marks = ",".join("?" * len(grouped_ids))
    rows = await db.execute_fetchall(
        f"SELECT DISTINCT grouped_id FROM messages WHERE chat_id = ? AND matched = 1 AND grouped_id IN ({marks})",
        (chat_id, *grouped_ids),
    )
    return {r[0] for r in rows}


async def _insert_message(db: aiosqlite.Connection, post: Post, result: MatchResult, now: str) -> int:
    cursor = await db.execute(
        """INSERT INTO messages (chat_id, message_id, date, text, author_id, author_name, views, forwards,
               reply_to, forward_from, grouped_id, media_kind, language, matched, edit_date, archived_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (post.chat_id, post.message_id, iso(post.date), post.text, post.author_id, post.author_name,
         post.views, post.forwards, post.reply_to, post.forward_from, post.grouped_id,
         post.media.kind if post.media else None, result.language, int(bool(result)), iso(post.edit_date), now),
    )
    rowid = cursor.lastrowid
    if post.media is not None:
        await _insert_media(db, rowid, post.media, now)
    await db.execute(
        """UPDATE messages SET deleted_at = (SELECT deleted_at FROM early_deletions
               WHERE chat_id = ? AND message_id = ?) WHERE id = ?""",
        (post.chat_id, post.message_id, rowid),
    )
    return rowid


async def _insert_media(db: aiosqlite.Connection, rowid: int, media: MediaRef, now: str) -> None:
    """A pending download, in the same transaction as its message: a restart resumes it."""
    await db.execute(
        """INSERT INTO media (message, kind, telegram_id, mime_type, size, file_name, width, height,
               duration, status, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)""",
        (rowid, media.kind, media.telegram_id, media.mime_type, media.size, media.file_name,
         media.width, media.height, media.duration, now),
    )


async def _queue_edited_media(db: aiosqlite.Connection, rowid: int, post: Post, now: str) -> None:
    """An edit can add a file to a message, or swap it: either way the new file is fetched
    (the media worker keeps the earlier description as a version)."""
    cursor = await db.execute("SELECT telegram_id FROM media WHERE message = ?", (rowid,))
    row = await cursor.fetchone()
    if row is None:
        await _insert_media(db, rowid, post.media, now)
        await db.execute("UPDATE messages SET media_kind = ? WHERE id = ?", (post.media.kind, rowid))
    elif row[0] != post.media.telegram_id:
        await db.execute(
            """UPDATE media SET status = 'pending', attempts = 0, next_attempt_at = NULL, updated_at = ?
               WHERE message = ? AND status != 'pending'""",
            (now, rowid),
        )


async def _keep_version(db: aiosqlite.Connection, rowid: int, text: str, edit_date: str | None, now: str) -> int:
    cursor = await db.execute("SELECT COALESCE(MAX(version), 0) FROM message_versions WHERE message = ?", (rowid,))
    (latest,) = await cursor.fetchone()
    await db.execute(
        "INSERT INTO message_versions (message, version, text, edit_date, replaced_at) VALUES (?, ?, ?, ?, ?)",
        (rowid, latest + 1, text, edit_date, now),
    )
    return latest + 1


async def _restore_if_inferred(db: aiosqlite.Connection, post: Post, now: str) -> None:
    """Telegram shows a message we had inferred was deleted: the mark goes, its record stays.
    A deletion Telegram itself reported is final (a page read before it must not undo it)."""
    restored = await db.execute_fetchall(
        """UPDATE deletion_marks SET restored_at = ? WHERE chat_id = ? AND message_id = ? AND how = 'absent'
               AND restored_at IS NULL RETURNING marked_at""",
        (now, post.chat_id, post.message_id))
    if restored and not await db.execute_fetchall(
            """SELECT 1 FROM deletion_marks WHERE chat_id = ? AND message_id = ? AND how = 'telegram'""",
            (post.chat_id, post.message_id)):
        await db.execute("UPDATE messages SET deleted_at = NULL WHERE chat_id = ? AND message_id = ?",
                         (post.chat_id, post.message_id))
