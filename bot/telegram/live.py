"""Live updates for the monitored chats, fed into the same path as history reads.

    attach(client, ingestor)

Handlers filter on the ingestor's chat set at call time, so chats resolved later are
picked up without re-registering anything.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from telethon import TelegramClient, events

from bot.ingest import Ingestor
from bot.telegram.convert import to_post

log = logging.getLogger("dozor.live")


def attach(client: TelegramClient, ingestor: Ingestor) -> None:
    async def on_new(event: events.NewMessage.Event) -> None:
        if ingestor.watching(event.chat_id):
            await ingestor.live(to_post(event.message))

    async def on_edit(event: events.MessageEdited.Event) -> None:
        if ingestor.watching(event.chat_id):
            await ingestor.edited(to_post(event.message))

    async def on_delete(event: events.MessageDeleted.Event) -> None:
        await ingestor.deleted(event.chat_id, list(event.deleted_ids), datetime.now(timezone.utc))

    for handler, builder in ((on_new, events.NewMessage()), (on_edit, events.MessageEdited()),
                             (on_delete, events.MessageDeleted())):
        client.add_event_handler(_guarded(handler), builder)


def _guarded(handler):
    # Telethon logs and swallows handler errors; ours say which chat and message failed
    async def run(event) -> None:
        try:
            await handler(event)
        except Exception:
            log.exception("live update in chat %s failed", getattr(event, "chat_id", "?"))

    return run
