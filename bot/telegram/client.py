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

from telethon import TelegramClient, errors, utils

from bot.config import Settings
from bot.telegram.budget import Budget, method_of

log = logging.getLogger("dozor.telegram")

# Telethon sleeps through no flood wait itself: it would hold whichever task met it, out of
# sight, while other tasks kept sending the same request. The budget holds the method instead.
FLOOD_SLEEP_THRESHOLD = 0


class NotLoggedIn(Exception):
    def __init__(self, session: Path):
        super().__init__(f"no valid Telegram session at {session}: run `dozor login` first")


class DozorClient(TelegramClient):
    """A TelegramClient that says when it reconnected by itself.

    Telethon runs no catch-up after an automatic reconnect and offers no public signal of
    one; the service then asks every chat's difference. (Gaps Telethon meets otherwise,
    ChannelDifferenceTooLong included, are found by our own difference from our own pts.)
    """

    def __init__(self, *args, budget: Budget | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.budget = budget or Budget()
        self.reconnect_callbacks: list[Callable[[], Awaitable[None]]] = []

    # ---- the request budget ---------------------------------------------------------------
    # `_call`, not `__call__`: file downloads send their parts through `_call` directly, and
    # every `__call__` ends there too, so this is the one place all requests pass.
    async def _call(self, sender, request, ordered=False, flood_sleep_threshold=None):
        names = [type(r).__name__ for r in request] if utils.is_list_like(request) else [type(request).__name__]
        for name in names:
            await self.budget.take(method_of(name))
        while True:
            try:
                return await super()._call(sender, request, ordered, flood_sleep_threshold)
            except (errors.FloodWaitError, errors.FloodPremiumWaitError) as error:
                name = names[0] if len(names) == 1 else type(error.request).__name__
                # waited out, never fatal: only this method waits, and `dozor status` shows it
                await self.budget.flood(method_of(name), error.seconds, name)
                await self.budget.take(method_of(name))

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
        raise_last_call_error=True,  # after Telethon's own retries, Telegram's error rather than a bare ValueError
        auto_reconnect=True,
        receive_updates=True,
        device_model="dozor",
        app_version="dozor",
    )
    options.update(overrides)
    return DozorClient(str(settings.session_path), api_id, api_hash, budget=Budget(settings.request_rates),
                       **options)


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
