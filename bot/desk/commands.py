"""What an editor typed, as a command. Pure.

    parse_command("/search@dozor_digest_bot ТЦК метро #busification 7d")
    # Command(name="search", args="ТЦК метро #busification 7d")
    parse_search("ТЦК метро #busification 7d p2")
    # SearchQuery(words="ТЦК метро", topic="busification", days=7.0, page=2)
"""
from __future__ import annotations

import re
from dataclasses import dataclass

COMMANDS = ("digest", "search", "status", "check", "help")

_COMMAND = re.compile(r"^/([A-Za-z_]+)(?:@[A-Za-z0-9_]+)?(?:\s+(.*))?$", re.DOTALL)
# 7d, 24h, 7д, 24г: how far back a search reaches
_SPAN = re.compile(r"^(\d+(?:[.,]\d+)?)([dhдг])$", re.IGNORECASE)
_TOPIC = re.compile(r"^#(\w+)$")
_PAGE = re.compile(r"^[pс](\d{1,3})$", re.IGNORECASE)  # p2 (or с2, сторінка): the next ten


class CommandError(Exception):
    """The command cannot be carried out as typed; the message says what to type instead."""


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # lower case, without / and @bot
    args: str = ""


@dataclass(frozen=True, slots=True)
class SearchQuery:
    words: str
    topic: str | None = None
    days: float | None = None
    page: int = 1

    def typed(self, page: int | None = None) -> str:
        """The command that asks for this search (at `page`), for "more: …"."""
        parts = ["/search", self.words] if self.words else ["/search"]
        if self.topic:
            parts.append(f"#{self.topic}")
        if self.days:
            parts.append(f"{self.days:g}d" if self.days >= 1 else f"{self.days * 24:g}h")
        if (page or self.page) > 1:
            parts.append(f"p{page or self.page}")
        return " ".join(parts)


def parse_command(text: str) -> Command | None:
    """A /command (Telegram appends @botname in groups), or None for ordinary text."""
    found = _COMMAND.match(text.strip())
    if found is None:
        return None
    return Command(found.group(1).lower(), (found.group(2) or "").strip())


def parse_search(args: str, topics: set[str] | frozenset[str] = frozenset()) -> SearchQuery:
    """Words, an optional #topic, an optional span (7d, 24h) and page (p2). CommandError names
    the part that is wrong."""
    words, topic, days, page = [], None, None, 1
    for token in args.split():
        if found := _TOPIC.match(token):
            name = found.group(1)
            if topics and name not in topics:
                raise CommandError(f"немає теми #{name}; теми: " + ", ".join(f"#{t}" for t in sorted(topics)))
            topic = name
        elif found := _SPAN.match(token):
            amount = float(found.group(1).replace(",", "."))
            days = amount if found.group(2).lower() in "dд" else amount / 24
            if days <= 0:
                raise CommandError(f"{token}: проміжок має бути більшим за нуль")
        elif found := _PAGE.match(token):
            page = max(1, int(found.group(1)))
        else:
            words.append(token)
    if not words and topic is None:
        raise CommandError("що шукати? Напр.: /search ТЦК метро #busification 7d")
    return SearchQuery(" ".join(words), topic, days, page)
