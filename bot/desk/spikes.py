"""When a topic surges: the rule behind spike alerts. Pure: no clock, no I/O.

    rule = SpikeRule(window=timedelta(minutes=15), city_matches=5, chat_factor=4, chat_min=5)
    spikes = find_spikes(recent, now=now, rule=rule, cities={-1001: "Київ"}, usual={(-1001, "tcc"): 6})
    for spike in watch.fresh(spikes, now): ...       # each surge once

Two kinds of surge, each off until its threshold is set:
- a city: at least `city_matches` messages of one topic within the window in the chats of
  one city (a street raid is reported in several neighbourhood chats at once);
- a chat: at least `chat_min` messages of one topic within the window, and `chat_factor`
  times what the chat usually carries in a window of that length (over the past week).

A chat whose city surges on the same topic is not announced on its own as well. A surge is
the same surge for as long as it keeps firing; once it has been quiet for a whole window, a
new one is news again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable, Mapping

from bot.matching.rules import chat_reference
from bot.model import Chat

BASELINE = timedelta(days=7)  # how far back a chat's usual rate is measured


@dataclass(frozen=True, slots=True)
class Sighting:
    """One matched message of one topic (bot/archive/desk.py reads them)."""

    topic: str
    chat_id: int
    chat_title: str
    chat_username: str | None
    message_id: int
    date: datetime
    text: str


@dataclass(frozen=True, slots=True)
class SpikeRule:
    window: timedelta
    city_matches: int | None = None
    chat_factor: float | None = None
    chat_min: int = 5

    @property
    def active(self) -> bool:
        return self.city_matches is not None or self.chat_factor is not None


@dataclass(frozen=True, slots=True)
class Spike:
    key: tuple  # ("city", city, topic) | ("chat", chat id, topic): what "the same surge" means
    topic: str
    where: str  # the city, or the chat's title
    items: tuple[Sighting, ...]
    usual: float | None = None  # for a chat: its usual count in a window

    @property
    def chats(self) -> int:
        return len({s.chat_id for s in self.items})

    @property
    def name(self) -> str:
        """The key as text, as the archive keeps it: city|Київ|busification."""
        return "|".join(str(part) for part in self.key)


def cities_of(chats: Iterable[Chat], cities: tuple[tuple[str, tuple[str, ...]], ...]) -> dict[int, str]:
    """Chat id → city, from SPIKE_CITIES references (@name, t.me link or id) and the archive's chats."""
    by_name: dict[str, str] = {}
    by_id: dict[int, str] = {}
    for city, refs in cities:
        for ref in refs:
            chat = chat_reference(ref)
            if chat is None:
                continue
            if chat.username:
                by_name[chat.username.casefold()] = city
            else:
                by_id[chat.id] = city
    found = {}
    for chat in chats:
        city = by_id.get(chat.id) or (by_name.get(chat.username.casefold()) if chat.username else None)
        if city:
            found[chat.id] = city
    return found


def find_spikes(recent: Iterable[Sighting], *, now: datetime, rule: SpikeRule, cities: Mapping[int, str],
                usual: Mapping[tuple[int, str], int]) -> list[Spike]:
    """The surges under way at `now`. `usual`: matches per (chat, topic) over BASELINE before
    the window."""
    start = now - rule.window
    inside = [s for s in recent if start <= s.date <= now]
    spikes: list[Spike] = []
    if rule.city_matches is not None:
        by_city: dict[tuple[str, str], list[Sighting]] = {}
        for s in inside:
            if s.chat_id in cities:
                by_city.setdefault((cities[s.chat_id], s.topic), []).append(s)
        for (city, topic), items in sorted(by_city.items()):
            if len(items) >= rule.city_matches:
                spikes.append(Spike(("city", city, topic), topic, city, tuple(items)))
    if rule.chat_factor is not None:
        windows = BASELINE / rule.window
        by_chat: dict[tuple[int, str], list[Sighting]] = {}
        for s in inside:
            by_chat.setdefault((s.chat_id, s.topic), []).append(s)
        surging = {(s.key[1], s.topic) for s in spikes}
        for (chat_id, topic), items in sorted(by_chat.items()):
            if (cities.get(chat_id), topic) in surging:
                continue  # its city's alert already carries these messages
            typical = usual.get((chat_id, topic), 0) / windows
            if len(items) >= rule.chat_min and len(items) >= rule.chat_factor * typical:
                spikes.append(Spike(("chat", chat_id, topic), topic, items[0].chat_title, tuple(items), typical))
    return spikes


@dataclass
class SpikeWatch:
    """Which surges were already alerted, so each one is announced once."""

    window: timedelta
    seen: dict[str, datetime] = field(default_factory=dict)  # Spike.name → last time it fired

    def fresh(self, spikes: list[Spike], now: datetime) -> list[Spike]:
        for name, last in list(self.seen.items()):
            if now - last > self.window:
                del self.seen[name]  # quiet for a whole window: that surge is over
        new = [s for s in spikes if s.name not in self.seen]
        for spike in spikes:
            self.seen[spike.name] = now
        return new
