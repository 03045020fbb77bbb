"""Media of archived messages through the offline Telegram into a real storage directory
and a real archive (SQLite and PostgreSQL): post a file, archive its message, see the file stored."""
from __future__ import annotations

import argparse
import ast
import asyncio
import contextlib
import errno
import hashlib
import logging
import os
import stat
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from telethon.tl import types

from bot.archive import Archive
from bot.archive import media as queue
from bot.commands import media as media_command
from bot.config import MEDIA_KINDS, Settings
from bot.media import run_media
from bot.media.store import Incoming, MediaStore
from bot.media.worker import MediaWorkers
from bot.model import Match, MatchResult
from bot.telegram.client import open_authorised
from bot.telegram.convert import to_chat, to_post
from bot.telegram.download import TelegramMedia
from tests.conftest import UNPACED, eventually
from tests.telegram_fake import FakeTelegram

HIT = MatchResult(matches=(Match("enlistment_centre", "tck", "ТЦК", 0, 3),), language="uk")
CAPTION = "ТЦК пакують чоловіків у бус біля метро"
SMALL_CHUNK = 64 * 1024  # several chunks per test file, so "in the middle" exists


class World:
    def __init__(self, fake: FakeTelegram, settings: Settings, client, archive: Archive):
        self.fake = fake
        self.settings = settings
        self.client = client
        self.archive = archive
        self.store = MediaStore(settings.media_dir)

    async def archive_posts(self, channel, *messages, matched: bool = True) -> None:
        """Archive messages the way the service does: fetched through the client, converted, ingested."""
        chat = to_chat(await self.client.get_entity(channel.username))
        await self.archive.save_chat(chat)
        fetched = await self.client.get_messages(chat.id, ids=[m.id for m in messages])
        await self.archive.ingest(chat, [(to_post(m), HIT if matched else MatchResult()) for m in fetched])

    def workers(self, source=None, **options) -> MediaWorkers:
        options = {"workers": 2, "max_mb": 50.0, "kinds": MEDIA_KINDS, "poll": 0.05, **options}
        return MediaWorkers(self.archive, self.store, source or TelegramMedia(self.client), **options)

    @contextlib.asynccontextmanager
    async def running(self, pool: MediaWorkers | None = None):
        task = asyncio.create_task((pool or self.workers()).run())
        try:
            yield task
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def settled(self) -> None:
        async def nothing_pending():
            return (await queue.counts(self.archive))["pending"] == 0
        await eventually(nothing_pending, "every queued media item to be done, skipped or failed")

    async def media(self, channel, message) -> dict:
        return await queue.file_of(self.archive, channel.marked_id, message.id)

    def stored_bytes(self, row: dict) -> bytes:
        return (self.settings.storage / row["path"]).read_bytes()

    def files(self) -> list[str]:
        root = self.settings.storage / "media"
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
async def world(tmp_path, backend):
    """On each backend: the queue (what is due, attempts, reasons, files) is the archive's."""
    fake = FakeTelegram()
    storage = tmp_path / "storage"
    storage.mkdir(exist_ok=True)
    fake.authorise_session(str(storage / "dozor.session"))
    settings = Settings(api_id=fake.API_ID, api_hash=fake.API_HASH, storage=storage,
                        database_url=backend if isinstance(backend, str) else None, **UNPACED)
    client = await open_authorised(settings, connection=fake.connection)
    archive = await Archive.open(settings.archive_location)
    try:
        yield World(fake, settings, client, archive)
    finally:
        await archive.close()
        await client.disconnect()
    fake.check()


class Interrupted(TelegramMedia):
    """The real download, with something happening to Telegram after the first chunk arrived."""

    def __init__(self, client, after_first_chunk):
        super().__init__(client, chunk=SMALL_CHUNK)
        self.after_first_chunk = after_first_chunk
        self.fired = 0

    async def download(self, fetched, write):
        async def write_then_interrupt(chunk: bytes) -> None:
            await write(chunk)
            if not self.fired:
                self.fired += 1
                result = self.after_first_chunk()
                if asyncio.iscoroutine(result):
                    await result
        return await super().download(fetched, write_then_interrupt)


