"""Spike alerts between digests: the service's loop around bot/desk/spikes.py.

    await run_spike_alerts(settings, archive, publisher, titles=lambda: rules.current.topics)

Every `tick` seconds: the matches of the last SPIKE_WINDOW_MINUTES, each chat's usual rate
over the week before, the rule; each new surge becomes one alert in DIGEST_CHAT (through the
digest's publisher, so the bot posts it when DIGEST_BOT_TOKEN is set). An alert Telegram
refuses is tried again next tick with the same random_id per part, so it is never doubled.
Off until SPIKE_CITY_MATCHES or SPIKE_CHAT_FACTOR is set.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Mapping

from bot.archive import Archive, utcnow
from bot.archive import desk as store
from bot.config import Settings
from bot.desk import answers
from bot.desk.spikes import BASELINE, Spike, SpikeRule, SpikeWatch, cities_of, find_spikes
from bot.digest.compose import split
from bot.telegram.publish import PublishError, Publisher

log = logging.getLogger("dozor.alerts")

TICK = 60.0


@dataclass
class _Alert:
    spike: Spike
    parts: list[str]
    random_ids: list[int] = field(default_factory=list)
    sent: int = 0  # parts Telegram accepted


def rule_of(settings: Settings) -> SpikeRule:
    return SpikeRule(window=timedelta(minutes=settings.spike_window), city_matches=settings.spike_city_matches,
                     chat_factor=settings.spike_chat_factor, chat_min=settings.spike_chat_min)


async def run_spike_alerts(settings: Settings, archive: Archive, account_client, *,
                           titles: Callable[[], Mapping[str, str]], client_options: dict | None = None,
                           clock: Callable[[], datetime] = utcnow, tick: float | None = None) -> None:
    """Watch for surges until cancelled. `client_options`: for the digest bot's client."""
    rule = rule_of(settings)
    if not rule.active:
        log.info("spike alerts are off: set SPIKE_CITY_MATCHES or SPIKE_CHAT_FACTOR to have them")
        return
    if not settings.digest_chat:
        log.warning("spike alerts are off: DIGEST_CHAT is not set, so there is nowhere to send them")
        return
    if rule.city_matches is not None and not settings.spike_cities:
        log.warning("SPIKE_CITY_MATCHES is set but SPIKE_CITIES names no chats: no city can surge")
    publisher = Publisher(settings, account_client, client_options=client_options)
    try:
        await _watch(settings, archive, publisher, rule, titles, clock, TICK if tick is None else tick)
    finally:
        await publisher.close()


async def _watch(settings: Settings, archive: Archive, publisher: Publisher, rule: SpikeRule,
                 titles: Callable[[], Mapping[str, str]], clock: Callable[[], datetime], tick: float) -> None:
    watch: SpikeWatch | None = None
    queue: list[_Alert] = []
    while True:
        try:
            now = clock()
            if watch is None:  # surges announced before a restart are not news
                watch = SpikeWatch(rule.window, await store.announced_surges(archive, now - rule.window))
            spikes = await _spikes(settings, archive, rule, now)
            log.debug("spike alerts: %d surges under way at %s", len(spikes), now.isoformat(timespec="seconds"))
            fresh = watch.fresh(spikes, now)
            for spike in spikes:
                if spike in fresh:
                    await store.surge_seen(archive, spike.name, now, matches=len(spike.items))
                    parts = split(answers.spike_alert(spike, titles(), settings.digest_tz, rule.window))
                    queue.append(_Alert(spike, parts, [secrets.randbits(63) for _ in parts]))
                    log.info("spike: %s %s in %s (%d matches)", spike.key[0], spike.topic, spike.where,
                             len(spike.items))
                else:
                    await store.surge_seen(archive, spike.name, now)
            while queue:
                await _post(publisher, queue[0])
                await store.surge_sent(archive, queue[0].spike.name, clock())
                queue.pop(0)
        except PublishError as error:
            log.warning("spike alert not sent: %s; trying again in %.0f s", error.reason, tick)
        except Exception:
            log.exception("spike alerts failed; trying again in %.0f s", tick)
        await asyncio.sleep(tick)


async def _spikes(settings: Settings, archive: Archive, rule: SpikeRule, now: datetime) -> list[Spike]:
    recent = await store.recent_matches(archive, now - rule.window)
    if not recent:
        return []
    usual = {}
    if rule.chat_factor is not None:
        usual = await store.usual_counts(archive, now - rule.window - BASELINE, now - rule.window)
    cities = cities_of(await archive.chats(), settings.spike_cities)
    return find_spikes(recent, now=now, rule=rule, cities=cities, usual=usual)


async def _post(publisher: Publisher, alert: _Alert) -> None:
    while alert.sent < len(alert.parts):
        await publisher.send(alert.parts[alert.sent], alert.random_ids[alert.sent])
        alert.sent += 1
