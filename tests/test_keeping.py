"""What a batch of posts keeps and changes, decided without a database: the album rule, edit
ordering, versioning and match replacement."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bot.archive.keeping import Counters, Insert, Known, Update, Version, albums_of, decide
from bot.model import Chat, Match, MatchResult, MediaRef, Opinion, Post

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
CHAT = Chat(id=-1001234567890, title="Київ новини", username="kyiv_news")
HIT = MatchResult(matches=(Match("enlistment_centre", "tck", "ТЦК", 0, 3),), language="uk")
MISS = MatchResult(language="uk")
PHOTO = MediaRef(kind="photo", telegram_id=5)


def post(message_id: int, text: str = "ТЦК біля метро", **extra) -> Post:
    return Post(chat_id=CHAT.id, message_id=message_id, date=T0 + timedelta(minutes=message_id), text=text, **extra)


def key(message_id: int) -> tuple[int, int]:
    return (CHAT.id, message_id)


def kept(plan) -> list[int]:
    return [w.post.message_id for w in plan.writes if isinstance(w, Insert)]


# ---- what is kept -----------------------------------------------------------------------

def test_a_match_is_kept_and_a_miss_is_not():
    plan = decide(CHAT, [(post(1), HIT), (post(2, "погода"), MISS)], {}, set())
    assert kept(plan) == [1]
    assert (plan.archived, plan.matched, plan.edited) == (1, 1, 0)


def test_a_chat_that_keeps_everything_keeps_a_miss_without_counting_it_as_matched():
    plan = decide(Chat(id=CHAT.id, title="Львів чат", keep_all=True), [(post(2, "погода"), MISS)], {}, set())
    assert kept(plan) == [2] and (plan.archived, plan.matched) == (1, 0)


def test_a_post_the_model_wants_reviewed_is_kept():
    unsure = MatchResult(opinions=(Opinion("szch", 0.55, found=False),))
    assert kept(decide(CHAT, [(post(3, "пішов з частини"), unsure)], {}, set())) == [3]


def test_every_item_of_an_album_whose_caption_matched_is_kept_whatever_the_order():
    items = [(post(1, "", grouped_id=77, media=PHOTO), MISS), (post(2, grouped_id=77, media=PHOTO), HIT),
             (post(3, "", grouped_id=78, media=PHOTO), MISS)]
    assert albums_of(items) == {77, 78}
    assert kept(decide(CHAT, items, {}, set())) == [1, 2]


def test_a_late_album_item_joins_an_album_that_matched_before():
    late = [(post(4, "", grouped_id=77, media=PHOTO), MISS), (post(5, "", grouped_id=78, media=PHOTO), MISS)]
    assert kept(decide(CHAT, late, {}, matched_albums={77})) == [4]
    assert kept(decide(CHAT, late, {}, matched_albums=set())) == []


def test_a_message_repeated_in_one_batch_is_written_once():
    plan = decide(CHAT, [(post(1), HIT), (post(1), HIT)], {}, set())
    assert [type(w) for w in plan.writes] == [Insert, Update]
    assert plan.archived == 1 and plan.writes[1].version is None


def test_the_newest_post_moves_the_checkpoint_even_if_it_is_not_kept():
    plan = decide(CHAT, [(post(9, "погода"), MISS), (post(3), HIT)], {}, set())
    assert plan.newest.message_id == 9
    assert decide(CHAT, [], {}, set()).newest is None


# ---- edits ------------------------------------------------------------------------------

def test_a_changed_text_keeps_the_earlier_one_as_the_next_version():
    held = {key(1): Known("ТЦК біля метро", versions=1)}
    plan = decide(CHAT, [(post(1, "ТЦК біля метро, вже поїхали", edit_date=T0), HIT)], held, set())
    [update] = plan.writes
    assert update.version == Version(2, "ТЦК біля метро", None)
    assert plan.edited == 1 and plan.archived == 0


def test_two_edits_in_one_batch_become_two_versions():
    held = {key(1): Known("перший")}
    items = [(post(1, "другий", edit_date=T0), MISS), (post(1, "третій", edit_date=T0 + timedelta(minutes=1)), MISS)]
    plan = decide(CHAT, items, held, set())
    assert [w.version for w in plan.writes] == [Version(1, "перший", None), Version(2, "другий", T0)]


def test_the_same_text_read_again_is_no_version():
    held = {key(1): Known("ТЦК біля метро", edit_date=T0)}
    [update] = decide(CHAT, [(post(1, edit_date=T0, views=900), HIT)], held, set()).writes
    assert isinstance(update, Update) and update.version is None and update.spans == "add"


def test_a_page_read_before_an_edit_only_updates_the_counters():
    held = {key(1): Known("ТЦК біля метро, вже поїхали", edit_date=T0 + timedelta(hours=2))}
    for older in (None, T0 + timedelta(hours=1)):
        plan = decide(CHAT, [(post(1, "ТЦК біля метро", edit_date=older, views=900), HIT)], held, set())
        assert [type(w) for w in plan.writes] == [Counters] and plan.edited == 0


def test_the_same_edit_read_again_with_a_finer_clock_is_not_older_than_what_was_stored():
    held = {key(1): Known("ТЦК", edit_date=T0)}
    [write] = decide(CHAT, [(post(1, "ТЦК", edit_date=T0 + timedelta(microseconds=400)), HIT)], held, set()).writes
    assert isinstance(write, Update)


def test_a_newer_edit_replaces_an_older_one():
    held = {key(1): Known("ТЦК", edit_date=T0)}
    [write] = decide(CHAT, [(post(1, "ТЦК поїхали", edit_date=T0 + timedelta(minutes=5)), HIT)], held, set()).writes
    assert isinstance(write, Update) and write.version.text == "ТЦК"


# ---- match replacement ------------------------------------------------------------------

def test_an_edit_that_matches_replaces_the_spans():
    held = {key(1): Known("Знову ТЦК")}
    [update] = decide(CHAT, [(post(1, "ТЦК на Оболоні", edit_date=T0), HIT)], held, set()).writes
    assert update.spans == "replace"


def test_an_edit_that_no_longer_matches_keeps_the_spans_with_their_version():
    held = {key(1): Known("ТЦК біля метро", versions=2)}
    [update] = decide(CHAT, [(post(1, "все спокійно", edit_date=T0), MISS)], held, set()).writes
    assert update.spans == "retire" and update.version.number == 3


# ---- deletion marks and files -----------------------------------------------------------

def test_a_message_seen_again_while_marked_deleted_asks_for_its_mark_once():
    held = {key(1): Known("ТЦК біля метро", deleted=True)}
    plan = decide(CHAT, [(post(1), HIT), (post(1), HIT)], held, set())
    assert [w.restore for w in plan.writes] == [True, False]
    older = {key(1): Known("ТЦК", edit_date=T0, deleted=True)}
    plan = decide(CHAT, [(post(1, "ТЦК"), HIT), (post(1, "ТЦК"), HIT)], older, set())
    assert [type(w) for w in plan.writes] == [Counters, Counters]
    assert [w.restore for w in plan.writes] == [True, False]


def test_an_edit_that_adds_or_swaps_a_file_fetches_it_once():
    bare = {key(1): Known("ТЦК біля метро")}
    assert decide(CHAT, [(post(1, media=PHOTO), HIT)], bare, set()).writes[0].file == "add"
    same = {key(1): Known("ТЦК біля метро", file=5, has_file=True)}
    assert decide(CHAT, [(post(1, media=PHOTO), HIT)], same, set()).writes[0].file is None
    video = MediaRef(kind="video", telegram_id=9)
    swapped = decide(CHAT, [(post(1, media=video), HIT), (post(1, media=video), HIT)], same, set())
    assert [w.file for w in swapped.writes] == ["refetch", None]
    assert decide(CHAT, [(post(1), HIT)], same, set()).writes[0].file is None  # a read without the file
