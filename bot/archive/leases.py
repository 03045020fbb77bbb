"""Lease rows: which worker holds each account, and which one is elected to send digests.

    lease, now = await take(archive, ACCOUNT, "main", holder, seconds=180, cap=500)
    if lease.holder != holder: ...                 # refused: `lease` names who holds it
    await renew(archive, ACCOUNT, "main", holder, 180)   # False: the lease was lost meanwhile
    await set_state(archive, "main", LOGGED_OUT, "AUTH_KEY_UNREGISTERED")
    await release(archive, ACCOUNT, "main", holder)
    leases, now = await load(archive)

Every moment compared or written here is the database's clock, read in the same transaction
(see bot/accounts/leases.py for why). Taking a lease is one statement, so of two workers
starting together exactly one gets it.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bot.accounts.leases import ACCOUNT, ACTIVE, Lease
from bot.archive import Archive, from_iso, iso

_COLUMNS = "kind, name, holder, lease_until, state, reason, cap, flood_until, updated_at"


async def database_now(db) -> datetime:
    """The database's clock: PostgreSQL's transaction time, or SQLite's (whole seconds, text)."""
    value = (await db.execute("SELECT CURRENT_TIMESTAMP")).scalar()
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def lease_from_row(row) -> Lease:
    return Lease(kind=row.kind, name=row.name, holder=row.holder, lease_until=from_iso(row.lease_until),
                 state=row.state, reason=row.reason, cap=row.cap, flood_until=from_iso(row.flood_until),
                 updated_at=from_iso(row.updated_at))


async def _one(db, kind: str, name: str) -> Lease | None:
    row = (await db.execute(f"SELECT {_COLUMNS} FROM leases WHERE kind = :kind AND name = :name",
                            {"kind": kind, "name": name})).fetchone()
    return lease_from_row(row) if row else None


async def take(archive: Archive, kind: str, name: str, holder: str, seconds: float, *, cap: int | None = None,
               take_from: str | None = None) -> tuple[Lease, datetime]:
    """Take (or renew) the lease unless another holder renewed it in time; `take_from` names a
    holder known to be dead (see holder_is_gone). Returns the lease as it stands afterwards:
    its holder is `holder` when it was taken. An account's state (logged out, banned) is kept."""
    async with archive.transaction() as db:
        now = await database_now(db)
        await db.execute(
            """INSERT INTO leases (kind, name, holder, lease_until, state, cap, updated_at)
               VALUES (:kind, :name, :holder, :until, :active, :cap, :now)
               ON CONFLICT (kind, name) DO UPDATE SET holder = excluded.holder, lease_until = excluded.lease_until,
                   cap = COALESCE(excluded.cap, leases.cap), updated_at = excluded.updated_at
               WHERE leases.holder IS NULL OR leases.holder = excluded.holder OR leases.lease_until < :now
                   OR leases.holder = :take_from""",
            {"kind": kind, "name": name, "holder": holder, "until": iso(now + timedelta(seconds=seconds)),
             "active": ACTIVE, "cap": cap, "now": iso(now), "take_from": take_from or ""})
        return await _one(db, kind, name), now


async def renew(archive: Archive, kind: str, name: str, holder: str, seconds: float, *,
                flood_until: datetime | None = None) -> bool:
    """Push the lease's end on by `seconds`; False if `holder` no longer holds it."""
    async with archive.transaction() as db:
        now = await database_now(db)
        renewed = (await db.execute(
            """UPDATE leases SET lease_until = :until, flood_until = :flood, updated_at = :now
               WHERE kind = :kind AND name = :name AND holder = :holder RETURNING name""",
            {"kind": kind, "name": name, "holder": holder, "until": iso(now + timedelta(seconds=seconds)),
             "flood": iso(flood_until), "now": iso(now)})).fetchall()
    return bool(renewed)


async def release(archive: Archive, kind: str, name: str, holder: str) -> None:
    """A clean stop: the lease ends now, so another worker need not wait for it to lapse."""
    async with archive.transaction() as db:
        now = await database_now(db)
        await db.execute(
            """UPDATE leases SET holder = NULL, lease_until = :now, updated_at = :now
               WHERE kind = :kind AND name = :name AND holder = :holder""",
            {"kind": kind, "name": name, "holder": holder, "now": iso(now)})


async def set_state(archive: Archive, name: str, state: str, reason: str | None = None) -> None:
    """What Telegram says of an account: active, logged out or banned (with its words)."""
    async with archive.transaction() as db:
        now = await database_now(db)
        await db.execute(
            """UPDATE leases SET state = :state, reason = :reason, updated_at = :now
               WHERE kind = :kind AND name = :name""",
            {"kind": ACCOUNT, "name": name, "state": state, "reason": reason, "now": iso(now)})


async def load(archive: Archive, kind: str | None = ACCOUNT) -> tuple[list[Lease], datetime]:
    """Every lease of `kind` (None: all), by name, and the database's clock to judge them by."""
    async with archive.transaction() as db:
        now = await database_now(db)
        where = "" if kind is None else "WHERE kind = :kind"
        rows = (await db.execute(f"SELECT {_COLUMNS} FROM leases {where} ORDER BY kind, name",
                                 {"kind": kind})).fetchall()
    return [lease_from_row(r) for r in rows], now


async def leases_in(db, kind: str = ACCOUNT) -> list[Lease]:
    """The leases of `kind`, inside a transaction of the caller's."""
    rows = (await db.execute(f"SELECT {_COLUMNS} FROM leases WHERE kind = :kind ORDER BY name",
                             {"kind": kind})).fetchall()
    return [lease_from_row(r) for r in rows]
