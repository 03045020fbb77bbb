"""The web viewer's accounts, in their own file `<storage>/web-users.sqlite3` (0600), never in
the archive: the archive can be copied or exported without them.

    users = WebUsers(settings.storage / "web-users.sqlite3")
    users.save("olena", hashed)             # a new user, or a new password for one
    users.hash_of("olena")                  # (hash, changed_at) or None
    users.session_key()                     # signs session cookies; made once, kept here

Blocking sqlite3 on purpose: each call is one short statement; async callers run it in a thread.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
from datetime import datetime
from pathlib import Path

from bot.archive import from_iso, utcnow

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name        TEXT PRIMARY KEY,
    hash        TEXT NOT NULL,               -- argon2id, with its own salt and parameters
    changed_at  TEXT NOT NULL                -- sessions begun before this are no longer valid
);
CREATE TABLE IF NOT EXISTS session_key (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    key  TEXT NOT NULL
);
"""


class WebUsers:
    def __init__(self, path: Path):
        self.path = path

    @contextlib.contextmanager
    def _db(self):
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # owner-only before anything is written into it
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        db = sqlite3.connect(self.path)
        try:
            db.executescript(_SCHEMA)
            with db:
                yield db
        finally:
            db.close()

    def save(self, name: str, hashed: str) -> bool:
        """Store the user's password hash; True if the user is new."""
        with self._db() as db:
            known = db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone() is not None
            db.execute("""INSERT INTO users (name, hash, changed_at) VALUES (?, ?, ?)
                          ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, changed_at = excluded.changed_at""",
                       (name, hashed, utcnow().isoformat()))  # to the microsecond: see Accounts.still_valid
        return not known

    def remove(self, name: str) -> bool:
        with self._db() as db:
            return db.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount > 0

    def hash_of(self, name: str) -> tuple[str, datetime] | None:
        with self._db() as db:
            row = db.execute("SELECT hash, changed_at FROM users WHERE name = ?", (name,)).fetchone()
        return (row[0], from_iso(row[1])) if row else None

    def names(self) -> list[str]:
        with self._db() as db:
            return [r[0] for r in db.execute("SELECT name FROM users ORDER BY name")]

    def session_key(self) -> str:
        with self._db() as db:
            db.execute("INSERT OR IGNORE INTO session_key (id, key) VALUES (1, ?)", (secrets.token_urlsafe(48),))
            return db.execute("SELECT key FROM session_key WHERE id = 1").fetchone()[0]
