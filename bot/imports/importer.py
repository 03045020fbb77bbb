"""Write a Telegram Desktop export into the archive, matched like live posts.

    report = await import_export(archive, store, rules, read_export(Path("export/result.json")))
    report.archived, report.media_stored, report.media_missing

The same idempotent write as live and history reads (`Archive.ingest`, keyed on chat and
message id): importing an export twice changes nothing, and a message already archived keeps
its versions (an export older than an edit we hold is ignored; a newer text becomes a version).
The checkpoint is left alone: an export says nothing about what the account has read live.
A message the export spells wrongly waits in the failures table (stage "import") with the
reason, once however often the export is imported; the others are imported.
Exported files go into the content-addressed store; a file the export left out is marked
failed with the reason, so `dozor media retry` can still fetch it from Telegram.
"""
from __future__ import annotations

import asyncio
import logging
import mimetypes
from dataclasses import dataclass, field, replace

from bot.archive import Archive
from bot.archive import media as media_queries
from bot.imports.desktop import DesktopExport, ImportedChat, ImportedPost
from bot.matching import Rules, match
from bot.media.store import MediaStore, in_thread

log = logging.getLogger("dozor.import")

BATCH = 500
CHUNK = 1 << 20


@dataclass(slots=True)
class ChatReport:
    title: str
    chat_id: int
    read: int = 0  # messages in the export (service messages not counted)
    service: int = 0
    archived: int = 0  # newly written
    matched: int = 0
    edited: int = 0  # archived messages whose text differed: a version was kept
    media_stored: int = 0
    media_missing: int = 0
    broken: list[str] = field(default_factory=list)  # why messages were left out


@dataclass(slots=True)
class ImportReport:
    chats: list[ChatReport] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # chats of the export that could not be read


async def import_export(archive: Archive, store: MediaStore, rules: Rules, export: DesktopExport,
                        keep_all: bool = False, username: str | None = None) -> ImportReport:
    """`username`: the public name of the one chat exported, which Desktop does not write down;
    rules that name the chat (@name) then apply to it as they do live."""
    report = ImportReport(refused=list(export.refused))
    for reason in export.refused:
        await _record_once(archive, None, None, reason)
    for imported in export.chats:
        report.chats.append(await import_chat(archive, store, rules, imported, keep_all, username))
    return report


async def import_chat(archive: Archive, store: MediaStore, rules: Rules, imported: ImportedChat,
                      keep_all: bool = False, username: str | None = None) -> ChatReport:
    known = {c.id: c for c in await archive.chats()}
    chat = known.get(imported.chat.id)
    if chat is None:
        chat = replace(imported.chat, username=username)
        await archive.save_chat(chat)
    # a chat the service already watches keeps its username and settings; --all only widens
    if keep_all and not chat.keep_all:
        chat = type(chat)(id=chat.id, title=chat.title, username=chat.username, kind=chat.kind, keep_all=True)
    report = ChatReport(title=chat.title, chat_id=chat.id, read=len(imported.items),
                        service=imported.service_messages, broken=[b.reason for b in imported.broken])
    for broken in imported.broken:
        await _record_once(archive, chat.id, broken.message_id, broken.reason)
    items = list(imported.items)
    for start in range(0, len(items), BATCH):
        batch = items[start:start + BATCH]
        # a message archived before keeps its own media queue: the service may still fetch its file
        known_before = await media_queries.archived_ids(archive, chat.id, [i.post.message_id for i in batch])
        results = await asyncio.to_thread(lambda: [match(rules, i.post.text, chat) for i in batch])
        # an export names no Telegram file id, so for a message archived before it cannot say
        # whether the file changed: only the text is compared, the media queue is left alone
        posts = [replace(i.post, media=None) if i.post.message_id in known_before else i.post for i in batch]
        done = await archive.ingest(chat, list(zip(posts, results)), advance_checkpoint=False)
        report.archived += done.archived
        report.matched += done.matched
        report.edited += done.edited
        for item in batch:
            if item.post.media is not None:
                outcome = await _media(archive, store, item, item.post.message_id not in known_before)
                report.media_stored += outcome == "stored"
                report.media_missing += outcome == "missing"
    return report


async def _record_once(archive: Archive, chat_id: int | None, message_id: int | None, reason: str) -> None:
    known = {(f["chat_id"], f["message_id"], f["reason"]) for f in await archive.failures("import")}
    if (chat_id, message_id, reason) not in known:
        await archive.record_failure("import", reason, chat_id, message_id)


async def _media(archive: Archive, store: MediaStore, item: ImportedPost, new: bool) -> str | None:
    """Store the exported file of an archived message, unless it is stored already; a file
    the export lacks is marked failed only for a message this import brought in."""
    found = await media_queries.file_of(archive, item.post.chat_id, item.post.message_id)
    if found is None or found["status"] == "done":
        return None  # not archived (did not match), or its file is already kept
    if item.file is None:
        if new and found["status"] == "pending":
            await media_queries.mark_failed(archive, found["id"], item.missing or "not in the Telegram Desktop export")
            return "missing"
        return None
    ext = item.file.suffix.lower() or mimetypes.guess_extension(item.post.media.mime_type or "") or ".bin"
    async with store.incoming(ext) as incoming:
        with await in_thread(open, item.file, "rb") as source:
            while chunk := await in_thread(source.read, CHUNK):
                await incoming.write(chunk)
        stored = await incoming.commit()
    await media_queries.mark_done(archive, found["id"], stored.sha256, stored.path, stored.size)
    return "stored"
