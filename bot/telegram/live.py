"""Live updates for the monitored chats, fed into the same path as history reads.

    feed = LiveFeed(ingestor)
    feed.attach(client)
    await feed.run()          # a TaskGroup member: the only place live updates are written

Telethon runs each handler as a task of its own; ours only convert and queue without
waiting, so every archive write has an owner (the feed's task) and no task piles up behind
a slow disk: when the bounded queue is full the update is dropped and its chat re-read
instead (`on_overflow`). A write the archive refuses is held and retried in order, never
dropped: an edit or a deletion exists nowhere else once Telegram has sent it.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

from telethon import TelegramClient, events

from bot.archive import DatabaseError
from bot.backoff import Backoff
from bot.ingest import Ingestor
from bot.telegram.convert import to_post

log = logging.getLogger("dozor.live")

QUEUE_LIMIT = 10_000
WRITE_RETRY = Backoff(first=1.0, cap=60.0)  # between attempts at a write the archive refused


class LiveFeed:
    def __init__(self, ingestor: Ingestor, on_overflow=None, limit: int | None = None):
        self.ingestor = ingestor
        # chat id → re-read it (recheck: edits and deletions too); the catch-up's request
        self.on_overflow = on_overflow or ingestor.coverage.gap_now
        self.queue: asyncio.Queue[tuple] = asyncio.Queue(limit or QUEUE_LIMIT)
        self.held: tuple | None = None  # a write the archive refused, retried before anything else
        self.dropped = 0  # updates dropped on a full queue (their chats were re-read instead)
        self.refused = 0  # writes the archive refused (each held and tried again)

    def attach(self, client: TelegramClient) -> None:
        client.add_event_handler(self._on_new, events.NewMessage())
        client.add_event_handler(self._on_edit, events.MessageEdited())
        client.add_event_handler(self._on_delete, events.MessageDeleted())
        client.add_event_handler(self._on_action, events.ChatAction())

    async def _on_new(self, event: events.NewMessage.Event) -> None:
        self._convert("new", event)

    async def _on_edit(self, event: events.MessageEdited.Event) -> None:
        self._convert("edit", event)

    def _convert(self, kind: str, event) -> None:
        if not self.ingestor.watching(event.chat_id):
            return
        try:
            item = (kind, to_post(event.message))
        except Exception as error:
            item = ("broken", event.chat_id, event.message.id, f"{type(error).__name__}: {error}")
        self._offer(item, event.chat_id, recheck=kind == "edit")

    async def _on_delete(self, event: events.MessageDeleted.Event) -> None:
        self._offer(("delete", event.chat_id, list(event.deleted_ids), datetime.now(timezone.utc)),
                    event.chat_id, recheck=True)

    async def _on_action(self, event: events.ChatAction.Event) -> None:
        if event.action_message is not None and self.ingestor.watching(event.chat_id):
            self._offer(("service", event.chat_id, event.action_message.id), event.chat_id)

    def _offer(self, item: tuple, chat_id: int | None, recheck: bool = False) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            # waiting here would keep Telethon's task alive, one per update, without bound
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("live queue full (%d waiting): %d updates dropped so far, their chats are re-read",
                            self.queue.qsize(), self.dropped)
            if chat_id is not None:
                self.on_overflow(chat_id, recheck=recheck)
            else:
                log.error("a deletion without a chat was dropped on a full queue: %s", item[2])

    async def run(self) -> None:
        failures = 0
        while True:
            if self.held is None:
                self.held = await self.queue.get()
            if await self._apply(self.held):
                self.held, failures = None, 0
            else:
                await asyncio.sleep(WRITE_RETRY(failures))
                failures += 1

    async def flush(self) -> int:
        """On shutdown: write what is held and queued (deletions exist nowhere else); returns
        how many could not be written."""
        while self.held is not None or not self.queue.empty():
            if self.held is None:
                self.held = self.queue.get_nowait()
            if not await self._apply(self.held):
                break
            self.held = None
        return self.queue.qsize() + (self.held is not None)

    async def _apply(self, item: tuple) -> bool:
        """False when the archive refused the write: the item is to be tried again."""
        kind, *payload = item
        try:
            if kind == "new":
                await self.ingestor.live(*payload)
            elif kind == "edit":
                await self.ingestor.edited(*payload)
            elif kind == "delete":
                await self.ingestor.deleted(*payload)
            elif kind == "service":
                await self.ingestor.service_message(*payload)
            else:
                await self.ingestor.broken(*payload)
        except (DatabaseError, OSError) as error:
            chat_id = payload[0].chat_id if kind in ("new", "edit") else payload[0]
            log.error("live %s in chat %s not written (%s); held and tried again", kind, chat_id, error)
            self.refused += 1
            return False
        except Exception:
            log.exception("live %s could not be applied", kind)
        return True
