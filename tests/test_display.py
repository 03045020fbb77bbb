"""What a hostile post cannot do to an editor's terminal: clear it, retitle it, overwrite a
line or turn text backwards through `dozor status`, `search`, `check` and `media`."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from bot.archive import Archive
from bot.cli import main
from bot.model import Chat, Match, MatchResult, MediaRef, Post
from tests.conftest import EXAMPLE_KEYWORDS

HOSTILE = "\x00\x1b[2J\x1b]0;owned\x07\r\u202e\u2066"
ACTING = set(HOSTILE) - set("[2J]0;owned")  # the characters that act instead of being read
CHAT = Chat(id=-1001700000001, title=f"Київ{HOSTILE} новини", username="kyiv_news")
TEXT = f"Біля метро{HOSTILE} ТЦК роздають повістки"


@pytest.fixture
def config(tmp_path, clean_environment):
    storage = tmp_path / "storage"

    async def seed():
        archive = await Archive.open(storage / "archive.sqlite3")
        try:
            await archive.save_chat(CHAT, "@kyiv_news")
            start = TEXT.index("ТЦК")
            post = Post(chat_id=CHAT.id, message_id=7, date=datetime.now(timezone.utc), text=TEXT,
                        media=MediaRef("document", 11, file_name=f"report{HOSTILE}.pdf"))
            await archive.ingest(CHAT, [(post, MatchResult((Match("tcc", "r", "ТЦК", start, start + 3),), "uk"))])
            await archive.save_source_error("@other", f"chat is private{HOSTILE}")
        finally:
            await archive.close()

    asyncio.run(seed())
    path = tmp_path / "config.env"
    path.write_text(f"DOZOR_STORAGE={storage}\nDOZOR_KEYWORDS={EXAMPLE_KEYWORDS}\n", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("command", [
    ["status"], ["status", "--json"], ["search", "ТЦК"], ["search", "--json", "ТЦК"], ["check", TEXT],
    ["media"], ["media", "--json"],
])
def test_no_control_character_reaches_the_terminal(config, capsys, command):
    assert main(["--config", config, *command]) == 0
    out = capsys.readouterr().out
    assert out.strip()
    assert not ACTING & set(out.replace("\n", ""))
    if command[0] in ("status", "search"):
        assert "Київ" in out
    if command[0] == "media":
        assert "report" in out


def test_the_text_as_posted_stays_in_the_archive(config, tmp_path):
    async def stored():
        archive = await Archive.open(tmp_path / "storage" / "archive.sqlite3")
        try:
            return (await archive.message(CHAT.id, 7))
        finally:
            await archive.close()

    assert asyncio.run(stored())["text"] == TEXT
