"""Getting each digest posted exactly once: the scheduler task of the service.

    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(run_digests(settings, archive, client, ready=service.caught_up), name="digest")

Each round the task looks for owed periods (oldest first) and gives each one whose turn it
is one attempt, then sleeps until the next DIGEST_TIME in DIGEST_TZ, the next retry, or one
tick, whichever comes first. A period is composed only once catch-up has read every watched
chat up to its end (or after a grace period, with a warning), then frozen in the archive with
a random_id per part; each part is recorded the moment Telegram accepts it, and the period
counts as sent only when all are. A refusal is recorded with its reason (for `dozor status`)
and retried with growing back-off, while later periods go out when their time comes; a
message Telegram refuses outright is given up after a few tries. Nothing here writes to the
archive's messages, so a digest that cannot be posted never holds up archiving.

Several workers may share one archive (accounts); only the one elected (bot/accounts/) runs
this task, and `elected()` asks the database again right before each attempt, so a worker
whose lease another has taken meanwhile sends nothing. A period's rows are keyed by the
period, so even two senders would freeze one set of parts with one random_id each, which
Telegram posts once.
"""
from __future__ import annotations

import asyncio
import logging
import tomllib
from datetime import datetime, timedelta
from typing import Awaitable, Callable, Coroutine, Mapping, TypeVar

from bot.archive import Archive, iso, utcnow
from bot.backoff import Backoff
from bot.archive import digests as store
from bot.config import Settings
from bot.archive.coverage import watched_coverage
from bot.coverage import summarise
from bot.digest.compose import Coverage, Layout, layout
from bot.digest.schedule import (INTERIM, Period, due, latest_period, next_time, period_ending, period_so_far,
                                 previous)
from bot.telegram.publish import PublishError, Publisher, RateLimited, Rejected

log = logging.getLogger("dozor.digest")

RETRY_DELAYS = (10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0)  # seconds; the last repeats
TICK = 60.0  # the longest single sleep, so a changed wall clock (suspend, NTP) is noticed
GRACE = 1800.0  # seconds a period waits for catch-up before it is composed anyway
REJECTIONS = 3  # refusals of the message itself (too long, bad entities) before a period is given up
SETTLE = 10.0  # seconds a part already handed to Telegram gets to be recorded at shutdown

Clock = Callable[[], datetime]
Titles = Mapping[str, str] | Callable[[], Mapping[str, str]] | None
Ready = Callable[[datetime], Awaitable[bool]]
Elected = Callable[[], Awaitable[bool]]
T = TypeVar("T")


async def run_digests(settings: Settings, archive: Archive, account_client, *,
                      client_options: dict | None = None, now: Clock | None = None, titles: Titles = None,
                      tick: float = TICK, retry_delays: tuple[float, ...] = RETRY_DELAYS,
                      ready: Ready | None = None, grace: float = GRACE, elected: Elected | None = None) -> None:
    """Send every owed digest, then each one as it falls due; runs until cancelled.

    `now` returns the current aware datetime (tests drive time with it); `titles` maps topic
    ids to titles (default: the [topics] table of the keywords file, re-read per digest);
    `client_options` are extra TelegramClient arguments for the digest bot's client.
    `ready(moment)` tells whether every watched chat has been read at least up to `moment`:
    a period is not composed before it is true for the period's end, or `grace` seconds have
    passed. `elected()`, if given, must be true right before each attempt. No error ends the task: it is logged and the round is tried again after a back-off.
    """
    if not settings.digest_chat:
        log.info("DIGEST_CHAT is not set: no digest will be sent")
        return
    publisher = Publisher(settings, account_client, client_options=client_options)
    scheduler = _Scheduler(settings, archive, publisher, now or utcnow, titles, tick, retry_delays, ready, grace)
    scheduler.elected = elected
    try:
        await scheduler.run()
    finally:
        await publisher.close()


