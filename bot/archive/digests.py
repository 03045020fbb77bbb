"""Every query of the digest: what matched in a period, and which digests Telegram accepted.

    hits = await period_hits(archive, period.start, period.end)
    await save_composed(archive, period, "@editors", parts)     # frozen: a resume sends the same parts
    await mark_part_sent(archive, period.key, 1, message_id=42)
    print(await digest_status(archive))

A digest counts as sent only when Telegram accepted every part; parts are recorded one by one,
so a crash in the middle resumes at the first part not accepted, with the random_id it was
frozen with. A digest whose message Telegram keeps refusing is marked failed: it is shown,
not retried.
"""
from __future__ import annotations

import secrets
from datetime import datetime

from bot.archive import Archive, from_iso, iso, utcnow
from bot.digest.compose import Hit, ItemRef, Span
from bot.digest.schedule import Period
from bot.model import MODEL_RULE

_HITS = """
    SELECT m.id, m.chat_id, m.message_id, m.date, m.text, m.views, m.forwards, m.grouped_id,
           m.media_kind, m.edit_date, m.deleted_at, c.title, c.username,
           EXISTS (SELECT 1 FROM message_versions v WHERE v.message = m.id) AS versioned
    FROM messages m JOIN chats c ON c.id = m.chat_id
    WHERE m.date >= :start AND m.date < :end
      AND (m.matched = 1 OR EXISTS (SELECT 1 FROM model_reviews r WHERE r.message = m.id))
"""

_SPANS = """
    SELECT x.message, x.topic, x.rule, x.term,
           -- a match kept from an earlier text still files the message under its topic, but
           -- its span indexes that text, so it marks nothing in the current one
           CASE WHEN x.version = 0 THEN x.start ELSE 0 END AS start,
           CASE WHEN x.version = 0 THEN x."end" ELSE 0 END AS "end"
    FROM messages m JOIN matches x ON x.message = m.id
    WHERE m.matched = 1 AND m.date >= :start AND m.date < :end
    ORDER BY x.message, x.start
"""

