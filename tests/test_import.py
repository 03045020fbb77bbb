"""`dozor import`: a Telegram Desktop export into the archive, on real files; twice changes nothing."""
from __future__ import annotations

import hashlib
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from bot.archive import Archive
from bot.archive.records import record
from bot.archive.search import search
from bot.cli import main
from bot.imports.desktop import ExportError, read_export
from bot.imports.importer import import_export
from bot.matching import load_rules
from bot.media.store import MediaStore
from bot.model import Chat, Match, MatchResult, Post
from tests.conftest import EXAMPLE_KEYWORDS
from tests.desktop_export import JPEG, message, service, write_export

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)
CHAT_ID = -1001234567890


def small_export(folder):
    messages = [
        service(1, T0, "create_channel"),
        message(2, T0 + timedelta(minutes=1), "ТЦК пакують біля метро Лук'янівська"),
        message(3, T0 + timedelta(minutes=2), "Погода на вихідні: сонячно"),
        message(4, T0 + timedelta(minutes=3), ["Фото: ", {"type": "bold", "text": "ТЦК"}, " біля ТРЦ"],
                photo="photos/photo_1@01-03-2025_09-03-00.jpg", width=1, height=1),
        message(5, T0 + timedelta(minutes=4), "Оновлено: ТЦК поїхали з Подолу",
                edited="2025-03-01T09:30:00", edited_unixtime=str(int((T0 + timedelta(minutes=30)).timestamp()))),
        message(6, T0 + timedelta(minutes=5), "Відео з ТЦК на Оболоні", file="(File not included. "
                "Change data exporting settings to download.)", media_type="video_file", mime_type="video/mp4"),
        service(7, T0 + timedelta(minutes=6), "pin_message"),
    ]
    return write_export(folder, messages, files={"photos/photo_1@01-03-2025_09-03-00.jpg": JPEG})


def dump(path) -> list[str]:
    """Every row of every table, the full-text index's own pages included."""
    with sqlite3.connect(path) as db:
        return list(db.iterdump())


async def run_import(storage, export_path, keep_all=False):
    rules = load_rules(EXAMPLE_KEYWORDS)
    async with Archive.opened(storage / "archive.sqlite3", must_exist=False) as archive:
        return await import_export(archive, MediaStore(storage / "media"), rules, read_export(export_path),
                                   keep_all)


async def test_an_export_is_archived_matched_with_its_photo_and_twice_changes_nothing(tmp_path):
    storage = tmp_path / "storage"
    export = small_export(tmp_path / "ChatExport")
    first = (await run_import(storage, export)).chats[0]
    assert (first.read, first.service, first.archived, first.media_stored, first.media_missing) == (5, 2, 4, 1, 1)
    after_first = dump(storage / "archive.sqlite3")
    files_first = sorted(p.relative_to(storage) for p in (storage / "media").rglob("*") if p.is_file())

    second = (await run_import(storage, export)).chats[0]
    assert (second.archived, second.edited, second.media_stored, second.media_missing) == (0, 0, 0, 0)
    assert dump(storage / "archive.sqlite3") == after_first
    assert sorted(p.relative_to(storage) for p in (storage / "media").rglob("*") if p.is_file()) == files_first

    async with Archive.opened(storage / "archive.sqlite3") as archive:
        chats = await archive.chats()
        assert [(c.id, c.title, c.kind) for c in chats] == [(CHAT_ID, "Київ новини", "channel")]
        assert await archive.message(CHAT_ID, 3) is None  # the weather did not match
        photo = await record(archive, CHAT_ID, 4)
        assert photo.text == "Фото: ТЦК біля ТРЦ" and "enlistment_centre" in photo.topics
        assert photo.media.status == "done" and photo.media.sha256 == hashlib.sha256(JPEG).hexdigest()
        assert (storage / photo.media.path).read_bytes() == JPEG
        edited = await record(archive, CHAT_ID, 5)
        assert edited.edit_date == T0 + timedelta(minutes=30) and edited.date == T0 + timedelta(minutes=4)
        video = await record(archive, CHAT_ID, 6)
        assert video.media.status == "failed" and "not in the Telegram Desktop export" in video.media.reason
        assert [h.message_id for h in await search(archive, "Подолу")] == [5]  # the index is whole
        assert await archive.checkpoint(CHAT_ID) == 0  # an export says nothing about live reading


