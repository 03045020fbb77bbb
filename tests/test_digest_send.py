"""The digest reaching the editors' chat through the offline Telegram: on time, whole, once."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from dataclasses import replace
from datetime import datetime, time, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from telethon.tl import types

from bot.archive import Archive, iso
from bot.archive.digests import digest_status, schedule_since, stored_parts
from bot.commands import status as status_command
from bot.config import Settings
from bot.digest.sender import REJECTIONS, owed, run_digests
from bot.model import Chat
from bot.telegram import publish
from bot.telegram.client import open_authorised
from tests.conftest import UNPACED, eventually
from tests.telegram_fake import FakeTelegram
from tests.test_digest_compose import CITY, KYIV, NEWS, PRIVATE, entity_texts, kyiv, matched, post

UTC = timezone.utc
NINE = time(9, 0)
TITLES = {"szch": "СЗЧ", "busification": "Бусифікація", "tcc": "ТЦК"}
FAST = (0.05, 0.1, 0.2)  # retry delays: the test waits for conditions, never for fixed times


class Clock:
    """The scheduler's notion of now, moved by the test (time.time itself stays real)."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now


class World:
    """An offline Telegram with the editors' channel, a signed-in account and a seeded archive."""

    def __init__(self, tmp_path: Path, location: Path | str):
        self.telegram = FakeTelegram()
        self.storage = tmp_path / "storage"
        self.storage.mkdir()
        self.telegram.authorise_session(str(self.storage / "dozor.session"))
        self.editors = self.telegram.add_channel(username="editors", title="Редакція", joined=True)
        self.settings = Settings(api_id=FakeTelegram.API_ID, api_hash=FakeTelegram.API_HASH, storage=self.storage,
                                 digest_chat="@editors", digest_time=NINE, digest_tz=KYIV,
                                 database_url=location if isinstance(location, str) else None, **UNPACED)
        self.archive: Archive | None = None
        self.client = None
        self.task: asyncio.Task | None = None

    def use_bot(self, member: bool = True) -> None:
        self.settings = replace(self.settings, digest_bot_token=self.telegram.BOT_TOKEN)
        self.telegram.unauthorised_session(str(self.storage / publish.BOT_SESSION))  # the bot signs in itself
        if member:
            self.editors.members.add(self.telegram.bot.id)

    async def open(self) -> None:
        self.archive = await Archive.open(self.settings.archive_location)
        for chat in (NEWS, CITY, PRIVATE):
            await self.archive.save_chat(chat)

    def start(self, clock: Clock, retry_delays=FAST, *, ready=None, grace: float = 1800, **changes) -> asyncio.Task:
        self.settings = replace(self.settings, **changes)

        async def scheduler():
            if not self.settings.digest_bot_token and self.client is None:
                self.client = await open_authorised(self.settings, connection=self.telegram.connection)
            await run_digests(self.settings, self.archive, self.client, now=clock, tick=0.02,
                              retry_delays=retry_delays, titles=TITLES, ready=ready, grace=grace,
                              client_options={"connection": self.telegram.connection})

        self.task = asyncio.create_task(scheduler())
        return self.task

    async def crash(self) -> None:
        """Stop the scheduler the hard way and drop every connection, as a killed process would."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        if self.client is not None:
            await self.client.disconnect()
            self.client = None
        if self.archive is not None:
            await self.archive.close()
            self.archive = None

    def sent(self) -> list[types.Message]:
        return self.telegram.sent(self.editors)


@pytest.fixture
async def world(tmp_path, caplog, backend):
    """On each backend: the digest's bookkeeping (parts frozen, sent, refused) is the archive's."""
    caplog.set_level(logging.DEBUG, logger="dozor.digest")  # the scheduler's rounds, for looked_at
    world = World(tmp_path, backend)
    await world.open()
    yield world
    await world.crash()
    assert not world.telegram.unsupported
    assert not world.telegram.errors


async def looked_at(caplog, moment: datetime) -> None:
    """Wait until the scheduler has begun and finished a whole round, with its clock at `moment`,
    since this call: the second round logged from now on began after it."""
    stamp = iso(moment)
    before = len(caplog.records)

    def rounds():
        return sum(r.name == "dozor.digest" and r.msg.startswith("digest: looked at") and r.args[0] == stamp
                   for r in caplog.records[before:])

    await eventually(lambda: rounds() >= 2, f"the scheduler to look at {stamp}")


async def recorded_as_sent(archive: Archive, key: str) -> None:
    """Telegram holds the last part a moment before the archive records the digest as sent."""
    async def recorded():
        last = (await digest_status(archive))["last_sent"]
        return last is not None and last["period"] == key

    await eventually(recorded, f"{key} to be recorded as sent")


async def status_of(archive: Archive, key: str) -> dict | None:
    status = await digest_status(archive)
    return next((d for d in status["pending"] + status["failed"] if d["period"] == key), None)


@contextlib.contextmanager
def writer_holding(location: Path | str):
    """Another process in the middle of a write to the digest's tables, until the block ends."""
    if isinstance(location, Path):
        blocker = sqlite3.connect(location, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
    else:
        blocker = psycopg.connect(location)  # a transaction begins with the first statement
        blocker.execute("LOCK TABLE digests, digest_parts IN EXCLUSIVE MODE")
    try:
        yield
    finally:
        blocker.rollback()
        blocker.close()


def sends(telegram: FakeTelegram) -> list:
    return [c for c in telegram.calls if c.name == "SendMessageRequest"]


async def seed_day(archive: Archive) -> None:
    tricky = "Пишуть: <b>не</b> панікуйте & чекайте — ТЦК на Оболоні зупиняють авто"
    await archive.ingest(NEWS, [(post(NEWS, 501, tricky, "2026-03-19T14:05", views=900), matched(tricky, tcc="ТЦК"))])
    quiet = "СЗЧ: з частини пішли двоє"
    await archive.ingest(PRIVATE, [(post(PRIVATE, 9, quiet, "2026-03-19T20:00"), matched(quiet, szch="СЗЧ"))])


async def seed_many(archive: Archive, count: int) -> None:
    chats = [Chat(id=-1001800000000 - n, title=f"Канал {n}", username=f"chan_{n:03d}") for n in range(10)]
    for chat in chats:
        await archive.save_chat(chat)
    start = kyiv("2026-03-19T09:10")
    for n in range(count):
        chat = chats[n % 10]
        text = f"Повідомлення {n}: бусифікація — " + "опис події " * 20 + "кінець"
        when = (start + timedelta(minutes=4 * n)).astimezone(KYIV).strftime("%Y-%m-%dT%H:%M")
        await archive.ingest(chat, [(post(chat, n + 1, text, when), matched(text, busification="бусифікація"))])


async def test_editors_receive_the_digest_at_digest_time(world, caplog):
    await seed_day(world.archive)
    clock = Clock(kyiv("2026-03-20T08:59"))
    world.start(clock)
    await looked_at(caplog, clock.now)
    since = await schedule_since(world.archive, clock.now)
    assert await owed(world.settings, world.archive, clock.now, since) == []
    assert world.sent() == []  # not yet nine
    clock.now = kyiv("2026-03-20T09:00")
    await eventually(lambda: world.sent(), "the digest to arrive")
    [message] = world.sent()
    text = message.message
    assert "Дайджест" in text and "19.03.2026 09:00 — 20.03.2026 09:00" in text
    assert "Пишуть: <b>не</b> панікуйте & чекайте — ТЦК на Оболоні" in text  # markup stays text
    assert "Київ новини" in text and "19.03 14:05" in text
    bold = entity_texts(text, message.entities, types.MessageEntityBold)
    assert "ТЦК" in bold and "не" not in bold
    links = [e.url for e in message.entities if isinstance(e, types.MessageEntityTextUrl)]
    assert "https://t.me/kyiv_news/501" in links and "https://t.me/c/1700000003/9" in links
    await recorded_as_sent(world.archive, "daily:2026-03-20")
    status = await digest_status(world.archive)
    assert status["last_sent"]["period"] == "daily:2026-03-20" and status["pending"] == []
    assert status["last_sent"]["sent_at"] == datetime(2026, 3, 20, 7, 0, tzinfo=UTC)
    # `dozor status` says when, in UTC text, whichever backend holds the archive
    report = await status_command.collect(world.settings)
    assert "digest: last sent daily:2026-03-20 at 2026-03-20T07:00:00+00:00" in status_command.render(report)
    assert report["digest"]["last_sent"]["sent_at"] == "2026-03-20T07:00:00+00:00"
    # a later look at the same day sends nothing more
    clock.now = kyiv("2026-03-20T15:00")
    await looked_at(caplog, clock.now)
    assert len(world.sent()) == 1


async def test_a_300_item_day_arrives_in_several_messages_through_the_bot(world):
    world.use_bot()
    await seed_many(world.archive, 300)
    await schedule_since(world.archive, kyiv("2026-03-19T10:00"))
    world.start(Clock(kyiv("2026-03-20T09:00:05")), digest_topic_cap=1000)
    parts = None

    async def all_sent():
        nonlocal parts
        parts = await stored_parts(world.archive, "daily:2026-03-20")
        return parts and len(world.sent()) == len(parts)

    await eventually(all_sent, "every part to arrive")
    messages = world.sent()
    assert len(messages) > 3
    seen = []
    for message in messages:
        assert len(message.message.encode("utf-16-le")) // 2 <= 4096
        assert message.message.count("▪️") == message.message.count("кінець")  # no item cut
        seen += [e.url for e in message.entities if isinstance(e, types.MessageEntityTextUrl)]
    assert len(seen) == 300 and len(set(seen)) == 300
    assert "SendMessageRequest" in world.telegram.requests


async def test_restart_after_a_crash_mid_digest_sends_only_the_remaining_parts(world):
    await seed_many(world.archive, 60)
    await schedule_since(world.archive, kyiv("2026-03-19T12:00"))
    world.telegram.fail("SendMessageRequest", "CHAT_WRITE_FORBIDDEN", after=1)
    clock = Clock(kyiv("2026-03-20T10:00"))
    world.start(clock, retry_delays=(3600,), digest_topic_cap=1000)

    async def refused():
        pending = (await digest_status(world.archive))["pending"]
        return pending and pending[0]["error"]  # composed comes first, the refusal a moment later

    await eventually(refused, "the refusal to be recorded")
    [pending] = (await digest_status(world.archive))["pending"]
    assert pending["parts_sent"] == 1 and pending["parts"] >= 3
    assert "may not post in @editors" in pending["error"] and "CHAT_WRITE_FORBIDDEN" in pending["error"]
    assert len(world.sent()) == 1
    [refused_part] = [c.request.random_id for c in sends(world.telegram) if isinstance(c.outcome, types.RpcError)]
    await world.crash()

    await world.open()
    world.start(clock)
    await eventually(lambda: len(world.sent()) == pending["parts"], "the remaining parts")
    await recorded_as_sent(world.archive, "daily:2026-03-20")
    status = await digest_status(world.archive)
    assert status["pending"] == [] and status["last_sent"]["parts"] == pending["parts"]
    texts = [m.message for m in world.sent()]
    assert len(texts) == len(set(texts)) == pending["parts"]
    assert [f"частина {n}/{pending['parts']}" in t for n, t in enumerate(texts, start=1)] == [True] * len(texts)
    # the refused part went again under the random_id it was frozen with
    parts = await stored_parts(world.archive, "daily:2026-03-20")
    assert parts[1]["random_id"] == refused_part
    ids = [p["random_id"] for p in parts]
    assert [c.request.random_id for c in sends(world.telegram)] == ids[:2] + ids[1:]
    assert [p["message_id"] for p in parts] == [m.id for m in world.sent()]


async def test_a_missed_schedule_is_sent_on_start(world):
    await seed_day(world.archive)
    await schedule_since(world.archive, kyiv("2026-03-19T10:00"))  # it ran yesterday, then stopped
    world.start(Clock(kyiv("2026-03-20T13:30")))

    async def recorded():
        return (await digest_status(world.archive))["last_sent"]

    await eventually(recorded, "the missed digest")
    [message] = world.sent()
    assert "19.03.2026 09:00 — 20.03.2026 09:00" in message.message
    assert (await digest_status(world.archive))["last_sent"]["period"] == "daily:2026-03-20"


async def test_a_bot_that_may_not_post_is_retried_and_the_reason_shown_until_it_may(world):
    world.use_bot(member=False)
    await seed_day(world.archive)
    await schedule_since(world.archive, kyiv("2026-03-19T10:00"))
    totals = await world.archive.totals()
    world.start(Clock(kyiv("2026-03-20T09:30")), retry_delays=(0.2,))

    async def reason():
        pending = (await digest_status(world.archive))["pending"]
        return pending and pending[0]["attempts"] >= 2 and pending[0]["error"]

    await eventually(reason, "the refusal to be shown")
    [pending] = (await digest_status(world.archive))["pending"]
    assert "the digest bot may not post in @editors" in pending["error"]
    assert world.sent() == []
    world.editors.members.add(world.telegram.bot.id)  # the editors made the bot an admin
    await eventually(lambda: world.sent(), "the digest once the bot may post")

    async def recorded():
        return (await digest_status(world.archive))["pending"] == []

    await eventually(recorded, "the digest to be recorded as sent")
    assert await world.archive.totals() == totals  # the archive never noticed
    assert await world.archive.failures() == []


async def test_a_flood_wait_delays_the_digest_without_losing_it(world):
    world.use_bot()
    await seed_day(world.archive)
    await schedule_since(world.archive, kyiv("2026-03-19T10:00"))
    world.telegram.flood_wait("SendMessageRequest", seconds=1)
    world.start(Clock(kyiv("2026-03-20T09:30")))

    async def recorded():
        return (await digest_status(world.archive))["last_sent"]

    await eventually(recorded, "the digest after the flood wait")
    assert len(world.sent()) == 1
    status = await digest_status(world.archive)
    assert status["last_sent"]["period"] == "daily:2026-03-20"


async def test_the_digest_waits_until_catch_up_has_read_to_the_end_of_its_period(world):
    await seed_day(world.archive)
    await schedule_since(world.archive, kyiv("2026-03-19T10:00"))
    asked: list[datetime] = []
    caught_up = False

    async def ready(moment: datetime) -> bool:
        asked.append(moment)
        return caught_up

    world.start(Clock(kyiv("2026-03-20T09:30")), ready=ready)  # started after an outage
    await eventually(lambda: len(asked) >= 2, "the scheduler to ask twice whether catch-up is done")
    assert set(asked) == {kyiv("2026-03-20T09:00")}
    assert await stored_parts(world.archive, "daily:2026-03-20") is None and world.sent() == []
    # catch-up reads what was posted during the outage
    late = "Біля ТЦК на Подолі черга з самого ранку"
    await world.archive.ingest(CITY, [(post(CITY, 77, late, "2026-03-20T08:40"), matched(late, tcc="ТЦК"))])
    caught_up = True
    await eventually(lambda: world.sent(), "the digest")
    [message] = world.sent()
    assert "Біля ТЦК на Подолі черга" in message.message and "Пишуть:" in message.message


async def test_a_chat_that_is_never_caught_up_delays_the_digest_only_for_the_grace(world, caplog):
    await seed_day(world.archive)
    await schedule_since(world.archive, kyiv("2026-03-19T10:00"))
    asked = 0

    async def never(moment: datetime) -> bool:
        nonlocal asked
        asked += 1
        return False

    world.start(Clock(kyiv("2026-03-20T09:30")), ready=never, grace=0.3)
    await eventually(lambda: world.sent(), "the digest after the grace")
    assert asked >= 2  # it did wait
    [warning] = [r for r in caplog.records if r.name == "dozor.digest" and r.levelno == logging.WARNING]
    assert "daily:2026-03-20" in warning.getMessage() and "catch-up" in warning.getMessage()
    assert (await digest_status(world.archive))["last_sent"]["period"] == "daily:2026-03-20"


async def test_a_part_telegram_already_holds_is_recorded_and_not_posted_again(world):
    await seed_day(world.archive)
    await schedule_since(world.archive, kyiv("2026-03-19T10:00"))
    # what Telegram answers to every repeat when the part was accepted before, and its answer was lost
    world.telegram.fail("SendMessageRequest", "RANDOM_ID_DUPLICATE", times=100)
    world.start(Clock(kyiv("2026-03-20T09:30")))

    async def recorded():
        return (await digest_status(world.archive))["last_sent"]

    await eventually(recorded, "the digest to count as sent")
    assert world.sent() == [] and sends(world.telegram)  # asked (Telethon repeats a 500), never re-posted
    [part] = await stored_parts(world.archive, "daily:2026-03-20")
    assert part["sent_at"] is not None and part["message_id"] is None


async def test_stopping_while_a_posted_part_is_being_recorded_still_records_it(world):
    await seed_many(world.archive, 60)
    await schedule_since(world.archive, kyiv("2026-03-19T12:00"))
    world.telegram.fail("SendMessageRequest", "PEER_FLOOD")  # a pause before part 1
    clock = Clock(kyiv("2026-03-20T10:00"))
    world.start(clock, digest_topic_cap=1000)

    async def waiting():
        pending = (await digest_status(world.archive))["pending"]
        return pending and pending[0]["attempts"] == 1

    await eventually(waiting, "the refusal to be recorded")
    # another writer holds the archive: the scheduler's record of part 1 has to wait for it
    with writer_holding(world.settings.archive_location):
        await eventually(lambda: world.sent(), "part 1 to be posted")
        world.task.cancel()  # the service shuts down right now
    with contextlib.suppress(asyncio.CancelledError):
        await world.task
    world.task = None
    parts = await stored_parts(world.archive, "daily:2026-03-20")
    assert parts[0]["sent_at"] is not None and parts[0]["message_id"] == world.sent()[0].id
    assert all(p["sent_at"] is None for p in parts[1:])

    await world.crash()
    await world.open()
    world.start(clock)
    await eventually(lambda: len(world.sent()) == len(parts), "the remaining parts")
    await recorded_as_sent(world.archive, "daily:2026-03-20")
    status = await digest_status(world.archive)
    assert status["pending"] == [] and status["last_sent"]["parts"] == len(parts)
    texts = [m.message for m in world.sent()]
    assert len(set(texts)) == len(texts) == len(parts)


async def test_a_digest_telegram_keeps_refusing_is_given_up_and_the_next_one_still_sent(world, caplog):
    await seed_day(world.archive)
    await schedule_since(world.archive, kyiv("2026-03-19T10:00"))
    world.telegram.fail("SendMessageRequest", "MESSAGE_TOO_LONG", times=REJECTIONS)
    clock = Clock(kyiv("2026-03-20T09:30"))
    world.start(clock)

    async def given_up():
        return (await digest_status(world.archive))["failed"]

    await eventually(given_up, "the digest to be given up")
    [failed] = (await digest_status(world.archive))["failed"]
    assert failed["period"] == "daily:2026-03-20" and failed["attempts"] == REJECTIONS
    assert "too long" in failed["error"] and "MESSAGE_TOO_LONG" in failed["error"]
    assert failed["failed_at"] and failed["parts_sent"] == 0
    await looked_at(caplog, clock.now)
    assert len(sends(world.telegram)) == REJECTIONS  # not tried again

    text = "ТЦК: нові блокпости на виїзді з міста"
    await world.archive.ingest(NEWS, [(post(NEWS, 502, text, "2026-03-20T18:00"), matched(text, tcc="ТЦК"))])
    clock.now = kyiv("2026-03-21T09:00")
    await eventually(lambda: world.sent(), "the next day's digest")
    [message] = world.sent()
    assert "20.03.2026 09:00 — 21.03.2026 09:00" in message.message and "нові блокпости" in message.message
    await recorded_as_sent(world.archive, "daily:2026-03-21")
    status = await digest_status(world.archive)
    assert status["last_sent"]["period"] == "daily:2026-03-21" and status["pending"] == []
    assert [f["period"] for f in status["failed"]] == ["daily:2026-03-20"]


@pytest.mark.parametrize("error", ["PEER_FLOOD", "AN_ERROR_TELEGRAM_ADDED_LATER", "TIMEOUT"])
async def test_errors_that_are_not_about_the_message_never_give_the_digest_up(world, error):
    await seed_day(world.archive)
    await schedule_since(world.archive, kyiv("2026-03-19T10:00"))
    # more refusals than a digest may have of its own message, and more than Telethon retries itself
    world.telegram.fail("SendMessageRequest", error, times=REJECTIONS + 6)
    world.start(Clock(kyiv("2026-03-20T09:30")))

    async def recorded():
        return (await digest_status(world.archive))["last_sent"]

    await eventually(recorded, f"the digest to be sent after {error}", limit=90)
    assert len(world.sent()) == 1
    status = await digest_status(world.archive)
    assert status["failed"] == [] and status["last_sent"]["period"] == "daily:2026-03-20"


async def test_a_digest_waiting_to_be_retried_does_not_hold_back_the_next_one(world):
    await seed_day(world.archive)
    await schedule_since(world.archive, kyiv("2026-03-19T10:00"))
    world.telegram.fail("SendMessageRequest", "CHAT_WRITE_FORBIDDEN")
    clock = Clock(kyiv("2026-03-20T09:30"))
    world.start(clock, retry_delays=(3600,))  # the refused one is next tried in an hour

    async def refused():
        waiting = await status_of(world.archive, "daily:2026-03-20")
        return waiting and waiting["attempts"] == 1

    await eventually(refused, "the refusal to be recorded")
    clock.now = kyiv("2026-03-21T09:00")

    async def next_sent():
        return await world.archive.row("SELECT 1 FROM digests WHERE period = 'daily:2026-03-21' AND sent_at IS NOT NULL")

    await eventually(next_sent, "the next day's digest")
    assert [m.message.count("Дайджест") for m in world.sent()] == [1]
    waiting = await status_of(world.archive, "daily:2026-03-20")
    assert waiting["attempts"] == 1 and "CHAT_WRITE_FORBIDDEN" in waiting["error"]
    assert waiting["next_attempt_at"] is not None and "failed_at" not in waiting


async def test_an_archive_error_does_not_end_the_scheduler(world, caplog):
    await seed_day(world.archive)
    await schedule_since(world.archive, kyiv("2026-03-19T10:00"))
    async with world.archive.transaction() as db:  # the schedule cannot be read for a while
        await db.execute("ALTER TABLE digest_schedule RENAME TO digest_schedule_away")
    task = world.start(Clock(kyiv("2026-03-20T09:30")))

    def failed_twice():
        return sum(r.getMessage().startswith("digest scheduler failed") for r in caplog.records) >= 2

    await eventually(failed_twice, "the failure to be logged and retried")
    assert not task.done() and world.sent() == []
    async with world.archive.transaction() as db:
        await db.execute("ALTER TABLE digest_schedule_away RENAME TO digest_schedule")
    await eventually(lambda: world.sent(), "the digest once the archive answers again")
    assert not task.done()
