"""Telegram's limits as the archive keeps them, for `dozor status`: flood waits in force, the
plan of new chats (resolved → read → joined), and the account's channels against its cap.

    await record_flood_wait(archive, "join", "JoinChannelRequest", 300, started, until)
    await flood_waits(archive, now=utcnow())          # those not over yet
    await save_membership(archive, chat_id, "over_cap")
    await memberships(archive)                        # {chat_id: {"state": "over_cap", "reason": None}}
    await plan_progress(archive, settings.chats)      # {"configured": 300, "resolved": 120, …}
"""
from __future__ import annotations

from datetime import datetime

from bot.archive import Archive, from_iso, iso, utcnow

# the last step of a chat's plan
JOINED = "joined"
OVER_CAP = "over_cap"  # public, read from history only: the account is in as many channels as it may be
HISTORY_ONLY = "history_only"  # read from history only for another reason (given with it)
STATES = (JOINED, OVER_CAP, HISTORY_ONLY)


async def record_flood_wait(archive: Archive, method: str, request: str, seconds: int,
                            started_at: datetime, until: datetime) -> None:
    """The latest flood wait of a method replaces the one before."""
    async with archive.transaction() as db:
        await db.execute(
            """INSERT INTO flood_waits (method, request, seconds, started_at, until)
               VALUES (:method, :request, :seconds, :started_at, :until)
               ON CONFLICT (method) DO UPDATE SET request = excluded.request, seconds = excluded.seconds,
                   started_at = excluded.started_at, until = excluded.until""",
            {"method": method, "request": request, "seconds": seconds, "started_at": iso(started_at),
             "until": iso(until)},
        )


async def flood_waits(archive: Archive, now: datetime | None = None) -> list[dict]:
    """Flood waits still in force at `now`, the one ending last first (started_at and until
    as datetimes)."""
    rows = await archive.rows(
        """SELECT method, request, seconds, started_at, until FROM flood_waits WHERE until > :now
           ORDER BY until DESC""",
        {"now": iso(now or utcnow())},
    )
    return [{**r._asdict(), "started_at": from_iso(r.started_at), "until": from_iso(r.until)} for r in rows]


async def save_membership(archive: Archive, chat_id: int, state: str, reason: str | None = None) -> None:
    """updated_at says since when the chat is in this state: a restart that finds it unchanged
    leaves it (the join pace is kept from it)."""
    if state not in STATES:
        raise ValueError(f"unknown membership state {state!r}")
    async with archive.transaction() as db:
        await db.execute(
            """INSERT INTO memberships (chat_id, state, reason, updated_at)
               VALUES (:chat_id, :state, :reason, :now)
               ON CONFLICT (chat_id) DO UPDATE SET state = excluded.state, reason = excluded.reason,
                   updated_at = excluded.updated_at
               WHERE memberships.state != excluded.state
                  OR memberships.reason IS DISTINCT FROM excluded.reason""",
            {"chat_id": chat_id, "state": state, "reason": reason, "now": iso(utcnow())},
        )


async def memberships(archive: Archive) -> dict[int, dict]:
    """Per chat: how the plan left it (joined, over the cap, history only) and why."""
    rows = await archive.rows("SELECT chat_id, state, reason FROM memberships")
    return {r.chat_id: {"state": r.state, "reason": r.reason} for r in rows}


async def last_joined_at(archive: Archive) -> datetime | None:
    """When the account last joined a chat for the plan (to keep the join pace across restarts)."""
    return from_iso(await archive.scalar("SELECT MAX(updated_at) FROM memberships WHERE state = :joined",
                                         {"joined": JOINED}))


async def save_channel_count(archive: Archive, channels: int, cap: int) -> None:
    async with archive.transaction() as db:
        await db.execute(
            """INSERT INTO account_channels (id, channels, cap, counted_at) VALUES (1, :channels, :cap, :now)
               ON CONFLICT (id) DO UPDATE SET channels = excluded.channels, cap = excluded.cap,
                   counted_at = excluded.counted_at""",
            {"channels": channels, "cap": cap, "now": iso(utcnow())},
        )


async def plan_progress(archive: Archive, sources: tuple[str, ...] | list[str]) -> dict:
    """How far the configured chats are through the plan: resolved, read, then joined (or
    read from history only), and the account's channels against its cap."""
    wanted = sorted(set(sources))
    # the IN below needs at least one name: PostgreSQL types an empty list as integers
    row = await archive.row(
        """SELECT COUNT(s.chat_id) AS resolved,
                  COUNT(v.complete_up_to) AS read,
                  COUNT(CASE WHEN m.state = :joined THEN 1 END) AS joined,
                  COUNT(CASE WHEN m.state = :over_cap THEN 1 END) AS over_cap,
                  COUNT(CASE WHEN m.state = :history_only THEN 1 END) AS history_only
           FROM chat_sources s
           JOIN chats c ON c.id = s.chat_id
           LEFT JOIN coverage v ON v.chat_id = s.chat_id
           LEFT JOIN memberships m ON m.chat_id = s.chat_id
           WHERE s.source IN :wanted AND s.chat_id IS NOT NULL""",
        {"wanted": wanted or [""], "joined": JOINED, "over_cap": OVER_CAP, "history_only": HISTORY_ONLY},
    )
    progress = {"configured": len(wanted), **row._asdict()}
    progress["waiting_to_join"] = (progress["resolved"] - progress["joined"] - progress["over_cap"]
                                   - progress["history_only"])
    account = await archive.row("SELECT channels, cap, counted_at FROM account_channels WHERE id = 1")
    progress["account"] = {**account._asdict(), "counted_at": from_iso(account.counted_at)} if account else None
    return progress

