"""Which account serves which configured chat, and every move of a chat between accounts.

    plan, now = await settle(archive, decide)     # decide(current, leases, now) -> Plan, in one transaction
    await assignment(archive)                     # {"@kyiv": "main", …}
    await recent_moves(archive, limit=10)         # newest first: source, from, to, why, when

`settle` first takes the row lock of a lock lease, so the read, the decision and the writes of
two workers never interleave (SQLite serialises write transactions anyway; on PostgreSQL the
lock row is what makes the second worker wait and then decide on what the first wrote).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from bot.accounts.assign import Plan
from bot.accounts.leases import ACCOUNT, Lease
from bot.archive import Archive, from_iso, iso
from bot.archive.leases import database_now, leases_in

LOCK = "lock"  # kind of the lease row used only as a lock


@dataclass(frozen=True, slots=True)
class MoveRecord:
    source: str
    from_account: str | None
    to_account: str
    reason: str
    moved_at: datetime


Decide = Callable[[dict[str, str], list[Lease], datetime], Plan]


async def settle(archive: Archive, decide: Decide) -> tuple[Plan, datetime]:
    """Read the assignment in force and the accounts' leases, let `decide` (pure) say what it
    becomes, and write that with its moves, all in one transaction."""
    async with archive.transaction() as db:
        now = await database_now(db)
        # the lock: an upsert takes the row's write lock until the commit
        await db.execute(
            """INSERT INTO leases (kind, name, state, updated_at) VALUES (:kind, 'assignments', 'active', :now)
               ON CONFLICT (kind, name) DO UPDATE SET updated_at = excluded.updated_at""",
            {"kind": LOCK, "now": iso(now)})
        current = {r.source: r.account for r in
                   (await db.execute("SELECT source, account FROM chat_assignments ORDER BY seq")).fetchall()}
        plan = decide(current, await leases_in(db, ACCOUNT), now)
        gone = [source for source in current if source not in plan.assignment]
        if gone:
            await db.execute("DELETE FROM chat_assignments WHERE source IN :gone", {"gone": gone})
        # seq orders the assignments, oldest first (moments of one second would tie); the
        # lock above makes MAX + 1 safe
        last = (await db.execute("SELECT COALESCE(MAX(seq), 0) FROM chat_assignments")).scalar()
        changed = [{"source": source, "account": account, "now": iso(now)}
                   for source, account in plan.assignment.items() if current.get(source) != account]
        for n, row in enumerate(changed, start=1):
            row["seq"] = last + n
        if changed:
            await db.executemany(
                """INSERT INTO chat_assignments (source, account, assigned_at, seq)
                   VALUES (:source, :account, :now, :seq)
                   ON CONFLICT (source) DO UPDATE SET account = excluded.account,
                       assigned_at = excluded.assigned_at, seq = excluded.seq""",
                changed)
        if plan.moves:
            await db.executemany(
                """INSERT INTO chat_moves (source, from_account, to_account, reason, moved_at)
                   VALUES (:source, :from_account, :to_account, :reason, :now)""",
                [{"source": m.source, "from_account": m.from_account, "to_account": m.to_account,
                  "reason": m.reason, "now": iso(now)} for m in plan.moves])
    return plan, now


async def assignment(archive: Archive) -> dict[str, str]:
    """Configured chat → the account serving it."""
    return {r.source: r.account for r in
            await archive.rows("SELECT source, account FROM chat_assignments ORDER BY source")}


async def recent_moves(archive: Archive, limit: int = 10) -> list[MoveRecord]:
    """The latest moves of chats between accounts, newest first."""
    rows = await archive.rows(
        """SELECT source, from_account, to_account, reason, moved_at FROM chat_moves
           ORDER BY moved_at DESC, id DESC LIMIT :limit""", {"limit": limit})
    return [MoveRecord(r.source, r.from_account, r.to_account, r.reason, from_iso(r.moved_at)) for r in rows]
