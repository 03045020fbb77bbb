"""The desk: one incoming message from the editors' chat or a private chat → at most one answer.

    desk = Desk(settings, archive, rules=lambda: holder.current, replies=telegram_replies)
    await desk.handle(Incoming(chat_id=-1001…, message_id=7, sender_id=42, username="anna_ed",
                               text="/search ТЦК 7d", private=False))

Editors (DOZOR_EDITORS) get answers; anyone else gets none of the archive: silence in a
group, a short refusal in a private chat, and a log line that names the person, never the
text. Each editor may send DESK_RATE commands a minute. Replies to digest items and
forwarded messages become labels (bot/archive/labels.py, source "desk").
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Mapping, Protocol

from bot.archive import Archive, iso, utcnow
from bot.archive import desk as store
from bot.archive import media as media_queue
from bot.archive.digests import digest_status
from bot.archive.labels import add_label, current_labels
from bot.archive.search import search
from bot.config import Settings
from bot.desk import answers
from bot.desk.access import Editors, who
from bot.desk.commands import CommandError, parse_command, parse_search
from bot.desk.feedback import item_number, pick, tags, verdict
from bot.desk.ratelimit import RateLimit
from bot.digest.compose import split
from bot.digest.sender import build_layout, so_far
from bot.matching import Rules, match

log = logging.getLogger("dozor.desk")


@dataclass(frozen=True, slots=True)
class Forwarded:
    """Where a forwarded message came from, when Telegram says so, and its text."""

    chat_id: int | None
    message_id: int | None
    text: str


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message to the desk, as plain data (bot/telegram/desk.py makes these)."""

    chat_id: int
    message_id: int
    sender_id: int | None
    username: str | None
    text: str
    private: bool
    reply_to: int | None = None
    forward: Forwarded | None = None
    reaction: bool = False  # the text is an emoji reaction to message reply_to


def kind_of(msg: Incoming, waiting_for_topic: bool) -> str | None:
    """What a message to the desk is: "command", "forward" (a missed message, in private),
    "topic" (naming the topic of that forward), "feedback" (a verdict on a digest item), or
    None (talk among editors, which the desk leaves alone)."""
    if msg.forward is not None:
        return "forward" if msg.private else None
    if parse_command(msg.text) is not None:
        return "command"
    if msg.private and waiting_for_topic and tags(msg.text):
        return "topic"
    if msg.reply_to is not None and verdict(msg.text) is not None:
        return "feedback"
    return None


class Replies(Protocol):
    async def send(self, chat_id: int, html: str, reply_to: int | None = None) -> int | None:
        """Post `html` in the chat; Telegram's id of the new message (None if unknown)."""


