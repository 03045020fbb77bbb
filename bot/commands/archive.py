"""`dozor archive copy`: move the archive to PostgreSQL (or copy it anywhere else).

    dozor archive copy --to postgresql://dozor@db.example/dozor
    dozor archive copy --from storage/archive.sqlite3 --to postgresql://…   # the default source

Stop the service first: the copy checks the row counts of every table at the end and says
which differ. Interrupted, it resumes where it stopped when run again. Then set
DOZOR_DATABASE_URL to the target and start the service.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.archive import Archive, NoArchive
from bot.archive.copy import copy_archive
from bot.archive.database import describe, exists, is_url
from bot.config import load_settings

HELP = "copy the archive to another database (SQLite → PostgreSQL); resumable, counts checked"


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    copy = actions.add_parser("copy", help="copy every table, media references included",
                              description="copy every table, media references included; resumable")
    copy.add_argument("--to", required=True, metavar="URL",
                      help="the target: postgresql://user@host/database (or a SQLite file)")
    copy.add_argument("--from", dest="source", default=None, metavar="PATH_OR_URL",
                      help="the source (default: the SQLite archive in DOZOR_STORAGE)")
    copy.add_argument("--batch", type=int, default=2000, help="rows per committed batch (default 2000)")


def main(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    source = args.source or settings.archive_path
    source = source if is_url(source) else Path(source)
    target = args.to if is_url(args.to) else Path(args.to)
    if not exists(source):
        raise NoArchive(source)
    return asyncio.run(_copy(source, target, max(1, args.batch)))


async def _copy(source, target, batch: int) -> int:
    print(f"copying {describe(source)} → {describe(target)}", file=sys.stderr)
    async with Archive.opened(source) as reader, Archive.opened(target, must_exist=False) as writer:
        def progress(table: str, done: int, total: int) -> None:
            print(f"  {table}: {done}/{total}", file=sys.stderr)

        report = await copy_archive(reader, writer, batch=batch, progress=progress if sys.stderr.isatty() else None)
    width = max(len(r.table) for r in report)
    for r in report:
        note = f"{r.copied} copied now" if r.copied else "already there"
        print(f"{r.table:<{width}}  {r.target:>9} rows  ({note})")
    print(f"done: every table holds as many rows as the source; set DOZOR_DATABASE_URL={describe(target)} "
          "and start the service")
    return 0
