"""dozor leans on two private parts of Telethon: `_handle_auto_reconnect` (the only way to learn
of a reconnect, after which Telethon catches nothing up) and `Message._finish_init` (authors and
forward origins of messages a channel difference returns). A Telethon update that renames or
changes them must fail here instead of silently stopping catch-up after reconnects."""
from __future__ import annotations

import asyncio
import inspect

from telethon import TelegramClient
from telethon.tl.custom.message import Message

from bot.telegram.client import open_authorised
from tests.conftest import eventually


def test_the_private_telethon_methods_dozor_uses_keep_their_shape():
    assert inspect.iscoroutinefunction(TelegramClient._handle_auto_reconnect)
    assert list(inspect.signature(TelegramClient._handle_auto_reconnect).parameters) == ["self"]
    assert list(inspect.signature(Message._finish_init).parameters) == ["self", "client", "entities", "input_chat"]


async def test_a_dropped_connection_is_reported_after_telethon_reconnects(fake, settings):
    client = await open_authorised(settings, connection=fake.connection)
    reconnected = asyncio.Event()

    async def heard() -> None:
        reconnected.set()

    client.reconnect_callbacks.append(heard)
    try:
        await client.get_me()
        assert fake.drop_connections() == 1
        await eventually(reconnected.is_set, "the reconnect reported to dozor")
    finally:
        await client.disconnect()
