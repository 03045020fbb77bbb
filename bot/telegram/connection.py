"""Whether Telegram can be reached, as Telethon's connection log tells it, said once and
then at growing intervals instead of every retry.

    with ConnectionWatch() as watch:      # while the client connects and runs
        ...
        watch.state                       # "connecting" | "connected" | "unreachable"

Telethon retries a lost connection every couple of seconds and logs a warning for each try
(about 1,800 lines an hour). It says nothing else about it, so its own log records are
where the state is learnt: its connection warnings are replaced by one of ours when the
outage begins, more at growing intervals while it lasts (bot.backoff), and one when it ends.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

from bot.backoff import Backoff

log = logging.getLogger("dozor.telegram")

TELETHON_CONNECTION = "telethon.network.mtprotosender"
FAILED = ("Attempt %d at connecting failed", "Failed reconnection attempt", "Connection error %d during auth_key")
CONNECTED = "Connection to %s complete"
SAY_AGAIN = Backoff(first=60, cap=3600)  # seconds between "still unreachable" warnings


class ConnectionWatch(logging.Filter):
    def __init__(self, say_again: Backoff = SAY_AGAIN):
        super().__init__()
        self.say_again = say_again
        self.state = "connecting"
        self.since = datetime.now(timezone.utc)
        self.last_error: str | None = None
        self.failures = 0  # failed attempts in the current outage
        self._told = 0  # warnings given in the current outage
        self._next_warning = 0.0
        self._logger = logging.getLogger(TELETHON_CONNECTION)
        self._shown_level = logging.NOTSET

    def __enter__(self) -> "ConnectionWatch":
        # Telethon's "connected" is an INFO record: let it reach the filter, which then passes
        # on only what the configured level would have shown
        self._shown_level = self._logger.getEffectiveLevel()
        self._saved_level = self._logger.level
        self._logger.setLevel(min(self._shown_level, logging.INFO))
        self._logger.addFilter(self)
        return self

    def __exit__(self, *exc) -> None:
        self._logger.removeFilter(self)
        self._logger.setLevel(self._saved_level)

    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.msg)
        if text.startswith(FAILED):
            self._failed(record.getMessage())
            return False
        if text.startswith(CONNECTED):
            self._connected()
        return record.levelno >= self._shown_level

    def _failed(self, error: str) -> None:
        now = time.monotonic()
        self.last_error = error
        if self.state != "unreachable":
            self.state, self.since = "unreachable", datetime.now(timezone.utc)
            self.failures, self._told, self._next_warning = 0, 0, now
        self.failures += 1
        if now >= self._next_warning:
            if self._told == 0:
                log.warning("Telegram is unreachable (%s); retrying, and saying so again at growing intervals",
                            error)
            else:
                log.warning("Telegram still unreachable since %s: %d attempts failed, the last: %s",
                            self.since.isoformat(timespec="seconds"), self.failures, error)
            self._next_warning = now + self.say_again(self._told)
            self._told += 1

    def _connected(self) -> None:
        if self.state == "unreachable":
            log.warning("Telegram is reachable again after %.0f s (%d attempts failed)",
                        (datetime.now(timezone.utc) - self.since).total_seconds(), self.failures)
        self.state, self.since, self.last_error = "connected", datetime.now(timezone.utc), None
