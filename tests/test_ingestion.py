"""The service end to end: live and catch-up ingestion through the offline Telegram into a
real archive (SQLite, and PostgreSQL for the tests marked both_backends)."""
from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from bot.archive import Archive, DatabaseError
from bot.backoff import Backoff
from tests.conftest import archive_of, eventually

MATCHING = "Біля метро Лівобережна ТЦК роздають повістки і пакують чоловіків у бус"
OTHER = "Сьогодні в Києві сонячно, до вечора +12, без опадів"


@pytest.mark.both_backends
async def test_matching_post_is_archived_with_its_match_and_others_are_not(fake, run_service):
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    elsewhere = fake.add_channel(username="not_watched", title="Not watched")
    async with run_service(chats=("@kyiv_news",)) as running:
        await running.settled()
        ignored = fake.post(elsewhere, MATCHING)
        hit = fake.post(news, MATCHING)
        miss = fake.post(news, OTHER)
        archive = running.service.archive
        # the checkpoint passing the last post means every one of them was handled
        await eventually(lambda: running.service.coverage.checkpoint(news.marked_id) == miss.id,
                         "both posts to be handled")
        stored = await archive.message(news.marked_id, hit.id)
        assert stored["text"] == MATCHING
        assert "enlistment_centre" in {m["topic"] for m in stored["matches"]}
        span = stored["matches"][0]
        assert MATCHING[span["start"]:span["end"]].strip()
        assert await archive.message(news.marked_id, miss.id) is None
        assert await archive.rows("SELECT 1 FROM messages WHERE chat_id = :id", {"id": elsewhere.marked_id}) == []
        assert elsewhere.marked_id not in running.service.coverage.chats
    assert fake.joined(news)


@pytest.mark.both_backends
async def test_chat_that_keeps_everything_archives_non_matching_posts(fake, run_service):
    city = fake.add_channel(username="lviv_city_chat", title="Львів чат", megagroup=True)
    async with run_service(chats=("t.me/lviv_city_chat",), keep_all_chats=("t.me/lviv_city_chat",)) as running:
        await running.settled()
        plain = fake.post(city, OTHER)
        await eventually(lambda: running.service.archive.message(city.marked_id, plain.id), "the plain post")
        stored = await running.service.archive.message(city.marked_id, plain.id)
        assert stored["matched"] == 0 and stored["matches"] == []


@pytest.mark.both_backends
async def test_edit_keeps_the_earlier_text_and_deletion_only_marks(fake, run_service):
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    async with run_service(chats=("@kyiv_news",)) as running:
        await running.settled()
        archive = running.service.archive
        post = fake.post(news, MATCHING)
        await eventually(lambda: archive.message(news.marked_id, post.id), "the post")
        fake.edit(news, post.id, MATCHING + " (оновлено: вже відпустили)")

        async def edited():
            stored = await archive.message(news.marked_id, post.id)
            return stored["versions"]

        await eventually(edited, "the edit to become a version")
        stored = await archive.message(news.marked_id, post.id)
        assert stored["text"].endswith("(оновлено: вже відпустили)")
        assert [v["text"] for v in stored["versions"]] == [MATCHING]

        fake.delete(news, [post.id])

        async def deleted():
            return (await archive.message(news.marked_id, post.id))["deleted_at"]

        await eventually(deleted, "the deletion mark")
        stored = await archive.message(news.marked_id, post.id)
        assert stored["text"].endswith("(оновлено: вже відпустили)")  # kept, not erased


def publish(fake, chat, count: int, deliver: bool = True) -> set[int]:
    """Post `count` messages, every third matching; returns the ids of the matching ones."""
    expected = set()
    for n in range(count):
        if n % 3 == 0:
            expected.add(fake.post(chat, f"{MATCHING} #{n}", deliver=deliver).id)
        else:
            fake.post(chat, f"{OTHER} #{n}", deliver=deliver)
    return expected


