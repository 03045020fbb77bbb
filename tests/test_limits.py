"""Telegram's limits, played by the offline Telegram: the request budget keeps dozor under
them, new chats go through a paced plan that a restart continues, one account never joins
past its cap, and a flood wait holds only the method that met it."""
from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from telethon import errors, functions

from bot.archive.limits import (HISTORY_ONLY, JOINED, OVER_CAP, flood_waits, last_joined_at, memberships,
                                plan_progress, record_flood_wait, save_channel_count, save_membership)
from bot.chat_plan import JOIN, next_step
from bot.commands.status import collect, render
from bot.config import ConfigError, load_settings
from bot.model import Chat
from bot.service import Service
from bot.telegram.client import make_client
from bot.telegram.subscriptions import resolve_chat
from tests.conftest import archive_of, eventually

MATCHING = "Біля метро Лівобережна ТЦК роздають повістки і пакують чоловіків у бус"


def city_channels(fake, count: int, prefix: str = "city") -> list:
    """`count` public channels, each with one matching post already published."""
    channels = []
    for n in range(count):
        channel = fake.add_channel(username=f"{prefix}_{n:04d}", title=f"Місто {n}")
        fake.post(channel, f"{MATCHING} #{n}")
        channels.append(channel)
    return channels


def sources(channels) -> tuple[str, ...]:
    return tuple(f"@{c.username}" for c in channels)


def resolutions(fake) -> dict[str, int]:
    """How often the fake was asked to resolve each username."""
    counts: dict[str, int] = {}
    for call in fake.calls:
        if call.name == "ResolveUsernameRequest":
            counts[call.request.username.lower()] = counts.get(call.request.username.lower(), 0) + 1
    return counts


async def archived_chats(archive, channels) -> set[int]:
    rows = await archive.rows("SELECT DISTINCT chat_id FROM messages WHERE deleted_at IS NULL")
    wanted = {c.marked_id for c in channels}
    return {r[0] for r in rows} & wanted


class Unwaited:
    """The real service, started without waiting for its start-up, so a test can stop it
    in the middle of the plan."""

    def __init__(self, settings, fake):
        self.service = Service(settings, client_options={"connection": fake.connection}, history_wait=0)
        self.stop = asyncio.Event()
        self.task = None

    async def __aenter__(self):
        self.task = asyncio.create_task(self.service.run(self.stop))
        return self

    async def __aexit__(self, *exc):
        self.stop.set()
        await asyncio.wait_for(self.task, 30)


# ---- the offline Telegram plays the limits, and the budget keeps dozor under them --------------

async def test_without_the_budget_the_fake_answers_flood_wait_and_with_it_never(fake, settings):
    channels = [fake.add_channel(username=f"burst_{n:03d}") for n in range(24)]
    fake.rate_limit("ResolveUsernameRequest", count=8, per=1.0, wait=1)

    unpaced = make_client(settings, connection=fake.connection)
    await unpaced.connect()
    try:
        for channel in channels[:12]:
            await resolve_chat(unpaced, f"@{channel.username}")
    finally:
        await unpaced.disconnect()
    assert fake.rate_floods  # the fake's limit is real: a burst meets it
    # and the flood wait was waited out by holding resolutions, never raised
    assert set(resolutions(fake)) >= {c.username for c in channels[:12]}

    fake.rate_floods.clear()
    await asyncio.sleep(1.1)  # the window of the burst above is over
    paced = make_client(replace(settings, rate_resolve=240.0), connection=fake.connection)  # 4 a second
    await paced.connect()
    try:
        for channel in channels[12:]:
            await resolve_chat(paced, f"@{channel.username}")
    finally:
        await paced.disconnect()
    assert fake.rate_floods == []


async def test_the_fake_refuses_joins_past_the_cap(fake, settings):
    fake.channel_cap = 2
    channels = [fake.add_channel(username=f"capped_{n}") for n in range(3)]
    fake.authorise_session(str(settings.storage / "plain"))
    client = fake.client(str(settings.storage / "plain"))
    await client.connect()
    try:
        for channel in channels[:2]:
            await client(functions.channels.JoinChannelRequest(channel.username))
        with pytest.raises(errors.ChannelsTooMuchError):
            await client(functions.channels.JoinChannelRequest(channels[2].username))
    finally:
        await client.disconnect()
    assert fake.channels_joined() == 2


# ---- new chats: resolved, then read, then joined, at the budget's pace; a restart continues ------

