"""`dozor export`: archived messages of a chat, topic or period, with their media, for people
who work outside the server; `--evidence` adds a signed manifest that `dozor verify` checks.

    dozor export --out szch-november --topic szch --since 2026-11-01 --until 2026-12-01
    dozor export --out kyiv --chat -1001234567890 --evidence
    dozor export --public-key          # the installation's public key, to publish or hand over

The folder holds messages.jsonl (every version with the time the archive saw it, UTC),
messages.csv, media/<sha256>.<ext>; with --evidence also manifest.jsonl, signature.json and
public-key.pem. The signing key is <storage>/evidence-key.pem (created on first use, 0600).
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from bot.archive import Archive
from bot.chat_refs import parse_chat
from bot.commands.search import _local_time
from bot.config import load_settings
from bot.export.bundle import ExportError, Selection, export
from bot.export.evidence import fingerprint
from bot.export.keys import SigningKeyError, public_pem, signing_key

HELP = "export messages with their media to JSON Lines and CSV; --evidence signs a verifiable bundle"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, help="a new folder to write into")
    parser.add_argument("--chat", help="only this chat: @username or marked id (as in `dozor status --json`)")
    parser.add_argument("--topic", help="only messages that matched this topic")
    parser.add_argument("--days", type=float, help="only the last N days")
    parser.add_argument("--since", type=_local_time, help="from this local date/time (YYYY-MM-DD[THH:MM])")
    parser.add_argument("--until", type=_local_time, help="before this local date/time (YYYY-MM-DD[THH:MM])")
    parser.add_argument("--evidence", action="store_true",
                        help="add a hash-chained manifest of every version and file, signed with the installation's key")
    parser.add_argument("--public-key", action="store_true", help="print the installation's public key and exit")


def main(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    try:
        if args.public_key:
            key = signing_key(settings.storage).public_key()
            sys.stdout.write(public_pem(key).decode("ascii"))
            print(f"fingerprint {fingerprint(key)}")
            return 0
        if args.out is None:
            print("dozor export: give --out FOLDER (a new folder)", file=sys.stderr)
            return 2
        zone = settings.digest_tz
        since = args.since.replace(tzinfo=zone) if args.since else None
        until = args.until.replace(tzinfo=zone) if args.until else None
        if args.days:
            since = datetime.now(zone) - timedelta(days=args.days)
        key = signing_key(settings.storage) if args.evidence else None
        summary = asyncio.run(_export(settings, args.out, Selection(args.chat, args.topic, since, until), key))
    except (ExportError, SigningKeyError) as error:
        print(f"dozor export: {error}", file=sys.stderr)
        return 1
    print(f"{summary.messages} messages ({summary.versions} versions), {summary.files} media files "
          f"({summary.bytes / 1e6:.1f} MB) in {summary.path}")
    if summary.files_missing:
        print(f"{summary.files_missing} media files are not in the archive (not downloaded, skipped or failed: "
              "see `dozor media`); their messages say so")
    if key is not None:
        print(f"evidence: {summary.entries} entries signed with key {fingerprint(key.public_key())}; "
              f"check with `dozor verify {summary.path}`")
    return 0


async def _export(settings, out, selection, key):
    async with Archive.opened_read_only(settings.archive_location) as archive:
        if selection.chat_id is not None:
            selection = replace(selection, chat_id=await _chat_id(archive, selection.chat_id))
        return await export(archive, settings.storage, out, selection, key)


async def _chat_id(archive: Archive, given: str) -> int:
    """--chat as every chat is written (bot/chat_refs.py): an id, @name or t.me link."""
    try:
        ref = parse_chat(given, bare=True)
    except ValueError as error:
        raise ExportError(f"--chat: {error}") from None
    if ref.kind == "id":
        return ref.value
    name = str(ref.value).lower()
    for chat in await archive.chats():
        if chat.username and chat.username.lower() == name:
            return chat.id
    raise ExportError(f"--chat {given}: no chat of that name in the archive; give its marked id "
                      "(`dozor status --json`)")