async def assert_archived_once(fake, settings, chat, expected: set[int]) -> None:
    async with archive_of(settings) as archive:
        ids = await archive.message_ids(chat.marked_id)
        assert sorted(ids) == sorted(expected)
        copies = await archive.scalar("SELECT COUNT(*) FROM messages WHERE chat_id = :id", {"id": chat.marked_id})
        assert copies == len(expected)
        checkpoint = await archive.scalar("SELECT checkpoint FROM chats WHERE id = :id", {"id": chat.marked_id})
        assert checkpoint == max(m.id for m in fake.messages(chat))


@pytest.mark.both_backends
async def test_posts_published_while_stopped_are_archived_once_on_restart(fake, run_service, settings):
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    before = publish(fake, news, 5)
    async with run_service(chats=("@kyiv_news",)) as running:
        await running.settled()
    missed = publish(fake, news, 250)  # nobody connected: more than two history pages
    async with run_service(chats=("@kyiv_news",)) as running:
        await running.settled()
    await assert_archived_once(fake, settings, news, before | missed)


@pytest.mark.both_backends
async def test_pts_gap_while_running_is_filled(fake, run_service, settings):
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    async with run_service(chats=("@kyiv_news",)) as running:
        await running.settled()
        withheld = publish(fake, news, 30, deliver=False)
        last = fake.post(news, MATCHING + " останнє")
        expected = withheld | {last.id}
        await eventually(lambda: _has(running, news, expected), "the withheld posts")
        await running.settled()
    await assert_archived_once(fake, settings, news, expected)


@pytest.mark.both_backends
async def test_channel_difference_too_long_loses_nothing(fake, run_service, settings):
    # Telethon meets the too-long difference and drops what it skipped, the post that revealed
    # the gap included; the chat's own poll finds them from its pts and reads the history
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    async with run_service(chats=("@kyiv_news",), catchup_interval=1) as running:
        await running.settled()
        fake.difference_too_long(news)
        withheld = publish(fake, news, 250, deliver=False)
        last = fake.post(news, MATCHING + " останнє")
        expected = withheld | {last.id}
        await eventually(lambda: _has(running, news, expected), "the posts Telegram never pushed")
        await running.settled()
    assert "GetChannelDifferenceRequest" in fake.requests
    await assert_archived_once(fake, settings, news, expected)


@pytest.mark.both_backends
async def test_dropped_connection_loses_nothing(fake, run_service, settings):
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    async with run_service(chats=("@kyiv_news",)) as running:
        await running.settled()
        fake.drop_connections()
        during = publish(fake, news, 120, deliver=False)
        await eventually(lambda: _has(running, news, during), "the posts made while disconnected")
        after = fake.post(news, MATCHING + " після")
        expected = during | {after.id}
        await eventually(lambda: _has(running, news, expected), "a live post after the reconnect")
        await running.settled()
    await assert_archived_once(fake, settings, news, expected)


async def test_flood_wait_during_catch_up_delays_then_completes(fake, run_service, settings):
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    expected = publish(fake, news, 150)
    fake.flood_wait("GetHistoryRequest", seconds=1, times=1)
    async with run_service(chats=("@kyiv_news",)) as running:
        await running.settled()
    assert fake.requests.count("GetHistoryRequest") >= 3  # the refused one, then the pages
    await assert_archived_once(fake, settings, news, expected)


async def impatient(archive: Archive) -> None:
    """The SQLite archive gives up on a lock at once, for tests where another process holds it."""
    async with archive.transaction() as db:
        await db.execute("PRAGMA busy_timeout=50")


async def _has(running, chat, expected: set[int]) -> bool:
    return expected <= set(await running.service.archive.message_ids(chat.marked_id))


