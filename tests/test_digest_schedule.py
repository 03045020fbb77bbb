"""When a digest is due: one per local date, DST or not; missed ones on start; no backlog on install."""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, strategies as st

from bot.digest.schedule import due, latest_period, next_time, period_ending, previous

UTC = timezone.utc
KYIV = ZoneInfo("Europe/Kyiv")


def kyiv(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=KYIV).astimezone(UTC)


def simulate(start: datetime, end: datetime, at: time, kind: str = "daily", step=timedelta(minutes=1)):
    """Run the scheduler's decision every `step` from `start` (its first start) to `end`:
    what was sent, and when."""
    sent: dict[str, datetime] = {}
    moment = start
    while moment <= end:
        for period in due(moment, kind, at, KYIV, since=start, sent=set(sent)):
            sent[period.key] = moment
        moment += step
    return sent


@pytest.mark.parametrize("day", ["2026-03-29", "2026-10-25"])
@pytest.mark.parametrize("at", [time(9, 0), time(3, 30), time(0, 0), time(23, 59)])
def test_a_dst_change_day_gets_exactly_one_digest(day, at):
    change = date.fromisoformat(day)
    start = kyiv(f"{change - timedelta(days=2)}T12:00")
    sent = simulate(start, start + timedelta(days=4), at)
    per_date = Counter(key.split(":")[1] for key in sent)
    assert per_date[day] == 1
    assert all(n == 1 for n in per_date.values())
    assert len(per_date) == 4


def test_digest_arrives_at_the_local_time_on_both_sides_of_the_change():
    sent = simulate(kyiv("2026-03-27T12:00"), kyiv("2026-03-31T12:00"), time(9, 0))
    local = {key: moment.astimezone(KYIV).strftime("%H:%M") for key, moment in sent.items()}
    assert local == {f"daily:2026-03-{d}": "09:00" for d in (28, 29, 30, 31)}


def test_periods_tile_time_without_gap_or_overlap_across_dst():
    days = [date(2026, 3, 27) + timedelta(days=n) for n in range(220)]
    periods = [period_ending(d, "daily", time(9), KYIV) for d in days]
    for before, after in zip(periods, periods[1:]):
        assert before.end == after.start
    lengths = {p.day.isoformat(): (p.end - p.start) for p in periods}
    assert lengths["2026-03-29"] == timedelta(hours=23)
    assert lengths["2026-10-25"] == timedelta(hours=25)
    assert lengths["2026-03-30"] == timedelta(hours=24)


def test_a_skipped_local_time_is_moved_forward_and_a_repeated_one_taken_once():
    spring = period_ending(date(2026, 3, 29), "daily", time(3, 30), KYIV)
    assert spring.end.astimezone(KYIV).strftime("%H:%M") == "04:30"
    autumn = period_ending(date(2026, 10, 25), "daily", time(3, 30), KYIV)
    assert autumn.end == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # the first 03:30, summer time


def test_missed_digests_are_owed_on_start_oldest_first():
    installed = kyiv("2026-03-10T08:00")
    owed = due(kyiv("2026-03-13T12:00"), "daily", time(9), KYIV, since=installed, sent={"daily:2026-03-11"})
    assert [p.key for p in owed] == ["daily:2026-03-10", "daily:2026-03-12", "daily:2026-03-13"]


def test_after_a_long_outage_only_the_latest_week_is_owed():
    owed = due(kyiv("2026-05-01T12:00"), "daily", time(9), KYIV, since=kyiv("2026-03-01T00:00"), sent=set())
    assert [p.day.isoformat() for p in owed] == [f"2026-04-{d}" for d in (25, 26, 27, 28, 29, 30)] + ["2026-05-01"]


def test_a_new_installation_posts_no_backlog():
    installed = kyiv("2026-03-10T12:00")
    assert due(installed + timedelta(hours=3), "daily", time(9), KYIV, since=installed, sent=set()) == []
    [first] = due(kyiv("2026-03-11T09:00"), "daily", time(9), KYIV, since=installed, sent=set())
    assert first.key == "daily:2026-03-11"


def test_weekly_digest_comes_on_mondays_covering_seven_days():
    period = latest_period(kyiv("2026-03-26T10:00"), "weekly", time(9), KYIV)
    assert period.key == "weekly:2026-03-23" and period.day.weekday() == 0
    assert period.end - period.start == timedelta(days=7)
    assert next_time(kyiv("2026-03-26T10:00"), "weekly", time(9), KYIV) == kyiv("2026-03-30T09:00")
    assert previous(period, time(9), KYIV).key == "weekly:2026-03-16"


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)),
       st.sampled_from(["daily", "weekly"]), st.times())
def test_latest_and_next_bracket_now(now, kind, at):
    at = at.replace(microsecond=0, tzinfo=None)
    latest = latest_period(now, kind, at, KYIV)
    upcoming = next_time(now, kind, at, KYIV)
    assert latest.end <= now < upcoming
    assert upcoming - latest.end <= timedelta(days=7, hours=1)