class Desk:
    def __init__(self, settings: Settings, archive: Archive, rules: Callable[[], Rules], replies: Replies, *,
                 clock: Callable[[], datetime] = utcnow, monotonic: Callable[[], float] = time.monotonic):
        self.settings, self.archive, self.rules, self.replies = settings, archive, rules, replies
        self.clock, self.monotonic = clock, monotonic
        self.editors = Editors.parse(settings.editors)
        self.limit = RateLimit(settings.desk_rate)
        self.strangers = RateLimit(1)
        self.digest_chat_id: int | None = None  # DIGEST_CHAT's id, once the listener resolved it
        self.pending: dict[int, Forwarded] = {}  # editor → forwarded message waiting for its topic

    @property
    def titles(self) -> Mapping[str, str]:
        return self.rules().topics

    async def handle(self, msg: Incoming) -> None:
        kind = kind_of(msg, waiting_for_topic=msg.sender_id in self.pending)
        if not self.editors.admits(msg.sender_id, msg.username):
            # one log line and one refusal a minute per person and chat: a stranger cannot make the
            # account flood a chat, nor the log
            attempt = kind == "command" or kind == "forward"
            if attempt and not self.strangers.take(f"{msg.sender_id} in {msg.chat_id}", self.monotonic()):
                where = "a private chat" if msg.private else f"chat {msg.chat_id}"
                log.warning("desk: %s is not in DOZOR_EDITORS; refused a command in %s",
                            who(msg.sender_id, msg.username), where)
                if msg.private:
                    await self._say(msg, answers.refusal())
            return
        if kind is None:
            return  # editors talking among themselves
        editor = str(msg.sender_id)
        wait = self.limit.take(editor, self.monotonic())
        if wait:
            if self.limit.should_warn(editor, self.monotonic()):
                await self._say(msg, answers.slow_down(wait))
            return
        try:
            if kind == "command":
                command = parse_command(msg.text)
                await self._command(msg, command.name, command.args)
            elif kind == "forward":
                self.pending[msg.sender_id] = msg.forward
                await self._say(msg, answers.which_topic(self.titles))
            elif kind == "topic":
                await self._name_forward(msg)
            else:
                await self._feedback(msg)
        except CommandError as error:
            await self._say(msg, answers.mistake(str(error)))
        except Exception:
            log.exception("desk: could not answer %s", who(msg.sender_id, msg.username))
            await self._say(msg, answers.failed())

    # ---- commands ---------------------------------------------------------------------------

    async def _command(self, msg: Incoming, name: str, args: str) -> None:
        if name in ("help", "start"):
            await self._say(msg, answers.help_text(self.titles))
        elif name == "digest":
            await self._interim_digest(msg)
        elif name == "search":
            query = parse_search(args, frozenset(self.titles))
            since = self.clock() - timedelta(days=query.days) if query.days else None
            hits = await search(self.archive, query.words, topic=query.topic, since=since,
                                limit=answers.SHOWN + 1, best_first=True, skip=(query.page - 1) * answers.SHOWN)
            pieces = answers.search_answer(query, hits, self.settings.digest_tz, len(hits) > answers.SHOWN,
                                           self.titles)
            await self._say(msg, *pieces)
        elif name == "status":
            await self._say(msg, await self._status())
        elif name == "check":
            if not args:
                raise CommandError("напишіть текст після команди: /check ТЦК пакують біля метро")
            result = await asyncio.to_thread(match, self.rules(), args)
            await self._say(msg, answers.check_answer(args, result, self.titles))
        else:
            await self._say(msg, answers.unknown(name))

    async def _interim_digest(self, msg: Incoming) -> None:
        """Everything since the last scheduled digest, in its layout; the schedule is untouched."""
        now = self.clock()
        composed = await build_layout(self.settings, self.archive, so_far(self.settings, now), self.titles)
        posted = []
        for part, html in enumerate(composed.parts, start=1):
            message_id = await self.replies.send(msg.chat_id, html, msg.message_id if part == 1 else None)
            if message_id is not None:
                posted.append((part, message_id))
        await store.save_interim(self.archive, f"interim:{iso(now)}", msg.chat_id, posted, composed.items)

    async def _status(self) -> str:
        zone = self.settings.digest_tz
        now = self.clock()
        midnight = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
        chats = await self.archive.status(since=midnight)
        totals = await self.archive.totals()
        media = await media_queue.counts(self.archive)
        digest = await digest_status(self.archive)
        return answers.status_answer(chats, totals, media, digest, zone, now)

    # ---- feedback ---------------------------------------------------------------------------

    async def _feedback(self, msg: Incoming) -> None:
        found = await store.items_of_message(self.archive, msg.chat_id, msg.reply_to,
                                             digest_chat=self.settings.digest_chat
                                             if msg.chat_id == self.digest_chat_id else None)
        if found is None:
            return  # a reply to something that is no digest
        _key, part, items = found
        number = item_number(msg.text)
        item = pick(items, part, number)
        if item is None:
            await self._say(msg, answers.no_item(number) if number is not None else answers.which_item())
            return
        message = await self.archive.message(item.chat_id, item.message_id)
        if message is None:
            return
        topics = self._topics(msg.text) or sorted({m["topic"] for m in message["matches"]})
        if not topics:
            await self._say(msg, answers.which_topic(self.titles))
            return
        correct = verdict(msg.text)
        by = who(msg.sender_id, msg.username)
        if msg.reaction and await self._said_already(item.chat_id, item.message_id, topics, correct, by):
            return  # Telegram repeats every recent reaction with each new one
        for topic in topics:
            await add_label(self.archive, topic=topic, correct=correct, chat_id=item.chat_id,
                            message_id=item.message_id, source="desk", by=by)
        await self._say(msg, answers.labelled(item.number, topics, correct, self.titles))

    async def _said_already(self, chat_id: int, message_id: int, topics: list[str], correct: bool, by: str) -> bool:
        for topic in topics:
            said = [label for label in await current_labels(self.archive, topic)
                    if (label.chat_id, label.message_id) == (chat_id, message_id)]
            if not said or said[-1].correct != correct or said[-1].labelled_by != by:
                return False
        return True

    async def _name_forward(self, msg: Incoming) -> None:
        topics = self._topics(msg.text)
        forward = self.pending.pop(msg.sender_id)
        known = None
        if forward.chat_id is not None and forward.message_id is not None:
            known = await self.archive.message(forward.chat_id, forward.message_id)
        for topic in topics:
            await add_label(self.archive, topic=topic, correct=True, chat_id=forward.chat_id,
                            message_id=forward.message_id, text=None if known else forward.text,
                            source="desk", by=who(msg.sender_id, msg.username))
        await self._say(msg, answers.labelled(None, topics, True, self.titles))

    def _topics(self, text: str) -> list[str]:
        """The #topics named in a reply; CommandError for one the keywords file does not have."""
        named = tags(text)
        for tag in named:
            if tag not in self.titles:
                raise CommandError(f"немає теми #{tag}; теми: " + ", ".join(f"#{t}" for t in self.titles))
        return named

    async def _say(self, msg: Incoming, *pieces: str) -> None:
        for number, html in enumerate(split(list(pieces))):
            await self.replies.send(msg.chat_id, html, msg.message_id if number == 0 else None)
