"""Several accounts on one archive: leases, chat assignment, failover, media claims and one
digest sender, from the pure rules up to two workers on one PostgreSQL."""
from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta, timezone

import pytest

from bot.accounts.assign import Account, assign
from bot.accounts.coordinator import Coordinator, pins_of
from bot.accounts.leases import ACCOUNT, BANNED, EDITORS, LOGGED_OUT, ROLE, account_state, worker_id
from bot.archive import assignments, leases, media_claims
from bot.archive import utcnow
from bot.lock import AccountBusy

CHATS = ("@kyiv", "@odesa", "@lviv", "@dnipro")


# ---- who serves which chat (pure) ------------------------------------------------------------

def test_chats_are_split_between_accounts_under_their_caps_and_balanced():
    plan = assign(CHATS, {"main": Account("main", cap=2), "spare": Account("spare", cap=2)}, {}, {})
    assert sorted(plan.chats_of("main")) == ["@kyiv", "@lviv"]
    assert sorted(plan.chats_of("spare")) == ["@dnipro", "@odesa"]
    assert all(m.from_account is None and m.reason == "new chat" for m in plan.moves)


def test_an_assignment_stays_across_restarts_even_when_a_newcomer_has_more_room():
    current = {"@kyiv": "main", "@odesa": "main"}
    plan = assign(CHATS[:2], {"main": Account("main", 500), "spare": Account("spare", 500)}, current, {})
    assert plan.assignment == current and not plan.moves


def test_the_chats_of_an_account_that_stopped_serving_go_to_accounts_with_room():
    current = {"@kyiv": "main", "@odesa": "main", "@lviv": "spare"}
    accounts = {"main": Account("main", 5, serving=False, why_not="is banned (USER_DEACTIVATED_BAN)"),
                "spare": Account("spare", 2), "third": Account("third", 5)}
    plan = assign(CHATS[:3], accounts, current, {})
    assert plan.assignment == {"@kyiv": "third", "@odesa": "spare", "@lviv": "spare"} or \
        plan.assignment == {"@kyiv": "spare", "@odesa": "third", "@lviv": "spare"}
    assert {(m.source, m.from_account) for m in plan.moves} == {("@kyiv", "main"), ("@odesa", "main")}
    assert all(m.reason == "main is banned (USER_DEACTIVATED_BAN)" for m in plan.moves)


def test_with_no_room_anywhere_a_new_chat_is_served_over_a_cap_and_a_left_one_waits():
    accounts = {"main": Account("main", 1, serving=False, why_not="stopped renewing its lease"),
                "spare": Account("spare", 1)}
    plan = assign(CHATS[:3], accounts, {"@kyiv": "main", "@odesa": "spare"}, {})
    # @kyiv waits for main; @lviv, new, is read by spare over its cap (from history only)
    assert plan.assignment == {"@kyiv": "main", "@odesa": "spare", "@lviv": "spare"}
    assert plan.unplaced == ["@kyiv", "@lviv"]
    assert [(m.source, m.reason) for m in plan.moves] == \
        [("@lviv", "new chat; no account has room, so it is read from history only")]
    # an account with room that comes later takes both; what is within a cap stays
    roomy = assign(CHATS[:3], {**accounts, "third": Account("third", 5)}, plan.assignment, {})
    assert roomy.assignment == {"@kyiv": "third", "@odesa": "spare", "@lviv": "third"} and not roomy.unplaced


def test_pins_are_honoured_and_a_pinned_chat_returns_once_its_account_serves_again():
    pins = pins_of(CHATS, [("t.me/Kyiv", "spare")])
    assert pins == {"@kyiv": "spare"}
    both = {"main": Account("main", 10), "spare": Account("spare", 10)}
    assert assign(CHATS, both, {"@kyiv": "main"}, pins).assignment["@kyiv"] == "spare"
    down = {"main": Account("main", 10), "spare": Account("spare", 10, serving=False, why_not="is logged out")}
    away = assign(CHATS, down, {}, pins)
    assert away.assignment["@kyiv"] == "main"
    assert away.moves[0].reason == "pinned to spare, but spare is logged out"
    back = assign(CHATS, both, away.assignment, pins)
    assert back.assignment["@kyiv"] == "spare"
    assert [(m.source, m.from_account, m.to_account, m.reason) for m in back.moves] == \
        [("@kyiv", "main", "spare", "pinned to spare")]


