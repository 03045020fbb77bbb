"""Import, export, evidence and verify throughput (run by hand).

    .venv/bin/python bench/bench_export_import.py                 # 10,000 messages in 20 chats
    .venv/bin/python bench/bench_export_import.py --messages 50000 --photo-kb 100 --no-record

1. A Telegram Desktop export (one account-wide result.json) is written from bench/traffic.py's
   generated chats; every photo gets a file of random bytes (--photo-kb), other media are
   "not included", as Desktop leaves them by default.
2. `dozor import --all` of it into a fresh archive (match, archive, store each photo by hash),
   then the same import again (idempotent: nothing changes).
3. `dozor export` of everything (JSONL + CSV + media copied), `--evidence` (manifest, chain,
   signature), and `dozor verify` of that bundle.

References, measured in the same run on the same data: plain `executemany` of the message
rows into the same schema (for import), plain `SELECT` + `json.dumps` of every message row to
a file (for export), `shutil.copyfile` + SHA-256 of the same media files (for the bytes).
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import record  # noqa: E402
from bench.traffic import Traffic, raw_insert_rate, rss_mb  # noqa: E402

NOT_INCLUDED = "(File not included. Change data exporting settings to download.)"


def write_export(folder: Path, count: int, chats: int, photo_kb: int, seed: int):
    traffic = Traffic(seed=seed)
    specs = traffic.chats(chats)
    per_chat = count // chats
    listing, posts, photo_bytes = [], [], 0
    rnd = os.urandom
    (folder / "photos").mkdir(parents=True)
    for spec in specs:
        chat_posts = traffic.posts(spec, per_chat)
        posts.extend(chat_posts)
        messages = []
        for post in chat_posts:
            item = {"id": post.message_id, "type": "message", "date": post.date.replace(tzinfo=None).isoformat(),
                    "date_unixtime": str(int(post.date.timestamp())), "from": spec.title,
                    "from_id": f"channel{spec.channel_id}", "text": post.text, "text_entities": []}
            if post.media is not None and post.media.kind == "photo":
                name = f"photos/photo_{spec.number}_{post.message_id}.jpg"
                (folder / name).write_bytes(rnd(photo_kb * 1024))
                photo_bytes += photo_kb * 1024
                item.update(photo=name, width=1280, height=960)
            elif post.media is not None:
                item.update(file=NOT_INCLUDED, media_type={"video": "video_file", "voice": "voice_message"}.get(
                    post.media.kind, None), mime_type=post.media.mime_type)
            messages.append(item)
        listing.append({"name": spec.title, "type": "public_supergroup" if spec.megagroup else "public_channel",
                        "id": spec.channel_id, "messages": messages})
    (folder / "result.json").write_text(json.dumps({"chats": {"list": listing}}, ensure_ascii=False),
                                        encoding="utf-8")
    return posts, photo_bytes


def raw_export_rate(archive: Path, out: Path) -> float:
    """Rows per second for SELECT * of every message + json.dumps + write: no dozor."""
    db = sqlite3.connect(archive)
    db.row_factory = sqlite3.Row
    started = time.perf_counter()
    rows = 0
    with open(out, "wb") as f:
        for row in db.execute("SELECT * FROM messages ORDER BY date, id"):
            f.write(json.dumps(dict(row), ensure_ascii=False).encode() + b"\n")
            rows += 1
    elapsed = time.perf_counter() - started
    db.close()
    return rows / elapsed


def raw_copy_rate(files: list[Path], out: Path) -> float:
    """Bytes per second for copyfile + SHA-256 of the same files: no dozor."""
    out.mkdir()
    started = time.perf_counter()
    total = 0
    for n, path in enumerate(files):
        data = path.read_bytes()
        hashlib.sha256(data).hexdigest()
        (out / f"{n}.jpg").write_bytes(data)
        total += len(data)
    return total / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--photo-kb", type=int, default=60)
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a temp dir)")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    from bot.archive import Archive
    from bot.export.bundle import Selection, export
    from bot.export.keys import signing_key
    from bot.export.verify import verify
    from bot.imports.desktop import read_export
    from bot.imports.importer import import_export
    from bot.matching import load_rules
    from bot.media.store import MediaStore

    scratch = Path(tempfile.mkdtemp(prefix="bench-export-", dir=args.dir))
    try:
        source = scratch / "ChatExport"
        posts, photo_bytes = write_export(source, args.messages, args.chats, args.photo_kb, args.seed)
        storage = scratch / "storage"
        storage.mkdir()
        rules = load_rules(ROOT / "keywords.example.toml")
        store = MediaStore(storage / "media")

        async def run_import():
            started = time.perf_counter()
            parsed = read_export(source)
            async with Archive.opened(storage / "archive.sqlite3", must_exist=False) as archive:
                report = await import_export(archive, store, rules, parsed, keep_all=True)
            return time.perf_counter() - started, report

        first, report = asyncio.run(run_import())
        again, report_again = asyncio.run(run_import())
        archived = sum(c.archived for c in report.chats)
        stored = sum(c.media_stored for c in report.chats)
        assert sum(c.archived + c.media_stored for c in report_again.chats) == 0, "the second import changed things"

        async def run_export(out, key):
            started = time.perf_counter()
            async with Archive.opened(storage / "archive.sqlite3") as archive:
                summary = await export(archive, storage, out, Selection(), key)
            return time.perf_counter() - started, summary

        plain, summary = asyncio.run(run_export(scratch / "plain", None))
        evidence, bundle = asyncio.run(run_export(scratch / "bundle", signing_key(storage)))
        started = time.perf_counter()
        checked = verify(scratch / "bundle")
        verified = time.perf_counter() - started
        rss = rss_mb()

        raw_insert = raw_insert_rate(scratch / "raw.sqlite3", posts)
        raw_export = raw_export_rate(storage / "archive.sqlite3", scratch / "raw.jsonl")
        raw_copy = raw_copy_rate(sorted((source / "photos").iterdir()), scratch / "raw-copy")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    n = summary.messages
    mb = summary.bytes / 1e6
    rows = [
        ("import (`dozor import --all`: read, match, archive, store photos)", archived / first, mb / first,
         raw_insert, "raw `executemany` of the message rows"),
        ("import again (idempotent, nothing written)", archived / again, None, raw_insert, "same"),
        ("export (JSONL + CSV + media copied, hashed)", n / plain, mb / plain, raw_export,
         "raw SELECT + json.dumps of every row"),
        ("export --evidence (+ manifest chain, signature)", n / evidence, mb / evidence, raw_export, "same"),
        ("verify the bundle", checked.messages / verified, mb / verified, raw_export, "same"),
    ]
    table = ["| step | msgs/s | media MB/s | × raw | raw reference (msgs/s) |", "|---|---:|---:|---:|---|"]
    for name, rate, mbs, raw, what in rows:
        table.append(f"| {name} | {rate:,.0f} | {'' if mbs is None else f'{mbs:,.1f}'} | {rate / raw:.2f}× | "
                     f"{what}: {raw:,.0f} |")
    table.append(f"| raw copy + SHA-256 of the same photo files | | {raw_copy / 1e6:,.1f} | | (media reference) |")
    body = (f"{args.messages:,} generated messages in {args.chats} chats (seed {args.seed}), all archived "
            f"(`--all`); {stored:,} photos of {args.photo_kb} KB ({photo_bytes / 1e6:,.1f} MB) stored by hash, "
            f"other media not in the export. Bundle: {bundle.entries:,} manifest entries. "
            f"Times: import {first:.1f} s, again {again:.1f} s, export {plain:.1f} s, evidence {evidence:.1f} s, "
            f"verify {verified:.1f} s; RSS at the end {rss:.0f} MB.\n\n" + "\n".join(table))
    print(body)
    if not args.no_record:
        record("Import, export and evidence", " ".join([".venv/bin/python bench/bench_export_import.py",
                                                         *sys.argv[1:]]), body)


if __name__ == "__main__":
    main()
