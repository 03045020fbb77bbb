"""Who may use the web viewer: names and argon2id password hashes, checked off the event loop.

    accounts = Accounts(settings.storage)
    accounts.add("olena", password)                          # `dozor web add-user olena`
    since = await accounts.check("olena", password)          # when the password was set, or None
    await accounts.still_valid("olena", logged_in_at)        # False once the password changed or the user left

argon2id costs tens of milliseconds and memory on purpose (that is what makes guessing slow),
so every check runs in a thread. An unknown name costs as much as a wrong password, so a
guesser cannot tell which names exist.
"""
from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot.archive.web_users import WebUsers

USERS_FILE = "web-users.sqlite3"
MIN_PASSWORD = 12


class AccountError(Exception):
    pass


class Accounts:
    def __init__(self, storage: Path):
        self.users = WebUsers(storage / USERS_FILE)
        self._hasher = PasswordHasher()
        self._decoy = self._hasher.hash("not a password anyone has")

    def add(self, name: str, password: str) -> bool:
        """True if the user is new; False if an existing user got a new password."""
        name = name.strip()
        if not name or any(c.isspace() for c in name):
            raise AccountError(f"a user name is one word without spaces, got {name!r}")
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
        return self.users.save(name, self._hasher.hash(password))

    def remove(self, name: str) -> bool:
        return self.users.remove(name)

    def names(self) -> list[str]:
        return self.users.names()

    def session_key(self) -> str:
        return self.users.session_key()

    async def check(self, name: str, password: str) -> datetime | None:
        return await asyncio.to_thread(self._check, name, password)

    def _check(self, name: str, password: str) -> datetime | None:
        found = self.users.hash_of(name)
        try:
            self._hasher.verify(found[0] if found else self._decoy, password)
        except (VerificationError, InvalidHashError):
            return None
        return found[1] if found else None

    async def still_valid(self, name: str, logged_in_at: datetime) -> bool:
        found = await asyncio.to_thread(self.users.hash_of, name)
        return found is not None and found[1] <= logged_in_at
