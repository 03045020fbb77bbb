"""The archive's two backends: opening, migrating, transactions and portable statements."""
from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timezone

import pytest

from bot.archive import Archive, ArchiveError, DatabaseError, NoArchive, from_iso, iso
from bot.archive.database import known_revisions
from bot.archive.schema import MIGRATIONS
from bot.config import ConfigError, load_settings

MOMENT = datetime(2026, 11, 30, 21, 0, 5, tzinfo=timezone.utc)


async def _add_chat(archive: Archive, chat_id: int, title: str = "Київ") -> None:
    async with archive.transaction() as db:
        await db.execute("INSERT INTO chats (id, title, kind, added_at) VALUES (:id, :title, 'channel', :at)",
                         {"id": chat_id, "title": title, "at": iso(MOMENT)})


async def test_a_statement_is_written_once_for_both_backends(archive):
    await _add_chat(archive, -1001234567890)  # a channel id beyond 32 bits
    await _add_chat(archive, -1009876543210, "Одеса")
    rows = await archive.rows("SELECT id, title, added_at FROM chats WHERE id IN :ids ORDER BY id",
                              {"ids": [-1001234567890, 5]})
    assert [(r.id, r.title) for r in rows] == [(-1001234567890, "Київ")]
    assert from_iso(rows[0].added_at) == MOMENT  # text on SQLite, timestamptz on PostgreSQL: the same moment
    assert await archive.rows("SELECT id FROM chats WHERE id IN :ids", {"ids": []}) == []
    assert await archive.scalar("SELECT COUNT(*) FROM chats WHERE added_at >= :since",
                                {"since": iso(MOMENT)}) == 2


async def test_a_failed_transaction_leaves_nothing_behind(archive):
    with pytest.raises(DatabaseError):
        async with archive.transaction() as db:
            await db.execute("INSERT INTO chats (id, title, kind, added_at) VALUES (1, 'a', 'group', :at)",
                             {"at": iso(MOMENT)})
            await db.execute("INSERT INTO chats (id, title, kind, added_at) VALUES (1, 'b', 'group', :at)",
                             {"at": iso(MOMENT)})
    assert await archive.scalar("SELECT COUNT(*) FROM chats") == 0
    await _add_chat(archive, 2)  # and the archive goes on
    assert await archive.scalar("SELECT COUNT(*) FROM chats") == 1


async def test_a_cancelled_writer_does_not_wedge_the_archive(archive):
    started = asyncio.Event()

    async def writer():
        async with archive.transaction() as db:
            await db.execute("INSERT INTO chats (id, title, kind, added_at) VALUES (7, 'a', 'group', :at)",
                             {"at": iso(MOMENT)})
            started.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(writer())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await archive.scalar("SELECT COUNT(*) FROM chats") == 0
    await _add_chat(archive, 8)
    assert await archive.scalar("SELECT COUNT(*) FROM chats") == 1


async def test_two_workers_opening_one_new_archive_together_both_get_it(backend):
    first, second = await asyncio.gather(Archive.open(backend), Archive.open(backend))
    try:
        await _add_chat(first, 1)
        assert await second.scalar("SELECT COUNT(*) FROM chats") == 1
    finally:
        await first.close()
        await second.close()


async def test_a_read_only_open_refuses_an_archive_that_is_not_there(backend):
    if isinstance(backend, str):
        pytest.skip("an empty PostgreSQL schema is the same case, tested below")
    with pytest.raises(NoArchive):
        async with Archive.opened_read_only(backend):
            pass
    assert not backend.exists()


async def test_an_empty_postgresql_database_is_no_archive_yet(backend):
    if not isinstance(backend, str):
        pytest.skip("PostgreSQL only")
    with pytest.raises(NoArchive, match="no archive at postgresql://"):
        async with Archive.opened_read_only(backend):
            pass


async def test_a_read_only_open_writes_nothing(archive, backend):
    await _add_chat(archive, 1)
    async with Archive.opened_read_only(backend) as reader:
        assert await reader.scalar("SELECT COUNT(*) FROM chats") == 1
        with pytest.raises(DatabaseError):
            async with reader.transaction() as db:
                await db.execute("DELETE FROM chats")
    assert await archive.scalar("SELECT COUNT(*) FROM chats") == 1


def _legacy_archive(path, version: int) -> None:
    """An archive as dozor 0.1 left it: the numbered SQLite scripts up to `version`."""
    db = sqlite3.connect(path)
    for number, script in enumerate(MIGRATIONS[:version], start=1):
        db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")
    db.execute("INSERT INTO chats (id, title, username, kind, keep_all, checkpoint, added_at) "
               "VALUES (-1001, 'Київ', 'kyiv', 'channel', 0, 40, '2026-03-01T10:00:00+00:00')")
    db.commit()
    db.close()


@pytest.mark.parametrize("version", [1, 8, len(MIGRATIONS)])
async def test_an_archive_of_the_first_release_is_upgraded_in_place(tmp_path, version):
    path = tmp_path / "archive.sqlite3"
    _legacy_archive(path, version)
    with pytest.raises(ArchiveError, match="older schema"):
        async with Archive.opened_read_only(path):
            pass
    archive = await Archive.open(path)
    try:
        chat = (await archive.rows("SELECT title, checkpoint FROM chats"))[0]
        assert (chat.title, chat.checkpoint) == ("Київ", 40)
        assert await archive.scalar("SELECT version_num FROM alembic_version") == known_revisions()[-1]
    finally:
        await archive.close()
    async with Archive.opened_read_only(path) as reader:  # now current
        assert await reader.scalar("SELECT COUNT(*) FROM chats") == 1


async def test_an_archive_of_a_newer_dozor_is_left_alone(tmp_path):
    path = tmp_path / "archive.sqlite3"
    _legacy_archive(path, len(MIGRATIONS))
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    db.commit()
    db.close()
    with pytest.raises(ArchiveError, match="newer dozor"):
        await Archive.open(path)
    db = sqlite3.connect(path)
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'alembic_version'").fetchall() == []


def test_a_database_url_that_is_not_postgresql_names_the_variable(tmp_path, monkeypatch, clean_environment):
    monkeypatch.setenv("DOZOR_DATABASE_URL", "mysql://root@localhost/dozor")
    with pytest.raises(ConfigError, match="DOZOR_DATABASE_URL") as error:
        load_settings(None)
    assert "postgresql://" in str(error.value)


def test_the_database_password_never_shows(monkeypatch, clean_environment):
    monkeypatch.setenv("DOZOR_DATABASE_URL", "postgresql://dozor:hunter2secret@db.example/dozor")
    settings = load_settings(None)
    assert settings.archive_location == "postgresql://dozor:hunter2secret@db.example/dozor"
    assert "hunter2secret" not in repr(settings)
    assert "hunter2secret" not in str(settings.masked())