async def test_flood_wait_is_logged_for_the_operator(fake, run_service, caplog):
    from bot import logs

    logs.setup("INFO")
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    publish(fake, news, 3)
    fake.flood_wait("GetHistoryRequest", seconds=1, times=1)
    with caplog.at_level("INFO"):
        async with run_service(chats=("@kyiv_news",)) as running:
            await running.settled()
    assert any("flood wait" in r.getMessage() for r in caplog.records if r.name == "dozor.telegram")


async def test_quiet_chat_is_re_read_on_the_timer(fake, run_service, settings):
    # updates that Telegram never pushes, and no later live message to reveal the gap
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    async with run_service(chats=("@kyiv_news",), catchup_interval=0.3) as running:
        await running.settled()
        withheld = publish(fake, news, 4, deliver=False)
        await eventually(lambda: _has(running, news, withheld), "the quiet-chat timer to read history")
    await assert_archived_once(fake, settings, news, withheld)


async def test_a_matching_album_is_archived_with_every_file(fake, run_service, settings):
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    photo, video = b"\xff\xd8photo" * 5000, b"\x00\x00\x00\x18ftypmp4" * 9000
    async with run_service(chats=("@kyiv_news",)) as running:
        await running.settled()
        first = fake.post(news, "", media=fake.photo(photo), grouped_id=42)
        caption = fake.post(news, MATCHING, media=fake.document(video, video=True, duration=12, w=640, h=360),
                            grouped_id=42)
        archive = running.service.archive

        async def stored() -> bool:
            rows = await archive.rows("SELECT status FROM media")
            return len(rows) == 2 and all(r.status == "done" for r in rows)

        await eventually(stored, "both album files to be downloaded")
        assert await archive.message_ids(news.marked_id) == [first.id, caption.id]
        files = {p.read_bytes() for p in (settings.storage / "media").rglob("*") if p.is_file()}
        assert files == {photo, video}


async def test_city_chat_message_keeps_author_reply_forward_and_counts(fake, run_service):
    city = fake.add_channel(username="obolon_chat", title="Оболонь чат", megagroup=True)
    source = fake.add_channel(username="kyiv_news", title="Київ новини")
    neighbour = fake.add_user("Оксана", username="oksana_obolon")
    async with run_service(chats=("@obolon_chat",)) as running:
        await running.settled()
        asked = fake.post(city, "хто знає що на Героїв Дніпра?", from_user=neighbour)
        answer = fake.post(city, MATCHING, from_user=neighbour, reply_to=asked.id, fwd_from_channel=source,
                           views=321, forwards=7)
        archive = running.service.archive
        await eventually(lambda: archive.message(city.marked_id, answer.id), "the forwarded answer")
        stored = await archive.message(city.marked_id, answer.id)
    assert stored["author_id"] == neighbour.id and stored["author_name"] == "Оксана"
    assert stored["reply_to"] == asked.id
    assert stored["forward_from"] == "Київ новини"
    assert (stored["views"], stored["forwards"]) == (321, 7)
    assert stored["language"] == "uk"


async def test_a_chat_read_recently_is_not_polled_until_it_goes_quiet(fake, run_service):
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    async with run_service(chats=("@kyiv_news",), catchup_interval=300) as running:
        await running.settled()
        catchup, coverage = running.service.catchup, running.service.coverage
        now = asyncio.get_running_loop().time()
        assert catchup.due(now) == []
        assert catchup.due(now + 301) == [news.marked_id]
        moment = datetime.now(timezone.utc)
        assert coverage.covered(moment - timedelta(seconds=1))
        assert not coverage.covered(moment + timedelta(seconds=1))