async def test_first_start_with_300_new_chats_is_paced_and_a_restart_continues_the_plan(fake, settings):
    channels = city_channels(fake, 300)
    # the fake's limits per second, and a budget at about half of each
    fake.rate_limit("ResolveUsernameRequest", count=60, per=1.0, wait=30)
    fake.rate_limit("GetHistoryRequest", count=160, per=1.0, wait=30)
    fake.rate_limit("JoinChannelRequest", count=60, per=1.0, wait=30)
    paced = replace(settings, chats=sources(channels), rate_resolve=30 * 60.0, rate_history=80 * 60.0,
                    rate_join=30 * 60.0)

    async with Unwaited(paced, fake) as running:
        await eventually(lambda: running.service.archive is not None, "the archive to open")

        async def some_resolved():
            return (await plan_progress(running.service.archive, paced.chats))["resolved"] >= 100

        await eventually(some_resolved, "a third of the chats to be resolved", limit=60)
    # stopped in the middle of the plan; `dozor status` shows how far it got
    report = await collect(paced)
    plan = report["plan"]
    assert plan["configured"] == 300 and 100 <= plan["resolved"] < 300
    assert f"{plan['resolved']}/300 resolved" in render(report)
    if plan["waiting_to_join"]:
        assert f"{plan['waiting_to_join']} waiting to join (about " in render(report)
    async with archive_of(paced) as archive:
        rows = await archive.rows("SELECT username FROM chats")
    resolved_before = {r[0].lower() for r in rows}

    async with Unwaited(paced, fake) as running:
        await eventually(lambda: running.service.ready.is_set(), "every chat to be resolved", limit=90)
        await eventually(lambda: running.service.catchup.idle and not running.service.catchup.busy,
                         "every chat to be read", limit=90)
        await eventually(lambda: running.service.plan.settled, "every chat to be joined", limit=90)
        assert await archived_chats(running.service.archive, channels) == {c.marked_id for c in channels}

    assert fake.rate_floods == []  # the budget kept every method under the fake's limits
    counts = resolutions(fake)
    assert all(counts[name] == 1 for name in resolved_before)  # the restart resolved none of them again
    assert set(counts) == {c.username for c in channels}
    assert all(fake.joined(c) for c in channels)
    assert fake.requests.count("JoinChannelRequest") == 300  # and joined none of them twice
    report = await collect(paced)
    assert report["plan"]["resolved"] == report["plan"]["read"] == report["plan"]["joined"] == 300
    assert "new chats: 300/300 resolved, 300 read, 300 joined" in render(report)


async def test_a_public_chat_is_read_before_it_is_joined(fake, run_service):
    news = city_channels(fake, 1, prefix="news")[0]
    async with run_service(chats=sources([news])) as running:
        await running.settled()
    names = [call.name for call in fake.calls]
    assert names.index("GetHistoryRequest") < names.index("JoinChannelRequest")


@pytest.mark.both_backends
async def test_a_restart_keeps_the_join_pace(fake, run_service):
    first, second = city_channels(fake, 2, prefix="paced")
    async with run_service(chats=sources([first]), rate_join=1.0) as running:  # one a minute
        await running.settled()
    assert fake.joined(first)
    async with run_service(chats=sources([first, second]), rate_join=1.0) as running:
        await eventually(lambda: running.service.coverage.complete_up_to(second.marked_id) is not None, "the new chat read")
        await asyncio.sleep(1.0)  # the plan has had its chance: without the pace it would join now
        assert not fake.joined(second)
    assert fake.requests.count("JoinChannelRequest") == 1


# ---- the membership cap -------------------------------------------------------------------------

async def test_550_chats_on_one_account_join_at_most_500_and_the_rest_are_read_from_history(fake, settings):
    channels = city_channels(fake, 550)
    async with Unwaited(replace(settings, chats=sources(channels)), fake) as running:
        await eventually(lambda: running.service.ready.is_set(), "every chat to be resolved", limit=120)
        await eventually(lambda: running.service.catchup.idle and not running.service.catchup.busy,
                         "every chat to be read", limit=120)
        await eventually(lambda: running.service.plan.settled, "every chat to be joined or left to history",
                         limit=120)
        assert await archived_chats(running.service.archive, channels) == {c.marked_id for c in channels}
    assert fake.channels_joined() == 500
    report = await collect(replace(settings, chats=sources(channels)))
    assert report["plan"]["joined"] == 500 and report["plan"]["over_cap"] == 50
    assert report["plan"]["account"]["channels"] == 500
    over = {r["chat_id"] for r in report["chats"] if (r["membership"] or {}).get("state") == OVER_CAP}
    assert over == {c.marked_id for c in channels if not fake.joined(c)} and len(over) == 50
    text = render(report)
    assert "account: in 500 of 500 channels and supergroups" in text
    assert "over the account's cap: 50 chats are read from history only (no live updates): add an account" in text


