"""Catch-up after downtime through the channel difference, and the requests dozor makes in
steady state, at 500 chats through the offline Telegram (run by hand).

    .venv/bin/python bench/bench_coverage.py                       # 500 chats, 1 h down, 120 s steady
    .venv/bin/python bench/bench_coverage.py --chats 100 --no-record

Catch-up: the service reads 500 joined channels once, is killed (nothing written on the way
out), and while it is down each chat gets an hour of traffic (`--posts` posts, a tenth of
them later edited and a twentieth deleted, far below the checkpoint too). The clock runs
from the restart to the moment every chat's checkpoint has reached its last post and every
edit and deletion is in the archive. Reference, same run: a bare Telethon client asking the
same 500 differences one after the other, storing nothing.

Steady state: the service runs for `--seconds` with live traffic (`--rate` posts a second
across the chats, delivered live) and the poll interval `--interval`; the requests the
offline Telegram answered are counted per method and scaled to an hour. Polls of chats
whose updates arrive live grow to the interval, so the difference count scales with
1/interval: the figure at the default 900 s is derived from the measured one. Reference:
what the former quiet-chat timer cost, one GetHistory per chat every 300 s.
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
from tests.telegram_fake import FakeTelegram  # noqa: E402
from telethon import functions, types  # noqa: E402

MATCHING = "Біля метро Лівобережна ТЦК роздають повістки і пакують чоловіків у бус"
OTHER = "Сьогодні в Києві сонячно, до вечора +12, без опадів"


async def _nothing() -> None:
    return None


async def _wait(condition, task, limit=600.0):
    started = time.perf_counter()
    while not await condition():
        if task.done():
            task.result()
        if time.perf_counter() - started > limit:
            raise TimeoutError("gave up")
        await asyncio.sleep(0.05)


async def catch_up(args, fake: FakeTelegram, settings: Settings) -> dict:
    rnd = random.Random(args.seed)
    channels = [fake.add_channel(username=f"bench_{n:04d}", title=f"Чат {n}", joined=True) for n in range(args.chats)]
    for channel in channels:
        for k in range(20):
            fake.post(channel, MATCHING if k % 3 == 0 else OTHER)
    settings = replace(settings, chats=tuple(f"@bench_{n:04d}" for n in range(args.chats)), keep_all_chats=(),
                       catchup_interval=3600)

    first = Service(settings, client_options={"connection": fake.connection}, history_wait=0)
    first._flush = _nothing  # killed: nothing is written on the way out
    task = asyncio.create_task(first.run(asyncio.Event()))

    async def primed():
        return first.ready.is_set() and first.catchup.idle and all(first.coverage.pts(c.marked_id) for c in channels)

    await _wait(primed, task)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass

    edits, deletions = {}, {}
    for channel in channels:
        older = [m.id for m in fake.messages(channel) if m.message == MATCHING]  # archived before the kill
        ids = [fake.post(channel, MATCHING if rnd.random() < 0.3 else OTHER, deliver=False).id
               for _ in range(args.posts)]
        for message_id in rnd.sample(older, max(1, len(older) // 10)):
            fake.edit(channel, message_id, MATCHING + " (змінено)", deliver=False)
            edits.setdefault(channel.marked_id, []).append(message_id)
        gone = [i for i in older if i not in edits[channel.marked_id]][:max(1, len(older) // 20)]
        if gone:
            fake.delete(channel, gone, deliver=False)
            deletions[channel.marked_id] = gone
        assert ids
    last = {c.marked_id: fake.messages(c)[-1].id for c in channels}
    events = sum(len(v) for v in edits.values()) + sum(len(v) for v in deletions.values())

    second = Service(settings, client_options={"connection": fake.connection}, history_wait=0)
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(second.run(stop))

    async def complete():
        if not second.ready.is_set() or not second.catchup.idle:
            return False
        rows = await second.archive.rows("SELECT id, checkpoint FROM chats")
        if not all(r["checkpoint"] >= last[r["id"]] for r in rows):
            return False
        edited = await second.archive.row("SELECT COUNT(*) FROM message_versions")
        marked = await second.archive.row("SELECT COUNT(*) FROM messages WHERE deleted_at IS NOT NULL")
        return edited[0] >= sum(len(v) for v in edits.values()) and \
            marked[0] >= sum(len(v) for v in deletions.values())

    try:
        await _wait(complete, task)
        seconds = time.perf_counter() - started
        requests = collections.Counter(fake.requests)
    finally:
        stop.set()
        await asyncio.wait_for(task, 120)

    # reference: the same differences asked by a bare client, one after the other, nothing stored
    client = fake.client(settings.session_path)
    await client.connect()
    try:
        peers = [await client.get_input_entity(f"bench_{n:04d}") for n in range(args.chats)]
        started = time.perf_counter()
        for peer in peers:
            await client(functions.updates.GetChannelDifferenceRequest(
                peer, types.ChannelMessagesFilterEmpty(), 1, 100))
        raw = time.perf_counter() - started
    finally:
        await client.disconnect()
    return {"seconds": seconds, "raw": raw, "posts": args.posts * args.chats, "events": events,
            "differences": requests["GetChannelDifferenceRequest"], "histories": requests["GetHistoryRequest"]}


async def steady(args, fake: FakeTelegram, settings: Settings) -> dict:
    channels = [fake.add_channel(username=f"steady_{n:04d}", title=f"Чат {n}", joined=True) for n in range(args.chats)]
    settings = replace(settings, chats=tuple(f"@steady_{n:04d}" for n in range(args.chats)),
                       catchup_interval=args.interval)
    service = Service(settings, client_options={"connection": fake.connection}, history_wait=0)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    rnd = random.Random(args.seed)
    try:
        async def started():
            return service.ready.is_set() and service.catchup.idle

        await _wait(started, task)
        # let the first polls' intervals grow to where they settle before counting
        await asyncio.sleep(args.interval)
        before = collections.Counter(fake.requests)
        began = time.perf_counter()
        while time.perf_counter() - began < args.seconds:
            fake.post(rnd.choice(channels), OTHER)
            await asyncio.sleep(1 / args.rate)
        counted = collections.Counter(fake.requests) - before
        elapsed = time.perf_counter() - began
    finally:
        stop.set()
        await asyncio.wait_for(task, 120)
    return {"per_hour": {k: v * 3600 / elapsed for k, v in counted.items()}, "elapsed": elapsed}


async def run(args) -> dict:
    logging.basicConfig(level=logging.WARNING)
    out = {}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for part in ("catch_up", "steady"):
            fake = FakeTelegram()
            fake.calls = collections.deque(maxlen=1)
            storage = Path(tmp) / part
            storage.mkdir()
            fake.authorise_session(str(storage / "dozor.session"))
            settings = Settings(api_id=fake.API_ID, api_hash=fake.API_HASH, storage=storage, keywords=KEYWORDS)
            out[part] = await (catch_up if part == "catch_up" else steady)(args, fake, settings)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=500)
    parser.add_argument("--posts", type=int, default=12, help="posts per chat while down (an hour's traffic)")
    parser.add_argument("--seconds", type=float, default=120.0, help="steady state: how long to count")
    parser.add_argument("--interval", type=float, default=60.0, help="steady state: DOZOR_CATCHUP_INTERVAL")
    parser.add_argument("--rate", type=float, default=2.0, help="steady state: live posts a second")
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--dir", default=None)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    out = asyncio.run(run(args))
    c, s = out["catch_up"], out["steady"]
    rows = "".join(f"| {name} | {value:,.0f} |\n" for name, value in sorted(s["per_hour"].items()))
    difference = s["per_hour"].get("GetChannelDifferenceRequest", 0.0)
    old_timer = args.chats * 3600 / 300
    body = (f"**Catch-up after 1 h down**: {args.chats} joined channels, {c['posts']:,} posts made while down, "
            f"{c['events']:,} edits and deletions of older messages (many far below the checkpoint).\n\n"
            f"| figure | value |\n|---|---:|\n"
            f"| **restart → every post, edit and deletion in the archive** | **{c['seconds']:.1f} s** |\n"
            f"| GetChannelDifference / GetHistory requests (both starts) | {c['differences']:,} / {c['histories']:,} |\n"
            f"| reference: bare client, the same {args.chats} differences in a row, nothing stored | "
            f"{c['raw']:.1f} s (catch-up is {c['seconds'] / c['raw']:.1f}× that) |\n\n"
            f"**Steady state**: {args.chats} chats, {args.rate:g} live posts/s, DOZOR_CATCHUP_INTERVAL={args.interval:g} s, "
            f"counted over {s['elapsed']:.0f} s, scaled to an hour.\n\n"
            f"| method | requests per hour |\n|---|---:|\n{rows}\n"
            f"At the default interval (900 s) the difference polls scale to about "
            f"{difference * args.interval / 900:,.0f} an hour. Reference: the former quiet-chat timer re-read "
            f"every chat's history every 300 s, {old_timer:,.0f} GetHistory an hour (measured: "
            f"{difference / old_timer:.2f}× that in differences at {args.interval:g} s, "
            f"{difference * args.interval / 900 / old_timer:.2f}× at 900 s).\n")
    print(body)
    if not args.no_record:
        command = ".venv/bin/python bench/bench_coverage.py" + "".join(
            f" {a}" for a in sys.argv[1:] if a != "--no-record")
        record("Coverage: catch-up after 1 h down and steady-state requests, 500 chats", command, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