async def test_a_message_already_archived_keeps_its_versions(tmp_path):
    storage = tmp_path / "storage"
    chat = Chat(id=CHAT_ID, title="Київ новини", username="kyiv_news")
    hit = MatchResult(matches=(Match("enlistment_centre", "tck", "ТЦК", 0, 3),))
    async with Archive.opened(storage / "archive.sqlite3", must_exist=False) as archive:
        await archive.save_chat(chat, "@kyiv_news")
        first = Post(CHAT_ID, 5, T0 + timedelta(minutes=4), "ТЦК на Подолі")
        later = Post(CHAT_ID, 5, T0 + timedelta(minutes=4), "Оновлено: ТЦК поїхали з Подолу",
                     edit_date=T0 + timedelta(minutes=30))
        await archive.ingest(chat, [(first, hit)])
        await archive.ingest(chat, [(later, hit)])
    await run_import(storage, small_export(tmp_path / "ChatExport"))
    async with Archive.opened(storage / "archive.sqlite3") as archive:
        kept = await record(archive, CHAT_ID, 5)
        assert [v.text for v in kept.versions] == ["ТЦК на Подолі", "Оновлено: ТЦК поїхали з Подолу"]
        assert (await archive.chats())[0].username == "kyiv_news"  # the live chat keeps its name


async def test_all_keeps_the_messages_that_match_nothing(tmp_path):
    storage = tmp_path / "storage"
    await run_import(storage, small_export(tmp_path / "ChatExport"), keep_all=True)
    async with Archive.opened(storage / "archive.sqlite3") as archive:
        assert (await archive.message(CHAT_ID, 3))["text"] == "Погода на вихідні: сонячно"


def test_an_unreadable_export_is_named_and_nothing_is_written(tmp_path, monkeypatch, capsys):
    storage = tmp_path / "storage"
    storage.mkdir()
    monkeypatch.setenv("DOZOR_STORAGE", str(storage))
    monkeypatch.setenv("DOZOR_KEYWORDS", str(EXAMPLE_KEYWORDS))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notjson").mkdir()
    (tmp_path / "notjson" / "result.json").write_text("<html>", encoding="utf-8")
    assert main(["import", str(tmp_path / "notjson")]) == 2
    assert "not JSON" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "nowhere")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert not (storage / "archive.sqlite3").exists()


def test_a_broken_message_is_named_and_kept_out_while_the_others_come_in(tmp_path, monkeypatch, capsys):
    storage = tmp_path / "storage"
    storage.mkdir()
    monkeypatch.setenv("DOZOR_STORAGE", str(storage))
    monkeypatch.setenv("DOZOR_KEYWORDS", str(EXAMPLE_KEYWORDS))
    monkeypatch.chdir(tmp_path)
    export = write_export(tmp_path / "bad", [message(1, T0, "ТЦК біля метро"),
                                             {"id": 2, "type": "message", "text": "ТЦК без дати"},
                                             message(3, T0, 42), message(4, T0, "ТЦК на мосту")])
    for _ in range(2):
        assert main(["import", str(export)]) == 1
        error = capsys.readouterr().err
        assert "message #2 (id 2): no date" in error and "message #3: text is neither" in error
    with sqlite3.connect(storage / "archive.sqlite3") as db:
        assert [r[0] for r in db.execute("SELECT message_id FROM messages ORDER BY 1")] == [1, 4]
        # recorded once, however often the export is imported
        assert [r for r in db.execute("SELECT stage, message_id FROM failures ORDER BY id")] == [
            ("import", 2), ("import", 3)]


