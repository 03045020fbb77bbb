"""How long to wait before trying again: the one delay policy of dozor.

    wait = Backoff(first=30, cap=3600)
    wait(0), wait(1), wait(5)              # 30, 60, 960 seconds
    Backoff(steps=(10, 30, 60))(7)         # 60: the last step repeats

Every retry in dozor waits by one of these: catch-up of a failing chat, the media queue (its
schedule is persisted, so only the delay comes from here), the media dispatcher while the
archive fails, the digest sender, and repeated warnings while Telegram is unreachable.
A retry that only needs to repeat one call would use a library; these are schedules kept
between rounds (or across restarts), so what they share is the policy.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """`first` seconds, then `factor` times as long after each failure, at most `cap`;
    or, with `steps`, the n-th step (the last one repeating)."""

    first: float = 1.0
    cap: float = 3600.0
    factor: float = 2.0
    steps: tuple[float, ...] = ()

    def __call__(self, failures: int) -> float:
        """The wait after `failures` failures in a row (0: after the first one)."""
        failures = max(failures, 0)
        if self.steps:
            return self.steps[min(failures, len(self.steps) - 1)]
        # capped in the exponent too, so a long outage never overflows a float
        return min(self.first * self.factor ** min(failures, 64), self.cap)
