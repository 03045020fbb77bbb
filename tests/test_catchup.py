"""Catch-up through the channel difference, coverage, and the live path under pressure: the
real service against the offline Telegram and a real SQLite archive."""
from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from bot.backoff import Backoff
from tests.conftest import archive_of, eventually
from tests.test_ingestion import MATCHING, OTHER, impatient


async def _message(archive, chat, message_id):
    return await archive.message(chat.marked_id, message_id)


async def test_a_big_channel_reaches_the_archive_through_its_difference(fake, run_service):
    """Telegram pushes nothing for large channels: new posts, edits and deletions arrive
    only because dozor polls the difference at the interval the server advises."""
    big = fake.add_channel(username="big_news", title="Великий канал", big=True, poll_timeout=1)
    async with run_service(chats=("@big_news",), catchup_interval=3600) as running:
        await running.settled()
        archive = running.service.archive
        first = fake.post(big, MATCHING)
        second = fake.post(big, MATCHING + " друге")
        await eventually(lambda: _message(archive, big, second.id), "the new posts")
        fake.edit(big, first.id, MATCHING + " (оновлено)")
        fake.delete(big, [second.id])

        async def changed():
            edited, gone = await _message(archive, big, first.id), await _message(archive, big, second.id)
            return edited["versions"] and gone["deleted_at"]

        await eventually(changed, "the edit and the deletion")
        assert running.service.coverage.pts(big.marked_id) == big.box.pts
    assert "GetChannelDifferenceRequest" in fake.requests
    assert fake.requests.count("GetHistoryRequest") <= 1  # no history polling for a joined channel


async def test_edits_and_deletions_far_below_the_checkpoint_made_while_down_are_found(
        fake, run_service, settings):
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    old = [fake.post(news, f"{MATCHING} #{n}") for n in range(5)]
    for n in range(200):
        fake.post(news, f"{OTHER} #{n}")
    async with run_service(chats=("@kyiv_news",)) as running:
        await running.settled()
    fake.edit(news, old[0].id, MATCHING + " (оновлено)", deliver=False)
    fake.delete(news, [old[1].id], deliver=False)
    async with run_service(chats=("@kyiv_news",)) as running:
        await running.settled()
        archive = running.service.archive
        assert (await _message(archive, news, old[0].id))["text"].endswith("(оновлено)")
        assert (await _message(archive, news, old[1].id))["deleted_at"]
        assert (await _message(archive, news, old[2].id))["deleted_at"] is None


async def test_a_message_missing_from_history_is_marked_only_once_telegram_confirms_it(
        fake, run_service, settings):
    """A chat that is not joined has no difference: its history is re-read, and a message
    missing there is asked for by id before it is marked deleted."""
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    kept, gone = fake.post(news, MATCHING), fake.post(news, MATCHING + " видалять")
    async with run_service(chats=("@kyiv_news",), join_channels=False) as running:
        await running.settled()
        fake.delete(news, [gone.id], deliver=False)
        running.service.catchup.request(news.marked_id, recheck=True)
        archive = running.service.archive
        await eventually(lambda: _message(archive, news, gone.id), "the message")

        async def marked():
            return (await _message(archive, news, gone.id))["deleted_at"]

        await eventually(marked, "the confirmed deletion")
        assert (await _message(archive, news, kept.id))["deleted_at"] is None
        assert [m["how"] for m in await archive.deletion_marks(news.marked_id, gone.id)] == ["absent"]
    assert "GetMessagesRequest" in fake.requests  # channels.getMessages confirmed it


async def test_a_message_seen_again_clears_an_inferred_mark_but_keeps_its_record(backend):
    from bot.archive import Archive
    from bot.model import Chat, MatchResult, Match, Post

    chat = Chat(id=-1001700000001, title="Київ новини", username="kyiv_news")
    archive = await Archive.open(backend)
    try:
        await archive.save_chat(chat)
        now = datetime.now(timezone.utc)
        hit = MatchResult((Match("enlistment_centre", "r", "ТЦК", 0, 3),))
        posts = [Post(chat.id, n, now, MATCHING) for n in (1, 2)]
        await archive.ingest(chat, [(p, hit) for p in posts])
        await archive.mark_deleted(chat.id, [1], now, how="absent")
        await archive.mark_deleted(chat.id, [2], now, how="telegram")
        await archive.ingest(chat, [(p, hit) for p in posts])  # both seen again in history
        assert (await archive.message(chat.id, 1))["deleted_at"] is None
        [record] = await archive.deletion_marks(chat.id, 1)
        assert record["how"] == "absent" and record["restored_at"]
        # Telegram's own word is final: a page read before the deletion cannot undo it
        assert (await archive.message(chat.id, 2))["deleted_at"]
    finally:
        await archive.close()


