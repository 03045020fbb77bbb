"""Post the digest's HTML parts to DIGEST_CHAT.

    publisher = Publisher(settings, account_client)
    try:
        message_id = await publisher.send("<b>Дайджест</b> …", random_id=1234567)  # the part's own
    except PublishError as error:
        print(error.reason)             # written for the operator; retry later
    finally:
        await publisher.close()

Through the monitoring account's own client, or, when DIGEST_BOT_TOKEN is set, through a
bot with its own session file (<storage>/digest-bot.session), so the account stays out of
the editors' channel. Every Telethon error becomes a PublishError: one of the four kinds below,
or the plain class for a refusal not known to be about the message (retried like the rest).

A part keeps one random_id for all its attempts: Telegram refuses a second message with the
same random_id (RANDOM_ID_DUPLICATE), so a part whose acceptance was never recorded (a crash
between the two) is not posted twice when it is sent again. Requests go through the client's
public call, so Telethon's own retries of timeouts and server errors apply; Telegram counts
RANDOM_ID_DUPLICATE as a server error, and `raise_last_call_error` brings it back as itself.

Only Rejected (a refusal of the message itself) may lead to giving a digest up; every other
failure (timeouts, PEER_FLOOD, flood waits, server errors, lost connections) is retried.
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from telethon import TelegramClient, errors, functions, types
from telethon.extensions import html as telegram_html

from bot.config import Settings
from bot.telegram.client import make_private
from bot.telegram.errors import rpc_error_name
from bot.telegram.subscriptions import SubscriptionError, resolve

log = logging.getLogger("dozor.publish")

BOT_SESSION = "digest-bot.session"


class PublishError(Exception):
    """A part was not posted. `reason` says why in words an operator can act on."""

    retry_after: float | None = None

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class NotAllowed(PublishError):
    """The chat cannot be found, or the sender may not post there (not a member or admin)."""


class RateLimited(PublishError):
    """Telegram asked to wait `retry_after` seconds (flood wait, slow mode)."""


class Unreachable(PublishError):
    """No connection to Telegram, or its servers failed; nothing is wrong with the digest."""


class Rejected(PublishError):
    """Telegram refused the message itself (too long, bad formatting): sending it again cannot help."""


# refusals of the message's own content; any other error may pass if the part is sent again
MESSAGE_ERRORS = (errors.MessageTooLongError, errors.EntitiesTooLongError, errors.MessageEmptyError,
                  errors.EntityBoundsInvalidError, errors.EntityMentionUserInvalidError)


class Publisher:
    def __init__(self, settings: Settings, account_client: TelegramClient | None, *,
                 client_options: dict | None = None):
        if not settings.digest_chat:
            raise ValueError("DIGEST_CHAT is not set")
        self.settings = settings
        self.chat = settings.digest_chat
        self.account_client = account_client
        self.client_options = client_options or {}
        self._bot: TelegramClient | None = None
        self._entity = None

    @property
    def via(self) -> str:
        return "the digest bot" if self.settings.digest_bot_token else "the account"

    async def send(self, html: str, random_id: int) -> int | None:
        """Post one part; returns Telegram's message id, or None when Telegram already holds a
        message with this random_id (an earlier attempt was accepted but never recorded)."""
        try:
            client = await self._client()
            if self._entity is None:
                self._entity = await resolve(client, self.chat)
            text, entities = telegram_html.parse(html)
            request = functions.messages.SendMessageRequest(
                peer=self._entity, message=text, entities=entities or None, random_id=random_id, no_webpage=True)
            return _message_id(await client(request), random_id)
        except errors.RandomIdDuplicateError:
            return None
        except PublishError:
            raise
        except SubscriptionError as error:
            raise NotAllowed(f"cannot use DIGEST_CHAT {self.chat} with {self.via}: {error}") from None
        except BaseException as error:
            failure = self._explain(error)
            if failure is None:
                raise
            if isinstance(failure, NotAllowed):
                self._entity = None  # a fixed setting or new rights: look the chat up again
            raise failure from None

    async def close(self) -> None:
        if self._bot is not None:
            bot, self._bot = self._bot, None
            await bot.disconnect()

    async def _client(self) -> TelegramClient:
        token = self.settings.digest_bot_token
        if not token:
            if self.account_client is None:
                raise Unreachable("no Telegram client to send the digest with")
            return self.account_client
        if self._bot is None:
            self._bot = await self._open_bot()
        return self._bot

    async def _open_bot(self) -> TelegramClient:
        options = dict(
            flood_sleep_threshold=0,  # flood waits come back to the sender, which records them
            receive_updates=False,  # the bot only posts
            connection_retries=3,
            raise_last_call_error=True,  # RANDOM_ID_DUPLICATE after Telethon's retries comes back as itself
            device_model="dozor digest",
        )
        options.update(self.client_options)
        return await open_bot(self.settings, BOT_SESSION, **options)

    def _explain(self, error: BaseException) -> PublishError | None:
        chat, via = self.chat, self.via
        if isinstance(error, (errors.FloodWaitError, errors.SlowModeWaitError)):
            return RateLimited(f"Telegram asked {via} to wait {error.seconds} s before posting", error.seconds)
        if isinstance(error, (errors.AccessTokenInvalidError, errors.AccessTokenExpiredError)):
            return NotAllowed("Telegram refused DIGEST_BOT_TOKEN: get a valid token from @BotFather")
        if isinstance(error, (errors.ChatWriteForbiddenError, errors.ChatAdminRequiredError,
                              errors.ChatSendPlainForbiddenError, errors.ChatGuestSendForbiddenError)):
            return NotAllowed(f"{via} may not post in {chat}: make it an admin with the right to post "
                              f"({rpc_error_name(error)})")
        if isinstance(error, (errors.UserBannedInChannelError, errors.ChatRestrictedError)):
            return NotAllowed(f"{via} is banned or restricted in {chat} ({rpc_error_name(error)})")
        if isinstance(error, (errors.ChannelPrivateError, errors.ChannelInvalidError, errors.PeerIdInvalidError,
                              errors.ChatIdInvalidError)):
            return NotAllowed(f"{chat} is private or {via} is not a member of it ({rpc_error_name(error)})")
        if isinstance(error, (errors.AuthKeyUnregisteredError, errors.UnauthorizedError)):
            return NotAllowed(f"{via} is not signed in ({rpc_error_name(error)})")
        if isinstance(error, MESSAGE_ERRORS):
            return Rejected(f"Telegram refused a digest part as too long or malformed ({rpc_error_name(error)})")
        if isinstance(error, errors.PeerFloodError):
            return RateLimited(f"Telegram is limiting {via} for spam reports ({rpc_error_name(error)}); "
                               "see @SpamBot")
        if isinstance(error, errors.ForbiddenError):
            return NotAllowed(f"{via} may not post in {chat} ({rpc_error_name(error)})")
        if isinstance(error, errors.FloodError):
            return RateLimited(f"Telegram is limiting {via} ({rpc_error_name(error)})", 60)
        if isinstance(error, errors.ServerError):
            return Unreachable(f"Telegram's servers failed ({rpc_error_name(error)})")
        if isinstance(error, errors.RPCError):
            return PublishError(f"Telegram refused the digest part ({rpc_error_name(error)}); trying again")
        if isinstance(error, ValueError):  # Telethon: an entity it cannot find
            return NotAllowed(f"cannot find DIGEST_CHAT {chat}: {error}")
        if isinstance(error, (ConnectionError, OSError, asyncio.TimeoutError)):
            return Unreachable(f"no connection to Telegram ({type(error).__name__}: {error})")
        return None


def _message_id(result, random_id: int) -> int | None:
    """The id Telegram gave the message sent with `random_id`, from sendMessage's answer."""
    if isinstance(result, types.UpdateShortSentMessage):
        return result.id
    for update in getattr(result, "updates", ()):
        if isinstance(update, types.UpdateMessageID) and update.random_id == random_id:
            return update.id
    return None


async def open_bot(settings: Settings, session: str, **options) -> TelegramClient:
    """The DIGEST_BOT_TOKEN bot, signed in with its own session file in the storage directory
    (one file per client: two clients on one session file lock each other out)."""
    api_id, api_hash = settings.require_api()
    path = settings.storage / session
    settings.storage.mkdir(parents=True, exist_ok=True)
    bot = TelegramClient(str(path), api_id, api_hash, **{"app_version": "dozor", **options})
    try:
        await bot.connect()
        if not await bot.is_user_authorized():
            await bot.sign_in(bot_token=settings.digest_bot_token)
        me = await bot.get_me()
        if not getattr(me, "bot", False):
            raise NotAllowed(f"{path} is signed in as a user, not as the DIGEST_BOT_TOKEN bot: delete it")
    except BaseException:
        await bot.disconnect()
        raise
    await asyncio.to_thread(make_private, Path(path))
    log.info("bot signed in as @%s (%s)", me.username or me.id, session)
    return bot