async def test_every_kind_of_media_is_stored_byte_for_byte_with_its_description(world):
    fake = world.fake
    news = fake.add_channel(username="kyiv_news", title="Київ новини", joined=True)
    files = {
        "photo": (os.urandom(150_000), fake.photo),
        "document": (os.urandom(90_000), lambda d: fake.document(d, mime_type="application/pdf",
                                                                 file_name="Наказ про мобілізацію.pdf")),
        "video": (os.urandom(700_000), lambda d: fake.document(d, video=True, duration=31, w=1280, h=720)),
        "round": (os.urandom(60_000), lambda d: fake.document(d, round=True, duration=9, w=384, h=384)),
        "voice": (os.urandom(30_000), lambda d: fake.document(d, voice=True, duration=12)),
        "audio": (os.urandom(40_000), lambda d: fake.document(d, audio=True, duration=200, file_name="пісня.mp3")),
        "gif": (os.urandom(20_000), lambda d: fake.document(d, gif=True, w=320, h=240)),
        "sticker": (os.urandom(10_000), lambda d: fake.document(d, sticker=True, w=512, h=512)),
    }
    posted = {kind: fake.post(news, CAPTION, media=make(data)) for kind, (data, make) in files.items()}
    await world.archive_posts(news, *posted.values())

    wake = asyncio.Event()
    task = asyncio.create_task(run_media(world.settings, world.archive, world.client, wake=wake))
    try:
        await world.settled()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    for kind, message in posted.items():
        row = await world.media(news, message)
        data = files[kind][0]
        assert (row["status"], row["kind"]) == ("done", kind), row
        assert world.stored_bytes(row) == data
        assert row["sha256"] == hashlib.sha256(data).hexdigest() and row["size"] == len(data)
        assert row["path"].startswith(f"media/{row['sha256'][:2]}/{row['sha256'][2:4]}/{row['sha256']}.")
    assert (await world.media(news, posted["photo"]))["width"] == 1280
    video = await world.media(news, posted["video"])
    assert (video["mime_type"], video["width"], video["height"], video["duration"]) == ("video/mp4", 1280, 720, 31)
    document = await world.media(news, posted["document"])
    assert document["file_name"] == "Наказ про мобілізацію.pdf" and document["path"].endswith(".pdf")
    assert (await world.media(news, posted["voice"]))["duration"] == 12
    assert world.store.partials() == []
    media = world.settings.media_dir
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in (media, *media.rglob("*")) if p.is_dir()} == {"0o700"}
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in media.rglob("*") if p.is_file()} == {"0o600"}


async def test_an_album_is_archived_whole_even_when_only_its_last_caption_matched(world):
    fake = world.fake
    news = fake.add_channel(username="kyiv_news", title="Київ новини", joined=True)
    album = [os.urandom(50_000), os.urandom(80_000), os.urandom(60_000)]
    first = fake.post(news, "", media=fake.photo(album[0]), grouped_id=4242)
    second = fake.post(news, "", media=fake.document(album[1], video=True, duration=5, w=640, h=360),
                       grouped_id=4242)
    third = fake.post(news, CAPTION, media=fake.photo(album[2]), grouped_id=4242)
    unrelated = fake.post(news, "погода", media=fake.photo(os.urandom(1000)))
    # the live path saw the captionless items first: nothing matched yet, so only the third was kept
    await world.archive_posts(news, third)
    assert await world.archive.message_ids(news.marked_id) == [third.id]

    async with world.running():
        await eventually(lambda: world.archive.message_ids(news.marked_id), "the album")
        await eventually(lambda: _len_is(world.archive.message_ids(news.marked_id), 3), "the whole album")
        await world.settled()

    assert await world.archive.message_ids(news.marked_id) == [first.id, second.id, third.id]
    for message, data in zip((first, second, third), album):
        row = await world.media(news, message)
        assert row["status"] == "done" and world.stored_bytes(row) == data
    assert (await world.media(news, second))["kind"] == "video"
    assert await world.media(news, unrelated) is None


async def _len_is(awaitable, n: int) -> bool:
    return len(await awaitable) == n