# ---- leases in the archive (both backends) -----------------------------------------------------

async def test_a_second_worker_for_an_account_is_refused_until_the_first_releases_it(archive):
    first, second = worker_id(), worker_id()
    held, _ = await leases.take(archive, ACCOUNT, "main", first, 180, cap=2)
    assert held.holder == first and held.cap == 2
    refused, _ = await leases.take(archive, ACCOUNT, "main", second, 180)
    assert refused.holder == first
    assert await leases.renew(archive, ACCOUNT, "main", first, 180)
    assert not await leases.renew(archive, ACCOUNT, "main", second, 180)
    await leases.release(archive, ACCOUNT, "main", first)
    taken, _ = await leases.take(archive, ACCOUNT, "main", second, 180)
    assert taken.holder == second
    assert not await leases.renew(archive, ACCOUNT, "main", first, 180)  # the first lost it


async def test_a_lapsed_lease_is_taken_over_and_states_are_kept(archive):
    gone, standby = worker_id(), worker_id()
    await leases.take(archive, ACCOUNT, "main", gone, -1)  # its end already passed: lapsed
    rows, now = await leases.load(archive)
    assert account_state(rows[0], now) == "lease lapsed"
    await leases.set_state(archive, "main", LOGGED_OUT, "AUTH_KEY_UNREGISTERED")
    taken, now = await leases.take(archive, ACCOUNT, "main", standby, 180)
    assert taken.holder == standby and account_state(taken, now) == "logged out"
    await leases.set_state(archive, "main", BANNED, "USER_DEACTIVATED_BAN")
    rows, now = await leases.load(archive)
    assert account_state(rows[0], now) == "banned"


async def test_an_account_under_a_flood_wait_is_shown_flood_waiting_until_it_ends(archive):
    holder = worker_id()
    _, now = await leases.take(archive, ACCOUNT, "main", holder, 3600)
    assert await leases.renew(archive, ACCOUNT, "main", holder, 3600, flood_until=now + timedelta(minutes=5))
    rows, now = await leases.load(archive)
    assert account_state(rows[0], now) == "flood-waiting"
    assert account_state(rows[0], now + timedelta(minutes=6)) == "active"


async def test_the_database_clock_judges_leases(archive):
    lease, now = await leases.take(archive, ROLE, EDITORS, worker_id(), 60)
    assert abs((now - utcnow()).total_seconds()) < 5
    assert timedelta(seconds=58) <= lease.lease_until - now <= timedelta(seconds=61)


# ---- the assignment in the archive (both backends) ---------------------------------------------

def _settings(settings, account: str, **changes):
    return replace(settings, **{"chats": CHATS, "channel_cap": 2, "account": account, "lease_seconds": 3, **changes})


async def test_two_workers_starting_together_agree_and_a_stopped_ones_chats_move(archive, settings):
    main, spare = Coordinator(archive, _settings(settings, "main")), Coordinator(archive, _settings(settings, "spare"))
    await asyncio.gather(main.take(), spare.take())
    await asyncio.gather(main.signed_in(), spare.signed_in())
    await asyncio.gather(main.settle(), spare.settle())
    await main.settle()
    assert len(main.mine) == len(spare.mine) == 2 and not main.mine & spare.mine
    assert set(await assignments.assignment(archive)) == set(CHATS)
    taken = set(main.mine)
    await main.release()
    await spare.settle()
    # spare is at its cap of two: main's chats wait for main, or for an account with room
    assert spare.mine == set(CHATS) - taken
    third = Coordinator(archive, _settings(settings, "third", channel_cap=5))
    await third.take()
    await third.signed_in()
    await third.settle()
    assert third.mine == taken
    moves = await assignments.recent_moves(archive)
    assert {(m.source, m.from_account, m.to_account) for m in moves[:2]} == {(s, "main", "third") for s in taken}
    assert all(m.reason == "main was stopped" for m in moves[:2])


