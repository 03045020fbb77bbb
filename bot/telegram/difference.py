"""A channel's updates since a pts, the way Telegram's own apps catch up: new messages,
edits and deletions in one answer, however far below the checkpoint they fall.

    states = await channel_states(client, [chat_id, ...])     # joined channels → ChannelState
    diff = await channel_difference(client, chat_id, pts)     # one page; repeat until diff.final
    diff.posts, diff.edits, diff.deleted, diff.pts, diff.timeout

Only joined channels have a pts to ask from (Telegram answers CHANNEL_PRIVATE otherwise);
`channel_states` reads it, with the newest message id, from the account's dialogs, up to
100 chats a request. After ChannelDifferenceTooLong the pts is reset to the dialog's and the
messages in between must be read from history: `too_long` says so.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from telethon import TelegramClient, errors, functions, types, utils

from bot.model import Post
from bot.telegram.convert import to_post

LIMIT = 100  # events a page; "ordinary (non-bot) users are supposed to pass 10-100"
DIALOG_BATCH = 100


class NoDifference(Exception):
    """Telegram will not answer this channel's difference from this pts (not a member any
    more, or the pts is unknown to it): read history and learn a new pts."""


@dataclass(slots=True)
class ChannelState:
    pts: int
    top_message: int


@dataclass(slots=True)
class Difference:
    pts: int
    final: bool = True
    timeout: float | None = None  # poll again after this many seconds (Telegram's advice)
    posts: list[Post] = field(default_factory=list)
    last_id: int = 0  # newest message id among the new ones, service messages included
    edits: list[Post] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    broken: list[tuple[int, str]] = field(default_factory=list)
    too_long: bool = False  # history from the checkpoint up to `top_message` must be read
    top_message: int = 0

    @property
    def empty(self) -> bool:
        return not (self.posts or self.edits or self.deleted or self.broken or self.last_id)


async def channel_states(client: TelegramClient, chat_ids: list[int]) -> dict[int, ChannelState]:
    """pts and newest id of each joined channel among `chat_ids` (others are left out)."""
    found: dict[int, ChannelState] = {}
    channels = [c for c in chat_ids if utils.resolve_id(c)[1] is types.PeerChannel]
    for start in range(0, len(channels), DIALOG_BATCH):
        peers = [types.InputDialogPeer(await client.get_input_entity(c)) for c in channels[start:start + DIALOG_BATCH]]
        answer = await client(functions.messages.GetPeerDialogsRequest(peers))
        for dialog in answer.dialogs:
            if isinstance(dialog, types.Dialog) and dialog.pts:
                found[utils.get_peer_id(dialog.peer)] = ChannelState(dialog.pts, dialog.top_message)
    return found


async def channel_difference(client: TelegramClient, chat_id: int, pts: int, limit: int = LIMIT) -> Difference:
    """One page of the channel's difference from `pts`."""
    channel = await client.get_input_entity(chat_id)
    try:
        answer = await client(functions.updates.GetChannelDifferenceRequest(
            channel=channel, filter=types.ChannelMessagesFilterEmpty(), pts=pts, limit=limit, force=False))
    except (errors.ChannelPrivateError, errors.PersistentTimestampInvalidError,
            errors.PersistentTimestampEmptyError) as error:
        raise NoDifference(f"{type(error).__name__}: {error}") from None
    timeout = float(answer.timeout) if answer.timeout else None
    if isinstance(answer, types.updates.ChannelDifferenceEmpty):
        return Difference(pts=answer.pts, final=True, timeout=timeout)
    entities = {utils.get_peer_id(x): x for x in itertools.chain(answer.users, answer.chats)}
    if isinstance(answer, types.updates.ChannelDifferenceTooLong):
        dialog = answer.dialog
        return Difference(pts=dialog.pts, final=True, timeout=timeout, too_long=True,
                          top_message=dialog.top_message)
    found = Difference(pts=answer.pts, final=bool(answer.final), timeout=timeout)
    for message in answer.new_messages:
        found.last_id = max(found.last_id, message.id)
        _add(found.posts, found.broken, message, client, entities, channel)
    for update in answer.other_updates:
        if isinstance(update, types.UpdateEditChannelMessage):
            _add(found.edits, found.broken, update.message, client, entities, channel)
        elif isinstance(update, types.UpdateDeleteChannelMessages):
            found.deleted.extend(update.messages)
        elif isinstance(update, types.UpdateNewChannelMessage):  # Telegram may put them here too
            found.last_id = max(found.last_id, update.message.id)
            _add(found.posts, found.broken, update.message, client, entities, channel)
    found.posts.sort(key=lambda p: p.message_id)
    return found


def _add(into: list[Post], broken: list, message, client, entities, channel) -> None:
    if not isinstance(message, types.Message):
        return  # service messages carry nothing to archive; their ids count in last_id
    # the names of authors and forward origins come from the answer's own users and chats,
    # as Telethon does for every message it returns
    message._finish_init(client, entities, channel)
    try:
        into.append(to_post(message))
    except Exception as error:
        broken.append((message.id, f"{type(error).__name__}: {error}"))
