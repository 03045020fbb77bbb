"""The digest's text, composed from a real archive: items, links, bolding, escaping, splitting."""
from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings as hsettings, strategies as st
from telethon.extensions import html as telethon_html
from telethon.helpers import add_surrogate, del_surrogate
from telethon.tl import types

from bot.archive import Archive
from bot.archive.digests import period_hits, topic_counts
from bot.digest.compose import PART_LIMIT, TELEGRAM_LIMIT, Span, compose, snippet, utf16_len, visible
from bot.digest.schedule import period_ending, previous
from bot.model import Chat, Match, MatchResult, MediaRef, Post

UTC = timezone.utc
KYIV = ZoneInfo("Europe/Kyiv")
NINE = time(9, 0)
DAY = period_ending(datetime(2026, 3, 20).date(), "daily", NINE, KYIV)  # 19.03 09:00 → 20.03 09:00
TITLES = {"szch": "СЗЧ", "busification": "Бусифікація", "tcc": "ТЦК"}

NEWS = Chat(id=-1001700000001, title="Київ новини", username="kyiv_news")
CITY = Chat(id=-1001700000002, title="Львів чат", username="lviv_city_chat", kind="group")
PRIVATE = Chat(id=-1001700000003, title="Закритий канал <&>")


def kyiv(text: str) -> datetime:
    """A Kyiv wall-clock time as the aware UTC moment the archive stores."""
    return datetime.fromisoformat(text).replace(tzinfo=KYIV).astimezone(UTC)


def matched(text: str, **topics: str | tuple[str, ...]) -> MatchResult:
    """A MatchResult whose spans are where each word occurs in `text` (the matcher's contract)."""
    found = []
    for topic, words in topics.items():
        for word in (words,) if isinstance(words, str) else words:
            start = text.index(word)
            found.append(Match(topic, f"{topic}-rule", word, start, start + len(word)))
    return MatchResult(tuple(found), "uk")


def post(chat: Chat, message_id: int, text: str, when: str, **fields) -> Post:
    return Post(chat_id=chat.id, message_id=message_id, date=kyiv(when), text=text, **fields)


async def with_chats(archive: Archive) -> Archive:
    for chat in (NEWS, CITY, PRIVATE):
        await archive.save_chat(chat)
    return archive


async def digest_of(archive: Archive, period=DAY, cap: int = 15, limit: int = PART_LIMIT) -> list[str]:
    before = previous(period, NINE, KYIV)
    counts, total = await topic_counts(archive, before.start, before.end)
    hits = await period_hits(archive, period.start, period.end)
    return compose(period, hits, counts, titles=TITLES, tz=KYIV, cap=cap, limit=limit, previous_total=total)


@pytest.fixture
async def archive(archive):
    """The shared archive fixture (each backend), with the chats of these tests saved."""
    return await with_chats(archive)


def parsed(part: str) -> tuple[str, list]:
    """What Telegram receives for a part: Telethon's own HTML parser, as send_message uses it."""
    return telethon_html.parse(part)


def entity_texts(plain: str, entities: list, kind: type) -> list[str]:
    """The text under each entity of `kind` (offsets count UTF-16 units, as Telegram does)."""
    wide = add_surrogate(plain)
    return [del_surrogate(wide[e.offset:e.offset + e.length]) for e in entities if isinstance(e, kind)]


# ---- what one item shows ---------------------------------------------------------------------

async def test_item_shows_chat_local_time_bold_match_media_and_link(archive):
    text = "Біля метро Лівобережна ТЦК роздають повістки, чоловіків пакують у бус"
    await archive.ingest(NEWS, [(post(NEWS, 501, text, "2026-03-19T14:05", views=1200, forwards=7,
                                      media=MediaRef("photo", 11)), matched(text, tcc="ТЦК"))])
    [part] = await digest_of(archive)
    assert '<a href="https://t.me/kyiv_news/501"><b>Київ новини</b></a> · 19.03 14:05 · 📷' in part
    assert "<b>ТЦК</b> роздають повістки" in part
    assert "👁 1.2k · 🔁 7" in part
    plain, entities = parsed(part)
    bold = entity_texts(plain, entities, types.MessageEntityBold)
    assert "ТЦК" in bold


