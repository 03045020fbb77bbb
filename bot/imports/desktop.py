"""Read a Telegram Desktop export (`result.json`) into the posts every other stage knows.

    export = read_export(Path("ChatExport_2026-11-20/result.json"))
    for chat in export.chats:
        chat.chat                 # Chat with the marked id, as if Telethon had resolved it
        for item in chat.items:   # ImportedPost: a Post and where its file is, if exported
            item.post, item.file, item.missing
        chat.broken               # messages that could not be read, each with the reason
    export.refused                # chats that could not be read at all

Pure apart from reading the one file: no archive, no Telegram.

Telegram Desktop writes one chat as `{"name", "type", "id", "messages": […]}` and a whole
account as `{"chats": {"list": [<chat>, …]}}`. A message's `text` is a string or a list of
strings and entity objects (`{"type": "bold", "text": "…"}`); `date`/`edited` are local times
of the exporting computer, so the `*_unixtime` fields (UTC, written since 2021) win when
present. Service messages (`"type": "service"` with an `action`) carry nothing to archive.
Files not downloaded are named "(File not included. …)" instead of a path.
"""
from __future__ import annotations

import json
import mimetypes
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from bot.model import CHANNEL_ID_OFFSET, Chat, MediaRef, Post

UTC = timezone.utc

# Desktop's chat types → (dozor's kind, how the bare id becomes Telethon's marked id)
_CHAT_TYPES = {
    "public_channel": "channel", "private_channel": "channel",
    "public_supergroup": "group", "private_supergroup": "group",
    "private_group": "group", "public_group": "group",
    "personal_chat": "user", "bot_chat": "user", "saved_messages": "user",
}
_MEDIA_TYPES = {
    "video_file": "video", "round_video_message": "round", "voice_message": "voice",
    "audio_file": "audio", "animation": "gif", "sticker": "sticker",
}


class ExportError(Exception):
    """The export cannot be read; the message names the file and, where it can, the message."""


@dataclass(frozen=True, slots=True)
class ImportedPost:
    post: Post
    file: Path | None = None  # the exported file, absolute; None when there is none
    missing: str | None = None  # why a file the message carried is not in the export


@dataclass(frozen=True, slots=True)
class Broken:
    message_id: int | None
    reason: str  # names the chat and the message's place in the export


@dataclass(frozen=True, slots=True)
class ImportedChat:
    chat: Chat
    items: tuple[ImportedPost, ...]
    service_messages: int  # joins, pins, title changes: counted, nothing to archive
    broken: tuple[Broken, ...] = ()  # one unreadable message never keeps the others out


@dataclass(frozen=True, slots=True)
class DesktopExport:
    path: Path
    chats: tuple[ImportedChat, ...]
    refused: tuple[str, ...] = ()  # chats of an account export that could not be read, and why


def read_export(path: Path) -> DesktopExport:
    """`path` is `result.json` or the folder holding it."""
    if path.is_dir():
        path = path / "result.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(f"{path}: no such file; give the result.json of a Telegram Desktop export "
                          "(Export chat history → Format: JSON)") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise ExportError(f"{path}: not JSON ({error}); choose the JSON format when exporting") from None
    if not isinstance(data, dict):
        raise ExportError(f"{path}: not a Telegram Desktop export (expected an object)")
    if "messages" in data:
        found = [data]
    elif isinstance(data.get("chats"), dict) and isinstance(data["chats"].get("list"), list):
        found = data["chats"]["list"]
    else:
        raise ExportError(f"{path}: not a Telegram Desktop export (no \"messages\" and no \"chats\")")
    chats, refused = [], []
    for number, raw in enumerate(found, 1):
        try:
            chats.append(read_chat(raw, path.parent))
        except ExportError as error:
            refused.append(f"chat #{number}: {error}")
    if not chats and refused:
        raise ExportError(f"{path}: {refused[0]}")
    return DesktopExport(path=path, chats=tuple(chats), refused=tuple(refused))


def read_chat(raw: dict, folder: Path) -> ImportedChat:
    chat = chat_of(raw)
    items, service, broken = [], 0, []
    messages = raw.get("messages")
    for number, message in enumerate(messages if isinstance(messages, list) else [], 1):
        where = f"chat {chat.title!r}, message #{number}"
        if not isinstance(message, dict) or not isinstance(message.get("id"), int):
            broken.append(Broken(None, f"{where}: not a message with an id"))
            continue
        if message.get("type", "message") != "message":
            service += 1
            continue
        try:
            items.append(imported_post(message, chat.id, folder, where))
        except ExportError as error:
            broken.append(Broken(message["id"], str(error)))
    return ImportedChat(chat=chat, items=tuple(items), service_messages=service, broken=tuple(broken))


