"""How long composing a digest takes on a big archive. Run by hand:

    .venv/bin/python bench/bench_digest.py [--messages 1000000] [--days 30] [--keep PATH]

Builds an archive with the real schema (bulk executemany, ~1% of messages matching, some of
them albums, edits, deletions and texts repeated across chats), then times the whole digest
path the service runs: the period query, the previous period's counts, grouping, ranking and
HTML splitting. Target: a daily digest under one second.
"""
from __future__ import annotations

import argparse
import asyncio
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, time as dtime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results import machine  # noqa: E402
from bot.archive import Archive, iso  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.digest.sender import build, period_on  # noqa: E402

UTC = timezone.utc
KYIV = ZoneInfo("Europe/Kyiv")
TOPICS = {"szch": "СЗЧ", "busification": "Бусифікація", "tcc": "ТЦК"}
WORDS = {"szch": "СЗЧ", "busification": "бусифікація", "tcc": "ТЦК"}
FILLER = ("Сьогодні в місті спокійно, до вечора без опадів. Ціни на пальне знову зросли. "
          "У парку відкрили нову алею, мешканці просять більше лавок. ")


def archive_for(keep: Path | None, messages: int, days: int) -> tuple[Path, tempfile.TemporaryDirectory | None]:
    """The benchmark archive at `keep` (built there if missing), or a new one in a temporary
    folder the caller cleans up."""
    folder = None
    if keep:
        path = keep
    else:
        folder = tempfile.TemporaryDirectory()
        path = Path(folder.name) / "archive.sqlite3"
    if not path.exists():
        started = time.perf_counter()
        generate(path, messages, days)
        print(f"generated {messages:,} messages over {days} days in {time.perf_counter() - started:.1f} s")
    return path, folder


def generate(path: Path, messages: int, days: int, chats: int = 200, seed: int = 7) -> None:
    asyncio.run(_create(path))  # the schema through the real migrations
    rng = random.Random(seed)
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")
    end = datetime(2026, 3, 20, 7, 0, tzinfo=UTC)
    start = end - timedelta(days=days)
    step = (end - start).total_seconds() / messages
    db.executemany(
        "INSERT INTO chats (id, title, username, kind, added_at) VALUES (?, ?, ?, 'channel', ?)",
        [(-1001900000000 - c, f"Канал {c}", f"bench_{c:03d}" if c % 3 else None, iso(start)) for c in range(chats)])
    shared = [f"Повідомляють: {WORDS[t]} біля вокзалу, перевіряють документи #{n}"
              for n in range(200) for t in TOPICS]
    rows, spans = [], []
    next_id = {c: 1 for c in range(chats)}
    row_id = 0
    for n in range(1, messages + 1):
        row_id += 1
        chat = rng.randrange(chats)
        message_id = next_id[chat]
        next_id[chat] += 1
        moment = iso(start + timedelta(seconds=n * step))
        matched = rng.random() < 0.01
        grouped = media = None
        if matched:
            topic = rng.choice(list(TOPICS))
            if rng.random() < 0.2:
                text = rng.choice(shared)  # the same text in several chats
                topic = next(t for t in TOPICS if WORDS[t] in text)
            else:
                text = f"{FILLER[: rng.randrange(40, 160)]} {WORDS[topic]} {FILLER[: rng.randrange(0, 120)]}"
            at = text.index(WORDS[topic])
            spans.append((row_id, topic, f"{topic}-1", WORDS[topic], at, at + len(WORDS[topic])))
            if rng.random() < 0.1:
                grouped, media = n, "photo"
        else:
            text = FILLER[: rng.randrange(20, len(FILLER))]
        rows.append((row_id, -1001900000000 - chat, message_id, moment, text, rng.randrange(0, 50000),
                     rng.randrange(0, 300), grouped, media, int(matched),
                     moment if matched and rng.random() < 0.05 else None,
                     moment if matched and rng.random() < 0.02 else None, moment))
        if grouped:  # the rest of the album: archived, not matched themselves
            for extra in range(rng.randrange(1, 5)):
                message_id = next_id[chat]
                next_id[chat] += 1
                row_id += 1
                rows.append((row_id, -1001900000000 - chat, message_id, moment, "", None, None, grouped,
                             "photo" if extra % 2 else "video", 0, None, None, moment))
        if len(rows) >= 50_000:
            _flush(db, rows, spans)
    _flush(db, rows, spans)
    db.commit()
    db.execute("ANALYZE")
    db.close()


def _flush(db, rows, spans) -> None:
    db.executemany(
        """INSERT INTO messages (id, chat_id, message_id, date, text, views, forwards, grouped_id, media_kind,
               matched, edit_date, deleted_at, archived_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        rows)
    db.executemany("INSERT INTO matches (message, topic, rule, term, start, end) VALUES (?, ?, ?, ?, ?, ?)", spans)
    rows.clear()
    spans.clear()


async def _create(path: Path) -> None:
    archive = await Archive.open(path)
    await archive.close()


async def measure(path: Path, period_kind: str, runs: int) -> tuple[list[float], int, int]:
    settings = Settings(digest_tz=KYIV, digest_time=dtime(9), digest_period=period_kind, digest_topic_cap=15)
    day = date(2026, 3, 16) if period_kind == "weekly" else date(2026, 3, 20)
    period = period_on(settings, day)
    archive = await Archive.open(path)
    try:
        timings, parts = [], []
        for _ in range(runs):
            started = time.perf_counter()
            parts = await build(settings, archive, period, TOPICS)
            timings.append(time.perf_counter() - started)
        (hits,) = await archive.row(
            "SELECT COUNT(*) FROM messages WHERE matched = 1 AND date >= ? AND date < ?",
            (iso(period.start), iso(period.end)))
    finally:
        await archive.close()
    return timings, hits, len(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30, help="the archive spans this many days")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the archive at this path")
    args = parser.parse_args()

    path, folder = archive_for(args.keep, args.messages, args.days)
    print(f"machine: {platform.uname().system} {platform.uname().release} {platform.machine()}, {machine()['cpu']}, "
          f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")
    for kind in ("daily", "weekly"):
        timings, hits, parts = asyncio.run(measure(path, kind, args.runs))
        print(f"{kind}: {hits} matched messages → {parts} message(s); first {timings[0] * 1000:.0f} ms, "
              f"median {statistics.median(timings) * 1000:.0f} ms, max {max(timings) * 1000:.0f} ms")
    if folder is not None:
        folder.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
