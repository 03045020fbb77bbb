"""The archive at scale: 1,000,000 messages (10,000,000 with --messages) (run by hand).

    .venv/bin/python bench/bench_archive.py                          # 1M, built in a temp dir
    .venv/bin/python bench/bench_archive.py --messages 10000000 --dir /work/tmp --keep
    .venv/bin/python bench/bench_archive.py --reuse /work/tmp/archive-1000000.sqlite3

The archive is built with the real schema (migrations through `Archive.open`) and plain
`executemany` in WAL mode, batches of 500, search terms written: that build rate is the raw
SQLite reference. Texts come from bench/traffic.py (a pool of 50,000 generated texts, so
the full-text index has real Ukrainian/Russian/English vocabulary); 500 chats, 30 days;
6% of messages matched (as when a few chats keep everything), with 1–2 match rows each.

Then a fresh process opens it as the service does and times, 5 runs each (first and
median): the digest query for one day (`digests.period_hits`: matched messages with
their matches, chat titles and album counts), `dozor status`'s query (`Archive.status`
since the start of the day), full-text lookups (`search.search`) for a common word, a
rare one and a prefix. That process's RSS is reported after opening and after the queries.
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import record  # noqa: E402
from bench.traffic import Traffic, rss_mb  # noqa: E402

UTC = timezone.utc
CHATS = 500
DAYS = 30
BATCH = 500
END = datetime(2026, 11, 25, tzinfo=UTC)
TOPICS = [("szch", "szch-acronym", "СЗЧ"), ("busification", "busification-bus", "бусифік*"),
          ("enlistment_centre", "tck-acronym", "ТЦК")]
SEARCHES = [("frequent word", "світло"), ("rarer word", "СЗЧ"), ("prefix", "мобіліз*")]


def build(path: Path, count: int, seed: int) -> dict:
    from bot.archive import Archive

    async def migrate() -> None:
        archive = await Archive.open(path)
        await archive.close()

    asyncio.run(migrate())
    traffic = Traffic(seed=seed)
    specs = traffic.chats(CHATS)
    texts = [traffic.text(s.megagroup)[0] or "📷" for s in specs for _ in range(100)]
    rnd = random.Random(seed)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    now = END.isoformat(timespec="seconds")
    db.execute("BEGIN")
    db.executemany("INSERT INTO chats (id, title, username, kind, checkpoint, added_at) VALUES (?, ?, ?, ?, ?, ?)",
                   [(s.marked_id, s.title, s.username, "group" if s.megagroup else "channel", 0, now) for s in specs])
    db.executemany("INSERT INTO chat_sources (source, chat_id, checked_at) VALUES (?, ?, ?)",
                   [(f"@{s.username}", s.marked_id, now) for s in specs])
    db.execute("COMMIT")
    span = DAYS * 86400
    next_id = {s.marked_id: 0 for s in specs}
    started = time.perf_counter()
    rowid = 0
    rows, matches = [], []
    for n in range(count):
        spec = specs[rnd.randrange(CHATS)]
        next_id[spec.marked_id] += 1
        moment = (END - timedelta(seconds=span * (1 - n / count))).isoformat(timespec="seconds")
        matched = rnd.random() < 0.06
        rowid += 1
        rows.append((rowid, spec.marked_id, next_id[spec.marked_id], moment, texts[rnd.randrange(len(texts))],
                     None if spec.megagroup else rnd.randint(100, 50_000), None,
                     (rnd.randrange(1 << 40) if rnd.random() < 0.03 else None),
                     ("photo" if rnd.random() < 0.2 else None), "uk", int(matched), moment))
        if matched:
            for topic, rule, term in rnd.sample(TOPICS, rnd.choice((1, 1, 2))):
                matches.append((rowid, topic, rule, term, 0, len(term)))
        if len(rows) == BATCH:
            flush(db, rows, matches)
    flush(db, rows, matches)
    elapsed = time.perf_counter() - started
    db.execute("UPDATE chats SET checkpoint = (SELECT MAX(message_id) FROM messages WHERE chat_id = chats.id)")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return {"build": elapsed, "rate": count / elapsed}


@functools.lru_cache(maxsize=None)
def _terms(text: str) -> frozenset[str]:
    from bot.archive.terms import terms_of  # the texts repeat: each one's terms are found once

    return terms_of(text)


def flush(db: sqlite3.Connection, rows: list, matches: list) -> None:
    if not rows:
        return
    db.execute("BEGIN IMMEDIATE")
    db.executemany(
        """INSERT INTO messages (id, chat_id, message_id, date, text, views, forwards, grouped_id, media_kind,
               language, matched, archived_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""", rows)
    db.executemany("INSERT INTO matches (message, topic, rule, term, start, end) VALUES (?, ?, ?, ?, ?, ?)", matches)
    # the search index, as Archive.ingest writes it (it took the place of FTS5's triggers)
    db.executemany("INSERT INTO message_terms (term, message) VALUES (?, ?)",
                   [(term, row[0]) for row in rows for term in _terms(row[4])])
    db.execute("COMMIT")
    rows.clear()
    matches.clear()


async def measure(path: Path) -> dict:
    """In a fresh process: open as the service does, time the queries, note the RSS."""
    from bot.archive import Archive
    from bot.archive.digests import period_hits
    from bot.archive.search import search

    out: dict = {"rss_start": rss_mb()}
    archive = await Archive.open(path)
    out["rss_open"] = rss_mb()

    async def timed(make) -> tuple[float, float, int]:
        runs, size = [], 0
        for _ in range(5):
            started = time.perf_counter()
            found = await make()
            runs.append(time.perf_counter() - started)
            size = len(found)
        return runs[0], statistics.median(runs), size

    day = END - timedelta(days=1)
    out["digest"] = await timed(lambda: period_hits(archive, day, END))
    out["status"] = await timed(lambda: archive.status(day))
    for name, words in SEARCHES:
        out[f"search: {name} «{words}»"] = await timed(lambda w=words: search(archive, w))
    out["rss_after"] = rss_mb()
    await archive.close()
    return out


def size_mb(path: Path) -> float:
    return sum(os.path.getsize(f"{path}{s}") for s in ("", "-wal") if os.path.exists(f"{path}{s}")) / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--dir", default=None, help="where to build (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the built archive")
    parser.add_argument("--reuse", default=None, help="measure an archive built before")
    parser.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(asyncio.run(measure(Path(args.measure)))))
        return 0

    directory = Path(args.dir or tempfile.gettempdir())
    built = None
    if args.reuse:
        path = Path(args.reuse)
    else:
        path = directory / f"archive-{args.messages}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        built = build(path, args.messages, args.seed)
        print(f"built {args.messages:,} messages in {built['build']:.1f} s ({built['rate']:,.0f} rows/s)", flush=True)
    try:
        child = subprocess.run([sys.executable, __file__, "--measure", str(path)], capture_output=True, text=True,
                               check=True)
        m = json.loads(child.stdout.strip().splitlines()[-1])
        count = sqlite3.connect(path).execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        lines = [f"Archive of {count:,} messages in {CHATS} chats over {DAYS} days, 6% matched; "
                 f"{size_mb(path):,.0f} MB on disk (search index included)."]
        if built:
            lines.append(f"Built with raw `executemany` (WAL, batches of {BATCH}, search terms included) in "
                         f"{built['build']:.0f} s: **{built['rate']:,.0f} rows/s**, the physical reference.")
        lines += ["", "| query | result rows | first run | median of 5 |", "|---|---:|---:|---:|"]
        for key in ["digest", "status"] + [k for k in m if k.startswith("search")]:
            first, median, size = m[key]
            name = {"digest": "digest, one day (`period_hits`)", "status": "`dozor status` (`Archive.status`)"}.get(key, key)
            lines.append(f"| {name} | {size:,} | {first * 1000:,.1f} ms | {median * 1000:,.1f} ms |")
        lines += ["", f"RSS of the process holding it open: {m['rss_start']:.0f} MB after imports, "
                      f"{m['rss_open']:.0f} MB once opened, {m['rss_after']:.0f} MB after the queries."]
        body = "\n".join(lines)
        print(body)
        if not args.no_record:
            command = ".venv/bin/python bench/bench_archive.py" + "".join(
                f" {a}" for a in sys.argv[1:] if a != "--no-record")
            record(f"Archive scale: {count:,} messages", command, body)
    finally:
        if built and not args.keep:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