# what the model wants reviewed: only topics nothing found (a rule or the model, sure of itself)
_REVIEWS = """
    SELECT r.message, r.topic, r.score
    FROM messages m JOIN model_reviews r ON r.message = m.id
    WHERE m.date >= :start AND m.date < :end
      AND NOT EXISTS (SELECT 1 FROM matches x WHERE x.message = m.id AND x.topic = r.topic)
    ORDER BY r.message, r.score DESC
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
    """The matched messages dated in [start, end), with their spans, chat and media counts,
    and those the model wants reviewed (Hit.review; no spans unless something else matched)."""
    bounds = {"start": iso(start), "end": iso(end)}
    rows = await archive.rows(_HITS, bounds)
    spans: dict[int, list[Span]] = {}
    model: dict[int, list[tuple[str, str]]] = {}
    for r in await archive.rows(_SPANS, bounds):
        spans.setdefault(r.message, []).append(Span(r.topic, r.start, r.end))
        if r.rule == MODEL_RULE:
            model.setdefault(r.message, []).append((r.topic, r.term))
    review: dict[int, list[tuple[str, float]]] = {}
    for r in await archive.rows(_REVIEWS, bounds):
        review.setdefault(r.message, []).append((r.topic, r.score))
    albums: dict[tuple[int, int], list[tuple[str, int]]] = {}
    for r in await archive.rows(_ALBUMS, bounds):
        albums.setdefault((r.chat_id, r.grouped_id), []).append((r.media_kind, r.n))
    hits = []
    for r in rows:
        if r.grouped_id is not None and (r.chat_id, r.grouped_id) in albums:
            media = tuple(albums[(r.chat_id, r.grouped_id)])
        else:
            media = ((r.media_kind, 1),) if r.media_kind else ()
        hits.append(Hit(
            chat_id=r.chat_id, message_id=r.message_id, chat_title=r.title,
            chat_username=r.username, date=from_iso(r.date), text=r.text,
            spans=tuple(spans.get(r.id, ())), views=r.views, forwards=r.forwards,
            grouped_id=r.grouped_id, media=media,
            edited=bool(r.edit_date or r.versioned), deleted=r.deleted_at is not None,
            model=tuple(model.get(r.id, ())), review=tuple(review.get(r.id, ())),
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
    total = await archive.scalar(
        "SELECT COUNT(*) FROM messages WHERE matched = 1 AND date >= :start AND date < :end", bounds)
    return {r.topic: r.n for r in rows}, total


# ---- what was sent ---------------------------------------------------------------------------

async def schedule_since(archive: Archive, now: datetime) -> datetime:
    """When digests were first scheduled in this archive (recorded on the first call)."""
    async with archive.transaction() as db:
        await db.execute("INSERT INTO digest_schedule (id, since) VALUES (1, :now) ON CONFLICT DO NOTHING",
                         {"now": iso(now)})
        since = (await db.execute("SELECT since FROM digest_schedule WHERE id = 1")).scalar()
    return from_iso(since)


async def sent_periods(archive: Archive, after: datetime) -> set[str]:
    """Keys of the periods ending after `after` that Telegram fully accepted."""
    rows = await archive.rows(
        "SELECT period FROM digests WHERE sent_at IS NOT NULL AND period_end > :after", {"after": iso(after)})
    return {r.period for r in rows}


async def settled_periods(archive: Archive, after: datetime) -> set[str]:
    """Keys of the periods ending after `after` that are owed no more: sent, or given up."""
    rows = await archive.rows(
        """SELECT period FROM digests WHERE (sent_at IS NOT NULL OR failed_at IS NOT NULL)
           AND period_end > :after""", {"after": iso(after)})
    return {r.period for r in rows}


async def stored_parts(archive: Archive, key: str) -> list[dict] | None:
    """The frozen parts of a period (part, html, random_id, message_id, sent_at), or None if
    never composed. A part is accepted when sent_at is set; its message_id may stay unknown."""
    rows = await archive.rows(
        """SELECT part, html, random_id, message_id, sent_at FROM digest_parts
           WHERE period = :key ORDER BY part""", {"key": key})
    return [{**r._asdict(), "sent_at": from_iso(r.sent_at)} for r in rows] or None


async def save_composed(archive: Archive, period: Period, chat: str, parts: list[str],
                        at: datetime | None = None, items: list[ItemRef] = ()) -> list[dict]:
    """Freeze the parts of a period unless they were frozen already; returns the stored parts.

    `items`: which archived message each numbered item stands for, kept with the parts so an
    editor's reply to an item can be tied to it."""
    async with archive.transaction() as db:
        result = await db.execute(
            """INSERT INTO digests (period, period_start, period_end, chat, composed_at)
               VALUES (:period, :start, :end, :chat, :at) ON CONFLICT DO NOTHING""",
            {"period": period.key, "start": iso(period.start), "end": iso(period.end), "chat": chat,
             "at": iso(at or utcnow())},
        )
        if result.rowcount:
            await db.executemany(
                "INSERT INTO digest_parts (period, part, html, random_id) VALUES (:period, :part, :html, :random_id)",
                [{"period": period.key, "part": n, "html": html, "random_id": secrets.randbits(63)}
                 for n, html in enumerate(parts, start=1)],
            )
            if items:
                await db.executemany(
                    """INSERT INTO digest_items (period, part, number, chat_id, message_id)
                       VALUES (:period, :part, :number, :chat_id, :message_id) ON CONFLICT DO NOTHING""",
                    [{"period": period.key, "part": i.part, "number": i.number, "chat_id": i.chat_id,
                      "message_id": i.message_id} for i in items],
                )
    return await stored_parts(archive, period.key) or []


