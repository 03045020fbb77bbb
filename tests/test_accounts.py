"""Several accounts on one archive: leases, chat assignment, failover, media claims and one
digest sender, from the pure rules up to two workers on one PostgreSQL."""
from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

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


def test_with_no_room_anywhere_a_chat_keeps_its_account_and_is_reported():
    plan = assign(CHATS[:2], {"main": Account("main", 1, serving=False, why_not="stopped renewing its lease"),
                              "spare": Account("spare", 1)}, {"@kyiv": "main", "@odesa": "spare"}, {})
    assert plan.assignment == {"@kyiv": "main", "@odesa": "spare"}
    assert plan.unplaced == ["@kyiv"] and not plan.moves


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
    # spare is at its cap of two: main's chats have nowhere to go, and wait for it
    assert spare.mine != set(CHATS)
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