HOSTILE = "\x00\x1b[2J\x1b]0;owned\x07\r\u202e\u2066"  # NUL, clear screen, set title, overwrite, bidi


async def test_control_characters_and_bidi_overrides_never_reach_the_editors(archive):
    text = f"ТЦК{HOSTILE} на Оболоні{HOSTILE} зупиняють авто"
    await archive.ingest(NEWS, [(post(NEWS, 503, text, "2026-03-19T12:00"), matched(text, tcc="ТЦК"))])
    [part] = await digest_of(archive)
    assert "<b>ТЦК</b>[2J]0;owned" in part and "на Оболоні[2J]0;owned" in part  # the bold still on the word
    assert not any(c in part for c in HOSTILE if c not in "[2J]0;owned")


async def test_private_chat_links_by_internal_id_and_title_is_escaped(archive):
    text = "СЗЧ: ще двоє пішли з частини"
    await archive.ingest(PRIVATE, [(post(PRIVATE, 9, text, "2026-03-19T10:00"), matched(text, szch="СЗЧ"))])
    [part] = await digest_of(archive)
    assert 'href="https://t.me/c/1700000003/9"' in part
    assert "Закритий канал &lt;&amp;&gt;" in part
    assert "Закритий канал <&>" in visible(part)


async def test_album_is_one_item_counting_all_its_media(archive):
    caption = "Бусифікація на Троєщині, відео і фото"
    album = [
        (post(CITY, 70, caption, "2026-03-19T18:00", grouped_id=555, media=MediaRef("photo", 1)),
         matched(caption, busification="Бусифікація")),
        (post(CITY, 71, "", "2026-03-19T18:00", grouped_id=555, media=MediaRef("photo", 2)), MatchResult()),
        (post(CITY, 72, "", "2026-03-19T18:00", grouped_id=555, media=MediaRef("video", 3)), MatchResult()),
    ]
    await archive.ingest(CITY, album)
    [part] = await digest_of(archive)
    assert part.count("t.me/lviv_city_chat/") == 1
    assert "📷 2 🎥" in part


async def test_same_text_in_several_chats_is_one_item_saying_where_else(archive):
    text = "Терміново: ТЦК перекрили виїзд з міста, перевіряють усіх чоловіків"
    for n, chat in enumerate((NEWS, CITY, PRIVATE)):
        await archive.ingest(chat, [(post(chat, 100 + n, text, f"2026-03-19T1{n}:00"), matched(text, tcc="ТЦК"))])
    other = "ТЦК у Дарниці сьогодні спокійно"
    await archive.ingest(NEWS, [(post(NEWS, 200, other, "2026-03-19T12:00", views=50), matched(other, tcc="ТЦК"))])
    [part] = await digest_of(archive)
    assert part.count("Терміново") == 1
    assert "також у: " in part
    assert 'href="https://t.me/lviv_city_chat/101"' in part and 'href="https://t.me/c/1700000003/102"' in part
    # carried by three chats, it outranks the single post
    assert part.index("Терміново") < part.index("Дарниці")
    # the head still counts messages, not items
    assert "• <b>ТЦК</b>: 4" in part


