"""Write an export folder: messages.jsonl, messages.csv, media/ and, for evidence, the manifest.

    summary = await export(archive, settings.storage, Path("out"), Selection(topic="szch"),
                           key=signing_key(settings.storage))   # key=None: a plain export
    summary.messages, summary.files, summary.bytes

Everything is written under `<out>.partial/` and renamed to `<out>` at the end, so an export
that fails half-way leaves nothing that looks finished. Media files are hashed while they are
copied: a stored file that no longer matches the archive's SHA-256 stops the export and is named.
"""
from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.archive import Archive, utcnow
from bot.archive.records import Record, records
from bot.export.evidence import GENESIS, canonical, link, sha256, signed_statement
from bot.export.keys import public_pem
from bot.export.rows import CSV_COLUMNS, csv_row, json_line

MESSAGES = "messages.jsonl"
TABLE = "messages.csv"
MANIFEST = "manifest.jsonl"
SIGNATURE = "signature.json"
PUBLIC_KEY = "public-key.pem"
MEDIA = "media"
CHUNK = 1 << 20


class ExportError(Exception):
    """The export could not be written; the message names the culprit."""


@dataclass(frozen=True, slots=True)
class Selection:
    chat_id: int | None = None
    topic: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(slots=True)
class Summary:
    path: Path
    messages: int = 0
    versions: int = 0
    files: int = 0
    bytes: int = 0
    files_missing: int = 0  # media the archive has not stored (pending, skipped, failed): listed, not copied
    entries: int = 0  # manifest entries, for evidence


async def export(archive: Archive, storage: Path, out: Path, selection: Selection = Selection(),
                 key: Ed25519PrivateKey | None = None, batch: int = 500) -> Summary:
    writer = _Writer(out, storage, evidence=key is not None)
    try:
        await asyncio.to_thread(writer.open)
        pending: list[Record] = []
        async for found in records(archive, chat_id=selection.chat_id, topic=selection.topic,
                                   since=selection.since, until=selection.until, batch=batch):
            pending.append(found)
            if len(pending) >= batch:
                await asyncio.to_thread(writer.write, pending)
                pending = []
        await asyncio.to_thread(writer.write, pending)
        await asyncio.to_thread(writer.finish, key, utcnow())
    except BaseException:
        await asyncio.to_thread(writer.discard)
        raise
    return writer.summary


class _Writer:
    """Blocking file work, run in a thread one batch at a time."""

    def __init__(self, out: Path, storage: Path, evidence: bool):
        self.out = out
        self.temp = out.with_name(out.name + ".partial")
        self.storage = storage
        self.evidence = evidence
        self.summary = Summary(path=out)
        self.prev = GENESIS
        self.copied: dict[str, int] = {}  # file in the bundle → its size

    def open(self) -> None:
        if self.out.exists() and (not self.out.is_dir() or any(self.out.iterdir())):
            raise ExportError(f"{self.out} already exists and is not empty: choose a new folder")
        if self.temp.exists():
            shutil.rmtree(self.temp)  # left by an export that was killed
        (self.temp / MEDIA).mkdir(parents=True, mode=0o700)
        self.lines = open(self.temp / MESSAGES, "wb")
        self.table_file = open(self.temp / TABLE, "w", encoding="utf-8", newline="")
        self.table = csv.writer(self.table_file)
        self.table.writerow(CSV_COLUMNS)
        self.manifest = open(self.temp / MANIFEST, "wb") if self.evidence else None

    def write(self, batch: list[Record]) -> None:
        for found in batch:
            media_file = self._copy_media(found)
            line = json_line(found, media_file)
            self.lines.write(line + b"\n")
            self.table.writerow(csv_row(found, media_file))
            self.summary.messages += 1
            self.summary.versions += len(found.versions)
            where = {"chat_id": found.chat.id, "message_id": found.message_id}
            self._entry({"type": "message", **where, "sha256": sha256(line)})
            for version in found.versions:
                self._entry({"type": "version", **where, "version": version.number,
                             "seen_at": version.seen_at.isoformat(timespec="seconds"),
                             "edit_date": version.edit_date.isoformat(timespec="seconds") if version.edit_date else None,
                             "sha256": sha256(version.text.encode("utf-8"))})
            if media_file is not None:
                self._entry({"type": "media", **where, "file": media_file, "size": self.copied[media_file],
                             "sha256": found.media.sha256})

    def _copy_media(self, found: Record) -> str | None:
        media = found.media
        if media is None:
            return None
        if media.status != "done" or not media.path:
            self.summary.files_missing += 1
            return None
        name = f"{MEDIA}/{media.sha256}{PurePosixPath(media.path).suffix}"
        if name in self.copied:  # the same file in several messages is copied once
            return name
        source = self.storage / media.path
        digest, size = hashlib.sha256(), 0
        try:
            with open(source, "rb") as reading, open(self.temp / name, "wb") as writing:
                while chunk := reading.read(CHUNK):
                    digest.update(chunk)
                    writing.write(chunk)
                    size += len(chunk)
        except FileNotFoundError:
            raise ExportError(f"{source}: the file of message {found.message_id} of chat {found.chat.id} "
                              "is missing from the media store") from None
        if digest.hexdigest() != media.sha256:
            raise ExportError(f"{source}: the file of message {found.message_id} of chat {found.chat.id} "
                              "no longer matches its SHA-256: the media store is damaged")
        self.copied[name] = size
        self.summary.files += 1
        self.summary.bytes += size
        return name

    def _entry(self, entry: dict) -> None:
        if self.manifest is None:
            return
        self.summary.entries += 1
        linked = link(entry, self.summary.entries, self.prev)
        self.prev = linked["hash"]
        self.manifest.write(canonical(linked) + b"\n")

    def finish(self, key: Ed25519PrivateKey | None, at: datetime) -> None:
        self.lines.close()
        self.table_file.close()
        if self.manifest is not None:
            self._entry({"type": "file", "file": TABLE, "sha256": file_sha256(self.temp / TABLE)})
            self.manifest.close()
            statement = signed_statement(self.summary.entries, self.prev, key, at)
            (self.temp / SIGNATURE).write_text(json.dumps(statement, indent=1) + "\n", encoding="utf-8")
            (self.temp / PUBLIC_KEY).write_bytes(public_pem(key.public_key()))
        for path in self.temp.rglob("*"):
            if path.is_file():
                with open(path, "rb") as synced:
                    os.fsync(synced.fileno())
        if self.out.exists():
            self.out.rmdir()  # found empty before the export began
        os.replace(self.temp, self.out)

    def discard(self) -> None:
        for handle in (getattr(self, "lines", None), getattr(self, "table_file", None),
                       getattr(self, "manifest", None)):
            if handle is not None and not handle.closed:
                handle.close()
        shutil.rmtree(self.temp, ignore_errors=True)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in chunks (media can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as reading:
        while chunk := reading.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
