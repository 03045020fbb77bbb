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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError as DatabaseError  # what callers catch when a write is refused

from bot.archive import database, keeping
from bot.archive.database import Connection, Location, ThreadedConnection, describe
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
    def __init__(self, location: Location, engine: sa.ext.asyncio.AsyncEngine | None = None,
                 read_only: bool = False):
        """`engine`: PostgreSQL's; None for SQLite, whose work runs whole in one thread of the
        archive's own (see database.sqlite_worker)."""
        self.engine = engine
        self.location = location
        self.dialect = "postgresql" if engine is not None else "sqlite"
        self._lock = asyncio.Lock()
        self._sqlite = database.sqlite_worker(location, read_only) if engine is None else None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="archive") if engine is None else None
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
        archive = cls(location, await database.connect(location) if database.is_url(location) else None)
        try:
            _refuse_newer(location, *await archive._schema_state())
            if archive.engine is not None:
                await database.migrate(archive.engine)
            else:
                async with database.migration_lock():
                    await archive._in_thread(lambda: database.migrate_sqlite(archive._sqlite))
        except BaseException:
            await archive.close()
            raise
        return archive

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
        engine = await database.connect(location, read_only=True) if database.is_url(location) else None
        archive = cls(location, engine, read_only=True)
        try:
            revision, legacy = await archive._schema_state()
            if revision is None and not legacy:
                raise NoArchive(location)
            _refuse_newer(location, revision, legacy)
            known = database.known_revisions()
            if revision != known[-1]:
                raise ArchiveError(f"{describe(location)} has an older schema ({revision or f'legacy {legacy}'}, "
                                   f"this dozor knows {known[-1]}): `dozor run` of this version upgrades it when "
                                   "it starts")
            yield archive
        finally:
            await archive.close()

    async def _schema_state(self) -> tuple[str | None, int | None]:
        if self.engine is not None:
            return await database.schema_state(self.engine)
        return await self._in_thread(lambda: database.sqlite_state(self._sqlite))

    async def close(self) -> None:
        async with self._lock:
            await self._stop_thread()
            if self.engine is not None:
                await self.engine.dispose()

    async def _stop_thread(self) -> None:
        if self._thread is not None:
            await self._in_thread(self._sqlite.dispose)
            self._thread.shutdown(wait=False)
            self._thread = None

    def _in_thread(self, work: Callable[[], Any]) -> Awaitable[Any]:
        return asyncio.get_running_loop().run_in_executor(self._thread, work)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection | ThreadedConnection]:
        async with self._lock:
            if self._sqlite is not None:
                async with self._sqlite_transaction() as connection:
                    yield connection
                return
            try:
                async with self.engine.connect() as connection:
                    async with connection.begin():
                        yield Connection(connection)
            except BaseException as error:
                self._note_refusal(error)
                raise

    @contextlib.asynccontextmanager
    async def _sqlite_transaction(self) -> AsyncIterator[ThreadedConnection]:
        def begun() -> sa.Connection:
            connection = self._sqlite.connect()
            try:
                connection.begin()
            except BaseException:
                connection.close()
                raise
            return connection

        def ended(commit: bool) -> None:
            try:
                connection.commit() if commit else connection.rollback()
            finally:
                connection.close()

        connection = await self._in_thread(begun)
        try:
            yield ThreadedConnection(connection, self._in_thread)
            await self._in_thread(lambda: ended(commit=True))
        except BaseException as error:
            self._note_refusal(error)
            # shielded, and queued behind whatever the thread still runs for a cancelled
            # statement: the rollback always lands, after it
            with contextlib.suppress(sa.exc.SQLAlchemyError):  # a refused commit has closed it already
                await asyncio.shield(self._in_thread(lambda: ended(commit=False)))
            raise

    def _note_refusal(self, error: BaseException) -> None:
        """Remember why the archive refused a write (disk full, I/O error, server gone), for
        the heartbeat."""
        if isinstance(error, sa.exc.OperationalError):
            self.write_refused = (utcnow(), str(error.orig))

    async def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[sa.Row]:
        """All rows of one read query (for the query modules of this package)."""
        async with self._lock:
            if self._sqlite is not None:
                return await self._in_thread(lambda: self._read(sql, params))
            async with self.engine.connect() as connection:
                connection = await connection.execution_options(reading=True)
                rows = (await Connection(connection).execute(sql, params)).fetchall()
                await connection.rollback()
                return list(rows)

    def _read(self, sql: str, params: dict[str, Any] | None) -> list[sa.Row]:
        """One read in SQLite's thread, in one trip."""
        params = params or {}
        # a plain BEGIN: a read must not take SQLite's write lock (see database.py)
        with self._sqlite.connect().execution_options(reading=True) as connection:
            rows = connection.execute(database.statement(sql, params), params).fetchall()
            connection.rollback()
            return list(rows)

    async def row(self, sql: str, params: dict[str, Any] | None = None) -> sa.Row | None:
        rows = await self.rows(sql, params)
        return rows[0] if rows else None

    async def scalar(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        row = await self.row(sql, params)
        return row[0] if row else None

    def _text(self, text: str | None) -> str | None:
        """Text as this backend can hold it (see _clean)."""
        return _clean(text) if self.dialect == "postgresql" else text

    # ---- chats -------------------------------------------------------------------------

    async def save_chat(self, chat: Chat, source: str | None = None) -> None:
        """Remember a resolved chat (title and username may change; the checkpoint stays)."""
        async with self.transaction() as db:
            await db.execute(
                """INSERT INTO chats (id, title, username, kind, keep_all, added_at)
                   VALUES (:id, :title, :username, :kind, :keep_all, :now)
                   ON CONFLICT (id) DO UPDATE SET title = excluded.title,
                       username = excluded.username, kind = excluded.kind, keep_all = excluded.keep_all""",
                {"id": chat.id, "title": self._text(chat.title), "username": chat.username, "kind": chat.kind,
                 "keep_all": int(chat.keep_all), "now": iso(utcnow())},
            )
            if source is not None:
                await db.execute(
                    """INSERT INTO chat_sources (source, chat_id, error, checked_at) VALUES (:source, :chat_id, NULL, :now)
                       ON CONFLICT (source) DO UPDATE SET chat_id = excluded.chat_id, error = NULL,
                           checked_at = excluded.checked_at""",
                    {"source": source, "chat_id": chat.id, "now": iso(utcnow())},
                )

    async def save_source_error(self, source: str, error: str) -> None:
        """A configured chat could not be resolved: shown by `dozor status` until it can."""
        async with self.transaction() as db:
            await db.execute(
                """INSERT INTO chat_sources (source, chat_id, error, checked_at) VALUES (:source, NULL, :error, :now)
                   ON CONFLICT (source) DO UPDATE SET error = excluded.error, checked_at = excluded.checked_at""",
                {"source": source, "error": error, "now": iso(utcnow())},
            )

    async def chat_for_source(self, source: str) -> Chat | None:
        """The chat a DOZOR_CHATS entry resolved to before, so restarts need no lookup."""
        row = await self.row(
            """SELECT chats.* FROM chat_sources JOIN chats ON chats.id = chat_sources.chat_id
               WHERE chat_sources.source = :source""",
            {"source": source},
        )
        return chat_from_row(row) if row else None

    async def chats(self) -> list[Chat]:
        return [chat_from_row(row) for row in await self.rows("SELECT * FROM chats ORDER BY id")]

    async def checkpoint(self, chat_id: int) -> int:
        return await self.scalar("SELECT checkpoint FROM chats WHERE id = :id", {"id": chat_id}) or 0

    async def advance_checkpoint(self, chat_id: int, message_id: int) -> None:
        """Move the checkpoint past ids that hold nothing to archive (service messages)."""
        async with self.transaction() as db:
            await db.execute(
                "UPDATE chats SET checkpoint = CASE WHEN checkpoint > :to THEN checkpoint ELSE :to END WHERE id = :id",
                {"to": message_id, "id": chat_id})

    async def mark_read(self, chat_id: int, at: datetime) -> None:
        """History of this chat was re-read up to now (for the quiet-chat timer)."""
        async with self.transaction() as db:
            await db.execute("UPDATE chats SET last_read_at = :at WHERE id = :id", {"at": iso(at), "id": chat_id})
            # a whole read of the chat went through: its earlier troubles are over
            await db.execute(
                """UPDATE failures SET resolved_at = :now WHERE chat_id = :id AND message_id IS NULL
                       AND resolved_at IS NULL AND at <= :at""", {"now": iso(utcnow()), "id": chat_id, "at": iso(at)})

    # ---- messages ----------------------------------------------------------------------

    async def ingest(self, chat: Chat, items: list[tuple[Post, MatchResult]],
                     advance_checkpoint: bool = True) -> IngestReport:
        """Store a batch of posts of one chat in one transaction; idempotent on (chat, message).

        What is kept, and what an edit or a repeated read changes, is decided in
        `bot/archive/keeping.py`; this reads what those rules need and writes what they decide.
        The checkpoint moves to the highest id seen, only with the commit.
        """
        now = iso(utcnow())
        if self.dialect == "postgresql":
            items = [(_storable(post), result) for post, result in items]
        async with self.transaction() as db:
            matched_albums = await _matched_albums(db, chat.id, keeping.albums_of(items))
            rowids, known = await _known(db, items)
            plan = keeping.decide(chat, items, known, matched_albums)
            texts: dict[int, str] = {}  # messages whose text the search index must follow
            fresh: set[int] = set()
            for write in plan.writes:
                post = write.post
                if isinstance(write, keeping.Insert):
                    rowids[post.key] = await _insert_message(db, post, write.result, now)
                    await _write_spans(db, rowids[post.key], write.result)
                    texts[rowids[post.key]] = post.text
                    fresh.add(rowids[post.key])
                    continue
                rowid = rowids[post.key]
                if write.restore:
                    await _restore_if_inferred(db, post, now)
                if isinstance(write, keeping.Counters):
                    await db.execute(
                        """UPDATE messages SET views = COALESCE(:views, views), forwards = COALESCE(:forwards, forwards)
                           WHERE id = :id""", {"views": post.views, "forwards": post.forwards, "id": rowid})
                    continue
                await _update_message(db, rowid, write, now)
                await _write_spans(db, rowid, write.result)
                if write.version is not None:
                    texts[rowid] = post.text
            await write_terms(db, texts, fresh)
            report = IngestReport(archived=plan.archived, edited=plan.edited, matched=plan.matched)
            if advance_checkpoint and plan.newest is not None:
                # RETURNING saves the separate read of the checkpoint below
                checkpoint = (await db.execute(
                    """UPDATE chats SET checkpoint = CASE WHEN checkpoint > :to THEN checkpoint ELSE :to END,
                           last_message_at = CASE WHEN last_message_at IS NULL OR last_message_at < :at
                                                  THEN :at ELSE last_message_at END
                       WHERE id = :id RETURNING checkpoint""",
                    {"to": plan.newest.message_id, "at": iso(plan.newest.date), "id": chat.id},
                )).scalar()
                await db.execute("DELETE FROM early_deletions WHERE chat_id = :id AND message_id <= :to",
                                 {"id": chat.id, "to": checkpoint or 0})
            else:
                checkpoint = (await db.execute("SELECT checkpoint FROM chats WHERE id = :id", {"id": chat.id})).scalar()
            report.checkpoint = checkpoint or 0
            # these messages went through conversion, matching and storing: failures of theirs are over
            await db.execute(
                """UPDATE failures SET resolved_at = :now WHERE chat_id = :id AND resolved_at IS NULL
                       AND message_id IN :ids""",
                {"now": now, "id": chat.id, "ids": [p.message_id for p, _ in items]})
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
        async with self.transaction() as db:
            if chat_id is None:
                # only chats whose ids come from the account-wide sequence (basic groups, private
                # chats): supergroups number their own messages and would collide
                marked = (await db.execute(
                    """UPDATE messages SET deleted_at = :at WHERE deleted_at IS NULL AND message_id IN :ids
                        AND chat_id > :channels RETURNING chat_id, message_id""",
                    {"at": iso(at), "ids": ids, "channels": CHANNEL_ID_OFFSET},
                )).fetchall()
            else:
                marked = (await db.execute(
                    """UPDATE messages SET deleted_at = :at WHERE deleted_at IS NULL AND chat_id = :chat_id
                        AND message_id IN :ids RETURNING chat_id, message_id""",
                    {"at": iso(at), "chat_id": chat_id, "ids": ids},
                )).fetchall()
                # a deletion can overtake the history page that carries the message: kept until
                # the page is written (see _insert_message) or the checkpoint passes it
                checkpoint = (await db.execute("SELECT checkpoint FROM chats WHERE id = :id",
                                               {"id": chat_id})).scalar()
                if checkpoint is not None:
                    present = {r[0] for r in (await db.execute(
                        "SELECT message_id FROM messages WHERE chat_id = :chat_id AND message_id IN :ids",
                        {"chat_id": chat_id, "ids": ids})).fetchall()}
                    await db.executemany(
                        """INSERT INTO early_deletions (chat_id, message_id, deleted_at)
                           VALUES (:chat_id, :message_id, :at) ON CONFLICT DO NOTHING""",
                        [{"chat_id": chat_id, "message_id": i, "at": iso(at)}
                         for i in sorted(set(ids)) if i > checkpoint and i not in present])
            await db.executemany(
                """INSERT INTO deletion_marks (chat_id, message_id, marked_at, how)
                   VALUES (:chat_id, :message_id, :at, :how) ON CONFLICT DO NOTHING""",
                [{"chat_id": row.chat_id, "message_id": row.message_id, "at": iso(at), "how": how}
                 for row in marked],
            )
            return len(marked)

    async def deletion_marks(self, chat_id: int, message_id: int) -> list[dict]:
        """Every deletion mark a message got, oldest first, with when and how (and any restore)."""
        return [_moments(r._asdict()) for r in await self.rows(
            """SELECT marked_at, how, restored_at FROM deletion_marks
               WHERE chat_id = :chat_id AND message_id = :message_id ORDER BY marked_at""",
            {"chat_id": chat_id, "message_id": message_id})]

    async def message(self, chat_id: int, message_id: int) -> dict | None:
        """One archived message with its matches and earlier versions, for tests and search;
        its moments are aware datetimes, whichever the backend."""
        row = await self.row("SELECT * FROM messages WHERE chat_id = :chat_id AND message_id = :message_id",
                             {"chat_id": chat_id, "message_id": message_id})
        if row is None:
            return None
        found = _moments(row._asdict())
        found["matches"] = [r._asdict() for r in await self.rows(
            """SELECT topic, rule, term, start, "end", version FROM matches WHERE message = :id
               ORDER BY start, topic, rule""", {"id": row.id})]
        found["versions"] = [_moments(r._asdict()) for r in await self.rows(
            """SELECT version, text, edit_date, replaced_at FROM message_versions WHERE message = :id
               ORDER BY version""", {"id": row.id})]
        return found

    async def message_ids(self, chat_id: int, above: int = 0, up_to: int | None = None) -> list[int]:
        """Ids archived in this chat (not deleted), ascending, in (above, up_to]."""
        rows = await self.rows(
            """SELECT message_id FROM messages WHERE chat_id = :chat_id AND message_id > :above
               AND message_id <= :up_to AND deleted_at IS NULL ORDER BY message_id""",
            {"chat_id": chat_id, "above": above, "up_to": up_to if up_to is not None else 2**62},
        )
        return [r[0] for r in rows]

    # ---- failures ----------------------------------------------------------------------

    async def record_failure(self, stage: str, reason: str, chat_id: int | None = None,
                             message_id: int | None = None, detail: str | None = None) -> None:
        async with self.transaction() as db:
            await db.execute(
                """INSERT INTO failures (stage, chat_id, message_id, reason, detail, at)
                   VALUES (:stage, :chat_id, :message_id, :reason, :detail, :at)""",
                {"stage": stage, "chat_id": chat_id, "message_id": message_id, "reason": self._text(reason),
                 "detail": self._text(detail), "at": iso(utcnow())},
            )
            # resolved failures are history; kept for a while for whoever looks into an incident
            await db.execute("DELETE FROM failures WHERE resolved_at < :before",
                             {"before": iso(utcnow() - FAILURE_RETENTION)})

    async def failures(self, stage: str | None = None) -> list[dict]:
        sql = "SELECT * FROM failures" + (" WHERE stage = :stage" if stage else "") + " ORDER BY id"
        return [_moments(r._asdict()) for r in await self.rows(sql, {"stage": stage} if stage else None)]

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
                chat_id=r.id, source=r.source, title=r.title, checkpoint=r.checkpoint or 0,
                last_message_at=from_iso(r.last_message_at), archived_today=r.archived or 0,
                matches_today=r.matched or 0, error=r.error or r.failure,
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
        return row._asdict()


def _clean(text: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL (SQLite keeps the text exactly as posted): there ASCII's
    SUB (substitute, U+001A) takes its place, one character for one, so the spans found in the
    text still point where they did, and a control character still, which nothing shows
    (bot/display.py)."""
    return text.replace("\x00", "\x1a") if text and "\x00" in text else text


def _storable(post: Post) -> Post:
    """The post as the archive keeps it (see _clean): decided on before the rules compare it
    with what is held, or every read of it again would look like an edit."""
    if not any(value and "\x00" in value for value in (post.text, post.author_name, post.forward_from)) \
            and not (post.media and post.media.file_name and "\x00" in post.media.file_name):
        return post
    media = post.media and replace(post.media, file_name=_clean(post.media.file_name))
    return replace(post, text=_clean(post.text), author_name=_clean(post.author_name),
                   forward_from=_clean(post.forward_from), media=media)


def chat_from_row(row: sa.Row) -> Chat:
    return Chat(id=row.id, title=row.title, username=row.username, kind=row.kind, keep_all=bool(row.keep_all))


# columns that hold a moment, in the rows handed out as dicts: SQLite keeps text, PostgreSQL
# gives datetimes; callers get aware datetimes from both
_MOMENTS = frozenset({"date", "edit_date", "deleted_at", "archived_at", "replaced_at", "marked_at",
                      "restored_at", "at", "resolved_at"})


def _moments(found: dict) -> dict:
    return {name: from_iso(value) if name in _MOMENTS else value for name, value in found.items()}


async def _matched_albums(db: Connection, chat_id: int, grouped_ids: set[int]) -> set[int]:
    if not grouped_ids:
        return set()
    rows = (await db.execute(
        """SELECT DISTINCT grouped_id FROM messages
           WHERE chat_id = :chat_id AND matched = 1 AND grouped_id IN :albums""",
        {"chat_id": chat_id, "albums": sorted(grouped_ids)},
    )).fetchall()
    return {r[0] for r in rows}


async def _known(db: Connection, items: list[tuple[Post, MatchResult]]
                 ) -> tuple[dict[keeping.Key, int], dict[keeping.Key, keeping.Known]]:
    """The archived messages among a batch's posts (row ids, and what the rules need of them).
    One query per 500 posts instead of one per post: most posts of a page are not archived,
    and a round trip to the database costs more than the lookup."""
    rowids: dict[keeping.Key, int] = {}
    known: dict[keeping.Key, keeping.Known] = {}
    wanted: dict[int, list[int]] = {}
    for post, _ in items:
        wanted.setdefault(post.chat_id, []).append(post.message_id)
    for chat_id, ids in wanted.items():
        for start in range(0, len(ids), 500):
            for found in (await db.execute(
                """SELECT m.message_id, m.id, m.text, m.edit_date, m.deleted_at,
                          (SELECT MAX(v.version) FROM message_versions v WHERE v.message = m.id) AS versions,
                          f.id AS media, f.telegram_id
                   FROM messages m LEFT JOIN media f ON f.message = m.id
                   WHERE m.chat_id = :chat_id AND m.message_id IN :ids""",
                {"chat_id": chat_id, "ids": ids[start:start + 500]},
            )).fetchall():
                key = (chat_id, found.message_id)
                rowids[key] = found.id
                known[key] = keeping.Known(
                    text=found.text, edit_date=from_iso(found.edit_date), deleted=found.deleted_at is not None,
                    versions=found.versions or 0, file=found.telegram_id, has_file=found.media is not None)
    return rowids, known


async def _insert_message(db: Connection, post: Post, result: MatchResult, now: str) -> int:
    rowid = (await db.execute(
        # a deletion can overtake the history page that carries the message (see mark_deleted)
        """INSERT INTO messages (chat_id, message_id, date, text, author_id, author_name, views, forwards,
               reply_to, forward_from, grouped_id, media_kind, language, matched, edit_date, archived_at, deleted_at)
           VALUES (:chat_id, :message_id, :date, :text, :author_id, :author_name, :views, :forwards,
               :reply_to, :forward_from, :grouped_id, :media_kind, :language, :matched, :edit_date, :now,
               (SELECT deleted_at FROM early_deletions WHERE chat_id = :chat_id AND message_id = :message_id))
           RETURNING id""",
        {"chat_id": post.chat_id, "message_id": post.message_id, "date": iso(post.date), "text": post.text,
         "author_id": post.author_id, "author_name": post.author_name, "views": post.views,
         "forwards": post.forwards, "reply_to": post.reply_to, "forward_from": post.forward_from,
         "grouped_id": post.grouped_id, "media_kind": post.media.kind if post.media else None,
         "language": result.language, "matched": int(bool(result)), "edit_date": iso(post.edit_date), "now": now},
    )).scalar()
    if post.media is not None:
        await _insert_media(db, rowid, post.media, now)
    return rowid


async def _update_message(db: Connection, rowid: int, write: keeping.Update, now: str) -> None:
    post, result = write.post, write.result
    if write.version is not None:
        await db.execute(
            """INSERT INTO message_versions (message, version, text, edit_date, replaced_at)
               VALUES (:id, :version, :text, :edit_date, :now)""",
            {"id": rowid, "version": write.version.number, "text": write.version.text,
             "edit_date": iso(write.version.edit_date), "now": now})
    await db.execute(
        """UPDATE messages SET text = :text, edit_date = :edit_date, views = COALESCE(:views, views),
               forwards = COALESCE(:forwards, forwards), matched = CASE WHEN :matched = 1 THEN 1 ELSE matched END,
               language = COALESCE(:language, language)
           WHERE id = :id""",
        {"text": post.text, "edit_date": iso(post.edit_date), "views": post.views, "forwards": post.forwards,
         "matched": int(bool(result)), "language": result.language, "id": rowid},
    )
    if write.spans == "replace":
        await db.execute("DELETE FROM matches WHERE message = :id AND version = 0", {"id": rowid})
    elif write.spans == "retire":
        await db.execute("UPDATE matches SET version = :version WHERE message = :id AND version = 0",
                         {"version": write.version.number, "id": rowid})
    if write.file == "add":
        await _insert_media(db, rowid, post.media, now)
        await db.execute("UPDATE messages SET media_kind = :kind WHERE id = :id", {"kind": post.media.kind, "id": rowid})
    elif write.file == "refetch":
        await db.execute(
            """UPDATE media SET status = 'pending', attempts = 0, next_attempt_at = NULL, updated_at = :now
               WHERE message = :id AND status != 'pending'""",
            {"now": now, "id": rowid},
        )


async def _write_spans(db: Connection, rowid: int, result: MatchResult) -> None:
    """The spans found in the current text (version 0), and the topics the model wants reviewed."""
    if result.matches:
        await db.executemany(
            """INSERT INTO matches (message, topic, rule, term, start, "end")
               VALUES (:id, :topic, :rule, :term, :start, :end)
               ON CONFLICT (message, topic, rule, start) DO UPDATE SET term = excluded.term,
                   "end" = excluded."end", version = 0""",
            [{"id": rowid, "topic": m.topic, "rule": m.rule, "term": m.term, "start": m.start, "end": m.end}
             for m in result.matches],
        )
    if result.review:
        scores = {o.topic: o.score for o in result.opinions}
        await db.executemany(
            """INSERT INTO model_reviews (message, topic, score) VALUES (:id, :topic, :score)
               ON CONFLICT (message, topic) DO UPDATE SET score = excluded.score""",
            [{"id": rowid, "topic": topic, "score": scores[topic]} for topic in result.review])


async def _insert_media(db: Connection, rowid: int, media: MediaRef, now: str) -> None:
    """A pending download, in the same transaction as its message: a restart resumes it."""
    await db.execute(
        """INSERT INTO media (message, kind, telegram_id, mime_type, size, file_name, width, height,
               duration, status, updated_at)
           VALUES (:id, :kind, :telegram_id, :mime_type, :size, :file_name, :width, :height,
               :duration, 'pending', :now)""",
        {"id": rowid, "kind": media.kind, "telegram_id": media.telegram_id, "mime_type": media.mime_type,
         "size": media.size, "file_name": media.file_name, "width": media.width, "height": media.height,
         "duration": media.duration, "now": now},
    )


async def _restore_if_inferred(db: Connection, post: Post, now: str) -> None:
    """Telegram shows a message we had inferred was deleted: the mark goes, its record stays.
    A deletion Telegram itself reported is final (a page read before it must not undo it)."""
    key = {"chat_id": post.chat_id, "message_id": post.message_id}
    restored = (await db.execute(
        """UPDATE deletion_marks SET restored_at = :now WHERE chat_id = :chat_id AND message_id = :message_id
               AND how = 'absent' AND restored_at IS NULL RETURNING marked_at""",
        {**key, "now": now})).fetchall()
    if restored and not (await db.execute(
            """SELECT 1 FROM deletion_marks WHERE chat_id = :chat_id AND message_id = :message_id
                   AND how = 'telegram'""", key)).fetchall():
        await db.execute("UPDATE messages SET deleted_at = NULL WHERE chat_id = :chat_id AND message_id = :message_id",
                         key)