@pytest.mark.both_backends
async def test_chats_the_account_is_already_in_count_against_the_cap(fake, run_service, settings):
    fake.channel_cap = 5
    for n in range(4):
        fake.add_channel(username=f"elsewhere_{n}", joined=True)  # joined outside dozor
    channels = city_channels(fake, 3, prefix="watched")
    async with run_service(chats=sources(channels), channel_cap=5) as running:
        await running.settled()
        assert await archived_chats(running.service.archive, channels) == {c.marked_id for c in channels}
    assert [fake.joined(c) for c in channels] == [True, False, False]
    assert "JoinChannelRequest" in fake.requests and fake.rate_floods == []
    # never asked past the cap: Telegram's CHANNELS_TOO_MUCH was not needed to stop it
    assert not any(c.name == "JoinChannelRequest" and isinstance(c.outcome, Exception) for c in fake.calls)
    report = await collect(replace(settings, chats=sources(channels)))
    assert report["plan"]["over_cap"] == 2


async def test_a_premium_cap_is_a_setting(fake, run_service, settings):
    fake.channel_cap = 1000
    for n in range(500):
        fake.add_channel(username=f"owned_{n:04d}", joined=True)
    channels = city_channels(fake, 2, prefix="premium")
    async with run_service(chats=sources(channels), channel_cap=1000) as running:
        await running.settled()
    assert all(fake.joined(c) for c in channels)


PUBLIC = Chat(id=-1001700000001, title="Місто", username="city_0001")


@pytest.mark.parametrize("chat, member, seats, joining, expected", [
    (PUBLIC, False, 10, True, (JOIN, None)),
    (PUBLIC, True, 500, True, (JOINED, None)),  # already in: no request, whatever the count
    (PUBLIC, False, 500, True, (OVER_CAP, None)),
    (PUBLIC, False, 10, False, (HISTORY_ONLY, "DOZOR_JOIN_CHANNELS is off")),
    (replace(PUBLIC, username=None), False, 10, True, (HISTORY_ONLY, "private: only an invite can add the account")),
    (Chat(id=-4100001, title="Basic group", kind="group"), False, 500, True, (JOINED, None)),
])
def test_what_becomes_of_a_resolved_chat(chat, member, seats, joining, expected):
    assert next_step(chat, member=member, seats_taken=seats, cap=500, joining=joining) == expected


# ---- flood waits ----------------------------------------------------------------------------------

@pytest.mark.both_backends
async def test_a_flood_wait_on_joins_stops_nothing_else_and_status_shows_when_it_ends(fake, run_service, settings):
    channels = city_channels(fake, 5, prefix="flooded")
    fake.flood_wait("JoinChannelRequest", seconds=3600, times=1)
    watched = replace(settings, chats=sources(channels))
    async with run_service(chats=watched.chats, catchup_interval=0.5) as running:
        archive = running.service.archive
        met = datetime.now(timezone.utc)

        async def shown():
            return (await collect(watched))["flood_waits"]

        await eventually(shown, "the flood wait in status")
        # while joins wait, history is still read: a post made now reaches the archive
        later = fake.post(channels[2], f"{MATCHING} пізніше", deliver=False)
        await eventually(lambda: archive.message(channels[2].marked_id, later.id), "a post read during the wait")
        assert not any(fake.joined(c) for c in channels)
        assert fake.requests.count("JoinChannelRequest") == 1  # held, not retried into the wait

        report = await collect(watched)
        (wait,) = report["flood_waits"]
        assert wait["method"] == "join" and wait["seconds"] == 3600
        until = datetime.fromisoformat(wait["until"])
        assert met + timedelta(seconds=3590) <= until <= datetime.now(timezone.utc) + timedelta(seconds=3601)
        assert f"FLOOD WAIT on join (JoinChannelRequest, 3600 s) until {wait['until'].replace('T', ' ')}" \
            in render(report)


@pytest.mark.both_backends
async def test_a_flood_wait_still_in_force_after_a_restart_holds_its_method(fake, run_service, settings):
    channels = city_channels(fake, 2, prefix="restarted")
    fake.flood_wait("JoinChannelRequest", seconds=3600, times=1)
    watched = replace(settings, chats=sources(channels))
    async with run_service(chats=watched.chats) as running:
        await eventually(lambda: flood_waits(running.service.archive), "the flood wait recorded")
    async with run_service(chats=watched.chats) as running:
        await eventually(lambda: running.service.catchup.idle and not running.service.catchup.busy, "catch-up")
        await eventually(lambda: all(running.service.coverage.complete_up_to(c.marked_id) is not None for c in channels),
                         "both chats read")
        assert running.service.client.budget.held("join") > 3500
    assert fake.requests.count("JoinChannelRequest") == 1  # Telegram was not asked again during its wait
    assert [w["method"] for w in (await collect(watched))["flood_waits"]] == ["join"]