async def test_a_full_live_queue_drops_updates_and_re_reads_their_chat(fake, run_service, monkeypatch):
    import sqlite3

    from bot import catchup
    from bot.telegram import live

    monkeypatch.setattr(live, "QUEUE_LIMIT", 3)
    monkeypatch.setattr(live, "WRITE_RETRY", Backoff(first=0.05, cap=0.05))
    monkeypatch.setattr(catchup, "CHAT_RETRY", Backoff(first=0.1, cap=0.1))
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    async with run_service(chats=("@kyiv_news",)) as running:
        await running.settled()
        archive, feed = running.service.archive, running.service.feed
        await impatient(archive)
        other = sqlite3.connect(running.service.settings.archive_path)
        other.execute("BEGIN IMMEDIATE")  # the archive stalls: the feed cannot write
        tasks_before = len(asyncio.all_tasks())
        posted = [fake.post(news, f"{MATCHING} #{n}").id for n in range(40)]
        await eventually(lambda: feed.dropped >= 30, "updates to be dropped")
        # Telethon's task per update finished at once instead of waiting for room
        assert len(asyncio.all_tasks()) < tasks_before + 10
        assert feed.queue.qsize() <= 3
        other.rollback()
        other.close()

        async def everything():
            return set(posted) <= set(await archive.message_ids(news.marked_id))

        await eventually(everything, "every dropped post, re-read from Telegram")


async def test_matching_runs_off_the_event_loop_for_a_single_live_post(fake, run_service, monkeypatch):
    from bot import ingest

    threads = []
    real = ingest.match

    def recording(*args):
        threads.append(threading.get_ident())
        return real(*args)

    monkeypatch.setattr(ingest, "match", recording)
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    async with run_service(chats=("@kyiv_news",)) as running:
        await running.settled()
        post = fake.post(news, MATCHING)
        await eventually(lambda: running.service.archive.message(news.marked_id, post.id), "the live post")
    assert threads and threading.get_ident() not in threads


async def test_status_shows_each_chats_coverage_and_who_is_behind(fake, run_service, settings):
    from bot.commands import status
    from bot.coverage import Coverage

    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    city = fake.add_channel(username="obolon_chat", title="Оболонь чат", megagroup=True)
    fake.post(news, MATCHING)
    chats = ("@kyiv_news", "@obolon_chat")
    async with run_service(chats=chats) as running:
        await running.settled()
    watched = replace_chats(settings, chats)
    report = await status.collect(watched)
    assert report["coverage"].startswith("2/2 complete up to ")
    assert all(r["coverage"]["complete_up_to"] and not r["coverage"]["gap_open"] for r in report["chats"])
    async with archive_of(settings) as archive:  # a live message revealed missing ones
        coverage = await Coverage.open(archive)
        await coverage.watch(city.marked_id)
        await coverage.gap(city.marked_id)
    report = await status.collect(watched)
    assert report["coverage"].startswith("1/2 complete") and report["coverage"].endswith("behind: Оболонь чат")
    text = status.render(report)
    assert "OPEN since" in text and "coverage: 1/2 complete" in text


def replace_chats(settings, chats):
    from dataclasses import replace

    return replace(settings, chats=chats)


class ShiftedClock:
    """Real time, moved forward by the test: the digest's time comes without waiting for it."""

    def __init__(self):
        self.shift = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc) + self.shift