async def test_a_second_coordinator_for_the_same_account_is_refused_with_the_holder_named(archive, settings):
    first = Coordinator(archive, _settings(settings, "main"))
    await first.take()
    with pytest.raises(AccountBusy, match=rf"account main is already served by another dozor \({first.holder}\)"):
        await Coordinator(archive, _settings(settings, "main")).take()


# ---- media claims (both backends) --------------------------------------------------------------

async def test_two_workers_never_claim_the_same_download_and_an_expired_claim_is_taken_over(archive):
    from bot.archive import media as queue
    from bot.model import Chat, MediaRef, Post
    from tests.archive_samples import T0, hit

    chat = Chat(id=-1001234567890, title="Київ", username="kyiv")
    await archive.save_chat(chat, "@kyiv")
    text = "ТЦК пакують біля метро"
    for n in range(1, 5):
        await archive.ingest(chat, [(Post(chat.id, n, T0, text, media=MediaRef("photo", 100 + n, "image/jpeg", 10)),
                                     hit("busification", text, "пакують"))])
    first, second = worker_id(), worker_id()
    now = utcnow()
    mine = await media_claims.claim_due(archive, first, [chat.id], now, limit=3)
    theirs = await media_claims.claim_due(archive, second, [chat.id], now, limit=3)
    assert len(mine) == 3 and len(theirs) == 1
    assert not {i.id for i in mine} & {i.id for i in theirs}
    assert await media_claims.claim_due(archive, second, [chat.id], now, limit=3) == theirs  # its own again
    # a finished item is never claimed again, even once its claim has run out
    await queue.mark_done(archive, mine[0].id, "a" * 64, "aa/a.jpg", 10)
    # the first worker dies: claims that run out at once stand for its lapsed ones
    await media_claims.release(archive, first, [i.id for i in mine])
    taken = await media_claims.claim_due(archive, second, [chat.id], now, limit=5, seconds=-1)
    assert {i.id for i in taken} == {i.id for i in mine[1:]} | {i.id for i in theirs}
    assert {i.id for i in await media_claims.claim_due(archive, first, [chat.id], now, limit=5)} == \
        {i.id for i in taken}  # the second's claims ran out (seconds=-1): taken over
    assert await media_claims.claim_due(archive, first, [-100999], now, limit=5) == []  # not its chats


# ---- two accounts, two workers, one archive ----------------------------------------------------

MATCHING = "Біля метро Лівобережна ТЦК роздають повістки і пакують чоловіків у бус"


class ShiftedClock:
    """Real time, moved forward by the test: the digest's time comes without waiting for it."""

    def __init__(self):
        self.shift = timedelta(0)

    def __call__(self):
        return utcnow() + self.shift


class Worker:
    """One worker (a Service for one account) in a background task."""

    def __init__(self, settings, fake, **options):
        from bot.service import Service

        self.service = Service(settings, client_options={"connection": fake.connection}, history_wait=0, **options)
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(self.service.run(self.stop))

    async def started(self) -> "Worker":
        from tests.conftest import eventually

        await eventually(lambda: self.task.done() or self.service.ready.is_set(), "the worker to start")
        if self.task.done():
            self.task.result()
        return self

    def chats(self) -> set[int]:
        return set(self.service.ingestor.chats) if self.service.ingestor else set()

    async def stopped(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 30)


