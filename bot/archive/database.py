"""Where the archive lives and how it is spoken to: SQLite or PostgreSQL, through SQLAlchemy.

    engine = sqlite_worker(Path("storage/archive.sqlite3"))    # the embedded default, used in one thread
    migrate_sqlite(engine)
    engine = await connect("postgresql://dozor@db.example/dozor")   # shared by several workers
    await migrate(engine)                                            # Alembic, both backends

The query modules write their SQL once, as portable text with named parameters; SQLAlchemy
renders each driver's parameter style, expands `IN :ids` lists, pools connections and runs
the migrations. What cannot be shared (SQLite's pragmas and locking, PostgreSQL's lock for
migrations) is confined to this module.
"""
from __future__ import annotations

import asyncio
import functools
import os
import weakref
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

Location = Path | str  # a SQLite file, or a postgresql:// URL
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# any fixed number: PostgreSQL's advisory lock serialises workers that migrate the same archive
_MIGRATION_LOCK = 0x646F7A6F72


class UnknownDatabase(ValueError):
    pass


def is_url(location: Location) -> bool:
    return isinstance(location, str) and "://" in location


def database_url(location: Location, read_only: bool = False) -> sa.URL:
    """SQLAlchemy's URL for a SQLite path or a postgresql:// URL (psycopg 3 is the driver)."""
    if not is_url(location):
        path = Path(location).resolve()
        if read_only:
            # mode=ro: a command that only reads must never create, migrate or lock the file
            return sa.make_url(f"sqlite+pysqlite:///file:{path}?mode=ro&uri=true")
        return sa.make_url(f"sqlite+pysqlite:///{path}")
    try:
        url = sa.make_url(location)
    except sa.exc.ArgumentError:
        raise UnknownDatabase(f"not a database URL: {describe(location)}") from None
    if url.get_backend_name() != "postgresql":
        raise UnknownDatabase(f"{describe(location)}: only postgresql:// URLs are supported (or no URL: SQLite)")
    return url.set(drivername="postgresql+psycopg")


def describe(location: Location) -> str:
    """The location for messages and logs: a path, or a URL without its password."""
    if not is_url(location):
        return str(location)
    try:
        return sa.make_url(location).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "the URL given (malformed)"


def exists(location: Location) -> bool:
    """Whether there is an archive to read (a PostgreSQL database is asked in `schema_state`)."""
    return is_url(location) or Path(location).exists()


async def connect(location: str, read_only: bool = False) -> AsyncEngine:
    """The engine of a PostgreSQL archive (SQLite's is `sqlite_worker`)."""
    url = database_url(location, read_only)
    if read_only:
        # kept beside any options the URL carries (a search_path, say)
        options = " ".join(filter(None, [url.query.get("options"), "-c default_transaction_read_only=on"]))
        url = url.update_query_dict({"options": options})
    # pre-ping: a worker outlives network drops and server restarts; a dead pooled
    # connection is replaced before use instead of failing the transaction
    return create_async_engine(url, pool_size=2, max_overflow=2, pool_pre_ping=True)


def sqlite_worker(location: Location, read_only: bool = False) -> sa.Engine:
    """The engine of a SQLite archive, used in the archive's own thread. Through SQLAlchemy's
    aiosqlite adapter every statement cost about four trips between the event loop and a
    driver thread (cursor, execute, fetch, close); run whole in one thread, it costs one."""
    path = Path(location)
    fresh = not read_only and not path.exists()
    if fresh:
        path.parent.mkdir(parents=True, exist_ok=True)
    url = database_url(location, read_only)
    # one thread uses it (the archive's executor), never two at once (the archive's lock); one
    # connection, long-lived, as WAL wants
    engine = sa.create_engine(url, pool_size=1, max_overflow=0, connect_args={"check_same_thread": False})
    _set_up_sqlite(engine, path if fresh else None, read_only)
    return engine


def _set_up_sqlite(engine: sa.Engine, fresh: Path | None, read_only: bool) -> None:
    @event.listens_for(engine, "connect")
    def _set_up(dbapi_connection, _record) -> None:
        # SQLAlchemy's documented recipe: let the archive say BEGIN itself (below), so a write
        # transaction takes the write lock at its start instead of failing half-way
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not read_only:
            cursor.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit survives a power cut. Messages could be re-read from Telegram, but
            # deletion marks, earlier versions and "digest sent" could not; the cost (about half the
            # rate of one-message commits, still far above what chats post) is worth it
            cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()
        if fresh is not None and fresh.exists() and (fresh.stat().st_mode & 0o777) != 0o600:
            # the archive holds material about people at risk: owner-only
            os.chmod(fresh, 0o600)

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        reading = read_only or connection.get_execution_options().get("reading", False)
        connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")


class Connection:
    """One connection inside a transaction; statements are portable SQL text with named
    parameters. A list, tuple or set parameter expands (`WHERE id IN :ids`)."""

    def __init__(self, connection: AsyncConnection):
        self.connection = connection
        self.dialect = connection.dialect.name

    async def execute(self, sql: str, params: dict[str, Any] | None = None) -> sa.CursorResult:
        params = params or {}
        return await self.connection.execute(_statement(sql, _expanding(params)), params)

    async def executemany(self, sql: str, rows: Iterable[dict[str, Any]]) -> None:
        rows = list(rows)
        if rows:
            await self.connection.execute(_statement(sql, _expanding(rows[0])), rows)

    async def run(self, statement: sa.Executable, params: Any = None) -> sa.CursorResult:
        """A SQLAlchemy Core statement (for code that walks the metadata, such as the copy)."""
        return await self.connection.execute(statement, params)

    async def run_sync(self, work: Callable[[sa.Connection], Any]) -> Any:
        """Synchronous SQLAlchemy code on this connection (Alembic's, a backfill)."""
        return await self.connection.run_sync(work)


