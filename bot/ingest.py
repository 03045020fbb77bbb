"""Where live events and history reads meet: match, then archive, one idempotent path.

    ingestor = Ingestor(archive, rules)
    await ingestor.history_page(chat, posts)    # contiguous from the checkpoint: moves it
    await ingestor.live(post)                   # moves the checkpoint only if nothing is missing

The checkpoint is the highest id up to which every message has been seen. A live
message that jumps past it is archived at once, but leaves the checkpoint where it was
and asks for a catch-up, which reads the gap from history.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Callable

from bot.archive import Archive, IngestReport
from bot.matching import match
from bot.model import Chat, MatchResult, Post

log = logging.getLogger("dozor.ingest")


class Ingestor:
    def __init__(self, archive: Archive, rules, on_gap: Callable[[int], None] = lambda chat_id: None,
                 on_archived: Callable[[], None] = lambda: None):
        self.archive = archive
        self.rules = rules  # a RulesHolder: .current is swapped when the file changes
        self.on_gap = on_gap
        self.on_archived = on_archived  # new messages may have media to fetch
        self.chats: dict[int, Chat] = {}
        self.checkpoints: dict[int, int] = {}
        self.last_live: dict[int, float] = {}

    async def watch(self, chat: Chat) -> None:
        self.chats[chat.id] = chat
        self.checkpoints[chat.id] = await self.archive.checkpoint(chat.id)

    def watching(self, chat_id: int | None) -> bool:
        return chat_id in self.chats

    def _match(self, chat: Chat, post: Post) -> MatchResult:
        return match(self.rules.current, post.text, chat)

    async def _store(self, chat: Chat, posts: list[Post], advance: bool) -> IngestReport:
        if len(posts) > 1:
            results = await asyncio.to_thread(lambda: [self._match(chat, p) for p in posts])
        else:
            results = [self._match(chat, p) for p in posts]
        # shielded: a shutdown arriving mid-write lets the transaction finish and commit
        report = await asyncio.shield(self.archive.ingest(chat, list(zip(posts, results)), advance))
        if advance:
            self.checkpoints[chat.id] = max(self.checkpoints.get(chat.id, 0), report.checkpoint)
        if report.archived:
            self.on_archived()
        if report.archived or report.edited:
            log.info("%s: %d archived (%d matched), %d edited", chat.title, report.archived,
                     report.matched, report.edited)
        return report

    async def history_page(self, chat: Chat, posts: list[Post]) -> IngestReport:
        """A page read from history, ascending and contiguous from the checkpoint."""
        try:
            return await self._store(chat, posts, advance=True)
        except Exception as error:
            # one bad message must not block the chat: store the others one by one
            log.warning("%s: page of %d failed (%s); storing one by one", chat.title, len(posts), error)
            report = IngestReport()
            for post in posts:
                report = await self._store_one(chat, post, advance=True) or report
            return report

    async def live(self, post: Post) -> None:
        chat = self.chats.get(post.chat_id)
        if chat is None:
            return
        self.last_live[chat.id] = asyncio.get_running_loop().time()
        checkpoint = self.checkpoints.get(chat.id, 0)
        contiguous = post.message_id == checkpoint + 1
        await self._store_one(chat, post, advance=contiguous)
        if post.message_id > checkpoint + 1:
            self.on_gap(chat.id)

    async def edited(self, post: Post) -> None:
        chat = self.chats.get(post.chat_id)
        if chat is not None:
            await self._store_one(chat, post, advance=False)

    async def deleted(self, chat_id: int | None, message_ids: list[int], at: datetime) -> None:
        if chat_id is not None and chat_id not in self.chats:
            return
        marked = await asyncio.shield(self.archive.mark_deleted(chat_id, message_ids, at))
        if marked:
            log.info("marked %d deleted in %s", marked, chat_id)

    async def _store_one(self, chat: Chat, post: Post, advance: bool) -> IngestReport | None:
        try:
            return await self._store(chat, [post], advance)
        except Exception as error:
            log.exception("%s: message %d could not be archived", chat.title, post.message_id)
            await self.archive.record_failure("store", f"{type(error).__name__}: {error}",
                                              chat.id, post.message_id, detail=post.text[:4000])
            return None
