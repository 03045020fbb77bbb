"""One TelegramClient per session file, and the checks every command makes before using it.

    client = await open_authorised(settings)   # raises NotLoggedIn instead of prompting
"""
from __future__ import annotations

import asyncio
import logging
import os
import stat
from pathlib import Path
from typing import Awaitable, Callable

from telethon import TelegramClient, utils

from bot.config import Settings

log = logging.getLogger("dozor.telegram")

# Flood waits are always waited out (and Telethon logs each one): a stalled minute is
# better than a lost message, and no request of ours is worth failing for.
FLOOD_SLEEP_THRESHOLD = 24 * 3600


class NotLoggedIn(Exception):
    def __init__(self, session: Path):
        super().__init__(f"no valid Telegram session at {session}: run `dozor login` first")


class DozorClient(TelegramClient):
    """A TelegramClient that says when it reconnected by itself.

    Telethon runs no catch-up after an automatic reconnect and offers no public signal of
    one; the service then asks every chat's difference. (Gaps Telethon meets otherwise,
    ChannelDifferenceTooLong included, are found by our own difference from our own pts.)
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reconnect_callbacks: list[Callable[[], Awaitable[None]]] = []

    async def __call__(self, request, ordered=False, flood_sleep_threshold=None):
        return await super().__call__(request, ordered, flood_sleep_threshold)

    async def _handle_auto_reconnect(self):
        await super()._handle_auto_reconnect()
        for callback in list(self.reconnect_callbacks):
            try:
                await callback()
            except Exception:
                log.exception("reconnect callback failed")


def make_client(settings: Settings, **overrides) -> DozorClient:
    """The client for the account's session in the storage directory.

    `overrides` are TelegramClient keyword arguments; tests pass `connection=` here.
    """
    api_id, api_hash = overrides.pop("api_id", None), overrides.pop("api_hash", None)
    if api_id is None:
        api_id, api_hash = settings.require_api()
    settings.storage.mkdir(parents=True, exist_ok=True)
    options = dict(
        flood_sleep_threshold=FLOOD_SLEEP_THRESHOLD,
        connection_retries=-1,  # a long-running service keeps trying; the log says why
        retry_delay=2,
        auto_reconnect=True,
        receive_updates=True,
        device_model="dozor",
        app_version="dozor",
    )
    options.update(overrides)
    return DozorClient(str(settings.session_path), api_id, api_hash, **options)


def make_private(path: Path) -> None:
    """The session file is the account's key: owner read/write only."""
    if path.exists() and stat.S_IMODE(path.stat().st_mode) != 0o600:
        os.chmod(path, 0o600)


async def open_authorised(settings: Settings, **overrides) -> DozorClient:
    """Connect with the stored session; NotLoggedIn rather than ever prompting for a phone number."""
    session_file = settings.session_path
    if not session_file.exists():
        # constructing a client would create an empty session file: check before
        raise NotLoggedIn(session_file)
    client = make_client(settings, **overrides)
    if client.session.auth_key is None:
        client.session.close()
        raise NotLoggedIn(session_file)
    await client.connect()
    if not await client.is_user_authorized():
        await client.disconnect()
        raise NotLoggedIn(session_file)
    await asyncio.to_thread(make_private, session_file)
    return client


async def account_name(client: TelegramClient) -> str:
    me = await client.get_me()
    return utils.get_display_name(me) or str(me.id)
