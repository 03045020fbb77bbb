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
from bot.ingest import Ingestor
from bot.telegram.history import read_since

log = logging.getLogger("dozor.catchup")

RECHECK = 50


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
            except Exception as error:
                # one chat failing (banned, deleted, network) never stops the others;
                # the quiet timer asks again later
                chat = self.ingestor.chats.get(chat_id)
                log.warning("catch-up of %s failed: %s", chat.title if chat else chat_id, error)
                await self.archive.record_failure("catchup", f"{type(error).__name__}: {error}", chat_id)
            finally:
                self.rounds += 1
                self.busy = False

    async def read(self, chat_id: int, recheck: bool = False) -> int:
        """Archive everything after the checkpoint; returns how many messages were read."""
        chat = self.ingestor.chats[chat_id]
        checkpoint = self.ingestor.checkpoints.get(chat_id, 0)
        if recheck and checkpoint:
            await self._recheck(chat_id, checkpoint)
        since = None if checkpoint else datetime.now(timezone.utc) - self.backfill
        read = 0
        async for page in read_since(self.client, chat_id, min_id=checkpoint, since=since,
                                     wait_time=self.wait_time):
            await self.ingestor.history_page(chat, page)
            read += len(page)
        await self.archive.mark_read(chat_id, datetime.now(timezone.utc))
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
            present.update(p.message_id for p in page)
            await self.ingestor.history_page(chat, page)
        archived = {i for i in await self.archive.message_ids(chat_id, above=low, up_to=checkpoint)}
        gone = sorted(archived - present)
        if gone:
            await self.ingestor.deleted(chat_id, gone, datetime.now(timezone.utc))

    async def quiet_timer(self) -> None:
        """Chats with no live message for a while are re-read: their updates may be lost."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(self.quiet_after, 60.0))
            now = loop.time()
            for chat_id in self.ingestor.chats:
                if now - self.ingestor.last_live.get(chat_id, 0.0) >= self.quiet_after:
                    self.request(chat_id)
