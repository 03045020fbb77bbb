"""A Service's part in the coordination: the account's lease, its chats, the editors' election.

    coordinator = Coordinator(archive, settings)
    await coordinator.take()             # AccountBusy if another worker holds the account
    await coordinator.signed_in()        # Telegram let the account in: it may serve chats
    await coordinator.settle()           # coordinator.mine: the configured chats it serves
    await coordinator.run()              # a TaskGroup member: renew, settle, elect, every lease/3
    await coordinator.release()          # a clean stop: other workers take over at once

Every third of DOZOR_LEASE_SECONDS the worker renews its lease, settles the assignment (so
the chats of an account that stopped renewing, was logged out or banned move to accounts
with room; see assign.py) and takes or renews the `editors` lease if nobody else holds it.
The Service follows `mine` (the `changed` event) and `leading`.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timezone
from typing import Iterable, Mapping

from bot.accounts.assign import Account, Move, Plan, assign
from bot.accounts.leases import (ACCOUNT, ACTIVE, BANNED, EDITORS, LOGGED_OUT, ROLE, Lease, holder_is_gone,
                                 serving, why_not_serving, worker_id)
from bot.archive import Archive
from bot.archive import assignments as store
from bot.archive import leases as lease_rows
from bot.chat_refs import parse_chat
from bot.lock import AccountBusy

log = logging.getLogger("dozor.accounts")


class LeaseLost(Exception):
    """Another worker took the account's lease: this one must stop serving it."""


def same_chat(a: str, b: str) -> bool:
    """Two ways of writing one chat (`@Kyiv`, `t.me/kyiv`) are the same chat."""
    if a.strip() == b.strip():
        return True
    try:
        first, second = parse_chat(a, bare=True), parse_chat(b, bare=True)
    except ValueError:
        return False
    if first.kind == second.kind == "username":
        return str(first.value).casefold() == str(second.value).casefold()
    return first == second


def pins_of(sources: Iterable[str], pins) -> dict[str, str]:
    """DOZOR_ACCOUNT_PINS (a mapping or (chat, account) pairs) by the DOZOR_CHATS entry each names."""
    pairs = list(pins.items()) if isinstance(pins, Mapping) else list(pins or ())
    found = {}
    for source in sources:
        for chat, account in pairs:
            if same_chat(source, chat):
                found[source] = account
                break
    return found


def accounts_from(leases: list[Lease], now: datetime, default_cap: int) -> dict[str, Account]:
    """The accounts as the assignment sees them, from their lease rows."""
    return {lease.name: Account(lease.name, lease.cap or default_cap, serving(lease, now),
                                why_not_serving(lease, now)) for lease in leases}


