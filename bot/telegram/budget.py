"""How often dozor may ask Telegram for each kind of thing, and the flood waits in force.

    budget = Budget({"resolve": 10, "join": 1})     # requests per minute; the rest get defaults
    await budget.take("resolve")                     # returns when the next resolution may go
    await budget.flood("join", 300, "JoinChannelRequest")   # joins wait 300 s, the rest go on
    budget.resume("join", "JoinChannelRequest", started, until)   # a wait from before a restart

Telegram publishes no limits, but accounts are lost to bursts: ~160 resolutions in a row
earned peers 15–18 h waits, ~200 joins in an hour a 70,000 s wait. So every method is paced
at a fixed spacing (its rate's interval), never in bursts, and a flood wait holds only the
method that met it, for exactly as long as Telegram said, while everything else goes on.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Awaitable, Callable, Mapping

log = logging.getLogger("dozor.telegram")

# requests per minute; well inside what peers report (see DESIGN.md, "Telegram's limits")
DEFAULT_RATES: dict[str, float] = {
    "resolve": 10.0,  # peers pace ~30 a minute; bans came after ~160 in a burst
    "join": 1.0,  # peers pace one every 12–120 s
    "history": 30.0,  # full 100-message pages: half of the ~3,000 messages per 30 s peers report
    "difference": 600.0,  # what Telegram's own apps poll; cheap for the server
    "download": 240.0,  # 512 KB parts: 2 MB/s of the ~10 MB/s a connection carries
    "dialogs": 6.0,
    "other": 60.0,
}
METHODS = tuple(DEFAULT_RATES)

# Telethon's request class names → the method whose budget they spend
_METHOD_OF = {
    "ResolveUsernameRequest": "resolve",
    "ResolvePhoneRequest": "resolve",
    "CheckChatInviteRequest": "resolve",
    "JoinChannelRequest": "join",
    "ImportChatInviteRequest": "join",
    "GetHistoryRequest": "history",
    "GetChannelDifferenceRequest": "difference",
    "GetFileRequest": "download",
    "GetDialogsRequest": "dialogs",
    "GetPeerDialogsRequest": "dialogs",
}


def method_of(request_name: str) -> str:
    """The budget a request spends, from its Telethon class name."""
    return _METHOD_OF.get(request_name, "other")


@dataclass(frozen=True, slots=True)
class FloodWait:
    method: str
    request: str  # the request Telegram refused, e.g. JoinChannelRequest
    seconds: int
    started_at: datetime
    until: datetime


class _Lane:
    """One method's pace: the earliest moment its next request may be sent, and any hold."""

    def __init__(self, per_minute: float):
        self.interval = 60.0 / per_minute
        self.next_at = 0.0
        self.held_until = 0.0
        self.sent = 0


class Budget:
    def __init__(self, per_minute: Mapping[str, float] | None = None):
        rates = {**DEFAULT_RATES, **(per_minute or {})}
        unknown = set(rates) - set(METHODS)
        if unknown:
            raise ValueError(f"no such Telegram method in the budget: {', '.join(sorted(unknown))}")
        self.rates = rates
        self._lanes = {method: _Lane(rate) for method, rate in rates.items()}
        self.floods: dict[str, FloodWait] = {}  # the latest flood wait of each method
        # told of every flood wait (the service records them for `dozor status`)
        self.on_flood: list[Callable[[FloodWait], Awaitable[None]]] = []

    @property
    def sent(self) -> dict[str, int]:
        """Requests let through so far, per method (for benchmarks and tests)."""
        return {method: lane.sent for method, lane in self._lanes.items()}

    async def take(self, method: str) -> None:
        """Wait for the method's next slot, and for the end of any flood wait it is under."""
        lane = self._lanes[method]
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            if lane.held_until > now:
                await asyncio.sleep(lane.held_until - now)
                continue
            # a reserved slot: callers waiting together are spaced, not released at once
            slot = max(now, lane.next_at)
            lane.next_at = slot + lane.interval
            if slot > now:
                await asyncio.sleep(slot - now)
            if lane.held_until <= loop.time():  # no flood wait began while we slept
                lane.sent += 1
                return

    async def flood(self, method: str, seconds: int, request: str) -> FloodWait:
        """Telegram said to wait: hold the method until then and tell whoever listens."""
        lane = self._lanes[method]
        seconds = max(int(seconds), 1)  # FLOOD_WAIT_0 exists; retrying at once would meet it again
        lane.held_until = max(lane.held_until, asyncio.get_running_loop().time() + seconds)
        started = datetime.now(timezone.utc)
        wait = FloodWait(method, request, seconds, started, started + timedelta(seconds=seconds))
        self.floods[method] = wait
        log.warning("flood wait of %d s on %s (%s): held until %s UTC; other requests go on",
                    seconds, method, request, wait.until.strftime("%Y-%m-%d %H:%M:%S"))
        for listener in list(self.on_flood):
            try:
                await listener(wait)
            except Exception:
                log.exception("could not record the flood wait on %s", method)
        return wait

    def resume(self, method: str, request: str, started_at: datetime, until: datetime) -> None:
        """A flood wait met before a restart: hold its method for what is left of it, so the
        new process does not walk straight back into it."""
        left = (until - datetime.now(timezone.utc)).total_seconds()
        if left > 0 and method in self._lanes:
            lane = self._lanes[method]
            lane.held_until = max(lane.held_until, asyncio.get_running_loop().time() + left)
            self.floods[method] = FloodWait(method, request, round((until - started_at).total_seconds()),
                                            started_at, until)
            log.warning("flood wait on %s (%s) from before the restart: held until %s UTC", method, request,
                        until.strftime("%Y-%m-%d %H:%M:%S"))

    def last_sent(self, method: str, at: datetime) -> None:
        """The method's last request went at `at` (before a restart): keep its spacing from it."""
        since = (datetime.now(timezone.utc) - at).total_seconds()
        lane = self._lanes[method]
        lane.next_at = max(lane.next_at, asyncio.get_running_loop().time() - since + lane.interval)

    def held(self, method: str) -> float:
        """Seconds the method is still held for (0 when it is free)."""
        return max(0.0, self._lanes[method].held_until - asyncio.get_running_loop().time())
