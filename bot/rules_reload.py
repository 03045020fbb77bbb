"""Keep the keywords file's rules current while the service runs.

    holder = RulesHolder.load(Path("keywords.toml"))     # RulesError if the file is broken now
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(holder.watch())
        ...
        result = match(holder.current, post.text, chat)  # read per message: always the latest good rules

Moderators edit the file while dozor runs. A saved change is picked up within `interval` seconds;
a broken save is logged (file:line: what is wrong) and the previous rules stay in force, so a
typo never stops the archive. Reading and compiling run in a worker thread: compiling looks up
every term in the dictionaries, which would otherwise stall the event loop.
"""
from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from bot.matching import Rules, RulesError, load_rules

log = logging.getLogger("dozor.keywords")


class RulesHolder:
    def __init__(self, path: Path, rules: Rules, stamp: tuple[int, int] | None):
        self.path = Path(path)
        self.current = rules
        self._stamp = stamp
        self._failed_stamp: tuple[int, int] | None = None

    @classmethod
    def load(cls, path: Path) -> RulesHolder:
        """Read the file once; RulesError when it is missing or broken (the service should not start)."""
        path = Path(path)
        stamp = _stamp(path)
        return cls(path, load_rules(path), stamp)

    async def watch(self, interval: float = 2.0) -> None:
        """Poll the file's mtime and size; swap in new rules on a good change, log a bad one."""
        while True:
            await asyncio.sleep(interval)
            await self.check()

    async def check(self) -> bool:
        """Reload if the file changed since the last look; True when new rules were swapped in."""
        stamp = await asyncio.to_thread(_stamp, self.path)
        if stamp is None or stamp == self._stamp or stamp == self._failed_stamp:
            return False
        try:
            rules = await asyncio.to_thread(load_rules, self.path)
        except RulesError as error:
            # Remember the broken version so the same error is logged once, not every poll.
            self._failed_stamp = stamp
            log.error("keywords not reloaded, keeping the previous rules: %s", error)
            return False
        self.current = rules
        self._stamp = stamp
        self._failed_stamp = None
        log.info("keywords reloaded from %s: %d rules in %d topics", self.path, len(rules.rules), len(rules.topics))
        return True


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size