async def test_the_same_photo_in_two_chats_is_stored_once_and_linked_twice(world):
    fake = world.fake
    kyiv = fake.add_channel(username="kyiv_news", title="Київ новини", joined=True)
    lviv = fake.add_channel(username="lviv_news", title="Львів новини", joined=True)
    odesa = fake.add_channel(username="odesa_news", title="Одеса новини", joined=True)
    data = os.urandom(120_000)
    photo = fake.photo(data)
    in_kyiv = fake.post(kyiv, CAPTION, media=photo)
    in_lviv = fake.post(lviv, CAPTION, media=photo)  # a repost: the same Telegram file
    in_odesa = fake.post(odesa, CAPTION, media=fake.photo(data))  # uploaded again: same bytes, new file
    await world.archive_posts(kyiv, in_kyiv)

    async with world.running():
        await world.settled()
        downloads = fake.requests.count("GetFileRequest")
        await world.archive_posts(lviv, in_lviv)
        await world.archive_posts(odesa, in_odesa)
        await world.settled()

    rows = [await world.media(chat, m) for chat, m in ((kyiv, in_kyiv), (lviv, in_lviv), (odesa, in_odesa))]
    assert {r["status"] for r in rows} == {"done"}
    assert len({r["sha256"] for r in rows}) == 1 and len({r["path"] for r in rows}) == 1
    assert len(world.files()) == 1 and world.stored_bytes(rows[0]) == data
    assert await world.archive.scalar("SELECT COUNT(*) FROM media_files") == 1
    # the repost was linked without downloading; the re-upload was downloaded and deduplicated
    assert fake.requests.count("GetFileRequest") == downloads * 2


@pytest.mark.parametrize("trouble", ["file reference expired", "flood wait", "connection dropped"])
async def test_trouble_in_the_middle_of_a_download_still_ends_with_the_file_stored(world, trouble):
    fake = world.fake
    news = fake.add_channel(username="kyiv_news", title="Київ новини", joined=True)
    data = os.urandom(5 * SMALL_CHUNK + 1234)
    video = fake.post(news, CAPTION, media=fake.document(data, video=True, duration=20, w=640, h=360))
    await world.archive_posts(news, video)
    interrupt = {
        "file reference expired": lambda: fake.fail("GetFileRequest", "FILE_REFERENCE_EXPIRED"),
        "flood wait": lambda: fake.flood_wait("GetFileRequest", seconds=1),
        "connection dropped": fake.drop_connections,
    }[trouble]
    source = Interrupted(world.client, interrupt)

    async with world.running(world.workers(source)):
        await world.settled()

    row = await world.media(news, video)
    assert source.fired == 1
    if trouble != "connection dropped":
        # one refused request, then the rest from where it stopped, not from the start
        assert fake.requests.count("GetFileRequest") == 6 + 1
    assert row["status"] == "done", row
    assert world.stored_bytes(row) == data and row["attempts"] == 1
    assert world.store.partials() == []


async def test_a_download_killed_half_way_is_completed_after_a_restart_with_no_half_file(world):
    fake = world.fake
    news = fake.add_channel(username="kyiv_news", title="Київ новини", joined=True)
    data = os.urandom(8 * SMALL_CHUNK)
    video = fake.post(news, CAPTION, media=fake.document(data, video=True, duration=60, w=1280, h=720))
    await world.archive_posts(news, video)
    half_way = asyncio.Event()
    never = asyncio.Event()

    async def stall():
        half_way.set()
        await never.wait()  # the network stalls: the process is killed while it waits

    async with world.running(world.workers(Interrupted(world.client, stall))) as task:
        await asyncio.wait_for(half_way.wait(), 30)
        assert len(world.store.partials()) == 1
        task.cancel()
    assert (await world.media(news, video))["status"] == "pending"
    assert world.store.partials() == []

    async with world.running():
        await world.settled()
    row = await world.media(news, video)
    assert row["status"] == "done" and world.stored_bytes(row) == data
    assert world.store.partials() == [] and len(world.files()) == 1


