"""New chats go through a plan: resolved, then read, then joined, at the budget's pace.

    plan = ChatPlan(client, archive, cap=500, joining=True, is_read=catchup_has_read)
    plan.count(members)         # the channels the account is in, from the dialogs
    plan.offer(chat)            # resolved: catch-up reads it now, the plan joins it once read
    await plan.run()            # a TaskGroup member: settles every offered chat, for ever

Joins are the scarcest request Telegram allows (peers pace one every 12–120 s), and one
account may be in at most `cap` channels and supergroups (CHANNELS_TOO_MUCH past it). So
a public chat is read from history as soon as it is resolved, and joined only afterwards,
one at a time; once the account's seats are taken, the remaining public chats stay read
from history only, and `dozor status` says to add an account.

Every step is persisted (chat_sources, coverage, memberships), so a restart
continues the plan: resolved chats are not looked up again, joined ones not joined again.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Callable

from bot.archive import Archive
from bot.archive.limits import (HISTORY_ONLY, JOINED, OVER_CAP, last_joined_at, save_channel_count,
                                save_membership)
from bot.model import Chat
from bot.telegram.subscriptions import JoinRefused, OverCap, join, membership, track_updates

log = logging.getLogger("dozor.plan")

JOIN = "join"
RECOUNT_AFTER = 300.0  # seconds before the dialogs are read again when they could not be
# Telethon learns a joined channel's pts (and so notices gaps in its updates) only from the
# dialog list: it is read again after a batch of joins, or when no join is ready
RECOUNT_EVERY = 20
JOIN_ATTEMPTS = 3  # failures (network, archive) before a chat is left to history until the next start


def next_step(chat: Chat, *, member: bool, seats_taken: int, cap: int, joining: bool) -> tuple[str, str | None]:
    """What becomes of a resolved chat: (JOIN | JOINED | OVER_CAP | HISTORY_ONLY, reason).

    `seats_taken` counts the channels the account is in plus those already chosen to join.
    """
    if member or not chat.numbers_its_own_messages:
        # basic groups are only reachable as a member, and do not count against the cap
        return JOINED, None
    if not joining:
        return HISTORY_ONLY, "DOZOR_JOIN_CHANNELS is off"
    if not chat.username:
        return HISTORY_ONLY, "private: only an invite can add the account"
    if seats_taken >= cap:
        return OVER_CAP, None
    return JOIN, None


class ChatPlan:
    def __init__(self, client, archive: Archive, *, cap: int, joining: bool, is_read: Callable[[int], bool],
                 on_joined: Callable[[int], None] = lambda chat_id: None):
        self.client = client
        self.archive = archive
        self.cap = cap
        self.joining = joining
        self.is_read = is_read  # has catch-up read the chat since it was resolved?
        self.on_joined = on_joined  # a joined channel has a pts: catch-up moves it to the difference
        self.members: set[int] | None = None  # channels and supergroups the account is in
        self._counted = asyncio.Event()
        self._waiting: dict[int, Chat] = {}  # offered, not settled yet, in the order offered
        self._seats: set[int] = set()  # chosen to join: their seats under the cap are taken
        self._full = False  # Telegram said CHANNELS_TOO_MUCH whatever our count says
        self._wake = asyncio.Event()
        self._joined_since_count = 0
        self._failed: dict[int, int] = {}  # chat → joins that failed for reasons Telegram did not give

    def count(self, members: set[int] | None) -> None:
        """The channels the account is in, as the service read them from the dialogs (None
        if it could not: the plan reads them itself)."""
        if members is not None:
            self.members = set(members)
        self._counted.set()

    def offer(self, chat: Chat) -> None:
        """A chat was resolved (in this run or an earlier one): settle it."""
        self._waiting[chat.id] = chat
        self._wake.set()

    @property
    def settled(self) -> bool:
        """Nothing offered is waiting (for tests and benchmarks)."""
        return not self._waiting and not self._joined_since_count

    async def run(self) -> None:
        await self._counted.wait()
        while self.members is None:
            try:
                self.members = await membership(self.client)
            except Exception as error:
                log.warning("could not read the dialog list (%s); joins wait %.0f s", error, RECOUNT_AFTER)
                await asyncio.sleep(RECOUNT_AFTER)
        await self._save_count()
        if (joined_at := await last_joined_at(self.archive)) is not None:
            self.client.budget.last_sent("join", joined_at)  # a crash loop must not speed joins up
        while True:
            self._wake.clear()
            await self._settle_without_requests()
            chat = next((c for c in self._waiting.values() if c.id in self._seats and self.is_read(c.id)), None)
            if chat is None:
                if self._joined_since_count:
                    await self._recount()
                    continue
                # reads end without telling anyone: look again shortly
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 0.5)
                continue
            await self._join(chat)

    async def _settle_without_requests(self) -> None:
        for chat in list(self._waiting.values()):
            if chat.id in self._seats:
                continue
            step, reason = next_step(chat, member=chat.id in self.members, seats_taken=self._seats_taken(),
                                     cap=self.cap, joining=self.joining)
            if step == JOIN:
                self._seats.add(chat.id)
                continue
            del self._waiting[chat.id]
            await save_membership(self.archive, chat.id, step, reason)
            if step == OVER_CAP:
                log.warning("%s: over the account's cap of %d channels; read from history only (add an account)",
                            chat.title, self.cap)
            elif step == HISTORY_ONLY:
                log.info("%s: read from history only (%s)", chat.title, reason)

    def _seats_taken(self) -> int:
        return self.cap if self._full else len(self.members | self._seats)

    async def _join(self, chat: Chat) -> None:
        try:
            await join(self.client, chat.id)
        except OverCap as error:
            log.warning("%s: %s; the rest are read from history only (add an account)", chat.title, error)
            self._full = True
            self._seats.clear()  # nobody else gets a seat now: they are settled as over the cap
            return
        except JoinRefused as error:
            self._seats.discard(chat.id)
            del self._waiting[chat.id]
            log.warning("%s: %s; read from history only", chat.title, error)
            await save_membership(self.archive, chat.id, HISTORY_ONLY, str(error))
            return
        except Exception as error:
            # the network or the archive: the seat stays and the join is tried again, a few times
            reason = f"{type(error).__name__}: {error}"
            self._failed[chat.id] = failures = self._failed.get(chat.id, 0) + 1
            if failures < JOIN_ATTEMPTS:
                log.warning("%s: join failed (%s); trying again shortly", chat.title, reason)
                await asyncio.sleep(5.0 * failures)
                return
            self._seats.discard(chat.id)
            del self._waiting[chat.id]
            log.warning("%s: join failed %d times (%s); read from history only until the next start",
                        chat.title, failures, reason)
            await save_membership(self.archive, chat.id, HISTORY_ONLY, f"join failed: {reason}")
            return
        self._joined_since_count += 1  # first: the plan is not settled until the dialogs are read again
        del self._waiting[chat.id]
        self.members.add(chat.id)
        self._seats.discard(chat.id)
        log.info("joined %s (%d of %d channels)", chat.title, len(self.members), self.cap)
        await save_membership(self.archive, chat.id, JOINED)
        self.on_joined(chat.id)
        if self._joined_since_count >= RECOUNT_EVERY:
            await self._recount()
        else:
            await self._save_count()

    async def _recount(self) -> None:
        members = await track_updates(self.client)
        self._joined_since_count = 0
        if members is not None:
            self.members = members
        await self._save_count()

    async def _save_count(self) -> None:
        await save_channel_count(self.archive, len(self.members), self.cap)

