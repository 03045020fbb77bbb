"""The desk's side of Telegram: messages to the account in, answers out.

    await run_desk(settings, archive, client, rules=lambda: holder.current)   # the service's task

Handlers only convert and queue (as in live.py); one task answers, one message at a time, so
the desk never floods Telegram: answers are spaced PACE seconds apart, and a flood wait is
waited out by the client, which logs it. The desk reads the editors' chat (DIGEST_CHAT) and
private chats with the account, or with the bot when DIGEST_BOT_TOKEN is set; every other
chat is the monitoring's business, not the desk's.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

from telethon import TelegramClient, errors, events, types, utils

from bot.archive import Archive
from bot.config import Settings
from bot.desk.desk import Desk, Forwarded, Incoming
from bot.matching import Rules
from bot.telegram.publish import open_bot
from bot.telegram.subscriptions import SubscriptionError, resolve

log = logging.getLogger("dozor.desk")

QUEUE_LIMIT = 1000
REACTIONS_REMEMBERED = 10_000
DESK_BOT_SESSION = "desk-bot.session"
BOT_RETRY = 300.0  # seconds between attempts to sign the desk's bot in
PACE = 1.0  # seconds between two answers: Telegram allows about one message a second per chat


async def run_desk(settings: Settings, archive: Archive, client: TelegramClient, rules: Callable[[], Rules], *,
                   client_options: dict | None = None, pace: float | None = None) -> None:
    """Answer editors until cancelled; off while DOZOR_EDITORS is empty.

    With DIGEST_BOT_TOKEN the bot is the desk (its private chats, and DIGEST_CHAT, where a bot
    sees commands and replies to its own messages), so the account stays out of sight; it
    signs in with a session of its own. `client_options`: for the bot's client."""
    if not settings.editors:
        log.info("desk: DOZOR_EDITORS is not set; commands in Telegram are off")
        return
    bot = None
    if settings.digest_bot_token:
        bot = await _sign_in_bot(settings, client_options or {})
    desk_client = bot or client
    desk = Desk(settings, archive, rules, TelegramReplies(desk_client, PACE if pace is None else pace))
    listener = DeskListener(settings, desk, desk_client)
    listener.attach()
    try:
        await listener.run()
    finally:
        listener.detach()
        if bot is not None:
            await bot.disconnect()


async def _sign_in_bot(settings: Settings, client_options: dict) -> TelegramClient:
    """The desk's bot; a failure is logged and tried again, never the end of the service."""
    while True:
        try:
            return await open_bot(settings, DESK_BOT_SESSION, device_model="dozor desk", **client_options)
        except Exception as error:
            log.error("desk: the DIGEST_BOT_TOKEN bot could not sign in (%s: %s); trying again in %.0f s",
                      type(error).__name__, error, BOT_RETRY)
            await asyncio.sleep(BOT_RETRY)


class TelegramReplies:
    """Send the desk's HTML answers through its client (the account's or the bot's), paced."""

    def __init__(self, client: TelegramClient, pace: float = PACE):
        self.client = client
        self.pace = pace
        self._last = 0.0

    async def send(self, chat_id: int, html: str, reply_to: int | None = None) -> int | None:
        loop = asyncio.get_running_loop()
        wait = self._last + self.pace - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            message = await self.client.send_message(chat_id, html, parse_mode="html", reply_to=reply_to,
                                                     link_preview=False)
        finally:
            self._last = loop.time()
        return message.id if message is not None else None