async def test_an_edit_that_no_longer_matches_bolds_nothing_and_keeps_why_it_was_archived(archive):
    first = "ТЦК на Оболоні зупиняють авто"
    await archive.ingest(NEWS, [(post(NEWS, 310, first, "2026-03-19T09:30"), matched(first, tcc="ТЦК"))])
    calm = "Усе спокійно, новин немає"
    edit = post(NEWS, 310, calm, "2026-03-19T09:30", edit_date=kyiv("2026-03-19T10:00"))
    await archive.ingest(NEWS, [(edit, MatchResult((), "uk"))])
    [part] = await digest_of(archive)
    assert "Усе спокійно" in part and "<b>Усе</b>" not in part  # the old span pointed at "Усе"
    stored = await archive.message(NEWS.id, 310)
    assert [(m["term"], m["start"], m["version"]) for m in stored["matches"]] == [("ТЦК", 0, 1)]
    assert stored["versions"][0]["text"] == first
    # an edit that matches again has its own spans, into its own text
    again = "Знову ТЦК на Оболоні"
    edit = post(NEWS, 310, again, "2026-03-19T09:30", edit_date=kyiv("2026-03-19T10:30"))
    await archive.ingest(NEWS, [(edit, matched(again, tcc="ТЦК"))])
    [part] = await digest_of(archive)
    assert "Знову <b>ТЦК</b> на Оболоні" in part


async def test_edited_is_marked_and_deleted_quotes_the_archived_text_without_a_link(archive):
    first = "СЗЧ: з частини пішли троє"
    await archive.ingest(NEWS, [(post(NEWS, 300, first, "2026-03-19T09:30"), matched(first, szch="СЗЧ"))])
    edited = first + " (уточнення: двоє)"
    await archive.ingest(NEWS, [(post(NEWS, 300, edited, "2026-03-19T09:30", edit_date=kyiv("2026-03-19T10:00")),
                                 matched(edited, szch="СЗЧ"))])
    gone = "Бусифікація біля вокзалу, обережно"
    await archive.ingest(CITY, [(post(CITY, 400, gone, "2026-03-19T11:00"), matched(gone, busification="Бусифікація"))])
    await archive.mark_deleted(CITY.id, [400], kyiv("2026-03-19T12:00"))
    [part] = await digest_of(archive)
    assert "✏️ змінено" in part and "уточнення" in part
    assert "🗑 видалено" in part
    assert "t.me/lviv_city_chat/400" not in part
    assert "<blockquote><b>Бусифікація</b> біля вокзалу, обережно</blockquote>" in part


async def test_head_gives_the_period_totals_change_and_busiest_chats(archive):
    earlier = "СЗЧ учора"
    await archive.ingest(NEWS, [(post(NEWS, 1, earlier, "2026-03-18T12:00"), matched(earlier, szch="СЗЧ"))])
    await archive.ingest(NEWS, [(post(NEWS, 2, earlier + "!", "2026-03-18T13:00"), matched(earlier, szch="СЗЧ"))])
    for n in range(3):
        text = f"ТЦК новина {n}"
        await archive.ingest(CITY, [(post(CITY, 10 + n, text, "2026-03-19T12:00"), matched(text, tcc="ТЦК"))])
    [part] = await digest_of(archive)
    head = part.split("\n\n")[0]
    assert "19.03.2026 09:00 — 20.03.2026 09:00 (Europe/Kyiv)" in head
    assert "Усього: <b>3</b> (+1; попередній період: 2)" in head
    assert "• <b>СЗЧ</b>: 0 (−2)" in head
    assert "• <b>ТЦК</b>: 3 (+3)" in head
    assert "Найактивніші чати: Львів чат — 3" in head
    assert "учора" not in part  # outside the period


async def test_empty_period_still_says_so(archive):
    [part] = await digest_of(archive)
    assert "За цей період збігів немає." in part


async def test_each_topic_is_capped_with_a_search_hint(archive):
    items = []
    for n in range(20):
        text = f"СЗЧ випадок номер {n}"
        items.append((post(NEWS, 1000 + n, text, "2026-03-19T15:00", views=n), matched(text, szch="СЗЧ")))
    await archive.ingest(NEWS, items)
    [part] = await digest_of(archive, cap=15)
    assert part.count("t.me/kyiv_news/") == 15
    assert "…і ще 5 — </i><code>dozor search --topic szch --since 2026-03-19T09:00 --until 2026-03-20T09:00</code>" in part
    assert "номер 19" in part and "номер 4 " not in part  # most viewed first


