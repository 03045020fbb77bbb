"""The archive on both backends: idempotent writes, versions, marks, checkpoints."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from bot.archive import Archive, ArchiveError
from bot.archive.schema import MIGRATIONS
from bot.model import Chat, Match, MatchResult, MediaRef, Post

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
CHAT = Chat(id=-1001234567890, title="Київ новини", username="kyiv_news")
HIT = MatchResult(matches=(Match("enlistment_centre", "tck", "ТЦК", 0, 3),), language="uk")
MISS = MatchResult()


def post(message_id: int, text: str = "ТЦК біля метро", **extra) -> Post:
    return Post(chat_id=CHAT.id, message_id=message_id, date=T0 + timedelta(minutes=message_id), text=text, **extra)


@pytest.fixture
async def archive(archive):
    """The archive of conftest (each backend), with the chat saved."""
    await archive.save_chat(CHAT, "@kyiv_news")
    return archive


async def test_the_same_message_twice_is_stored_once(archive):
    await archive.ingest(CHAT, [(post(1), HIT), (post(2, "погода"), MISS)])
    report = await archive.ingest(CHAT, [(post(1), HIT), (post(2, "погода"), MISS)])
    assert report.archived == 0 and report.edited == 0
    assert await archive.message_ids(CHAT.id) == [1]
    stored = await archive.message(CHAT.id, 1)
    assert [m["topic"] for m in stored["matches"]] == ["enlistment_centre"]
    assert stored["language"] == "uk"


async def test_checkpoint_moves_to_the_highest_id_seen_even_if_it_did_not_match(archive):
    report = await archive.ingest(CHAT, [(post(1), HIT), (post(7, "погода"), MISS)])
    assert report.checkpoint == 7 and await archive.checkpoint(CHAT.id) == 7
    await archive.ingest(CHAT, [(post(3), HIT)])  # an older message never moves it back
    assert await archive.checkpoint(CHAT.id) == 7
    await archive.ingest(CHAT, [(post(9), HIT)], advance_checkpoint=False)
    assert await archive.checkpoint(CHAT.id) == 7


async def test_every_edit_keeps_the_text_before_it(archive):
    await archive.ingest(CHAT, [(post(1, "ТЦК біля метро"), HIT)])
    await archive.ingest(CHAT, [(post(1, "ТЦК біля метро, вже поїхали"), HIT)])
    await archive.ingest(CHAT, [(post(1, "оновлено: все спокійно"), MISS)])
    stored = await archive.message(CHAT.id, 1)
    assert stored["text"] == "оновлено: все спокійно"
    assert [v["text"] for v in stored["versions"]] == ["ТЦК біля метро", "ТЦК біля метро, вже поїхали"]
    # the edit no longer matches, but the archive still says why the message was kept
    assert stored["matched"] == 1 and stored["matches"][0]["topic"] == "enlistment_centre"


async def test_an_edit_that_starts_matching_archives_the_message(archive):
    await archive.ingest(CHAT, [(post(1, "погода"), MISS)])
    await archive.ingest(CHAT, [(post(1, "ТЦК біля метро"), HIT)], advance_checkpoint=False)
    assert (await archive.message(CHAT.id, 1))["text"] == "ТЦК біля метро"


async def test_deletion_marks_and_keeps(archive):
    await archive.ingest(CHAT, [(post(1), HIT), (post(2), HIT)])
    assert await archive.mark_deleted(CHAT.id, [1, 99], T0) == 1
    assert await archive.mark_deleted(CHAT.id, [1], T0 + timedelta(hours=1)) == 0  # first mark stays
    stored = await archive.message(CHAT.id, 1)
    assert stored["text"] == "ТЦК біля метро" and stored["deleted_at"] == T0
    assert await archive.message_ids(CHAT.id) == [2]  # not deleted ones


async def test_album_items_are_kept_with_their_matching_caption(archive):
    photo = MediaRef(kind="photo", telegram_id=5, size=1000)
    items = [(post(1, "", grouped_id=77, media=photo), MISS), (post(2, "ТЦК біля метро", grouped_id=77, media=photo), HIT),
             (post(3, "", grouped_id=78, media=photo), MISS)]
    await archive.ingest(CHAT, items)
    assert await archive.message_ids(CHAT.id) == [1, 2]
    # a late album item arriving in a later batch joins its album too
    await archive.ingest(CHAT, [(post(4, "", grouped_id=77, media=photo), MISS)])
    assert await archive.message_ids(CHAT.id) == [1, 2, 4]
    assert await archive.scalar("SELECT COUNT(*) FROM media WHERE status = 'pending'") == 3


async def test_a_newer_schema_is_refused_not_damaged(tmp_path):
    path = tmp_path / "archive.sqlite3"
    await (await Archive.open(path)).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    with pytest.raises(ArchiveError, match="newer dozor"):
        await Archive.open(path)


async def test_archive_is_private_and_in_wal_mode(tmp_path):
    archive = await Archive.open(tmp_path / "archive.sqlite3")
    try:
        assert await archive.scalar("PRAGMA journal_mode") == "wal"
    finally:
        await archive.close()
    assert (tmp_path / "archive.sqlite3").stat().st_mode & 0o077 == 0


async def test_search_finds_every_word_and_links_back(archive):
    from bot.archive.search import search

    await archive.ingest(CHAT, [(post(1, "ТЦК пакують біля метро Лісова"), HIT),
                                (post(2, "ТЦК на блокпості в Броварах"), HIT),
                                (post(3, 'Він сказав "метро" (закрите) & пішов'), HIT)])
    await archive.mark_deleted(CHAT.id, [2], T0)
    hits = await search(archive, "тцк метро")
    assert [h.message_id for h in hits] == [1]
    assert hits[0].link == "https://t.me/kyiv_news/1" and hits[0].topics == ("enlistment_centre",)
    assert "[метро]" in hits[0].snippet
    assert [h.message_id for h in await search(archive, "блокп*")] == [2]
    assert (await search(archive, "блокп*"))[0].link is None  # deleted: nothing to link to
    assert [h.message_id for h in await search(archive, '"метро" (закрите) &')] == [3]  # no syntax errors
    assert await search(archive, "метро", topic="szch") == []


async def test_search_without_words_lists_a_topic_in_a_period(archive):
    from bot.archive.search import search

    await archive.ingest(CHAT, [(post(1), HIT), (post(30), HIT), (post(90), HIT)])
    hits = await search(archive, topic="enlistment_centre", since=T0 + timedelta(minutes=10),
                        until=T0 + timedelta(minutes=60))
    assert [h.message_id for h in hits] == [30]


async def test_an_edit_that_adds_or_swaps_a_file_queues_the_download(archive):
    photo, video = MediaRef(kind="photo", telegram_id=5), MediaRef(kind="video", telegram_id=9)
    await archive.ingest(CHAT, [(post(1), HIT)])
    await archive.ingest(CHAT, [(post(1, media=photo), HIT)], advance_checkpoint=False)
    rows = await archive.rows("SELECT kind, telegram_id, status FROM media")
    assert [tuple(r) for r in rows] == [("photo", 5, "pending")]
    assert (await archive.message(CHAT.id, 1))["media_kind"] == "photo"
    async with archive.transaction() as db:
        await db.execute("UPDATE media SET status = 'done'")
    await archive.ingest(CHAT, [(post(1, media=photo), HIT)], advance_checkpoint=False)
    assert [r.status for r in await archive.rows("SELECT status FROM media")] == ["done"]  # same file
    await archive.ingest(CHAT, [(post(1, media=video), HIT)], advance_checkpoint=False)
    assert [r.status for r in await archive.rows("SELECT status FROM media")] == ["pending"]  # swapped


async def test_a_deletion_without_a_chat_never_marks_a_supergroup_message(archive):
    # Telegram names no chat for deletions in private chats and basic groups, whose ids come from
    # one account-wide sequence; supergroups number their own messages, so the ids collide
    basic = Chat(id=-4242, title="Батьківський чат", kind="group")
    await archive.save_chat(basic)
    await archive.ingest(CHAT, [(post(7), HIT)])
    await archive.ingest(basic, [(Post(basic.id, 7, T0, "ТЦК біля школи"), HIT)])
    assert await archive.mark_deleted(None, [7], T0) == 1
    assert (await archive.message(CHAT.id, 7))["deleted_at"] is None
    assert (await archive.message(basic.id, 7))["deleted_at"] is not None


async def test_a_page_read_before_an_edit_does_not_undo_it(archive):
    edited_at = T0 + timedelta(hours=2)
    await archive.ingest(CHAT, [(post(1, "ТЦК біля метро"), HIT)])
    await archive.ingest(CHAT, [(post(1, "ТЦК біля метро, вже поїхали", edit_date=edited_at), HIT)], False)
    # a history page fetched before the edit arrives after it
    await archive.ingest(CHAT, [(post(1, "ТЦК біля метро", views=900), HIT)])
    stored = await archive.message(CHAT.id, 1)
    assert stored["text"] == "ТЦК біля метро, вже поїхали"
    assert [v["text"] for v in stored["versions"]] == ["ТЦК біля метро"]
    assert stored["views"] == 900  # the counters are still news


async def test_a_deletion_that_overtakes_its_history_page_still_marks_the_message(archive):
    await archive.ingest(CHAT, [(post(1), HIT)])
    # the live deletion of message 2 is written while the page that carries it is still being read
    assert await archive.mark_deleted(CHAT.id, [2], T0) == 0
    await archive.ingest(CHAT, [(post(2), HIT), (post(3), HIT)])
    assert (await archive.message(CHAT.id, 2))["deleted_at"] == T0
    assert (await archive.message(CHAT.id, 3))["deleted_at"] is None
    assert await archive.rows("SELECT * FROM early_deletions") == []  # nothing kept once passed


async def error_of(archive: Archive, chat_id: int) -> str | None:
    [row] = [r for r in await archive.status(since=datetime.now(timezone.utc)) if r.chat_id == chat_id]
    return row.error


async def test_status_shows_a_chat_failure_only_until_the_chat_is_read_again(archive):
    await archive.save_chat(CHAT, "@kyiv_news")
    await archive.record_failure("catchup", "ConnectionError: Telegram unreachable", CHAT.id)
    assert await error_of(archive, CHAT.id) == "ConnectionError: Telegram unreachable"
    assert (await archive.totals())["failures"] == 1
    await archive.mark_read(CHAT.id, datetime.now(timezone.utc) + timedelta(seconds=1))  # a later whole read
    assert await error_of(archive, CHAT.id) is None
    assert (await archive.totals())["failures"] == 0
    [kept] = await archive.failures()
    assert kept["resolved_at"] is not None  # still on record, as history


async def test_a_message_failure_is_resolved_when_the_message_is_stored(archive):
    await archive.save_chat(CHAT, "@kyiv_news")
    await archive.record_failure("store", "ValueError: broken", CHAT.id, 7)
    await archive.record_failure("convert", "unknown media", CHAT.id, 8)
    assert await error_of(archive, CHAT.id) == "unknown media"
    await archive.ingest(CHAT, [(post(8), HIT)])
    assert await error_of(archive, CHAT.id) == "ValueError: broken"  # 7 is still waiting
    await archive.ingest(CHAT, [(post(7, "нічого"), MISS)])
    assert await error_of(archive, CHAT.id) is None


async def test_resolved_failures_are_dropped_after_the_retention(archive):
    await archive.save_chat(CHAT, "@kyiv_news")
    await archive.record_failure("store", "old trouble", CHAT.id, 7)
    await archive.ingest(CHAT, [(post(7), HIT)])
    async with archive.transaction() as db:  # as if it had been resolved long ago
        await db.execute("UPDATE failures SET resolved_at = '2020-01-01T00:00:00+00:00'")
    await archive.record_failure("store", "new trouble", CHAT.id, 9)
    assert [f["reason"] for f in await archive.failures()] == ["new trouble"]


async def test_a_record_carries_every_version_and_the_chat_list_counts_what_is_kept(archive):
    from bot.archive.browse import coverage, topic_counts
    from bot.archive.records import record, records

    edited_at = T0 + timedelta(hours=1)
    await archive.ingest(CHAT, [(post(1, "ТЦК біля метро"), HIT)])
    await archive.ingest(CHAT, [(post(1, "ТЦК біля метро, вже поїхали", edit_date=edited_at), HIT)], False)
    await archive.ingest(CHAT, [(post(2, media=MediaRef(kind="photo", telegram_id=5)), HIT), (post(3, "погода"), MISS)])
    await archive.mark_deleted(CHAT.id, [2], T0 + timedelta(hours=2))
    one = await record(archive, CHAT.id, 1)
    assert [v.text for v in one.versions] == ["ТЦК біля метро", "ТЦК біля метро, вже поїхали"]
    assert one.edit_date == edited_at and one.versions[0].seen_at <= one.versions[1].seen_at
    assert one.topics == ("enlistment_centre",) and one.link == "https://t.me/kyiv_news/1"
    photo = await record(archive, CHAT.id, 2)
    assert photo.deleted_at == T0 + timedelta(hours=2) and photo.media.status == "pending"
    # one record a batch: every batch starts after the last one
    found = [r.message_id async for r in records(archive, topic="enlistment_centre", since=T0, batch=1)]
    assert found == [1, 2]
    assert [r.message_id async for r in records(archive, chat_id=CHAT.id, until=post(2).date)] == [1]
    [listed] = await coverage(archive)
    assert (listed.messages, listed.matched, listed.deleted, listed.sources) == (2, 2, 1, ("@kyiv_news",))
    assert (listed.first, listed.last) == (post(1).date, post(2).date)
    assert await topic_counts(archive) == [("enlistment_centre", 2)]


async def test_what_the_model_wants_reviewed_is_listed_for_its_period(archive):
    from bot.archive.opinions import period_reviews, recent_texts
    from bot.model import Opinion

    unsure = MatchResult(language="uk", opinions=(Opinion("szch", 0.55, found=False),))
    await archive.ingest(CHAT, [(post(1, "пішов з частини"), unsure), (post(2), HIT)])
    assert await period_reviews(archive, T0, T0 + timedelta(hours=1)) == {(CHAT.id, 1): {"szch": 0.55}}
    assert await period_reviews(archive, T0 + timedelta(minutes=2), T0 + timedelta(hours=1)) == {}
    assert await recent_texts(archive, T0) == ["ТЦК біля метро", "пішов з частини"]  # newest first


async def test_coverage_rows_keep_their_moments(archive):
    from bot.archive.coverage import CoverageRow, load_coverage, save_coverage, watched_coverage

    row = CoverageRow(CHAT.id, pts=41, complete_up_to=T0, gap_found_at=T0 + timedelta(minutes=1))
    await save_coverage(archive, [row])
    await archive.ingest(CHAT, [(post(7), HIT)])
    loaded = await load_coverage(archive, [CHAT.id, 404])
    assert loaded == {CHAT.id: CoverageRow(CHAT.id, checkpoint=7, pts=41, complete_up_to=T0,
                                           gap_found_at=T0 + timedelta(minutes=1))}
    rows, titles = await watched_coverage(archive)
    assert [r.chat_id for r in rows] == [CHAT.id] and titles == {CHAT.id: CHAT.title}


async def test_a_nul_in_a_post_is_stored_on_both_backends_and_a_re_read_is_no_edit(archive):
    # PostgreSQL refuses NUL in text; refusing the post would hold the chat's checkpoint for ever
    text = "\x00ТЦК біля метро"
    hit = MatchResult(matches=(Match("enlistment_centre", "tck", "ТЦК", 1, 4),), language="uk")
    await archive.ingest(CHAT, [(post(1, text, author_name="Оксана\x00"), hit)])
    report = await archive.ingest(CHAT, [(post(1, text, author_name="Оксана\x00"), hit)])
    stored = await archive.message(CHAT.id, 1)
    # SQLite keeps it as posted; PostgreSQL has SUB in its place, which no one is shown either
    nul = "\x00" if archive.dialect == "sqlite" else "\x1a"
    assert stored["text"] == f"{nul}ТЦК біля метро" and stored["author_name"] == f"Оксана{nul}"
    assert report.edited == 0 and stored["versions"] == []
    span = stored["matches"][0]
    assert stored["text"][span["start"]:span["end"]] == "ТЦК"
    await archive.record_failure("store", "broken\x00", CHAT.id, 2, detail="\x00")
    assert [f["detail"] for f in await archive.failures()] == [nul]