class Coordinator:
    def __init__(self, archive: Archive, settings, *, holder: str | None = None):
        self.archive = archive
        self.account = settings.account
        self.holder = holder or worker_id()
        self.seconds = float(settings.lease_seconds)
        self.cap = settings.channel_cap
        self.sources = tuple(settings.chats)
        self.pins = pins_of(self.sources, settings.account_pins)
        # digests, the editors' desk, spike alerts: one elected worker runs them, if anything is set up
        self.editors_wanted = bool(settings.digest_chat) or bool(settings.editors)
        self.mine: set[str] = set()  # the configured chats this account serves
        self.moved_in: dict[str, Move] = {}  # of `mine`, those taken over from another account
        self.changed = asyncio.Event()  # `mine` changed
        self.leading = asyncio.Event()  # set while this worker holds the editors' lease
        self.deposed = asyncio.Event()  # set when it stops holding it
        self.deposed.set()
        self.refused: tuple[str, str] | None = None  # (state, reason) once Telegram refused the account
        self.stopping = asyncio.Event()  # the account can serve no more (refused, or its lease lost)
        self._wake = asyncio.Event()
        self._flood_until = lambda: None
        self.ticks = 0  # rounds completed (for status and tests)
        self._unplaced: list[str] = []  # told once, not every round

    def every(self) -> float:
        return self.seconds / 3

    # ---- the account's lease -------------------------------------------------------------

    async def take(self) -> None:
        """Hold the account's lease, or AccountBusy naming the worker that does."""
        lease, now = await lease_rows.take(self.archive, ACCOUNT, self.account, self.holder, self.seconds,
                                           cap=self.cap)
        if lease.holder != self.holder and holder_is_gone(lease.holder):
            log.info("account %s: its last worker (%s) is gone; taking its lease", self.account, lease.holder)
            lease, now = await lease_rows.take(self.archive, ACCOUNT, self.account, self.holder, self.seconds,
                                               cap=self.cap, take_from=lease.holder)
        if lease.holder != self.holder:
            left = (lease.lease_until - now).total_seconds() if lease.lease_until else 0
            raise AccountBusy(
                f"account {self.account} is already served by another dozor ({lease.holder}), whose lease runs "
                f"{left:.0f} s more; stop that worker first, or wait for its lease to lapse")
        log.info("account %s: lease taken (%s, %.0f s)", self.account, self.holder, self.seconds)

    async def signed_in(self) -> None:
        """Telegram let the account in: whatever it said before (logged out, banned) is over."""
        await lease_rows.set_state(self.archive, self.account, ACTIVE, None)

    def watch_floods(self, flood_until) -> None:
        """`flood_until()`: the end of the account's longest flood wait, shown by `dozor accounts`."""
        self._flood_until = flood_until

    def account_state(self, state: str, reason: str | None = None) -> None:
        """Telegram says the account is logged out or banned (called by the client): its chats
        go to accounts with room, and this worker stops serving it."""
        if state not in (LOGGED_OUT, BANNED) or self.refused is not None:
            return
        self.refused = (state, reason or "")
        log.error("account %s is %s (%s): its chats go to other accounts; %s", self.account,
                  "logged out" if state == LOGGED_OUT else "banned", reason or "no reason given",
                  f"run `dozor login --account {self.account}`" if state == LOGGED_OUT else
                  "see Telegram's notice to the account")
        self._wake.set()

    async def release(self) -> None:
        for kind, name in ((ROLE, EDITORS), (ACCOUNT, self.account)):
            try:
                await lease_rows.release(self.archive, kind, name, self.holder)
            except Exception as error:
                log.warning("lease %s %s not released (%s): it lapses by itself", kind, name, error)
        self.leading.clear()
        self.deposed.set()

    # ---- the assignment -------------------------------------------------------------------

    def _decide(self, current: dict[str, str], leases: list[Lease], now: datetime) -> Plan:
        return assign(self.sources, accounts_from(leases, now, self.cap), current, self.pins)

    async def settle(self) -> Plan:
        """Settle who serves which chat (in one transaction), log the moves, update `mine`."""
        plan, _ = await store.settle(self.archive, self._decide)
        for move in plan.moves:
            if move.from_account is None:
                log.info("chat %s: served by account %s", move.source, move.to_account)
            else:
                log.warning("chat %s moved from account %s to %s: %s", move.source, move.from_account,
                            move.to_account, move.reason)
        if plan.unplaced and plan.unplaced != self._unplaced:
            log.warning("%d chats have no account with room (%s%s): add an account or raise DOZOR_CHANNEL_CAP",
                        len(plan.unplaced), ", ".join(plan.unplaced[:5]), " …" if len(plan.unplaced) > 5 else "")
        self._unplaced = plan.unplaced
        mine = set(plan.chats_of(self.account)) if self.refused is None else set()
        for move in plan.moves:
            if move.to_account == self.account and move.from_account is not None:
                self.moved_in[move.source] = move
        if mine != self.mine:
            self.mine = mine
            self.changed.set()
        return plan

    # ---- the loop -------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except LeaseLost:
                raise
            except Exception as error:
                # the database out of reach: the lease lapses if it stays so, and others take over
                log.warning("account %s: lease not renewed (%s); trying again in %.0f s", self.account, error,
                            self.every())
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.every())

    async def tick(self) -> None:
        if self.refused is not None and not self.stopping.is_set():
            await lease_rows.set_state(self.archive, self.account, *self.refused)
        elif not await lease_rows.renew(self.archive, ACCOUNT, self.account, self.holder, self.seconds,
                                        flood_until=self._flood_until()):
            self.stopping.set()
            raise LeaseLost(f"account {self.account}: another worker took its lease (this one did not renew it "
                            f"within {self.seconds:.0f} s); stopping")
        await self.settle()
        if self.refused is not None:
            self.stopping.set()
            return
        await self.elect()
        self.ticks += 1

    async def elect(self) -> None:
        """Take or renew the editors' lease if nobody else holds it; `leading` follows."""
        if not self.editors_wanted or self.refused is not None:
            return
        lease, _ = await lease_rows.take(self.archive, ROLE, EDITORS, self.holder, self.seconds)
        if lease.holder == self.holder and not self.leading.is_set():
            log.info("account %s: this worker sends the digests and runs the editors' desk", self.account)
            self.deposed.clear()
            self.leading.set()
        elif lease.holder != self.holder and self.leading.is_set():
            log.warning("account %s: another worker (%s) now sends the digests", self.account, lease.holder)
            self.leading.clear()
            self.deposed.set()

    async def still_leading(self) -> bool:
        """Checked in the database right before a digest is sent: the lease is still ours."""
        if not self.leading.is_set():
            return False
        lease, _ = await lease_rows.take(self.archive, ROLE, EDITORS, self.holder, self.seconds)
        return lease.holder == self.holder


def flood_end(budget) -> datetime | None:
    """The end of the longest flood wait still running on a client's budget."""
    now = datetime.now(timezone.utc)
    ends = [wait.until for wait in budget.floods.values() if wait.until > now]
    return max(ends, default=None)
