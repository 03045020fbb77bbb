"""The persistent media queue on a real archive (SQLite and PostgreSQL): what is due, back-off, restarts."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.archive import Archive
from bot.archive import media as queue
from bot.model import Chat, Match, MatchResult, MediaRef, Post

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
KYIV = Chat(id=-1001234, title="Київ новини", username="kyiv_news")
LVIV = Chat(id=-1005678, title="Львів", username="lviv_news")
HIT = MatchResult(matches=(Match("enlistment_centre", "tck", "ТЦК", 0, 3),), language="uk")
PHOTO = MediaRef(kind="photo", telegram_id=777, mime_type="image/jpeg", size=120_000, width=1280, height=960)
VIDEO = MediaRef(kind="video", telegram_id=888, mime_type="video/mp4", size=9_000_000, file_name="bus.mp4",
                 width=1920, height=1080, duration=31.0)


def post(chat: Chat, message_id: int, media: MediaRef | None = PHOTO) -> Post:
    return Post(chat_id=chat.id, message_id=message_id, date=T0 + timedelta(minutes=message_id),
                text="ТЦК біля метро", media=media)


@pytest.fixture
async def archive(archive):
    """The shared archive fixture (each backend), with the two chats saved."""
    for chat in (KYIV, LVIV):
        await archive.save_chat(chat)
    return archive


async def test_archived_media_waits_in_the_queue_with_what_telegram_said_about_it(archive):
    await archive.ingest(KYIV, [(post(KYIV, 1, VIDEO), HIT), (post(KYIV, 2, None), HIT)])
    [item] = await queue.due(archive, queue.utcnow(), limit=10)
    assert (item.chat_id, item.message_id, item.kind, item.size, item.file_name) == (KYIV.id, 1, "video", 9_000_000,
                                                                                       "bus.mp4")
    row = await queue.file_of(archive, KYIV.id, 1)
    assert (row["width"], row["height"], row["duration"], row["mime_type"]) == (1920, 1080, 31.0, "video/mp4")
    assert await queue.due(archive, queue.utcnow(), limit=10, exclude={item.id}) == []


async def test_failed_attempts_wait_longer_each_time_then_fail_with_their_reason(archive):
    await archive.ingest(KYIV, [(post(KYIV, 1), HIT)])
    [item] = await queue.due(archive, T0, limit=1)
    now = T0
    waits = []
    for attempt in range(1, queue.MAX_ATTEMPTS):
        assert await queue.mark_retry(archive, item.id, "TimeoutError", now) == "pending"
        row = await queue.file_of(archive, KYIV.id, 1)
        due_at = row["next_attempt_at"]
        waits.append(due_at - now)
        assert row["attempts"] == attempt
        assert await queue.due(archive, due_at - timedelta(seconds=1), limit=1) == []
        assert [i.id for i in await queue.due(archive, due_at, limit=1)] == [item.id]
        now = due_at
    assert waits == sorted(waits) and waits[0] == timedelta(seconds=30) and waits[-1] > waits[0] * 8
    assert await queue.mark_retry(archive, item.id, "TimeoutError", now) == "failed"
    row = await queue.file_of(archive, KYIV.id, 1)
    assert row["status"] == "failed" and row["reason"] == "TimeoutError (gave up after 8 attempts)"
    assert await queue.due(archive, now + timedelta(days=30), limit=1) == []
    assert await queue.reasons(archive, "failed") == [("TimeoutError (gave up after 8 attempts)", 1)]


async def test_retry_puts_failed_items_back_due_now_with_fresh_attempts(archive):
    await archive.ingest(KYIV, [(post(KYIV, 1), HIT), (post(KYIV, 2, VIDEO), HIT)])
    first, second = await queue.due(archive, T0, limit=2)
    await queue.mark_failed(archive, first.id, "message deleted on Telegram before its media was saved")
    await queue.mark_skipped(archive, second.id, "type video is switched off")
    assert await queue.retry_failed(archive) == 1
    assert [i.id for i in await queue.due(archive, queue.utcnow(), limit=5)] == [first.id]
    assert (await queue.file_of(archive, KYIV.id, 1))["attempts"] == 0
    assert await queue.retry_failed(archive, include_skipped=True) == 1
    assert len(await queue.due(archive, queue.utcnow(), limit=5)) == 2


async def test_a_postponed_item_keeps_its_attempts(archive):
    await archive.ingest(KYIV, [(post(KYIV, 1), HIT)])
    [item] = await queue.due(archive, T0, limit=1)
    later = queue.utcnow() + timedelta(minutes=1)
    await queue.postpone(archive, item.id, queue.PAUSED + "disk full", later)
    assert await queue.due(archive, queue.utcnow(), limit=1) == []
    counts = await queue.counts(archive)
    assert counts["pending"] == 1 and counts["paused"] == 1 and counts["pause_reason"] == "paused: disk full"
    assert (await queue.file_of(archive, KYIV.id, 1))["attempts"] == 0
    assert [i.id for i in await queue.due(archive, later + timedelta(seconds=1), limit=1)] == [item.id]


async def test_the_same_bytes_in_two_chats_are_one_file_linked_twice(archive):
    await archive.ingest(KYIV, [(post(KYIV, 1), HIT)])
    await archive.ingest(LVIV, [(post(LVIV, 9), HIT)])
    kyiv, lviv = await queue.due(archive, T0, limit=2)
    assert await queue.stored_copy(archive, PHOTO.telegram_id, "photo", PHOTO.size) is None
    await queue.mark_done(archive, kyiv.id, "ab" * 32, "media/ab/ab/x.jpg", 120_000)
    assert await queue.stored_copy(archive, PHOTO.telegram_id, "photo", PHOTO.size) == ("ab" * 32, "media/ab/ab/x.jpg")
    assert await queue.stored_copy(archive, PHOTO.telegram_id, "video", PHOTO.size) is None
    await queue.mark_done(archive, lviv.id, "ab" * 32, "media/ab/ab/x.jpg", 120_000)
    assert await archive.scalar("SELECT COUNT(*) FROM media_files") == 1
    assert await archive.scalar("SELECT COUNT(*) FROM media WHERE sha256 = :sha256", {"sha256": "ab" * 32}) == 2
    counts = await queue.counts(archive)
    assert (counts["done"], counts["files"], counts["bytes"]) == (2, 1, 120_000)


async def test_pending_items_survive_a_restart(backend):
    archive = await Archive.open(backend)
    await archive.save_chat(KYIV)
    await archive.ingest(KYIV, [(post(KYIV, 1), HIT), (post(KYIV, 2, VIDEO), HIT)])
    [first, _] = await queue.due(archive, T0, limit=2)
    await queue.mark_retry(archive, first.id, "ConnectionError", queue.utcnow())
    await archive.close()

    archive = await Archive.open(backend)
    try:
        assert [i.message_id for i in await queue.due(archive, queue.utcnow(), limit=5)] == [2]
        later = queue.utcnow() + timedelta(minutes=5)
        assert [i.message_id for i in await queue.due(archive, later, limit=5)] == [2, 1]
    finally:
        await archive.close()
