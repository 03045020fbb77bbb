"""How long the desk's archive work takes on a big archive. Run by hand:

    .venv/bin/python bench/bench_desk.py [--messages 1000000] [--keep PATH] [--record]

Builds the digest benchmark's archive (bench_digest.generate: real schema, ~1% matching),
then times, each against the bare SQLite query it stands on, measured in the same run:
- one round of spike alerts (the window's matches, every chat's usual rate over a week, the
  city map and the rule), against counting the week's matched messages;
- a desk /search (closest first, ten shown), against the bare index range of the first word, newest first.
Target: a spike round well under its one-minute tick; a search answered within a second.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_digest import archive_for  # noqa: E402
from bench.results import record  # noqa: E402
from bot.archive import Archive, iso  # noqa: E402
from bot.archive import desk as store  # noqa: E402
from bot.archive.search import search  # noqa: E402
from bot.archive.terms import after, parse_query  # noqa: E402
from bot.desk.spikes import BASELINE, SpikeRule, cities_of, find_spikes  # noqa: E402

UTC = timezone.utc
END = datetime(2026, 3, 20, 7, 0, tzinfo=UTC)  # where bench_digest's archive ends
CITIES = (("Київ", tuple(f"@bench_{c:03d}" for c in range(1, 60) if c % 3)),
          ("Одеса", tuple(f"@bench_{c:03d}" for c in range(60, 120) if c % 3)))


async def spike_round(archive: Archive, rule: SpikeRule, now: datetime) -> int:
    recent = await store.recent_matches(archive, now - rule.window)
    usual = await store.usual_counts(archive, now - rule.window - BASELINE, now - rule.window)
    cities = cities_of(await archive.chats(), CITIES)
    return len(find_spikes(recent, now=now, rule=rule, cities=cities, usual=usual))


async def raw_week(archive: Archive, now: datetime) -> int:
    row = await archive.row("SELECT COUNT(*) FROM messages WHERE matched = 1 AND date >= ? AND date < ?",
                            (iso(now - BASELINE), iso(now)))
    return row[0]


async def desk_search(archive: Archive, words: str, now: datetime) -> int:
    return len(await search(archive, words, since=now - timedelta(days=7), limit=11, best_first=True))


async def raw_search(archive: Archive, words: str, now: datetime) -> int:
    # the index's range for the first word alone, newest first: what the closest-first search refines
    prefix = parse_query(words).words[0].prefixes[0]
    rows = await archive.rows(
        """SELECT DISTINCT m.id, m.date FROM message_terms t JOIN messages m ON m.id = t.message
           WHERE t.term >= :prefix AND t.term < :end AND m.date >= :since ORDER BY m.date DESC LIMIT 11""",
        {"prefix": prefix, "end": after(prefix), "since": iso(now - timedelta(days=7))})
    return len(rows)


async def timed(step, runs: int) -> tuple[float, float]:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        await step()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings), max(timings)


async def measure(path: Path, runs: int) -> list[tuple[str, float, float, float]]:
    rule = SpikeRule(window=timedelta(minutes=15), city_matches=3, chat_factor=4, chat_min=3)
    now = END - timedelta(hours=1)
    archive = await Archive.open(path)
    try:
        rows = []
        for name, ours, raw in (
            ("spike round (15 min window, 7-day baselines, 200 chats)",
             lambda: spike_round(archive, rule, now), lambda: raw_week(archive, now)),
            ("/search «бусифікація вокзалу» 7d, closest first",
             lambda: desk_search(archive, "бусифікація вокзалу", now),
             lambda: raw_search(archive, "бусифікація вокзалу", now)),
            ("/search «ціни пальне» 7d (common words), closest first",
             lambda: desk_search(archive, "ціни пальне", now), lambda: raw_search(archive, "ціни пальне", now)),
        ):
            median, worst = await timed(ours, runs)
            raw_median, _ = await timed(raw, runs)
            rows.append((name, median, worst, raw_median))
        return rows
    finally:
        await archive.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the archive at this path")
    parser.add_argument("--record", action="store_true", help="append the results to bench/RESULTS.md")
    args = parser.parse_args()
    path, folder = archive_for(args.keep, args.messages, 30)
    rows = asyncio.run(measure(path, args.runs))
    table = ["| what | median | max | raw SQLite median | ratio |", "|---|---:|---:|---:|---:|"]
    for name, median, worst, raw in rows:
        table.append(f"| {name} | {median * 1000:.1f} ms | {worst * 1000:.1f} ms | {raw * 1000:.1f} ms | "
                     f"{median / raw:.1f}× |")
    body = (f"Archive: {args.messages:,} messages over 30 days in 200 chats, 1% matching "
            f"(bench_digest.generate), {args.runs} runs each.\n\n" + "\n".join(table))
    print(body)
    if args.record:
        record("Desk", f".venv/bin/python bench/bench_desk.py --messages {args.messages} --record", body)
    if folder is not None:
        folder.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