class _Scheduler:
    """The state of run_digests between rounds. Waits are measured on the event loop's
    monotonic clock, so a wall clock that jumps neither stretches nor skips a back-off."""

    def __init__(self, settings: Settings, archive: Archive, publisher: Publisher, clock: Clock, titles: Titles,
                 tick: float, retry_delays: tuple[float, ...], ready: Ready | None, grace: float):
        self.settings, self.archive, self.publisher = settings, archive, publisher
        self.clock, self.titles, self.tick, self.retry_delays = clock, titles, tick, retry_delays
        self.ready, self.grace = ready, grace
        self.loop = asyncio.get_running_loop()
        self.since: datetime | None = None
        self.retry_at: dict[str, float] = {}  # period key → when its next attempt is due
        self.failures: dict[str, int] = {}  # period key → attempts refused in this run
        self.waiting: dict[str, float] = {}  # period key → when it started waiting for catch-up
        self.overdue: set[str] = set()  # periods composed without waiting longer for catch-up
        self.hold_until = 0.0  # Telegram asked the sender to wait: no period is tried before
        self.elected: Elected | None = None  # is this worker still the one that sends digests?

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                pause = await self.round()
                failures = 0
            except Exception:
                # a fault of ours or of the archive must not stop the service's other tasks
                pause = Backoff(steps=self.retry_delays)(failures)
                failures += 1
                log.exception("digest scheduler failed; trying again in %.0f s", pause)
            await asyncio.sleep(pause)

    async def round(self) -> float:
        """One attempt at each owed period whose turn it is; returns how long to sleep."""
        settings, moment = self.settings, self.clock()
        if self.since is None:
            self.since = await store.schedule_since(self.archive, moment)
        periods = await owed(settings, self.archive, moment, self.since)
        keys = {p.key for p in periods}
        for table in (self.retry_at, self.failures, self.waiting):
            for key in set(table) - keys:  # sent by `dozor digest --send`, or no longer owed
                del table[key]
        self.overdue &= keys
        for period in periods:
            if self.loop.time() < max(self.hold_until, self.retry_at.get(period.key, 0.0)):
                continue
            if await self._caught_up(period):
                if self.elected is not None and not await self.elected():
                    log.info("digest %s: another worker sends the digests now", period.key)
                    break
                await self._attempt(period)
        upcoming = next_time(moment, settings.digest_period, settings.digest_time, settings.digest_tz)
        log.debug("digest: looked at %s; next period ends %s", iso(moment), iso(upcoming))
        now = self.loop.time()
        waits = [self.tick, (upcoming - self.clock()).total_seconds(), self.hold_until - now,
                 *(at - now for at in self.retry_at.values()),
                 *(started + self.grace - now for started in self.waiting.values())]
        return min(w for w in waits if w > 0)

    async def _caught_up(self, period: Period) -> bool:
        """Whether the period may be composed: catch-up has reached its end, or waited too long."""
        key = period.key
        if self.ready is None or key in self.overdue:
            return True
        if await store.stored_parts(self.archive, key) is not None:
            return True  # frozen parts do not change, so there is nothing to wait for
        try:
            if await self.ready(period.end):
                self.waiting.pop(key, None)
                return True
        except Exception:
            log.exception("could not tell whether catch-up has reached %s", iso(period.end))
        now = self.loop.time()
        if key not in self.waiting:
            self.waiting[key] = now
            log.info("digest %s waits for catch-up to read every chat up to %s", key, iso(period.end))
        if now - self.waiting[key] < self.grace:
            return False
        # a chat that cannot be read must not hold the digest back for ever
        log.warning("digest %s: catch-up has not read every chat up to %s after %.0f s; composing it "
                    "without what is still unread", key, iso(period.end), now - self.waiting.pop(key))
        self.overdue.add(key)
        return True

    async def _attempt(self, period: Period) -> None:
        key = period.key
        try:
            posted = await send_period(self.settings, self.archive, self.publisher, period, self.titles, self.clock)
        except PublishError as error:
            refusal: PublishError | None = error
            reason = error.reason
        except Exception as error:
            log.exception("digest %s failed", key)
            refusal, reason = None, f"internal error: {type(error).__name__}: {error}"
        else:
            log.info("digest %s sent (%d parts posted now)", key, posted)
            self.retry_at.pop(key, None)
            self.failures.pop(key, None)
            return
        attempt = self.failures.get(key, 0)
        self.failures[key] = attempt + 1
        wait = max(Backoff(steps=self.retry_delays)(attempt), (refusal.retry_after if refusal else None) or 0)
        self.retry_at[key] = self.loop.time() + wait
        if isinstance(refusal, RateLimited):
            self.hold_until = self.retry_at[key]
        rejected = isinstance(refusal, Rejected)
        at = self.clock()
        rejections = await store.record_refusal(self.archive, key, reason, at + timedelta(seconds=wait), at,
                                                rejected=rejected)
        if rejected and rejections >= REJECTIONS:
            await store.mark_failed(self.archive, key, reason, at)
            log.error("digest %s given up after %d refusals: %s", key, rejections, reason)
            return
        log.warning("digest %s not sent (attempt %d): %s; retrying in %.0f s", key, attempt + 1, reason, wait)


