"""Read a chat's history from a checkpoint, oldest first, a page at a time.

    async for page in read_since(client, chat_id, min_id=checkpoint):
        page.posts      # Post values, ascending ids
        page.last_id    # the highest id read, service messages included: the new checkpoint
        page.broken     # (message id, reason) of messages that could not be converted

Live updates alone lose messages (Telegram drops channel updates when too many are
pending, and Telethon runs no catch-up after an automatic reconnect): reading from our
own checkpoint is what guarantees that nothing is missed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import AsyncIterator

from telethon import TelegramClient
from telethon.tl import types

from bot.model import Post
from bot.telegram.convert import to_post

PAGE = 100  # Telegram's largest GetHistory page


@dataclass(slots=True)
class Page:
    posts: list[Post] = field(default_factory=list)
    last_id: int = 0
    broken: list[tuple[int, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.posts) + len(self.broken)


async def read_since(client: TelegramClient, chat_id: int, *, min_id: int = 0, max_id: int = 0,
                     since: datetime | None = None, wait_time: float = 1.0) -> AsyncIterator[Page]:
    """Messages with id > min_id (and < max_id when given; newer than `since` when min_id is 0)."""
    entity = await client.get_input_entity(chat_id)
    options = dict(reverse=True, wait_time=wait_time, min_id=min_id, max_id=max_id)
    if since is not None and min_id == 0:
        options["offset_date"] = since
    page = Page()
    async for message in client.iter_messages(entity, **options):
        page.last_id = max(page.last_id, message.id)
        if isinstance(message, types.Message):  # service messages (joins, pins) carry nothing to archive
            try:
                page.posts.append(to_post(message))
            except Exception as error:
                # one malformed message must not hold the chat's checkpoint back for ever
                page.broken.append((message.id, f"{type(error).__name__}: {error}"))
        if len(page) >= PAGE:
            yield page
            page = Page(last_id=page.last_id)
    if len(page) or page.last_id > min_id:
        yield page


async def newest_id(client: TelegramClient, chat_id: int) -> int:
    """The id of the chat's latest message (0 for an empty chat)."""
    entity = await client.get_input_entity(chat_id)
    latest = await client.get_messages(entity, limit=1)
    return latest[0].id if latest else 0


async def confirm_deleted(client: TelegramClient, chat_id: int, message_ids: list[int]) -> list[int]:
    """Of `message_ids`, those Telegram says are gone (it answers an empty message for a
    deleted one): a message missing from one history read is not yet proof of a deletion."""
    if not message_ids:
        return []
    entity = await client.get_input_entity(chat_id)
    gone = []
    for start in range(0, len(message_ids), PAGE):
        batch = message_ids[start:start + PAGE]
        found = await client.get_messages(entity, ids=batch)
        gone += [message_id for message_id, message in zip(batch, found) if message is None]
    return gone