def chat_of(raw: dict) -> Chat:
    if not isinstance(raw, dict):
        raise ExportError("not a chat object")
    kind_name = raw.get("type")
    bare = raw.get("id")
    if kind_name not in _CHAT_TYPES or not isinstance(bare, int):
        raise ExportError(f"chat {raw.get('name')!r} has an unknown type {kind_name!r} or no id")
    kind = _CHAT_TYPES[kind_name]
    if kind_name == "private_group":
        marked = -abs(bare)
    elif kind in ("channel", "group"):
        marked = CHANNEL_ID_OFFSET - abs(bare)  # channels and supergroups: -100…
    else:
        marked = abs(bare)
    return Chat(id=marked, title=raw.get("name") or str(marked), kind=kind)


def imported_post(message: dict, chat_id: int, folder: Path, where: str = "message") -> ImportedPost:
    date = moment(message, "date", where)
    if date is None:
        raise ExportError(f"{where} (id {message['id']}): no date")
    media, file, missing = _media(message, folder)
    post = Post(
        chat_id=chat_id,
        message_id=message["id"],
        date=date,
        text=plain_text(message.get("text", ""), where),
        author_id=_author_id(message.get("from_id")),
        author_name=message.get("from") or message.get("author"),
        reply_to=message.get("reply_to_message_id"),
        forward_from=message.get("forwarded_from"),
        media=media,
        edit_date=moment(message, "edited", where),
    )
    return ImportedPost(post=post, file=file, missing=missing)


def plain_text(text: str | list, where: str = "message") -> str:
    """Desktop's text, a string or a list of strings and entities, as the plain message text."""
    if isinstance(text, str):
        return text
    if not isinstance(text, list) or not all(isinstance(p, (str, dict)) for p in text):
        raise ExportError(f"{where}: text is neither a string nor a list of parts")
    return "".join(part if isinstance(part, str) else str(part.get("text", "")) for part in text)


def moment(message: dict, field: str, where: str = "message") -> datetime | None:
    unix = message.get(f"{field}_unixtime")
    try:
        if unix is not None:
            return datetime.fromtimestamp(int(unix), UTC)
        local = message.get(field)
        if local is None:
            return None
        # exports before 2021 carry only the exporting computer's local time: taken as UTC
        parsed = datetime.fromisoformat(local)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise ExportError(f"{where}: {field} is not a time: {message.get(field)!r}") from None


def _author_id(from_id: str | None) -> int | None:
    # "user123", "channel456": the number alone, as Telethon's sender id would be
    if not isinstance(from_id, str):
        return None
    digits = from_id.lstrip("abcdefghijklmnopqrstuvwxyz")
    return int(digits) if digits.isdigit() else None


def _media(message: dict, folder: Path) -> tuple[MediaRef | None, Path | None, str | None]:
    if "photo" in message:
        kind, named = "photo", message["photo"]
    elif "file" in message:
        kind, named = _MEDIA_TYPES.get(message.get("media_type"), "document"), message["file"]
    else:
        return None, None, None
    mime = message.get("mime_type") or ("image/jpeg" if kind == "photo" else None)
    name = message.get("file_name")
    file, missing = None, None
    if not isinstance(named, str) or not named or named.startswith("("):
        missing = f"not in the Telegram Desktop export: {named}" if named else "not in the Telegram Desktop export"
    else:
        candidate = (folder / named).resolve()
        if not candidate.is_relative_to(folder.resolve()):
            missing = f"refused: {named!r} points outside the export"
        elif not candidate.is_file():
            missing = f"not found in the export: {named}"
        else:
            file = candidate
            name = name or (candidate.name if kind != "photo" else None)
            mime = mime or mimetypes.guess_type(candidate.name)[0]
    ref = MediaRef(kind=kind, telegram_id=None, mime_type=mime, size=file.stat().st_size if file else None,
                   file_name=name, width=message.get("width"), height=message.get("height"),
                   duration=message.get("duration_seconds"))
    return ref, file, missing
