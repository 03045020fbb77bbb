"""The digest reaching the editors' chat through the offline Telegram: on time, whole, once."""
from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from datetime import datetime, time, timedelta, timezone
from pathlib import Path

import pytest
from telethon.tl import types

from bot.archive import Archive
from bot.archive.digests import digest_status, schedule_since, stored_parts
from bot.config import Settings
from bot.digest.sender import run_digests
from bot.model import Chat
from bot.telegram import publish
from bot.telegram.client import open_authorised
from tests.conftest import eventually
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

    def __init__(self, tmp_path: Path):
        self.telegram = FakeTelegram()
        self.storage = tmp_path / "storage"
        self.storage.mkdir()
        self.telegram.authorise_session(str(self.storage / "dozor.session"))
        self.editors = self.telegram.add_channel(username="editors", title="Редакція", joined=True)
        self.settings = Settings(api_id=FakeTelegram.API_ID, api_hash=FakeTelegram.API_HASH, storage=self.storage,
                                 digest_chat="@editors", digest_time=NINE, digest_tz=KYIV)
        self.archive: Archive | None = None
        self.client = None
        self.task: asyncio.Task | None = None

    def use_bot(self, member: bool = True) -> None:
        self.settings = replace(self.settings, digest_bot_token=self.telegram.BOT_TOKEN)
        self.telegram.unauthorised_session(str(self.storage / publish.BOT_SESSION))  # the bot signs in itself
        if member:
            self.editors.members.add(self.telegram.bot.id)

    async def open(self) -> None:
        self.archive = await Archive.open(self.settings.archive_path)
        for chat in (NEWS, CITY, PRIVATE):
            await self.archive.save_chat(chat)

    def start(self, clock: Clock, retry_delays=FAST, **changes) -> asyncio.Task:
        self.settings = replace(self.settings, **changes)

        async def scheduler():
            if not self.settings.digest_bot_token and self.client is None:
                self.client = await open_authorised(self.settings, connection=self.telegram.connection)
            await run_digests(self.settings, self.archive, self.client, now=clock, tick=0.02,
                              retry_delays=retry_delays, titles=TITLES,
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
async def world(tmp_path):
    world = World(tmp_path)
    await world.open()
    yield world
    await world.crash()
    assert not world.telegram.unsupported
    assert not world.telegram.errors


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


async def test_editors_receive_the_digest_at_digest_time(world):
    await seed_day(world.archive)
    clock = Clock(kyiv("2026-03-20T08:59"))
    world.start(clock)
    await eventually(lambda: world.archive.row("SELECT 1 FROM digest_schedule"), "the scheduler to start")
    await asyncio.sleep(0.1)
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
    status = await digest_status(world.archive)
    assert status["last_sent"]["period"] == "daily:2026-03-20" and status["pending"] == []
    # a later look at the same day sends nothing more
    clock.now = kyiv("2026-03-20T15:00")
    await asyncio.sleep(0.2)
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


async def test_restart_after_a_crash_mid_digest_sends_only_the_remaining_parts(world, monkeypatch):
    await seed_many(world.archive, 60)
    await schedule_since(world.archive, kyiv("2026-03-19T12:00"))
    original = publish.Publisher.send
    calls = 0

    async def refused_after_the_first(self, html):
        nonlocal calls
        calls += 1
        if calls == 2:
            world.telegram.fail("SendMessageRequest", "CHAT_WRITE_FORBIDDEN", times=1)
        return await original(self, html)

    monkeypatch.setattr(publish.Publisher, "send", refused_after_the_first)
    clock = Clock(kyiv("2026-03-20T10:00"))
    world.start(clock, retry_delays=(3600,), digest_topic_cap=1000)

    async def refused():
        return (await digest_status(world.archive))["pending"]

    await eventually(refused, "the refusal to be recorded")
    [pending] = (await digest_status(world.archive))["pending"]
    assert pending["parts_sent"] == 1 and pending["parts"] >= 3
    assert "may not post in @editors" in pending["error"] and "CHAT_WRITE_FORBIDDEN" in pending["error"]
    assert len(world.sent()) == 1
    await world.crash()

    monkeypatch.setattr(publish.Publisher, "send", original)
    await world.open()
    world.start(clock)
    await eventually(lambda: len(world.sent()) == pending["parts"], "the remaining parts")
    await asyncio.sleep(0.2)
    texts = [m.message for m in world.sent()]
    assert len(texts) == len(set(texts)) == pending["parts"]
    assert [f"частина {n}/{pending['parts']}" in t for n, t in enumerate(texts, start=1)] == [True] * len(texts)
    status = await digest_status(world.archive)
    assert status["pending"] == [] and status["last_sent"]["parts"] == pending["parts"]


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