def _two_accounts(fake, settings, chats: int, cap: int, spare_cap: int | None = None, **changes):
    """Accounts `main` (in at most `cap` channels) and `spare` (`spare_cap`, default the same)."""
    spare_cap = spare_cap or cap
    fake.add_account("spare", channel_cap=spare_cap)
    fake.channel_cap = cap
    fake.authorise_session(str(settings.storage / "dozor-spare.session"), account="spare")
    channels = [fake.add_channel(username=f"city_{n}", title=f"Місто {n}") for n in range(chats)]
    base = replace(settings, chats=tuple(f"@city_{n}" for n in range(chats)), lease_seconds=3, **changes)
    return channels, replace(base, account="main", channel_cap=cap), \
        replace(base, account="spare", channel_cap=spare_cap)


async def test_two_workers_split_the_chats_fetch_each_file_once_send_one_digest_and_fail_over(fake, backend,
                                                                                             settings):
    from zoneinfo import ZoneInfo

    from bot.archive import Archive
    from tests.conftest import eventually

    kyiv = ZoneInfo("Europe/Kyiv")
    from bot.telegram import publish

    # the digest bot posts to the editors: the accounts' seats are all for the chats they serve
    editors = fake.add_channel(username="editors", title="Редакція")
    editors.members.add(fake.bot.id)
    fake.unauthorised_session(str(settings.storage / publish.BOT_SESSION))
    due = (utcnow().astimezone(kyiv) + timedelta(hours=2)).replace(second=0, microsecond=0)
    channels, main_settings, spare_settings = _two_accounts(
        fake, settings, chats=4, cap=2, spare_cap=4, digest_chat="@editors", digest_time=due.time(), digest_tz=kyiv,
        digest_bot_token=fake.BOT_TOKEN)
    clock = ShiftedClock()
    main = await Worker(main_settings, fake, clock=clock, digest_tick=0.2).started()
    spare = await Worker(spare_settings, fake, clock=clock, digest_tick=0.2).started()
    archive = await Archive.open(settings.archive_location)
    try:
        # main, first, takes as many as its cap of two allows; spare the rest, and is in only those
        await eventually(lambda: len(main.chats()) == 2 and len(spare.chats()) == 2, "the chats to be split")
        assert not main.chats() & spare.chats()
        await eventually(lambda: fake.channels_joined("main") == 2 and fake.channels_joined("spare") == 2,
                         "each account to join its two chats")
        photos = [fake.post(c, f"{MATCHING} ({n})", media=fake.photo(bytes([n]) * 4000))
                  for n, c in enumerate(channels)]
        for channel, post in zip(channels, photos):
            await eventually(lambda: archive.message(channel.marked_id, post.id), "every post to be archived")

        async def all_stored() -> bool:
            return (await archive.scalar("SELECT COUNT(*) FROM media WHERE status = 'done'")) == 4

        await eventually(all_stored, "every photo to be stored")
        fetched = [c.request.location.id for c in fake.calls
                   if c.name == "GetFileRequest" and c.request.offset == 0]
        assert len(fetched) == len(set(fetched)) == 4  # no file fetched twice

        # one digest for the period, from whichever worker is elected
        clock.shift = due.astimezone(timezone.utc) - utcnow() + timedelta(seconds=1)

        async def sent() -> bool:
            return await archive.scalar("SELECT COUNT(*) FROM digests WHERE sent_at IS NOT NULL") == 1

        await eventually(sent, "the digest", limit=60)
        rounds = (main.service.coordinator.ticks, spare.service.coordinator.ticks)
        await eventually(lambda: main.service.coordinator.ticks > rounds[0] + 2
                         and spare.service.coordinator.ticks > rounds[1] + 2, "both workers to look again")
        parts = await archive.scalar("SELECT COUNT(*) FROM digest_parts")
        assert len(fake.sent(editors)) == parts
        assert all(f"({n})" in "\n".join(m.message for m in fake.sent(editors)) for n in range(4))

        # main stops: spare serves its chats within the lease, and what was posted meanwhile is archived
        left = {c for c in channels if c.marked_id in main.chats()}
        await main.stopped()
        meanwhile = [(c, fake.post(c, f"{MATCHING} (поки нікого)")) for c in left]
        await eventually(lambda: {c.marked_id for c in channels} <= spare.chats(), "spare to serve every chat",
                         limit=3 * 3)
        for channel, post in meanwhile:
            await eventually(lambda: archive.message(channel.marked_id, post.id), "the post made meanwhile")
        moves = await assignments.recent_moves(archive)
        assert {(m.from_account, m.to_account, m.reason) for m in moves[:len(left)]} == \
            {("main", "spare", "main was stopped")}
        # coverage showed the gap while nobody read those chats, and spare's catch-up repaired it
        from bot.archive.coverage import load_coverage
        from bot.coverage import gap_open

        async def repaired() -> bool:
            rows = await load_coverage(archive, [c.marked_id for c in left])
            return all(r.gap_found_at is not None and not gap_open(r) for r in rows.values())

        await eventually(repaired, "the gap of the moved chats to be repaired")
    finally:
        await archive.close()
        for worker in (main, spare):
            if not worker.task.done():
                await worker.stopped()


