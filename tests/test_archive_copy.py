"""`dozor archive copy`: a SQLite archive moved to another database, whole, resumably."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from bot.archive import Archive, from_iso, iso
from bot.archive.copy import CopyMismatch, copy_archive
from bot.cli import main as dozor

START = datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)
CHAT = -1001000000001


async def _fill(archive: Archive, messages: int = 130) -> None:
    """An archive with what a newsroom keeps: messages and their versions, matches, deletion
    marks, media with its file, failures and labels."""
    async with archive.transaction() as db:
        for chat_id, title in ((CHAT, "Київ — оперативно"), (-1001000000002, "Одеса")):
            await db.execute("INSERT INTO chats (id, title, kind, added_at, checkpoint) "
                             "VALUES (:id, :title, 'channel', :at, :n)",
                             {"id": chat_id, "title": title, "at": iso(START), "n": messages})
        await db.execute("INSERT INTO media_files (sha256, path, size, stored_at) VALUES ('ab' || 'cd', "
                         "'media/ab/abcd.jpg', 2048, :at)", {"at": iso(START)})
        for n in range(1, messages + 1):
            moment = START + timedelta(minutes=n)
            row = (await db.execute(
                """INSERT INTO messages (chat_id, message_id, date, text, matched, archived_at, deleted_at)
                   VALUES (:chat, :n, :date, :text, :matched, :date, :deleted) RETURNING id""",
                {"chat": CHAT, "n": n, "date": iso(moment), "text": f"пікселі пакують біля метро №{n}",
                 "matched": n % 2, "deleted": iso(moment) if n % 10 == 0 else None})).scalar_one()
            if n % 2:
                await db.execute("""INSERT INTO matches (message, topic, rule, term, start, "end")
                                    VALUES (:m, 'busification', 'пакують', 'пакують', 7, 14)""", {"m": row})
            if n % 5 == 0:
                await db.execute("""INSERT INTO message_versions (message, version, text, replaced_at)
                                    VALUES (:m, 1, 'перша версія', :at)""", {"m": row, "at": iso(moment)})
            if n % 10 == 0:
                await db.execute("""INSERT INTO deletion_marks (chat_id, message_id, marked_at, how)
                                    VALUES (:chat, :n, :at, 'telegram')""", {"chat": CHAT, "n": n, "at": iso(moment)})
            if n == 7:
                await db.execute("""INSERT INTO media (message, kind, status, sha256, updated_at)
                                    VALUES (:m, 'photo', 'done', 'abcd', :at)""", {"m": row, "at": iso(moment)})
        await db.execute("INSERT INTO failures (stage, chat_id, reason, at) VALUES ('chat', :chat, 'ChannelPrivate', "
                         ":at)", {"chat": CHAT, "at": iso(START)})
        await db.execute("INSERT INTO labels (chat_id, message_id, topic, correct, text, source, at) "
                         "VALUES (:chat, 3, 'busification', 1, 'пікселі', 'cli', :at)", {"chat": CHAT, "at": iso(START)})


async def _snapshot(archive: Archive) -> dict:
    """What a reader sees, in a form comparable across backends."""
    messages = await archive.rows("SELECT chat_id, message_id, date, text, matched, deleted_at FROM messages "
                                  "ORDER BY id")
    return {
        "messages": [(r.chat_id, r.message_id, from_iso(r.date), r.text, r.matched, from_iso(r.deleted_at))
                     for r in messages],
        "versions": [tuple(r) for r in await archive.rows(
            "SELECT m.message_id, v.version, v.text FROM message_versions v JOIN messages m ON m.id = v.message "
            "ORDER BY m.message_id")],
        "matches": await archive.scalar("SELECT COUNT(*) FROM matches"),
        "marks": await archive.scalar("SELECT COUNT(*) FROM deletion_marks"),
        "media": [tuple(r) for r in await archive.rows(
            "SELECT m.message_id, f.path, f.size FROM media JOIN media_files f ON f.sha256 = media.sha256 "
            "JOIN messages m ON m.id = media.message")],
        "labels": await archive.scalar("SELECT COUNT(*) FROM labels"),
    }


class _Interrupted(Exception):
    pass


async def test_a_copy_holds_everything_the_source_held(tmp_path, backend):
    source = await Archive.open(tmp_path / "source.sqlite3")
    target = await Archive.open(backend)
    try:
        await _fill(source)
        report = await copy_archive(source, target, batch=40)
        assert {r.table: r.target for r in report}["messages"] == 130
        assert await _snapshot(target) == await _snapshot(source)
        # the target's own keys continue after the copied ones
        async with target.transaction() as db:
            new = (await db.execute(
                "INSERT INTO messages (chat_id, message_id, date, text, matched, archived_at) "
                "VALUES (:chat, 1000, :at, 'нове', 0, :at) RETURNING id", {"chat": CHAT, "at": iso(START)})).scalar_one()
        assert new > await source.scalar("SELECT MAX(id) FROM messages")
    finally:
        await source.close()
        await target.close()


async def test_an_interrupted_copy_resumes_without_copying_twice(tmp_path, backend):
    source = await Archive.open(tmp_path / "source.sqlite3")
    target = await Archive.open(backend)
    try:
        await _fill(source)
        batches = []

        def stop_in_messages(table: str, done: int, total: int) -> None:
            batches.append(table)
            if batches.count("messages") == 2:
                raise _Interrupted

        with pytest.raises(_Interrupted):
            await copy_archive(source, target, batch=40, progress=stop_in_messages)
        assert await target.scalar("SELECT COUNT(*) FROM messages") == 80
        report = await copy_archive(source, target, batch=40)
        assert {r.table: r.copied for r in report}["messages"] == 50  # only the rest
        assert await _snapshot(target) == await _snapshot(source)
    finally:
        await source.close()
        await target.close()


async def test_a_target_holding_other_rows_is_reported_not_trusted(tmp_path, backend):
    source = await Archive.open(tmp_path / "source.sqlite3")
    target = await Archive.open(backend)
    try:
        await _fill(source, messages=20)
        async with target.transaction() as db:  # a chat the source never had
            await db.execute("INSERT INTO chats (id, title, kind, added_at) VALUES (5, 'інший', 'group', :at)",
                             {"at": iso(START)})
        with pytest.raises(CopyMismatch, match="chats: 1 rows in the target, 2 in the source"):
            await copy_archive(source, target, batch=40)
    finally:
        await source.close()
        await target.close()


def test_the_command_copies_the_storage_archive_and_says_how_to_switch(tmp_path, backend, monkeypatch, capsys,
                                                                      clean_environment):
    storage = tmp_path / "store"
    monkeypatch.setenv("DOZOR_STORAGE", str(storage))

    async def prepare() -> None:
        archive = await Archive.open(storage / "archive.sqlite3")
        try:
            await _fill(archive, messages=12)
        finally:
            await archive.close()

    asyncio.run(prepare())
    target = backend if isinstance(backend, str) else str(tmp_path / "copy.sqlite3")
    assert dozor(["archive", "copy", "--to", target]) == 0
    out = capsys.readouterr().out
    assert "messages" in out and "12 rows" in out
    assert "DOZOR_DATABASE_URL=" in out


def test_the_command_refuses_a_missing_source(tmp_path, monkeypatch, capsys, clean_environment):
    monkeypatch.setenv("DOZOR_STORAGE", str(tmp_path / "empty"))
    assert dozor(["archive", "copy", "--to", str(tmp_path / "copy.sqlite3")]) == 1
    assert "no archive at" in capsys.readouterr().err
    assert not (tmp_path / "copy.sqlite3").exists()
