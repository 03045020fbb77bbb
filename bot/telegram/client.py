"""One TelegramClient per session file, and the checks every command makes before using it.

    client = await open_authorised(settings)   # raises NotLoggedIn instead of prompting
    client.on_account_state = on_refused       # on_refused("logged_out" | "banned", reason)
"""
from __future__ import annotations

import asyncio
import logging
import os
import stat
from pathlib import Path
from typing import Awaitable, Callable

from telethon import TelegramClient, errors, utils

from bot.config import MAIN_ACCOUNT, Settings
from bot.telegram.account_state import BANNED, AccountState, account_state
from bot.telegram.budget import Budget, method_of

log = logging.getLogger("dozor.telegram")

# Telethon sleeps through no flood wait itself: it would hold whichever task met it, out of
# sight, while other tasks kept sending the same request. The budget holds the method instead.
FLOOD_SLEEP_THRESHOLD = 0


# requests whose success means the session is logged in (again)
_SIGN_INS = frozenset({"SignInRequest", "SignUpRequest", "CheckPasswordRequest", "ImportBotAuthorizationRequest"})


def login_command(account: str = MAIN_ACCOUNT) -> str:
    return "dozor login" if account == MAIN_ACCOUNT else f"dozor login --account {account}"


def account_of_session(session: Path) -> str:
    """The account a session file belongs to, from its name (dozor-NAME.session)."""
    stem = Path(session).name.removesuffix(".session")
    return stem.removeprefix("dozor-") if stem.startswith("dozor-") else MAIN_ACCOUNT


class NotLoggedIn(Exception):
    """The account's session is missing, was never signed in, or Telegram refuses it."""

    def __init__(self, session: Path, account: str | None = None, refused: AccountState | None = None):
        self.account = account or account_of_session(session)
        self.refused = refused
        if refused is not None and refused.state == BANNED:
            message = f"account {self.account} cannot be used ({refused.reason}); its session is {session}"
        else:
            why = f" ({refused.reason})" if refused is not None else ""
            message = f"no valid Telegram session at {session}{why}: run `{login_command(self.account)}` first"
        super().__init__(message)


class NoSession(NotLoggedIn):
    """An account was asked for that has no session file in the storage directory."""

    def __init__(self, account: str, session: Path):
        Exception.__init__(self, f"no session for account {account}: run `{login_command(account)}` first "
                                 f"(it writes {session})")
        self.account, self.refused = account, None


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
        # what Telegram last said about the account itself (logged out, banned); None: usable
        self.account_state: AccountState | None = None
        self._on_account_state: Callable[[str, str], None] | None = None

    @property
    def on_account_state(self) -> Callable[[str, str], None] | None:
        """Told `(state, reason)` when Telegram says the account is logged out or banned, once
        per change: retrying cannot help, so the service moves the account's chats instead of
        failing request after request. A plain function; it must not block."""
        return self._on_account_state

    @on_account_state.setter
    def on_account_state(self, callback: Callable[[str, str], None] | None) -> None:
        self._on_account_state = callback
        # a refusal met before anyone listened (while connecting) is told now, not lost
        if callback is not None and self.account_state is not None:
            self._tell_account_state()

    def _account_refused(self, found: AccountState) -> None:
        if self.account_state is not None and self.account_state.state == found.state:
            return  # already told: every task meets the same refusal
        self.account_state = found
        log.debug("Telegram refuses the account: %s (%s)", found.state, found.reason)
        self._tell_account_state()

    def _tell_account_state(self) -> None:
        if self._on_account_state is None:
            return
        try:
            self._on_account_state(self.account_state.state, self.account_state.reason)
        except Exception:
            log.exception("could not act on the account being %s", self.account_state.state)

    # ---- the request budget ---------------------------------------------------------------
    # `_call`, not `__call__`: file downloads send their parts through `_call` directly, and
    # every `__call__` ends there too, so this is the one place all requests pass.
    async def _call(self, sender, request, ordered=False, flood_sleep_threshold=None):
        names = [type(r).__name__ for r in request] if utils.is_list_like(request) else [type(request).__name__]
        for name in names:
            await self.budget.take(method_of(name))
        while True:
            try:
                result = await super()._call(sender, request, ordered, flood_sleep_threshold)
            except (errors.FloodWaitError, errors.FloodPremiumWaitError) as error:
                name = names[0] if len(names) == 1 else type(error.request).__name__
                # waited out, never fatal: only this method waits, and `dozor status` shows it
                await self.budget.flood(method_of(name), error.seconds, name)
                await self.budget.take(method_of(name))
                continue
            except errors.RPCError as error:
                # the caller still gets Telegram's error (Telethon's own code relies on it), but
                # the account's owner hears that the account, not the request, is the problem
                found = account_state(error)
                if found is not None:
                    self._account_refused(found)
                raise
            if self.account_state is not None and _SIGN_INS.intersection(names):
                self.account_state = None  # signed in again
            return result

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
        refused = client.account_state  # why, when Telegram said (logged out elsewhere, banned)
        await client.disconnect()
        raise NotLoggedIn(session_file, settings.account, refused)
    await asyncio.to_thread(make_private, session_file)
    return client


async def account_name(client: TelegramClient) -> str:
    me = await client.get_me()
    return utils.get_display_name(me) or str(me.id)
