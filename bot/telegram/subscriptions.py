"""Turn what the operator wrote in DOZOR_CHATS into a chat we can read, and join it.

    entity = await resolve(client, "t.me/kyiv_news")   # a look-up only: never joins
    members = await membership(client)                   # channels the account is in
    await join(client, chat_id)                          # JoinRefused / OverCap if Telegram says no

Joining is a separate step because it is the scarcest request Telegram allows: a public
channel is read from history as soon as it is resolved, and joined later at the budget's pace.

Accepted: `@name`, `name`, `t.me/name` (with or without https://), a numeric id in marked
form (-100…), and `t.me/+HASH` / `t.me/joinchat/HASH` invite links of chats the account is in.
"""
from __future__ import annotations

import logging

from telethon import TelegramClient, errors, functions, types

from bot.chat_refs import parse_chat
from bot.model import Chat
from bot.telegram.convert import to_chat
from bot.telegram.errors import rpc_error_name

log = logging.getLogger("dozor.subscriptions")



class SubscriptionError(Exception):
    """A configured chat cannot be read; the message says why, for `dozor status`."""


def parse_source(source: str) -> tuple[str, str | int]:
    """('invite', hash) | ('username', name) | ('id', marked id); ValueError if none fits."""
    found = parse_chat(source, bare=True)
    return found.kind, found.value


class JoinRefused(Exception):
    """Telegram would not let the account join; the message says why, for `dozor status`."""


class OverCap(JoinRefused):
    """CHANNELS_TOO_MUCH: the account is in as many channels and supergroups as it may be."""


async def resolve_chat(client: TelegramClient, source: str, keep_all: bool = False) -> Chat:
    """The chat a DOZOR_CHATS entry names."""
    return to_chat(await resolve(client, source), keep_all=keep_all)


async def still_known(client: TelegramClient, chat_id: int) -> bool:
    """Whether the session still holds the access hash of a chat resolved in an earlier run."""
    try:
        await client.get_input_entity(chat_id)
        return True
    except ValueError:
        return False


async def track_updates(client: TelegramClient) -> set[int] | None:
    """Telethon only notices a gap in a channel's updates once it knows the channel's pts,
    which it learns from the dialog list; without this the first missed batch after start
    passes unseen until the quiet-chat timer. Returns the membership the dialogs show (None
    if they could not be read)."""
    try:
        return await membership(client)
    except Exception as error:
        log.warning("could not read the dialog list (%s); gaps are found by catch-up only", error)
        return None


async def membership(client: TelegramClient) -> set[int]:
    """The marked ids of the channels and supergroups the account is in, from its dialogs:
    these count against Telegram's cap, basic groups and private chats do not."""
    return {dialog.id async for dialog in client.iter_dialogs()
            if isinstance(dialog.entity, types.Channel) and not dialog.entity.left}


async def join(client: TelegramClient, chat_id: int) -> None:
    """Join a public channel or supergroup the session has resolved."""
    try:
        await client(functions.channels.JoinChannelRequest(await client.get_input_entity(chat_id)))
    except errors.ChannelsTooMuchError:
        raise OverCap("the account is in as many channels and supergroups as Telegram allows") from None
    except errors.RPCError as error:
        raise JoinRefused(f"Telegram refused to join: {rpc_error_name(error)}") from None


async def resolve(client: TelegramClient, source: str):
    """The Telethon entity for a configured chat."""
    try:
        kind, value = parse_source(source)
    except ValueError as error:
        raise SubscriptionError(str(error)) from None
    try:
        if kind == "invite":
            entity = await _from_invite(client, value)
        elif kind == "id":
            entity = await _from_id(client, value)
        else:
            entity = await client.get_entity(value)
    except SubscriptionError:
        raise
    except (errors.UsernameNotOccupiedError, errors.UsernameInvalidError):
        raise SubscriptionError(f"no chat is called {source!r}: check the spelling") from None
    except (errors.ChannelPrivateError, errors.ChannelInvalidError):
        raise SubscriptionError(f"{source!r} is private or the account was banned from it") from None
    except ValueError as error:  # how Telethon reports unknown usernames and ids
        if kind == "username":
            raise SubscriptionError(f"no chat is called {source!r}: check the spelling") from None
        raise SubscriptionError(f"cannot find {source!r}: {error}") from None
    except errors.RPCError as error:
        raise SubscriptionError(f"Telegram refused {source!r}: {error.message}") from None
    if isinstance(entity, types.User):
        raise SubscriptionError(f"{source!r} is a user, not a channel or group")
    if isinstance(entity, types.Channel) and entity.left and not entity.username:
        raise SubscriptionError(f"{source!r} is private and the account is not a member")
    return entity


async def _from_invite(client: TelegramClient, invite_hash: str):
    try:
        invite = await client(functions.messages.CheckChatInviteRequest(invite_hash))
    except (errors.InviteHashExpiredError, errors.InviteHashInvalidError):
        raise SubscriptionError("the invite link has expired or is invalid") from None
    if isinstance(invite, (types.ChatInviteAlready, types.ChatInvitePeek)):
        return invite.chat
    raise SubscriptionError("the account is not a member of the chat behind this invite link: join it first")


async def _from_id(client: TelegramClient, marked_id: int):
    try:
        return await client.get_entity(marked_id)
    except ValueError:
        # a bare id is only usable once its access hash is known: the dialogs carry it
        await client.get_dialogs()
        return await client.get_entity(marked_id)