async def test_too_large_and_switched_off_types_are_recorded_as_skipped_with_the_reason(world):
    fake = world.fake
    news = fake.add_channel(username="kyiv_news", title="Київ новини", joined=True)
    big = fake.post(news, CAPTION, media=fake.document(os.urandom(300_000), file_name="scan.pdf"))
    voice = fake.post(news, CAPTION, media=fake.document(os.urandom(5_000), voice=True, duration=3))
    photo_data = os.urandom(20_000)
    photo = fake.post(news, CAPTION, media=fake.photo(photo_data))
    await world.archive_posts(news, big, voice, photo)

    kinds = tuple(k for k in MEDIA_KINDS if k != "voice")
    async with world.running(world.workers(max_mb=0.25, kinds=kinds)):
        await world.settled()

    assert (await world.media(news, big))["status"] == "skipped"
    assert (await world.media(news, big))["reason"] == "too large: 0.3 MB > 0.25 MB"
    assert (await world.media(news, voice))["reason"] == "type voice is switched off"
    assert world.stored_bytes(await world.media(news, photo)) == photo_data
    assert fake.requests.count("GetFileRequest") == 1  # nothing skipped was fetched


async def test_a_full_disk_pauses_downloads_visibly_and_they_resume_when_there_is_room(world, caplog):
    fake = world.fake
    news = fake.add_channel(username="kyiv_news", title="Київ новини", joined=True)
    data = os.urandom(3 * SMALL_CHUNK)
    video = fake.post(news, CAPTION, media=fake.document(data, video=True, duration=20, w=640, h=360))
    await world.archive_posts(news, video)
    disk = {"full": True}
    original = Incoming._write

    def write(self, chunk):
        if disk["full"]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        original(self, chunk)

    caplog.set_level(logging.INFO, logger="dozor.media")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Incoming, "_write", write)
        pool = world.workers(disk_wait=0.3)
        async with world.running(pool):
            async def paused():
                return (await queue.counts(world.archive))["paused"] == 1
            await eventually(paused, "downloads to pause")
            assert "media downloads paused: disk full" in caplog.text
            report = await media_command.collect(world.settings, limit=10)
            assert "DOWNLOADS PAUSED (1 waiting): disk full" in media_command.render(report)
            assert world.store.partials() == []
            disk["full"] = False
            await world.settled()
    row = await world.media(news, video)
    assert row["status"] == "done" and world.stored_bytes(row) == data and row["attempts"] == 1
    assert "media downloads resumed" in caplog.text