async def owed(settings: Settings, archive: Archive, moment: datetime, since: datetime) -> list[Period]:
    """Periods to send at `moment`, oldest first: ended, and neither sent nor given up."""
    settled = await store.settled_periods(archive, since)
    return due(moment, settings.digest_period, settings.digest_time, settings.digest_tz, since=since, sent=settled)


async def build(settings: Settings, archive: Archive, period: Period, titles: Titles = None) -> list[str]:
    """The HTML parts of a period's digest as they would be composed now (nothing stored)."""
    return (await build_layout(settings, archive, period, titles)).parts


async def build_layout(settings: Settings, archive: Archive, period: Period, titles: Titles = None) -> Layout:
    """build(), with which archived message each numbered item stands for.

    A period still in progress (see so_far) is compared with the last period that ended."""
    if period.kind == INTERIM:
        before = latest_period(period.end, settings.digest_period, settings.digest_time, settings.digest_tz)
    else:
        before = previous(period, settings.digest_time, settings.digest_tz)
    hits = await store.period_hits(archive, period.start, period.end)
    counts, total = await store.topic_counts(archive, before.start, before.end)
    names = await _titles(settings, titles)
    rows, chat_titles = await watched_coverage(archive)
    read = summarise(rows, period.end)
    coverage = Coverage(read["complete"], read["chats"], tuple(chat_titles[c] for c in read["behind"]))
    return await asyncio.to_thread(
        layout, period, hits, counts, titles=names, tz=settings.digest_tz,
        cap=settings.digest_topic_cap, previous_total=total, coverage=coverage)


async def send_period(settings: Settings, archive: Archive, publisher: Publisher, period: Period,
                      titles: Titles = None, now: Clock | None = None) -> int:
    """One attempt at a period: freeze its parts if new, post those Telegram has not accepted.

    Returns how many parts were posted now; raises PublishError at the first refusal.
    """
    clock = now or utcnow
    parts = await store.stored_parts(archive, period.key)
    if parts is None:
        composed = await build_layout(settings, archive, period, titles)
        parts = await store.save_composed(archive, period, settings.digest_chat, composed.parts, clock(),
                                          items=composed.items)
    posted = 0
    for part in parts:
        if part["sent_at"] is not None:
            continue
        await _unbroken(_post(archive, publisher, period.key, part, clock))
        posted += 1
    return posted


async def _post(archive: Archive, publisher: Publisher, key: str, part: dict, clock: Clock) -> None:
    message_id = await publisher.send(part["html"], part["random_id"])
    if message_id is None:
        log.info("digest %s part %d was already posted by an earlier attempt", key, part["part"])
    await store.mark_part_sent(archive, key, part["part"], message_id, clock())


async def _unbroken(step: Coroutine[object, object, T]) -> T:
    """Run `step` to its end even if the caller is cancelled meanwhile (for up to SETTLE s).

    Posting a part and recording it belong together: cancelled in between, the part would be
    posted again after a restart (Telegram then refuses the repeat by its random_id, but the
    archive should not need that).
    """
    task = asyncio.ensure_future(step)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.done():
            await asyncio.wait({task}, timeout=SETTLE)
            task.cancel()
        if task.done() and not task.cancelled():
            task.exception()  # seen here: the caller is going away and would leave it unretrieved
        raise


def period_for(settings: Settings, moment: datetime) -> Period:
    """The latest period that has ended at `moment`."""
    return latest_period(moment, settings.digest_period, settings.digest_time, settings.digest_tz)


def so_far(settings: Settings, moment: datetime) -> Period:
    """The period in progress at `moment`, from the end of the latest one up to `moment`.

    The archive keeps whole seconds: the period runs to the end of `moment`'s second, so a
    message posted in the same second as the request is in it."""
    moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return period_so_far(moment, settings.digest_period, settings.digest_time, settings.digest_tz)


def period_on(settings: Settings, day) -> Period:
    """The period ending on local date `day` at DIGEST_TIME."""
    return period_ending(day, settings.digest_period, settings.digest_time, settings.digest_tz)


async def _titles(settings: Settings, titles: Titles) -> Mapping[str, str]:
    if callable(titles):
        return titles()
    if titles is not None:
        return titles
    return await asyncio.to_thread(read_titles, settings)


def read_titles(settings: Settings) -> dict[str, str]:
    """Topic titles from the keywords file's [topics] table; ids stand in if it cannot be read."""
    try:
        data = tomllib.loads(settings.keywords.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        log.warning("topic titles unavailable (%s): topics are shown by id", error)
        return {}
    topics = data.get("topics", {})
    return {str(k): str(v) for k, v in topics.items() if isinstance(v, str)} if isinstance(topics, dict) else {}
