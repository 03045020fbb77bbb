"""Labels: the newest judgement of a message and topic counts, and the record keeps every one."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot.archive import ArchiveError
from bot.archive.labels import add_label, current_labels
from bot.model import Chat, Match, MatchResult, Post

CHAT = Chat(id=-1001234567890, title="Київ новини", username="kyiv_news")
HIT = MatchResult(matches=(Match("szch", "szch", "СЗЧ", 0, 3),), language="uk")


@pytest.fixture
async def archive(archive):
    """The archive of conftest (each backend), with one message in it."""
    await archive.save_chat(CHAT, "@kyiv_news")
    post = Post(chat_id=CHAT.id, message_id=7, date=datetime(2026, 11, 20, tzinfo=timezone.utc),
                text="СЗЧ з частини в Житомирі")
    await archive.ingest(CHAT, [(post, HIT)])
    return archive


async def test_a_later_label_supersedes_an_earlier_one_and_both_are_kept(archive):
    await add_label(archive, chat_id=CHAT.id, message_id=7, topic="szch", correct=True, by="@anna")
    await add_label(archive, chat_id=CHAT.id, message_id=7, topic="szch", correct=False, by="@ivan")
    [label] = await current_labels(archive, topic="szch")
    assert (label.correct, label.labelled_by, label.text) == (False, "@ivan", "СЗЧ з частини в Житомирі")
    assert await archive.scalar("SELECT COUNT(*) FROM labels") == 2


async def test_a_text_outside_the_archive_can_be_labelled_but_an_unknown_message_cannot(archive):
    await add_label(archive, topic="busification", correct=True, text="пакують на Шулявці", source="desk")
    assert [lab.text for lab in await current_labels(archive, "busification")] == ["пакують на Шулявці"]
    with pytest.raises(ArchiveError, match="message 99"):
        await add_label(archive, chat_id=CHAT.id, message_id=99, topic="szch", correct=True)