async def test_a_locked_archive_loses_nothing_and_the_page_is_read_again(tmp_path):
    """Another process holding the write lock makes the page fail; the checkpoint must stay
    where it was so that the same messages are read again, not skipped."""
    import sqlite3

    from bot.coverage import Coverage
    from bot.ingest import Ingestor
    from bot.model import Chat, Post
    from bot.rules_reload import RulesHolder
    from bot.telegram.history import Page
    from tests.conftest import EXAMPLE_KEYWORDS

    chat = Chat(id=-1001, title="Київ новини", username="kyiv_news")
    archive = await Archive.open(tmp_path / "archive.sqlite3")
    try:
        await archive.save_chat(chat, "@kyiv_news")
        await impatient(archive)
        ingestor = Ingestor(archive, RulesHolder.load(EXAMPLE_KEYWORDS), await Coverage.open(archive))
        await ingestor.watch(chat)
        now = datetime.now(timezone.utc)
        page = Page(posts=[Post(chat.id, n, now, f"{MATCHING} {n}") for n in (1, 2, 3)], last_id=3)
        other = sqlite3.connect(tmp_path / "archive.sqlite3")
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(DatabaseError, match="locked"):
            await ingestor.history_page(chat, page)
        other.rollback()
        other.close()
        assert await archive.checkpoint(chat.id) == 0 and ingestor.coverage.checkpoint(chat.id) == 0
        await ingestor.history_page(chat, page)
        assert await archive.message_ids(chat.id) == [1, 2, 3]
        assert await archive.checkpoint(chat.id) == 3
    finally:
        await archive.close()


@pytest.mark.both_backends
async def test_stopped_in_the_middle_of_a_catch_up_resumes_without_loss(fake, run_service, settings):
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    expected = publish(fake, news, 450)
    # the second page is held back by a flood wait, and the stop arrives while it waits
    # (the first GetHistory asks for the newest id, the second reads the first page)
    fake.flood_wait("GetHistoryRequest", seconds=3, after=2)
    async with run_service(chats=("@kyiv_news",)) as running:
        await eventually(lambda: running.service.coverage.checkpoint(news.marked_id) > 0,
                         "the first page")
    async with archive_of(settings) as archive:
        assert 0 < await archive.checkpoint(news.marked_id) < 450
    async with run_service(chats=("@kyiv_news",)) as running:
        await running.settled()
    await assert_archived_once(fake, settings, news, expected)


async def test_joins_in_a_city_chat_move_the_checkpoint_without_a_catch_up(fake, run_service):
    city = fake.add_channel(username="obolon_chat", title="Оболонь чат", megagroup=True)
    async with run_service(chats=("@obolon_chat",)) as running:
        await running.settled()
        reads = fake.requests.count("GetHistoryRequest")
        joined = fake.service(city)
        post = fake.post(city, MATCHING)
        ingestor = running.service.ingestor
        await eventually(lambda: ingestor.coverage.checkpoint(city.marked_id) == post.id, "the checkpoint to pass both")
        assert joined.id == post.id - 1
        assert await running.service.archive.message_ids(city.marked_id) == [post.id]
        assert fake.requests.count("GetHistoryRequest") == reads  # no gap was suspected


async def test_a_join_that_never_arrived_live_is_passed_by_the_catch_up(fake, run_service, settings):
    city = fake.add_channel(username="obolon_chat", title="Оболонь чат", megagroup=True)
    first = fake.post(city, MATCHING)
    fake.service(city)
    async with run_service(chats=("@obolon_chat",)) as running:
        await running.settled()
        joined_last = fake.service(city, deliver=False)
        running.service.catchup.request(city.marked_id)
        await eventually(lambda: running.service.coverage.checkpoint(city.marked_id) == joined_last.id,
                         "the checkpoint to reach the last service message")
    async with archive_of(settings) as archive:
        assert await archive.message_ids(city.marked_id) == [first.id]
        assert await archive.checkpoint(city.marked_id) == joined_last.id


