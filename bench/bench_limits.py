"""Telegram's limits at 500 chats: requests per hour per method in steady state against the
budget, and the time from a cold start with 500 new chats to full coverage (run by hand).

    .venv/bin/python bench/bench_limits.py                 # time scaled 60×, about 4 minutes
    .venv/bin/python bench/bench_limits.py --scale 30 --chats 200 --no-record

A real run takes hours (500 resolutions at 10 a minute alone take 50 minutes), so time is
scaled: every budget rate is multiplied by `--scale` and the quiet-chat interval divided by
it, and wall-clock figures are multiplied back. What does not scale is Telethon's own
timers (pings, its 15-minute channel poll), which this run therefore under-counts.

- Cold start: `--chats` new public channels, each with `--posts` posts of the last day,
  none resolved or joined. The offline Telegram plays peers' reported limits, scaled the
  same way (30 resolutions a minute, 200 joins an hour, 3,000 history messages per 30 s):
  the run counts every FLOOD_WAIT it answers. "Full coverage" is the moment every chat
  has been read from history once; joins go on afterwards at their own pace.
- Steady state: the same number of channels the account is already in and that dozor
  has read, with live posts arriving (`--posts-per-hour` per chat); the requests of each
  method over `--window` scaled minutes, as per hour, beside the budget's ceiling and
  beside the same run with the budget lifted (the reference: what dozor asks for).
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
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import record  # noqa: E402
from bench.traffic import KEYWORDS  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.service import Service  # noqa: E402
from bot.telegram.budget import DEFAULT_RATES, METHODS, method_of  # noqa: E402
from tests.telegram_fake import FakeTelegram  # noqa: E402

TEXT = "Біля метро Лівобережна ТЦК роздають повістки і пакують чоловіків у бус"
OTHER = "Сьогодні в Києві сонячно, до вечора +12, без опадів"


def world(chats: int, posts: int, joined: bool) -> tuple[FakeTelegram, list]:
    fake = FakeTelegram()
    fake.calls = collections.deque(maxlen=1)
    channels = []
    for n in range(chats):
        channel = fake.add_channel(username=f"city_{n:04d}", title=f"Місто {n}", joined=joined)
        for i in range(posts):
            fake.post(channel, TEXT if i % 10 == 0 else OTHER, deliver=False)
        channels.append(channel)
    return fake, channels


def settings_for(storage: Path, channels, scale: float) -> Settings:
    rates = {f"rate_{method}": rate * scale for method, rate in DEFAULT_RATES.items()}
    return Settings(api_id=FakeTelegram.API_ID, api_hash=FakeTelegram.API_HASH, storage=storage, keywords=KEYWORDS,
                    chats=tuple(f"@{c.username}" for c in channels), catchup_interval=300.0 / scale, **rates)


def requests_by_method(fake: FakeTelegram) -> collections.Counter:
    return collections.Counter(method_of(name) for name in fake.requests)


def read_all(service, channels) -> bool:
    """Every channel read once: coverage knows a moment it is complete up to."""
    return all(service.coverage.complete_up_to(c.marked_id) is not None for c in channels)


async def cold_start(args) -> dict:
    fake, channels = world(args.chats, args.posts, joined=False)
    window = 60.0 / args.scale  # one scaled minute
    fake.rate_limit("ResolveUsernameRequest", count=30, per=window)
    fake.rate_limit("JoinChannelRequest", count=200, per=60 * window)
    fake.rate_limit("GetHistoryRequest", count=30, per=window / 2)  # 3,000 messages in 100-message pages
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        storage = Path(tmp) / "storage"
        storage.mkdir()
        fake.authorise_session(str(storage / "dozor.session"))
        service = Service(settings_for(storage, channels, args.scale), client_options={"connection": fake.connection},
                          history_wait=0)
        stop = asyncio.Event()
        started = time.perf_counter()
        task = asyncio.create_task(service.run(stop))
        try:
            while service.coverage is None or not read_all(service, channels):
                if task.done():
                    task.result()
                await asyncio.sleep(0.1)
            covered = time.perf_counter() - started
            joined = sum(fake.joined(c) for c in channels)
        finally:
            stop.set()
            await task
    counts = requests_by_method(fake)
    return {"covered": covered * args.scale, "joined": joined, "requests": counts, "floods": len(fake.rate_floods)}


async def steady(args, lifted: bool) -> dict:
    fake, channels = world(args.chats, 3, joined=True)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        storage = Path(tmp) / "storage"
        storage.mkdir()
        fake.authorise_session(str(storage / "dozor.session"))
        settings = settings_for(storage, channels, args.scale)
        if lifted:
            settings = replace(settings, **{f"rate_{m}": 1e9 for m in METHODS})
        service = Service(settings, client_options={"connection": fake.connection}, history_wait=0)
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        rng = random.Random(args.seed)
        try:
            while not (service.ready.is_set() and read_all(service, channels)
                       and service.plan.settled):
                if task.done():
                    task.result()
                await asyncio.sleep(0.1)
            before = requests_by_method(fake)
            wall = args.window * 60.0 / args.scale
            interval = 3600.0 / (args.posts_per_hour * len(channels)) / args.scale
            began = time.perf_counter()
            posted = 0
            while time.perf_counter() - began < wall:
                fake.post(rng.choice(channels), TEXT if posted % 10 == 0 else OTHER)
                posted += 1
                await asyncio.sleep(interval)
            elapsed = time.perf_counter() - began
            after = requests_by_method(fake)
        finally:
            stop.set()
            await task
    hours = elapsed * args.scale / 3600.0
    return {"per_hour": {m: (after[m] - before[m]) / hours for m in METHODS}, "posted": posted}


def table(cold: dict, paced: dict, raw: dict, args) -> str:
    resolution = args.chats / DEFAULT_RATES["resolve"]
    history_requests = cold["requests"]["history"]
    lines = [
        f"{args.chats} public channels; time scaled {args.scale:g}× (budget rates ×{args.scale:g}, quiet-chat "
        f"interval 300 s ÷ {args.scale:g}); figures below are scaled back to real time.",
        "",
        "### Cold start: new chats to full coverage (every chat read from history once), default budget",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| measured: start → full coverage | {cold['covered'] / 60:.1f} min |",
        f"| computed from the budget: {args.chats} resolutions at {DEFAULT_RATES['resolve']:g}/min | "
        f"{resolution:.1f} min |",
        f"| computed from the budget: {history_requests} history requests at {DEFAULT_RATES['history']:g}/min | "
        f"{history_requests / DEFAULT_RATES['history']:.1f} min |",
        f"| ratio measured / the larger computed bound | "
        f"{cold['covered'] / 60 / max(resolution, history_requests / DEFAULT_RATES['history']):.2f}× |",
        f"| joined at full coverage (joins go on at {DEFAULT_RATES['join']:g}/min: all {args.chats} after "
        f"{args.chats / DEFAULT_RATES['join'] / 60:.1f} h) | {cold['joined']} |",
        f"| FLOOD_WAIT answered by the offline Telegram playing peers' limits | {cold['floods']} |",
        "",
        "### Steady state: requests per hour per method at " + f"{args.chats} chats",
        "",
        f"Live posts: {args.posts_per_hour:g} per chat per hour; window {args.window:g} min (scaled). Reference: "
        "the same run with the budget lifted (what dozor asks for).",
        "",
        "| method | budget ceiling /h | paced /h | % of ceiling | reference (unpaced) /h | paced ÷ reference |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for method in METHODS:
        ceiling = DEFAULT_RATES[method] * 60
        got, want = paced["per_hour"][method], raw["per_hour"][method]
        ratio = f"{got / want:.2f}×" if want else "—"
        lines.append(f"| {method} | {ceiling:,.0f} | {got:,.0f} | {100 * got / ceiling:.0f}% | {want:,.0f} | {ratio} |")
    return "\n".join(lines)


async def main(args) -> None:
    logging.basicConfig(level=logging.ERROR)
    cold = await cold_start(args)
    print(f"cold start covered after {cold['covered'] / 60:.1f} min (scaled), floods {cold['floods']}")
    paced = await steady(args, lifted=False)
    raw = await steady(args, lifted=True)
    body = table(cold, paced, raw, args)
    print(body)
    if args.record:
        command = "python bench/bench_limits.py" + "".join(f" {a}" for a in sys.argv[1:])
        record("Telegram's limits: the request budget at 500 chats", command, body)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=500)
    parser.add_argument("--posts", type=int, default=30, help="posts per chat in the last day, for the cold start")
    parser.add_argument("--scale", type=float, default=60.0)
    parser.add_argument("--window", type=float, default=30.0, help="steady-state minutes measured (scaled)")
    parser.add_argument("--posts-per-hour", type=float, default=2.0, help="live posts per chat per hour")
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--dir", default=None, help="where the scratch archive goes")
    parser.add_argument("--no-record", dest="record", action="store_false")
    asyncio.run(main(parser.parse_args()))
