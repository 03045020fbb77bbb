"""One `dozor run` per account and storage directory.

    with StorageLock(settings.lock_path, account=settings.account): ...

Two clients on one session file is the classic `database is locked`; the second run for the
same account is refused at once instead, naming the process that holds it. Each account has
its own lock file (`dozor.lock` for `main`, as before; `dozor-<name>.lock` for the others),
so one process may serve several accounts, or several processes one account each. Across
machines the account's lease in the database does the same (bot/accounts/coordinator.py).
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

MAIN = "main"


class AlreadyRunning(Exception):
    pass


class AccountBusy(AlreadyRunning):
    """Another worker holds the account's lease in the shared database."""


class StorageLock:
    def __init__(self, path: Path, account: str = MAIN):
        self.path = path
        self.account = account
        self._fd: int | None = None

    def __enter__(self) -> "StorageLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # the storage holds the account's key and material about people at risk
        os.chmod(self.path.parent, 0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            whose = "" if self.account == MAIN else f" for account {self.account}"
            raise AlreadyRunning(
                f"another dozor (pid {holder}) is already running{whose} on {self.path.parent}; "
                "stop it first or use a different DOZOR_STORAGE"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
