"""The long-running service: every stage of one account under one asyncio.TaskGroup.

    stop = asyncio.Event()
    await Service(settings).run(stop)      # returns once stop is set and all is committed
    await run_accounts(settings, ["main", "spare"], stop)   # one Service per account, one process

Start-up: lock the account's storage, load the keywords, open the archive, take the
account's lease (refused if another worker holds it), connect with the account's session,
settle which configured chats this account serves (bot/accounts/), resolve them (each
failure is recorded and the others go on), then catch every chat up (channel difference, or
history) while live updates flow. Media downloads run beside them, claimed so that no two
workers fetch one file. One worker of all that share the archive is elected to send the
digest and run the editors' desk; at DIGEST_TIME every worker brings its chats up to the
period's end before the digest is composed.

While it runs, the service renews its lease and follows the assignment: chats of an account
that stopped, was logged out or banned arrive (and are caught up from where the archive
stands: coverage shows the gap until then), chats given to another account leave.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import AsyncIterator, Callable

from bot.accounts.coordinator import Coordinator, LeaseLost, flood_end
from bot.archive import Archive, from_iso, utcnow
from bot.archive.coverage import watched_coverage
from bot.archive.limits import flood_waits, record_flood_wait
from bot.catchup import CatchUp
from bot.chat_plan import ChatPlan
from bot.classifier import second_opinion
from bot.config import Settings
from bot.coverage import Coverage, summarise
from bot.desk.alerts import run_spike_alerts
from bot.digest.sender import run_digests
from bot.heartbeat import beating
from bot.ingest import Ingestor
from bot.digest.schedule import next_time
from bot.lock import StorageLock
from bot.media import run_media
from bot.media.worker import Claims
from bot.model import Chat
from bot.rules_reload import RulesHolder
from bot.telegram.account_state import AccountState
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


class _Deposed(Exception):
    pass


async def run_accounts(settings: Settings, accounts: list[str], stop: asyncio.Event, **options) -> None:
    """One Service per account in this process, sharing nothing but the database; `stop`
    stops them all. An account that can serve no more (logged out, banned, or refused at
    start) stops alone while the others go on; NotLoggedIn only once every account met it."""
    refused: list[NotLoggedIn] = []

    async def serve(name: str) -> None:
        try:
            await Service(replace(settings, account=name), **options).run(stop)
        except NotLoggedIn as error:
            if len(accounts) == 1:
                raise
            log.error("account %s: %s; the other accounts go on", name, error)
            refused.append(error)

    async with asyncio.TaskGroup() as tasks:
        for name in accounts:
            tasks.create_task(serve(name), name=f"account {name}")
    if refused and len(refused) == len(accounts):
        raise refused[0]


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
        self.coordinator: Coordinator | None = None
        self.serving: dict[str, int] = {}  # configured chat → its id, for the chats this account serves

    @property
    def account(self) -> str:
        return self.settings.account

    async def run(self, stop: asyncio.Event) -> None:
        settings = self.settings
        async with self._alive():  # the storage lock, the heartbeat and the connection watch
            if not settings.session_path.exists():
                raise NotLoggedIn(settings.session_path)
            rules = await asyncio.to_thread(RulesHolder.load, settings.keywords)
            self.archive = await Archive.open(settings.archive_location)
            try:
                self.coordinator = Coordinator(self.archive, settings)
                await self.coordinator.take()
                try:
                    await self._connected(rules, stop)
                finally:
                    await self.coordinator.release()
            finally:
                await self.archive.close()
        log.info("account %s: stopped cleanly", self.account)
        if self.coordinator is not None and self.coordinator.refused is not None:
            # the account can do nothing until someone acts: say so, as at start-up
            state, reason = self.coordinator.refused
            raise NotLoggedIn(self.settings.session_path, self.account, refused=AccountState(state, reason))

    async def _connected(self, rules: RulesHolder, stop: asyncio.Event) -> None:
        try:
            self.client = await _unless_stopped(open_authorised(self.settings, **self.client_options), stop)
        except NotLoggedIn as error:
            refused = error.refused
            if refused is not None:
                # Telegram refused the session itself: the account's chats go to the others
                self.coordinator.account_state(refused.state, refused.reason)
                await self.coordinator.tick()
            raise
        if self.client is None:
            log.info("stopped while connecting")
            return
        # Telegram saying the account is logged out or banned moves its chats elsewhere
        self.client.on_account_state = self.coordinator.account_state
        self.coordinator.watch_floods(lambda: flood_end(self.client.budget))
        try:
            await self._serve(rules, stop)
        finally:
            await self.client.disconnect()
            # after the disconnect no update can arrive any more: write what is queued,
            # also when a failed task is what stopped the service
            await self._flush()

    @contextlib.asynccontextmanager
    async def _alive(self) -> AsyncIterator[None]:
        """Hold the storage lock and, while it is held, write the heartbeat `dozor status` reads,
        from before connecting: Telegram out of reach at start-up is an outage too."""
        lock = StorageLock(self.settings.lock_path, account=self.account)
        with lock, ConnectionWatch() as self.connection:
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
        """Has every configured chat been read up to `moment`? Brings this account's chats up
        to it first; those of other accounts are read by their workers (see _periods), and
        the archive's coverage says how far they got (for the digest)."""
        if not (self.ready.is_set() and await self.catchup.bring_up_to(moment, DIGEST_CATCH_UP)):
            return False
        rows, _ = await watched_coverage(self.archive)
        others = [row for row in rows if row.chat_id not in self.ingestor.chats]
        return not summarise(others, moment)["behind"]

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
            # stopped by the operator, or the account can serve no more (logged out, banned,
            # its lease taken by another worker)
            stopping = asyncio.ensure_future(self.coordinator.stopping.wait())
            try:
                await asyncio.wait({asyncio.ensure_future(stop.wait()), stopping},
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopping.cancel()
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
                tasks.create_task(self._coordinate(), name="lease")
                tasks.create_task(self._follow_assignment(), name="assignment")
                claims = Claims(self.coordinator.holder, lambda: self.ingestor.chats.keys())
                tasks.create_task(self._once_ready(lambda: run_media(settings, self.archive, self.client,
                                                                     wake=media_wake, claims=claims)), name="media")
                tasks.create_task(self._periods(), name="period-ends")
                tasks.create_task(self._editors(rules), name="editors")
        except* _Stop:
            log.info("account %s: shutting down", self.account)

    async def _coordinate(self) -> None:
        try:
            await self.coordinator.run()
        except LeaseLost as error:
            log.error("%s", error)  # `stopping` is set: the service stops

    async def _editors(self, rules: RulesHolder) -> None:
        """The digest, the editors' desk and spike alerts, while this worker is the elected one."""
        settings = self.settings
        while True:
            await self.coordinator.leading.wait()

            async def deposed() -> None:
                await self.coordinator.deposed.wait()
                raise _Deposed

            try:
                async with asyncio.TaskGroup() as tasks:
                    tasks.create_task(deposed(), name="deposed")
                    tasks.create_task(run_digests(settings, self.archive, self.client,
                                                  client_options=self.client_options,
                                                  titles=lambda: rules.current.topics, ready=self.caught_up,
                                                  now=self.clock, elected=self.coordinator.still_leading,
                                                  **({"tick": self.digest_tick} if self.digest_tick else {})),
                                      name="digest")
                    # the editors' desk: commands and feedback in Telegram, alerts when a topic surges
                    tasks.create_task(run_desk(settings, self.archive, self.client, lambda: rules.current,
                                               client_options=self.client_options), name="desk")
                    tasks.create_task(run_spike_alerts(settings, self.archive, self.client,
                                                       client_options=self.client_options,
                                                       titles=lambda: rules.current.topics), name="spike-alerts")
            except* _Deposed:
                log.info("account %s: the digest and the desk stand by", self.account)

    async def _periods(self) -> None:
        """At each DIGEST_TIME bring this account's chats up to the period's end, so that the
        elected worker finds them complete in the archive, whichever worker it is."""
        settings = self.settings
        if not settings.digest_chat:
            return
        await self.ready.wait()
        tick = self.digest_tick or 60.0
        end = next_time(self.clock(), settings.digest_period, settings.digest_time, settings.digest_tz)
        while True:
            # the wall clock is looked at every tick: a suspend or a moved clock is noticed
            await asyncio.sleep(max(0.0, min(tick, (end - self.clock()).total_seconds())))
            if self.clock() < end:
                continue
            if await self.catchup.bring_up_to(end, DIGEST_CATCH_UP):
                await self.coverage.save()
            end = next_time(self.clock(), settings.digest_period, settings.digest_time, settings.digest_tz)

    async def _follow_assignment(self) -> None:
        """Serve the chats the assignment gives this account, and only those."""
        await self.ready.wait()
        while True:
            await self.coordinator.changed.wait()
            self.coordinator.changed.clear()
            mine = self.coordinator.mine
            gone = [source for source in self.serving if source not in mine]
            if gone:
                await self._leave(gone)
            arrived = [source for source in self.settings.chats if source in mine
                       and source not in self.serving and source not in self.unresolved]
            if arrived:
                await self._subscribe(tuple(arrived))
                await track_updates(self.client)
            self.unresolved = [source for source in self.unresolved if source in mine]

    async def _leave(self, sources: list[str]) -> None:
        """Another account serves these chats now: stop reading them here."""
        await self.coverage.save()
        for source in sources:
            chat_id = self.serving.pop(source)
            if chat_id not in self.serving.values():
                chat = self.ingestor.chats.pop(chat_id, None)
                self.coverage.unwatch(chat_id)
                log.info("chat %s: now served by another account", chat.title if chat else source)

    async def _once_ready(self, work) -> None:
        """Downloads address chats by id, which Telethon knows only once they are resolved:
        started earlier, a restart's first attempt fails with "Could not find the input entity"."""
        await self.ready.wait()
        await work()

    async def _start(self) -> None:
        log.info("account %s: signed in as %s", self.account, await account_name(self.client))
        await self.coordinator.signed_in()
        # elected before the chats are set up, so the editors' desk listens while they are
        await self.coordinator.elect()
        await self.coordinator.settle()
        self.coordinator.changed.clear()
        # before subscribing: the plan counts the account's channels against its cap from them
        self.plan.count(await track_updates(self.client))
        await self._subscribe(tuple(s for s in self.settings.chats if s in self.coordinator.mine))
        await self.catchup.start()
        log.info("account %s: watching %d chats (%d unresolved)", self.account, len(self.ingestor.chats),
                 len(self.unresolved))
        self.ready.set()

    async def _subscribe(self, sources: tuple[str, ...]) -> None:
        for source in sources:
            if source in self.unresolved:
                self.unresolved.remove(source)
            try:
                chat = await self._resolve(source)
                await self.archive.save_chat(chat, source)
                if chat.id not in self.ingestor.chats:
                    self.coverage.unwatch(chat.id)  # read afresh: another account may have moved it on
                await self.ingestor.watch(chat)
            except SubscriptionError as error:
                log.warning("chat %s: %s", source, error)
                await self.archive.save_source_error(source, str(error))
                self.unresolved.append(source)
                continue
            except Exception as error:
                # a network or archive failure for one chat: the others go on, this one is retried
                log.exception("chat %s could not be set up", source)
                await self._save_error(source, f"{type(error).__name__}: {error}")
                self.unresolved.append(source)
                continue
            self.serving[source] = chat.id
            move = self.coordinator.moved_in.pop(source, None)
            if move is not None:
                # unread since its last account stopped: coverage shows the gap until the
                # catch-up below, from the chat's checkpoint in the archive, repairs it
                log.warning("chat %s taken over from account %s (%s): catching it up", chat.title,
                            move.from_account, move.reason)
                await self.coverage.gap(chat.id, recheck=True)
            self.catchup.request(chat.id, recheck=True)
            self.plan.offer(chat)

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
