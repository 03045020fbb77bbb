"""Every query of the editors' desk: digest items behind a reply, interim digests, recent
matches for spike alerts.

    await save_interim(archive, "interim:2026-03-20T15:04:00+00:00", chat_id, [(1, 812)], items)
    refs = await items_of_message(archive, chat_id, 812, digest_chat="@editors")   # what a reply answers
    recent = await recent_matches(archive, since=now - timedelta(minutes=15))
    usual = await usual_counts(archive, since=now - timedelta(days=7), until=now - timedelta(minutes=15))
    await surge_seen(archive, "city|Київ|busification", now, matches=6)   # and surge_sent once posted
"""
from __future__ import annotations

from datetime import datetime

from bot.archive import Archive, from_iso, iso
from bot.desk.spikes import Sighting
from bot.digest.compose import ItemRef


async def save_interim(archive: Archive, key: str, chat_id: int, posted: list[tuple[int, int]],
                       items: list[ItemRef]) -> None:
    """An interim digest the desk posted in `chat_id`: (part, message id) of each part, and
    which archived message each numbered item stands for."""
    async with archive.transaction() as db:
        if posted:
            await db.executemany(
                """INSERT INTO interim_parts (chat_id, message_id, period, part)
                   VALUES (:chat_id, :message_id, :period, :part) ON CONFLICT DO NOTHING""",
                [{"chat_id": chat_id, "message_id": message_id, "period": key, "part": part}
                 for part, message_id in posted])
        if items:
            await db.executemany(
                """INSERT INTO digest_items (period, part, number, chat_id, message_id)
                   VALUES (:period, :part, :number, :chat_id, :message_id) ON CONFLICT DO NOTHING""",
                [{"period": key, "part": i.part, "number": i.number, "chat_id": i.chat_id,
                  "message_id": i.message_id} for i in items])


async def items_of_message(archive: Archive, chat_id: int, message_id: int, *,
                           digest_chat: str | None) -> tuple[str, int, list[ItemRef]] | None:
    """The digest (period key), part and items a posted message shows; None if it is no digest.

    `digest_chat`: the message is in DIGEST_CHAT, spelled as configured, where scheduled
    digests are posted (their parts are recorded by message id and that spelling).
    """
    found = await archive.row(
        "SELECT period, part FROM interim_parts WHERE chat_id = :chat_id AND message_id = :message_id",
        {"chat_id": chat_id, "message_id": message_id})
    if found is None and digest_chat:
        found = await archive.row(
            """SELECT p.period, p.part FROM digest_parts p JOIN digests d ON d.period = p.period
               WHERE p.message_id = :message_id AND d.chat = :chat ORDER BY p.sent_at DESC NULLS LAST LIMIT 1""",
            {"message_id": message_id, "chat": digest_chat})
    if found is None:
        return None
    rows = await archive.rows(
        "SELECT part, number, chat_id, message_id FROM digest_items WHERE period = :period ORDER BY number",
        {"period": found.period})
    items = [ItemRef(r.part, r.number, r.chat_id, r.message_id) for r in rows]
    return found.period, found.part, items


async def recent_matches(archive: Archive, since: datetime) -> list[Sighting]:
    """Matched messages dated from `since` on, one per topic they match, oldest first."""
    rows = await archive.rows(
        """SELECT DISTINCT x.topic, m.chat_id, c.title, c.username, m.message_id, m.date, m.text
           FROM messages m JOIN matches x ON x.message = m.id JOIN chats c ON c.id = m.chat_id
           WHERE m.matched = 1 AND m.deleted_at IS NULL AND m.date >= :since
           ORDER BY m.date, m.chat_id, m.message_id""",
        {"since": iso(since)})
    return [Sighting(topic=r.topic, chat_id=r.chat_id, chat_title=r.title, chat_username=r.username,
                     message_id=r.message_id, date=from_iso(r.date), text=r.text) for r in rows]


async def usual_counts(archive: Archive, since: datetime, until: datetime) -> dict[tuple[int, str], int]:
    """Matched messages per (chat, topic) dated in [since, until): a chat's usual traffic."""
    rows = await archive.rows(
        """SELECT m.chat_id, x.topic, COUNT(DISTINCT m.id) AS n
           FROM messages m JOIN matches x ON x.message = m.id
           WHERE m.matched = 1 AND m.date >= :since AND m.date < :until
           GROUP BY m.chat_id, x.topic""",
        {"since": iso(since), "until": iso(until)})
    return {(r.chat_id, r.topic): r.n for r in rows}


async def announced_surges(archive: Archive, since: datetime) -> dict[str, datetime]:
    """Surges announced (Telegram accepted the alert) and seen from `since` on: surge → last seen."""
    rows = await archive.rows(
        "SELECT surge, last_seen FROM spike_alerts WHERE sent_at IS NOT NULL AND last_seen >= :since",
        {"since": iso(since)})
    return {r.surge: from_iso(r.last_seen) for r in rows}


async def surge_seen(archive: Archive, surge: str, at: datetime, matches: int | None = None) -> None:
    """A surge fired at `at`; `matches` starts a new one (an alert is on its way)."""
    async with archive.transaction() as db:
        if matches is not None:
            await db.execute(
                """INSERT INTO spike_alerts (surge, started_at, last_seen, matches) VALUES (:surge, :at, :at, :matches)
                   ON CONFLICT (surge) DO UPDATE SET started_at = excluded.started_at,
                       last_seen = excluded.last_seen, matches = excluded.matches, sent_at = NULL""",
                {"surge": surge, "at": iso(at), "matches": matches})
        else:
            # last_seen only moves forward
            await db.execute("UPDATE spike_alerts SET last_seen = :at WHERE surge = :surge AND last_seen < :at",
                             {"at": iso(at), "surge": surge})


async def surge_sent(archive: Archive, surge: str, at: datetime) -> None:
    async with archive.transaction() as db:
        await db.execute("UPDATE spike_alerts SET sent_at = :at WHERE surge = :surge", {"at": iso(at), "surge": surge})
