"""Read a chat's history from a checkpoint, oldest first, a page at a time.

    async for page in read_since(client, chat_id, min_id=checkpoint):
        ...  # a list of Post, ascending ids, at most PAGE long

Live updates alone lose messages (Telegram drops channel updates when too many are
pending, and Telethon runs no catch-up after an automatic reconnect): reading from our
own checkpoint is what guarantees that nothing is missed.
"""
from __future__ import annotations

from datetime import datetime
from typing import AsyncIterator

from telethon import TelegramClient
from telethon.tl import types

from bot.model import Post
from bot.telegram.convert import to_post

PAGE = 100  # Telegram's largest GetHistory page


async def read_since(client: TelegramClient, chat_id: int, *, min_id: int = 0, max_id: int = 0,
                     since: datetime | None = None, wait_time: float = 1.0) -> AsyncIterator[list[Post]]:
    """Messages with id > min_id (and < max_id when given; newer than `since` when min_id is 0)."""
    entity = await client.get_input_entity(chat_id)
    options = dict(reverse=True, wait_time=wait_time, min_id=min_id, max_id=max_id)
    if since is not None and min_id == 0:
        options["offset_date"] = since
    page: list[Post] = []
    async for message in client.iter_messages(entity, **options):
        if not isinstance(message, types.Message):
            continue  # service messages (joins, pins) carry nothing to archive
        page.append(to_post(message))
        if len(page) >= PAGE:
            yield page
            page = []
    if page:
        yield page