async def mark_part_sent(archive: Archive, key: str, part: int, message_id: int | None,
                         at: datetime | None = None) -> bool:
    """Telegram accepted one part (message_id None: accepted earlier, id not known). True
    when that completed the digest."""
    moment = iso(at or utcnow())
    async with archive.transaction() as db:
        await db.execute(
            "UPDATE digest_parts SET message_id = :message_id, sent_at = :at WHERE period = :key AND part = :part",
            {"message_id": message_id, "at": moment, "key": key, "part": part},
        )
        missing = (await db.execute(
            "SELECT COUNT(*) FROM digest_parts WHERE period = :key AND sent_at IS NULL", {"key": key})).scalar()
        if missing == 0:
            await db.execute(
                """UPDATE digests SET sent_at = :at, error = NULL, next_attempt_at = NULL, failed_at = NULL
                   WHERE period = :key AND sent_at IS NULL""",
                {"at": moment, "key": key},
            )
    return missing == 0


async def record_refusal(archive: Archive, key: str, reason: str, next_attempt: datetime | None,
                         at: datetime | None = None, *, rejected: bool = False) -> int:
    """Telegram (or the network) refused this attempt; kept for `dozor status`.

    `rejected`: Telegram refused the message itself, which waiting will not change. Returns
    how many times that has happened to this digest.
    """
    async with archive.transaction() as db:
        result = await db.execute(
            """UPDATE digests SET attempts = attempts + 1, error = :reason, error_at = :at,
                   next_attempt_at = :next_attempt, rejections = rejections + :rejected
               WHERE period = :key RETURNING rejections""",
            {"reason": reason, "at": iso(at or utcnow()), "next_attempt": iso(next_attempt),
             "rejected": int(rejected), "key": key},
        )
        rejections = result.scalar()
    return rejections or 0


async def mark_failed(archive: Archive, key: str, reason: str, at: datetime | None = None) -> None:
    """Give a digest up: it is no longer owed, and `dozor status` shows why."""
    async with archive.transaction() as db:
        await db.execute(
            """UPDATE digests SET failed_at = :at, error = :reason, next_attempt_at = NULL
               WHERE period = :key AND sent_at IS NULL""",
            {"at": iso(at or utcnow()), "reason": reason, "key": key},
        )


async def digest_status(archive: Archive) -> dict:
    """For `dozor status`: the last digest sent, every digest still waiting with its reason,
    and every digest given up with its reason (moments as datetimes).

        {"last_sent": {"period": "daily:2026-03-29", "sent_at": datetime(...), "parts": 2} | None,
         "pending": [{"period": ..., "parts": 3, "parts_sent": 1, "attempts": 4,
                      "error": "not allowed to post in @editors: ...", "error_at": ..., "next_attempt_at": ...}],
         "failed": [{"period": ..., "parts": 3, "parts_sent": 0, "attempts": 3,
                     "error": "Telegram refused a digest part as too long (MESSAGE_TOO_LONG)",
                     "failed_at": ...}]}
    """
    last = await archive.row(
        """SELECT d.period, d.sent_at, (SELECT COUNT(*) FROM digest_parts p WHERE p.period = d.period) AS parts
           FROM digests d WHERE d.sent_at IS NOT NULL ORDER BY d.period_end DESC LIMIT 1""")
    unsent = await archive.rows(
        """SELECT d.period, d.chat, d.attempts, d.error, d.error_at, d.next_attempt_at, d.failed_at,
                  COUNT(p.part) AS parts, COUNT(p.sent_at) AS parts_sent
           FROM digests d LEFT JOIN digest_parts p ON p.period = d.period
           WHERE d.sent_at IS NULL GROUP BY d.period ORDER BY d.period_end""")
    pending, failed = [], []
    for found in unsent:
        row = _with_moments(found, "error_at", "next_attempt_at", "failed_at")
        if row["failed_at"] is None:
            del row["failed_at"]
            pending.append(row)
        else:
            del row["next_attempt_at"]
            failed.append(row)
    return {
        "last_sent": _with_moments(last, "sent_at") if last else None,
        "pending": pending,
        "failed": failed,
    }


def _with_moments(row, *moments: str) -> dict:
    """A row as a dict whose moments are datetimes on both backends (SQLite keeps them as text)."""
    found = row._asdict()
    for key in moments:
        found[key] = from_iso(found[key])
    return found
