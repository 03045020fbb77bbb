"""`dozor import EXPORT`: a Telegram Desktop export of a chat into the archive.

    dozor import ~/Downloads/ChatExport_2026-11-20      # the folder or its result.json
    dozor import export/result.json --all            # keep every message, not only matches
    dozor import export --username kyiv_news         # the chat's public name, which Desktop leaves out

For history older than the account can read, or chats that have since been closed. Messages are
matched like live posts; files in the export are stored by hash. Importing twice changes nothing.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.archive import Archive
from bot.config import load_settings
from bot.imports.desktop import ExportError, read_export
from bot.imports.importer import import_export
from bot.matching import load_rules
from bot.media.store import MediaStore

NAME = "import"
HELP = "import a Telegram Desktop export (result.json and its files): dozor import EXPORT [--all]"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("export", type=Path, help="the export's folder or its result.json (JSON format)")
    parser.add_argument("--all", action="store_true",
                        help="archive every message of the export, not only those that match a topic")
    parser.add_argument("--username", help="the chat's public @name (Desktop does not export it): links to "
                                           "the originals and rules that name the chat then work")


def main(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    rules = load_rules(settings.keywords)
    try:
        export = read_export(args.export)
    except ExportError as error:
        print(f"dozor import: {error}", file=sys.stderr)
        return 2
    username = args.username.strip().lstrip("@") if args.username else None
    if username and len(export.chats) != 1:
        print("dozor import: --username names one chat, and this export holds several", file=sys.stderr)
        return 2
    report = asyncio.run(_import(settings, rules, export, args.all, username))
    problems = [*report.refused, *(reason for chat in report.chats for reason in chat.broken)]
    for problem in problems:
        print(f"dozor import: {export.path}: {problem}", file=sys.stderr)
    for chat in report.chats:
        print(f"{chat.title} ({chat.chat_id}): {chat.read} messages read, {chat.service} service messages passed; "
              f"{chat.archived} archived ({chat.matched} matched), {chat.edited} with a newer text kept as a version; "
              f"{chat.media_stored} files stored, {chat.media_missing} not in the export"
              + (f"; {len(chat.broken)} unreadable, left out" if chat.broken else ""))
    if problems:
        print(f"dozor import: {len(problems)} item(s) could not be read; they wait in the failures table",
              file=sys.stderr)
    return 1 if problems else 0


async def _import(settings, rules, export, keep_all, username):
    # no store.prepare(): it removes half-written files, and the service may be downloading now
    store = MediaStore(settings.media_dir)
    async with Archive.opened(settings.archive_location, must_exist=False) as archive:
        return await import_export(archive, store, rules, export, keep_all, username)