async def test_a_second_worker_for_the_same_account_is_refused_naming_the_account(fake, backend, settings,
                                                                                    tmp_path):
    from pathlib import Path

    from bot.lock import AlreadyRunning

    channels, main_settings, _ = _two_accounts(fake, settings, chats=1, cap=5)
    main = await Worker(main_settings, fake).started()
    try:
        if isinstance(backend, Path):
            # one machine: the storage lock of the account refuses it before the archive is opened
            second = replace(main_settings)
            refusal = AlreadyRunning
        else:
            # another machine sharing the PostgreSQL archive: the account's lease refuses it
            elsewhere = tmp_path / "elsewhere"
            elsewhere.mkdir()
            fake.authorise_session(str(elsewhere / "dozor.session"))
            second = replace(main_settings, storage=elsewhere)
            refusal = AccountBusy
        other = Worker(second, fake)
        with pytest.raises(refusal) as refused:
            await asyncio.wait_for(other.task, 30)
        if refusal is AccountBusy:
            assert f"account main is already served by another dozor ({main.service.coordinator.holder})" in \
                str(refused.value)
        assert main.service.ready.is_set() and not main.task.done()
    finally:
        await main.stopped()


async def test_a_banned_accounts_chats_move_to_the_account_with_room(fake, backend, settings):
    from bot.archive import Archive
    from tests.conftest import eventually

    # polled every second: the ban is met at the next look at a chat
    channels, main_settings, spare_settings = _two_accounts(fake, settings, chats=4, cap=2, spare_cap=4,
                                                            catchup_interval=1.0)
    main = await Worker(main_settings, fake).started()
    spare = await Worker(spare_settings, fake).started()
    archive = await Archive.open(settings.archive_location)
    try:
        await eventually(lambda: len(main.chats()) == 2 and len(spare.chats()) == 2, "the chats to be split")
        held = {c for c in channels if c.marked_id in main.chats()}
        fake.ban("main")
        await eventually(lambda: {c.marked_id for c in channels} <= spare.chats(), "spare to serve main's chats")
        # main's worker stops by itself, saying why: its account can do nothing
        from bot.telegram.client import NotLoggedIn

        with pytest.raises(NotLoggedIn, match="account main cannot be used"):
            await asyncio.wait_for(main.task, 30)
        post = fake.post(next(iter(held)), f"{MATCHING} (після бану)")
        await eventually(lambda: archive.message(post.peer_id.channel_id and next(iter(held)).marked_id, post.id),
                         "the post to be archived by spare")
        moves = await assignments.recent_moves(archive)
        assert {(m.from_account, m.to_account) for m in moves[:2]} == {("main", "spare")}
        assert all(m.reason.startswith("main is banned") for m in moves[:2])
        rows, now = await leases.load(archive)
        assert {r.name: account_state(r, now) for r in rows} == {"main": "banned", "spare": "active"}
    finally:
        await archive.close()
        for worker in (main, spare):
            if not worker.task.done():
                await worker.stopped()