async def test_at_digest_time_500_chats_are_brought_up_to_the_period_end_and_the_digest_states_it(
        fake, settings):
    from zoneinfo import ZoneInfo

    from bot.service import Service

    kyiv = ZoneInfo("Europe/Kyiv")
    editors = fake.add_channel(username="editors", title="Редакція", joined=True)
    chats = [fake.add_channel(username=f"city_{n:03d}", title=f"Місто {n}", joined=True) for n in range(500)]
    due = (datetime.now(kyiv) + timedelta(hours=2)).replace(second=0, microsecond=0)
    clock = ShiftedClock()
    service = Service(replace(settings, chats=tuple(f"@city_{n:03d}" for n in range(500)), digest_chat="@editors",
                              digest_time=due.time(), digest_tz=kyiv),
                      client_options={"connection": fake.connection}, history_wait=0, clock=clock, digest_tick=0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        await eventually(lambda: service.ready.is_set() and service.catchup.idle, "500 chats to start", limit=180)
        heard = fake.post(chats[0], MATCHING + " (живе)")
        # Telegram never pushed these: only the service's own catch-up at DIGEST_TIME finds them
        unheard = [fake.post(chats[n], f"{MATCHING} (не надійшло {n})", deliver=False) for n in range(1, 500, 50)]
        await eventually(lambda: service.archive.message(chats[0].marked_id, heard.id), "the live post")
        clock.shift = due.astimezone(timezone.utc) - datetime.now(timezone.utc) + timedelta(seconds=1)
        # the foot closes the last part: the digest is complete once it is there
        await eventually(lambda: any("Прочитано до кінця періоду" in m.message for m in fake.sent(editors)),
                         "the whole digest", limit=120)
        text = "\n".join(m.message for m in fake.sent(editors))
        assert "(живе)" in text
        assert all(f"(не надійшло {n})" in text for n in range(1, 500, 50))
        assert "Прочитано до кінця періоду: 500 з 500 чатів" in text
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


async def test_300_chats_after_a_kill_are_caught_up_with_the_edits_and_deletions_made_while_down(
        fake, settings, monkeypatch):
    """Killed (nothing written on the way out), then while down: a post in every chat, edits
    and deletions 60 messages below the checkpoint in 80 chats, and one chat that never stops
    posting, also while the others are read."""
    from bot.service import Service

    chats = [fake.add_channel(username=f"city_{n:03d}", title=f"Місто {n}", joined=True) for n in range(300)]
    old = {}
    for n, chat in enumerate(chats[:80]):
        old[n] = fake.post(chat, f"{MATCHING} (старе {n})")
        for k in range(60):
            fake.post(chat, f"{OTHER} {k}")
    configured = replace(settings, chats=tuple(f"@city_{n:03d}" for n in range(300)))

    def service() -> Service:
        return Service(configured, client_options={"connection": fake.connection}, history_wait=0)

    killed = service()
    monkeypatch.setattr(killed, "_flush", _nothing)  # a kill writes nothing on the way out
    task = asyncio.create_task(killed.run(asyncio.Event()))
    await eventually(lambda: killed.ready.is_set() and killed.catchup.idle
                     and all(killed.coverage.pts(c.marked_id) for c in chats), "the first catch-up", limit=180)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    busy = chats[-1]
    posting = asyncio.Event()
    busy_posts: list[int] = []

    async def keep_posting():
        while not posting.is_set():
            busy_posts.append(fake.post(busy, f"{MATCHING} (безперервно {len(busy_posts)})").id)
            await asyncio.sleep(0.02)

    poster = asyncio.create_task(keep_posting())
    new = {n: fake.post(chat, f"{MATCHING} (поки лежав {n})").id for n, chat in enumerate(chats)}
    for n in range(0, 80, 2):
        fake.edit(chats[n], old[n].id, f"{MATCHING} (змінено {n})")
    for n in range(1, 80, 2):
        fake.delete(chats[n], [old[n].id])
    await asyncio.sleep(0.5)  # the busy chat keeps going across the restart

    again = service()
    stop = asyncio.Event()
    task = asyncio.create_task(again.run(stop))
    try:
        await eventually(lambda: again.ready.is_set(), "the restart", limit=120)
        archive = again.archive

        async def everything_new():
            for n, chat in enumerate(chats):
                if new[n] not in await archive.message_ids(chat.marked_id):
                    return False
            return True

        await eventually(everything_new, "the post made in every chat while down", limit=120)
        posting.set()
        await poster
        last_busy = busy_posts[-1]
        await eventually(lambda: _has_id(archive, busy, last_busy), "the busy chat's last post", limit=60)
        for n in range(0, 80, 2):
            assert (await _message(archive, chats[n], old[n].id))["text"] == f"{MATCHING} (змінено {n})"
        for n in range(1, 80, 2):
            assert (await _message(archive, chats[n], old[n].id))["deleted_at"]
        assert set(busy_posts) <= set(await archive.message_ids(busy.marked_id))
    finally:
        posting.set()
        stop.set()
        await asyncio.wait_for(task, 60)


async def _nothing() -> None:
    return None


async def _has_id(archive, chat, message_id) -> bool:
    return message_id in await archive.message_ids(chat.marked_id)
