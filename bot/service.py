"""The long-running service: every stage under one asyncio.TaskGroup.

    stop = asyncio.Event()
    await Service(settings).run(stop)      # returns once stop is set and all is committed

Start-up: lock the storage, load the keywords, open the archive, connect with the stored
session, resolve the configured chats (each failure is recorded and the others go on),
then read history from every checkpoint while live updates flow.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import timedelta

from telethon import utils

from bot.archive import Archive
from bot.catchup import CatchUp
from bot.config import Settings
from bot.digest.sender import run_digests
from bot.ingest import Ingestor
from bot.lock import StorageLock
from bot.media import run_media
from bot.rules_reload import RulesHolder
from bot.telegram import live
from bot.telegram.client import NotLoggedIn, open_authorised
from bot.telegram.convert import to_chat
from bot.telegram.subscriptions import SubscriptionError, resolve

log = logging.getLogger("dozor.service")

RETRY_UNRESOLVED = 1800.0  # seconds between attempts at chats that could not be resolved


class _Stop(Exception):
    pass


class Service:
    def __init__(self, settings: Settings, *, client_options: dict | None = None, history_wait: float = 1.0):
        self.settings = settings
        self.client_options = client_options or {}
        self.history_wait = history_wait
        self.ready = asyncio.Event()  # set once chats are resolved and the tasks are running
        self.client = None
        self.archive: Archive | None = None
        self.ingestor: Ingestor | None = None
        self.catchup: CatchUp | None = None
        self.unresolved: list[str] = []

    async def run(self, stop: asyncio.Event) -> None:
        settings = self.settings
        with StorageLock(settings.lock_path):
            if not settings.session_path.exists():
                raise NotLoggedIn(settings.session_path)
            rules = await asyncio.to_thread(RulesHolder.load, settings.keywords)
            self.archive = await Archive.open(settings.archive_path)
            try:
                self.client = await open_authorised(settings, **self.client_options)
                try:
                    await self._serve(rules, stop)
                finally:
                    await self.client.disconnect()
            finally:
                await self.archive.close()
        log.info("stopped cleanly")

    async def _serve(self, rules: RulesHolder, stop: asyncio.Event) -> None:
        settings = self.settings
        self.media_wake = asyncio.Event()
        self.ingestor = Ingestor(self.archive, rules, on_gap=lambda chat_id: self.catchup.request(chat_id),
                                 on_archived=self.media_wake.set)
        self.catchup = CatchUp(self.client, self.ingestor, self.archive,
                               backfill=timedelta(hours=settings.backfill_hours),
                               quiet_after=settings.catchup_interval, wait_time=self.history_wait)
        live.attach(self.client, self.ingestor)

        async def after_reconnect() -> None:
            log.info("reconnected: re-reading every chat from its checkpoint")
            self.catchup.request_all(recheck=True)

        self.client.reconnect_callbacks.append(after_reconnect)
        self.client.updates_lost_callbacks.append(lambda chat_id: self.catchup.request(chat_id, recheck=True))
        me = await self.client.get_me()
        log.info("signed in as %s", utils.get_display_name(me) or me.id)
        await self._subscribe(settings.chats)
        await self._track_updates()
        log.info("watching %d chats (%d unresolved)", len(self.ingestor.chats), len(self.unresolved))

        async def stopper() -> None:
            await stop.wait()
            raise _Stop

        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(stopper(), name="stop")
                tasks.create_task(self.catchup.run(), name="catch-up")
                tasks.create_task(self.catchup.quiet_timer(), name="quiet-timer")
                tasks.create_task(rules.watch(), name="keywords")
                tasks.create_task(self._retry_unresolved(), name="unresolved")
                tasks.create_task(run_media(settings, self.archive, self.client, wake=self.media_wake), name="media")
                tasks.create_task(run_digests(settings, self.archive, self.client, client_options=self.client_options,
                                              titles=lambda: rules.current.topics), name="digest")
                self.ready.set()
        except* _Stop:
            log.info("shutting down")

    async def _subscribe(self, sources: tuple[str, ...]) -> None:
        self.unresolved = []
        for source in sources:
            try:
                chat = await self._resolve(source)
            except SubscriptionError as error:
                log.warning("chat %s: %s", source, error)
                await self.archive.save_source_error(source, str(error))
                self.unresolved.append(source)
                continue
            await self.archive.save_chat(chat, source)
            await self.ingestor.watch(chat)
            self.catchup.request(chat.id, recheck=True)

    async def _resolve(self, source: str):
        keep_all = source in self.settings.keep_all_chats
        known = await self.archive.chat_for_source(source)
        if known is not None:
            try:
                # remembered from an earlier run: no lookup needed if the session knows it
                await self.client.get_input_entity(known.id)
                return replace(known, keep_all=keep_all)
            except ValueError:
                pass
        entity = await resolve(self.client, source, join=self.settings.join_channels)
        return to_chat(entity, keep_all=keep_all)

    async def _track_updates(self) -> None:
        """Telethon only notices a gap in a channel's updates once it knows the channel's pts,
        which it learns from the dialog list; without this, the first missed batch after start
        passes unseen until our own catch-up timer."""
        try:
            await self.client.get_dialogs()
        except Exception as error:
            log.warning("could not read the dialog list (%s); gaps are found by catch-up only", error)

    async def _retry_unresolved(self) -> None:
        while True:
            await asyncio.sleep(RETRY_UNRESOLVED)
            if self.unresolved:
                await self._subscribe(tuple(self.unresolved))
                await self._track_updates()