async def test_pinned_chats_go_to_their_account_even_when_another_started_first(fake, backend, settings):
    from tests.conftest import eventually

    channels, main_settings, spare_settings = _two_accounts(
        fake, settings, chats=3, cap=5, account_pins=(("@city_0", "spare"), ("t.me/city_2", "spare")))
    main = await Worker(main_settings, fake).started()
    try:
        # spare is not running yet: nothing is left unread meanwhile
        assert main.chats() == {c.marked_id for c in channels}
        spare = await Worker(spare_settings, fake).started()
        try:
            pinned = {channels[0].marked_id, channels[2].marked_id}
            await eventually(lambda: spare.chats() == pinned and main.chats() == {channels[1].marked_id},
                             "the pinned chats to move to spare")
        finally:
            await spare.stopped()
    finally:
        await main.stopped()


async def test_dozor_accounts_shows_chats_cap_state_worker_and_the_moves(archive, backend, settings):
    from bot.commands.accounts import collect, render

    configured = replace(_settings(settings, "main"), accounts=("main", "spare", "later"), channel_cap=3)
    main, spare = Coordinator(archive, configured), Coordinator(archive, replace(configured, account="spare"))
    for worker in (main, spare):
        await worker.take()
        await worker.signed_in()
    await main.settle()
    await spare.settle()
    await leases.set_state(archive, "main", LOGGED_OUT, "AUTH_KEY_UNREGISTERED: the account was logged out")
    await spare.settle()
    report = await collect(configured)
    shown = {a["name"]: (a["state"], a["chats"], a["cap"], a["holder"]) for a in report["accounts"]}
    # spare had room for one of main's two chats; the other waits for main or for room
    assert shown == {"main": ("logged out", 1, 3, main.holder), "spare": ("active", 3, 3, spare.holder),
                     "later": ("never started", 0, 3, None)}
    assert report["unassigned"] == []
    text = render(report)
    assert "main: AUTH_KEY_UNREGISTERED: the account was logged out" in text
    assert "main → spare (main is logged out (AUTH_KEY_UNREGISTERED: the account was logged out))" in text


async def test_one_process_runs_every_account_and_a_stop_ends_them_all(fake, settings):
    from bot.archive import Archive
    from bot.service import run_accounts
    from tests.conftest import eventually

    channels, main_settings, _ = _two_accounts(fake, settings, chats=4, cap=2)
    stop = asyncio.Event()
    task = asyncio.create_task(run_accounts(main_settings, ["main", "spare"], stop,
                                            client_options={"connection": fake.connection}, history_wait=0))
    try:
        await eventually(lambda: fake.channels_joined("main") == 2 and fake.channels_joined("spare") == 2,
                         "both accounts to join their chats")
        posts = [(c, fake.post(c, MATCHING)) for c in channels]
        async with Archive.opened(settings.archive_location) as archive:
            for channel, post in posts:
                await eventually(lambda: archive.message(channel.marked_id, post.id), "every post to be archived")
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    async with Archive.opened(settings.archive_location) as archive:
        rows, now = await leases.load(archive)
    assert {r.name: account_state(r, now) for r in rows} == {"main": "stopped", "spare": "stopped"}


def test_each_account_has_its_own_storage_lock(settings):
    from bot.lock import AlreadyRunning, StorageLock

    spare = replace(settings, account="spare")
    assert settings.lock_path.name == "dozor.lock" and spare.lock_path.name == "dozor-spare.lock"
    with StorageLock(settings.lock_path), StorageLock(spare.lock_path, account="spare"):
        # `dozor login --account spare` or a worker for spare beside a running main: allowed;
        # a second one for spare is not
        with pytest.raises(AlreadyRunning, match="already running for account spare"):
            with StorageLock(spare.lock_path, account="spare"):
                pass