# ---- escaping ------------------------------------------------------------------------------

async def test_markup_in_a_message_stays_text(archive):
    text = 'Пишуть <b>жирно</b> & "лапки" <a href="x">ТЦК</a> &amp; кінець'
    await archive.ingest(NEWS, [(post(NEWS, 7, text, "2026-03-19T12:00"), matched(text, tcc="ТЦК"))])
    [part] = await digest_of(archive)
    plain, entities = parsed(part)
    assert text in plain
    bold = entity_texts(plain, entities, types.MessageEntityBold)
    assert "ТЦК" in bold and "жирно" not in bold
    links = [e.url for e in entities if isinstance(e, types.MessageEntityTextUrl)]
    assert links == ["https://t.me/kyiv_news/7"]


alphabet = st.sampled_from(list("аб ТЦК<>&;\"'/bi\n#x") + ["&amp;", "<b>", "</b>", "😀"])


@hsettings(max_examples=300, deadline=None)
@given(st.lists(alphabet, min_size=1, max_size=200).map("".join), st.data())
def test_bolding_lands_exactly_on_the_span_for_any_text(text, data):
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    html = snippet(text, [Span("t", start, end)], width=10_000)
    plain, entities = telethon_html.parse(html)
    folded = re.sub(r"\s+", " ", text)
    assert plain == folded.strip() or plain == folded.strip(" ")
    bold = "".join(entity_texts(plain, entities, types.MessageEntityBold))
    assert bold.strip() == re.sub(r"\s+", " ", text[start:end]).strip()


# ---- splitting -----------------------------------------------------------------------------

async def test_a_300_item_day_is_split_between_items_within_telegrams_limit(archive):
    chats = [Chat(id=-1001800000000 - n, title=f"Канал {n} " + "д" * 40, username=f"chan_{n:03d}") for n in range(30)]
    for chat in chats:
        await archive.save_chat(chat)
    start = kyiv("2026-03-19T09:10")
    for n in range(300):
        chat = chats[n % 30]
        topic = ("szch", "busification", "tcc")[n % 3]
        word = {"szch": "СЗЧ", "busification": "бусифікація", "tcc": "ТЦК"}[topic]
        text = f"Повідомлення {n}: {word} — " + "опис події " * 15 + "& <i>кінець</i>"
        when = (start + timedelta(minutes=4 * n)).astimezone(KYIV).isoformat(timespec="minutes")[:16]
        await archive.ingest(chat, [(post(chat, n + 1, text, when, views=n * 10),
                                     matched(text, **{topic: word}))])
    parts = await digest_of(archive, cap=1000)
    assert len(parts) > 5
    seen = []
    for part in parts:
        plain, _ = parsed(part)
        assert utf16_len(plain) <= TELEGRAM_LIMIT
        assert len(part) <= TELEGRAM_LIMIT
        # every item is whole: its header line, snippet and end all in this part
        headers = re.findall(r'▪️ <a href="https://t\.me/(chan_\d+/\d+)">', part)
        assert part.count("▪️") == len(headers) == part.count("&amp; &lt;i&gt;кінець&lt;/i&gt;")
        seen.extend(headers)
    assert len(seen) == 300 and len(set(seen)) == 300
    assert parts[1].startswith("<b>━━ ") and "частина 2/" in parts[1]


async def test_a_repost_in_the_same_chat_is_called_a_repeat_not_by_the_chat_title(archive):
    text = "ТЦК на виїзді з Броварів, перевіряють документи"
    for n in range(2):
        await archive.ingest(NEWS, [(post(NEWS, 300 + n, text, f"2026-03-19T1{n}:00"), matched(text, tcc="ТЦК"))])
    [part] = await digest_of(archive)
    assert part.count("на виїзді з Броварів") == 1
    assert f'також у: <a href="https://t.me/{NEWS.username}/301">повтор тут</a>' in part