class ThreadedConnection:
    """The same interface over a SQLite connection that lives in the archive's thread: each
    statement runs there, and its rows are read whole before coming back."""

    dialect = "sqlite"

    def __init__(self, connection: sa.Connection, run: Callable[[Callable[[], Any]], Awaitable[Any]]):
        self.connection = connection
        self._run = run

    async def execute(self, sql: str, params: dict[str, Any] | None = None) -> "Buffered":
        params = params or {}
        statement = _statement(sql, _expanding(params))
        return await self._run(lambda: Buffered(self.connection.execute(statement, params)))

    async def executemany(self, sql: str, rows: Iterable[dict[str, Any]]) -> None:
        rows = list(rows)
        if rows:
            statement = _statement(sql, _expanding(rows[0]))
            await self._run(lambda: self.connection.execute(statement, rows))

    async def run(self, statement: sa.Executable, params: Any = None) -> "Buffered":
        """A SQLAlchemy Core statement (for code that walks the metadata, such as the copy)."""
        return await self._run(lambda: Buffered(self.connection.execute(statement, params)))

    async def run_sync(self, work: Callable[[sa.Connection], Any]) -> Any:
        """Synchronous SQLAlchemy code on this connection (Alembic's, a backfill)."""
        return await self._run(lambda: work(self.connection))


class Buffered:
    """A result read whole where it was produced: its rows (fetchall, scalar, first, …) and
    how many rows a write touched."""

    def __init__(self, result: sa.CursorResult):
        self.rowcount = result.rowcount
        self._rows = result.freeze()() if result.returns_rows else None

    def __getattr__(self, name: str) -> Any:
        if self._rows is None:
            raise AttributeError(f"{name}: the statement returned no rows")
        return getattr(self._rows, name)

    def __iter__(self):
        return iter(self._rows or ())


def statement(sql: str, params: dict[str, Any]) -> sa.TextClause:
    """The parsed statement for this SQL text, list parameters expanding."""
    return _statement(sql, _expanding(params))


def _expanding(params: dict[str, Any]) -> frozenset[str]:
    return frozenset(name for name, value in params.items() if isinstance(value, (list, tuple, set, frozenset)))


@functools.lru_cache(maxsize=2048)
def _statement(sql: str, expanding: frozenset[str]) -> sa.TextClause:
    # parsed once per statement text: the service runs the same few hundred statements
    statement = sa.text(sql)
    if expanding:
        statement = statement.bindparams(*(sa.bindparam(name, expanding=True) for name in expanding))
    return statement


# ---- migrations ---------------------------------------------------------------------------

def _config(connection: sa.Connection | None):
    from alembic.config import Config  # only where the schema is checked or changed: commands start faster

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def migration_lock() -> asyncio.Lock:
    """Alembic keeps its running context in module globals: one migration at a time per process."""
    return _migrating.setdefault(asyncio.get_running_loop(), asyncio.Lock())


_migrating: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


async def migrate(engine: AsyncEngine) -> None:
    """Bring a PostgreSQL archive to the newest schema."""
    async with migration_lock(), engine.connect() as connection:
        # other processes: the first to come migrates, the others then find nothing to do
        await connection.exec_driver_sql(f"SELECT pg_advisory_lock({_MIGRATION_LOCK})")
        await connection.commit()
        try:
            await connection.run_sync(_upgrade)
            await connection.commit()
        finally:
            await connection.exec_driver_sql(f"SELECT pg_advisory_unlock({_MIGRATION_LOCK})")
            await connection.commit()


def migrate_sqlite(engine: sa.Engine) -> None:
    """Bring a SQLite archive to the newest schema (in the archive's thread, under
    `migration_lock`). An archive older than the Alembic revisions is first brought to legacy
    migration 17 by the first revision itself."""
    with engine.connect() as connection:
        # SQLite's BEGIN IMMEDIATE serialises processes; a long migration must not time the others out
        connection.exec_driver_sql("PRAGMA busy_timeout=600000")
        try:
            _upgrade(connection)
            connection.commit()
        finally:
            connection.exec_driver_sql("PRAGMA busy_timeout=5000")
            connection.commit()


def _upgrade(connection: sa.Connection) -> None:
    from alembic import command

    command.upgrade(_config(connection), "head")


async def schema_state(engine: AsyncEngine) -> tuple[str | None, int | None]:
    """(Alembic revision, None) of a PostgreSQL archive, without changing it."""
    async with engine.connect() as connection:
        state = await connection.run_sync(_state)
        await connection.rollback()
        return state


def sqlite_state(engine: sa.Engine) -> tuple[str | None, int | None]:
    """(Alembic revision, legacy user_version) of a SQLite archive, without changing it."""
    with engine.connect() as connection:
        state = _state(connection)
        connection.rollback()
        return state


def _state(connection: sa.Connection) -> tuple[str | None, int | None]:
    from alembic.runtime.migration import MigrationContext

    revision = MigrationContext.configure(connection).get_current_revision()
    legacy = connection.exec_driver_sql("PRAGMA user_version").scalar() if connection.dialect.name == "sqlite" else None
    return revision, legacy


def known_revisions() -> list[str]:
    """Every revision this dozor knows, oldest first."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_config(None))
    return [r.revision for r in reversed(list(script.walk_revisions()))]
