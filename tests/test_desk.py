"""The editors' desk through the offline Telegram: an editor and a stranger, in the editors'
chat and in private; the digest on demand beside the scheduled one; feedback as labels."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from datetime import time

import pytest
from telethon.tl import types

from bot.archive import Archive
from bot.archive.digests import digest_status, schedule_since
from bot.archive.labels import current_labels
from bot.digest.sender import run_digests
from bot.desk.desk import Desk
from bot.matching import load_rules
from bot.desk import alerts
from bot.telegram import desk as telegram_desk
from bot.telegram.client import open_authorised
from bot.telegram.desk import DeskListener, TelegramReplies
from tests.conftest import EXAMPLE_KEYWORDS, archive_of, eventually
from tests.test_digest_compose import KYIV, NEWS, CITY, kyiv, matched, post
from tests.test_digest_send import Clock

RAID = "Бусифікація на Оболоні біля метро, двох чоловіків запхали в бус"
ESCAPE = "СЗЧ: з частини пішли двоє"


@pytest.fixture(autouse=True)
def no_pacing(monkeypatch):
    # answers are paced a second apart in service; the tests wait for conditions instead
    monkeypatch.setattr(telegram_desk, "PACE", 0.0)


def answers_to(fake, chat, command: types.Message) -> list[types.Message]:
    """What the account posted in `chat` in reply to `command`."""
    return [m for m in fake.sent(chat) if m.reply_to and m.reply_to.reply_to_msg_id == command.id]


class People:
    def __init__(self, fake):
        self.editor = fake.add_user("Анна", username="anna_ed")
        self.stranger = fake.stranger
        self.editors = fake.add_channel(username="editors_room", title="Редакція", megagroup=True, joined=True)
        self.editors.members.update({self.editor.id, self.stranger.id})


async def test_editor_is_answered_and_a_stranger_gets_nothing_of_the_archive(fake, run_service, caplog):
    caplog.set_level(logging.INFO, logger="dozor.desk")
    people = People(fake)
    news = fake.add_channel(username="kyiv_news", title="Київ новини", joined=True)
    async with run_service(chats=("@kyiv_news",), digest_chat="@editors_room", editors=("@anna_ed",),
                           desk_rate=20) as running:
        await running.settled()
        fake.post(news, RAID)
        await eventually(lambda: _archived(running, news.marked_id), "the raid to be archived")
        await eventually(lambda: any("desk: reading commands" in r.getMessage() for r in caplog.records),
                         "the desk to find the editors' chat")

        # the stranger first: in the group nothing, in private a refusal without content
        asked = fake.post(people.editors, "/search бусифікація", from_user=people.stranger)
        in_private = fake.post(people.stranger, "/search бусифікація")
        await eventually(lambda: fake.sent(people.stranger), "the refusal in private")
        [refusal] = fake.sent(people.stranger)
        assert "не приймає команд" in refusal.message and "Оболоні" not in refusal.message
        fake.post(people.stranger, "/digest")  # insisting gets no second refusal within the minute
        assert refusal.reply_to.reply_to_msg_id == in_private.id
        refused = [r.getMessage() for r in caplog.records if "not in DOZOR_EDITORS" in r.getMessage()]
        assert len(refused) == 2 and all("бусифікація" not in line for line in refused)
        assert all("@olena_kyiv" in line for line in refused)

        # the editor, in the group: each command answered with what it is for
        commands = {
            "/help": "Команди",
            "/search бусифікація #busification 7d": "Оболоні",
            "/status": "Чати: читаються 1 з 1",
            f"/check {RAID}": "busification-",
            "/digest": "Оболоні",
            "/nonsense": "Невідома команда",
        }
        sent = {text: fake.post(people.editors, text, from_user=people.editor) for text in commands}
        for text, expected in commands.items():
            await eventually(lambda: answers_to(fake, people.editors, sent[text]), f"an answer to {text}")
            [answer] = answers_to(fake, people.editors, sent[text])
            assert expected in answer.message, (text, answer.message)
        search = answers_to(fake, people.editors, sent["/search бусифікація #busification 7d"])[0]
        links = [e.url for e in search.entities if isinstance(e, types.MessageEntityTextUrl)]
        assert f"https://t.me/kyiv_news/1" in links
        # ...and in private
        mine = fake.post(people.editor, "/search Оболоні")
        await eventually(lambda: answers_to(fake, people.editor, mine), "an answer in private")
        assert "Оболоні" in answers_to(fake, people.editor, mine)[0].message
        # the stranger's group command was never answered, and nothing else went out to them
        assert answers_to(fake, people.editors, asked) == []
        assert len(fake.sent(people.stranger)) == 1
        assert len([r for r in caplog.records if "not in DOZOR_EDITORS" in r.getMessage()]) == 2
    assert not fake.unsupported and not fake.errors


async def test_search_answers_ten_at_a_time_and_says_how_to_see_more(fake, run_service):
    people = People(fake)
    news = fake.add_channel(username="kyiv_news", title="Київ новини", joined=True)
    async with run_service(chats=("@kyiv_news",), digest_chat="@editors_room", editors=("@anna_ed",)) as running:
        await running.settled()
        for n in range(12):
            fake.post(news, f"Бусифікація на Оболоні, випадок {n + 1}")
        await eventually(lambda: _matched(running, 12), "twelve matches archived")
        first = fake.post(people.editor, "/search Оболоні 1d")
        await eventually(lambda: answers_to(fake, people.editor, first), "the first page")
        text = "\n".join(m.message for m in answers_to(fake, people.editor, first))
        assert "1–10 і далі" in text and text.count("випадок") == 10
        assert "Далі: /search Оболоні 1d p2" in text and "dozor search 'Оболоні' --days 1" in text
        second = fake.post(people.editor, "/search Оболоні 1d p2")
        await eventually(lambda: answers_to(fake, people.editor, second), "the second page")
        text = "\n".join(m.message for m in answers_to(fake, people.editor, second))
        assert "11–12" in text and text.count("випадок") == 2 and "Далі" not in text
    assert not fake.unsupported and not fake.errors


async def test_commands_beyond_an_editors_rate_are_refused_once_and_others_go_on(fake, run_service):
    people = People(fake)
    other = fake.add_user("Богдан", username="bohdan_ed")
    async with run_service(digest_chat="@editors_room", editors=(str(people.editor.id), "@bohdan_ed"), desk_rate=2):
        sent = [fake.post(people.editor, "/help") for _ in range(4)]
        probe = fake.post(other, "/help")  # read after all four: answered once they are dealt with
        await eventually(lambda: fake.sent(other), "the other editor's answer")
        answers = fake.sent(people.editor)
        assert [m.reply_to.reply_to_msg_id for m in answers] == [sent[0].id, sent[1].id, sent[2].id]
        assert "Команди" in answers[0].message and "Команди" in answers[1].message
        assert "Забагато команд" in answers[2].message  # said once; the fourth is refused silently
        assert fake.sent(other)[0].reply_to.reply_to_msg_id == probe.id


def _archived(running, chat_id):
    async def check():
        rows = await running.service.archive.rows("SELECT 1 FROM messages WHERE chat_id = :chat_id",
                                                  {"chat_id": chat_id})
        return bool(rows)
    return check()


# ---- /digest beside the schedule, and feedback ---------------------------------------------------

class Desk_:
    """The desk and the digest scheduler on one client, with the scheduler's clock in the test's hands."""

    def __init__(self, fake, settings, archive, clock):
        self.fake, self.settings, self.archive, self.clock = fake, settings, archive, clock
        self.tasks: list[asyncio.Task] = []
        self.client = None

    async def __aenter__(self):
        self.client = await open_authorised(self.settings, connection=self.fake.connection)
        rules = load_rules(EXAMPLE_KEYWORDS)
        desk = Desk(self.settings, self.archive, lambda: rules, TelegramReplies(self.client, pace=0),
                    clock=self.clock)
        listener = DeskListener(self.settings, desk, self.client)
        listener.attach()
        self.tasks.append(asyncio.create_task(listener.run()))
        self.tasks.append(asyncio.create_task(run_digests(
            self.settings, self.archive, self.client, now=self.clock, tick=0.02, titles=rules.topics)))
        await eventually(lambda: listener.editors_chat is not None, "the desk to find the editors' chat")
        return self

    async def __aexit__(self, *exc):
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.client.disconnect()


@pytest.mark.both_backends
async def test_digest_on_demand_leaves_the_scheduled_digest_whole_and_replies_become_labels(fake, settings):
    people = People(fake)
    settings = replace(settings, digest_chat="@editors_room", editors=("@anna_ed",), digest_time=time(9, 0),
                       digest_tz=KYIV)
    archive = await Archive.open(settings.archive_location)
    try:
        for chat in (NEWS, CITY):
            await archive.save_chat(chat)
        await schedule_since(archive, kyiv("2026-03-20T08:00"))
        await archive.ingest(NEWS, [(post(NEWS, 1, RAID, "2026-03-20T07:30"), matched(RAID, busification="Бусифікація"))])
        await archive.ingest(NEWS, [(post(NEWS, 2, RAID + " (2)", "2026-03-20T10:00"),
                                     matched(RAID, busification="Бусифікація"))])
        await archive.ingest(CITY, [(post(CITY, 7, ESCAPE, "2026-03-20T11:00"), matched(ESCAPE, szch="СЗЧ"))])
        clock = Clock(kyiv("2026-03-20T15:00"))
        async with Desk_(fake, settings, archive, clock):
            # the period that ended at 09:00 goes out by itself; /digest adds what came since
            await eventually(lambda: len(fake.sent(people.editors)) == 1, "the 09:00 digest")
            # a reaction to a digest message of one item is a verdict on that item; a stranger's is nothing
            [morning] = fake.sent(people.editors)
            fake.react(people.editors, morning.id, people.stranger, "👍")
            fake.react(people.editors, morning.id, people.editor, "👎")
            await eventually(lambda: answers_to(fake, people.editors, morning), "the reaction acknowledged")
            assert "Записано, №1: ❌" in answers_to(fake, people.editors, morning)[0].message
            asked = fake.post(people.editors, "/digest", from_user=people.editor)
            await eventually(lambda: answers_to(fake, people.editors, asked), "the interim digest")
            [interim] = answers_to(fake, people.editors, asked)
            assert "20.03.2026 09:00 — 20.03.2026 15:00" in interim.message
            assert "(2)" in interim.message and "з частини пішли двоє" in interim.message
            assert "№1" in interim.message and "№2" in interim.message
            assert "07:30" not in interim.message  # sent at 09:00 already

            # an editor says item 2 of the interim digest (topics in the keywords file's order) was wrong
            said = fake.post(people.editors, "👎 2", from_user=people.editor, reply_to=interim.id)
            await eventually(lambda: answers_to(fake, people.editors, said), "the acknowledgement")
            assert "Записано, №2" in answers_to(fake, people.editors, said)[0].message
            [label] = [l for l in await current_labels(archive) if l.message_id == 2]
            assert not label.correct and label.source == "desk" and "@anna_ed" in label.labelled_by
            assert (label.chat_id, label.message_id, label.topic) == (NEWS.id, 2, "busification")
            # a stranger's reply is no label
            fake.post(people.editors, "👍 1", from_user=people.stranger, reply_to=interim.id)

            # the next morning the scheduled digest still carries everything of its period
            clock.now = kyiv("2026-03-21T09:00")
            async def recorded():
                return (await digest_status(archive))["last_sent"]["period"] == "daily:2026-03-21"

            await eventually(recorded, "the digest to be recorded as sent")
            scheduled = fake.sent(people.editors)[-1]
            assert "(2)" in scheduled.message and "з частини пішли двоє" in scheduled.message
            # a reply to the scheduled digest's item is tied to its message, too
            said = fake.post(people.editors, "👍 1", from_user=people.editor, reply_to=scheduled.id)
            await eventually(lambda: answers_to(fake, people.editors, said), "the second acknowledgement")
            labels = {(l.chat_id, l.message_id, l.topic, l.correct) for l in await current_labels(archive)}
            assert labels == {(NEWS.id, 1, "busification", False), (NEWS.id, 2, "busification", False),
                              (CITY.id, 7, "szch", True)}
        # after a restart Telegram lists the old reaction again with a new one: not a new verdict
        async with Desk_(fake, settings, archive, clock):
            fake.react(people.editors, morning.id, people.stranger, "👎")
            probe = fake.post(people.editors, "/help", from_user=people.editor)
            await eventually(lambda: answers_to(fake, people.editors, probe), "the desk to catch up")
            assert len(answers_to(fake, people.editors, morning)) == 1
            assert len(await current_labels(archive)) == 3
    finally:
        await archive.close()
    assert not fake.unsupported and not fake.errors


# ---- forwarded messages ---------------------------------------------------------------------------

async def test_a_forwarded_missed_message_is_asked_about_and_labelled(fake, settings, run_service):
    people = People(fake)
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    missed = fake.post(news, "Хлопці з нашого батальйону не повернулися з відпустки, шукають")
    async with run_service(digest_chat="@editors_room", editors=("@anna_ed",)):
        fake.post(people.editor, missed.message, fwd_from_channel=news, fwd_from_post=missed.id)
        await eventually(lambda: fake.sent(people.editor), "the question")
        assert "Яка тема?" in fake.sent(people.editor)[0].message
        fake.post(people.editor, "#nosuch")
        await eventually(lambda: len(fake.sent(people.editor)) == 2, "the unknown topic named")
        assert "немає теми #nosuch" in fake.sent(people.editor)[1].message
        fake.post(people.editor, "#szch")
        await eventually(lambda: len(fake.sent(people.editor)) == 3, "the acknowledgement")
        assert "Записано" in fake.sent(people.editor)[2].message
    async with archive_of(settings) as archive:
        [label] = await current_labels(archive)
    assert (label.topic, label.correct, label.source) == ("szch", True, "desk")
    assert (label.chat_id, label.message_id, label.text) == (news.marked_id, missed.id, missed.message)
    assert not fake.unsupported and not fake.errors


# ---- spike alerts ----------------------------------------------------------------------------------

async def rounds(caplog, count: int) -> None:
    """Wait until the alert loop has looked `count` more times."""
    before = len(caplog.records)
    await eventually(lambda: sum(r.getMessage().startswith("spike alerts: ") for r in caplog.records[before:])
                     >= count, f"{count} rounds of the spike alerts")


@pytest.mark.both_backends
async def test_a_burst_in_three_chats_of_one_city_raises_one_alert_and_ordinary_traffic_none(
        fake, run_service, caplog, monkeypatch):
    monkeypatch.setattr(alerts, "TICK", 0.05)
    caplog.set_level(logging.DEBUG, logger="dozor.alerts")
    people = People(fake)
    kyiv_chats = [fake.add_channel(username=f"kyiv_{n}_chat", title=f"Київ {n}", megagroup=True, joined=True)
                  for n in ("obolon", "podil", "troya")]
    lviv = fake.add_channel(username="lviv_city_chat", title="Львів", megagroup=True, joined=True)
    watched = tuple(f"@{c.username}" for c in (*kyiv_chats, lviv))
    cities = (("Київ", watched[:3]), ("Львів", watched[3:]))
    async with run_service(chats=watched, digest_chat="@editors_room", spike_city_matches=4,
                           spike_cities=cities) as running:
        await running.settled()
        # an ordinary afternoon: a match here and there, chatter, another city
        fake.post(kyiv_chats[0], RAID)
        fake.post(kyiv_chats[1], "Продам велосипед, недорого")
        fake.post(kyiv_chats[2], ESCAPE)
        fake.post(lviv, RAID)
        fake.post(lviv, RAID + " Знову")
        fake.post(lviv, RAID + " І ще раз")
        await eventually(lambda: _matched(running, 5), "the ordinary matches to be archived")
        await rounds(caplog, 3)
        assert fake.sent(people.editors) == []

        # a raid reported in three Kyiv chats within minutes
        for chat in kyiv_chats:
            fake.post(chat, f"Зараз на зупинці бусифікація, забирають чоловіків ({chat.title})")
        await eventually(lambda: fake.sent(people.editors), "the alert")
        await rounds(caplog, 3)
        [alert] = fake.sent(people.editors)
        assert "сплеск у місті Київ" in alert.message and "Бусифікація" in alert.message
        links = {e.url for e in alert.entities if isinstance(e, types.MessageEntityTextUrl)}
        assert {f"https://t.me/{c.username}/1" for c in kyiv_chats[:1]} <= links
        assert all(any(f"t.me/{c.username}/" in link for link in links) for c in kyiv_chats)
        assert not any("lviv" in link for link in links)
        # the surge goes on: still one alert
        fake.post(kyiv_chats[0], "Бусифікація триває, обережно на Оболоні")
        await eventually(lambda: _matched(running, 9), "the next match to be archived")
        await rounds(caplog, 3)
        assert len(fake.sent(people.editors)) == 1
    # nor does a restart in the middle of it announce it again
    async with run_service(chats=watched, digest_chat="@editors_room", spike_city_matches=4,
                           spike_cities=cities) as running:
        await running.settled()
        await rounds(caplog, 3)
        assert len(fake.sent(people.editors)) == 1
    assert not fake.unsupported and not fake.errors


def _matched(running, count: int):
    async def check():
        return await running.service.archive.scalar("SELECT COUNT(*) FROM messages WHERE matched = 1") >= count
    return check()


# ---- through the bot ---------------------------------------------------------------------------

async def test_with_a_digest_bot_the_bot_is_the_desk(fake, settings, run_service, caplog):
    caplog.set_level(logging.INFO, logger="dozor.desk")
    people = People(fake)
    people.editors.members.add(fake.bot.id)
    fake.unauthorised_session(str(settings.storage / telegram_desk.DESK_BOT_SESSION))  # it signs in itself
    fake.unauthorised_session(str(settings.storage / "digest-bot.session"))
    async with run_service(digest_chat="@editors_room", editors=("@anna_ed",), digest_bot_token=fake.BOT_TOKEN):
        await eventually(lambda: any("desk: reading commands" in r.getMessage() for r in caplog.records),
                         "the bot to be listening")
        to_bot = fake.message_to(fake.bot, "/help", from_user=people.editor)
        await eventually(lambda: answers_to(fake, people.editor, to_bot), "the bot's answer in private")
        assert "Команди" in answers_to(fake, people.editor, to_bot)[0].message
        fake.message_to(fake.bot, "/search бусифікація", from_user=people.stranger)
        await eventually(lambda: fake.sent(people.stranger), "the bot's refusal")
        assert [m.message for m in fake.sent(people.stranger)] == ["Цей акаунт не приймає команд."]
        in_group = fake.post(people.editors, "/status", from_user=people.editor)
        await eventually(lambda: answers_to(fake, people.editors, in_group), "the bot's answer in the group")
        [answer] = answers_to(fake, people.editors, in_group)
        assert answer.from_id == types.PeerUser(fake.bot.id) and "Чати:" in answer.message
        # one desk only: the account's own private chats are not read while the bot is the desk
        assert sum("desk: reading commands" in r.getMessage() for r in caplog.records) == 1
    assert not fake.unsupported and not fake.errors
