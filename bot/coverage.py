"""How complete the archive is, per chat: the one owner of that rule.

    coverage = await Coverage.open(archive, on_gap=catchup.request)
    coverage.checkpoint(chat_id)                 # every id up to here has been seen
    await coverage.gap(chat_id, at)              # messages found missing: complete up to stops
    await coverage.caught_up(chat_id, started, pts=pts)   # a catch-up read everything up to `started`
    coverage.covered(period_end)                 # may the digest freeze this period?
    coverage.summary(now)                        # what `dozor status` and the digest's foot say

A chat is *complete up to T* when every message posted before T is known: after a catch-up
that began at T, or when a live message arrives at T with nothing missing before it. A gap
(a live message that jumps past the checkpoint, an update the live queue had to drop)
freezes that moment until a catch-up repairs it. The checkpoint is written with the
messages, in the same transaction; everything else is written here, so a restart knows
where each chat stood. Live moments are saved in batches (`run`): one lost on a kill only
makes a chat look less complete than it was, never more.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Callable

from bot.archive import Archive, utcnow
from bot.archive.coverage import CoverageRow, load_coverage, save_coverage

log = logging.getLogger("dozor.coverage")

SAVE_EVERY = 10.0  # seconds between writes of moments heard live


@dataclass(frozen=True, slots=True)
class ChatCoverage:
    """One chat's coverage as `dozor status` shows it."""

    chat_id: int
    checkpoint: int
    complete_up_to: datetime | None
    lag: float | None  # seconds between now and complete_up_to
    gap_found_at: datetime | None
    gap_repaired_at: datetime | None
    gap_open: bool
    difference_lost_at: datetime | None


def gap_open(row: CoverageRow) -> bool:
    return row.gap_found_at is not None and (row.gap_repaired_at is None or row.gap_repaired_at < row.gap_found_at)


def describe(row: CoverageRow, now: datetime) -> ChatCoverage:
    lag = (now - row.complete_up_to).total_seconds() if row.complete_up_to else None
    return ChatCoverage(row.chat_id, row.checkpoint, row.complete_up_to, lag, row.gap_found_at,
                        row.gap_repaired_at, gap_open(row), row.difference_lost_at)


def summarise(rows: list[CoverageRow], moment: datetime) -> dict:
    """Which chats are complete up to `moment`, the earliest moment all of those reach, and
    who is behind it (an open gap, never caught up, or complete only to an earlier moment)."""
    complete = [r for r in rows if r.complete_up_to and r.complete_up_to >= moment and not gap_open(r)]
    behind = sorted((r for r in rows if r not in complete),
                    key=lambda r: (r.complete_up_to is not None, r.complete_up_to or moment))
    return {"chats": len(rows), "complete": len(complete), "moment": moment,
            "complete_up_to": min((r.complete_up_to for r in complete), default=None),
            "behind": [r.chat_id for r in behind]}


def summary_line(summary: dict, names: dict[int, str], zone, limit: int = 5) -> str:
    """"498/500 complete up to 08:59; behind: Київ новини (gap since 08:40), …" """
    line = f"{summary['complete']}/{summary['chats']} complete"
    if summary["complete_up_to"] is not None:
        line += f" up to {summary['complete_up_to'].astimezone(zone):%Y-%m-%d %H:%M}"
    behind = summary["behind"]
    if behind:
        shown = ", ".join(names.get(c, str(c)) for c in behind[:limit])
        line += f"; behind: {shown}" + (f" and {len(behind) - limit} more" if len(behind) > limit else "")
    return line


