"""Re-read history from each chat's checkpoint: at start, after a reconnect, after a gap
in live updates, and on a timer for chats that have gone quiet.

    catchup = CatchUp(client, ingestor, archive, backfill=timedelta(hours=24))
    catchup.request(chat_id, recheck=True)
    await catchup.run()      # a TaskGroup member; drains requests for ever

`recheck` also re-reads the last RECHECK messages below the checkpoint, because edits and
deletions that fall inside a channel gap are dropped by Telethon: a changed text becomes
a version, an archived message that is gone from history is marked deleted.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone

from bot.archive import Archive
from bot.backoff import Backoff
from bot.ingest import Ingestor
from bot.telegram.history import newest_id, read_since

log = logging.getLogger("dozor.catchup")

RECHECK = 50
CHAT_RETRY = Backoff(first=30, cap=3600)  # a failing chat is read again less and less often


class CatchUp:
    def __init__(self, client, ingestor: Ingestor, archive: Archive, backfill: timedelta,
                 quiet_after: float = 300.0, wait_time: float = 1.0):
        self.client = client
        self.ingestor = ingestor
        self.archive = archive
        self.backfill = backfill
        self.quiet_after = quiet_after
        self.wait_time = wait_time
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._pending: dict[int, bool] = {}  # chat id → recheck wanted
        self.rounds = 0  # completed reads, for status and tests
        self.busy = False
        self.last_read: dict[int, datetime] = {}  # when the last complete read of each chat began
        self._failing: dict[int, tuple[str, int, float]] = {}  # chat → (reason, failures, retry at)

    def request(self, chat_id: int, recheck: bool = False) -> None:
        """Ask for a re-read; repeated requests for a chat already waiting are merged."""
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
        return not self._pending

    async def run(self) -> None:
        while True:
            chat_id = await self._queue.get()
            recheck = self._pending.pop(chat_id, False)
            self.busy = True
            try:
                await self.read(chat_id, recheck)
                self._failing.pop(chat_id, None)
            except Exception as error:
                # one chat failing (banned, deleted, network, a full disk) never stops the
                # others; it is tried again later, less often while it keeps failing
                await self._failed(chat_id, f"{type(error).__name__}: {error}")
            finally:
                self.rounds += 1
                self.busy = False

    async def _failed(self, chat_id: int, reason: str) -> None:
        chat = self.ingestor.chats.get(chat_id)
        previous, failures, _ = self._failing.get(chat_id, ("", 0, 0.0))
        delay = CHAT_RETRY(failures)
        self._failing[chat_id] = (reason, failures + 1, asyncio.get_running_loop().time() + delay)
        log.warning("catch-up of %s failed: %s (next try in %.0f s)", chat.title if chat else chat_id, reason, delay)
        if reason != previous:  # one row per kind of trouble, not one per attempt
            try:
                await self.archive.record_failure("catchup", reason, chat_id)
            except Exception:
                log.exception("could not record the failure of chat %s", chat_id)

    async def read(self, chat_id: int, recheck: bool = False) -> int:
        """Archive everything after the checkpoint; returns how many messages were read."""
        chat = self.ingestor.chats[chat_id]
        started = datetime.now(timezone.utc)
        checkpoint = self.ingestor.checkpoints.get(chat_id, 0)
        if recheck and checkpoint:
            await self._recheck(chat_id, checkpoint)
        since = None if checkpoint else started - self.backfill
        latest_before = 0 if checkpoint else await newest_id(self.client, chat_id)
        read = 0
        async for page in read_since(self.client, chat_id, min_id=checkpoint, since=since,
                                     wait_time=self.wait_time):
            await self.ingestor.history_page(chat, page)
            read += len(page)
        if not checkpoint and not self.ingestor.checkpoints.get(chat_id, 0) and latest_before:
            # nothing in the backfill window: anchor the checkpoint at what was the latest message
            # before the read (anything newer is read next time), or the next read would look back
            # from a later moment and miss what came between
            await self.ingestor.advance(chat, latest_before)
        self.last_read[chat_id] = started
        await self.archive.mark_read(chat_id, started)
        if read:
            log.info("%s: caught up %d messages, checkpoint %d", chat.title, read,
                     self.ingestor.checkpoints.get(chat_id, 0))
        return read

    async def _recheck(self, chat_id: int, checkpoint: int) -> None:
        chat = self.ingestor.chats[chat_id]
        low = max(0, checkpoint - RECHECK)
        present: set[int] = set()
        async for page in read_since(self.client, chat_id, min_id=low, max_id=checkpoint + 1,
                                     wait_time=self.wait_time):
            present.update(p.message_id for p in page.posts)
            present.update(message_id for message_id, _ in page.broken)
            await self.ingestor.history_page(chat, page)
        archived = {i for i in await self.archive.message_ids(chat_id, above=low, up_to=checkpoint)}
        gone = sorted(archived - present)
        if gone:
            await self.ingestor.deleted(chat_id, gone, datetime.now(timezone.utc))

    def fresh_since(self, chat_id: int) -> datetime | None:
        """Up to when this chat is known complete: its last full read, or its last live message."""
        moments = [m for m in (self.last_read.get(chat_id), self.ingestor.last_live.get(chat_id)) if m]
        return max(moments) if moments else None

    def caught_up(self, moment: datetime) -> bool:
        """Every watched chat has been read (or heard live) at least up to `moment`, and no
        re-read is waiting: what the digest needs before it freezes a period."""
        if not self.idle or self.busy:
            return False
        return all((self.fresh_since(c) or moment.min.replace(tzinfo=timezone.utc)) >= moment
                   for c in self.ingestor.chats)

    def due_for_reread(self, now: datetime) -> list[int]:
        """Chats with neither a live message nor a read for `quiet_after` seconds (Telegram may
        have dropped their updates), less those waiting out a failure's back-off."""
        clock = asyncio.get_running_loop().time()
        due = []
        for chat_id in self.ingestor.chats:
            failing = self._failing.get(chat_id)
            if failing and failing[2] > clock:
                continue
            fresh = self.fresh_since(chat_id)
            if fresh is None or (now - fresh).total_seconds() >= self.quiet_after:
                due.append(chat_id)
        return due

    async def quiet_timer(self) -> None:
        while True:
            await asyncio.sleep(min(self.quiet_after, 60.0))
            for chat_id in self.due_for_reread(datetime.now(timezone.utc)):
                self.request(chat_id)
