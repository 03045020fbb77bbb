"""Every query of the digest: what matched in a period, and which digests Telegram accepted.

    hits = await period_hits(archive, period.start, period.end)
    await save_composed(archive, period, "@editors", parts)     # frozen: a resume sends the same parts
    await mark_part_sent(archive, period.key, 1, message_id=42)
    print(await digest_status(archive))

A digest counts as sent only when every part has a Telegram message id; parts are recorded
one by one, so a crash in the middle resumes at the first part without one.
"""
from __future__ import annotations

from datetime import datetime

from bot.archive import Archive, from_iso, iso, utcnow
from bot.digest.compose import Hit, Span
from bot.digest.schedule import Period

_HITS = """
    SELECT m.id, m.chat_id, m.message_id, m.date, m.text, m.views, m.forwards, m.grouped_id,
           m.media_kind, m.edit_date, m.deleted_at, c.title, c.username,
           EXISTS (SELECT 1 FROM message_versions v WHERE v.message = m.id) AS versioned
    FROM messages m JOIN chats c ON c.id = m.chat_id
    WHERE m.matched = 1 AND m.date >= :start AND m.date < :end
"""

_SPANS = """
    SELECT x.message, x.topic, x.start, x.end
    FROM messages m JOIN matches x ON x.message = m.id
    WHERE m.matched = 1 AND m.date >= :start AND m.date < :end
    ORDER BY x.message, x.start
"""

# an album is every archived row sharing (chat_id, grouped_id); most of its items did not
# match themselves (only the caption did), so they are counted here, not in _HITS
_ALBUMS = """
    SELECT a.chat_id, a.grouped_id, a.media_kind, COUNT(*) AS n
    FROM messages a
    WHERE a.grouped_id IS NOT NULL AND a.media_kind IS NOT NULL AND (a.chat_id, a.grouped_id) IN (
        SELECT chat_id, grouped_id FROM messages
        WHERE matched = 1 AND date >= :start AND date < :end AND grouped_id IS NOT NULL)
    GROUP BY a.chat_id, a.grouped_id, a.media_kind
    ORDER BY a.chat_id, a.grouped_id, n DESC, a.media_kind
"""


async def period_hits(archive: Archive, start: datetime, end: datetime) -> list[Hit]:
    """The matched messages dated in [start, end), with their spans, chat and media counts."""
    bounds = {"start": iso(start), "end": iso(end)}
    rows = await archive.rows(_HITS, bounds)
    spans: dict[int, list[Span]] = {}
    for r in await archive.rows(_SPANS, bounds):
        spans.setdefault(r["message"], []).append(Span(r["topic"], r["start"], r["end"]))
    albums: dict[tuple[int, int], list[tuple[str, int]]] = {}
    for r in await archive.rows(_ALBUMS, bounds):
        albums.setdefault((r["chat_id"], r["grouped_id"]), []).append((r["media_kind"], r["n"]))
    hits = []
    for r in rows:
        if r["grouped_id"] is not None and (r["chat_id"], r["grouped_id"]) in albums:
            media = tuple(albums[(r["chat_id"], r["grouped_id"])])
        else:
            media = ((r["media_kind"], 1),) if r["media_kind"] else ()
        hits.append(Hit(
            chat_id=r["chat_id"], message_id=r["message_id"], chat_title=r["title"],
            chat_username=r["username"], date=from_iso(r["date"]), text=r["text"],
            spans=tuple(spans.get(r["id"], ())), views=r["views"], forwards=r["forwards"],
            grouped_id=r["grouped_id"], media=media,
            edited=bool(r["edit_date"] or r["versioned"]), deleted=r["deleted_at"] is not None,
        ))
    return hits


async def topic_counts(archive: Archive, start: datetime, end: datetime) -> tuple[dict[str, int], int]:
    """Matched messages per topic in [start, end), and how many matched in all."""
    bounds = {"start": iso(start), "end": iso(end)}
    rows = await archive.rows(
        """SELECT x.topic, COUNT(DISTINCT x.message) AS n
           FROM messages m JOIN matches x ON x.message = m.id
           WHERE m.matched = 1 AND m.date >= :start AND m.date < :end
           GROUP BY x.topic""",
        bounds,
    )
    total = await archive.row(
        "SELECT COUNT(*) AS n FROM messages WHERE matched = 1 AND date >= :start AND date < :end", bounds)
    return {r["topic"]: r["n"] for r in rows}, total["n"]


# ---- what was sent ---------------------------------------------------------------------------

