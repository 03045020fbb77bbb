"""Search on a large archive, SQLite and PostgreSQL: the lemma index's size, its build rate, and
`search` for a frequent word, a rare one, a prefix, a noun whose chats write the verb, two
frequent words, and the desk's closest-first over a week.

    .venv/bin/python bench/bench_search.py                              # SQLite, 200,000 messages
    .venv/bin/python bench/bench_search.py --messages 1000000 --postgres postgresql://127.0.0.1/test

The archive is created and migrated as the service does; messages (texts from bench/traffic.py,
spread over 30 days in 500 chats) and their terms (`terms_of`, as `Archive.ingest` writes them)
are then written in batches of 2,000. On PostgreSQL a scratch schema is used and dropped.
"""
from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from bench.traffic import Traffic  # noqa: E402
from bot.archive import Archive, iso  # noqa: E402
from bot.archive.search import search  # noqa: E402
from bot.archive.terms import terms_of  # noqa: E402

END = datetime(2026, 11, 25, tzinfo=timezone.utc)
CHATS, DAYS, BATCH = 500, 30, 2000
QUERIES = [("word in a quarter of the messages «ремонт»", "ремонт", {}), ("common word «світло»", "світло", {}),
           ("rare word «СЗЧ»", "СЗЧ", {}), ("prefix «мобіліз»", "мобіліз", {}),
           ("noun for verbs «бусифікація»", "бусифікація", {}),
           ("two frequent words «ремонт школах»", "ремонт школах", {}),
           ("desk: «ремонт школах» 7 days, closest first", "ремонт школах", {"best_first": True, "limit": 11}),
           ("a topic's newest, no words", "", {"topic": "busification"})]


async def build(archive: Archive, count: int, seed: int = 7) -> dict:
    traffic = Traffic(seed=seed)
    specs = traffic.chats(CHATS)
    texts = [traffic.text(s.megagroup)[0] or "📷" for s in specs for _ in range(20)]
    text_terms = [sorted(terms_of(t)) for t in texts]  # each text's terms once: the build times writing
    rnd = random.Random(seed)
    async with archive.transaction() as db:
        await db.executemany("INSERT INTO chats (id, title, username, kind, checkpoint, added_at) "
                             "VALUES (:id, :title, :username, :kind, 0, :now)",
                             [{"id": s.marked_id, "title": s.title, "username": s.username,
                               "kind": "group" if s.megagroup else "channel", "now": iso(END)} for s in specs])
    next_id = {s.marked_id: 0 for s in specs}
    started, terms_written = time.perf_counter(), 0
    for first in range(0, count, BATCH):
        rows, terms, matches = [], [], []
        for rowid in range(first + 1, min(count, first + BATCH) + 1):
            spec = specs[rnd.randrange(CHATS)]
            next_id[spec.marked_id] += 1
            pick = rnd.randrange(len(texts))
            moment = iso(END - timedelta(seconds=DAYS * 86400 * (1 - rowid / count)))
            rows.append({"id": rowid, "chat": spec.marked_id, "mid": next_id[spec.marked_id], "date": moment,
                         "text": texts[pick], "matched": 0, "at": moment})
            terms.extend({"term": t, "message": rowid} for t in text_terms[pick])
            if rnd.random() < 0.06:
                matches.append({"message": rowid, "topic": "busification", "rule": "r", "term": "t"})
        async with archive.transaction() as db:
            await db.executemany("INSERT INTO messages (id, chat_id, message_id, date, text, matched, archived_at) "
                                 "VALUES (:id, :chat, :mid, :date, :text, :matched, :at)", rows)
            await db.executemany("INSERT INTO message_terms (term, message) VALUES (:term, :message)", terms)
            await db.executemany('INSERT INTO matches (message, topic, rule, term, start, "end") '
                                 "VALUES (:message, :topic, :rule, :term, 0, 1)", matches)
        terms_written += len(terms)
    elapsed = time.perf_counter() - started
    if archive.dialect == "postgresql":
        async with archive.engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.exec_driver_sql("VACUUM ANALYZE")
    return {"build_s": elapsed, "messages_per_s": count / elapsed, "terms": terms_written}


async def measure(archive: Archive) -> list[tuple[str, int, float, float]]:
    out = []
    for name, words, options in QUERIES:
        if "limit" not in options:
            options = {**options, "limit": 50}
        if options.get("best_first"):
            options = {**options, "since": END - timedelta(days=7)}
        times = []
        for _ in range(5):
            started = time.perf_counter()
            hits = await search(archive, words, **options)
            times.append(time.perf_counter() - started)
        out.append((name, len(hits), times[0] * 1000, statistics.median(times) * 1000))
    return out


async def size(archive: Archive) -> str:
    if archive.dialect == "postgresql":
        total = await archive.scalar("SELECT pg_total_relation_size('message_terms')")
        everything = await archive.scalar("SELECT SUM(pg_total_relation_size(c.oid)) FROM pg_class c "
                                          "JOIN pg_namespace n ON n.oid = c.relnamespace "
                                          "WHERE n.nspname = current_schema() AND c.relkind = 'r'")
        return f"index {total / 2**20:,.0f} MB of {everything / 2**20:,.0f} MB"
    pages = await archive.scalar("SELECT SUM(pgsize) FROM dbstat WHERE name LIKE 'message_terms%'") \
        if await _has_dbstat(archive) else None
    whole = archive.path.stat().st_size + archive.path.with_name(archive.path.name + "-wal").stat().st_size
    return (f"index {pages / 2**20:,.0f} MB of " if pages else "") + f"{whole / 2**20:,.0f} MB"


async def _has_dbstat(archive: Archive) -> bool:
    try:
        await archive.scalar("SELECT COUNT(*) FROM dbstat LIMIT 1")
        return True
    except sa.exc.DBAPIError:
        return False


async def run(location, count: int) -> None:
    archive = await Archive.open(location)
    try:
        built = await build(archive, count)
        print(f"{archive.dialect}: {count:,} messages, {built['terms']:,} terms "
              f"({built['terms'] / count:.0f} a message), written in {built['build_s']:.0f} s "
              f"({built['messages_per_s']:,.0f} messages/s); {await size(archive)}")
        print("| query | hits | first | median of 5 |\n|---|---:|---:|---:|")
        for name, hits, first, median in await measure(archive):
            print(f"| {name} | {hits} | {first:.1f} ms | {median:.1f} ms |")
    finally:
        await archive.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--postgres", help="also on this PostgreSQL server (a scratch schema)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        asyncio.run(run(Path(scratch) / "archive.sqlite3", args.messages))
    if args.postgres:
        import psycopg

        schema = f"bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(args.postgres, autocommit=True) as connection:
            connection.execute(f"CREATE SCHEMA {schema}")
        try:
            url = sa.make_url(args.postgres).update_query_dict({"options": f"-csearch_path={schema}"})
            asyncio.run(run(url.render_as_string(hide_password=False), args.messages))
        finally:
            with psycopg.connect(args.postgres, autocommit=True) as connection:
                connection.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
