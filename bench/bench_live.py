"""Live latency of the real service fed by the offline Telegram across 500 chats (run by hand).

    .venv/bin/python bench/bench_live.py                       # 50 msg/s for 30 s, then steps up
    .venv/bin/python bench/bench_live.py --minutes 10 --rates 50   # memory over a longer run
    .venv/bin/python bench/bench_live.py --no-record

The service runs unmodified (`Service(settings, client_options={"connection": fake.connection},
history_wait=0)`), joins 500 generated channels and city chats, and catches up. Then
bench/traffic.py posts into random chats at a steady rate. Latency is from `fake.post`
returning (the update is encrypted and queued on the client's connection) to the commit:
`Archive.ingest` is wrapped in this process, not changed, and notes when each batch is
committed (every message goes through it, matched or not).

A rate is *sustained* when every message of the step was committed within 2 s of the
step's end, p99 stays under 1 s, and the latency at the end of the step is not growing
(median of its last third at most twice that of its first third + 20 ms).

The offline Telegram runs in the same process and event loop: its encryption, request
handling and `post` cost CPU the service will not pay in production. Its share is measured
by timing its two synchronous entry points (`post`, which builds, encrypts and pushes the
update, and `_on_packet`, which answers every request) and is shown next to the process's
CPU. Its request/answer logs are capped so they do not count as the service's memory; the
messages it stores are inherent and are counted in RSS (see the RSS before start).
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import record  # noqa: E402
from bench.traffic import KEYWORDS, Traffic, cpu_seconds, percentile, rss_mb  # noqa: E402
from bot.archive import Archive  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.service import Service  # noqa: E402
from tests.telegram_fake import FakeTelegram  # noqa: E402

committed: dict[tuple[int, int], float] = {}


def instrument_archive() -> None:
    original = Archive.ingest

    async def ingest(self, chat, items, advance_checkpoint=True):
        report = await original(self, chat, items, advance_checkpoint)
        now = time.perf_counter()
        for post, _ in items:
            committed.setdefault((post.chat_id, post.message_id), now)
        return report

    Archive.ingest = ingest


class FakeMeter:
    """Seconds spent inside the offline Telegram's synchronous entry points."""

    def __init__(self, fake: FakeTelegram):
        self.seconds = 0.0
        for name in ("post", "_on_packet"):
            setattr(fake, name, self._timed(getattr(fake, name)))

    def _timed(self, fn):
        def run(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
        return run


async def wait_for(condition, limit: float, step: float = 0.05) -> bool:
    deadline = time.perf_counter() + limit
    while not condition():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(step)
    return True


async def step(fake, meter, channels, traffic, rnd, rate: float, seconds: float) -> dict:
    """Post at `rate` for `seconds`; latencies of what was posted, CPU and RSS."""
    sent: dict[tuple[int, int], float] = {}
    order: list[tuple[int, int]] = []
    drafts: dict[int, collections.deque] = {}
    cpu0, fake0, wall0 = cpu_seconds(), meter.seconds, time.perf_counter()
    total = int(rate * seconds)
    for i in range(total):
        due = wall0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        spec, channel = channels[rnd.randrange(len(channels))]
        queue = drafts.setdefault(spec.number, collections.deque())
        if not queue:
            queue.extend(d for d in traffic.drafts(spec, 20) if d.grouped_id is None)
        message = traffic.publish_draft(fake, channel, queue.popleft())
        key = (channel.marked_id, message.id)
        sent[key] = time.perf_counter()
        order.append(key)
    posting = time.perf_counter() - wall0
    drained = await wait_for(lambda: all(k in committed for k in order[-200:]) and all(k in committed for k in order),
                             2.0)
    wall = time.perf_counter() - wall0
    latencies = [committed[k] - sent[k] for k in order if k in committed]
    third = max(1, len(order) // 3)
    first = [committed[k] - sent[k] for k in order[:third] if k in committed]
    last = [committed[k] - sent[k] for k in order[-third:] if k in committed]
    growing = percentile(last, 50) > 2 * percentile(first, 50) + 0.020
    p99 = percentile(latencies, 99)
    return {
        "rate": rate, "posted": total, "offered": total / posting, "committed": len(latencies),
        "p50": percentile(latencies, 50), "p99": p99, "max": max(latencies, default=float("nan")),
        "cpu": (cpu_seconds() - cpu0) / wall, "fake": (meter.seconds - fake0) / wall, "rss": rss_mb(),
        "sustained": drained and p99 < 1.0 and not growing and len(latencies) == total,
    }


async def run(args) -> dict:
    logging.basicConfig(level=logging.WARNING)
    instrument_archive()
    traffic = Traffic(seed=args.seed)
    rnd = random.Random(args.seed)
    fake = FakeTelegram()
    # the offline Telegram logs every request and answer; those logs are the fake's, not the service's
    fake.calls = collections.deque(maxlen=1)
    fake.requests = collections.deque(maxlen=100)
    specs = traffic.chats(args.chats)
    channels = [(s, fake.add_channel(username=s.username, title=s.title, megagroup=s.megagroup)) for s in specs]
    meter = FakeMeter(fake)
    out: dict = {"steps": [], "samples": []}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        storage = Path(tmp) / "storage"
        storage.mkdir()
        fake.authorise_session(str(storage / "dozor.session"))
        settings = Settings(api_id=fake.API_ID, api_hash=fake.API_HASH, storage=storage, keywords=KEYWORDS,
                            chats=tuple(f"@{s.username}" for s in specs), catchup_interval=3600)
        out["rss_before"] = rss_mb()
        service = Service(settings, client_options={"connection": fake.connection}, history_wait=0)
        stop = asyncio.Event()
        started = time.perf_counter()
        task = asyncio.create_task(service.run(stop))
        try:
            ready = asyncio.create_task(service.ready.wait())
            await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED, timeout=600)
            if task.done():
                task.result()
            await wait_for(lambda: service.catchup.idle and not service.catchup.busy, 600)
            out["startup"] = time.perf_counter() - started
            out["rss_ready"] = rss_mb()
            out["watching"] = len(service.ingestor.chats)
            for rate in args.rates:
                seconds = args.first_seconds if rate == args.rates[0] else args.seconds
                result = await step(fake, meter, channels, traffic, rnd, rate, seconds)
                out["steps"].append(result)
                print(f"{rate:>5} msg/s: p50 {result['p50'] * 1000:.1f} ms, p99 {result['p99'] * 1000:.1f} ms, "
                      f"CPU {result['cpu']:.0%} (offline Telegram {result['fake']:.0%}), RSS {result['rss']:.0f} MB, "
                      f"{'sustained' if result['sustained'] else 'NOT sustained'}", flush=True)
                if not result["sustained"]:
                    break
                await wait_for(lambda: service.feed.queue.empty(), 30)
            if args.minutes:
                if args.trace_memory:
                    tracemalloc.start(16)
                    baseline = tracemalloc.take_snapshot()
                loop_started = time.perf_counter()
                while time.perf_counter() - loop_started < args.minutes * 60:
                    result = await step(fake, meter, channels, traffic, rnd, args.rates[0], 30)
                    minute = (time.perf_counter() - loop_started) / 60
                    out["samples"].append((minute, result))
                    print(f"  {minute:5.1f} min: RSS {result['rss']:.0f} MB, p99 {result['p99'] * 1000:.1f} ms",
                          flush=True)
                if args.trace_memory:
                    out["growth"] = attribute_growth(tracemalloc.take_snapshot().compare_to(baseline, "traceback"))
                    tracemalloc.stop()
            ingestor = service.ingestor
            out["state"] = {
                "Ingestor.chats": len(ingestor.chats), "Coverage chats": len(service.coverage.chats),
                "Coverage.heard_live": len(service.coverage.heard_live),
                "CatchUp._pending": len(service.catchup._pending),
                "LiveFeed.queue": service.feed.queue.qsize(),
                "Telethon entity cache": len(getattr(service.client, "_mb_entity_cache", {}).__dict__.get(
                    "hash_map", {})) if hasattr(service.client, "_mb_entity_cache") else "?",
            }
            out["archived"] = (await service.archive.totals())["messages"]
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)
    return out


