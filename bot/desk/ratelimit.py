"""How often each editor may command the desk. Pure: the caller passes the time.

    limit = RateLimit(per_minute=6)
    wait = limit.take("123", now=loop.time())     # 0.0: go ahead; else seconds until allowed

A sliding window of one minute per editor. A refused command is not counted, so an editor
who keeps typing is not locked out for longer.
"""
from __future__ import annotations

from collections import deque

WINDOW = 60.0


class RateLimit:
    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._seen: dict[str, deque[float]] = {}
        self._warned: dict[str, float] = {}  # editor → when the current refusal was said

    def take(self, editor: str, now: float) -> float:
        seen = self._seen.setdefault(editor, deque())
        while seen and now - seen[0] >= WINDOW:
            seen.popleft()
        if len(seen) < self.per_minute:
            seen.append(now)
            self._warned.pop(editor, None)
            return 0.0
        return WINDOW - (now - seen[0])

    def should_warn(self, editor: str, now: float) -> bool:
        """Say "wait" once per refusal streak, not to every refused command."""
        if editor in self._warned and now - self._warned[editor] < WINDOW:
            return False
        self._warned[editor] = now
        return True
