"""The running service's pulse: one small file in the storage directory that `dozor status` reads.

    async with beating(settings.storage, telegram=lambda: watch, archive=lambda: archive):
        ...                                   # the service runs; the file is rewritten every BEAT s
    lines = describe(read(settings.storage), now)   # for `dozor status`

A file, not a row: the archive refusing writes (a full disk) is one of the outages it must
report. It is written whole to a temporary name and renamed, so a reader never sees half of
one; written every BEAT seconds, so one older than STALE means the service is not running
(or cannot even write this: a full disk, which status then shows from its own look at it).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import AsyncIterator, Callable

log = logging.getLogger("dozor.heartbeat")

FILE = "heartbeat.json"
BEAT = 15.0  # seconds between writes
STALE = 4 * BEAT  # a heartbeat older than this: the service is not running
LOW_DISK = 256 * 1024 * 1024  # free bytes below which status warns
REFUSALS_SHOWN = 600.0  # seconds a write the archive refused is shown as a current problem


def pulse(telegram, archive, storage: Path, now: datetime) -> dict:
    """What the file says: the connection as the watch saw it, the archive's last write, the disk."""
    return {
        "pid": os.getpid(),
        "at": now.isoformat(timespec="seconds"),
        "telegram": {"state": telegram.state, "since": telegram.since.isoformat(timespec="seconds"),
                     "error": telegram.last_error, "failed_attempts": telegram.failures},
        "archive": _refusal(archive, now),
        "disk_free": free_space(storage),
    }


def _refusal(archive, now: datetime) -> dict:
    refused = archive.write_refused if archive is not None else None
    recent = refused is not None and (now - refused[0]).total_seconds() <= REFUSALS_SHOWN
    return {"refusing_writes": recent, "last_refused_at": refused[0].isoformat(timespec="seconds") if refused else None,
            "error": refused[1] if refused else None}


def write(storage: Path, beat: dict) -> None:
    path = storage / FILE
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(beat), encoding="utf-8")
    os.replace(partial, path)


def read(storage: Path) -> dict | None:
    try:
        return json.loads((storage / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@contextlib.asynccontextmanager
async def beating(storage: Path, *, telegram: Callable, archive: Callable) -> AsyncIterator[None]:
    """Write the heartbeat for as long as the block runs, every BEAT s; remove it at the end."""
    async def loop() -> None:
        while True:
            try:
                now = datetime.now(timezone.utc)
                await asyncio.to_thread(write, storage, pulse(telegram(), archive(), storage, now))
            except OSError as error:
                # a full disk: status reads the heartbeat as stale and looks at the disk itself
                log.warning("heartbeat not written: %s", error)
            await asyncio.sleep(BEAT)

    task = asyncio.create_task(loop(), name="heartbeat")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with contextlib.suppress(OSError):
            (storage / FILE).unlink()


def running(beat: dict | None, now: datetime) -> bool:
    return beat is not None and (now - datetime.fromisoformat(beat["at"])).total_seconds() <= STALE


def describe(beat: dict | None, now: datetime, storage_free: int | None) -> list[str]:
    """Lines for `dozor status`: is the service running, can it reach Telegram and write."""
    lines = []
    if beat is None:
        lines.append("service: not running (no heartbeat)")
    else:
        at = datetime.fromisoformat(beat["at"])
        age = (now - at).total_seconds()
        if not running(beat, now):
            lines.append(f"service: not running (last heartbeat {at.isoformat(timespec='seconds')}, "
                         f"{age:.0f} s ago)")
        else:
            lines.append(f"service: running (pid {beat['pid']})")
            telegram = beat["telegram"]
            if telegram["state"] == "unreachable":
                lines.append(f"telegram: UNREACHABLE since {telegram['since']} ({telegram['failed_attempts']} "
                             f"attempts failed): {telegram['error']}")
            else:
                lines.append(f"telegram: {telegram['state']} since {telegram['since']}")
            if beat["archive"]["refusing_writes"]:
                lines.append(f"archive: REFUSING WRITES (last at {beat['archive']['last_refused_at']}): "
                             f"{beat['archive']['error']}")
    if storage_free is not None and storage_free < LOW_DISK:
        lines.append(f"disk: only {storage_free // (1024 * 1024)} MB free in DOZOR_STORAGE")
    return lines


def free_space(storage: Path) -> int | None:
    try:
        return shutil.disk_usage(storage).free
    except OSError:
        return None