def attribute_growth(diff) -> dict[str, float]:
    """Memory still held at the end of the long run, in MB, by whose code allocated it: the
    offline Telegram (it keeps every post), this benchmark's own bookkeeping, the service,
    or Telethon and the standard library on the service's behalf."""
    owners = {"offline Telegram": "tests/telegram_fake.py", "benchmark": "/bench/", "dozor": "/bot/"}
    growth = dict.fromkeys([*owners, "Telethon / other, for the service"], 0.0)
    lines: collections.Counter[str] = collections.Counter()
    for stat in diff:
        files = [frame.filename for frame in stat.traceback]
        owner = next((name for name, part in owners.items() if any(part in f for f in files)),
                     "Telethon / other, for the service")
        growth[owner] += stat.size_diff / 2**20
        if owner == "dozor":
            frame = next(f for f in reversed(stat.traceback) if "/bot/" in f.filename)  # the innermost
            lines[f"{frame.filename.split('/bot/')[-1]}:{frame.lineno}"] += stat.size_diff
    for where, size in lines.most_common(5):
        print(f"    dozor {where}: {size / 2**20:+.2f} MB")
    return growth


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=500)
    parser.add_argument("--rates", type=float, nargs="+", default=[50, 100, 200, 400, 800, 1600, 3200])
    parser.add_argument("--first-seconds", type=float, default=30.0, help="length of the first (target) step")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of every later step")
    parser.add_argument("--minutes", type=float, default=0.0, help="then post at the first rate this long, "
                                                                   "sampling RSS every 30 s")
    parser.add_argument("--trace-memory", action="store_true",
                        help="with --minutes: attribute the memory that grew to its owner (slower)")
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--dir", default=None)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    out = asyncio.run(run(args))

    lines = ["| rate msg/s | posted | achieved msg/s | p50 ms | p99 ms | max ms | CPU (1 core = 100%) "
             "| of which offline Telegram | RSS MB | sustained |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for s in out["steps"]:
        lines.append(f"| {s['rate']:.0f} | {s['posted']} | {s['offered']:.0f} | {s['p50'] * 1000:.1f} | "
                     f"{s['p99'] * 1000:.1f} | {s['max'] * 1000:.0f} | {s['cpu']:.0%} | {s['fake']:.0%} | "
                     f"{s['rss']:.0f} | {'yes' if s['sustained'] else '**no**'} |")
    sustained = [s["rate"] for s in out["steps"] if s["sustained"]]
    summary = (f"{out['watching']} chats watched (joined at start, half city chats); start-up to caught-up: "
               f"{out['startup']:.1f} s. RSS before the service started (offline Telegram with {args.chats} "
               f"chats): {out['rss_before']:.0f} MB; once caught up: {out['rss_ready']:.0f} MB. "
               f"Highest rate sustained: {max(sustained) if sustained else 'none'} msg/s "
               f"(steps: {args.first_seconds:.0f} s for the first, {args.seconds:.0f} s for the others).")
    if out["samples"]:
        summary += "\n\nLonger run at {:.0f} msg/s, RSS by minute: ".format(args.rates[0]) + ", ".join(
            f"{m:.1f}: {r['rss']:.0f} MB" for m, r in out["samples"]) + "."
    if out.get("growth"):
        summary += ("\n\nMemory grown during the longer run, by owner (tracemalloc): " + ", ".join(
            f"{owner} {mb:+.1f} MB" for owner, mb in out["growth"].items()) + ".")
    summary += ("\n\nState after the run: " + ", ".join(f"{k} {v}" for k, v in out["state"].items())
                + f"; {out['archived']} messages archived.")
    table = "\n".join(lines)
    print(summary)
    print(table)
    if not args.no_record:
        command = ".venv/bin/python bench/bench_live.py" + "".join(f" {a}" for a in sys.argv[1:] if a != "--no-record")
        record("Live: latency across 500 chats through the offline Telegram", command, f"{summary}\n\n{table}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
