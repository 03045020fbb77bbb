"""Catch-up after downtime: 500 chats × 200 missed posts each, through the offline Telegram
(run by hand).

    .venv/bin/python bench/bench_catchup.py                   # 500 × 200, topics only
    .venv/bin/python bench/bench_catchup.py --keep-all        # every chat keeps every message
    .venv/bin/python bench/bench_catchup.py --chats 100 --posts 1000 --no-record

The posts are published (deliver=False) before the service starts, as if it had been
down; the service then joins the chats and reads each one's history from its checkpoint
with `iter_messages`, 100 a page, through MTProto to the offline Telegram. The clock runs
from `Service.run` to the moment every chat's checkpoint (in the archive) has reached its
last post and catch-up is idle: every post has then been read, matched and committed, and
the ones that match (or all of them with --keep-all) are archived.

`history_wait=0`, as in the tests: Telethon's own pause between history pages (1 s by
default in the service) is left out, so the figure is what the process can do; with the
pause, pages of different chats still follow each other, so add about one second per page
read (this run reads `pages` below). The offline Telegram runs in the same process; its
share of the time is measured as in bench_live.py.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_live import FakeMeter  # noqa: E402
from bench.results import record  # noqa: E402
from bench.traffic import KEYWORDS, Traffic, cpu_seconds, raw_insert_rate, rss_mb  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.service import Service  # noqa: E402
from tests.telegram_fake import FakeTelegram  # noqa: E402


async def run(args) -> dict:
    logging.basicConfig(level=logging.WARNING)
    traffic = Traffic(seed=args.seed)
    fake = FakeTelegram()
    fake.calls = collections.deque(maxlen=1)
    fake.requests = collections.deque(maxlen=100_000)
    specs = traffic.chats(args.chats)
    channels = []
    built = time.perf_counter()
    for spec in specs:
        channel = fake.add_channel(username=spec.username, title=spec.title, megagroup=spec.megagroup)
        traffic.publish(fake, channel, spec, args.posts, deliver=False)
        channels.append(channel)
    out: dict = {"build": time.perf_counter() - built}
    meter = FakeMeter(fake)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        storage = Path(tmp) / "storage"
        storage.mkdir()
        fake.authorise_session(str(storage / "dozor.session"))
        sources = tuple(f"@{s.username}" for s in specs)
        settings = Settings(api_id=fake.API_ID, api_hash=fake.API_HASH, storage=storage, keywords=KEYWORDS,
                            chats=sources, keep_all_chats=sources if args.keep_all else (), catchup_interval=3600)
        service = Service(settings, client_options={"connection": fake.connection}, history_wait=0)
        stop = asyncio.Event()
        last = {c.marked_id: fake.messages(c)[-1].id for c in channels}
        cpu0, rss0 = cpu_seconds(), rss_mb()
        started = time.perf_counter()
        task = asyncio.create_task(service.run(stop))
        try:
            while not service.ready.is_set():
                if task.done():
                    task.result()
                await asyncio.sleep(0.05)
            out["ready"] = time.perf_counter() - started
            peak = rss0
            while True:
                peak = max(peak, rss_mb())
                if service.catchup.idle and not service.catchup.busy:
                    rows = await service.archive.rows("SELECT id, checkpoint FROM chats")
                    if all(r["checkpoint"] >= last[r["id"]] for r in rows) and len(rows) == len(last):
                        break
                if task.done():
                    task.result()
                await asyncio.sleep(0.1)
            out["seconds"] = time.perf_counter() - started
            out["cpu"] = cpu_seconds() - cpu0
            out["fake"] = meter.seconds
            out["rss_peak"], out["rss_before"] = peak, rss0
            out["totals"] = await service.archive.totals()
            out["pages"] = sum(1 for r in fake.requests if r == "GetHistoryRequest")
        finally:
            stop.set()
            await asyncio.wait_for(task, 120)
        posts = [p for s in specs[:20] for p in traffic.posts(s, args.posts)]
        out["raw"] = raw_insert_rate(Path(tmp) / "raw.sqlite3", posts)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=500)
    parser.add_argument("--posts", type=int, default=200, help="missed posts per chat")
    parser.add_argument("--keep-all", action="store_true", help="every chat keeps every message")
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--dir", default=None)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    out = asyncio.run(run(args))
    total = args.chats * args.posts
    t = out["totals"]
    rate = total / out["seconds"]
    body = (f"{args.chats} chats × {args.posts} missed posts = {total:,} posts "
            f"({'every chat keeps everything' if args.keep_all else 'topics only'}); published in the offline "
            f"Telegram in {out['build']:.1f} s before the start.\n\n"
            f"| figure | value |\n|---|---:|\n"
            f"| start → ready ({args.chats} chats resolved and joined) | {out['ready']:.1f} s |\n"
            f"| **start → every post read and committed** | **{out['seconds']:.1f} s** |\n"
            f"| posts per second, whole catch-up | {rate:,.0f} |\n"
            f"| history pages read (GetHistory) | {out['pages']:,} |\n"
            f"| archived / matched | {t['messages']:,} / {t['matched']:,} |\n"
            f"| process CPU / of which offline Telegram | {out['cpu']:.1f} s / {out['fake']:.1f} s |\n"
            f"| RSS before start (offline Telegram holding every post) / peak | "
            f"{out['rss_before']:.0f} MB / {out['rss_peak']:.0f} MB |\n"
            f"| reference: raw `executemany` of such rows, WAL, batches of 500 | {out['raw']:,.0f} rows/s "
            f"(catch-up is {out['raw'] / rate:.1f}× slower) |\n")
    print(body)
    if not args.no_record:
        command = ".venv/bin/python bench/bench_catchup.py" + "".join(
            f" {a}" for a in sys.argv[1:] if a != "--no-record")
        record("Catch-up: 500 chats × 200 missed posts", command, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
