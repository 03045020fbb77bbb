"""One delay policy for every retry: catch-up, the media queue and dispatcher, the digest."""
from __future__ import annotations

from datetime import timedelta

from bot.archive.media import backoff as media_backoff
from bot.backoff import Backoff
from bot.catchup import CHAT_RETRY


def test_one_delay_policy_grows_caps_and_repeats_its_last_step():
    assert [CHAT_RETRY(n) for n in range(8)] == [30, 60, 120, 240, 480, 960, 1920, 3600]
    assert CHAT_RETRY(10_000) == 3600  # a week-long outage neither overflows nor grows past the cap
    assert [Backoff(steps=(10, 30, 60))(n) for n in range(5)] == [10, 30, 60, 60, 60]
    assert [media_backoff(n) for n in (1, 2, 3)] == [timedelta(seconds=30), timedelta(seconds=60),
                                                      timedelta(seconds=120)]
    assert media_backoff(10_000) == timedelta(hours=6)
