"""One archived message as an export line: a JSON object and a CSV row. Pure.

    json_line(record, media_file="media/ab…cd.jpg")   # bytes of one messages.jsonl line
    csv_row(record, media_file)                       # the same message in CSV_COLUMNS order

Times are UTC ISO 8601; `seen_at` of a version is when the archive first held that text.
"""
from __future__ import annotations

import json
from datetime import datetime

from bot.archive.records import Record

CSV_COLUMNS = ("chat_id", "chat_title", "message_id", "date_utc", "edit_date_utc", "deleted_at_utc",
               "archived_at_utc", "topics", "text", "versions", "media_kind", "media_file", "media_sha256", "link")


def utc(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


def as_json(record: Record, media_file: str | None) -> dict:
    media = record.media
    return {
        "chat_id": record.chat.id,
        "chat_title": record.chat.title,
        "chat_username": record.chat.username,
        "message_id": record.message_id,
        "link": record.link,
        "date": utc(record.date),
        "edit_date": utc(record.edit_date),
        "deleted_at": utc(record.deleted_at),
        "archived_at": utc(record.archived_at),
        "author": record.author_name,
        "forward_from": record.forward_from,
        "reply_to": record.reply_to,
        "language": record.language,
        "text": record.text,
        "topics": list(record.topics),
        "matches": [{"topic": m.topic, "rule": m.rule, "term": m.term, "start": m.start, "end": m.end}
                    for m in record.matches],
        "versions": [{"version": v.number, "text": v.text, "edit_date": utc(v.edit_date), "seen_at": utc(v.seen_at)}
                     for v in record.versions],
        "media": None if media is None else {
            "kind": media.kind, "status": media.status, "reason": media.reason, "mime_type": media.mime_type,
            "file_name": media.file_name, "size": media.size, "sha256": media.sha256, "file": media_file},
    }


def json_line(record: Record, media_file: str | None) -> bytes:
    return json.dumps(as_json(record, media_file), ensure_ascii=False, sort_keys=True).encode("utf-8")


def csv_row(record: Record, media_file: str | None) -> list:
    media = record.media
    return [record.chat.id, record.chat.title, record.message_id, utc(record.date), utc(record.edit_date) or "",
            utc(record.deleted_at) or "", utc(record.archived_at), " ".join(record.topics), record.text,
            len(record.versions), media.kind if media else "", media_file or "",
            (media.sha256 or "") if media else "", record.link]
