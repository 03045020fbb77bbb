"""Getting each digest posted exactly once: the scheduler task of the service.

    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(run_digests(settings, archive, client), name="digest")

At start every owed period is sent (oldest first), then the task sleeps until the next
DIGEST_TIME in DIGEST_TZ. A period's parts are composed once and frozen in the archive;
each part is recorded the moment Telegram accepts it, and the period counts as sent only
when all are. A refusal is recorded with its reason (for `dozor status`) and retried with
growing back-off; nothing here writes to the archive's messages, so a digest that cannot be
posted never holds up archiving.
"""
from __future__ import annotations

import asyncio
import logging
import tomllib
from datetime import datetime, timedelta, timezone
from typing import Callable, Mapping

from bot.archive import Archive
from bot.archive import digests as store
from bot.config import Settings
from bot.digest.compose import compose
from bot.digest.schedule import Period, due, latest_period, next_time, period_ending, previous
from bot.telegram.publish import PublishError, Publisher

log = logging.getLogger("dozor.digest")

UTC = timezone.utc
RETRY_DELAYS = (10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0)  # seconds; the last repeats
TICK = 60.0  # the longest single sleep, so a changed wall clock (suspend, NTP) is noticed

Clock = Callable[[], datetime]
Titles = Mapping[str, str] | Callable[[], Mapping[str, str]] | None


def utcnow() -> datetime:
    return datetime.now(UTC)


async def run_digests(settings: Settings, archive: Archive, account_client, *,
                      client_options: dict | None = None, now: Clock | None = None, titles: Titles = None,
                      tick: float = TICK, retry_delays: tuple[float, ...] = RETRY_DELAYS) -> None:
    """Send every owed digest, then each one as it falls due; runs until cancelled.

    `now` returns the current aware datetime (tests drive time with it); `titles` maps topic
    ids to titles (default: the [topics] table of the keywords file, re-read per digest);
    `client_options` are extra TelegramClient arguments for the digest bot's client.
    """
    if not settings.digest_chat:
        log.info("DIGEST_CHAT is not set: no digest will be sent")
        return
    clock = now or utcnow
    publisher = Publisher(settings, account_client, client_options=client_options)
    try:
        since = await store.schedule_since(archive, clock())
        while True:
            for period in await owed(settings, archive, clock(), since):
                await _deliver(settings, archive, publisher, period, clock, titles, retry_delays)
            await _sleep_until(next_time(clock(), settings.digest_period, settings.digest_time,
                                         settings.digest_tz), clock, tick)
    finally:
        await publisher.close()


async def owed(settings: Settings, archive: Archive, moment: datetime, since: datetime) -> list[Period]:
    sent = await store.sent_periods(archive, since)
    return due(moment, settings.digest_period, settings.digest_time, settings.digest_tz, since=since, sent=sent)


async def build(settings: Settings, archive: Archive, period: Period, titles: Titles = None) -> list[str]:
    """The HTML parts of a period's digest as they would be composed now (nothing stored)."""
    before = previous(period, settings.digest_time, settings.digest_tz)
    hits = await store.period_hits(archive, period.start, period.end)
    counts, total = await store.topic_counts(archive, before.start, before.end)
    names = await _titles(settings, titles)
    return await asyncio.to_thread(
        compose, period, hits, counts, titles=names, tz=settings.digest_tz,
        cap=settings.digest_topic_cap, previous_total=total)


async def send_period(settings: Settings, archive: Archive, publisher: Publisher, period: Period,
                      titles: Titles = None, now: Clock | None = None) -> int:
    """One attempt at a period: freeze its parts if new, post those Telegram has not accepted.

    Returns how many parts were posted now; raises PublishError at the first refusal.
    """
    clock = now or utcnow
    parts = await store.stored_parts(archive, period.key)
    if parts is None:
        html = await build(settings, archive, period, titles)
        parts = await store.save_composed(archive, period, settings.digest_chat, html, clock())
    posted = 0
    for part in parts:
        if part["message_id"] is not None:
            continue
        message_id = await publisher.send(part["html"])
        await store.mark_part_sent(archive, period.key, part["part"], message_id, clock())
        posted += 1
    return posted


def period_for(settings: Settings, moment: datetime) -> Period:
    """The latest period that has ended at `moment`."""
    return latest_period(moment, settings.digest_period, settings.digest_time, settings.digest_tz)


def period_on(settings: Settings, day) -> Period:
    """The period ending on local date `day` at DIGEST_TIME."""
    return period_ending(day, settings.digest_period, settings.digest_time, settings.digest_tz)


async def _deliver(settings, archive, publisher, period, clock, titles, retry_delays) -> None:
    attempt = 0
    while True:
        try:
            posted = await send_period(settings, archive, publisher, period, titles, clock)
            log.info("digest %s sent (%d parts posted now)", period.key, posted)
            return
        except PublishError as error:
            reason, wait = error.reason, max(_delay(retry_delays, attempt), error.retry_after or 0)
        except Exception as error:
            # a fault of ours must not stop the service's other tasks: say it and retry later
            log.exception("digest %s failed", period.key)
            reason, wait = f"internal error: {type(error).__name__}: {error}", _delay(retry_delays, attempt)
        attempt += 1
        log.warning("digest %s not sent (attempt %d): %s; retrying in %.0f s", period.key, attempt, reason, wait)
        try:
            await store.record_refusal(archive, period.key, reason, clock() + timedelta(seconds=wait), clock())
        except Exception:
            log.exception("could not record why digest %s failed", period.key)
        await asyncio.sleep(wait)


def _delay(delays: tuple[float, ...], attempt: int) -> float:
    return delays[min(attempt, len(delays) - 1)]


async def _sleep_until(moment: datetime, clock: Clock, tick: float) -> None:
    while (left := (moment - clock()).total_seconds()) > 0:
        await asyncio.sleep(min(left, tick))


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
