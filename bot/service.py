"""The long-running service: every stage under one asyncio.TaskGroup.

    stop = asyncio.Event()
    await Service(settings).run(stop)      # returns once stop is set and all is committed

Start-up: lock the storage, load the keywords, open the archive, connect with the stored
session, resolve the configured chats (each failure is recorded and the others go on),
then catch every chat up (channel difference, or history) while live updates flow. Media
downloads and the digest run beside them; at DIGEST_TIME the service brings every chat up
to the period's end before the digest is composed.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import AsyncIterator, Callable

from bot.archive import Archive, from_iso, utcnow
from bot.archive.limits import flood_waits, record_flood_wait
from bot.catchup import CatchUp
from bot.chat_plan import ChatPlan
from bot.classifier import second_opinion
from bot.config import Settings
from bot.coverage import Coverage
from bot.desk.alerts import run_spike_alerts
from bot.digest.sender import run_digests
from bot.heartbeat import beating
from bot.ingest import Ingestor
from bot.lock import StorageLock
from bot.media import run_media
from bot.model import Chat
from bot.rules_reload import RulesHolder
from bot.telegram.client import NotLoggedIn, account_name, open_authorised
from bot.telegram.desk import run_desk
from bot.telegram.connection import ConnectionWatch
from bot.telegram.live import LiveFeed
from bot.telegram.subscriptions import SubscriptionError, resolve_chat, still_known, track_updates

log = logging.getLogger("dozor.service")

RETRY_UNRESOLVED = 1800.0  # seconds between attempts at chats that could not be resolved
FLUSH_LIMIT = 10.0  # seconds a shutdown may spend writing live updates already received
DIGEST_CATCH_UP = 45.0  # seconds the digest's look may spend bringing chats up to its period's end


class _Stop(Exception):
    pass


class Service:
    def __init__(self, settings: Settings, *, client_options: dict | None = None, history_wait: float = 1.0,
                 clock: Callable[[], datetime] | None = None, digest_tick: float | None = None):
        self.settings = settings
        self.client_options = client_options or {}
        self.history_wait = history_wait
        # the wall clock the digest and the catch-up share (tests move it to DIGEST_TIME)
        self.clock = clock or utcnow
        self.digest_tick = digest_tick
        self.ready = asyncio.Event()  # set once chats are resolved and catch-up is asked for
        self.client = None
        self.archive: Archive | None = None
        self.ingestor: Ingestor | None = None
        self.catchup: CatchUp | None = None
        self.coverage: Coverage | None = None
        self.feed: LiveFeed | None = None
        self.plan: ChatPlan | None = None
        self.unresolved: list[str] = []
        self.connection: ConnectionWatch | None = None  # what Telethon's log says of the connection

    async def run(self, stop: asyncio.Event) -> None:
        settings = self.settings
        async with self._alive():  # the storage lock, the heartbeat and the connection watch
            if not settings.session_path.exists():
                raise NotLoggedIn(settings.session_path)
            rules = await asyncio.to_thread(RulesHolder.load, settings.keywords)
            self.archive = await Archive.open(settings.archive_location)
            try:
                self.client = await _unless_stopped(open_authorised(settings, **self.client_options), stop)
                if self.client is None:
                    log.info("stopped while connecting")
                    return
                try:
                    await self._serve(rules, stop)
                finally:
                    await self.client.disconnect()
                    # after the disconnect no update can arrive any more: write what is queued,
                    # also when a failed task is what stopped the service
                    await self._flush()
            finally:
                await self.archive.close()
        log.info("stopped cleanly")

    @contextlib.asynccontextmanager
    async def _alive(self) -> AsyncIterator[None]:
        """Hold the storage lock and, while it is held, write the heartbeat `dozor status` reads,
        from before connecting: Telegram out of reach at start-up is an outage too."""
        with StorageLock(self.settings.lock_path), ConnectionWatch() as self.connection:
            async with beating(self.settings.storage, telegram=lambda: self.connection,
                               archive=lambda: self.archive):
                yield

    async def _flush(self) -> None:
        if self.feed is None:
            return
        try:
            left = await asyncio.wait_for(self.feed.flush(), FLUSH_LIMIT)
        except TimeoutError:
            left = self.feed.queue.qsize() + (self.feed.held is not None)
        if left:
            log.warning("%d live updates left unwritten; the next start catches their chats up", left)
        try:
            await self.coverage.save()
        except Exception as error:
            log.warning("coverage not saved at shutdown (%s): the next start reads a little more", error)

    async def caught_up(self, moment: datetime) -> bool:
        """Has every watched chat been read up to `moment`? Brings the ones behind up to it
        first (for the digest)."""
        return self.ready.is_set() and await self.catchup.bring_up_to(moment, DIGEST_CATCH_UP)

    async def _serve(self, rules: RulesHolder, stop: asyncio.Event) -> None:
        settings = self.settings
        media_wake = asyncio.Event()
        model = await asyncio.to_thread(second_opinion, settings.model)
        self.coverage = await Coverage.open(self.archive)
        self.ingestor = Ingestor(self.archive, rules, self.coverage, on_archived=media_wake.set, model=model)
        self.catchup = CatchUp(self.client, self.ingestor, self.coverage, self.archive,
                               backfill=timedelta(hours=settings.backfill_hours),
                               quiet_after=settings.catchup_interval, wait_time=self.history_wait, clock=self.clock)
        self.coverage.on_gap = self.catchup.request
        self.feed = LiveFeed(self.ingestor, on_overflow=self.coverage.gap_now)
        self.feed.attach(self.client)
        self.plan = ChatPlan(self.client, self.archive, cap=settings.channel_cap, joining=settings.join_channels,
                             is_read=lambda chat_id: self.coverage.complete_up_to(chat_id) is not None,
                             on_joined=self.catchup.joined)
        for wait in await flood_waits(self.archive):
            self.client.budget.resume(wait["method"], wait["request"], from_iso(wait["started_at"]),
                                      from_iso(wait["until"]))
        self.client.budget.on_flood.append(
            lambda wait: record_flood_wait(self.archive, wait.method, wait.request, wait.seconds,
                                           wait.started_at, wait.until))

        async def after_reconnect() -> None:
            # Telethon runs no catch-up after an automatic reconnect: every chat asks Telegram
            # what it missed (a difference where there is a pts)
            log.info("reconnected: catching every chat up")
            self.catchup.request_all(recheck=True)

        self.client.reconnect_callbacks.append(after_reconnect)

        async def stopper() -> None:
            await stop.wait()
            raise _Stop

        try:
            # start-up runs inside the group too, so a stop during a long flood wait is obeyed
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(stopper(), name="stop")
                tasks.create_task(self._start(), name="start")
                tasks.create_task(self.feed.run(), name="live")
                tasks.create_task(self.catchup.run(), name="catch-up")
                tasks.create_task(self.coverage.run(), name="coverage")
                tasks.create_task(rules.watch(), name="keywords")
                tasks.create_task(self._retry_unresolved(), name="unresolved")
                tasks.create_task(self.plan.run(), name="plan")
                tasks.create_task(self._once_ready(lambda: run_media(settings, self.archive, self.client,
                                                                     wake=media_wake)), name="media")
                tasks.create_task(run_digests(settings, self.archive, self.client, client_options=self.client_options,
                                              titles=lambda: rules.current.topics, ready=self.caught_up,
                                              now=self.clock, **({"tick": self.digest_tick} if self.digest_tick else {})),
                                  name="digest")
                # the editors' desk: commands and feedback in Telegram, alerts when a topic surges
                tasks.create_task(run_desk(settings, self.archive, self.client, lambda: rules.current,
                                           client_options=self.client_options), name="desk")
                tasks.create_task(run_spike_alerts(settings, self.archive, self.client, client_options=self.client_options,
                                                   titles=lambda: rules.current.topics), name="spike-alerts")
        except* _Stop:
            log.info("shutting down")

    async def _once_ready(self, work) -> None:
        """Downloads address chats by id, which Telethon knows only once they are resolved:
        started earlier, a restart's first attempt fails with "Could not find the input entity"."""
        await self.ready.wait()
        await work()

    async def _start(self) -> None:
        log.info("signed in as %s", await account_name(self.client))
        # before subscribing: the plan counts the account's channels against its cap from them
        self.plan.count(await track_updates(self.client))
        await self._subscribe(self.settings.chats)
        await self.catchup.start()
        log.info("watching %d chats (%d unresolved)", len(self.ingestor.chats), len(self.unresolved))
        self.ready.set()

    async def _subscribe(self, sources: tuple[str, ...]) -> None:
        unresolved = []
        for source in sources:
            try:
                chat = await self._resolve(source)
                await self.archive.save_chat(chat, source)
                await self.ingestor.watch(chat)
            except SubscriptionError as error:
                log.warning("chat %s: %s", source, error)
                await self.archive.save_source_error(source, str(error))
                unresolved.append(source)
                continue
            except Exception as error:
                # a network or archive failure for one chat: the others go on, this one is retried
                log.exception("chat %s could not be set up", source)
                await self._save_error(source, f"{type(error).__name__}: {error}")
                unresolved.append(source)
                continue
            self.catchup.request(chat.id, recheck=True)
            self.plan.offer(chat)
        self.unresolved = unresolved

    async def _save_error(self, source: str, error: str) -> None:
        try:
            await self.archive.save_source_error(source, error)
        except Exception:
            log.exception("could not record the error of chat %s", source)

    async def _resolve(self, source: str) -> Chat:
        keep_all = source in self.settings.keep_all_chats
        known = await self.archive.chat_for_source(source)
        if known is not None and await still_known(self.client, known.id):
            return replace(known, keep_all=keep_all)  # remembered from an earlier run: no lookup
        return await resolve_chat(self.client, source, keep_all=keep_all)

    async def _retry_unresolved(self) -> None:
        while True:
            await asyncio.sleep(RETRY_UNRESOLVED)
            if self.unresolved:
                await self._subscribe(tuple(self.unresolved))
                await track_updates(self.client)


async def _unless_stopped(connecting, stop: asyncio.Event):
    """Connecting retries for as long as Telegram is out of reach; a stop must still be obeyed."""
    connect, stopped = asyncio.ensure_future(connecting), asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({connect, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if connect.done():
        return connect.result()
    connect.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await connect
    return None
