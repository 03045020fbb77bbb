"""Bringing chats up to date: at start, after a gap or a reconnect, on each chat's polling
cadence, and for the digest.

    catchup = CatchUp(client, ingestor, coverage, archive, backfill=timedelta(hours=24))
    catchup.request(chat_id)
    await catchup.run()                      # a TaskGroup member: workers and the poller
    await catchup.bring_up_to(period_end)    # the digest's question: every chat read up to it?

A joined channel is caught up the way Telegram's own apps do it: `getChannelDifference`
from the stored pts returns the new messages, edits and deletions since, however far below
the checkpoint they fall. History is read where there is no pts (a new chat, a chat not
joined, a basic group) or after ChannelDifferenceTooLong; a read is bounded by the newest id
when it starts, so a busy chat cannot hold up the others. Several chats are read at once
(`workers`).

Polling: a chat whose last difference brought news that never arrived live (Telegram pushes
no updates for large channels) is polled again after the server's `timeout`; after each
poll without such news the interval doubles, up to `quiet_after`, so chats whose updates
flow live, and quiet ones, cost one request every `quiet_after` seconds. Chats without a pts
are re-read from history on the quiet cadence; there, the last RECHECK messages below the
checkpoint are re-read for edits, and a message missing from history is marked deleted only
once getMessages confirms it.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta, timezone
from typing import Callable

from bot.archive import Archive, utcnow
from bot.backoff import Backoff
from bot.coverage import Coverage
from bot.ingest import Ingestor
from bot.model import Chat
from bot.telegram.difference import ChannelState, NoDifference, channel_difference, channel_states
from bot.telegram.history import Page, confirm_deleted, newest_id, read_since

log = logging.getLogger("dozor.catchup")

RECHECK = 50  # messages below the checkpoint re-read for edits and deletions, where there is no pts
WORKERS = 8  # chats read at once
PAGES_PER_TURN = 20  # difference pages one read takes before the chat goes to the back of the queue
BIG_POLL = 30.0  # seconds between polls of a chat without live updates when Telegram gives no timeout
CHAT_RETRY = Backoff(first=30, cap=3600)  # a failing chat is read again less and less often


class CatchUp:
    def __init__(self, client, ingestor: Ingestor, coverage: Coverage, archive: Archive, backfill: timedelta,
                 quiet_after: float = 900.0, wait_time: float = 1.0, workers: int = WORKERS,
                 clock: Callable[[], datetime] = utcnow):
        self.client = client
        self.ingestor = ingestor
        self.coverage = coverage
        self.archive = archive
        self.backfill = backfill
        self.quiet_after = quiet_after
        self.wait_time = wait_time
        self.workers = workers
        self.clock = clock  # the moment a read begins is what it makes the chat complete up to
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._pending: dict[int, bool] = {}  # chat id → recheck wanted
        self._reading: set[int] = set()
        self._changed = asyncio.Event()  # a read finished: bring_up_to looks again
        self._next_poll: dict[int, float] = {}  # chat → loop time of its next poll
        self._interval: dict[int, float] = {}  # chat → seconds between its polls, as last set
        self._failing: dict[int, tuple[str, int]] = {}  # chat → (reason, failures so far)
        self._states: dict[int, ChannelState] = {}  # joined channels' pts, read in batches
        self._no_dialog: dict[int, float] = {}  # chat → loop time it was found not joined
        self.rounds = 0  # completed reads, for status and tests
        self.started = asyncio.Event()  # set once the chats are known and primed

    # ---- asking -------------------------------------------------------------------------

    def request(self, chat_id: int, recheck: bool = False) -> None:
        """Ask for a read; repeated requests for a chat already waiting are merged."""
        if chat_id not in self.ingestor.chats:
            return
        if chat_id in self._pending:
            self._pending[chat_id] |= recheck
            return
        self._pending[chat_id] = recheck
        self._queue.put_nowait(chat_id)

    def request_all(self, recheck: bool = False) -> None:
        for chat_id in self.ingestor.chats:
            self.request(chat_id, recheck)

    @property
    def idle(self) -> bool:
        return not self._pending and not self._reading

    @property
    def busy(self) -> bool:
        return bool(self._reading)

    async def prime(self, chat_ids: list[int]) -> None:
        """Learn the pts of joined channels that have none yet, 100 to a request, so that new
        chats need no request each for it."""
        wanted = [c for c in chat_ids if self.coverage.pts(c) is None and c not in self._states]
        if wanted:
            self._states.update(await channel_states(self.client, wanted))
            now = asyncio.get_running_loop().time()
            for chat_id in wanted:
                if chat_id not in self._states:  # not a member: history only, asked again later
                    self._no_dialog[chat_id] = now

    def joined(self, chat_id: int) -> None:
        """The account has just joined this chat: its pts can be learnt now, so its next read
        moves it from history to the difference."""
        self._no_dialog.pop(chat_id, None)
        self.request(chat_id)

    async def start(self) -> None:
        """Chats are known: prime them in batches, then let reading and polling begin."""
        try:
            await self.prime(list(self.ingestor.chats))
        except Exception as error:
            log.warning("could not read the channels' update state (%s); reading from history", error)
        self.started.set()

    async def bring_up_to(self, moment: datetime, limit: float) -> bool:
        """Read every chat not yet complete up to `moment`; True once all are, False if
        `limit` seconds pass first (the digest then waits for its next look)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        asked = False
        while True:
            behind = self.coverage.behind(moment)
            if not behind:
                return True
            if not asked:
                log.info("bringing %d chats up to %s", len(behind), moment.isoformat(timespec="seconds"))
                for chat_id in behind:
                    if chat_id not in self._reading:
                        self.request(chat_id)
                asked = True
            elif self.idle:
                # a read that began before `moment` finished but did not get there: once more
                asked = False
            left = deadline - loop.time()
            if left <= 0:
                return False
            self._changed.clear()
            # woken by a finished read, or after 5 s to look again all the same
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 5.0))

    # ---- the tasks ----------------------------------------------------------------------

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            for n in range(self.workers):
                tasks.create_task(self._worker(), name=f"catch-up {n + 1}")
            tasks.create_task(self._poller(), name="poller")

    async def _worker(self) -> None:
        await self.started.wait()
        while True:
            chat_id = await self._queue.get()
            recheck = self._pending.pop(chat_id, False)
            self._reading.add(chat_id)
            try:
                again = await self.read(chat_id, recheck)
                self._failing.pop(chat_id, None)
                if again:
                    self.request(chat_id)  # more to read: after the others
            except Exception as error:
                # one chat failing (banned, deleted, network, a full disk) never stops the
                # others; it is tried again later, less often while it keeps failing
                await self._failed(chat_id, f"{type(error).__name__}: {error}")
            finally:
                self._reading.discard(chat_id)
                self.rounds += 1
                self._changed.set()

    async def _failed(self, chat_id: int, reason: str) -> None:
        chat = self.ingestor.chats.get(chat_id)
        previous, failures = self._failing.get(chat_id, ("", 0))
        delay = CHAT_RETRY(failures)
        self._failing[chat_id] = (reason, failures + 1)
        self._next_poll[chat_id] = asyncio.get_running_loop().time() + delay
        log.warning("catch-up of %s failed: %s (next try in %.0f s)", chat.title if chat else chat_id, reason, delay)
        if reason != previous:  # one row per kind of trouble, not one per attempt
            try:
                await self.archive.record_failure("catchup", reason, chat_id)
            except Exception:
                log.exception("could not record the failure of chat %s", chat_id)

    def due(self, now: float) -> list[int]:
        """Chats whose poll is due at loop time `now` (never polled: due at once)."""
        return [c for c in self.ingestor.chats if self._next_poll.get(c, 0.0) <= now
                and c not in self._pending and c not in self._reading]

    async def _poller(self) -> None:
        await self.started.wait()
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            for chat_id in self.due(now):
                self.request(chat_id)
            upcoming = [t for c, t in self._next_poll.items() if c in self.ingestor.chats and t > now]
            await asyncio.sleep(max(0.05, min([*upcoming, now + 1.0]) - now))

    def _cadence(self, chat_id: int, timeout: float | None, news: bool, heard_before) -> float:
        """Seconds to the next poll: the server's `timeout` after news that never came live
        (Telegram is not pushing this chat's updates), then twice as long after each poll
        without such news, up to `quiet_after`."""
        floor = min(timeout or BIG_POLL, self.quiet_after)
        unheard = news and self.coverage.heard_live.get(chat_id) == heard_before
        interval = floor if unheard else min(self._interval.get(chat_id, floor / 2) * 2, self.quiet_after)
        self._interval[chat_id] = interval
        return interval

    def _schedule(self, chat_id: int, seconds: float) -> None:
        self._next_poll[chat_id] = asyncio.get_running_loop().time() + seconds

    # ---- reading ------------------------------------------------------------------------

    async def read(self, chat_id: int, recheck: bool = False) -> bool:
        """Bring one chat up to date; True when there is more to read after a fair share."""
        chat = self.ingestor.chats.get(chat_id)
        if chat is None:
            return False  # another account serves it now
        started = self.clock()
        heard_before = self.coverage.heard_live.get(chat_id)
        pts = self.coverage.pts(chat_id)
        if pts is not None:
            try:
                return await self._difference(chat, pts, started, heard_before)
            except NoDifference as error:
                log.warning("%s: no difference from pts %d (%s); reading history", chat.title, pts, error)
                await self.coverage.forget_pts(chat_id)
        loop = asyncio.get_running_loop()
        if chat.numbers_its_own_messages and chat_id not in self._states \
                and self._no_dialog.get(chat_id, -self.quiet_after) + self.quiet_after <= loop.time():
            await self.prime([chat_id])
        state = self._states.pop(chat_id, None)
        await self._history(chat, started, recheck and state is None, state)
        return False

    async def _difference(self, chat: Chat, pts: int, started: datetime, heard_before) -> bool:
        news = False
        for _ in range(PAGES_PER_TURN):
            diff = await channel_difference(self.client, chat.id, pts)
            if diff.too_long:
                # Telegram dropped what lies between: new messages are read from history; edits
                # and deletions made before now can no longer be learnt (status says so)
                log.warning("%s: difference too long; reading history up to %d", chat.title, diff.top_message)
                await self._read_history(chat, started, diff.top_message)
                await self.coverage.caught_up(chat.id, started, pts=diff.pts, difference_lost=True)
                self._schedule(chat.id, self.quiet_after)
                return False
            if not diff.empty:
                news = True
                await self.ingestor.history_page(chat, Page(diff.posts, diff.last_id, diff.broken))
                for post in diff.edits:
                    await self.ingestor.edited(post)
                if diff.deleted:
                    await self.ingestor.deleted(chat.id, diff.deleted, datetime.now(timezone.utc))
            pts = diff.pts
            if diff.final:
                await self.coverage.caught_up(chat.id, started, pts=pts)
                self._schedule(chat.id, self._cadence(chat.id, diff.timeout, news, heard_before))
                if news:
                    log.info("%s: caught up to pts %d, checkpoint %d", chat.title, pts,
                             self.coverage.checkpoint(chat.id))
                return False
        await self.coverage.caught_up(chat.id, started, pts=pts)  # saved progress; complete only up to start
        return True

    async def _history(self, chat: Chat, started: datetime, recheck: bool, state: ChannelState | None) -> None:
        checkpoint = self.coverage.checkpoint(chat.id)
        if recheck and checkpoint:
            await self._recheck(chat, checkpoint)
        newest = state.top_message if state else await newest_id(self.client, chat.id)
        await self._read_history(chat, started, newest)
        await self.coverage.caught_up(chat.id, started, pts=state.pts if state else None)
        # with a pts, the first difference follows at once: its answer says the server's pace
        self._schedule(chat.id, 0.0 if state else self.quiet_after)

    async def _read_history(self, chat: Chat, started: datetime, newest: int) -> int:
        """Everything after the checkpoint up to `newest` (the newest id when the read began)."""
        checkpoint = self.coverage.checkpoint(chat.id)
        since = None if checkpoint else started - self.backfill
        read = 0
        if newest > checkpoint:
            async for page in read_since(self.client, chat.id, min_id=checkpoint, max_id=newest + 1, since=since,
                                         wait_time=self.wait_time):
                await self.ingestor.history_page(chat, page)
                read += len(page)
        # ids up to the newest that were not read are gone or outside the backfill window: the
        # checkpoint passes them, or the next read would look back from a later moment
        await self.ingestor.advance(chat, newest)
        if read:
            log.info("%s: read %d messages from history, checkpoint %d", chat.title, read,
                     self.coverage.checkpoint(chat.id))
        return read

    async def _recheck(self, chat: Chat, checkpoint: int) -> None:
        low = max(0, checkpoint - RECHECK)
        present: set[int] = set()
        async for page in read_since(self.client, chat.id, min_id=low, max_id=checkpoint + 1,
                                     wait_time=self.wait_time):
            present.update(p.message_id for p in page.posts)
            present.update(message_id for message_id, _ in page.broken)
            await self.ingestor.history_page(chat, page)
        archived = set(await self.archive.message_ids(chat.id, above=low, up_to=checkpoint))
        gone = await confirm_deleted(self.client, chat.id, sorted(archived - present))
        if gone:
            await self.ingestor.deleted(chat.id, gone, datetime.now(timezone.utc), how="absent")
