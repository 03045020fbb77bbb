"""`dozor search WORDS`: find archived messages by any form of their words, newest first, with links."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime, timedelta

from bot.archive import Archive
from bot.archive.search import search
from bot.config import load_settings
from bot.display import say

HELP = "search the archive by word forms: dozor search 'ТЦК бусифікація' [--topic T] [--days N | --since … --until …]"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("words", nargs="*", help="words that must all occur, in any form (бусифікація finds бусифікували, ТЦК finds тцкашники)")
    parser.add_argument("--topic", help="only messages that matched this topic")
    parser.add_argument("--chat", type=int, help="only this chat (marked id, as in `dozor status --json`)")
    parser.add_argument("--days", type=float, help="only the last N days")
    parser.add_argument("--since", type=_local_time, help="from this local date/time (YYYY-MM-DD[THH:MM])")
    parser.add_argument("--until", type=_local_time, help="before this local date/time (YYYY-MM-DD[THH:MM])")
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="one JSON object per line")


def main(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    zone = settings.digest_tz
    since = args.since.replace(tzinfo=zone) if args.since else None
    until = args.until.replace(tzinfo=zone) if args.until else None
    if args.days:
        since = datetime.now(zone) - timedelta(days=args.days)
    if not (args.words or args.topic or since or until):
        print("dozor: give words to search for, or --topic / --days / --since to list", file=sys.stderr)
        return 2
    hits = asyncio.run(_search(settings, " ".join(args.words), args.topic, args.chat, since, until, args.limit))
    for hit in hits:
        when = hit.date.astimezone(settings.digest_tz).strftime("%Y-%m-%d %H:%M")
        if args.json:
            say(json.dumps({"chat": hit.chat.title, "chat_id": hit.chat.id, "message_id": hit.message_id,
                              "date": hit.date.isoformat(), "link": hit.link, "topics": list(hit.topics),
                              "deleted": hit.deleted, "text": hit.text}, ensure_ascii=False))
        else:
            mark = " [deleted]" if hit.deleted else ""
            say(f"{when}  {hit.chat.title}{mark}  {hit.link or ''}\n    {hit.snippet}")
    if not args.json:
        print(f"{len(hits)} found")
    return 0


def _local_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD or YYYY-MM-DDTHH:MM, got {text!r}") from None


async def _search(settings, words, topic, chat, since, until, limit):
    async with Archive.opened_read_only(settings.archive_location) as archive:
        return await search(archive, words, topic=topic, chat_id=chat, since=since, until=until, limit=limit)
