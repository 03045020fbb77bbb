"""Where live events, channel differences and history reads meet: match, then archive, one
idempotent path.

    ingestor = Ingestor(archive, rules, coverage)
    await ingestor.history_page(chat, page)     # contiguous from the checkpoint: moves it
    await ingestor.live(post)                   # moves the checkpoint only if nothing is missing

The checkpoint is the highest id up to which every message has been seen (kept by
`bot.coverage`). A live message that jumps past it is archived at once, but leaves the
checkpoint where it was and reports a gap, which a catch-up reads. Matching runs in a
worker thread, for one live post as for a page: a long post with unseen words takes a
noticeable fraction of a second, which the event loop must not spend.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Callable

from bot.archive import Archive, DatabaseError, IngestReport
from bot.coverage import Coverage
from bot.matching import match
from bot.model import Chat, MatchResult, Post
from bot.telegram.history import Page

log = logging.getLogger("dozor.ingest")


class Held(Exception):
    """A read stopped below a message that could not be stored; it is read again."""

    def __init__(self, chat: Chat, message_id: int, error: Exception):
        super().__init__(f"message {message_id} could not be stored ({type(error).__name__}: {error}); "
                         f"{chat.title} is held below it and read again")
        self.message_id = message_id


class Ingestor:
    def __init__(self, archive: Archive, rules, coverage: Coverage,
                 on_archived: Callable[[], None] = lambda: None, model=None):
        self.archive = archive
        self.rules = rules  # a RulesHolder: .current is swapped when the file changes
        self.coverage = coverage
        self.model = model  # a bot.classifier.Classifier, or None: rules only
        self.on_archived = on_archived  # new messages may have media to fetch
        self.chats: dict[int, Chat] = {}

    async def watch(self, chat: Chat) -> None:
        await self.coverage.watch(chat.id)
        self.chats[chat.id] = chat

    def watching(self, chat_id: int | None) -> bool:
        return chat_id in self.chats

    def _match_all(self, chat: Chat, posts: list[Post]) -> list[MatchResult]:
        """Rules first, one version of them for the whole batch; the model, batched, only adds
        what they did not find."""
        rules = self.rules.current
        results = [match(rules, p.text, chat) for p in posts]
        if self.model is not None:
            results = self.model.second_opinion([(p.text, r) for p, r in zip(posts, results)])
        return results

    async def _store(self, chat: Chat, posts: list[Post], advance: bool) -> IngestReport:
        results = await asyncio.to_thread(self._match_all, chat, posts)
        # shielded: a shutdown arriving mid-write lets the transaction finish and commit
        report = await asyncio.shield(self.archive.ingest(chat, list(zip(posts, results)), advance))
        if advance:
            self.coverage.committed(chat.id, report.checkpoint)
        if report.archived:
            self.on_archived()
        if report.archived or report.edited:
            log.info("%s: %d archived (%d matched), %d edited", chat.title, report.archived,
                     report.matched, report.edited)
        return report

    async def history_page(self, chat: Chat, page: Page) -> None:
        """New messages read from history or a channel's difference: ascending, and with
        nothing missing between the checkpoint and them."""
        checkpoint = self.coverage.checkpoint(chat.id)
        for message_id, reason in page.broken:
            if message_id > checkpoint:  # a recheck re-reads older ones: they are recorded already
                await self.archive.record_failure("convert", reason, chat.id, message_id)
        try:
            await self._store(chat, page.posts, advance=True)
        except DatabaseError:
            # the archive itself failed (locked, full, I/O): the checkpoint stays, and the
            # next catch-up reads the page again
            raise
        except Exception as error:
            log.warning("%s: page of %d failed (%s); storing one by one", chat.title, len(page.posts), error)
            for post in page.posts:
                if not await self._store_one(chat, post, advance=True):
                    # held just below the message that failed: the read stops here and the
                    # next one retries it and what follows, instead of passing it for good
                    await self.advance(chat, post.message_id - 1)
                    raise Held(chat, post.message_id, error)
        await self.advance(chat, page.last_id)

    async def advance(self, chat: Chat, message_id: int) -> None:
        """Service messages take ids too: the checkpoint passes them without storing anything."""
        if message_id > self.coverage.checkpoint(chat.id):
            await asyncio.shield(self.archive.advance_checkpoint(chat.id, message_id))
            self.coverage.committed(chat.id, message_id)

    async def live(self, post: Post) -> None:
        chat = self.chats.get(post.chat_id)
        if chat is None:
            return
        heard = datetime.now(timezone.utc)
        checkpoint = self.coverage.checkpoint(chat.id)
        own_numbering = chat.numbers_its_own_messages
        gap = own_numbering and post.message_id > checkpoint + 1
        if gap:
            await self.coverage.gap(chat.id, heard)  # first, so nobody sees the chat as complete meanwhile
        await self._store_one(chat, post, advance=own_numbering and post.message_id == checkpoint + 1)
        if not gap:
            # complete up to now only if nothing is missing before this message
            self.coverage.live(chat.id, heard)

    async def service_message(self, chat_id: int, message_id: int) -> None:
        """A join, pin or title change: nothing to archive, but its id is no gap."""
        chat = self.chats.get(chat_id)
        if chat is not None and chat.numbers_its_own_messages \
                and message_id == self.coverage.checkpoint(chat_id) + 1:
            await self.advance(chat, message_id)

    async def edited(self, post: Post) -> bool:
        chat = self.chats.get(post.chat_id)
        return chat is None or await self._store_one(chat, post, advance=False)

    async def deleted(self, chat_id: int | None, message_ids: list[int], at: datetime, how: str = "telegram") -> None:
        if chat_id is not None and chat_id not in self.chats:
            return
        marked = await asyncio.shield(self.archive.mark_deleted(chat_id, message_ids, at, how))
        if marked:
            log.info("marked %d deleted in %s", marked, chat_id)

    async def broken(self, chat_id: int | None, message_id: int | None, reason: str) -> None:
        """A live update that could not be converted: it waits in the failures table."""
        if chat_id is None or chat_id in self.chats:
            await self.archive.record_failure("convert", reason, chat_id, message_id)

    async def _store_one(self, chat: Chat, post: Post, advance: bool) -> bool:
        """Whether the post was stored; a failure is recorded, never raised (the archive's own
        errors are, so the caller can hold its place)."""
        try:
            await self._store(chat, [post], advance)
            return True
        except DatabaseError:
            raise
        except Exception as error:
            # a message that breaks matching or storing must not stop the chat: it waits,
            # with its text, where an operator sees it
            log.exception("%s: message %d could not be archived", chat.title, post.message_id)
            await self.archive.record_failure("store", f"{type(error).__name__}: {error}",
                                              chat.id, post.message_id, detail=_printable(post.text[:4000]))
            return False


def _printable(text: str) -> str:
    """The text as the archive can store it: what made the store fail must not fail its record too."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
