"""Posts → convert → match → archive commit, without Telegram, on one core (run by hand).

    .venv/bin/python bench/bench_pipeline.py                 # 20,000 messages; appends to RESULTS.md
    .venv/bin/python bench/bench_pipeline.py --count 100000 --profile
    .venv/bin/python bench/bench_pipeline.py --no-record
    .venv/bin/python bench/bench_pipeline.py --database-url postgresql://postgres@127.0.0.1:5432/test

The input is real Telethon `Message` objects built in memory by bench/traffic.py (50 chats,
half of them city chats, ~3% matching the example keywords, media on about a quarter).
Each stage is timed alone (convert, match, commit with the match results precomputed),
then the whole path through the service's own `Ingestor`: `history_page` with pages of 100
as catch-up reads them, and `live` one message at a time as updates arrive. Every batch is
committed before the next starts, as in the service: nothing is acknowledged uncommitted.

The process is pinned to one CPU (the archive's thread included), so "per core" is literal.
msgs/s is wall-clock; "per CPU-s" divides by the process's user+system time.
The reference is plain `executemany` of the same message rows into the same schema
(WAL, batches of 500): it writes every row, where dozor writes only the ~3% that matched
and reads the rest. With --database-url the archives are PostgreSQL schemas (each fresh,
dropped after) and the references are `COPY … FROM STDIN` and `executemany` into the same
schema on the same server.
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import record  # noqa: E402
from bench.traffic import KEYWORDS, Traffic, cpu_seconds, raw_insert_rate, raw_postgres_rates  # noqa: E402
from bot.archive import Archive  # noqa: E402
from bot.archive.database import describe  # noqa: E402
from bot.coverage import Coverage  # noqa: E402
from bot.ingest import Ingestor  # noqa: E402
from bot.matching import load_rules, match  # noqa: E402
from bot.model import Chat  # noqa: E402
from bot.telegram.convert import to_post  # noqa: E402
from bot.telegram.history import Page  # noqa: E402

CHATS = 50


class Holder:
    """What Ingestor expects of the keywords: `.current` (the service's RulesHolder swaps it)."""

    def __init__(self, rules):
        self.current = rules


def timed(fn, rounds: int = 3) -> tuple[float, float]:
    """Best (wall, cpu) seconds of `rounds` calls."""
    best = (float("inf"), float("inf"))
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), cpu_seconds()
        fn()
        best = min(best, (time.perf_counter() - wall, cpu_seconds() - cpu))
    return best


async def timed_async(make) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), cpu_seconds()
    await make()
    return time.perf_counter() - wall, cpu_seconds() - cpu


class Scratch:
    """Where the benchmark's archives go: SQLite files in a directory, or fresh PostgreSQL
    schemas (dropped when done)."""

    def __init__(self, directory: Path, database_url: str | None):
        self.directory = directory
        self.database_url = database_url
        self.schemas: list[str] = []

    def location(self, name: str) -> Path | str:
        if not self.database_url:
            return self.directory / f"{name}.sqlite3"
        import psycopg
        import sqlalchemy as sa

        schema = f"bench_{name}_{os.getpid()}"
        with psycopg.connect(self.database_url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            admin.execute(f"CREATE SCHEMA {schema}")
        self.schemas.append(schema)
        url = sa.make_url(self.database_url).update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)

    def drop(self) -> None:
        if self.schemas:
            import psycopg

            with psycopg.connect(self.database_url, autocommit=True) as admin:
                for schema in self.schemas:
                    admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


async def fresh_archive(scratch: Scratch, name: str, chats: list[Chat]) -> Archive:
    archive = await Archive.open(scratch.location(name))
    for chat in chats:
        await archive.save_chat(chat, f"@{chat.username}")
    return archive


