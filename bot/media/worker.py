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
- an edit swapped the message's file since it was queued → the item is described by the
  new file (the old description kept as a version) and goes on with it;
- too large or of a switched-off type → 'skipped' with the reason;
- the same Telegram file already stored → linked at once, no download;
- downloaded into the content-addressed store → 'done';
- the message is gone → 'failed' at once;
- a full disk → every download pauses, the item waits without losing an attempt;
- a flood wait Telegram made us give up on → tried again when it is over;
- anything else → tried again later, waiting longer each time, 'failed' after MAX_ATTEMPTS.

With several workers on one archive (accounts), `claims` makes each take only the items of
the chats it serves, claimed with a row lease (bot/archive/media_claims.py), so no file is
fetched twice and the items of a worker that died are taken over when its claims run out.

Neither a worker nor the dispatcher ends because of an error: it is logged and the loop
goes on after a pause, since the media task ending would end the whole service.
"""
from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Callable, Iterable

from bot.archive import Archive, utcnow
from bot.archive import media as queue
from bot.archive import media_claims
from bot.backoff import Backoff
from bot.config import Settings
from bot.media.policy import MB, extension, skip_reason, too_large
from bot.media.store import MediaStore
from bot.model import MatchResult, MediaRef
from bot.telegram.download import Fetched, FloodWait, MediaReplaced, MessageGone, TelegramMedia, describe

log = logging.getLogger("dozor.media")

POLL = 1.0  # seconds between looks at the queue when nobody wakes the dispatcher
DISK_WAIT = 60.0  # seconds between checks whether a full disk has room again
RESERVE = 16 * MB  # left free for the archive itself, which must keep committing
UNEXPECTED_WAIT = 10.0  # seconds an item is held back after the archive failed to record it
UNEXPECTED_WAIT_MAX = 300.0  # the dispatcher's pauses double up to this while the archive keeps failing
ALBUMS_REMEMBERED = 10_000  # albums known complete; one forgotten costs one more fetch, nothing else
REPLACEMENTS = 3  # edits swapping the file during one attempt before the item waits for a later one


class DiskFull(Exception):
    pass


class TooLarge(Exception):
    pass


async def run_media(settings: Settings, archive: Archive, client, wake: asyncio.Event | None = None,
                    claims: Claims | None = None) -> None:
    """Download the media of archived messages for ever (until cancelled)."""
    pool = MediaWorkers(archive, MediaStore(settings.media_dir), TelegramMedia(client),
                        workers=settings.media_workers, max_mb=settings.media_max_mb,
                        kinds=settings.media_types, wake=wake, claims=claims)
    await pool.run()


@dataclass(frozen=True)
class Claims:
    """Who claims (a worker id, see bot/accounts/leases.py) and the chats whose media it may
    fetch: its account can reach only the chats it serves."""

    worker: str
    chats: Callable[[], Iterable[int]]


class MediaWorkers:
    def __init__(self, archive: Archive, store: MediaStore, source: TelegramMedia, *, workers: int = 2,
                 max_mb: float = 50.0, kinds: tuple[str, ...] = (), wake: asyncio.Event | None = None,
                 max_attempts: int = queue.MAX_ATTEMPTS, schedule: Callable[[int], timedelta] = queue.backoff,
                 poll: float = POLL, disk_wait: float = DISK_WAIT, reserve: int = RESERVE,
                 unexpected_wait: float = UNEXPECTED_WAIT, albums_remembered: int = ALBUMS_REMEMBERED,
                 claims: Claims | None = None):
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
        self.unexpected_wait = unexpected_wait
        self.albums_remembered = albums_remembered
        self.claims = claims
        self.in_flight: set[int] = set()
        self.paused_until: float = 0.0  # loop time; downloads wait while the disk is full
        self.pause_reason: str | None = None
        self._albums_done: OrderedDict[tuple[int, int], None] = OrderedDict()  # least recently used first
        self._queue: asyncio.Queue = asyncio.Queue()

    async def run(self) -> None:
        try:
            await asyncio.to_thread(self.store.prepare)
        except OSError:
            # each download meets the same problem and records it where `dozor media` shows it
            log.exception("media folder %s could not be prepared", self.store.root)
        async with asyncio.TaskGroup() as tasks:
            for number in range(self.workers):
                tasks.create_task(self._work(), name=f"media-{number + 1}")
            tasks.create_task(self._dispatch(), name="media-dispatch")

    # ---- dispatch ----------------------------------------------------------------------

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            self.wake.clear()
            wait = self.poll
            try:
                paused_for = self.paused_until - loop.time()
                if paused_for > 0:
                    wait = paused_for
                else:
                    await self._hand_out()
                failures = 0
            except Exception:
                failures += 1
                # the exponent is bounded: a days-long outage must not overflow the float
                pause = Backoff(first=self.unexpected_wait, cap=UNEXPECTED_WAIT_MAX)(failures - 1)
                log.exception("media queue could not be read; trying again in %g s", pause)
                # not woken early: every archived message would otherwise retry a broken database
                await asyncio.sleep(pause)
                continue
            # woken by new items, or after `wait` to look for retries that fell due
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=wait)

    async def _hand_out(self) -> None:
        free = self.workers - len(self.in_flight)
        if free > 0:
            for item in await self._due(free):
                self.in_flight.add(item.id)
                self._queue.put_nowait(item)

    async def _due(self, free: int) -> list[queue.MediaItem]:
        if self.claims is None:
            return await queue.due(self.archive, utcnow(), free, exclude=self.in_flight)
        return await media_claims.claim_due(self.archive, self.claims.worker, self.claims.chats(), utcnow(), free,
                                            exclude=self.in_flight)

    async def _let_go(self, item: queue.MediaItem) -> None:
        """An item left pending (tried again later) may be taken by any worker when it is due."""
        if self.claims is None:
            return
        try:
            await media_claims.release(self.archive, self.claims.worker, [item.id])
        except Exception as error:
            log.warning("media %d: claim not released (%s); it runs out by itself", item.id, error)

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
                await asyncio.sleep(self.unexpected_wait)
            finally:
                await self._let_go(item)
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
                item = await self._follow_edit(item, fetched)
            replacements = 0
            while True:
                reason = skip_reason(item.kind, item.size, max_mb=self.max_mb, kinds=self.kinds)
                if reason:
                    await queue.mark_skipped(self.archive, item.id, reason)
                    log.info("media %s skipped: %s", where, reason)
                    return "skipped"
                if await self._link_stored_copy(item):
                    return "done"
                if fetched is None:
                    fetched = await self.source.fetch(item.chat_id, item.message_id)
                    followed = await self._follow_edit(item, fetched)
                    if followed is not item:
                        item = followed
                        continue  # the new file meets the limits, and may be stored already
                try:
                    await self._download(item, fetched)
                    return "done"
                except MediaReplaced as replaced:
                    replacements += 1
                    if replacements > REPLACEMENTS:
                        raise
                    fetched = replaced.fetched
                    item = await self._follow_edit(item, fetched)
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
        except FloodWait as error:
            # only reaches us from a client without the request budget, which holds flood waits itself
            until = utcnow() + timedelta(seconds=error.seconds + 1)
            await queue.postpone(self.archive, item.id, str(error), until)
            log.warning("media %s: flood wait of %d s, trying again after it", where, error.seconds)
            return "pending"
        except Exception as error:
            # RPC errors, connections that stayed down, timeouts, and whatever else: a later
            # attempt may succeed; after MAX_ATTEMPTS the reason is shown by `dozor media`
            return await self._retry(item, describe(error))

    async def _link_stored_copy(self, item: queue.MediaItem) -> bool:
        """Link the item to the file already stored for the same Telegram file, if there is one."""
        known = await queue.stored_copy(self.archive, item.telegram_id, item.kind, item.size)
        if not known:
            return False
        path = self.store.absolute(known[1])
        if not await asyncio.to_thread(path.is_file):
            return False
        size = await asyncio.to_thread(lambda: path.stat().st_size)
        await queue.mark_done(self.archive, item.id, known[0], known[1], size)
        log.info("media %s/%s linked to the stored copy %s", item.chat_id, item.message_id, known[0][:12])
        return True

    async def _follow_edit(self, item: queue.MediaItem, fetched: Fetched) -> queue.MediaItem:
        """The item as the message describes it now. Storing the new file under the old
        description would mislabel evidence; failing it would lose the file the chat shows."""
        now = fetched.media
        if now is None:
            raise MessageGone("message no longer carries a downloadable file")
        if item.telegram_id is None or _same_file(item, now):
            return item
        await queue.replace_media(self.archive, item.id, now)
        log.info("media %s/%s was replaced by an edit: %s %s is now %s %s", item.chat_id, item.message_id,
                 item.kind, item.telegram_id, now.kind, now.telegram_id)
        return replace(item, kind=now.kind, telegram_id=now.telegram_id, mime_type=now.mime_type, size=now.size,
                       file_name=now.file_name)

    def _album_unchecked(self, item: queue.MediaItem) -> bool:
        if item.grouped_id is None:
            return False
        key = (item.chat_id, item.grouped_id)
        if key in self._albums_done:
            self._albums_done.move_to_end(key)
            return False
        return True

    async def _complete_album(self, item: queue.MediaItem, fetched: Fetched) -> None:
        """Archive the items of the album that were not archived, e.g. those posted before
        the item whose caption matched. `Archive.ingest` keeps them because their album
        has a matched item; their own media rows join the queue with them."""
        siblings = {post.message_id: post for post in fetched.album}
        missing_ids = siblings.keys() - await queue.archived_ids(self.archive, item.chat_id, list(siblings))
        if missing_ids:
            chat = await queue.chat(self.archive, item.chat_id)
            if chat is not None:
                posts = [siblings[i] for i in sorted(missing_ids)]
                report = await asyncio.shield(self.archive.ingest(
                    chat, [(p, MatchResult()) for p in posts], advance_checkpoint=False))
                if report.archived:
                    log.info("%s: archived %d more items of album %d", chat.title, report.archived, item.grouped_id)
                    self.wake.set()
        self._albums_done[(item.chat_id, item.grouped_id)] = None
        while len(self._albums_done) > self.albums_remembered:
            self._albums_done.popitem(last=False)

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


def _same_file(item: queue.MediaItem, now: MediaRef) -> bool:
    # photo and document ids are separate sequences: the same number can name two files
    return (item.kind == "photo", item.telegram_id) == (now.kind == "photo", now.telegram_id)
