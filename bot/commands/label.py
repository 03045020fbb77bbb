"""`dozor label CHAT/ID yes|no TOPIC`: say whether an archived message is about a topic.

    dozor label @kyiv_obolon_chat/4512 yes busification
    dozor label https://t.me/kyiv_news/881 no szch        # a link copied from the digest
    dozor label t.me/c/1234567890/77 yes enlistment_centre  # a private chat's link

The label is kept in the archive with the text as it is now; a later label of the same message
and topic replaces it in force (both are kept). Labels feed `dozor keywords test`, `dozor
keywords report` and `dozor keywords train`.
"""
from __future__ import annotations

import argparse
import asyncio
import getpass
import re
import sys
from pathlib import Path

from bot.archive import Archive, ArchiveError
from bot.archive.labels import add_label
from bot.commands.check import keywords_path
from bot.config import load_settings
from bot.matching import load_rules
from bot.model import CHANNEL_ID_OFFSET, Chat

HELP = "label an archived message: dozor label @chat/123 yes|no TOPIC (feeds keywords test, report, train)"

_LINK = re.compile(r"^(?:https?://)?(?:t\.me|telegram\.me)/(c/)?([\w]+)/(\d+)/?$", re.IGNORECASE)
_PLAIN = re.compile(r"^@?(-?\w+)/(\d+)$")
_VERDICTS = {"yes": True, "no": False}


class BadReference(ValueError):
    pass


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("message", help="@chat/ID, a t.me link, or CHAT_ID/ID (the marked id of `dozor status --json`)")
    parser.add_argument("verdict", choices=sorted(_VERDICTS), help="yes: it is about the topic; no: it is not")
    parser.add_argument("topic", help="a topic of the keywords file")
    parser.add_argument("--keywords", type=Path, default=None, help="keywords file (default: DOZOR_KEYWORDS)")
    parser.add_argument("--by", default=None, help="who says so (default: the system user)")


def parse_reference(text: str) -> tuple[str | int, int]:
    """(chat username, or marked chat id, message id) from what an editor pastes."""
    text = text.strip()
    link = _LINK.match(text)
    if link:
        private, chat, message = link.groups()
        if private:
            if not chat.isdigit():
                raise BadReference(f"{text!r}: a t.me/c/ link has a number after c/")
            return CHANNEL_ID_OFFSET - int(chat), int(message)
        return chat.lower(), int(message)
    plain = _PLAIN.match(text)
    if plain:
        chat, message = plain.groups()
        return (int(chat) if chat.lstrip("-").isdigit() else chat.lower()), int(message)
    raise BadReference(f"{text!r}: expected @chat/ID, https://t.me/chat/ID, t.me/c/NUMBER/ID or CHAT_ID/ID")


def main(args: argparse.Namespace) -> int:
    rules = load_rules(keywords_path(args))
    if args.topic not in rules.topics:
        print(f"dozor label: unknown topic {args.topic!r}; the keywords file has {', '.join(rules.topics)}",
              file=sys.stderr)
        return 2
    try:
        chat, message_id = parse_reference(args.message)
    except BadReference as error:
        print(f"dozor label: {error}", file=sys.stderr)
        return 2
    settings = load_settings(args.config)
    by = args.by or getpass.getuser()
    label = asyncio.run(_label(settings.archive_location, chat, message_id, args.topic, _VERDICTS[args.verdict], by))
    verdict = "is" if label.correct else "is not"
    print(f"labelled: message {message_id} of {chat if isinstance(chat, int) else '@' + chat} "
          f"{verdict} about {args.topic}")
    return 0


async def _label(path, chat: str | int, message_id: int, topic: str, correct: bool, by: str):
    async with Archive.opened(path) as archive:
        found = _find_chat(await archive.chats(), chat)
        if found is None:
            raise ArchiveError(f"chat {chat if isinstance(chat, int) else '@' + chat} is not in the archive")
        return await add_label(archive, chat_id=found.id, message_id=message_id, topic=topic,
                               correct=correct, source="cli", by=by)


def _find_chat(chats: list[Chat], chat: str | int) -> Chat | None:
    for known in chats:
        if isinstance(chat, int):
            if known.id == chat or known.internal_id == abs(chat):
                return known
        elif known.username and known.username.lower() == chat:
            return known
    return None
