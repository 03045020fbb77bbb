"""Live updates for the monitored chats, fed into the same path as history reads.

    feed = LiveFeed(ingestor)
    feed.attach(client)
    await feed.run()          # a TaskGroup member: the only place live updates are written

Telethon runs each handler as a task of its own; ours only convert and queue, so every
archive write has an owner (the feed's task), and a slow disk pushes back on a bounded
queue instead of piling up tasks.
"""
from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import datetime, timezone

from telethon import TelegramClient, events

from bot.ingest import Ingestor
from bot.telegram.convert import to_post

log = logging.getLogger("dozor.live")

QUEUE_LIMIT = 10_000


class LiveFeed:
    def __init__(self, ingestor: Ingestor):
        self.ingestor = ingestor
        self.queue: asyncio.Queue[tuple] = asyncio.Queue(QUEUE_LIMIT)

    def attach(self, client: TelegramClient) -> None:
        client.add_event_handler(self._on_new, events.NewMessage())
        client.add_event_handler(self._on_edit, events.MessageEdited())
        client.add_event_handler(self._on_delete, events.MessageDeleted())
        client.add_event_handler(self._on_action, events.ChatAction())

    async def _on_new(self, event: events.NewMessage.Event) -> None:
        await self._convert("new", event)

    async def _on_edit(self, event: events.MessageEdited.Event) -> None:
        await self._convert("edit", event)

    async def _convert(self, kind: str, event) -> None:
        if not self.ingestor.watching(event.chat_id):
            return
        try:
            await self.queue.put((kind, to_post(event.message)))
        except Exception as error:
            await self.queue.put(("broken", event.chat_id, event.message.id, f"{type(error).__name__}: {error}"))

    async def _on_delete(self, event: events.MessageDeleted.Event) -> None:
        await self.queue.put(("delete", event.chat_id, list(event.deleted_ids), datetime.now(timezone.utc)))

    async def _on_action(self, event: events.ChatAction.Event) -> None:
        if event.action_message is not None and self.ingestor.watching(event.chat_id):
            await self.queue.put(("service", event.chat_id, event.action_message.id))

    async def run(self) -> None:
        while True:
            item = await self.queue.get()
            await self._apply(item)

    async def flush(self) -> None:
        """On shutdown: write what is already queued (deletions exist nowhere else)."""
        while not self.queue.empty():
            await self._apply(self.queue.get_nowait())

    async def _apply(self, item: tuple) -> None:
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
        except (sqlite3.Error, OSError) as error:
            # the archive refused the write: the checkpoint did not move, so a catch-up of the
            # chat reads the message again once the archive works
            chat_id = payload[0].chat_id if kind in ("new", "edit") else payload[0]
            log.error("live %s in chat %s not written (%s); will re-read it from history", kind, chat_id, error)
            if chat_id is not None:
                # an edit or deletion is only found again by re-reading below the checkpoint
                self.ingestor.on_gap(chat_id, recheck=kind != "new")
            await asyncio.sleep(1.0)
        except Exception:
            log.exception("live %s could not be applied", kind)
