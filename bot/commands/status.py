"""`dozor status`: per chat the title, checkpoint, last message, today's counts and errors.

Reads the archive only (no Telegram), so it works while the service runs.
"""
from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict
from datetime import datetime, timedelta

from bot import heartbeat
from bot.archive import Archive, iso
from bot.archive import media as media_queue
from bot.archive.digests import digest_status
from bot.archive.coverage import load_coverage
from bot.archive.limits import flood_waits, memberships, plan_progress
from bot.config import load_settings
from bot.coverage import describe, summarise, summary_line
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
    async with Archive.opened_read_only(settings.archive_location) as archive:
        chats = await archive.status(since=midnight)
        totals = await archive.totals()
        media = await media_queue.counts(archive)
        digest = await digest_status(archive)
        limits = {"plan": await plan_progress(archive, settings.chats), "flood_waits": await flood_waits(archive)}
        joined = await memberships(archive)
        coverage = await load_coverage(archive)
    now = datetime.now(zone)
    rows = []
    for chat in chats:
        row = asdict(chat)
        row["membership"] = joined.get(chat.chat_id)  # None: not settled by the plan yet
        if chat.last_message_at:
            row["last_message_at"] = chat.last_message_at.astimezone(zone).isoformat(timespec="minutes")
        row["coverage"] = _coverage(coverage.get(chat.chat_id), now, zone)
        rows.append(row)
    for wait in limits["flood_waits"]:
        wait["started_at"] = iso(wait["started_at"])
        wait["until"] = wait["until"].astimezone(zone).isoformat(timespec="seconds")
    if limits["plan"]["account"]:
        limits["plan"]["account"]["counted_at"] = iso(limits["plan"]["account"]["counted_at"])
    # the digest's moments as the UTC text they are shown in
    for row in filter(None, (digest["last_sent"], *digest["pending"], *digest["failed"])):
        for key in ("sent_at", "error_at", "next_attempt_at", "failed_at"):
            if key in row:
                row[key] = iso(row[key])
    beat = heartbeat.read(settings.storage)
    free = heartbeat.free_space(settings.storage)
    service = {"running": heartbeat.running(beat, now), "heartbeat": beat, "disk_free": free,
               "summary": heartbeat.describe(beat, now, free)}
    # a chat counts as current when it is complete up to one polling interval ago
    watched = [coverage[c.chat_id] for c in chats if c.chat_id in coverage]
    summary = summarise(watched, now - timedelta(seconds=settings.catchup_interval))
    names = {c.chat_id: c.title or c.source for c in chats}
    return {"time_zone": str(zone), "service": service, "chats": rows, "totals": totals, "media": media,
            "digest": digest, "coverage": summary_line(summary, names, zone), **limits,
            "join_rate": settings.rate_join}


def _coverage(row, now: datetime, zone) -> dict | None:
    if row is None:
        return None
    seen = describe(row, now)

    def local(moment):
        return moment.astimezone(zone).isoformat(timespec="minutes") if moment else None

    return {"complete_up_to": local(seen.complete_up_to), "lag_seconds": round(seen.lag) if seen.lag else None,
            "gap_found_at": local(seen.gap_found_at), "gap_repaired_at": local(seen.gap_repaired_at),
            "gap_open": seen.gap_open, "edits_unknown_before": local(seen.difference_lost_at)}


def render(report: dict) -> str:
    header = ("chat", "title", "checkpoint", "last message", "complete up to", "last gap", "today", "matched",
              "error")
    lines = [
        (r["source"], r["title"] or "—", str(r["checkpoint"]), (r["last_message_at"] or "—").replace("T", " "),
         *_coverage_cells(r.get("coverage")), str(r["archived_today"]), str(r["matches_today"]), r["error"] or "")
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
    out.append(f"coverage: {report['coverage']}")
    out.append(_media_line(report["media"]))
    out.extend(_digest_lines(report["digest"]))
    out.extend(_limit_lines(report["plan"], report["flood_waits"], report["join_rate"]))
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


def _limit_lines(plan: dict, floods: list[dict], join_rate: float) -> list[str]:
    lines = []
    if plan["configured"]:
        line = (f"new chats: {plan['resolved']}/{plan['configured']} resolved, {plan['read']} read, "
                f"{plan['joined']} joined")
        if plan["waiting_to_join"]:
            minutes = plan["waiting_to_join"] / join_rate
            line += (f", {plan['waiting_to_join']} waiting to join (about "
                     f"{f'{minutes / 60:.1f} h' if minutes >= 90 else f'{minutes:.0f} min'} at {join_rate:g} a minute)")
        if plan["history_only"]:
            line += f", {plan['history_only']} read from history only"
        lines.append(line)
    account = plan.get("account")
    if account:
        lines.append(f"account: in {account['channels']} of {account['cap']} channels and supergroups")
    if plan.get("over_cap"):
        lines.append(f"over the account's cap: {plan['over_cap']} chats are read from history only "
                     f"(no live updates): add an account")
    for wait in floods:
        lines.append(f"FLOOD WAIT on {wait['method']} ({wait['request']}, {wait['seconds']} s) until "
                     f"{wait['until'].replace('T', ' ')}: only these requests wait, the rest go on")
    return lines


def _coverage_cells(coverage: dict | None) -> tuple[str, str]:
    if not coverage:
        return "—", ""
    complete = (coverage["complete_up_to"] or "never").replace("T", " ")
    if coverage["lag_seconds"]:
        complete += f" ({_lag(coverage['lag_seconds'])} ago)"
    if coverage["edits_unknown_before"]:
        complete += f"; edits before {coverage['edits_unknown_before'].replace('T', ' ')} unknown"
    gap = ""
    if coverage["gap_found_at"]:
        found = coverage["gap_found_at"].replace("T", " ")
        gap = f"OPEN since {found}" if coverage["gap_open"] else \
            f"{found}, repaired {(coverage['gap_repaired_at'] or '').replace('T', ' ')}"
    return complete, gap


def _lag(seconds: int) -> str:
    return f"{seconds // 3600} h {seconds % 3600 // 60} min" if seconds >= 3600 else \
        f"{seconds // 60} min" if seconds >= 60 else f"{seconds} s"