async def test_a_live_message_after_a_gap_does_not_make_the_chat_look_complete(backend):
    """The digest freezes a period only once every chat is complete up to its end; a live
    message that reveals missing ones must not count as that."""
    from bot.coverage import Coverage
    from bot.ingest import Ingestor
    from bot.model import Chat, Post
    from bot.rules_reload import RulesHolder
    from tests.conftest import EXAMPLE_KEYWORDS

    chat = Chat(id=-1001700000001, title="Київ новини", username="kyiv_news")
    asked = []
    archive = await Archive.open(backend)
    try:
        await archive.save_chat(chat, "@kyiv_news")
        coverage = await Coverage.open(archive, on_gap=lambda chat_id, recheck=False: asked.append(chat_id))
        ingestor = Ingestor(archive, RulesHolder.load(EXAMPLE_KEYWORDS), coverage)
        await ingestor.watch(chat)
        read_at = datetime.now(timezone.utc)
        await coverage.caught_up(chat.id, read_at)
        await ingestor.live(Post(chat.id, 1, read_at, MATCHING))
        heard_before = coverage.complete_up_to(chat.id)
        assert heard_before > read_at and not asked and coverage.checkpoint(chat.id) == 1
        await ingestor.live(Post(chat.id, 5, read_at, MATCHING))  # 2, 3 and 4 never arrived
        assert asked == [chat.id]
        assert coverage.complete_up_to(chat.id) is None and coverage.checkpoint(chat.id) == 1
        assert not coverage.covered(heard_before)
        assert await archive.message_ids(chat.id) == [1, 5]
        # the gap is persisted: a restart still knows the chat is incomplete
        again = await Coverage.open(archive)
        await again.watch(chat.id)
        assert again.has_gap(chat.id) and again.checkpoint(chat.id) == 1
    finally:
        await archive.close()


async def test_a_new_chat_anchors_its_checkpoint_even_with_nothing_in_the_backfill_window(
        fake, run_service, settings):
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    long_ago = datetime.now(timezone.utc) - timedelta(days=3)
    old = [fake.post(news, MATCHING, date=long_ago) for _ in range(3)]
    async with run_service(chats=("@kyiv_news",), backfill_hours=24) as running:
        await running.settled()
        assert running.service.coverage.checkpoint(news.marked_id) == old[-1].id
        assert await running.service.archive.message_ids(news.marked_id) == []  # older than the window
    # posted while the service was down for longer than the backfill window
    late = fake.post(news, MATCHING + " пізно", date=long_ago + timedelta(hours=1))
    async with run_service(chats=("@kyiv_news",), backfill_hours=24) as running:
        await running.settled()
    async with archive_of(settings) as archive:
        assert late.id in await archive.message_ids(news.marked_id)


async def test_a_stop_is_obeyed_while_telegram_is_out_of_reach(settings, fake):
    from telethon.network.connection import ConnectionTcpFull

    from bot.service import Service

    class Unreachable(ConnectionTcpFull):
        async def _connect(self, timeout=None, ssl=None):
            raise ConnectionRefusedError("network is down")

    service = Service(replace(settings, chats=("@kyiv_news",)), client_options={"connection": Unreachable})
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    await eventually(lambda: settings.lock_path.exists(), "the service to start connecting")
    await asyncio.sleep(0)  # let it reach the retry loop
    stop.set()
    await asyncio.wait_for(task, 20)
    assert not service.ready.is_set()