@pytest.mark.both_backends
async def test_a_flood_wait_that_is_over_leaves_status(fake, run_service, settings):
    news = city_channels(fake, 1, prefix="brief")[0]
    fake.flood_wait("GetHistoryRequest", seconds=1, times=1)
    async with run_service(chats=sources([news])) as running:
        await running.settled()
        await asyncio.sleep(1.1)
    assert (await collect(replace(settings, chats=sources([news]))))["flood_waits"] == []


async def test_the_latest_flood_wait_of_a_method_is_kept_until_it_ends(archive):
    start = datetime(2026, 3, 20, 12, 0, tzinfo=timezone.utc)
    await record_flood_wait(archive, "join", "JoinChannelRequest", 60, start, start + timedelta(seconds=60))
    await record_flood_wait(archive, "join", "JoinChannelRequest", 3600, start, start + timedelta(hours=1))
    await record_flood_wait(archive, "resolve", "ResolveUsernameRequest", 30, start, start + timedelta(seconds=30))
    assert await flood_waits(archive, now=start + timedelta(seconds=10)) == [
        {"method": "join", "request": "JoinChannelRequest", "seconds": 3600, "started_at": start,
         "until": start + timedelta(hours=1)},
        {"method": "resolve", "request": "ResolveUsernameRequest", "seconds": 30, "started_at": start,
         "until": start + timedelta(seconds=30)}]
    assert [w["method"] for w in await flood_waits(archive, now=start + timedelta(minutes=1))] == ["join"]
    assert await flood_waits(archive, now=start + timedelta(hours=1)) == []


# ---- the plan as the archive keeps it ------------------------------------------------------------

async def test_memberships_and_the_plan_of_configured_chats_are_kept_in_the_archive(archive):
    chats = [Chat(id=-1001700000100 - n, title=f"Місто {n}", username=f"city_{n}") for n in range(4)]
    for chat in chats:
        await archive.save_chat(chat, source=f"@{chat.username}")
    before = datetime.now(timezone.utc).replace(microsecond=0)
    await save_membership(archive, chats[0].id, JOINED)
    await save_membership(archive, chats[0].id, JOINED)  # a restart that finds it unchanged
    await save_membership(archive, chats[1].id, HISTORY_ONLY, "private: only an invite can add the account")
    await save_membership(archive, chats[1].id, HISTORY_ONLY, "DOZOR_JOIN_CHANNELS is off")
    await save_membership(archive, chats[2].id, OVER_CAP)
    await save_channel_count(archive, 499, 500)
    assert await memberships(archive) == {
        chats[0].id: {"state": JOINED, "reason": None},
        chats[1].id: {"state": HISTORY_ONLY, "reason": "DOZOR_JOIN_CHANNELS is off"},
        chats[2].id: {"state": OVER_CAP, "reason": None}}
    assert before <= await last_joined_at(archive) <= datetime.now(timezone.utc)

    # a chat configured twice counts once; one never resolved counts as configured only
    progress = await plan_progress(archive, ["@city_0", "@city_1", "@city_2", "@city_3", "@city_0", "@nowhere"])
    assert {key: progress[key] for key in ("configured", "resolved", "read", "joined", "over_cap", "history_only",
                                           "waiting_to_join")} == {
        "configured": 5, "resolved": 4, "read": 0, "joined": 1, "over_cap": 1, "history_only": 1,
        "waiting_to_join": 1}
    assert (progress["account"]["channels"], progress["account"]["cap"]) == (499, 500)
    nothing = await plan_progress(archive, [])
    assert (nothing["configured"], nothing["resolved"], nothing["waiting_to_join"]) == (0, 0, 0)
    with pytest.raises(ValueError, match="unknown membership state 'left'"):
        await save_membership(archive, chats[3].id, "left")


# ---- settings -------------------------------------------------------------------------------------

@pytest.mark.parametrize("variable, value", [("DOZOR_RATE_JOIN", "0"), ("DOZOR_RATE_RESOLVE", "fast"),
                                             ("DOZOR_CHANNEL_CAP", "-5")])
def test_a_bad_limit_setting_names_its_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as raised:
        load_settings(None)
    assert str(raised.value).startswith(f"{variable}: ")