def batches(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


async def run(args) -> dict:
    traffic = Traffic(seed=args.seed)
    specs = traffic.chats(CHATS)
    per_chat = args.count // CHATS
    messages = {s.marked_id: traffic.messages(s, per_chat) for s in specs}
    chats = {s.marked_id: Chat(id=s.marked_id, title=s.title, username=s.username,
                               kind="group" if s.megagroup else "channel") for s in specs}
    flat = [m for ms in messages.values() for m in ms]
    rules = load_rules(KEYWORDS)
    figures: dict = {"count": len(flat)}

    posts = [to_post(m) for m in flat]
    results = [match(rules, p.text, chats[p.chat_id]) for p in posts]  # also warms every cache
    figures["matched"] = sum(map(bool, results))
    figures["chars"] = sum(len(p.text) for p in posts) / len(posts)

    figures["convert"] = timed(lambda: [to_post(m) for m in flat])
    figures["match"] = timed(lambda: [match(rules, p.text, chats[p.chat_id]) for p in posts])

    by_chat: dict[int, list] = {}
    for post, result in zip(posts, results):
        by_chat.setdefault(post.chat_id, []).append((post, result))

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        directory = Path(tmp)
        scratch = Scratch(directory, args.database_url)
        for size in (100, 1):
            archive = await fresh_archive(scratch, f"commit{size}", list(chats.values()))

            async def commit_all() -> None:
                for chat_id, items in by_chat.items():
                    for batch in batches(items, size):
                        await archive.ingest(chats[chat_id], batch)

            try:
                figures[f"commit{size}"] = await timed_async(commit_all)
            finally:
                await archive.close()

        profiles = {}
        for size in (100, 1):
            archive = await fresh_archive(scratch, f"whole{size}", list(chats.values()))
            ingestor = Ingestor(archive, Holder(rules), await Coverage.open(archive))
            for chat in chats.values():
                await ingestor.watch(chat)

            async def whole() -> None:
                for chat_id, ms in messages.items():
                    chat = chats[chat_id]
                    if size == 1:
                        for m in ms:
                            await ingestor.live(to_post(m))
                    else:
                        for page in batches(ms, size):
                            await ingestor.history_page(chat, Page([to_post(m) for m in page], page[-1].id))

            profiler = cProfile.Profile() if args.profile else None
            try:
                if profiler:
                    profiler.enable()
                figures[f"whole{size}"] = await timed_async(whole)
                if profiler:
                    profiler.disable()
                    out = io.StringIO()
                    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(18)
                    profiles[size] = out.getvalue()
                totals = await archive.totals()
                # album items of a matching caption are archived too, so only the matched count is exact
                assert totals["matched"] == figures["matched"], (totals, figures["matched"])
                figures["archived"] = totals["messages"]
            finally:
                await archive.close()

        scratch.drop()
        if args.database_url:
            figures["references"] = raw_postgres_rates(args.database_url, posts)
        else:
            figures["references"] = {"executemany": raw_insert_rate(directory / "raw.sqlite3", posts)}
    figures["profiles"] = profiles
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--dir", default=None, help="where the scratch archives go (default: $TMPDIR)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    parser.add_argument("--profile", action="store_true", help="print cProfile of the whole-path runs")
    parser.add_argument("--database-url", default=None, metavar="URL",
                        help="run on PostgreSQL: scratch schemas in this database (default: SQLite files)")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    if not args.no_pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    f = asyncio.run(run(args))
    n = f["count"]

    def rate(pair):
        return n / pair[0], n / pair[1] if pair[1] else float("inf")

    rows = [
        ("convert (to_post)", "—", f["convert"]),
        ("match", "—", f["match"]),
        ("commit (Archive.ingest, results precomputed)", "100", f["commit100"]),
        ("commit (Archive.ingest, results precomputed)", "1", f["commit1"]),
        ("**whole path**: convert → match → commit (`Ingestor.history_page`)", "100", f["whole100"]),
        ("**whole path**: convert → match → commit (`Ingestor.live`)", "1", f["whole1"]),
    ]
    backend = "PostgreSQL" if args.database_url else "SQLite"
    references = f["references"]
    raw = references.get("copy", references["executemany"])  # the fastest way in: what is compared with
    lines = [f"| stage | batch | msgs/s (wall) | msgs/s per CPU-s | µs/msg | × raw {backend} |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, batch, pair in rows:
        wall, cpu = rate(pair)
        lines.append(f"| {name} | {batch} | {wall:,.0f} | {cpu:,.0f} | {1e6 / wall:,.1f} | {raw / wall:.1f}× |")
    described = {"copy": "raw `COPY … FROM STDIN` of every row, same schema",
                 "executemany": "raw `executemany` of every row, same schema" + ("" if args.database_url else ", WAL")}
    for how, value in references.items():
        lines.append(f"| reference: {described[how]} | 500 | {value:,.0f} | | {1e6 / value:,.1f} | "
                     f"{raw / value:.1f}× |")
    table = "\n".join(lines)
    summary = (f"{n:,} messages in {CHATS} chats (seed {args.seed}), {f['chars']:.0f} characters on average, "
               f"{f['matched']} matched ({f['matched'] / n:.1%}), {f['archived']} archived with album items; "
               f"process pinned to {'one CPU' if not args.no_pin else 'no CPU'}; scratch archives "
               + (f"in PostgreSQL schemas ({describe(args.database_url)}; the server's own processes are not "
                  "pinned)." if args.database_url else f"on {args.dir or tempfile.gettempdir()}."))
    print(summary)
    print(table)
    for size, text in f["profiles"].items():
        print(f"\n--- cProfile, whole path, batch {size} ---\n{text}")
    if not args.no_record:
        command = ".venv/bin/python bench/bench_pipeline.py" + "".join(
            f" {a}" for a in sys.argv[1:] if a != "--no-record")
        title = "Pipeline on PostgreSQL: convert → match → commit" if args.database_url else \
            "Pipeline: convert → match → commit"
        record(title, command, f"{summary}\n\n{table}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