class DeskListener:
    def __init__(self, settings: Settings, desk: Desk, client: TelegramClient):
        self.settings, self.desk, self.client = settings, desk, client
        self.queue: asyncio.Queue[Incoming] = asyncio.Queue(QUEUE_LIMIT)
        self.editors_chat: int | None = None
        self._reactions_seen: dict[tuple, None] = {}  # insertion-ordered: the oldest go first

    def attach(self) -> None:
        self.client.add_event_handler(self._on_message, events.NewMessage(incoming=True))
        self.client.add_event_handler(self._on_reactions, events.Raw(types.UpdateMessageReactions))

    def detach(self) -> None:
        self.client.remove_event_handler(self._on_message)
        self.client.remove_event_handler(self._on_reactions)

    async def _on_message(self, event: events.NewMessage.Event) -> None:
        if not (event.is_private or (self.editors_chat is not None and event.chat_id == self.editors_chat)):
            return
        try:
            incoming = to_incoming(event.message, private=event.is_private)
        except Exception:
            log.exception("desk: message %s of chat %s could not be read", event.message.id, event.chat_id)
            return
        try:
            self.queue.put_nowait(incoming)
        except asyncio.QueueFull:
            log.warning("desk: too many messages waiting; one from chat %s dropped", event.chat_id)

    async def _on_reactions(self, update: types.UpdateMessageReactions) -> None:
        """Telegram lists who reacted in groups and private chats (never in broadcast channels),
        each time with every recent reactor: only a reaction not seen before is news."""
        chat_id = utils.get_peer_id(update.peer)
        private = isinstance(update.peer, types.PeerUser)
        if not (private or (self.editors_chat is not None and chat_id == self.editors_chat)):
            return
        entities = getattr(update, "_entities", {}) or {}
        for reaction in update.reactions.recent_reactions or ():
            if not isinstance(reaction.peer_id, types.PeerUser) or not isinstance(reaction.reaction,
                                                                                   types.ReactionEmoji):
                continue
            user_id = reaction.peer_id.user_id
            key = (chat_id, update.msg_id, user_id, reaction.reaction.emoticon)
            if key in self._reactions_seen:
                continue
            self._reactions_seen[key] = None
            while len(self._reactions_seen) > REACTIONS_REMEMBERED:
                self._reactions_seen.pop(next(iter(self._reactions_seen)))
            user = entities.get(user_id)
            incoming = Incoming(chat_id=chat_id, message_id=update.msg_id, sender_id=user_id,
                                username=getattr(user, "username", None), text=reaction.reaction.emoticon,
                                private=private, reply_to=update.msg_id, reaction=True)
            try:
                self.queue.put_nowait(incoming)
            except asyncio.QueueFull:
                log.warning("desk: too many messages waiting; a reaction in chat %s dropped", chat_id)

    async def run(self) -> None:
        await self._find_editors_chat()
        while True:
            incoming = await self.queue.get()
            try:
                await self.desk.handle(incoming)
            except Exception:
                # an answer Telegram refused: that message is lost, the desk goes on
                log.exception("desk: no answer to message %s of chat %s", incoming.message_id, incoming.chat_id)

    async def _find_editors_chat(self) -> None:
        if not self.settings.digest_chat:
            log.info("desk: DIGEST_CHAT is not set; commands are read in private chats only")
            return
        try:
            entity = await resolve(self.client, self.settings.digest_chat)
        except (SubscriptionError, ConnectionError, errors.RPCError) as error:
            log.warning("desk: DIGEST_CHAT %s cannot be read by the account (%s); commands are read in "
                        "private chats only", self.settings.digest_chat, error)
            return
        self.editors_chat = self.desk.digest_chat_id = utils.get_peer_id(entity)
        log.info("desk: reading commands in %s and in private chats", self.settings.digest_chat)


def to_incoming(message: types.Message, private: bool) -> Incoming:
    """A Telethon message as the desk sees it. Pure: the sender comes from the update's own
    entities, no request is made."""
    sender = message.sender
    forward = None
    if message.fwd_from is not None:
        header = message.fwd_from
        origin = utils.get_peer_id(header.from_id) if header.from_id is not None else None
        is_channel = isinstance(header.from_id, types.PeerChannel)
        forward = Forwarded(chat_id=origin if is_channel else None,
                            message_id=header.channel_post if is_channel else None,
                            text=message.message or "")
    return Incoming(
        chat_id=message.chat_id,
        message_id=message.id,
        sender_id=message.sender_id,
        username=getattr(sender, "username", None),
        text=message.message or "",
        private=private,
        reply_to=message.reply_to.reply_to_msg_id if message.reply_to else None,
        forward=forward,
    )