async def schedule_since(archive: Archive, now: datetime) -> datetime:
    """When digests were first scheduled in this archive (recorded on the first call)."""
    async with archive.transaction() as db:
        await db.execute("INSERT OR IGNORE INTO digest_schedule (id, since) VALUES (1, ?)", (iso(now),))
        cursor = await db.execute("SELECT since FROM digest_schedule WHERE id = 1")
        (since,) = await cursor.fetchone()
    return from_iso(since)


async def sent_periods(archive: Archive, after: datetime) -> set[str]:
    """Keys of the periods ending after `after` that Telegram fully accepted."""
    rows = await archive.rows(
        "SELECT period FROM digests WHERE sent_at IS NOT NULL AND period_end > ?", (iso(after),))
    return {r["period"] for r in rows}


async def stored_parts(archive: Archive, key: str) -> list[dict] | None:
    """The frozen parts of a period (part, html, message_id), or None if never composed."""
    rows = await archive.rows(
        "SELECT part, html, message_id, sent_at FROM digest_parts WHERE period = ? ORDER BY part", (key,))
    return [dict(r) for r in rows] or None


async def save_composed(archive: Archive, period: Period, chat: str, parts: list[str],
                        at: datetime | None = None) -> list[dict]:
    """Freeze the parts of a period unless they were frozen already; returns the stored parts."""
    async with archive.transaction() as db:
        cursor = await db.execute(
            """INSERT OR IGNORE INTO digests (period, period_start, period_end, chat, composed_at)
               VALUES (?, ?, ?, ?, ?)""",
            (period.key, iso(period.start), iso(period.end), chat, iso(at or utcnow())),
        )
        if cursor.rowcount:
            await db.executemany(
                "INSERT INTO digest_parts (period, part, html) VALUES (?, ?, ?)",
                [(period.key, n, html) for n, html in enumerate(parts, start=1)],
            )
    return await stored_parts(archive, period.key) or []


async def mark_part_sent(archive: Archive, key: str, part: int, message_id: int,
                         at: datetime | None = None) -> bool:
    """Telegram accepted one part. True when that completed the digest."""
    moment = iso(at or utcnow())
    async with archive.transaction() as db:
        await db.execute(
            "UPDATE digest_parts SET message_id = ?, sent_at = ? WHERE period = ? AND part = ?",
            (message_id, moment, key, part),
        )
        cursor = await db.execute(
            "SELECT COUNT(*) FROM digest_parts WHERE period = ? AND message_id IS NULL", (key,))
        (missing,) = await cursor.fetchone()
        if missing == 0:
            await db.execute(
                """UPDATE digests SET sent_at = ?, error = NULL, next_attempt_at = NULL
                   WHERE period = ? AND sent_at IS NULL""",
                (moment, key),
            )
    return missing == 0


async def record_refusal(archive: Archive, key: str, reason: str, next_attempt: datetime | None,
                         at: datetime | None = None) -> None:
    """Telegram (or the network) refused this attempt; kept for `dozor status`."""
    async with archive.transaction() as db:
        await db.execute(
            """UPDATE digests SET attempts = attempts + 1, error = ?, error_at = ?, next_attempt_at = ?
               WHERE period = ?""",
            (reason, iso(at or utcnow()), iso(next_attempt), key),
        )


async def digest_status(archive: Archive) -> dict:
    """For `dozor status`: the last digest sent, and every digest still waiting with its reason.

        {"last_sent": {"period": "daily:2026-03-29", "sent_at": "...", "parts": 2} | None,
         "pending": [{"period": ..., "parts": 3, "parts_sent": 1, "attempts": 4,
                      "error": "not allowed to post in @editors: ...", "error_at": ..., "next_attempt_at": ...}]}
    """
    last = await archive.row(
        """SELECT d.period, d.sent_at, (SELECT COUNT(*) FROM digest_parts p WHERE p.period = d.period) AS parts
           FROM digests d WHERE d.sent_at IS NOT NULL ORDER BY d.period_end DESC LIMIT 1""")
    pending = await archive.rows(
        """SELECT d.period, d.chat, d.attempts, d.error, d.error_at, d.next_attempt_at,
                  COUNT(p.part) AS parts, COUNT(p.message_id) AS parts_sent
           FROM digests d LEFT JOIN digest_parts p ON p.period = d.period
           WHERE d.sent_at IS NULL GROUP BY d.period ORDER BY d.period_end""")
    return {
        "last_sent": dict(last) if last else None,
        "pending": [dict(r) for r in pending],
    }
