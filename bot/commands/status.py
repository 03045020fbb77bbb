"""`dozor status`: per chat the title, checkpoint, last message, today's counts and errors.

Reads the archive only (no Telegram), so it works while the service runs.
"""
from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict
from datetime import datetime, timezone

from bot import heartbeat
from bot.archive import Archive
from bot.archive import media as media_queue
from bot.archive.digests import digest_status
from bot.config import load_settings
from bot.display import say

HELP = "show per-chat progress, today's counts and errors (--json for scripts)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def main(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    report = asyncio.run(collect(settings))
    say(json.dumps(report, ensure_ascii=False, indent=2, default=str) if args.json else render(report))
    return 0


async def collect(settings) -> dict:
    zone = settings.digest_tz
    midnight = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    async with Archive.opened_read_only(settings.archive_path) as archive:
        chats = await archive.status(since=midnight)
        totals = await archive.totals()
        media = await media_queue.counts(archive)
        digest = await digest_status(archive)
    rows = []
    for chat in chats:
        row = asdict(chat)
        if chat.last_message_at:
            row["last_message_at"] = chat.last_message_at.astimezone(zone).isoformat(timespec="minutes")
        rows.append(row)
    beat, now = heartbeat.read(settings.storage), datetime.now(timezone.utc)
    service = {"running": heartbeat.running(beat, now), "heartbeat": beat,
               "disk_free": heartbeat.free_space(settings.storage),
               "summary": heartbeat.describe(beat, now, heartbeat.free_space(settings.storage))}
    return {"time_zone": str(zone), "service": service, "chats": rows, "totals": totals, "media": media,
            "digest": digest}


def render(report: dict) -> str:
    header = ("chat", "title", "checkpoint", "last message", "today", "matched", "error")
    lines = [
        (r["source"], r["title"] or "—", str(r["checkpoint"]), (r["last_message_at"] or "—").replace("T", " "),
         str(r["archived_today"]), str(r["matches_today"]), r["error"] or "")
        for r in report["chats"]
    ]
    widths = [max(len(h), *(len(line[i][:40]) for line in lines)) if lines else len(h)
              for i, h in enumerate(header)]
    out = [*report["service"]["summary"], ""]
    out.append("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    out += ["  ".join(cell[:40].ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines]
    totals = report["totals"]
    out.append("")
    out.append(", ".join(f"{value} {name}" for name, value in totals.items()) + f"  (times in {report['time_zone']})")
    out.append(_media_line(report["media"]))
    out.extend(_digest_lines(report["digest"]))
    return "\n".join(out)


def _media_line(media: dict) -> str:
    line = (f"media: {media['pending']} pending, {media['done']} done, {media['skipped']} skipped, "
            f"{media['failed']} failed")
    if media.get("paused"):
        line += f" — PAUSED: {media['pause_reason'].removeprefix('paused: ')}"
    if media["failed"]:
        line += " (see `dozor media`)"
    return line


def _digest_lines(digest: dict) -> list[str]:
    lines = []
    if digest.get("last_sent"):
        last = digest["last_sent"]
        lines.append(f"digest: last sent {last['period']} at {last['sent_at']}")
    for failed in digest.get("failed", []):
        lines.append(f"digest {failed['period']}: FAILED after {failed['attempts']} attempts "
                     f"({failed['parts_sent']}/{failed['parts']} parts sent): {failed['error']}")
    for pending in digest.get("pending", []):
        lines.append(f"digest {pending['period']}: {pending['parts_sent']}/{pending['parts']} parts sent, "
                     f"{pending['attempts']} attempts, next {pending['next_attempt_at'] or '—'}: "
                     f"{pending['error'] or 'waiting'}")
    return lines
