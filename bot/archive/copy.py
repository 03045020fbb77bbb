"""Copy a whole archive to another database: how a newsroom moves up from SQLite to PostgreSQL.

    report = await copy_archive(source, target, progress=show)   # resumable; checks the counts

Every table of `tables.metadata` is copied, parents before children, in primary-key order and
in batches, each batch committed on its own. A copy that stops (a dropped connection, Ctrl-C)
resumes after the last key the target holds, so nothing is copied twice and nothing is
skipped. Media files stay where they are: rows keep their paths relative to the storage
directory, so the workers that serve media must see that directory.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from bot.archive import Archive, ArchiveError
from bot.archive.tables import metadata

BATCH = 2000  # rows a batch: big enough to amortise a round trip, small enough to resume cheaply


@dataclass(slots=True)
class TableCopy:
    table: str
    source: int  # rows in the source
    target: int  # rows in the target once copied
    copied: int  # rows this run wrote (0 for a table copied by an earlier run)


class CopyMismatch(ArchiveError):
    pass


Progress = Callable[[str, int, int], None]  # table, rows in the target so far, rows in the source


async def copy_archive(source: Archive, target: Archive, batch: int = BATCH,
                       progress: Progress | None = None) -> list[TableCopy]:
    if source.dialect == target.dialect and source.location == target.location:
        raise ArchiveError("the source and the target are the same archive")
    report = [await _copy_table(source, target, table, batch, progress) for table in metadata.sorted_tables]
    wrong = [r for r in report if r.source != r.target]
    if wrong:
        raise CopyMismatch("counts differ after the copy (was the service still writing to the source?): "
                           + ", ".join(f"{r.table} {r.source} in the source, {r.target} in the target" for r in wrong)
                           + "; stop the service and run the copy again: it resumes")
    return report


async def _copy_table(source: Archive, target: Archive, table: sa.Table, batch: int,
                      progress: Progress | None) -> TableCopy:
    key = list(table.primary_key.columns)
    total = await _count(source, table)
    last = await _last_key(target, table, key)
    if last is not None:
        # resuming is only sound over rows this copy wrote: the target must hold exactly the
        # source's rows up to its last key
        have, expected = await _count(target, table), await _count(source, table, _up_to(key, last))
        if have != expected:
            raise CopyMismatch(f"{table.name}: {have} rows in the target, {expected} in the source up to the same "
                               "key: the target holds other data; copy into an empty database")
    copied = 0
    while True:
        query = sa.select(table).order_by(*key).limit(batch)
        if last is not None:
            query = query.where(sa.not_(_up_to(key, last)))
        async with source.transaction() as db:
            rows = [dict(r._mapping) for r in (await db.run(query)).fetchall()]
        if not rows:
            break
        async with target.transaction() as db:
            # a row already there is one an interrupted run wrote before its commit was confirmed
            await db.run(_insert(target.dialect, table), rows)
        copied += len(rows)
        last = tuple(rows[-1][c.name] for c in key)
        if progress:
            progress(table.name, await _count(target, table), total)
    if target.dialect == "postgresql":
        await _follow_sequences(target, table)
    return TableCopy(table.name, total, await _count(target, table), copied)


def _up_to(key: list[sa.Column], last: tuple) -> sa.ColumnElement[bool]:
    # typed as their columns: a moment in a key must compare as the column stores it
    values = [sa.literal(value, column.type) for column, value in zip(key, last)]
    return sa.tuple_(*key) <= sa.tuple_(*values) if len(key) > 1 else key[0] <= values[0]


def _insert(dialect: str, table: sa.Table):
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    return insert.on_conflict_do_nothing()


async def _count(archive: Archive, table: sa.Table, where: sa.ColumnElement[bool] | None = None) -> int:
    query = sa.select(sa.func.count()).select_from(table)
    if where is not None:
        query = query.where(where)
    async with archive.transaction() as db:
        return (await db.run(query)).scalar_one()


async def _last_key(archive: Archive, table: sa.Table, key: list[sa.Column]) -> tuple | None:
    async with archive.transaction() as db:
        row = (await db.run(
            sa.select(*key).order_by(*(c.desc() for c in key)).limit(1))).first()
    return tuple(row) if row else None


async def _follow_sequences(archive: Archive, table: sa.Table) -> None:
    """Keys were copied as they were: the next key PostgreSQL hands out must come after them."""
    for column in table.primary_key.columns:
        if column.autoincrement is True:
            async with archive.transaction() as db:
                await db.execute(
                    f"SELECT setval(pg_get_serial_sequence(:table, :column), COALESCE(MAX({column.name}), 1), "
                    f"MAX({column.name}) IS NOT NULL) FROM {table.name}",
                    {"table": table.name, "column": column.name})
