"""`dozor media`: the media queue — pending, done, skipped and failed, with the reasons.

    dozor media                 # counts, then the pending, failed and skipped items with reasons
    dozor media --json          # the same as one JSON document
    dozor media retry           # failed items back in the queue (the running service picks them up)
    dozor media retry --skipped # also the skipped ones, e.g. after raising MEDIA_MAX_MB

Reads and writes the archive only (no Telegram), so it works while the service runs.
"""
from __future__ import annotations

import argparse
import asyncio
import json

from bot.archive import Archive, iso
from bot.archive import media as queue
from bot.config import load_settings
from bot.display import say
from bot.media.policy import MB

HELP = "show the media queue (pending, done, skipped, failed with reasons); `retry` re-queues failed ones"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=["show", "retry"], default="show",
                        help="show (default) or retry: put failed downloads back in the queue")
    parser.add_argument("--skipped", action="store_true",
                        help="with retry: also re-queue skipped items (they are checked against the limits again)")
    parser.add_argument("--limit", type=int, default=20, help="items listed per status (default 20)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def main(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    if args.action == "retry":
        count = asyncio.run(retry(settings, args.skipped))
        what = "failed or skipped" if args.skipped else "failed"
        print(f"{count} {what} media item{'s' if count != 1 else ''} back in the queue"
              + (": the running service downloads them within seconds" if count else ""))
        return 0
    report = asyncio.run(collect(settings, args.limit))
    say(json.dumps(report, ensure_ascii=False, indent=2, default=str) if args.json else render(report))
    return 0


async def retry(settings, include_skipped: bool) -> int:
    async with Archive.opened(settings.archive_location) as archive:
        return await queue.retry_failed(archive, include_skipped=include_skipped)


async def collect(settings, limit: int) -> dict:
    async with Archive.opened_read_only(settings.archive_location) as archive:
        counts = await queue.counts(archive)
        report = {"counts": counts, "limits": {"max_mb": settings.media_max_mb, "types": list(settings.media_types),
                                               "workers": settings.media_workers}}
        for status in ("pending", "failed", "skipped"):
            report[status] = [{**item, "next_attempt_at": iso(item["next_attempt_at"]),
                               "updated_at": iso(item["updated_at"])}
                              for item in await queue.listing(archive, status, limit)]
            report[f"{status}_reasons"] = await queue.reasons(archive, status)
    return report


def _where(item: dict) -> str:
    if item["username"]:
        return f"t.me/{item['username']}/{item['message_id']}"
    return f"{item['title']} #{item['message_id']}"


def _size(size: int | None) -> str:
    if size is None:
        return "?"
    return f"{size / MB:.1f} MB" if size >= MB else f"{size / 1024:.0f} KB"


def render(report: dict) -> str:
    counts = report["counts"]
    out = [f"media: {counts['pending']} pending, {counts['done']} done, {counts['skipped']} skipped, "
           f"{counts['failed']} failed; {counts['files']} files, {_size(counts['bytes'])} stored"]
    if counts["paused"]:
        out.append(f"DOWNLOADS PAUSED ({counts['paused']} waiting): {counts['pause_reason'].removeprefix(queue.PAUSED)}")
    limits = report["limits"]
    out.append(f"limits: up to {limits['max_mb']:g} MB; types {', '.join(limits['types']) or 'none'}; "
               f"{limits['workers']} workers")
    for status in ("pending", "failed", "skipped"):
        items = report[status]
        if not items:
            continue
        out.append("")
        out.append(f"{status}:")
        for reason, n in report[f"{status}_reasons"]:
            if reason:
                out.append(f"  {n} × {reason}")
        for item in items:
            detail = f"{item['kind']} {_size(item['size'])}"
            if item["file_name"]:
                detail += f" {item['file_name']}"
            if status == "pending":
                when = (item["next_attempt_at"] or "now").replace("T", " ").replace("+00:00", " UTC")
                note = f"attempt {item['attempts'] + 1} at {when}"
                if item["reason"]:
                    note += f"; last: {item['reason']}"
            else:
                note = item["reason"] or ""
            out.append(f"  {_where(item):40}  {detail:30}  {note}")
        total = counts[status]
        if total > len(items):
            out.append(f"  … and {total - len(items)} more (--limit)")
    if counts["failed"]:
        out.append("")
        out.append("`dozor media retry` puts the failed ones back in the queue")
    return "\n".join(out)
