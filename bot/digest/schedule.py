"""Which digest period is due, computed in the digest's local time zone. Pure: no clock, no I/O.

    period = latest_period(now, "daily", time(9), ZoneInfo("Europe/Kyiv"))
    period.key                       # "daily:2026-03-29"
    period.start, period.end         # aware UTC: 2026-03-28 07:00 → 2026-03-29 06:00
    period_so_far(now, "daily", time(9), ZoneInfo("Europe/Kyiv"))   # what the next one holds so far

A period is named by the local date it ends on, so one local date gives one digest whatever
the clocks do: on a spring-forward day the period is 23 hours long, on a fall-back day 25,
and every message belongs to exactly one period.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

UTC = timezone.utc
KINDS = {"daily": 1, "weekly": 7}  # length in local days
INTERIM = "interim"  # the kind of a period still in progress: never scheduled, never sent as such
WEEKLY_ON = 0  # a weekly digest arrives on Mondays, covering the seven days before


@dataclass(frozen=True, slots=True)
class Period:
    kind: str  # daily | weekly
    day: date  # the local date the period ends on
    start: datetime  # aware UTC, inclusive
    end: datetime  # aware UTC, exclusive

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.day.isoformat()}"


def at_local(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC moment of local `day` at `at`.

    fold=0 picks the first of a repeated hour (autumn) and moves a skipped time (spring)
    forward by the gap, so every local date has exactly one such moment.
    """
    return datetime.combine(day, at.replace(tzinfo=None, fold=0), tzinfo=tz).astimezone(UTC)


def is_send_day(day: date, kind: str) -> bool:
    return kind == "daily" or day.weekday() == WEEKLY_ON


def period_ending(day: date, kind: str, at: time, tz: ZoneInfo) -> Period:
    length = _length(kind)
    return Period(kind, day, at_local(day - timedelta(days=length), at, tz), at_local(day, at, tz))


def previous(period: Period, at: time, tz: ZoneInfo) -> Period:
    """The period just before, for the 'change against the previous period' figures."""
    return period_ending(period.day - timedelta(days=_length(period.kind)), period.kind, at, tz)


def latest_period(now: datetime, kind: str, at: time, tz: ZoneInfo) -> Period:
    """The most recent period that has ended at or before `now`."""
    _length(kind)
    day = now.astimezone(tz).date() + timedelta(days=1)
    while not (is_send_day(day, kind) and at_local(day, at, tz) <= now):
        day -= timedelta(days=1)
    return period_ending(day, kind, at, tz)


def period_so_far(now: datetime, kind: str, at: time, tz: ZoneInfo) -> Period:
    """The period in progress: from the end of the latest period up to `now`.

    Its kind is INTERIM, so its key (interim:<local date of the next digest>) can never be
    taken for the scheduled period that will cover the same messages.
    """
    start = latest_period(now, kind, at, tz).end
    return Period(INTERIM, next_time(now, kind, at, tz).astimezone(tz).date(), start, now)


def next_time(now: datetime, kind: str, at: time, tz: ZoneInfo) -> datetime:
    """The first scheduled moment strictly after `now` (aware UTC)."""
    _length(kind)
    day = now.astimezone(tz).date() - timedelta(days=1)
    while not (is_send_day(day, kind) and at_local(day, at, tz) > now):
        day += timedelta(days=1)
    return at_local(day, at, tz)


def due(now: datetime, kind: str, at: time, tz: ZoneInfo, *, since: datetime,
        sent: set[str], limit: int = 7) -> list[Period]:
    """Periods owed at `now`, oldest first.

    Owed: ended at or before `now`, ended after `since` (when digests were first scheduled
    here, so a new installation does not post a backlog) and not in `sent`. After a long
    outage only the `limit` most recent are owed: a month of stale digests helps nobody.
    """
    owed: list[Period] = []
    if now < since:
        return owed
    period = latest_period(now, kind, at, tz)
    for _ in range(limit):
        if period.end <= since:
            break
        if period.key not in sent:
            owed.append(period)
        period = previous(period, at, tz)
    return owed[::-1]


def _length(kind: str) -> int:
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown digest period {kind!r}; expected daily or weekly") from None
