"""Search by word forms, on SQLite and PostgreSQL: what an editor types finds what chats wrote."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from bot.archive import Archive
from bot.archive.schema import MIGRATIONS
from bot.archive.search import search
from bot.archive.terms import backfill, parse_query, root, terms_of
from bot.model import Chat, Match, MatchResult, Post

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
KYIV = Chat(id=-1001234567890, title="Київ новини", username="kyiv_news", keep_all=True)
ODESA = Chat(id=-1009876543210, title="Одеса чат", username="odesa_chat", keep_all=True)
TCC = MatchResult(matches=(Match("enlistment_centre", "tck", "ТЦК", 0, 3),), language="uk")
NOTHING = MatchResult()


def post(chat: Chat, message_id: int, text: str, minutes: int | None = None, **extra) -> Post:
    moment = T0 + timedelta(minutes=message_id if minutes is None else minutes)
    return Post(chat_id=chat.id, message_id=message_id, date=moment, text=text, **extra)


@pytest.fixture
async def archive(archive):
    await archive.save_chat(KYIV)
    await archive.save_chat(ODESA)
    return archive


async def found(archive, words: str, **filters) -> list[int]:
    return [hit.message_id for hit in await search(archive, words, **filters)]


async def test_a_noun_finds_the_verb_and_an_acronym_finds_its_slang(archive):
    await archive.ingest(KYIV, [(post(KYIV, 1, "Вчора на Оболоні бусифікували двох чоловіків"), NOTHING),
                                (post(KYIV, 2, "Тцкашники знову стоять біля метро"), NOTHING),
                                (post(KYIV, 3, "Погода на вихідні: сонячно"), NOTHING)])
    assert await found(archive, "бусифікація") == [1]
    assert await found(archive, "ТЦК") == [2]
    assert await found(archive, "Т.Ц.К.") == [2]  # written as chats dodge filters
    assert await found(archive, "tck") == [2]  # typed in Latin letters
    hit = (await search(archive, "бусифікація"))[0]
    assert hit.found == ("бусифікували",) and "[бусифікували]" in hit.snippet


async def test_inflected_forms_in_ukrainian_and_russian(archive):
    await archive.ingest(KYIV, [(post(KYIV, 1, "Роздають повістки на блокпосту"), NOTHING),
                                (post(KYIV, 2, "Повесток не было, военкомат закрыт"), NOTHING),
                                (post(KYIV, 3, "Вручили повістку прямо в маршрутці"), NOTHING)])
    assert await found(archive, "повістка") == [3, 1]
    assert await found(archive, "повестка") == [2]
    assert await found(archive, "военкоматы") == [2]
    assert await found(archive, "блокпост") == [1]


async def test_every_word_is_required_and_absent_words_find_nothing(archive):
    await archive.ingest(KYIV, [(post(KYIV, 1, "ТЦК пакують біля метро Лісова"), TCC),
                                (post(KYIV, 2, "ТЦК на блокпості в Броварах"), TCC),
                                (post(KYIV, 3, 'Він сказав "метро" (закрите) & пішов'), NOTHING)])
    assert await found(archive, "тцк метро") == [1]
    assert await found(archive, "метро") == [3, 1]
    assert await found(archive, "тролейбус") == []
    assert await found(archive, "тцк тролейбус") == []
    assert await found(archive, '"метро" (закрите) &') == [3]  # punctuation is only a separator
    assert await found(archive, "&&") == []


async def test_filters_by_chat_topic_and_period_and_newest_first(archive):
    await archive.ingest(KYIV, [(post(KYIV, 1, "ТЦК біля вокзалу", minutes=10), TCC),
                                (post(KYIV, 2, "ТЦК біля ринку", minutes=30), NOTHING)])
    await archive.ingest(ODESA, [(post(ODESA, 7, "ТЦК на Привозі", minutes=20), TCC)])
    assert await found(archive, "тцк") == [2, 7, 1]
    assert await found(archive, "тцк", chat_id=ODESA.id) == [7]
    assert await found(archive, "тцк", topic="enlistment_centre") == [7, 1]
    assert await found(archive, "тцк", topic="szch") == []
    assert await found(archive, "тцк", since=T0 + timedelta(minutes=15), until=T0 + timedelta(minutes=25)) == [7]
    assert await found(archive, "", topic="enlistment_centre", since=T0 + timedelta(minutes=15)) == [7]
    assert await found(archive, "тцк", limit=1, skip=1) == [7]
    hit = (await search(archive, "тцк", chat_id=ODESA.id))[0]
    assert hit.topics == ("enlistment_centre",) and hit.link == "https://t.me/odesa_chat/7"


async def test_a_deleted_message_is_found_without_a_link(archive):
    await archive.ingest(KYIV, [(post(KYIV, 1, "ТЦК на блокпості в Броварах"), TCC)])
    await archive.mark_deleted(KYIV.id, [1], T0)
    (hit,) = await search(archive, "блокп*")
    assert hit.deleted and hit.link is None


async def test_an_edit_is_found_by_its_new_words_and_no_longer_by_the_old(archive):
    await archive.ingest(KYIV, [(post(KYIV, 1, "Чергу на кордоні розібрали"), NOTHING)])
    edited = post(KYIV, 1, "Оновлено: на кордоні затримали ухилянтів", edit_date=T0 + timedelta(hours=1))
    report = await archive.ingest(KYIV, [(edited, NOTHING)], advance_checkpoint=False)
    assert report.edited == 1
    assert await found(archive, "ухилянт") == [1]
    assert await found(archive, "затримання ухилянтів кордон") == [1]
    assert await found(archive, "черга") == []  # the index holds the text the message has now


async def test_the_closest_match_comes_first_when_asked(archive):
    close = "ТЦК біля метро Оболонь: ТЦК зупиняють усіх"
    far = "Сьогодні в місті ремонт доріг, тролейбуси ходять інакше, " * 5 + "а біля метро черги за кавою"
    await archive.ingest(KYIV, [(post(KYIV, 1, close), NOTHING), (post(KYIV, 2, far), NOTHING)])
    assert await found(archive, "метро") == [2, 1]
    assert await found(archive, "метро", best_first=True) == [1, 2]
    assert await found(archive, "метро", best_first=True, skip=1, limit=1) == [2]


async def test_a_frequent_word_still_finds_the_newest_first(archive, monkeypatch):
    # every word above the threshold: the newest messages are walked instead of the postings
    monkeypatch.setattr("bot.archive.search.FREQUENT", 2)
    await archive.ingest(KYIV, [(post(KYIV, n, f"Світло дали на вулиці {n}, ТЦК поруч"), NOTHING)
                                for n in range(1, 8)] + [(post(KYIV, 8, "Світло дали"), NOTHING)])
    assert await found(archive, "світло тцк", limit=3) == [7, 6, 5]
    assert await found(archive, "світло", limit=2) == [8, 7]


async def test_the_snippet_marks_the_found_words_and_cuts_long_texts(archive):
    text = " ".join(["слово"] * 40 + ["мобілізованих"] + ["інше"] * 40)
    await archive.ingest(KYIV, [(post(KYIV, 1, text), NOTHING), (post(KYIV, 2, "[метро] та (мобілізація)"), NOTHING)])
    (hit,) = await search(archive, "мобілізація", chat_id=KYIV.id, until=T0 + timedelta(minutes=1, seconds=30))
    assert hit.snippet.startswith("…") and hit.snippet.endswith("…") and "[мобілізованих]" in hit.snippet
    assert len(hit.snippet.split()) <= 17
    (bracketed,) = await search(archive, "мобілізація метро", since=T0 + timedelta(minutes=2))
    # brackets in the text itself stay text: the pieces say which words were found
    assert bracketed.found == ("метро", "мобілізація")


async def test_an_archive_of_the_first_release_is_indexed_when_it_is_upgraded(tmp_path):
    path = tmp_path / "archive.sqlite3"
    db = sqlite3.connect(path)
    for number, script in enumerate(MIGRATIONS, start=1):
        db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")
    db.execute("INSERT INTO chats (id, title, username, kind, added_at) "
               "VALUES (-1001, 'Київ', 'kyiv', 'channel', '2026-03-01T10:00:00+00:00')")
    db.executemany("INSERT INTO messages (chat_id, message_id, date, text, matched, archived_at) "
                   "VALUES (-1001, ?, ?, ?, 0, '2026-03-01T10:00:00+00:00')",
                   [(1, "2026-03-01T09:00:00+00:00", "Вчора бусифікували сусіда"),
                    (2, "2026-03-01T09:05:00+00:00", "Тцкашники на Подолі")])
    db.commit()
    db.close()
    archive = await Archive.open(path)
    try:
        assert await found(archive, "бусифікація") == [1]
        assert await found(archive, "ТЦК") == [2]
        # FTS5 and its triggers are gone: nothing else writes on every message
        assert await archive.scalar("SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'messages_fts%'") == 0
    finally:
        await archive.close()


async def test_the_backfill_indexes_what_has_no_terms_on_both_backends(archive):
    await archive.ingest(KYIV, [(post(KYIV, 1, "Повістки роздають біля метро"), NOTHING)])
    async with archive.transaction() as db:
        await db.execute("DELETE FROM message_terms")
    assert await found(archive, "повістка") == []
    async with archive.transaction() as db:
        assert await db.run_sync(backfill) == 1
    assert await found(archive, "повістка") == [1]


async def test_prefixes_are_ranges_of_code_points_on_both_backends(archive):
    # PostgreSQL's linguistic collations skip the apostrophe and order letters their own way;
    # the index's "C" collation keeps a prefix one range, as in SQLite
    await archive.ingest(KYIV, [(post(KYIV, 1, "П'ятниця: черги на Лук'янівській"), NOTHING)])
    assert await found(archive, "п'ятн") == [1]
    assert await found(archive, "Лук'янівська") == [1]
    if archive.dialect == "postgresql":
        collation = await archive.scalar(
            "SELECT collation_name FROM information_schema.columns "
            "WHERE table_name = 'message_terms' AND column_name = 'term' AND table_schema = current_schema()")
        assert collation == "C"


# ---- the index and the query, without a database ------------------------------------------

def test_a_message_is_indexed_by_its_words_and_their_lemmas():
    terms = terms_of("ТЦКашники бусифікували чоловіка біля метро, 2024 🎶")
    assert {"тцкашники", "тцкашник", "бусифікували", "бусифікувати", "чоловіка", "чоловік", "метро",
            "2024"} <= terms
    assert "🎶" not in terms
    assert terms_of("") == frozenset() and terms_of(None) == frozenset()


def test_a_query_word_is_looked_for_as_the_start_of_its_forms():
    (word,) = parse_query("бусифікація").words
    assert word.prefixes == ("бусифік",)
    assert root("мобілізація") == root("мобілізувати") == "мобіліз"
    assert root("пакувати") == "пакув"  # not «пак»: too short a root starts unrelated words
    (short,) = parse_query("в").words
    assert short.whole  # a one-letter word is a whole word, not the start of half the archive
    assert not parse_query("в*").words[0].whole
    assert [w.typed for w in parse_query("Т.Ц.К. метро метро").words] == ["тцк", "метро"]