def test_the_command_imports_and_reports(tmp_path, monkeypatch, capsys):
    storage = tmp_path / "storage"
    storage.mkdir()
    monkeypatch.setenv("DOZOR_STORAGE", str(storage))
    monkeypatch.setenv("DOZOR_KEYWORDS", str(EXAMPLE_KEYWORDS))
    monkeypatch.chdir(tmp_path)
    assert main(["import", str(small_export(tmp_path / "ChatExport").parent), "--username", "@kyiv_news"]) == 0
    out = capsys.readouterr().out
    assert "5 messages read" in out and "4 archived" in out and "1 files stored" in out
    with sqlite3.connect(storage / "archive.sqlite3") as db:
        assert db.execute("SELECT username FROM chats").fetchall() == [("kyiv_news",)]  # links to t.me/kyiv_news/…


def test_an_unknown_chat_type_is_refused(tmp_path):
    with pytest.raises(ExportError, match="unknown type"):
        read_export(write_export(tmp_path / "x", [], chat_type="galaxy"))


def test_an_account_export_brings_every_chat_and_names_the_unreadable_one(tmp_path):
    import json
    single = json.loads(small_export(tmp_path / "one").read_text(encoding="utf-8"))
    group = {"name": "Оболонь чат", "type": "private_supergroup", "id": 555, "messages": [
        message(1, T0, "ТЦК біля Героїв Дніпра")]}
    (tmp_path / "one" / "result.json").write_text(json.dumps(
        {"chats": {"list": [single, {"name": "?", "type": "galaxy", "id": 1}, group]}}), encoding="utf-8")
    export = read_export(tmp_path / "one")
    assert [(c.chat.id, c.chat.kind) for c in export.chats] == [(CHAT_ID, "channel"), (-1000000000555, "group")]
    assert len(export.refused) == 1 and "chat #2" in export.refused[0] and "galaxy" in export.refused[0]


async def test_a_later_export_with_an_edit_adds_a_version_and_search_follows_it(tmp_path):
    storage = tmp_path / "storage"
    await run_import(storage, small_export(tmp_path / "first"))
    later = write_export(tmp_path / "later", [
        message(2, T0 + timedelta(minutes=1), "Оновлено: ТЦК вже поїхали з Лук'янівської",
                edited="2025-03-02T10:00:00", edited_unixtime=str(int((T0 + timedelta(days=1)).timestamp())))])
    report = (await run_import(storage, later)).chats[0]
    assert (report.archived, report.edited) == (0, 1)
    async with Archive.opened(storage / "archive.sqlite3") as archive:
        kept = await record(archive, CHAT_ID, 2)
        assert [v.text for v in kept.versions] == ["ТЦК пакують біля метро Лук'янівська",
                                                   "Оновлено: ТЦК вже поїхали з Лук'янівської"]
        assert [h.message_id for h in await search(archive, "поїхали Лук'янівської")] == [2]
        assert await search(archive, "пакують") == []  # the index holds the current text only


async def test_the_media_of_a_live_message_is_left_alone_by_an_import(tmp_path):
    from bot.archive import media as media_queries
    from bot.model import MediaRef
    storage = tmp_path / "storage"
    chat = Chat(id=CHAT_ID, title="Київ новини", username="kyiv_news")
    text = "Відео з ТЦК на Оболоні"
    async with Archive.opened(storage / "archive.sqlite3", must_exist=False) as archive:
        await archive.save_chat(chat, "@kyiv_news")
        await archive.ingest(chat, [(Post(CHAT_ID, 6, T0 + timedelta(minutes=5), text,
                                          media=MediaRef("video", 777, "video/mp4", 5_000_000)),
                                     MatchResult(matches=(Match("enlistment_centre", "tck", "ТЦК", 8, 11),)))])
    await run_import(storage, small_export(tmp_path / "ChatExport"))
    async with Archive.opened(storage / "archive.sqlite3") as archive:
        video = await media_queries.file_of(archive, CHAT_ID, 6)
        assert (video["status"], video["telegram_id"]) == ("pending", 777)  # the service still fetches it
        assert (await media_queries.file_of(archive, CHAT_ID, 4))["status"] == "done"  # the photo came in
        await media_queries.mark_done(archive, video["id"], "ab" * 32, "media/x.mp4", 5_000_000)
    before = dump(storage / "archive.sqlite3")
    await run_import(storage, small_export(tmp_path / "ChatExport"))
    assert dump(storage / "archive.sqlite3") == before  # a downloaded file is not queued again
