"""`dozor digest`: see the digest before the editors do, or send it now.

    dozor digest --preview                     # the period in progress so far (the next digest)
    dozor digest --preview --last              # the latest period that has ended, as it was sent
    dozor digest --preview --date 2026-03-29   # the period ending that local date at DIGEST_TIME
    dozor digest --preview --html digest.html  # a page to open in a browser
    dozor digest --send                        # post the latest ended period now, if not posted yet

`--send` never sends the period in progress: that one is sent at DIGEST_TIME, whole. Editors
who want it sooner ask for /digest in Telegram, which leaves the schedule untouched.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date

from bot.archive import Archive, utcnow
from bot.archive import digests as store
from bot.config import load_settings
from bot.display import say
from bot.digest.compose import page, utf16_len, visible
from bot.digest.schedule import INTERIM
from bot.digest.sender import build, period_for, period_on, send_period, so_far
from bot.lock import AlreadyRunning, StorageLock

HELP = "preview the digest so far (--preview [--last | --date D] [--html FILE]) or send the last one (--send)"


def configure(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--preview", action="store_true", help="show the digest without sending it")
    mode.add_argument("--send", action="store_true",
                      help="send the latest period that has ended to DIGEST_CHAT now, unless Telegram already "
                           "has it (the period in progress is never sent early)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--last", action="store_true",
                       help="with --preview: the latest period that has ended (default: the one in progress)")
    which.add_argument("--date", type=_date, metavar="YYYY-MM-DD",
                       help="with --preview: the period ending on this local date at DIGEST_TIME")
    parser.add_argument("--html", metavar="FILE", help="with --preview: write an HTML page instead of printing")
    parser.add_argument("--raw", action="store_true", help="with --preview: print the HTML sent to Telegram")


def main(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    if args.send:
        if args.date or args.last or args.html or args.raw:
            print("dozor: --last, --date, --html and --raw go with --preview", file=sys.stderr)
            return 2
        try:
            with StorageLock(settings.lock_path):
                return asyncio.run(_send(settings))
        except AlreadyRunning as error:
            print(f"dozor: {error}; the running service sends and retries digests itself "
                  "(`dozor status` shows why one is late)", file=sys.stderr)
            return 3
    return asyncio.run(_preview(settings, args))


async def _preview(settings, args) -> int:
    if args.date:
        period = period_on(settings, args.date)
    elif args.last:
        period = period_for(settings, utcnow())
    else:
        period = so_far(settings, utcnow())
    async with Archive.opened_read_only(settings.archive_location) as archive:
        parts = await build(settings, archive, period)
    if args.html:
        with open(args.html, "w", encoding="utf-8") as out:
            out.write(page(parts, f"dozor {_name(period)}"))
        print(f"{_name(period)}: {len(parts)} message(s) written to {args.html}")
        return 0
    for number, html in enumerate(parts, start=1):
        text = html if args.raw else visible(html)
        print(f"──── {_name(period)} · message {number}/{len(parts)} · "
              f"{utf16_len(visible(html))} characters, {len(html)} of HTML ────")
        say(text)
        print()
    return 0


async def _send(settings) -> int:
    if not settings.digest_chat:
        print("dozor: DIGEST_CHAT is not set: name the editors' channel in config.env", file=sys.stderr)
        return 2
    period = period_for(settings, utcnow())
    async with Archive.opened(settings.archive_location) as archive:
        return await _send_period(settings, archive, period)


async def _send_period(settings, archive, period) -> int:
    from bot.telegram.client import NotLoggedIn, open_authorised
    from bot.telegram.publish import PublishError, Publisher

    client = None
    try:
        if period.key in await store.sent_periods(archive, period.start):
            print(f"{period.key}: already sent; nothing to do")
            return 0
        if not settings.digest_bot_token:
            try:
                client = await open_authorised(settings)
            except NotLoggedIn as error:
                print(f"dozor: {error}", file=sys.stderr)
                return 2
        publisher = Publisher(settings, client)
        try:
            posted = await send_period(settings, archive, publisher, period)
        except PublishError as error:
            await store.record_refusal(archive, period.key, error.reason, None)
            print(f"dozor: {period.key} not sent: {error.reason}", file=sys.stderr)
            return 1
        finally:
            await publisher.close()
        print(f"{period.key}: sent to {settings.digest_chat} ({posted} message(s) posted now)")
        return 0
    finally:
        if client is not None:
            await client.disconnect()


def _name(period) -> str:
    if period.kind == INTERIM:
        return f"so far (the digest of {period.day.isoformat()}, up to now)"
    return period.key


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None
