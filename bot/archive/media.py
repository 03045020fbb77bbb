"""Every query about media: the persistent download queue and the stored files.

    items = await due(archive, now, limit=2)            # pending items whose time has come
    await mark_done(archive, item.id, sha256, path, size)   # links the message to the file
    await replace_media(archive, item.id, ref)          # an edit swapped the file before it was saved
    status = await mark_retry(archive, item.id, "TimeoutError", now)   # pending or failed
    await retry_failed(archive)                         # `dozor media retry`

The queue is the `media` table itself: a row is written as 'pending' in the same
transaction as its message, so nothing is lost between archiving and downloading, and a
restart simply finds the pending rows again. Which items are in flight is the worker's
business (one process holds the storage lock), so a killed download stays 'pending'.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.archive import Archive, chat_from_row, from_iso, iso, utcnow
from bot.backoff import Backoff
from bot.model import Chat, MediaRef

MAX_ATTEMPTS = 8
PAUSED = "paused: "  # prefix of the reason of a pending item held back by a full disk
REPLACED = "replaced by an edit"  # the reason kept by an item whose first file was never saved


RETRY = Backoff(first=30, cap=6 * 3600)


def backoff(attempts: int) -> timedelta:
    """Wait before attempt `attempts + 1`: 30 s, 1, 2, 4, 8, 16, 32 min … capped at 6 h."""
    return timedelta(seconds=RETRY(attempts - 1))


@dataclass(frozen=True, slots=True)
class MediaItem:
    """One queued file and the message it belongs to."""

    id: int
    chat_id: int
    message_id: int
    grouped_id: int | None
    kind: str
    telegram_id: int | None
    mime_type: str | None
    size: int | None
    file_name: str | None
    attempts: int


_ITEM = """SELECT m.id, msg.chat_id, msg.message_id, msg.grouped_id, m.kind, m.telegram_id, m.mime_type,
                  m.size, m.file_name, m.attempts
           FROM media m JOIN messages msg ON msg.id = m.message"""


# the moments of a media row, read back as datetimes (SQLite keeps text, PostgreSQL timestamptz)
_MOMENTS = ("next_attempt_at", "updated_at", "replaced_at", "stored_at")


def _item(row) -> MediaItem:
    return MediaItem(**row._asdict())


def _with_moments(row) -> dict:
    found = row._asdict()
    for key in _MOMENTS:
        if key in found:
            found[key] = from_iso(found[key])
    return found


async def due(archive: Archive, now: datetime, limit: int, exclude: set[int] | frozenset = frozenset()
              ) -> list[MediaItem]:
    """Pending items whose next attempt is due, oldest first, leaving out those in flight."""
    rows = await archive.rows(
        _ITEM + """ WHERE m.status = 'pending' AND (m.next_attempt_at IS NULL OR m.next_attempt_at <= :now)
               AND m.id NOT IN :skip
            ORDER BY m.next_attempt_at NULLS FIRST, m.id LIMIT :limit""",
        {"now": iso(now), "skip": sorted(exclude), "limit": limit},
    )
    return [_item(r) for r in rows]


async def stored_copy(archive: Archive, telegram_id: int | None, kind: str, size: int | None) -> tuple[str, str] | None:
    """(sha256, path) of a file already downloaded for the same Telegram file, so a
    forward of a stored photo costs no download at all."""
    if telegram_id is None:
        return None
    # Telegram numbers photos apart from documents, so an id names a file only within its kind;
    # a size not known rules nothing out (decided here: PostgreSQL cannot type a bare NULL parameter)
    row = await archive.row(
        f"""SELECT f.sha256, f.path FROM media m JOIN media_files f ON f.sha256 = m.sha256
            WHERE m.telegram_id = :telegram_id AND m.status = 'done'
                AND m.kind {"=" if kind == "photo" else "!="} 'photo'
                {"" if size is None else "AND (m.size IS NULL OR m.size = :size)"}
            LIMIT 1""",
        {"telegram_id": telegram_id, "size": size},
    )
    return (row.sha256, row.path) if row else None


async def mark_done(archive: Archive, media_id: int, sha256: str, path: str, size: int) -> None:
    """Link the item to its file; the file row is shared by every item with the same bytes.

    The reasons of earlier attempts are cleared, except that the file is not the one first
    posted: a reader of the archive must not take the edited file for the original.
    """
    now = iso(utcnow())
    async with archive.transaction() as db:
        await db.execute(
            """INSERT INTO media_files (sha256, path, size, stored_at) VALUES (:sha256, :path, :size, :now)
               ON CONFLICT DO NOTHING""",
            {"sha256": sha256, "path": path, "size": size, "now": now},
        )
        await db.execute(
            """UPDATE media SET status = 'done', sha256 = :sha256, size = :size, next_attempt_at = NULL,
                   reason = CASE WHEN EXISTS (SELECT 1 FROM media_versions v WHERE v.media = media.id)
                                 THEN :replaced END,
                   attempts = attempts + 1, updated_at = :now WHERE id = :id""",
            {"sha256": sha256, "size": size, "replaced": REPLACED, "now": now, "id": media_id},
        )


async def replace_media(archive: Archive, media_id: int, ref: MediaRef) -> None:
    """The message now carries another file than the one queued: describe the item by the new
    file, keep the old description as a version, and note the replacement in the reason."""
    now = iso(utcnow())
    async with archive.transaction() as db:
        await db.execute(
            """INSERT INTO media_versions (media, version, kind, telegram_id, mime_type, size, file_name, width,
                   height, duration, replaced_at)
               SELECT id, (SELECT COALESCE(MAX(version), 0) + 1 FROM media_versions WHERE media = :id),
                   kind, telegram_id, mime_type, size, file_name, width, height, duration, :now
               FROM media WHERE id = :id""",
            {"id": media_id, "now": now},
        )
        await db.execute(
            """UPDATE media SET kind = :kind, telegram_id = :telegram_id, mime_type = :mime_type, size = :size,
                   file_name = :file_name, width = :width, height = :height, duration = :duration,
                   reason = :reason, updated_at = :now WHERE id = :id""",
            {"kind": ref.kind, "telegram_id": ref.telegram_id, "mime_type": ref.mime_type, "size": ref.size,
             "file_name": ref.file_name, "width": ref.width, "height": ref.height, "duration": ref.duration,
             "reason": REPLACED, "now": now, "id": media_id},
        )
        # the message's own summary of its media follows, so search and the digest agree with the file
        await db.execute(
            "UPDATE messages SET media_kind = :kind WHERE id = (SELECT message FROM media WHERE id = :id)",
            {"kind": ref.kind, "id": media_id},
        )


async def versions(archive: Archive, media_id: int) -> list[dict]:
    """What the item described before edits replaced its file, oldest first."""
    rows = await archive.rows("SELECT * FROM media_versions WHERE media = :id ORDER BY version", {"id": media_id})
    return [_with_moments(r) for r in rows]


async def mark_skipped(archive: Archive, media_id: int, reason: str) -> None:
    async with archive.transaction() as db:
        await db.execute(
            """UPDATE media SET status = 'skipped', reason = :reason, next_attempt_at = NULL, updated_at = :now
               WHERE id = :id""",
            {"reason": reason, "now": iso(utcnow()), "id": media_id},
        )


async def mark_failed(archive: Archive, media_id: int, reason: str) -> None:
    """Failed for good (the message is gone): no retry would help until `dozor media retry`."""
    async with archive.transaction() as db:
        await db.execute(
            """UPDATE media SET status = 'failed', reason = :reason, attempts = attempts + 1,
                   next_attempt_at = NULL, updated_at = :now WHERE id = :id""",
            {"reason": reason, "now": iso(utcnow()), "id": media_id},
        )


async def mark_retry(archive: Archive, media_id: int, reason: str, now: datetime,
                     max_attempts: int = MAX_ATTEMPTS, schedule=backoff) -> str:
    """Count a failed attempt; wait longer each time; 'failed' after `max_attempts`.

    Returns the new status ('pending' or 'failed').
    """
    async with archive.transaction() as db:
        attempts = (await db.execute("SELECT attempts FROM media WHERE id = :id", {"id": media_id})).scalar()
        attempts += 1
        if attempts >= max_attempts:
            status, when = "failed", None
            reason = f"{reason} (gave up after {attempts} attempts)"
        else:
            status, when = "pending", iso(now + schedule(attempts))
        await db.execute(
            """UPDATE media SET status = :status, reason = :reason, attempts = :attempts,
                   next_attempt_at = :when, updated_at = :now WHERE id = :id""",
            {"status": status, "reason": reason, "attempts": attempts, "when": when, "now": iso(utcnow()),
             "id": media_id},
        )
    return status


async def postpone(archive: Archive, media_id: int, reason: str, until: datetime) -> None:
    """Try again at `until` without counting an attempt: the item did nothing wrong
    (a flood wait, a full disk)."""
    async with archive.transaction() as db:
        await db.execute(
            """UPDATE media SET reason = :reason, next_attempt_at = :until, updated_at = :now
               WHERE id = :id AND status = 'pending'""",
            {"reason": reason, "until": iso(until), "now": iso(utcnow()), "id": media_id},
        )


async def retry_failed(archive: Archive, include_skipped: bool = False) -> int:
    """Put failed items (and, if asked, skipped ones, e.g. after raising MEDIA_MAX_MB)
    back in the queue, due now, with a fresh count of attempts. Returns how many."""
    statuses = ("failed", "skipped") if include_skipped else ("failed",)
    async with archive.transaction() as db:
        result = await db.execute(
            """UPDATE media SET status = 'pending', reason = NULL, attempts = 0, next_attempt_at = NULL,
                   updated_at = :now WHERE status IN :statuses""",
            {"now": iso(utcnow()), "statuses": statuses},
        )
        return result.rowcount


async def counts(archive: Archive) -> dict:
    """Items per status, the paused ones among the pending, and the bytes stored."""
    rows = await archive.rows("SELECT status, COUNT(*) AS n FROM media GROUP BY status")
    found = {"pending": 0, "done": 0, "skipped": 0, "failed": 0}
    found.update({r.status: r.n for r in rows})
    paused = await archive.row(
        "SELECT COUNT(*) AS n, MAX(reason) AS reason FROM media WHERE status = 'pending' AND reason LIKE :paused",
        {"paused": PAUSED + "%"},
    )
    files = await archive.row("SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM media_files")
    found["paused"] = paused.n
    found["pause_reason"] = paused.reason
    found["files"] = files.n
    found["bytes"] = int(files.bytes)  # PostgreSQL sums integers as numeric
    return found


async def listing(archive: Archive, status: str, limit: int = 20) -> list[dict]:
    """Items of one status, newest change first, with where they come from and why."""
    rows = await archive.rows(
        """SELECT m.id, msg.chat_id, c.title, c.username, msg.message_id, m.kind, m.mime_type, m.size,
                  m.file_name, m.width, m.height, m.duration, m.status, m.reason, m.attempts,
                  m.next_attempt_at, m.sha256, f.path, m.updated_at
           FROM media m JOIN messages msg ON msg.id = m.message JOIN chats c ON c.id = msg.chat_id
               LEFT JOIN media_files f ON f.sha256 = m.sha256
           WHERE m.status = :status ORDER BY m.updated_at DESC, m.id DESC LIMIT :limit""",
        {"status": status, "limit": limit},
    )
    return [_with_moments(r) for r in rows]


async def reasons(archive: Archive, status: str) -> list[tuple[str, int]]:
    """How many items of a status share each reason, most frequent first."""
    rows = await archive.rows(
        """SELECT COALESCE(reason, '') AS reason, COUNT(*) AS n FROM media WHERE status = :status
           GROUP BY COALESCE(reason, '') ORDER BY n DESC, reason""",
        {"status": status},
    )
    return [(r.reason, r.n) for r in rows]


async def file_of(archive: Archive, chat_id: int, message_id: int) -> dict | None:
    """The media row of a message with its stored file, if any (for tests, search, export)."""
    row = await archive.row(
        """SELECT m.*, f.path FROM media m JOIN messages msg ON msg.id = m.message
               LEFT JOIN media_files f ON f.sha256 = m.sha256
           WHERE msg.chat_id = :chat_id AND msg.message_id = :message_id""",
        {"chat_id": chat_id, "message_id": message_id},
    )
    return _with_moments(row) if row else None


async def chat(archive: Archive, chat_id: int) -> Chat | None:
    row = await archive.row("SELECT * FROM chats WHERE id = :id", {"id": chat_id})
    return chat_from_row(row) if row else None


async def archived_ids(archive: Archive, chat_id: int, message_ids: list[int]) -> set[int]:
    if not message_ids:
        return set()
    rows = await archive.rows("SELECT message_id FROM messages WHERE chat_id = :chat_id AND message_id IN :ids",
                              {"chat_id": chat_id, "ids": message_ids})
    return {r.message_id for r in rows}
