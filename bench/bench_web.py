"""The web viewer's pages on a large archive (run by hand).

    .venv/bin/python bench/bench_web.py                       # 1,000,000 messages, built in a temp dir
    .venv/bin/python bench/bench_web.py --messages 200000 --no-record

The archive is built as bench/bench_archive.py builds it (500 chats, 30 days, 6% matched).
A signed-in client (Starlette's TestClient: the whole app, middleware, sessions and templates,
without sockets) fetches each page 5 times; first and median are shown. The reference is the
page's main SQL query run with plain sqlite3 on the same file, so the ratio is what the
viewer adds (the archive layer, search's joins, rendering, the session check).
"""
from __future__ import annotations

import argparse
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_archive import CHATS, DAYS, END, build  # noqa: E402
from bench.results import record  # noqa: E402
from bench.traffic import rss_mb  # noqa: E402

RUNS = 5
PASSWORD = "a password for the benchmark"


def timed(call) -> tuple[float, float]:
    runs = []
    for _ in range(RUNS):
        started = time.perf_counter()
        call()
        runs.append(time.perf_counter() - started)
    return runs[0], statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    from starlette.testclient import TestClient

    from bot.config import Settings
    from bot.web.accounts import Accounts
    from bot.web.app import create_app

    scratch = Path(tempfile.mkdtemp(prefix="bench-web-", dir=args.dir))
    try:
        storage = scratch / "storage"
        storage.mkdir()
        path = storage / "archive.sqlite3"
        built = build(path, args.messages, args.seed)
        print(f"built {args.messages:,} messages in {built['build']:.0f} s", flush=True)
        Accounts(storage).add("bench", PASSWORD)
        settings = Settings(storage=storage, keywords=ROOT / "keywords.example.toml")
        raw = sqlite3.connect(path)
        chat_id, message_id = raw.execute(
            "SELECT chat_id, message_id FROM messages WHERE matched = 1 ORDER BY id DESC LIMIT 1").fetchone()
        day = (END - timedelta(days=1)).astimezone(settings.digest_tz).date()
        start = f"{day}T00:00:00"  # the reference's day bounds, close enough to the page's local day
        pages = [
            ("chats with coverage `/`", "/",
             "SELECT chat_id, COUNT(*), SUM(matched), SUM(deleted_at IS NOT NULL), MIN(date), MAX(date) "
             "FROM messages GROUP BY chat_id", ()),
            ("topic feed, one day `/feed`", f"/feed?topic=szch&day={day}",
             "SELECT m.id FROM messages m WHERE m.date >= ? AND m.date < ? AND EXISTS (SELECT 1 FROM matches "
             "WHERE message = m.id AND topic = 'szch') ORDER BY m.date DESC LIMIT 1000",
             (start, f"{day + timedelta(days=1)}T00:00:00")),
            ("search, frequent word `/search?q=світло`", "/search?q=світло",
             "SELECT DISTINCT m.id, m.date FROM message_terms t JOIN messages m ON m.id = t.message "
             "WHERE t.term >= 'світло' AND t.term < 'світлп' ORDER BY m.date DESC LIMIT 200", ()),
            ("search, rare word `/search?q=СЗЧ`", "/search?q=СЗЧ",
             "SELECT DISTINCT m.id, m.date FROM message_terms t JOIN messages m ON m.id = t.message "
             "WHERE t.term >= 'сзч' AND t.term < 'сзш' ORDER BY m.date DESC LIMIT 200", ()),
            ("one chat's newest `/search?chat=…`", f"/search?chat={chat_id}",
             "SELECT m.id FROM messages m WHERE m.chat_id = ? ORDER BY m.date DESC LIMIT 200", (chat_id,)),
            ("one message `/message/…`", f"/message/{chat_id}/{message_id}",
             "SELECT * FROM messages WHERE chat_id = ? AND message_id = ?", (chat_id, message_id)),
        ]
        rows = []
        with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
            form = client.get("/login").text
            token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
            client.post("/login", data={"csrf": token, "name": "bench", "password": PASSWORD, "next": "/"})
            for name, url, sql, params in pages:
                response = client.get(url)
                assert response.status_code == 200, (url, response.status_code)
                first, median = timed(lambda: client.get(url))
                raw_first, raw_median = timed(lambda: raw.execute(sql, params).fetchall())
                rows.append((name, len(response.content), first, median, raw_median))
            rss = rss_mb()
        raw.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    table = ["| page | bytes | first | median of 5 | raw query (median) | × raw |", "|---|---:|---:|---:|---:|---:|"]
    for name, size, first, median, raw_median in rows:
        table.append(f"| {name} | {size:,} | {first * 1000:,.1f} ms | {median * 1000:,.1f} ms | "
                     f"{raw_median * 1000:,.1f} ms | {median / raw_median:.1f}× |")
    body = (f"Archive of {args.messages:,} messages in {CHATS} chats over {DAYS} days, 6% matched (built as "
            f"`bench_archive.py` does). Pages fetched signed in, through the whole app; RSS at the end "
            f"{rss:.0f} MB.\n\n" + "\n".join(table))
    print(body)
    if not args.no_record:
        record("Web viewer pages on a large archive",
               " ".join([".venv/bin/python bench/bench_web.py", *sys.argv[1:]]), body)


if __name__ == "__main__":
    main()