async def test_failures_are_retried_then_shown_with_the_reason_and_can_be_queued_again(world, capsys):
    fake = world.fake
    news = fake.add_channel(username="kyiv_news", title="Київ новини", joined=True)
    gone = fake.post(news, CAPTION, media=fake.photo(os.urandom(1000)))
    broken_data = os.urandom(2000)
    broken = fake.post(news, CAPTION, media=fake.photo(broken_data))
    await world.archive_posts(news, gone, broken)
    fake.delete(news, [gone.id])
    fake.fail("GetFileRequest", "FILE_ID_INVALID", times=3)

    async with world.running(world.workers(workers=1, max_attempts=3, schedule=lambda n: timedelta(0))):
        await world.settled()

    assert (await world.media(news, gone))["reason"] == "message deleted on Telegram before its media was saved"
    row = await world.media(news, broken)
    assert row["status"] == "failed" and row["attempts"] == 3
    assert "FILE_ID_INVALID" in row["reason"] and "gave up after 3 attempts" in row["reason"]

    args = argparse.Namespace(config=None, action="show", skipped=False, limit=20, json=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(media_command, "load_settings", lambda config: world.settings)
        assert await asyncio.to_thread(media_command.main, args) == 0
        shown = capsys.readouterr().out
        assert "0 pending, 0 done, 0 skipped, 2 failed" in shown
        assert "t.me/kyiv_news/%d" % gone.id in shown and "message deleted on Telegram" in shown
        args.action = "retry"
        assert await asyncio.to_thread(media_command.main, args) == 0
        assert capsys.readouterr().out.startswith("2 failed media items back in the queue")

    async with world.running():
        await world.settled()
    assert world.stored_bytes(await world.media(news, broken)) == broken_data
    assert (await world.media(news, gone))["status"] == "failed"


def replace_file(fake: FakeTelegram, channel, message, media) -> None:
    """An edit that swaps the message's file, as Telegram allows for photos, videos and documents."""
    edited = fake.edit(channel, message.id, message.message)
    if isinstance(media, types.Photo):
        edited.media = types.MessageMediaPhoto(photo=media)
    else:
        edited.media = types.MessageMediaDocument(document=media)


async def test_a_file_replaced_by_an_edit_before_the_download_is_stored_under_its_new_description(world):
    fake = world.fake
    news = fake.add_channel(username="kyiv_news", title="Київ новини", joined=True)
    first = os.urandom(40_000)
    message = fake.post(news, CAPTION, media=fake.photo(first))
    await world.archive_posts(news, message)
    queued = await world.media(news, message)
    replacement = os.urandom(3 * SMALL_CHUNK)
    video = fake.document(replacement, video=True, duration=14, w=848, h=480)
    replace_file(fake, news, message, video)

    async with world.running():
        await world.settled()

    row = await world.media(news, message)
    assert row["status"] == "done", row
    assert world.stored_bytes(row) == replacement and row["path"].endswith(".mp4")
    assert (row["kind"], row["telegram_id"], row["mime_type"], row["size"]) == ("video", video.id, "video/mp4",
                                                                              len(replacement))
    assert (row["width"], row["height"], row["duration"]) == (848, 480, 14)
    assert row["reason"] == queue.REPLACED
    [before] = await queue.versions(world.archive, row["id"])
    assert (before["kind"], before["telegram_id"], before["size"]) == ("photo", queued["telegram_id"], len(first))
    assert (await world.archive.message(news.marked_id, message.id))["media_kind"] == "video"


async def test_a_file_replaced_by_an_edit_during_the_download_is_stored_whole_instead(world):
    fake = world.fake
    news = fake.add_channel(username="kyiv_news", title="Київ новини", joined=True)
    message = fake.post(news, CAPTION, media=fake.document(os.urandom(5 * SMALL_CHUNK), video=True, duration=20,
                                                           w=640, h=360))
    await world.archive_posts(news, message)
    replacement = os.urandom(2 * SMALL_CHUNK + 99)
    scan = fake.document(replacement, file_name="Наказ.pdf")

    def edit_mid_download():
        replace_file(fake, news, message, scan)
        # the old file is no longer served: the reference the download holds stops working
        fake.fail("GetFileRequest", "FILE_REFERENCE_EXPIRED")

    source = Interrupted(world.client, edit_mid_download)
    async with world.running(world.workers(source)):
        await world.settled()

    row = await world.media(news, message)
    assert source.fired == 1
    assert row["status"] == "done", row
    assert (row["kind"], row["telegram_id"], row["file_name"]) == ("document", scan.id, "Наказ.pdf")
    assert world.stored_bytes(row) == replacement and row["size"] == len(replacement)
    assert row["reason"] == queue.REPLACED and row["attempts"] == 1
    assert [v["kind"] for v in await queue.versions(world.archive, row["id"])] == ["video"]
    # the half of the old video was discarded, not stored
    assert world.store.partials() == [] and len(world.files()) == 1


async def test_the_media_task_outlives_a_failing_archive_and_catches_up_when_it_recovers(world, caplog):
    fake = world.fake
    news = fake.add_channel(username="kyiv_news", title="Київ новини", joined=True)
    data = os.urandom(30_000)
    message = fake.post(news, CAPTION, media=fake.photo(data))
    await world.archive_posts(news, message)
    # two writes: the outcome, then the attempt that records why the outcome was not recorded
    trouble = {"reads": 2, "writes": 2}
    rows, transaction = world.archive.rows, world.archive.transaction

    async def flaky_rows(sql, *args):
        if trouble["reads"] and "m.status = 'pending'" in sql:  # the dispatcher's look at the queue
            trouble["reads"] -= 1
            raise OperationalError(sql, args, Exception("database is locked"))
        return await rows(sql, *args)

    def flaky_transaction():
        if trouble["writes"]:
            trouble["writes"] -= 1
            raise OperationalError("COMMIT", None, Exception("disk I/O error"))
        return transaction()

    caplog.set_level(logging.INFO, logger="dozor.media")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(world.archive, "rows", flaky_rows)
        patch.setattr(world.archive, "transaction", flaky_transaction)
        async with world.running(world.workers(unexpected_wait=0.05)) as task:
            async def stored():
                assert not task.done(), "the media task ended"
                return (await world.media(news, message))["status"] == "done"
            await eventually(stored, "the file to be stored once the archive works again")
            assert not task.done()

    assert trouble == {"reads": 0, "writes": 0}
    assert "media queue could not be read" in caplog.text and "could not record the outcome" in caplog.text
    assert world.stored_bytes(await world.media(news, message)) == data


async def test_albums_known_complete_are_remembered_only_up_to_a_limit(world):
    fake = world.fake
    news = fake.add_channel(username="kyiv_news", title="Київ новини", joined=True)
    albums = []
    for grouped_id in (501, 502, 503):
        lead = fake.post(news, "", media=fake.photo(os.urandom(5_000)), grouped_id=grouped_id)
        last = fake.post(news, CAPTION, media=fake.photo(os.urandom(5_000)), grouped_id=grouped_id)
        albums.append((lead, last))
    await world.archive_posts(news, *(last for _, last in albums))

    pool = world.workers(albums_remembered=2)
    async with world.running(pool):
        await eventually(lambda: _len_is(world.archive.message_ids(news.marked_id), 6), "every album whole")
        await world.settled()

    assert len(pool._albums_done) == 2
    for lead, last in albums:
        assert (await world.media(news, lead))["status"] == (await world.media(news, last))["status"] == "done"


async def test_a_flood_wait_on_downloads_is_waited_out_without_costing_an_attempt(world):
    fake = world.fake
    news = fake.add_channel(username="kyiv_news", title="Київ новини", joined=True)
    data = os.urandom(20_000)
    message = fake.post(news, CAPTION, media=fake.photo(data))
    await world.archive_posts(news, message)
    fake.flood_wait("GetFileRequest", seconds=1)

    async with world.running():
        await world.settled()

    row = await world.media(news, message)
    assert row["status"] == "done" and row["attempts"] == 1 and world.stored_bytes(row) == data
    assert world.client.budget.floods["download"].seconds == 1  # the request budget held downloads


def test_the_media_stage_leaves_telethon_to_bot_telegram():
    root = Path(__file__).resolve().parent.parent / "bot"
    modules = [*(root / "media").glob("*.py"), root / "archive" / "media.py", root / "commands" / "media.py"]
    for module in modules:
        tree = ast.parse(module.read_text(encoding="utf-8"))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not {name for name in imported if name.split(".")[0] == "telethon"}, module
        assert "bot.telegram.convert" not in imported, module


@pytest.mark.both_backends
async def test_media_queued_before_a_restart_is_fetched_on_the_first_attempt(fake, settings, run_service, tmp_path):
    news = fake.add_channel(username="kyiv_news", title="Київ новини", joined=True)
    data = os.urandom(3 * SMALL_CHUNK)
    photo = fake.post(news, CAPTION, media=fake.photo(data))
    # an earlier run archived the post and queued its photo; this session has never seen the chat
    earlier = replace(settings, storage=tmp_path / "earlier")
    earlier.storage.mkdir()
    fake.authorise_session(str(earlier.session_path))
    client = await open_authorised(earlier, connection=fake.connection)
    archive = await Archive.open(settings.archive_location)
    try:
        await World(fake, earlier, client, archive).archive_posts(news, photo)
    finally:
        await client.disconnect()
        await archive.close()

    async with run_service(chats=("@kyiv_news",)) as running:
        async def fetched():
            row = await queue.file_of(running.service.archive, news.marked_id, photo.id)
            return row["status"] != "pending" or row["attempts"] > 0
        await eventually(fetched, "the queued photo to be attempted")
        row = await queue.file_of(running.service.archive, news.marked_id, photo.id)
    assert row["status"] == "done" and row["attempts"] <= 1 and row["reason"] is None
