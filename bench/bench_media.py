"""Media download throughput and memory through the offline Telegram (run by hand).

    .venv/bin/python bench/bench_media.py            # 50 MB, prints a Markdown block for RESULTS.md
    .venv/bin/python bench/bench_media.py --mb 200

The whole path runs for real: Telethon (with cryptg) asks the offline Telegram for the
file in 512 KB parts over MTProto, the worker streams them into the content-addressed
store and records the file in a SQLite archive. Two runs: one timed, one under
tracemalloc. Memory growth is measured from after the test file exists (the offline
Telegram itself holds it in memory, and its log of answers is cut to the last one), so
it shows what downloading costs, which must not grow with the file: it streams.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import os
import platform
import resource
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telethon.crypto import aes  # noqa: E402

from bench.results import machine  # noqa: E402
from bot.archive import Archive  # noqa: E402
from bot.archive import media as queue  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.media import run_media  # noqa: E402
from bot.model import Match, MatchResult  # noqa: E402
from bot.telegram.client import open_authorised  # noqa: E402
from bot.telegram.convert import to_chat, to_post  # noqa: E402
from tests.telegram_fake import FakeTelegram  # noqa: E402

HIT = MatchResult(matches=(Match("enlistment_centre", "tck", "ТЦК", 0, 3),))


def rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def rss_now_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def one_run(size: int, trace: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        storage = Path(tmp) / "storage"
        storage.mkdir()
        fake = FakeTelegram()
        # the offline Telegram records every answer it gives, file parts included, which
        # would charge the whole file to the download; keep only the last one
        fake.calls = collections.deque(maxlen=1)
        fake.authorise_session(str(storage / "dozor.session"))
        settings = Settings(api_id=fake.API_ID, api_hash=fake.API_HASH, storage=storage,
                            media_max_mb=size / 2**20 + 1, media_workers=1)
        news = fake.add_channel(username="kyiv_news", title="Київ новини", joined=True)
        data = os.urandom(size)
        message = fake.post(news, "ТЦК", media=fake.document(data, video=True, duration=600, w=1920, h=1080))
        del data  # the offline Telegram keeps its own copy
        client = await open_authorised(settings, connection=fake.connection)
        archive = await Archive.open(settings.archive_location)
        try:
            chat = to_chat(await client.get_entity("kyiv_news"))
            await archive.save_chat(chat)
            fetched = await client.get_messages(chat.id, ids=[message.id])
            await archive.ingest(chat, [(to_post(m), HIT) for m in fetched])

            before_peak, before_now = rss_peak_mb(), rss_now_mb()
            if trace:
                tracemalloc.start()
            stalls = []

            async def probe() -> None:
                # how late a 5 ms sleep wakes: how long something held the event loop
                while True:
                    before = time.perf_counter()
                    await asyncio.sleep(0.005)
                    stalls.append(time.perf_counter() - before - 0.005)

            prober = asyncio.create_task(probe())
            started = time.perf_counter()
            task = asyncio.create_task(run_media(settings, archive, client))
            while (await queue.counts(archive))["pending"]:
                await asyncio.sleep(0.01)
            elapsed = time.perf_counter() - started
            traced_peak = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
            if trace:
                tracemalloc.stop()
            for running in (task, prober):
                running.cancel()
                try:
                    await running
                except asyncio.CancelledError:
                    pass
            row = await queue.file_of(archive, chat.id, message.id)
            assert row["status"] == "done" and row["size"] == size, row
            return {"seconds": elapsed, "mb_s": size / 2**20 / elapsed, "rss_before": before_now,
                    "rss_peak_growth": rss_peak_mb() - max(before_peak, before_now), "traced_peak": traced_peak,
                    "stall_ms": max(stalls) * 1000 if stalls else 0.0}
        finally:
            await archive.close()
            await client.disconnect()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=50)
    args = parser.parse_args()
    size = args.mb * 2**20
    timed = await one_run(size, trace=False)
    traced = await one_run(size, trace=True)
    uname = platform.uname()
    print(f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"- machine: {uname.system} {uname.release} {uname.machine}; {machine()['cpu']}")
    print(f"- python {platform.python_version()}; cryptg in use: {aes.cryptg is not None}")
    print(f"- command: `.venv/bin/python bench/bench_media.py{'' if args.mb == 50 else f' --mb {args.mb}'}`")
    print(f"- {args.mb} MB file, 512 KB parts, 1 worker: {timed['seconds']:.2f} s, **{timed['mb_s']:.0f} MB/s**")
    print(f"- memory while downloading: peak RSS growth {timed['rss_peak_growth']:.1f} MB "
          f"(RSS before {timed['rss_before']:.0f} MB, test file held by the offline Telegram); "
          f"tracemalloc peak {traced['traced_peak']:.1f} MB (traced run: {traced['mb_s']:.0f} MB/s)")
    print(f"- longest event-loop stall while downloading: {timed['stall_ms']:.1f} ms "
          "(includes the offline Telegram's own encryption, which runs in the same loop)")


if __name__ == "__main__":
    asyncio.run(main())
