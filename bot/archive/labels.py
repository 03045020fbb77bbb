"""Labels: what people said about a message's topics, the ground truth the rules' report and
the model learn from.

    await add_label(archive, chat_id=-1001, message_id=42, topic="szch", correct=False, by="@editor")
    for label in await current_labels(archive, topic="szch"): ...

Labels are never changed or removed: a later label of the same message and topic supersedes an
earlier one, and the record of who said what stays.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.archive import Archive, ArchiveError, from_iso, iso, utcnow


@dataclass(frozen=True, slots=True)
class Label:
    topic: str
    correct: bool
    text: str
    chat_id: int | None
    message_id: int | None
    source: str
    labelled_by: str | None
    at: datetime


async def add_label(archive: Archive, *, topic: str, correct: bool, chat_id: int | None = None,
                    message_id: int | None = None, text: str | None = None, source: str = "cli",
                    by: str | None = None) -> Label:
    """Record one judgement. The text is the archived message's current text unless given (a
    forwarded message the archive never saw); ArchiveError if neither is there."""
    if text is None:
        if chat_id is None or message_id is None:
            raise ArchiveError("a label needs either a text or an archived message")
        message = await archive.message(chat_id, message_id)
        if message is None:
            raise ArchiveError(f"message {message_id} of chat {chat_id} is not in the archive")
        text = message["text"]
    label = Label(topic=topic, correct=correct, text=text, chat_id=chat_id, message_id=message_id,
                  source=source, labelled_by=by, at=utcnow())
    async with archive.transaction() as db:
        await db.execute(
            """INSERT INTO labels (chat_id, message_id, topic, correct, text, source, labelled_by, at)
               VALUES (:chat_id, :message_id, :topic, :correct, :text, :source, :by, :at)""",
            {"chat_id": chat_id, "message_id": message_id, "topic": topic, "correct": int(correct), "text": text,
             "source": source, "by": by, "at": iso(label.at)},
        )
    return label


async def current_labels(archive: Archive, topic: str | None = None) -> list[Label]:
    """The judgement in force for each (message or text, topic): the newest one, oldest first."""
    rows = await archive.rows(
        f"""SELECT * FROM labels l
           WHERE {"l.topic = :topic AND" if topic is not None else ""}
             l.id = (SELECT MAX(id) FROM labels o
                     WHERE o.topic = l.topic
                       AND (CASE WHEN l.chat_id IS NULL THEN o.chat_id IS NULL AND o.text = l.text
                                 ELSE o.chat_id = l.chat_id AND o.message_id = l.message_id END))
           ORDER BY l.id""",
        {"topic": topic},
    )
    return [Label(topic=r.topic, correct=bool(r.correct), text=r.text, chat_id=r.chat_id,
                  message_id=r.message_id, source=r.source, labelled_by=r.labelled_by, at=from_iso(r.at))
            for r in rows]
