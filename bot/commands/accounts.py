"""`dozor accounts`: each account's chats, cap, state, and the worker holding it.

    dozor accounts           # a table
    dozor accounts --json    # one JSON document for scripts

Reads the archive only (no Telegram), so it works while workers run, on any machine that
shares the archive. An account's state: active, flood-waiting, logged out, banned, lease
lapsed (its worker stopped renewing it: its chats move to accounts with room), stopped, or
never started (configured here, not yet run anywhere).
"""
from __future__ import annotations

import argparse
import asyncio
import json

from bot.accounts.leases import ACCOUNT, account_state
from bot.archive import Archive
from bot.archive.assignments import assignment, recent_moves
from bot.archive.leases import load
from bot.config import load_settings
from bot.display import say

HELP = "show each account: chats held, cap used, state, the worker holding it (--json for scripts)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def main(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    report = asyncio.run(collect(settings))
    say(json.dumps(report, ensure_ascii=False, indent=2, default=str) if args.json else render(report))
    return 0


async def collect(settings) -> dict:
    """{"accounts": [{name, state, reason, chats, cap, holder, lease_until, flood_until}],
        "unassigned": [chat], "moves": [{chat, from, to, reason, at}]}"""
    async with Archive.opened_read_only(settings.archive_location) as archive:
        return await collect_from(archive, settings)


async def collect_from(archive: Archive, settings) -> dict:
    """collect() on an archive already open (`dozor status` shows the same)."""
    zone = settings.digest_tz
    leases, now = await load(archive, ACCOUNT)
    held = await assignment(archive)
    moves = await recent_moves(archive, limit=10)

    def local(moment):
        return moment.astimezone(zone).isoformat(timespec="seconds") if moment else None

    by_name = {lease.name: lease for lease in leases}
    names = list(dict.fromkeys([*settings.accounts, *by_name]))
    accounts = []
    for name in names:
        lease = by_name.get(name)
        chats = sorted(source for source, account in held.items() if account == name)
        accounts.append({
            "name": name, "state": account_state(lease, now), "reason": lease.reason if lease else None,
            "chats": len(chats), "cap": (lease.cap if lease and lease.cap else settings.channel_cap),
            "holder": lease.holder if lease else None,
            "lease_until": local(lease.lease_until) if lease and lease.holder else None,
            "flood_until": local(lease.flood_until) if lease and lease.flood_until and lease.flood_until > now
            else None,
            "chat_list": chats,
        })
    unassigned = [source for source in settings.chats if source not in held]
    return {"time_zone": str(zone), "accounts": accounts, "unassigned": unassigned,
            "moves": [{"chat": m.source, "from": m.from_account, "to": m.to_account, "reason": m.reason,
                       "at": local(m.moved_at)} for m in moves]}


def render(report: dict) -> str:
    return "\n".join([*account_lines(report), f"(times in {report['time_zone']})"])


def account_lines(report: dict) -> list[str]:
    """The table of accounts, what Telegram said of refused ones, unserved chats, recent moves."""
    header = ("account", "state", "chats / cap", "worker", "lease until")
    lines = [(a["name"], a["state"] + (f" until {a['flood_until']}" if a["state"] == "flood-waiting" else ""),
              f"{a['chats']} / {a['cap']}", a["holder"] or "—", (a["lease_until"] or "—").replace("T", " "))
             for a in report["accounts"]]
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    out += ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines]
    for account in report["accounts"]:
        if account["reason"] and account["state"] in ("logged out", "banned"):
            out.append(f"{account['name']}: {account['reason']}")
    if report["unassigned"]:
        out.append(f"no account serves {len(report['unassigned'])} chats: {', '.join(report['unassigned'][:5])}"
                   + (" …" if len(report["unassigned"]) > 5 else "") + " (add an account or raise DOZOR_CHANNEL_CAP)")
    out.extend(move_lines(report["moves"]))
    return out


def move_lines(moves: list[dict], limit: int = 10) -> list[str]:
    """The latest moves of chats between accounts, newest first."""
    moved = [m for m in moves if m["from"] is not None][:limit]
    if not moved:
        return []
    return ["recent moves:"] + [f"  {m['at'].replace('T', ' ')}  {m['chat']}: {m['from']} → {m['to']} ({m['reason']})"
                                for m in moved]
