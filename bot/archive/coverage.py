"""Coverage rows: how complete the archive is for each chat (the rules are in bot/coverage.py).

    rows = await load_coverage(archive)                     # chat id → CoverageRow
    await save_coverage(archive, [row])                     # one transaction
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.archive import Archive, from_iso, iso


@dataclass(slots=True)
class CoverageRow:
    chat_id: int
    checkpoint: int = 0
    pts: int | None = None
    complete_up_to: datetime | None = None
    gap_found_at: datetime | None = None
    gap_repaired_at: datetime | None = None
    difference_lost_at: datetime | None = None
    polled_at: datetime | None = None


async def load_coverage(archive: Archive, chat_ids: list[int] | None = None) -> dict[int, CoverageRow]:
    """Every chat's row (chats never caught up have only their checkpoint)."""
    where = "WHERE c.id IN :ids" if chat_ids else ""
    rows = await archive.rows(
        f"""SELECT c.id, c.checkpoint, v.pts, v.complete_up_to, v.gap_found_at, v.gap_repaired_at,
                  v.difference_lost_at, v.polled_at
           FROM chats c LEFT JOIN coverage v ON v.chat_id = c.id {where}""", {"ids": chat_ids} if chat_ids else None)
    found = {
        r[0]: CoverageRow(r[0], r[1] or 0, r[2], from_iso(r[3]), from_iso(r[4]), from_iso(r[5]),
                          from_iso(r[6]), from_iso(r[7]))
        for r in rows
    }
    return found if chat_ids is None else {i: found[i] for i in chat_ids if i in found}


async def save_coverage(archive: Archive, rows: list[CoverageRow]) -> None:
    """Write the coverage of these chats (the checkpoint is written with the messages, not here)."""
    if not rows:
        return
    async with archive.transaction() as db:
        await db.executemany(
            """INSERT INTO coverage (chat_id, pts, complete_up_to, gap_found_at, gap_repaired_at,
                   difference_lost_at, polled_at)
               VALUES (:chat_id, :pts, :complete_up_to, :gap_found_at, :gap_repaired_at,
                   :difference_lost_at, :polled_at)
               ON CONFLICT (chat_id) DO UPDATE SET pts = excluded.pts, complete_up_to = excluded.complete_up_to,
                   gap_found_at = excluded.gap_found_at, gap_repaired_at = excluded.gap_repaired_at,
                   difference_lost_at = excluded.difference_lost_at, polled_at = excluded.polled_at""",
            [{"chat_id": r.chat_id, "pts": r.pts, "complete_up_to": iso(r.complete_up_to),
              "gap_found_at": iso(r.gap_found_at), "gap_repaired_at": iso(r.gap_repaired_at),
              "difference_lost_at": iso(r.difference_lost_at), "polled_at": iso(r.polled_at)} for r in rows],
        )


async def watched_coverage(archive: Archive) -> tuple[list[CoverageRow], dict[int, str]]:
    """The coverage of the configured chats (those in DOZOR_CHATS that resolved), with titles."""
    rows = await load_coverage(archive)
    found = await archive.rows(
        "SELECT DISTINCT c.id, c.title FROM chat_sources s JOIN chats c ON c.id = s.chat_id ORDER BY c.id")
    return [rows[r[0]] for r in found if r[0] in rows], {r[0]: r[1] for r in found}
