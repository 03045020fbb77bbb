"""The worker pool that drains the persistent media queue.

    wake = asyncio.Event()                       # set it after archiving a message with media
    await run_media(settings, archive, client, wake=wake)   # runs until cancelled

MEDIA_WORKERS workers download at once. A dispatcher hands them the pending items that
are due, waking when `wake` is set and in any case every second, so items put back by
`dozor media retry` (another process) are noticed too. Nothing about progress is kept in
memory that a restart would need: a download killed half-way leaves its row 'pending'
and no file, and simply runs again.

What happens to an item:
- its album is completed first (siblings that were not archived are archived now);
- too large or of a switched-off type → 'skipped' with the reason;
- the same Telegram file already stored → linked at once, no download;
- downloaded into the content-addressed store → 'done';
- the message is gone → 'failed' at once;
- a full disk → every download pauses, the item waits without losing an attempt;
- a flood wait Telegram made us give up on → tried again when it is over;
- anything else → tried again later, waiting longer each time, 'failed' after MAX_ATTEMPTS.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import re
from datetime import timedelta
from typing import Callable

from telethon import errors

from bot.archive import Archive, utcnow
from bot.archive import media as queue
from bot.config import Settings
from bot.media.policy import MB, extension, skip_reason, too_large
from bot.media.store import MediaStore
from bot.model import MatchResult
from bot.telegram.convert import to_post
from bot.telegram.download import Fetched, MessageGone, TelegramMedia

log = logging.getLogger("dozor.media")

POLL = 1.0  # seconds between looks at the queue when nobody wakes the dispatcher
DISK_WAIT = 60.0  # seconds between checks whether a full disk has room again
RESERVE = 16 * MB  # left free for the archive itself, which must keep committing
UNEXPECTED_WAIT = 10.0  # seconds an item is held back after the archive failed to record it


class DiskFull(Exception):
    pass


class TooLarge(Exception):
    pass


async def run_media(settings: Settings, archive: Archive, client, wake: asyncio.Event | None = None) -> None:
    """Download the media of archived messages for ever (until cancelled)."""
    pool = MediaWorkers(archive, MediaStore(settings.storage), TelegramMedia(client),
                        workers=settings.media_workers, max_mb=settings.media_max_mb,
                        kinds=settings.media_types, wake=wake)
    await pool.run()


class MediaWorkers:
    def __init__(self, archive: Archive, store: MediaStore, source: TelegramMedia, *, workers: int = 2,
                 max_mb: float = 50.0, kinds: tuple[str, ...] = (), wake: asyncio.Event | None = None,
                 max_attempts: int = queue.MAX_ATTEMPTS, schedule: Callable[[int], timedelta] = queue.backoff,
                 poll: float = POLL, disk_wait: float = DISK_WAIT, reserve: int = RESERVE):
        self.archive = archive
        self.store = store
        self.source = source
        self.workers = workers
        self.max_mb = max_mb
        self.kinds = kinds
        self.wake = wake or asyncio.Event()
        self.max_attempts = max_attempts
        self.schedule = schedule
        self.poll = poll
        self.disk_wait = disk_wait
        self.reserve = reserve
        self.in_flight: set[int] = set()
        self.paused_until: float = 0.0  # loop time; downloads wait while the disk is full
        self.pause_reason: str | None = None
        self._albums_done: set[tuple[int, int]] = set()
        self._queue: asyncio.Queue = asyncio.Queue()

    async def run(self) -> None:
        await asyncio.to_thread(self.store.remove_partials)
        async with asyncio.TaskGroup() as tasks:
            for number in range(self.workers):
                tasks.create_task(self._work(), name=f"media-{number + 1}")
            tasks.create_task(self._dispatch(), name="media-dispatch")

    # ---- dispatch ----------------------------------------------------------------------

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.wake.clear()
            wait = self.poll
            paused_for = self.paused_until - loop.time()
            if paused_for > 0:
                wait = paused_for
            else:
                free = self.workers - len(self.in_flight)
                if free > 0:
                    for item in await queue.due(self.archive, utcnow(), free, exclude=self.in_flight):
                        self.in_flight.add(item.id)
                        self._queue.put_nowait(item)
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=wait)
            except TimeoutError:
                pass

    async def _work(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self.process(item)
            except Exception:
                # only the archive itself failing gets here (process() turns every download
                # error into a status): keep the worker alive, and hold the item back a while
                # so a broken database does not fill the log ten times a second
                log.exception("media %d of %s/%s: could not record the outcome", item.id, item.chat_id,
                              item.message_id)
                await asyncio.sleep(UNEXPECTED_WAIT)
            finally:
                self.in_flight.discard(item.id)
                self.wake.set()

    # ---- one item ----------------------------------------------------------------------

    async def process(self, item: queue.MediaItem) -> str:
        """Take one queued item as far as it goes now; returns its new status."""
        where = f"{item.chat_id}/{item.message_id}"
        try:
            fetched = None
            if self._album_unchecked(item):
                # before the limits: a skipped video still belongs to an album worth completing
                fetched = await self.source.fetch(item.chat_id, item.message_id, album=True)
                await self._complete_album(item, fetched)
            reason = skip_reason(item.kind, item.size, max_mb=self.max_mb, kinds=self.kinds)
            if reason:
                await queue.mark_skipped(self.archive, item.id, reason)
                log.info("media %s skipped: %s", where, reason)
                return "skipped"
            known = await queue.stored_copy(self.archive, item.telegram_id, item.kind, item.size)
            if known and await asyncio.to_thread(self.store.absolute(known[1]).is_file):
                size = await asyncio.to_thread(lambda: self.store.absolute(known[1]).stat().st_size)
                await queue.mark_done(self.archive, item.id, known[0], known[1], size)
                log.info("media %s linked to the stored copy %s", where, known[0][:12])
                return "done"
            if fetched is None:
                fetched = await self.source.fetch(item.chat_id, item.message_id)
            await self._download(item, fetched)
            return "done"
        except TooLarge as error:
            await queue.mark_skipped(self.archive, item.id, str(error))
            log.info("media %s skipped: %s", where, error)
            return "skipped"
        except MessageGone as error:
            await queue.mark_failed(self.archive, item.id, str(error))
            log.warning("media %s failed: %s", where, error)
            return "failed"
        except DiskFull as error:
            await self._pause(item, str(error))
            return "pending"
        except errors.FloodWaitError as error:
            # only reaches us if the client's flood_sleep_threshold is below the wait
            until = utcnow() + timedelta(seconds=error.seconds + 1)
            await queue.postpone(self.archive, item.id, f"flood wait of {error.seconds} s", until)
            log.warning("media %s: flood wait of %d s, trying again after it", where, error.seconds)
            return "pending"
        except Exception as error:
            # RPC errors, connections that stayed down, timeouts, and whatever else: a later
            # attempt may succeed; after MAX_ATTEMPTS the reason is shown by `dozor media`
            return await self._retry(item, _describe(error))

    def _album_unchecked(self, item: queue.MediaItem) -> bool:
        return item.grouped_id is not None and (item.chat_id, item.grouped_id) not in self._albums_done

    async def _complete_album(self, item: queue.MediaItem, fetched: Fetched) -> None:
        """Archive the items of the album that were not archived, e.g. those posted before
        the item whose caption matched. `Archive.ingest` keeps them because their album
        has a matched item; their own media rows join the queue with them."""
        key = (item.chat_id, item.grouped_id)
        if key in self._albums_done:
            return
        missing_ids = {m.id for m in fetched.album} - await queue.archived_ids(
            self.archive, item.chat_id, [m.id for m in fetched.album])
        if missing_ids:
            chat = await queue.chat(self.archive, item.chat_id)
            if chat is not None:
                posts = [to_post(m) for m in fetched.album if m.id in missing_ids]
                posts.sort(key=lambda p: p.message_id)
                report = await asyncio.shield(self.archive.ingest(
                    chat, [(p, MatchResult()) for p in posts], advance_checkpoint=False))
                if report.archived:
                    log.info("%s: archived %d more items of album %d", chat.title, report.archived, item.grouped_id)
                    self.wake.set()
        self._albums_done.add(key)

    async def _download(self, item: queue.MediaItem, fetched: Fetched) -> None:
        limit = self.max_mb * MB
        expected = item.size or 0
        free = await asyncio.to_thread(self.store.free_bytes)
        if free < expected + self.reserve:
            raise DiskFull(f"disk full: {free / MB:.0f} MB free in {self.store.root}, "
                           f"{(expected + self.reserve) / MB:.0f} MB needed")
        ext = extension(item.kind, item.mime_type, item.file_name)
        try:
            async with self.store.incoming(ext) as incoming:
                async def write(chunk: bytes) -> None:
                    # Telegram's stated size can be missing or wrong: enforce the limit on the bytes
                    if incoming.size + len(chunk) > limit:
                        raise TooLarge(too_large(incoming.size + len(chunk), self.max_mb))
                    await incoming.write(chunk)

                await self.source.download(fetched, write)
                stored = await incoming.commit()
        except OSError as error:
            if error.errno == errno.ENOSPC:
                raise DiskFull(f"disk full: {error.strerror} in {self.store.root}") from error
            raise
        # shielded: a shutdown arriving now must not leave a stored file unlinked from its item
        await asyncio.shield(queue.mark_done(self.archive, item.id, stored.sha256, stored.path, stored.size))
        if self.pause_reason is not None:
            log.warning("media downloads resumed: the disk has room again")
            self.pause_reason = None
        log.info("media %s/%s stored: %s %s, %d bytes", item.chat_id, item.message_id, item.kind,
                 stored.sha256[:12], stored.size)

    async def _pause(self, item: queue.MediaItem, reason: str) -> None:
        loop = asyncio.get_running_loop()
        if self.pause_reason is None:
            log.error("media downloads paused: %s; free some space, they resume by themselves "
                      "(checked every %.0f s)", reason, self.disk_wait)
        self.pause_reason = reason
        self.paused_until = loop.time() + self.disk_wait
        until = utcnow() + timedelta(seconds=self.disk_wait)
        await queue.postpone(self.archive, item.id, f"{queue.PAUSED}{reason}", until)

    async def _retry(self, item: queue.MediaItem, reason: str) -> str:
        status = await queue.mark_retry(self.archive, item.id, reason, utcnow(), self.max_attempts, self.schedule)
        if status == "failed":
            log.error("media %s/%s failed for good: %s", item.chat_id, item.message_id, reason)
        else:
            log.warning("media %s/%s: %s; will try again", item.chat_id, item.message_id, reason)
        return status


def _describe(error: BaseException) -> str:
    if isinstance(error, errors.RPCError):
        # Telethon's text for a known error is a paragraph and its .message only the class
        # (BAD_REQUEST); Telegram's own name, which an operator can look up, is the class name
        name = type(error).__name__
        if type(error).__module__.endswith("rpcerrorlist") and name.endswith("Error"):
            return "Telegram error " + re.sub(r"(?<!^)(?=[A-Z])", "_", name[:-5]).upper()
        return f"Telegram error {error.message}"
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