class Coverage:
    def __init__(self, archive: Archive, rows: dict[int, CoverageRow],
                 on_gap: Callable[..., None] = lambda chat_id, recheck=False: None):
        self.archive = archive
        self.on_gap = on_gap  # asks for a catch-up of the chat
        self._rows = rows
        self._watched: set[int] = set()
        self._dirty: set[int] = set()
        self.heard_live: dict[int, datetime] = {}  # in memory: for the poller's cadence

    @classmethod
    async def open(cls, archive: Archive, on_gap: Callable[..., None] | None = None) -> "Coverage":
        coverage = cls(archive, await load_coverage(archive))
        if on_gap is not None:
            coverage.on_gap = on_gap
        return coverage

    async def watch(self, chat_id: int) -> None:
        """A chat is watched (saved in the archive first): its coverage is what was stored."""
        if chat_id not in self._rows:  # saved since `open` read every chat's row
            stored = await load_coverage(self.archive, [chat_id])
            self._rows[chat_id] = stored.get(chat_id, CoverageRow(chat_id))
        self._watched.add(chat_id)

    def unwatch(self, chat_id: int) -> None:
        """Another account serves the chat now (save() first): it is forgotten here, so
        watching it again reads what that account stored since."""
        self._watched.discard(chat_id)
        self._rows.pop(chat_id, None)
        self._dirty.discard(chat_id)
        self.heard_live.pop(chat_id, None)

    @property
    def chats(self) -> set[int]:
        return set(self._watched)

    def row(self, chat_id: int) -> CoverageRow:
        return replace(self._rows.get(chat_id) or CoverageRow(chat_id))

    # ---- the checkpoint ------------------------------------------------------------------

    def checkpoint(self, chat_id: int) -> int:
        row = self._rows.get(chat_id)
        return row.checkpoint if row else 0

    def committed(self, chat_id: int, checkpoint: int) -> None:
        """The archive committed messages and moved the checkpoint to `checkpoint`."""
        row = self._rows.setdefault(chat_id, CoverageRow(chat_id))
        row.checkpoint = max(row.checkpoint, checkpoint)

    # ---- pts -------------------------------------------------------------------------------

    def pts(self, chat_id: int) -> int | None:
        row = self._rows.get(chat_id)
        return row.pts if row else None

    async def forget_pts(self, chat_id: int) -> None:
        """Telegram no longer answers from this pts (the account left, or it is too old): the
        chat is read from history until a new one is learnt."""
        row = self._rows.setdefault(chat_id, CoverageRow(chat_id))
        row.pts = None
        await self._save([chat_id])

    # ---- completeness ----------------------------------------------------------------------

    def complete_up_to(self, chat_id: int) -> datetime | None:
        row = self._rows.get(chat_id)
        return None if row is None or gap_open(row) else row.complete_up_to

    def has_gap(self, chat_id: int) -> bool:
        row = self._rows.get(chat_id)
        return row is not None and gap_open(row)

    def live(self, chat_id: int, at: datetime) -> None:
        """A live message with nothing missing before it: complete up to `at`."""
        self.heard_live[chat_id] = at
        row = self._rows.get(chat_id)
        if row is None or gap_open(row):
            return
        if row.complete_up_to is None:
            return  # never caught up: a live message says nothing about what came before it
        if at > row.complete_up_to:
            row.complete_up_to = at
            self._dirty.add(chat_id)

    async def gap(self, chat_id: int, at: datetime | None = None, recheck: bool = False) -> None:
        """Messages (or edits, with `recheck`) are missing: the chat is incomplete from here
        until a catch-up repairs it, which is asked for at once."""
        row = self._rows.setdefault(chat_id, CoverageRow(chat_id))
        if not gap_open(row):
            row.gap_found_at = at or utcnow()
            await self._save([chat_id])
        self.on_gap(chat_id, recheck=recheck)

    def gap_now(self, chat_id: int, recheck: bool = False) -> None:
        """`gap` for callers that cannot wait (Telethon's handlers): saved with the next batch."""
        row = self._rows.setdefault(chat_id, CoverageRow(chat_id))
        if not gap_open(row):
            row.gap_found_at = utcnow()
            self._dirty.add(chat_id)
        self.on_gap(chat_id, recheck=recheck)

    async def caught_up(self, chat_id: int, started: datetime, *, pts: int | None = None,
                        difference_lost: bool = False, keep_pts: bool = False) -> None:
        """A catch-up that began at `started` has read everything up to now: complete up to
        `started`, and a gap found before it is repaired. `pts` is where the channel's update
        sequence now stands (None: the chat has none; `keep_pts`: leave it as it was)."""
        row = self._rows.setdefault(chat_id, CoverageRow(chat_id))
        if gap_open(row) and row.gap_found_at <= started:
            row.gap_repaired_at = utcnow()
        if row.complete_up_to is None or started > row.complete_up_to:
            row.complete_up_to = started
        if not keep_pts:
            row.pts = pts
        if difference_lost:
            row.difference_lost_at = started
        row.polled_at = utcnow()
        await self._save([chat_id])

    def covered(self, moment: datetime) -> bool:
        """Every watched chat is complete up to `moment`."""
        return not self.behind(moment)

    def behind(self, moment: datetime) -> list[int]:
        return [c for c in sorted(self._watched)
                if (self.complete_up_to(c) or datetime.min.replace(tzinfo=moment.tzinfo)) < moment]

    def summary(self, moment: datetime) -> dict:
        return summarise([self.row(c) for c in sorted(self._watched)], moment)

    # ---- persistence -----------------------------------------------------------------------

    async def _save(self, chat_ids) -> None:
        rows = [replace(self._rows[c]) for c in chat_ids if c in self._rows]
        self._dirty.difference_update(chat_ids)
        await save_coverage(self.archive, rows)

    async def save(self) -> None:
        """Write what live messages moved since the last save."""
        if self._dirty:
            await self._save(sorted(self._dirty))

    async def run(self) -> None:
        """A TaskGroup member: saves live moments in batches."""
        while True:
            await asyncio.sleep(SAVE_EVERY)
            try:
                await self.save()
            except Exception as error:
                # the archive refusing writes: tried again next time, nothing else depends on it
                log.warning("coverage not saved (%s); tried again in %.0f s", error, SAVE_EVERY)
