"""What a batch of posts changes in the archive, decided without touching it. Pure: no I/O, no clock.

    known = {(chat_id, message_id): Known(text, edit_date, versions=1)}   # what the archive holds
    plan = decide(chat, items, known, matched_albums={77})
    for write in plan.writes: ...          # Insert | Update | Counters, in the batch's order
    plan.archived, plan.edited, plan.matched, plan.newest

`Archive.ingest` reads what these rules need, asks `decide`, and writes what it says, so
both backends share the rules and their tests need no database. The rules:

- What is kept: a post that matched, one the model wants reviewed, every post of a chat that
  keeps everything, and every item of an album one of whose items matched (the caption is
  usually on one item only; the album's photos are the evidence).
- Edit ordering: a post read with an older edit date than the text we hold (a history page
  fetched before the live edit arrived) changes only the counters; it never undoes the edit.
- Versioning: a post whose text differs from the one held replaces it, and the text held is
  kept as the next version (1 = the first text seen). Nothing is overwritten without a trace.
- Match replacement: spans index the text they were found in. An edit that matches replaces
  the spans; one that no longer matches keeps them with the version they point into, which
  says why the message was archived.

The batch is decided in order, each post seeing the writes of those before it, so a message
repeated within one batch (live and history overlapping) behaves as if it came twice.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from bot.model import Chat, MatchResult, Post

Key = tuple[int, int]  # (chat_id, message_id)


@dataclass(frozen=True, slots=True)
class Known:
    """An archived message, as far as the rules need it."""

    text: str
    edit_date: datetime | None = None
    deleted: bool = False  # marked deleted (seen again, an inferred mark may be cleared)
    versions: int = 0  # earlier texts kept: the number of the newest one
    file: int | None = None  # Telegram's id of the file it carries, if it carries one
    has_file: bool = False


@dataclass(frozen=True, slots=True)
class Version:
    """A text being replaced, kept as this version."""

    number: int
    text: str
    edit_date: datetime | None


@dataclass(frozen=True, slots=True)
class Insert:
    """A message the archive does not hold and keeps: written with its file, spans and reviews."""

    post: Post
    result: MatchResult


@dataclass(frozen=True, slots=True)
class Counters:
    """A read older than the edit held: only views and forwards are news."""

    post: Post
    restore: bool  # seen again while marked deleted


Spans = Literal["add", "replace", "retire"]
# add: the text did not change, the spans found are written beside those held
# replace: a new text that matches: the spans of the old text go, the new ones are written
# retire: a new text that does not match: the spans held move to the version they index


@dataclass(frozen=True, slots=True)
class Update:
    """A message the archive holds, read again: its text, counters and spans are brought up to date."""

    post: Post
    result: MatchResult
    restore: bool = False  # seen again while marked deleted
    version: Version | None = None  # the text replaced, when it changed
    spans: Spans = "add"
    file: Literal["add", "refetch"] | None = None  # a file the edit added, or swapped for another


Write = Insert | Update | Counters


@dataclass(slots=True)
class Plan:
    writes: list[Write] = field(default_factory=list)
    archived: int = 0  # messages newly written
    edited: int = 0  # messages whose text changed (a version kept)
    matched: int = 0  # of the archived ones, how many matched a topic
    newest: Post | None = None  # the highest id of the batch, for the checkpoint


def albums_of(items: list[tuple[Post, MatchResult]]) -> set[int]:
    """The albums the batch touches: the archive is asked which of them matched before."""
    return {post.grouped_id for post, _ in items if post.grouped_id}


def keeps(chat: Chat, post: Post, result: MatchResult, matched_albums: set[int]) -> bool:
    """Whether a post the archive does not hold is archived."""
    return bool(result) or bool(result.review) or chat.keep_all or (
        post.grouped_id is not None and post.grouped_id in matched_albums)


def is_older(post: Post, held: Known) -> bool:
    """Whether the post was read before the edit held (so it must not replace it)."""
    if held.edit_date is None:
        return False
    return post.edit_date is None or post.edit_date < held.edit_date


def file_change(post: Post, held: Known) -> Literal["add", "refetch"] | None:
    """An edit can add a file to a message, or swap it; either way the new file is fetched
    (the media worker keeps the earlier description as a version)."""
    if post.media is None:
        return None
    if not held.has_file:
        return "add"
    return "refetch" if held.file != post.media.telegram_id else None


def decide(chat: Chat, items: list[tuple[Post, MatchResult]], known: dict[Key, Known],
           matched_albums: set[int]) -> Plan:
    """What to write for a batch of one chat's posts. `known`: the archived messages among
    them; `matched_albums`: those of `albums_of(items)` with an archived item that matched."""
    plan = Plan()
    albums = set(matched_albums) | {post.grouped_id for post, result in items if post.grouped_id and result}
    held = dict(known)
    for post, result in items:
        before = held.get(post.key)
        if before is None:
            if not keeps(chat, post, result, albums):
                continue
            plan.writes.append(Insert(post, result))
            plan.archived += 1
            plan.matched += bool(result)
            held[post.key] = Known(post.text, _seconds(post.edit_date), versions=0,
                                   file=post.media.telegram_id if post.media else None,
                                   has_file=post.media is not None)
            continue
        restore = before.deleted
        if is_older(post, before):
            plan.writes.append(Counters(post, restore))
            held[post.key] = replace(before, deleted=False)
            continue
        version, spans = None, "add"
        if before.text != post.text:
            version = Version(before.versions + 1, before.text, before.edit_date)
            spans = "replace" if result.matches else "retire"
            plan.edited += 1
        change = file_change(post, before)
        plan.writes.append(Update(post, result, restore, version, spans, change))
        held[post.key] = Known(
            post.text, _seconds(post.edit_date), deleted=False,
            versions=version.number if version else before.versions,
            file=post.media.telegram_id if change else before.file,
            has_file=before.has_file or change is not None)
    if items:
        plan.newest = max((post for post, _ in items), key=lambda post: post.message_id)
    return plan


def _seconds(moment: datetime | None) -> datetime | None:
    """As the archive keeps it: to the second."""
    return None if moment is None else moment.replace(microsecond=0)
