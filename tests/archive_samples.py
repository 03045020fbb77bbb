"""A small archive on a real SQLite file: an edited message, a deleted one, a stored photo,
a document, a voice note and one whose file never came; for export and viewer tests."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from bot.archive import Archive
from bot.archive import media as media_queries
from bot.media.store import MediaStore
from bot.model import Chat, Match, MatchResult, MediaRef, Post
from tests.desktop_export import JPEG

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
KYIV = Chat(id=-1001234567890, title="Київ новини", username="kyiv_news")
LVIV = Chat(id=-1009876543210, title="Львів <чат>", username=None, kind="group")
PDF = b"%PDF-1.4\n% a summons\n%%EOF\n"
OGG = b"OggS" + bytes(60)


def hit(topic: str, text: str, term: str) -> MatchResult:
    start = text.index(term)
    return MatchResult(matches=(Match(topic, f"{topic}-rule", term, start, start + len(term)),), language="uk")


async def store(archive: Archive, storage: Path, chat_id: int, message_id: int, data: bytes, ext: str) -> str:
    async with MediaStore(storage / "media").incoming(ext) as incoming:
        await incoming.write(data)
        stored = await incoming.commit()
    item = await media_queries.file_of(archive, chat_id, message_id)
    await media_queries.mark_done(archive, item["id"], stored.sha256, stored.path, stored.size)
    return stored.sha256


async def fill(storage: Path) -> None:
    async with Archive.opened(storage / "archive.sqlite3", must_exist=False) as archive:
        await archive.save_chat(KYIV, "@kyiv_news")
        await archive.save_chat(LVIV, "-1009876543210")
        first = "ТЦК пакують біля метро Лук'янівська"
        await archive.ingest(KYIV, [(Post(KYIV.id, 1, T0, first), hit("busification", first, "пакують"))])
        edited = "ТЦК пакують біля метро Лук'янівська, вже поїхали"
        await archive.ingest(KYIV, [(Post(KYIV.id, 1, T0, edited, edit_date=T0 + timedelta(minutes=20)),
                                     hit("busification", edited, "пакують"))])
        gone = "Мій брат пішов у СЗЧ, шукають"
        await archive.ingest(KYIV, [(Post(KYIV.id, 2, T0 + timedelta(hours=1), gone), hit("szch", gone, "СЗЧ"))])
        await archive.mark_deleted(KYIV.id, [2], T0 + timedelta(hours=2))
        photo = "Фото: ТЦК біля ТРЦ <script>alert(1)</script>"
        await archive.ingest(KYIV, [(Post(KYIV.id, 3, T0 + timedelta(hours=3), photo,
                                          media=MediaRef("photo", 111, "image/jpeg", len(JPEG))),
                                     hit("enlistment_centre", photo, "ТЦК"))])
        await store(archive, storage, KYIV.id, 3, JPEG, ".jpg")
        summons = "Повістка з ТЦК, скан"
        await archive.ingest(LVIV, [(Post(LVIV.id, 10, T0 + timedelta(hours=4), summons,
                                          media=MediaRef("document", 222, "application/pdf", len(PDF),
                                                         "povistka.pdf")),
                                     hit("enlistment_centre", summons, "ТЦК"))])
        await store(archive, storage, LVIV.id, 10, PDF, ".pdf")
        voice = "Голосове: ТЦК на Сихові"
        await archive.ingest(LVIV, [(Post(LVIV.id, 11, T0 + timedelta(hours=5), voice,
                                          media=MediaRef("voice", 333, "audio/ogg", len(OGG))),
                                     hit("enlistment_centre", voice, "ТЦК"))])
        await store(archive, storage, LVIV.id, 11, OGG, ".ogg")
        later = "Відео: ТЦК на Сихові"
        await archive.ingest(LVIV, [(Post(LVIV.id, 12, T0 + timedelta(hours=6), later,
                                          media=MediaRef("video", 444, "video/mp4", 10_000_000)),
                                     hit("enlistment_centre", later, "ТЦК"))])
