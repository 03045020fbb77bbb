"""Row leases on the media queue: two workers never fetch the same file.

    items = await claim_due(archive, worker, chat_ids, now, limit=2, seconds=900)
    ...download...
    await release(archive, worker, [item.id])     # only items left pending are let go

A worker claims a due item by writing (claimed_by, claim_until) in `media_claims`; another
worker skips it until the claim runs out, so a worker that died mid-download hands its items
on by itself. A claim is kept once its item is done: it runs out long after the item stopped
being pending, so no worker can take a finished item for a due one. Claim times are the
database's clock (see bot/accounts/leases.py).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterable

from bot.archive import Archive, iso
from bot.archive.leases import database_now
from bot.archive.media import MediaItem

CLAIM = 900.0  # seconds a claim lasts: a 50 MB file at a slow 100 kB/s takes about 500 s

_DUE = """
    SELECT m.id FROM media m JOIN messages msg ON msg.id = m.message
        LEFT JOIN media_claims c ON c.media = m.id
    WHERE m.status = 'pending' AND (m.next_attempt_at IS NULL OR m.next_attempt_at <= :now)
      AND msg.chat_id IN :chats AND m.id NOT IN :exclude
      AND (c.media IS NULL OR c.claim_until < :claim_now OR c.claimed_by = :worker)
    ORDER BY m.next_attempt_at NULLS FIRST, m.id
    LIMIT :limit
"""

_ITEMS = """
    SELECT m.id, msg.chat_id, msg.message_id, msg.grouped_id, m.kind, m.telegram_id, m.mime_type,
           m.size, m.file_name, m.attempts
    FROM media m JOIN messages msg ON msg.id = m.message
    WHERE m.id IN :ids AND m.status = 'pending'
    ORDER BY m.next_attempt_at NULLS FIRST, m.id
"""


async def claim_due(archive: Archive, worker: str, chat_ids: Iterable[int], now: datetime, limit: int,
                    exclude: Iterable[int] = (), seconds: float = CLAIM) -> list[MediaItem]:
    """Claim up to `limit` pending items of these chats whose attempt is due at `now` and which
    no other worker has a live claim on; returns the items claimed, oldest due first."""
    chat_ids, exclude = list(chat_ids), list(exclude)
    if not chat_ids or limit <= 0:
        return []
    async with archive.transaction() as db:
        claim_now = await database_now(db)
        candidates = [r.id for r in (await db.execute(
            _DUE, {"now": iso(now), "chats": chat_ids, "exclude": exclude, "claim_now": iso(claim_now),
                   "worker": worker, "limit": limit})).fetchall()]
        claimed = []
        for media_id in candidates:
            # one statement per item: the claim is decided by the row as it stands when written,
            # whatever another worker wrote since the candidates were read
            if (await db.execute(
                    """INSERT INTO media_claims (media, claimed_by, claim_until) VALUES (:media, :worker, :until)
                       ON CONFLICT (media) DO UPDATE SET claimed_by = excluded.claimed_by,
                           claim_until = excluded.claim_until
                       WHERE media_claims.claim_until < :claim_now OR media_claims.claimed_by = excluded.claimed_by
                       RETURNING media""",
                    {"media": media_id, "worker": worker, "claim_now": iso(claim_now),
                     "until": iso(claim_now + timedelta(seconds=seconds))})).fetchall():
                claimed.append(media_id)
        if not claimed:
            return []
        # read again after claiming: an item another worker finished meanwhile is done now
        rows = (await db.execute(_ITEMS, {"ids": claimed})).fetchall()
    return [MediaItem(**row._asdict()) for row in rows]


async def release(archive: Archive, worker: str, media_ids: Iterable[int]) -> None:
    """Let go of items still pending (a retry later, a full disk), so any worker may take them
    when they fall due; claims of finished items are kept (see the module's docstring)."""
    ids = list(media_ids)
    if not ids:
        return
    async with archive.transaction() as db:
        await db.execute(
            """DELETE FROM media_claims WHERE claimed_by = :worker AND media IN :ids
                   AND media IN (SELECT id FROM media WHERE status = 'pending')""",
            {"worker": worker, "ids": ids})
