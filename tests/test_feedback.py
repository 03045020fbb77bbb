"""Labels that teach: `dozor label` records a judgement, and `dozor keywords test` and
`dozor keywords report` change with it."""
from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from bot.archive import Archive
from bot.cli import main as dozor
from bot.commands.label import BadReference, parse_reference
from bot.matching import load_rules, match
from bot.model import Chat, Post
from tests.conftest import EXAMPLE_KEYWORDS
from tests.test_model import FEW_RULES, MODEL_FINDS, MODEL_TOPIC

CHAT = Chat(id=-1001234567890, title="Київ чат", username="kyiv_city_chat", kind="group")
# the rule 'szch-awol-slang' fires on this, but it is about skipping work for a beer
WRONG_HIT = "Самоволка з роботи на пиво, шеф не знає"


@pytest.fixture
def storage(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    storage = tmp_path / "storage"
    monkeypatch.setenv("DOZOR_STORAGE", str(storage))
    monkeypatch.setenv("DOZOR_KEYWORDS", str(EXAMPLE_KEYWORDS))
    monkeypatch.delenv("DOZOR_MODEL", raising=False)
    rules = load_rules(EXAMPLE_KEYWORDS)

    async def fill():
        archive = await Archive.open(storage / "archive.sqlite3")
        await archive.save_chat(CHAT, "@kyiv_city_chat")
        post = Post(chat_id=CHAT.id, message_id=41, date=datetime.now(timezone.utc), text=WRONG_HIT)
        await archive.ingest(CHAT, [(post, match(rules, WRONG_HIT, CHAT))])
        await archive.close()

    asyncio.run(fill())
    return storage


def test_the_diet_message_matches_a_rule_to_begin_with():
    assert match(load_rules(EXAMPLE_KEYWORDS), WRONG_HIT, CHAT).topics == ["szch"]


def test_a_no_label_shows_in_report_and_makes_keywords_test_fail(storage, capsys):
    assert dozor(["keywords", "test"]) == 0
    before = capsys.readouterr().out
    assert dozor(["keywords", "report"]) == 0
    report_before = capsys.readouterr().out
    assert "0 archive labels" in report_before and "label:" not in report_before

    assert dozor(["label", "https://t.me/kyiv_city_chat/41", "no", "szch", "--by", "anna"]) == 0
    assert "is not about szch" in capsys.readouterr().out

    assert dozor(["keywords", "test"]) == 1
    out = capsys.readouterr().out
    assert "labelled not szch" in out and "szch-awol-slang" in out and WRONG_HIT[:20] in out
    assert "all" in before and "examples pass" in before

    assert dozor(["keywords", "report"]) == 0
    report = capsys.readouterr().out
    assert "1 archive labels" in report
    assert f"szch-awol-slang: fires on archive label:{CHAT.id}/41:szch, labelled not szch" in report


def test_a_later_yes_label_puts_the_rule_right_again(storage, capsys):
    assert dozor(["label", "@kyiv_city_chat/41", "no", "szch"]) == 0
    assert dozor(["label", "kyiv_city_chat/41", "yes", "szch"]) == 0
    capsys.readouterr()
    assert dozor(["keywords", "test"]) == 0


def test_labelling_names_what_is_wrong(storage, capsys):
    assert dozor(["label", "@kyiv_city_chat/41", "no", "weather"]) == 2
    assert "unknown topic 'weather'" in capsys.readouterr().err
    assert dozor(["label", "@kyiv_city_chat/99", "no", "szch"]) == 1
    assert "message 99" in capsys.readouterr().err
    assert dozor(["label", "@other_chat/41", "no", "szch"]) == 1
    assert "@other_chat is not in the archive" in capsys.readouterr().err
    assert dozor(["label", "kyiv_city_chat", "no", "szch"]) == 2
    assert "expected @chat/ID" in capsys.readouterr().err


def test_references_as_editors_paste_them():
    assert parse_reference("@Kyiv_City_Chat/41") == ("kyiv_city_chat", 41)
    assert parse_reference("https://t.me/kyiv_city_chat/41") == ("kyiv_city_chat", 41)
    assert parse_reference("t.me/c/1234567890/77") == (-1001234567890, 77)
    assert parse_reference("-1001234567890/77") == (-1001234567890, 77)
    with pytest.raises(BadReference):
        parse_reference("t.me/kyiv_city_chat")


def test_report_counts_the_models_suggestions_on_archived_messages(storage, capsys):
    async def add():
        archive = await Archive.open(storage / "archive.sqlite3")
        text = MODEL_FINDS
        post = Post(chat_id=CHAT.id, message_id=42, date=datetime.now(timezone.utc), text=text)
        # a chat that keeps every message: the rules alone did not archive it
        await archive.ingest(replace(CHAT, keep_all=True), [(post, match(load_rules(EXAMPLE_KEYWORDS), text, CHAT))])
        await archive.close()

    chat = CHAT
    asyncio.run(add())
    few = storage.parent / "few.toml"
    few.write_text(FEW_RULES, encoding="utf-8")
    assert dozor(["keywords", "report", "--days", "1", "--keywords", str(few)]) == 0
    out = capsys.readouterr().out
    assert chat.title not in out  # texts, never chat names, in the report
    suggestions = out.split("The model's most frequent suggestions", 1)[1]
    assert f"{MODEL_TOPIC}: 1 found" in suggestions and MODEL_FINDS[:20] in suggestions


def test_labels_train_a_model_of_ones_own_and_never_overwrite_the_shipped_one(storage, capsys):
    from bot.classifier import SHIPPED_MODEL
    from bot.classifier.modelfile import load

    assert dozor(["label", "@kyiv_city_chat/41", "no", "szch"]) == 0
    shipped = SHIPPED_MODEL.read_bytes()
    assert dozor(["keywords", "train", "--without-shared"]) == 2
    assert "--output" in capsys.readouterr().err and SHIPPED_MODEL.read_bytes() == shipped
    own = storage / "model.npz"
    assert dozor(["keywords", "train", "--without-shared", "--output", str(own)]) == 0
    meta = load(own).meta
    assert meta["training"]["sets"][-1] == {"name": "archive labels", "place": "archive", "examples": 1}
    assert WRONG_HIT not in str(meta)  # the archive's texts stay in the archive
