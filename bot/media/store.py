"""Content-addressed media files: `<storage>/media/ab/cd/<sha256>.<ext>`.

    store = MediaStore(settings.media_dir)
    store.prepare()                        # owner-only folders; half files of a killed run removed
    async with store.incoming(".jpg") as incoming:
        async for chunk in stream:
            await incoming.write(chunk)
        stored = await incoming.commit()   # StoredFile(sha256, path, size)

A file is written under a temporary name in `media/.partial/`, hashed while it streams,
fsynced, and only then renamed to its hash: a reader (or a restart after a kill) never
sees half a file under a final name. The same bytes posted in ten chats are one file.

The files are evidence about people at risk: every folder is 0700 and every file 0600,
whatever the umask, including the folders between the media folder and a file.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

log = logging.getLogger("dozor.media")

PARTIAL = ".partial"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class StoredFile:
    sha256: str
    path: str  # relative to the storage directory, with forward slashes
    size: int


async def in_thread(function: Callable[..., T], *args) -> T:
    """Run blocking file work off the event loop and, if cancelled, still wait for it.

    A thread cannot be stopped: letting the caller's clean-up run while the thread still
    writes would race it (closing a descriptor the thread is using, or renaming a file the
    thread is about to fsync).
    """
    task = asyncio.ensure_future(asyncio.to_thread(function, *args))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait({task})
        raise


class MediaStore:
    def __init__(self, root: Path):
        self.root = root
        # the archive records paths relative to the storage directory that holds the media folder
        self.storage = root.parent

    def path_for(self, sha256: str, ext: str) -> str:
        return f"{self.root.name}/{sha256[:2]}/{sha256[2:4]}/{sha256}{ext}"

    def absolute(self, relative: str) -> Path:
        return self.storage / relative

    def prepare(self) -> int:
        """Make the media folders owner-only, including those an earlier version left open,
        and remove half-written files; returns how many. Call only while no download runs."""
        private_directory(self.root)
        _owner_only(self.root)
        for directory, subdirectories, _ in os.walk(self.root):
            for name in subdirectories:
                _owner_only(Path(directory) / name)
        return self.remove_partials()

    def remove_partials(self) -> int:
        """Delete files a killed process left half-written; call only while no download runs."""
        partial = self.root / PARTIAL
        if not partial.is_dir():
            return 0
        removed = 0
        for leftover in partial.iterdir():
            leftover.unlink(missing_ok=True)
            removed += 1
        if removed:
            log.info("removed %d half-written media files left by an interrupted run", removed)
        return removed

    def partials(self) -> list[Path]:
        partial = self.root / PARTIAL
        return sorted(partial.iterdir()) if partial.is_dir() else []

    def free_bytes(self) -> int:
        private_directory(self.root)
        return shutil.disk_usage(self.root).free

    def incoming(self, ext: str) -> "Incoming":
        return Incoming(self, ext)


class Incoming:
    """One file being received; discarded unless `commit()` completed."""

    def __init__(self, store: MediaStore, ext: str):
        self.store = store
        self.ext = ext
        self.size = 0
        self._hash = hashlib.sha256()
        self._temp: Path | None = None
        self._file = None
        self._committed: StoredFile | None = None

    async def __aenter__(self) -> "Incoming":
        await in_thread(self._open)
        return self

    async def __aexit__(self, *exc) -> None:
        if self._committed is None:
            await in_thread(self._discard)

    def _open(self) -> None:
        partial = self.store.root / PARTIAL
        private_directory(partial)
        self._temp = partial / f"{uuid.uuid4().hex}{self.ext}.part"
        # owner-only, like the archive: the files are evidence about people at risk
        fd = os.open(self._temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file = os.fdopen(fd, "wb", buffering=0)

    async def write(self, chunk: bytes) -> None:
        if chunk:
            await in_thread(self._write, chunk)

    def _write(self, chunk: bytes) -> None:
        # hashlib releases the GIL for large buffers, so this thread does not stall the loop
        view = memoryview(chunk)
        while view:
            written = self._file.write(view)
            view = view[written:]
        self._hash.update(chunk)
        self.size += len(chunk)

    async def commit(self) -> StoredFile:
        self._committed = await in_thread(self._commit)
        return self._committed

    def _commit(self) -> StoredFile:
        os.fsync(self._file.fileno())
        self._file.close()
        sha256 = self._hash.hexdigest()
        relative = self.store.path_for(sha256, self.ext)
        final = self.store.absolute(relative)
        existing = next(final.parent.glob(f"{sha256}.*"), None) if final.parent.is_dir() else None
        if existing is not None:
            # the same bytes are already stored (another chat, an earlier attempt, or
            # the same file under another name): keep one copy, whatever its extension
            self._temp.unlink()
            relative = existing.relative_to(self.store.storage).as_posix()
        else:
            private_directory(final.parent)
            os.replace(self._temp, final)
            _fsync_directory(final.parent)
        self._temp = None
        return StoredFile(sha256=sha256, path=relative, size=self.size)

    def _discard(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()
        if self._temp is not None:
            self._temp.unlink(missing_ok=True)
            self._temp = None


def private_directory(directory: Path) -> None:
    """Create `directory` and each missing folder above it as 0700.

    `mkdir(mode, parents=True)` gives the mode to the last folder only (the others get 0777
    less the umask, 0755 as a rule); the chmod makes the mode exact whatever the umask.
    """
    missing = []
    for folder in (directory, *directory.parents):
        if folder.is_dir():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:  # another worker made it in between
            continue
        os.chmod(folder, 0o700)


def _owner_only(directory: Path) -> None:
    if stat.S_IMODE(directory.stat().st_mode) != 0o700:
        os.chmod(directory, 0o700)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable, not only the file's bytes."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