async def test_a_message_that_cannot_be_stored_holds_the_checkpoint_until_it_is(backend):
    """A page that fails for a reason other than the archive is stored one by one; the read
    stops below the message that failed, so the next read retries it instead of passing it."""
    from bot.coverage import Coverage
    from bot.ingest import Held, Ingestor
    from bot.model import Chat, Post
    from bot.rules_reload import RulesHolder
    from bot.telegram.history import Page
    from tests.conftest import EXAMPLE_KEYWORDS

    chat = Chat(id=-1001700000001, title="Київ новини", username="kyiv_news")
    archive = await Archive.open(backend)
    try:
        await archive.save_chat(chat, "@kyiv_news")
        ingestor = Ingestor(archive, RulesHolder.load(EXAMPLE_KEYWORDS), await Coverage.open(archive))
        await ingestor.watch(chat)
        now = datetime.now(timezone.utc)
        unstorable = f"{MATCHING} \ud800"  # a lone surrogate: neither backend can encode it
        page = Page(posts=[Post(chat.id, 1, now, MATCHING), Post(chat.id, 2, now, unstorable),
                           Post(chat.id, 3, now, MATCHING)], last_id=3)
        with pytest.raises(Held):
            await ingestor.history_page(chat, page)
        assert await archive.message_ids(chat.id) == [1]
        assert await archive.checkpoint(chat.id) == 1 and ingestor.coverage.checkpoint(chat.id) == 1
        assert [f["message_id"] for f in await archive.failures("store")] == [2]
        # read again from the checkpoint, once the message can be stored
        again = Page(posts=[Post(chat.id, 2, now, MATCHING), Post(chat.id, 3, now, MATCHING)], last_id=3)
        await ingestor.history_page(chat, again)
        assert await archive.message_ids(chat.id) == [1, 2, 3]
        assert await archive.checkpoint(chat.id) == 3
    finally:
        await archive.close()


async def test_live_edits_and_deletions_are_written_when_a_failed_task_stops_the_service(
        fake, settings, monkeypatch):
    """The archive refuses the writes for a while; then a task fails and stops the service.
    The edit and the deletion Telegram sent meanwhile exist nowhere else: they must be written
    on the way out, not dropped with the queue."""
    import sqlite3

    from bot.service import Service
    from bot.telegram import live

    monkeypatch.setattr(live, "WRITE_RETRY", Backoff(first=600.0))  # only the shutdown can write them in time
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    post = fake.post(news, MATCHING)
    service = Service(replace(settings, chats=("@kyiv_news",)),
                      client_options={"connection": fake.connection}, history_wait=0)
    task = asyncio.create_task(service.run(asyncio.Event()))
    await eventually(lambda: service.ready.is_set() and service.archive.message(news.marked_id, post.id),
                     "the post to be archived")
    await eventually(lambda: service.plan.settled, "the channel joined: only then are its updates pushed")
    await impatient(service.archive)
    other = sqlite3.connect(settings.archive_path)
    other.execute("BEGIN IMMEDIATE")
    fake.edit(news, post.id, MATCHING + " (оновлено)")
    fake.delete(news, [post.id])
    await eventually(lambda: service.feed.refused and service.feed.queue.qsize() == 1,
                     "the edit to be refused and the deletion queued")
    other.rollback()
    other.close()

    def broken(*_):
        raise RuntimeError("a task failed")

    service.catchup.due = broken  # the poller's next look fails
    with pytest.raises(BaseExceptionGroup):
        await asyncio.wait_for(task, 30)
    async with archive_of(settings) as archive:
        stored = await archive.message(news.marked_id, post.id)
    assert stored["text"] == MATCHING + " (оновлено)" and [v["text"] for v in stored["versions"]] == [MATCHING]
    assert stored["deleted_at"]


async def test_a_refused_live_deletion_far_below_the_checkpoint_is_written_once_the_archive_works(
        fake, run_service, monkeypatch):
    import sqlite3

    from bot.telegram import live

    monkeypatch.setattr(live, "WRITE_RETRY", Backoff(first=0.05, cap=0.05))
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    old = fake.post(news, MATCHING)
    publish(fake, news, 80)  # the deletion lands far below the checkpoint
    async with run_service(chats=("@kyiv_news",)) as running:
        await running.settled()
        archive = running.service.archive
        await impatient(archive)
        other = sqlite3.connect(running.service.settings.archive_path)
        other.execute("BEGIN IMMEDIATE")
        fake.delete(news, [old.id])
        await eventually(lambda: running.service.feed.refused, "the deletion to be refused")
        other.rollback()
        other.close()

        async def marked():
            return (await archive.message(news.marked_id, old.id))["deleted_at"]

        await eventually(marked, "the deletion mark")
