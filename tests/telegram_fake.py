"""An offline Telegram server for tests, spoken to by a real Telethon client.

Only the transport is replaced: ``fake.connection`` is a Telethon ``Connection`` whose packets
travel through in-memory queues to this module, which plays the server side of MTProto 2.0
(Telethon's own AES-IGE and key derivation, real ``rpc_result``/``rpc_error``/``msg_container``/
``gzip_packed`` framing, server-style msg_ids) and answers with real serialised TL objects.
Everything above the connection -- ``MTProtoSender``, flood-wait retries, the update state
machine with its gap recovery, event builders, the entity cache, ``iter_messages``,
``download_media`` -- runs unmodified.

Example::

    import asyncio
    from telethon import events, functions
    from tests.telegram_fake import FakeTelegram

    async def test_live_post(tmp_path):
        fake = FakeTelegram()
        news = fake.add_channel(username="kyiv_news", title="Київ новини")
        fake.authorise_session(str(tmp_path / "user"))   # writes tmp_path/user.session
        client = fake.client(str(tmp_path / "user"))
        await client.connect()
        try:
            await client(functions.channels.JoinChannelRequest("kyiv_news"))
            seen = asyncio.Queue()
            client.add_event_handler(seen.put, events.NewMessage(chats=[news.marked_id]))
            fake.post(news, "привіт")
            assert (await asyncio.wait_for(seen.get(), 5)).raw_text == "привіт"
        finally:
            await client.disconnect()

Behaviour worth knowing (it mirrors Telegram and Telethon 1.45):

* Channel updates are pushed only to accounts that are members (``channels.JoinChannel``,
  ``messages.ImportChatInvite`` or ``add_channel(joined=True)``); reading history of a public
  channel does not subscribe to it.
* Telethon starts tracking a channel's pts on the first update it receives for it (or from
  ``get_dialogs``).  Gaps after that are filled with ``updates.GetChannelDifference``; a gap of
  more than 100 events (Telethon's limit for user accounts) is answered with
  ``channelDifferenceTooLong``, whose messages Telethon drops: the caller must re-read history.
* A dropped connection is re-established by Telethon, which then sends only ``users.GetUsers``;
  updates published while it was away are not replayed until a later update exposes the gap.
* Across restarts Telethon keeps channel pts only with ``TelegramClient(catch_up=True)``: it
  then asks ``updates.GetDifference``, which names the member channels with news since the saved
  date (``updateChannelTooLong``), and fetches each one's difference. Without it the saved
  state is discarded on connect and whatever was published meanwhile is never dispatched.
* Several accounts: ``fake.add_account("spare")`` is another signed-in user with its own
  channels, channel cap and request limits; ``authorise_session(path, account="spare")`` logs a
  session in as it. Channels are shared: every account resolves and reads public channels, and
  an account receives a channel's updates once *it* has joined. ``fake.log_out(account)`` makes
  its sessions answer ``AUTH_KEY_UNREGISTERED`` (or ``SESSION_REVOKED``) and stop receiving
  updates; ``fake.ban(account)`` makes every request of it ``USER_DEACTIVATED_BAN``.
"""
from __future__ import annotations

import asyncio
import copy
import datetime as dt
import hashlib
import logging
import os
import random
import re
import struct
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from telethon import TelegramClient, utils
from telethon.crypto import AES, AuthKey
from telethon.extensions import BinaryReader
from telethon.network.connection.connection import Connection
from telethon.network.mtprotostate import MTProtoState
from telethon.sessions import Session, SQLiteSession
from telethon.tl import TLRequest, functions, types
from telethon.tl.core import GzipPacked, MessageContainer

__all__ = ["FakeTelegram", "FakeAccount", "FakeChannel", "FakeGroup", "FakeCall"]

log = logging.getLogger(__name__)

_MB = 1024 * 1024
_VECTOR = 0x1CB5C415
_BOOL_TRUE = 0x997275B5
_BOOL_FALSE = 0xBC799737
_RPC_RESULT = 0xF35C6D01
_TRANSPORT_AUTH_KEY_UNKNOWN = struct.pack("<i", -404)
_USERNAME = re.compile(r"^[a-z][a-z0-9_]{3,30}[a-z0-9]$")
_ACCOUNT_NAME = re.compile(r"[a-z0-9_-]{1,32}")  # dozor's own names of accounts (DOZOR_ACCOUNTS)
MAIN = "main"  # the primary account, the one ``fake.me`` is
_LOGGED_OUT_ERRORS = ("AUTH_KEY_UNREGISTERED", "SESSION_REVOKED", "SESSION_EXPIRED")
_BAN_ERRORS = ("USER_DEACTIVATED_BAN", "USER_DEACTIVATED")
# Telegram caps one history page at 100 messages and a user's channel difference at 100 events.
_HISTORY_PAGE_MAX = 100
_CHANNEL_DIFF_MAX_USER = 100

_WRAPPERS = (
    functions.InvokeWithLayerRequest,
    functions.InitConnectionRequest,
    functions.InvokeWithoutUpdatesRequest,
    functions.InvokeAfterMsgRequest,
    functions.InvokeAfterMsgsRequest,
)


class RpcFail(Exception):
    """Raised by request handlers; becomes an ``rpc_error`` for the client."""

    def __init__(self, message: str, code: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message


def _error_code(message: str) -> int:
    if message.startswith(("FLOOD_WAIT_", "FLOOD_PREMIUM_WAIT_", "SLOWMODE_WAIT_")):
        return 420
    if message.startswith(("AUTH_KEY_", "SESSION_", "USER_DEACTIVATED")):
        return 401
    if message in ("CHAT_WRITE_FORBIDDEN", "CHAT_ADMIN_REQUIRED", "USER_BANNED_IN_CHANNEL"):
        return 403
    if message in ("INTERNAL", "RPC_CALL_FAIL", "TIMEOUT"):
        return 500
    return 400


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _as_datetime(value) -> dt.datetime:
    if value is None:
        return _now()
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value, dt.timezone.utc)
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


def _clone(obj):
    """Deep copy through Telethon's own serialisation, so views never share mutable state."""
    return BinaryReader(bytes(obj)).tgread_object()


def _serialise_result(result) -> bytes:
    if isinstance(result, bytes):
        return result
    if result is True or result is False:
        return struct.pack("<I", _BOOL_TRUE if result else _BOOL_FALSE)
    if isinstance(result, list):
        return struct.pack("<Ii", _VECTOR, len(result)) + b"".join(bytes(x) for x in result)
    return bytes(result)


# --------------------------------------------------------------------------------------------
# World model
# --------------------------------------------------------------------------------------------

@dataclass(eq=False)
class _Event:
    """One pts step of a message box. ``pts`` is the value *after* the event."""
    pts: int
    pts_count: int
    kind: str  # "new" | "edit" | "delete"
    ids: tuple[int, ...]
    when: float


class _Box:
    """Messages plus their pts sequence: one per channel, one account-wide box per user."""

    def __init__(self) -> None:
        self.pts = 1
        self.next_id = 1
        self.messages: dict[int, types.Message] = {}
        self.authors: dict[int, int | None] = {}
        self.events: list[_Event] = []
        self.last_event = 0.0

    def record(self, kind: str, ids: Iterable[int], count: int) -> _Event:
        self.pts += count
        event = _Event(self.pts, count, kind, tuple(ids), time.time())
        self.events.append(event)
        self.last_event = event.when
        return event

    def take_id(self) -> int:
        msg_id = self.next_id
        self.next_id += 1
        return msg_id


@dataclass(eq=False)
class FakeChannel:
    """A broadcast channel or a megagroup. ``id`` is the bare channel id."""
    id: int
    access_hash: int
    title: str
    username: str | None
    megagroup: bool
    invite_hash: str
    date: dt.datetime
    about: str = ""
    members: set[int] = field(default_factory=set)
    box: _Box = field(default_factory=_Box)
    too_long_pending: bool = False
    big: bool = False  # like Telegram's large channels: no updates are pushed, clients poll
    poll_timeout: int = 30  # the ``timeout`` getChannelDifference advises for the next poll

    @property
    def marked_id(self) -> int:
        return utils.get_peer_id(types.PeerChannel(self.id))

    @property
    def peer(self) -> types.PeerChannel:
        return types.PeerChannel(self.id)

    @property
    def input_peer(self) -> types.InputPeerChannel:
        return types.InputPeerChannel(self.id, self.access_hash)


@dataclass(eq=False)
class FakeGroup:
    """A basic group. Its messages live in the primary account's box (Telegram numbers them
    per account); only the primary account's view of it is modelled."""
    id: int
    title: str
    date: dt.datetime
    members: set[int] = field(default_factory=set)

    @property
    def marked_id(self) -> int:
        return utils.get_peer_id(types.PeerChat(self.id))

    @property
    def peer(self) -> types.PeerChat:
        return types.PeerChat(self.id)


@dataclass
class FakeCall:
    """One request as the server saw it, with what it answered (a TL object or RpcError), and
    the account that sent it (None before sign-in and for users that are not accounts)."""
    name: str
    request: Any
    outcome: Any
    account: str | None = None


@dataclass(eq=False)
class FakeAccount:
    """A Telegram account dozor signs in as: a user with its own channels, its own channel cap
    (``channel_cap``, settable per test) and its own request limits. ``state`` is ``active``,
    ``logged_out`` (after ``fake.log_out``) or ``banned`` (after ``fake.ban``). It stands for
    its user wherever the fake takes one (``post(..., from_user=account)``)."""
    name: str
    id: int  # its user id
    phone: str
    channel_cap: int = 500
    state: str = "active"
    ban_error: str | None = None


@dataclass(eq=False)
class _AuthRecord:
    key: AuthKey
    user_id: int | None
    refusal: str | None = None  # why a key that was logged in no longer is (AUTH_KEY_UNREGISTERED …)


@dataclass
class _Failure:
    message: str
    code: int
    remaining: int
    passes: int = 0  # matching requests still let through before the first failure
    user_id: int | None = None  # only this account's requests fail; None: anyone's


@dataclass
class _Ctx:
    pipe: "_Pipe"
    user_id: int | None


# --------------------------------------------------------------------------------------------
# Transport
# --------------------------------------------------------------------------------------------

class _Pipe:
    """The server end of one client connection.

    It also stands in for the ``StreamWriter`` Telethon's ``Connection`` keeps, because that
    class drains and closes its writer; closing it is how the client hangs up.
    """

    def __init__(self, world: "FakeTelegram") -> None:
        self.world = world
        self.closed = False
        self.auth: _AuthRecord | None = None
        self.session_id: int | None = None
        self.salt = struct.unpack("<q", os.urandom(8))[0]
        self.receives_updates = True
        self._outbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._last_msg_id = 0
        self._content_sent = 0

    # StreamWriter duck-typing used by telethon.network.connection.Connection
    async def drain(self) -> None:
        pass

    def close(self) -> None:
        self.shutdown()

    async def wait_closed(self) -> None:
        pass

    # client side
    def client_sent(self, packet: bytes) -> None:
        if self.closed:
            raise ConnectionResetError("the fake server closed this connection")
        self.world._on_packet(self, packet)

    async def next_packet(self) -> bytes:
        packet = await self._outbox.get()
        if packet is None:
            raise ConnectionResetError("the fake server closed this connection")
        return packet

    # server side
    def shutdown(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._outbox.put_nowait(None)
        self.world._forget_pipe(self)

    @property
    def ready(self) -> bool:
        """Whether updates can be pushed: an MTProto session exists and it is logged in."""
        return (not self.closed and self.session_id is not None and self.auth is not None
                and self.auth.user_id is not None and self.world._ban_of(self.auth.user_id) is None)

    def send_raw(self, packet: bytes) -> None:
        if not self.closed:
            self._outbox.put_nowait(packet)

    def new_msg_id(self, response: bool) -> int:
        # Server msg_ids: ~unixtime*2^32, 1 mod 4 for responses and 3 mod 4 otherwise.
        base = max(int(time.time() * 2 ** 32) & ~3, (self._last_msg_id & ~3) + 4)
        self._last_msg_id = base | (1 if response else 3)
        return self._last_msg_id

    def seq_no(self, content_related: bool) -> int:
        if content_related:
            self._content_sent += 1
            return self._content_sent * 2 - 1
        return self._content_sent * 2

    def message(self, body: bytes, *, response: bool, content_related: bool = True):
        return self.new_msg_id(response), self.seq_no(content_related), body

    def send(self, messages: list[tuple[int, int, bytes]]) -> None:
        if not messages or self.closed or self.session_id is None:
            return
        if len(messages) == 1:
            msg_id, seq_no, body = messages[0]
        else:
            body = struct.pack("<Ii", MessageContainer.CONSTRUCTOR_ID, len(messages)) + b"".join(
                struct.pack("<qii", m, s, len(b)) + b for m, s, b in messages)
            msg_id, seq_no = self.new_msg_id(False), self.seq_no(False)
        self.send_raw(self._encrypt(msg_id, seq_no, body))

    def push(self, obj) -> None:
        self.send([self.message(bytes(obj), response=False)])

    def _encrypt(self, msg_id: int, seq_no: int, body: bytes) -> bytes:
        key = self.auth.key
        data = struct.pack("<qqqii", self.salt, self.session_id, msg_id, seq_no, len(body)) + body
        padding = os.urandom(-(len(data) + 12) % 16 + 12)
        # Server-to-client messages use x = 8 in the MTProto 2.0 key derivation.
        msg_key = hashlib.sha256(key.key[96:128] + data + padding).digest()[8:24]
        aes_key, aes_iv = MTProtoState._calc_key(key.key, msg_key, False)
        return struct.pack("<Q", key.key_id) + msg_key + AES.encrypt_ige(data + padding, aes_key, aes_iv)

    @staticmethod
    def decrypt(key: AuthKey, packet: bytes) -> bytes | None:
        msg_key = packet[8:24]
        aes_key, aes_iv = MTProtoState._calc_key(key.key, msg_key, True)
        plain = AES.decrypt_ige(packet[24:], aes_key, aes_iv)
        if hashlib.sha256(key.key[88:120] + plain).digest()[8:24] != msg_key:
            return None
        return plain


class _FakeConnection(Connection):
    """Telethon connection that reaches ``world`` through in-memory queues.

    Only the socket-level hooks are replaced; Telethon's own send/receive loops, queues and
    disconnect handling are kept.
    """
    world: "FakeTelegram"
    packet_codec = None

    async def _connect(self, timeout=None, ssl=None):
        self._writer = self.world._open_pipe()

    def _send(self, data):
        self._writer.client_sent(data)

    async def _recv(self):
        return await self._writer.next_packet()


# --------------------------------------------------------------------------------------------
# Telegram's limits: request rates and the channel cap
# --------------------------------------------------------------------------------------------
# Telegram publishes no numbers, so a test sets the rates it wants played; until it does, no
# request is refused for its rate. The cap is always on, as on Telegram: an account may be in
# 500 channels and supergroups (1,000 with Premium); joining one more is CHANNELS_TOO_MUCH.

@dataclass
class _Rate:
    count: int  # at most this many accepted requests ...
    per: float  # ... in any window of this many seconds,
    wait: int  # past it: FLOOD_WAIT_{wait}
    # each account has its own window, as on Telegram (keyed by user id; None before sign-in)
    accepted: dict[int | None, list[float]] = field(default_factory=dict)


class _TelegramLimits:
    """The part of ``FakeTelegram`` that plays Telegram's limits, which hold per account.

    ``fake.rate_limit("ResolveUsernameRequest", count=20, per=60)`` answers an account's 21st
    resolution within any minute with ``FLOOD_WAIT_{wait}`` (``account=`` limits one account
    only); ``fake.rate_floods`` lists the requests refused that way, ``fake.rate_floods_of``
    those of one account. ``fake.channel_cap`` is the primary account's cap (default 500);
    another account has its own (``fake.account(name).channel_cap``).
    """

    def _init_limits(self) -> None:
        self._rates: dict[tuple[str, int | None], _Rate] = {}
        self.rate_floods: list[str] = []
        self._rate_floods_by: dict[str, list[str]] = {}

    @property
    def channel_cap(self) -> int:
        return self.main.channel_cap

    @channel_cap.setter
    def channel_cap(self, cap: int) -> None:
        self.main.channel_cap = cap

    def rate_limit(self, request_name: str, count: int, per: float = 60.0, wait: int | None = None, *,
                   account=None) -> None:
        """Refuse ``request_name`` with FLOOD_WAIT once an account had more than ``count``
        accepted within ``per`` seconds; the wait defaults to the window's length. Every
        account counts in its own window; with ``account`` the limit applies to that one only
        (and wins over a limit for all)."""
        user_id = self._account(account).id if account is not None else None
        self._rates[(request_name, user_id)] = _Rate(count, per, wait if wait is not None else max(1, round(per)))

    def rate_floods_of(self, account) -> list[str]:
        """The requests of ``account`` refused for their rate."""
        return list(self._rate_floods_by.get(self._account(account).name, []))

    def _check_rate(self, name: str, user_id: int | None) -> None:
        rate = self._rates.get((name, user_id)) or self._rates.get((name, None))
        if rate is None:
            return
        now = time.monotonic()
        accepted = rate.accepted[user_id] = [t for t in rate.accepted.get(user_id, []) if t > now - rate.per]
        if len(accepted) >= rate.count:
            self.rate_floods.append(name)
            account = self._accounts_by_id.get(user_id)
            if account is not None:
                self._rate_floods_by.setdefault(account.name, []).append(name)
            raise RpcFail(f"FLOOD_WAIT_{rate.wait}")
        accepted.append(now)

    def _check_channel_cap(self, user_id: int, channel: "FakeChannel") -> None:
        if user_id in channel.members:
            return
        count = sum(1 for c in self._channels.values() if user_id in c.members)
        account = self._accounts_by_id.get(user_id)
        if count >= (account.channel_cap if account is not None else 500):
            raise RpcFail("CHANNELS_TOO_MUCH")

    def channels_joined(self, account=None) -> int:
        """How many channels and supergroups the account (default: the primary one) is in."""
        user_id = self._account(account).id
        return sum(1 for c in self._channels.values() if user_id in c.members)


# --------------------------------------------------------------------------------------------
# The world
# --------------------------------------------------------------------------------------------

class FakeTelegram(_TelegramLimits):
    """One in-memory Telegram: accounts, chats, media and the server for ``fake.connection``."""

    API_ID = 611335
    DIFFERENCE_RETENTION = 100_000  # events a channel keeps for getChannelDifference
    API_HASH = "d524b414d21f4d37f08684c1df41ac9c"
    DC_ID = 2
    DC_IP = "127.0.0.1"
    DC_PORT = 1  # never dialled; an accidental real connection fails fast
    LOGIN_CODE = "12345"
    PHONE_CODE_HASH = "f4k3c0d3h45h"

    def __init__(self) -> None:
        self._rng = random.Random(0xD0208)
        self._users: dict[int, types.User] = {}
        self._channels: dict[int, FakeChannel] = {}
        self._groups: dict[int, FakeGroup] = {}
        self._boxes: dict[int, _Box] = {}
        self._keys: dict[int, _AuthRecord] = {}
        self._pipes: list[_Pipe] = []
        self._random_ids: dict[int | None, set[int]] = {}
        self._pipes_changed = asyncio.Event()
        self._failures: dict[str, list[_Failure]] = {}
        self._photos: dict[int, types.Photo] = {}
        self._documents: dict[int, types.Document] = {}
        self._file_data: dict[tuple[str, int], bytes] = {}
        self._uploads: dict[int, dict[int, bytes]] = {}
        self._sent: dict[int, list[types.Message]] = {}
        self._dates_issued: dict[int, float] = {}
        self._next_channel_id = 1_700_000_001
        self._next_group_id = 4_100_001
        self._next_user_id = 3001

        self.requests: list[str] = []
        self.calls: list[FakeCall] = []
        self.unsupported: list[str] = []
        self.errors: list[BaseException] = []

        self._me_id = self._new_user(1000, "Дозор", username="dozor_watch", phone="380501234567").id
        self._accounts: dict[str, FakeAccount] = {}
        self._accounts_by_id: dict[int, FakeAccount] = {}
        self._register_account(MAIN, self._me_id)
        self._bot_id = self._new_user(2000, "Dozor Digest", username="dozor_digest_bot", bot=True).id
        self.stranger = self.add_user("Олена", username="olena_kyiv")
        self.BOT_TOKEN = f"{self._bot_id}:AAF4k3-T0k3nF0rT3sts"

        self.connection: type[Connection] = type("FakeConnection", (_FakeConnection,), {"world": self})
        self._handlers: dict[type, Callable[[_Ctx, Any], Any]] = self._handler_table()
        self._init_limits()

    # ---- accounts and sessions -------------------------------------------------------------

    @property
    def me(self) -> types.User:
        """The primary account, as it sees itself."""
        return self._user_view(self._me_id, self._me_id)

    @property
    def bot(self) -> types.User:
        """The bot account that ``authorise_session(..., bot=True)`` logs in as."""
        return self._user_view(self._bot_id, self._bot_id)

    def add_user(self, first_name: str, *, username: str | None = None, last_name: str | None = None,
                 phone: str | None = None, bot: bool = False) -> types.User:
        """Another Telegram user (a city-chat author, say). Returns its ``User``."""
        user = self._new_user(self._next_user_id, first_name, username=username, last_name=last_name,
                              phone=phone, bot=bot)
        self._next_user_id += 1
        return self._user_view(user.id, None)

    @property
    def main(self) -> FakeAccount:
        """The primary account (``me``), named ``main`` like dozor's default account."""
        return self._accounts[MAIN]

    @property
    def accounts(self) -> list[FakeAccount]:
        """Every account, the primary one first."""
        return list(self._accounts.values())

    def add_account(self, name: str, *, first_name: str | None = None, channel_cap: int = 500,
                    phone: str | None = None) -> FakeAccount:
        """Another account dozor can sign in as (``authorise_session(path, account=name)``, or
        with its ``phone`` and ``LOGIN_CODE``): in no channel yet, with its own ``channel_cap``
        and its own request limits."""
        if not isinstance(name, str) or not _ACCOUNT_NAME.fullmatch(name):
            raise ValueError(f"account name {name!r}: expected 1-32 of a-z, 0-9, _ and -")
        if name in self._accounts:
            raise ValueError(f"account {name!r} already exists in this world")
        number = len(self._accounts)
        phone = re.sub(r"\D", "", phone) if phone else f"38050{7000000 + number:07d}"
        if any(self._users[a.id].phone == phone for a in self._accounts.values()):
            raise ValueError(f"phone {phone} already belongs to an account")
        user = self._new_user(self._next_user_id, first_name or f"Дозор {name}", phone=phone)
        self._next_user_id += 1
        return self._register_account(name, user.id, channel_cap=channel_cap)

    def account(self, name_or_user=None) -> FakeAccount:
        """The account by name (``None``: the primary one), user, user id or itself."""
        return self._account(name_or_user)

    def user_of(self, account=None) -> types.User:
        """The account's user, as it sees itself."""
        user_id = self._account(account).id
        return self._user_view(user_id, user_id)

    def authorise_session(self, path_or_session, bot: bool = False, *, account=None) -> None:
        """Write a session logged in as ``me`` (or as ``bot``, or as ``account``) under a fresh
        auth key. A logged-out account is logged in again by this; a banned one stays banned.

        ``path_or_session`` is what ``TelegramClient`` accepts: a path (Telethon appends
        ``.session`` when missing) or a ``Session`` object, which is filled in place.
        """
        if bot:
            if account is not None:
                raise ValueError("a session is for the bot or for an account, not both")
            self._write_session(path_or_session, self._bot_id)
            return
        chosen = self._account(account)
        if chosen.state == "logged_out":
            chosen.state = "active"
        self._write_session(path_or_session, chosen.id)

    def log_out(self, account=None, error: str = "AUTH_KEY_UNREGISTERED") -> int:
        """Every session of the account is logged out, as when its owner ends them from
        another device: their next request gets ``error`` (AUTH_KEY_UNREGISTERED,
        SESSION_REVOKED or SESSION_EXPIRED) and no update reaches them any more. Its channels
        stay joined. Returns how many sessions were ended."""
        if error not in _LOGGED_OUT_ERRORS:
            raise ValueError(f"log_out error {error!r}: expected one of {', '.join(_LOGGED_OUT_ERRORS)}")
        chosen = self._account(account)
        ended = 0
        for record in self._keys.values():
            if record.user_id == chosen.id:
                record.user_id, record.refusal = None, error
                ended += 1
        if chosen.state != "banned":
            chosen.state = "logged_out"
        self._pipes_changed.set()
        return ended

    def ban(self, account=None, error: str = "USER_DEACTIVATED_BAN") -> None:
        """Telegram bans the account: every request of every session of it, present or future,
        gets ``error`` (USER_DEACTIVATED_BAN, or USER_DEACTIVATED for a deleted account), no
        update reaches it, and signing in with its phone gets PHONE_NUMBER_BANNED."""
        if error not in _BAN_ERRORS:
            raise ValueError(f"ban error {error!r}: expected one of {', '.join(_BAN_ERRORS)}")
        chosen = self._account(account)
        chosen.state, chosen.ban_error = "banned", error
        self._pipes_changed.set()

    def connections_of(self, account=None) -> int:
        """Open connections logged in as the account (and not banned)."""
        user_id = self._account(account).id
        return sum(1 for p in self._pipes if p.ready and p.auth.user_id == user_id)

    def unauthorised_session(self, path_or_session) -> None:
        """Write a session whose auth key the server knows but which is not logged in; sign
        in with ``send_code_request(fake.me.phone)`` + ``sign_in(code=fake.LOGIN_CODE)`` or
        ``sign_in(bot_token=fake.BOT_TOKEN)``."""
        self._write_session(path_or_session, None)

    def client(self, path, **kwargs) -> TelegramClient:
        """A ``TelegramClient`` wired to this world (not connected yet)."""
        return TelegramClient(path, self.API_ID, self.API_HASH, connection=self.connection, **kwargs)

    # ---- chats -----------------------------------------------------------------------------

    def add_channel(self, username: str | None = None, title: str = "Channel", megagroup: bool = False,
                    *, joined=False, about: str = "", big: bool = False,
                    poll_timeout: int = 30) -> FakeChannel:
        """A channel (or a megagroup, the kind most city chats are). ``username=None`` makes it
        private, reachable through ``t.me/+{invite_hash}``. ``joined=True`` makes the primary
        account a member from the start (``joined="spare"`` or ``["main", "spare"]``: those
        accounts). ``big=True`` pushes no live updates for it at all, as Telegram does for large
        channels: only getChannelDifference (polled after ``poll_timeout`` seconds, the answer's
        ``timeout``) shows what happened."""
        if username is not None:
            username = self._check_username(username)
        channel = FakeChannel(
            id=self._next_channel_id, access_hash=self._rng.getrandbits(63), title=title,
            username=username, megagroup=megagroup, invite_hash=self._random_token(16), date=_now(),
            about=about, big=big, poll_timeout=poll_timeout)
        self._next_channel_id += 1
        self._channels[channel.id] = channel
        if joined is True:
            channel.members.add(self._me_id)
        elif joined:
            many = isinstance(joined, (list, tuple, set, frozenset))
            channel.members.update(self._account(a).id for a in (joined if many else [joined]))
        return channel

    def add_group(self, title: str = "Group", *, members: Iterable = ()) -> FakeGroup:
        """A basic group with the primary account (and ``members``, users or ids) in it."""
        group = FakeGroup(id=self._next_group_id, title=title, date=_now(),
                          members={self._me_id, *(self._user_id_of(m) for m in members)})
        self._next_group_id += 1
        self._groups[group.id] = group
        return group

    def join(self, chat, account=None) -> None:
        """Make the account (default: the primary one) a member, as if it had joined elsewhere."""
        self._channel_of(chat).members.add(self._account(account).id)

    def joined(self, chat, account=None) -> bool:
        """Whether the account (default: the primary one) is a member of the channel."""
        return self._account(account).id in self._channel_of(chat).members

    def members(self, chat) -> list[str]:
        """The names of the accounts in the channel."""
        ids = self._channel_of(chat).members
        return [a.name for a in self._accounts.values() if a.id in ids]

    # ---- content ---------------------------------------------------------------------------

    def photo(self, data: bytes, *, w: int = 1280, h: int = 960) -> types.Photo:
        """A photo whose single size ``"y"`` serves ``data``; pass it as ``post(media=...)``."""
        photo = types.Photo(
            id=self._rng.getrandbits(62), access_hash=self._rng.getrandbits(63),
            file_reference=self._rng.randbytes(12), date=_now(),
            sizes=[types.PhotoSize(type="y", w=w, h=h, size=len(data))], dc_id=self.DC_ID)
        self._photos[photo.id] = photo
        self._file_data[("photo", photo.id)] = bytes(data)
        return photo

    def document(self, data: bytes, mime_type: str | None = None, file_name: str | None = None,
                 video: bool = False, round: bool = False, voice: bool = False, audio: bool = False,
                 gif: bool = False, sticker: bool = False, duration: float | None = None,
                 w: int | None = None, h: int | None = None) -> types.Document:
        """A document serving ``data``. Without ``mime_type``/``file_name`` a plain document is
        ``application/pdf`` named ``x.pdf`` and the media flags pick a fitting mime type."""
        attributes: list = []
        if file_name is None and not (video or round or voice or audio or gif or sticker):
            file_name = "x.pdf"
        if file_name:
            attributes.append(types.DocumentAttributeFilename(file_name))
        if video or round or gif:
            attributes.append(types.DocumentAttributeVideo(
                duration=duration or 0, w=w or 0, h=h or 0, round_message=round or None,
                supports_streaming=True))
        if gif:
            attributes.append(types.DocumentAttributeAnimated())
        if voice or audio:
            attributes.append(types.DocumentAttributeAudio(duration=int(duration or 0), voice=voice or None))
        if sticker:
            attributes.append(types.DocumentAttributeSticker(alt="", stickerset=types.InputStickerSetEmpty()))
        if (w or h) and not (video or round or gif):
            attributes.append(types.DocumentAttributeImageSize(w=w or 0, h=h or 0))
        if mime_type is None:
            mime_type = ("video/mp4" if video or round or gif else "audio/ogg" if voice
                         else "audio/mpeg" if audio else "image/webp" if sticker else "application/pdf")
        return self._register_document(bytes(data), mime_type, attributes)

    def post(self, chat, text: str = "", media=None, grouped_id: int | None = None, views: int | None = None,
             forwards: int | None = None, reply_to: int | None = None, fwd_from_channel=None,
             from_user=None, deliver: bool = True, date=None, *, entities: list | None = None,
             fwd_from_post: int | None = None) -> types.Message:
        """Publish a message in ``chat`` (channel, group, or a user for a private message to
        the primary account) with the next id and pts.

        ``deliver=False`` stores it without pushing an update, leaving a pts gap for the
        client to discover. Returns the stored ``telethon.tl.types.Message`` (the server's
        copy: read it, don't mutate it).
        """
        target = self._target(chat)
        sender_id = self._user_id_of(from_user) if from_user is not None else None
        fwd_from = None
        if fwd_from_channel is not None:
            source = self._channel_of(fwd_from_channel)
            fwd_from = types.MessageFwdHeader(date=_as_datetime(date), from_id=source.peer,
                                              channel_post=fwd_from_post)
        fields = dict(
            message=text, date=_as_datetime(date), media=self._message_media(media), grouped_id=grouped_id,
            views=views, forwards=forwards, entities=entities, fwd_from=fwd_from,
            reply_to=types.MessageReplyHeader(reply_to_msg_id=reply_to) if reply_to else None)
        if isinstance(target, FakeChannel):
            if target.megagroup:
                fields["from_id"] = types.PeerUser(sender_id or self.stranger.id)
            else:
                fields["post"] = True
                if fields["views"] is None:
                    fields["views"] = 1
        elif isinstance(target, FakeGroup):
            fields["from_id"] = types.PeerUser(sender_id or self.stranger.id)
            sender_id = sender_id or self.stranger.id
        else:
            sender_id = target
        message, event = self._store(target, self._me_id, sender_id, fields)
        if deliver:
            self._deliver(target, event)
        return message

    def service(self, chat, deliver: bool = True, user=None) -> types.MessageService:
        """A service message (someone joined by link): it takes the next id, like Telegram's,
        and carries nothing to archive."""
        target = self._target(chat)
        box = self._box_of(target, self._me_id)
        joiner = self._user_id_of(user) if user is not None else self.stranger.id
        message = types.MessageService(
            id=box.take_id(), peer_id=self._peer_of(target, self._me_id), date=_now(),
            action=types.MessageActionChatJoinedByLink(inviter_id=self._me_id), from_id=types.PeerUser(joiner))
        bytes(message)
        box.messages[message.id] = message
        box.authors[message.id] = joiner
        event = box.record("new", [message.id], 1)
        if deliver:
            self._deliver(target, event)
        return message

    def edit(self, chat, msg_id: int, text: str, deliver: bool = True, *, entities: list | None = None) -> types.Message:
        """Change a message's text (``UpdateEditChannelMessage``/``UpdateEditMessage``, new pts)."""
        target = self._target(chat)
        box = self._box_of(target, self._me_id)
        message = self._stored_message(target, box, msg_id)
        message.message = text
        message.entities = entities
        message.edit_date = _now()
        event = box.record("edit", [msg_id], 1)
        if deliver:
            self._deliver(target, event)
        return message

    def delete(self, chat, ids: Iterable[int], deliver: bool = True) -> None:
        """Delete messages (``UpdateDeleteChannelMessages``/``UpdateDeleteMessages``)."""
        target = self._target(chat)
        box = self._box_of(target, self._me_id)
        gone = [i for i in ids if self._in_chat(target, box.messages.get(i))]
        if not gone:
            return
        for msg_id in gone:
            del box.messages[msg_id]
            box.authors.pop(msg_id, None)
        event = box.record("delete", gone, len(gone))
        if deliver:
            self._deliver(target, event)

    def messages(self, chat) -> list[types.Message]:
        """The chat's history as stored, oldest first."""
        target = self._target(chat)
        return list(reversed(self._history(target, self._me_id)))

    def sent(self, chat) -> list[types.Message]:
        """Messages clients sent to ``chat`` (sendMessage/sendMedia/sendMultiMedia), in order."""
        return list(self._sent.get(self._marked_id_of(self._target(chat)), []))

    # ---- the editors' desk: private chats with the bot, reactions -------------------------------
    # Messages from editors (a megagroup with ``from_user``, a private chat via ``post(user, …)``),
    # replies (``reply_to``) and forwards (``fwd_from_channel``) are ordinary posts above; private
    # chats of another account (the bot) and reactions need a model of their own.

    def message_to(self, recipient, text: str, *, from_user, reply_to: int | None = None) -> types.Message:
        """A private message from ``from_user`` to ``recipient`` other than the primary account
        (the bot, say), kept in the recipient's own box and pushed to its connections.
        (``post(user, …)`` is the same towards the primary account.)"""
        recipient_id, sender_id = self._user_id_of(recipient), self._user_id_of(from_user)
        if recipient_id == self._me_id:
            return self.post(from_user, text, reply_to=reply_to)
        fields = dict(message=text, date=_now(),
                      reply_to=types.MessageReplyHeader(reply_to_msg_id=reply_to) if reply_to else None)
        message, event = self._store(sender_id, recipient_id, sender_id, fields)
        box = self._account_box(recipient_id)
        for pipe in list(self._pipes):
            if pipe.ready and pipe.receives_updates and pipe.auth.user_id == recipient_id:
                updates = self._event_updates(sender_id, box, event, recipient_id)
                users, chats = self._entities([u.message for u in updates], recipient_id, extra=[sender_id])
                pipe.push(types.Updates(updates=updates, users=users, chats=chats, date=_now(), seq=0))
        return message

    def react(self, chat, msg_id: int, user, emoticon: str) -> types.MessageReactions:
        """``user`` reacts to message ``msg_id`` of ``chat`` with ``emoticon`` (replacing their
        earlier reaction). Members receive ``updateMessageReactions``; who reacted is listed
        (``recent_reactions``) in groups and private chats, not in broadcast channels, as on
        Telegram. The update carries no pts, so nothing replays it after a reconnect."""
        target = self._target(chat)
        box = self._box_of(target, self._me_id)
        message = self._stored_message(target, box, msg_id)
        user_id = self._user_id_of(user)
        earlier = message.reactions.recent_reactions if message.reactions and message.reactions.recent_reactions else []
        recent = [types.MessagePeerReaction(peer_id=types.PeerUser(user_id), date=_now(),
                                            reaction=types.ReactionEmoji(emoticon))]
        recent += [r for r in earlier if r.peer_id != types.PeerUser(user_id)]
        counts: dict[str, int] = {}
        for reaction in recent:
            counts[reaction.reaction.emoticon] = counts.get(reaction.reaction.emoticon, 0) + 1
        listed = not (isinstance(target, FakeChannel) and not target.megagroup)
        message.reactions = types.MessageReactions(
            results=[types.ReactionCount(reaction=types.ReactionEmoji(e), count=n) for e, n in counts.items()],
            can_see_list=listed or None, recent_reactions=recent if listed else None)
        bytes(message)
        update = types.UpdateMessageReactions(peer=self._peer_of(target, self._me_id), msg_id=msg_id,
                                              reactions=message.reactions)
        audience = self._audience(target)
        for pipe in list(self._pipes):
            if pipe.ready and pipe.receives_updates and pipe.auth.user_id in audience:
                reactors = [r.peer_id for r in recent] if listed else []
                users, chats = self._entities([], pipe.auth.user_id, extra=[target, *reactors])
                pipe.push(types.Updates(updates=[update], users=users, chats=chats, date=_now(), seq=0))
        return message.reactions

    # ---- misbehaviour on demand --------------------------------------------------------------

    def flood_wait(self, request_name: str, seconds: int = 1, times: int = 1, *, after: int = 0,
                   account=None) -> None:
        """After ``after`` more requests named ``request_name`` go through, the next ``times``
        get ``FLOOD_WAIT_{seconds}`` (only those of ``account`` when given)."""
        self.fail(request_name, f"FLOOD_WAIT_{seconds}", times=times, after=after, account=account)

    def fail(self, request_name: str, message: str, times: int = 1, *, code: int | None = None,
             after: int = 0, account=None) -> None:
        """After ``after`` more requests named ``request_name`` go through, the next ``times``
        get an ``rpc_error``; with ``account``, only that account's requests count and fail.

        ``FILE_REFERENCE_EXPIRED`` for ``GetFileRequest`` is modelled instead of injected:
        every file reference changes, so downloads with messages fetched earlier keep failing
        and a re-fetched message works (``times`` does not apply).
        """
        if request_name == "GetFileRequest" and message == "FILE_REFERENCE_EXPIRED":
            self.expire_file_references()
            return
        user_id = self._account(account).id if account is not None else None
        self._failures.setdefault(request_name, []).append(
            _Failure(message, code if code is not None else _error_code(message), times, after, user_id))

    def expire_file_references(self) -> None:
        """Give every photo and document a new file_reference."""
        for media in [*self._photos.values(), *self._documents.values()]:
            media.file_reference = self._rng.randbytes(12)

    def drop_connections(self) -> int:
        """Close every open connection from the server side; returns how many were open."""
        pipes = list(self._pipes)
        for pipe in pipes:
            pipe.shutdown()
        return len(pipes)

    def difference_too_long(self, chat) -> None:
        """Answer the next ``GetChannelDifference`` for ``chat`` with ``channelDifferenceTooLong``."""
        self._channel_of(chat).too_long_pending = True

    @property
    def connection_count(self) -> int:
        """Open connections with a logged-in MTProto session."""
        return sum(1 for p in self._pipes if p.ready)

    async def wait_connected(self, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until at least ``count`` logged-in connections are open (e.g. after a drop)."""
        async def reached():
            while self.connection_count < count:
                self._pipes_changed.clear()
                await self._pipes_changed.wait()
        await asyncio.wait_for(reached(), timeout)

    def check(self) -> None:
        """Raise if the fake met a request it does not implement or failed internally."""
        if self.unsupported or self.errors:
            raise AssertionError(f"fake Telegram: unsupported={self.unsupported} errors={self.errors!r}")

    # ==== internals: accounts ====================================================================

    def _register_account(self, name: str, user_id: int, channel_cap: int = 500) -> FakeAccount:
        account = FakeAccount(name=name, id=user_id, phone=self._users[user_id].phone, channel_cap=channel_cap)
        self._accounts[name] = account
        self._accounts_by_id[user_id] = account
        return account

    def _account(self, account) -> FakeAccount:
        if account is None:
            return self._accounts[MAIN]
        if isinstance(account, FakeAccount):
            return account
        if isinstance(account, str):
            if account not in self._accounts:
                raise KeyError(f"no account {account!r} in this world (add it with fake.add_account)")
            return self._accounts[account]
        user_id = account if isinstance(account, int) else getattr(account, "id", None)
        if user_id not in self._accounts_by_id:
            raise KeyError(f"{account!r} is not an account")
        return self._accounts_by_id[user_id]

    def _ban_of(self, user_id: int | None) -> str | None:
        """The error a banned account's requests get, None when it is not banned."""
        account = self._accounts_by_id.get(user_id)
        return account.ban_error if account is not None and account.state == "banned" else None

    def _account_by_phone(self, phone: str) -> FakeAccount:
        digits = re.sub(r"\D", "", phone)
        found = next((a for a in self._accounts.values() if a.phone == digits), None)
        if found is None:
            raise RpcFail("PHONE_NUMBER_INVALID")
        if found.state == "banned":
            raise RpcFail("PHONE_NUMBER_BANNED")
        return found

    # ==== internals: entities ====================================================================

    def _new_user(self, user_id: int, first_name: str, *, username=None, last_name=None, phone=None,
                  bot=False) -> types.User:
        if username is not None:
            username = self._check_username(username)
        user = types.User(
            id=user_id, access_hash=self._rng.getrandbits(63), first_name=first_name, last_name=last_name,
            username=username, phone=phone, bot=bot or None, bot_info_version=1 if bot else None,
            status=None if bot else types.UserStatusRecently())
        self._users[user_id] = user
        return user

    def _check_username(self, username: str) -> str:
        name = username.lstrip("@")
        if not _USERNAME.match(name.lower()):
            raise ValueError(f"{username!r} is not a valid Telegram username (5-32 of a-z, 0-9, _)")
        taken = {u.username.lower() for u in self._users.values() if u.username}
        taken |= {c.username.lower() for c in self._channels.values() if c.username}
        if name.lower() in taken:
            raise ValueError(f"username {username!r} is already taken in this world")
        return name

    def _random_token(self, length: int) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
        return "".join(self._rng.choice(alphabet) for _ in range(length))

    def _write_session(self, path_or_session, user_id: int | None) -> None:
        key = AuthKey(os.urandom(256))
        self._keys[key.key_id] = _AuthRecord(key, user_id)
        if isinstance(path_or_session, Session):
            session, owned = path_or_session, False
        else:
            session, owned = SQLiteSession(os.fspath(path_or_session)), True
        session.set_dc(self.DC_ID, self.DC_IP, self.DC_PORT)
        session.auth_key = key
        session.save()
        if owned:
            session.close()

    def _user_view(self, user_id: int, viewer: int | None) -> types.User:
        user = copy.copy(self._users[user_id])
        user.is_self = (user_id == viewer) or None
        return user

    def _channel_view(self, channel: FakeChannel, viewer: int | None) -> types.Channel:
        return types.Channel(
            id=channel.id, title=channel.title, photo=types.ChatPhotoEmpty(), date=channel.date,
            access_hash=channel.access_hash, username=channel.username,
            broadcast=None if channel.megagroup else True, megagroup=channel.megagroup or None,
            left=None if viewer in channel.members else True, participants_count=len(channel.members))

    def _group_view(self, group: FakeGroup, viewer: int | None) -> types.Chat:
        return types.Chat(id=group.id, title=group.title, photo=types.ChatPhotoEmpty(),
                          participants_count=len(group.members), date=group.date, version=1,
                          left=None if viewer in group.members else True)

    def _entities(self, messages: Iterable, viewer: int | None, extra: Iterable = ()):
        """The users and chats a response must carry so the client can resolve every peer."""
        users: dict[int, types.User] = {}
        chats: dict[int, Any] = {}

        def add(peer_or_target):
            if isinstance(peer_or_target, types.PeerUser) or isinstance(peer_or_target, int):
                uid = peer_or_target if isinstance(peer_or_target, int) else peer_or_target.user_id
                if uid in self._users and uid not in users:
                    users[uid] = self._user_view(uid, viewer)
            elif isinstance(peer_or_target, (types.PeerChannel, FakeChannel)):
                cid = peer_or_target.id if isinstance(peer_or_target, FakeChannel) else peer_or_target.channel_id
                if cid in self._channels and -cid not in chats:
                    chats[-cid] = self._channel_view(self._channels[cid], viewer)
            elif isinstance(peer_or_target, (types.PeerChat, FakeGroup)):
                gid = peer_or_target.id if isinstance(peer_or_target, FakeGroup) else peer_or_target.chat_id
                if gid in self._groups and gid not in chats:
                    chats[gid] = self._group_view(self._groups[gid], viewer)

        for item in extra:
            add(item)
        for message in messages:
            add(message.peer_id)
            if getattr(message, "from_id", None):
                add(message.from_id)
            fwd = getattr(message, "fwd_from", None)
            if fwd is not None and fwd.from_id is not None:
                add(fwd.from_id)
        if viewer is not None:
            add(viewer)
        return list(users.values()), list(chats.values())

    # ==== internals: chats and boxes =============================================================

    def _user_id_of(self, user) -> int:
        user_id = user if isinstance(user, int) else getattr(user, "id", None)
        if user_id not in self._users:
            raise KeyError(f"unknown user {user!r}")
        return user_id

    def _target(self, chat):
        """A FakeChannel, a FakeGroup, or a user id, from a handle, TL object or (marked) id."""
        if isinstance(chat, (FakeChannel, FakeGroup)):
            return chat
        if isinstance(chat, (types.User, types.PeerUser, types.InputPeerUser)):
            return self._user_id_of(getattr(chat, "user_id", getattr(chat, "id", None)))
        if isinstance(chat, (types.Channel, types.PeerChannel, types.InputPeerChannel)):
            return self._channel_of(chat)
        if isinstance(chat, (types.Chat, types.PeerChat, types.InputPeerChat)):
            return self._groups[getattr(chat, "chat_id", getattr(chat, "id", None))]
        if isinstance(chat, int):
            bare, kind = utils.resolve_id(chat)
            if kind is types.PeerChannel:
                return self._channel_of(bare)
            if kind is types.PeerChat:
                return self._groups[bare]
            return self._user_id_of(bare)
        if isinstance(chat, str):
            name = chat.lstrip("@").lower()
            for channel in self._channels.values():
                if channel.username and channel.username.lower() == name:
                    return channel
        raise KeyError(f"unknown chat {chat!r}")

    def _channel_of(self, chat) -> FakeChannel:
        if isinstance(chat, FakeChannel):
            return chat
        if isinstance(chat, int):
            bare = utils.resolve_id(chat)[0] if chat < 0 else chat
            return self._channels[bare]
        if isinstance(chat, (types.Channel,)):
            return self._channels[chat.id]
        if isinstance(chat, (types.PeerChannel, types.InputPeerChannel, types.InputChannel)):
            return self._channels[chat.channel_id]
        target = self._target(chat)
        if not isinstance(target, FakeChannel):
            raise KeyError(f"{chat!r} is not a channel")
        return target

    def _marked_id_of(self, target) -> int:
        return target.marked_id if isinstance(target, (FakeChannel, FakeGroup)) else target

    def _account_box(self, user_id: int) -> _Box:
        return self._boxes.setdefault(user_id, _Box())

    def _box_of(self, target, viewer: int) -> _Box:
        return target.box if isinstance(target, FakeChannel) else self._account_box(viewer)

    def _peer_of(self, target, viewer: int):
        if isinstance(target, (FakeChannel, FakeGroup)):
            return target.peer
        return types.PeerUser(target)

    def _in_chat(self, target, message) -> bool:
        if message is None:
            return False
        if isinstance(target, FakeChannel):
            return True
        return message.peer_id == self._peer_of(target, None)

    def _history(self, target, viewer: int) -> list[types.Message]:
        """The chat's messages as ``viewer`` has them, newest first."""
        box = self._box_of(target, viewer)
        return [box.messages[i] for i in sorted(box.messages, reverse=True)
                if self._in_chat(target, box.messages[i])]

    def _stored_message(self, target, box: _Box, msg_id: int) -> types.Message:
        message = box.messages.get(msg_id)
        if not self._in_chat(target, message):
            raise KeyError(f"no message {msg_id} in {target!r}")
        return message

    def _view(self, box: _Box, message, viewer: int | None):
        view = _clone(message)
        if box.authors.get(message.id) is not None and box.authors.get(message.id) == viewer:
            view.out = True
        return view

    def _store(self, target, box_owner: int, author: int | None, fields: dict):
        box = self._box_of(target, box_owner)
        if (fields.get("views") is None) != (fields.get("forwards") is None):
            # The TL flag is shared: a message carries both counters or neither.
            fields["views"] = fields.get("views") or 0
            fields["forwards"] = fields.get("forwards") or 0
        message = types.Message(id=box.take_id(), peer_id=self._peer_of(target, box_owner), **fields)
        bytes(message)  # fail in the caller, not later on the wire, if a field is malformed
        box.messages[message.id] = message
        box.authors[message.id] = author
        return message, box.record("new", [message.id], 1)

    def _audience(self, target) -> set[int]:
        if isinstance(target, FakeChannel):
            return set(target.members)
        # Basic groups and private chats are modelled in the primary account's box only.
        return {self._me_id}

    def _event_updates(self, target, box: _Box, event: _Event, viewer: int) -> list:
        """The updates an event appears as, or [] if its message no longer exists."""
        channel = isinstance(target, FakeChannel)
        if event.kind == "delete":
            if channel:
                return [types.UpdateDeleteChannelMessages(target.id, list(event.ids), event.pts, event.pts_count)]
            return [types.UpdateDeleteMessages(list(event.ids), event.pts, event.pts_count)]
        message = box.messages.get(event.ids[0])
        if message is None:
            return []
        view = self._view(box, message, viewer)
        if event.kind == "new":
            cls = types.UpdateNewChannelMessage if channel else types.UpdateNewMessage
        else:
            cls = types.UpdateEditChannelMessage if channel else types.UpdateEditMessage
        return [cls(view, event.pts, event.pts_count)]

    def _deliver(self, target, event: _Event, *, exclude: _Pipe | None = None) -> None:
        if isinstance(target, FakeChannel) and target.big:
            return
        audience = self._audience(target)
        box = self._box_of(target, self._me_id)
        for pipe in list(self._pipes):
            if pipe is exclude or not pipe.ready or not pipe.receives_updates:
                continue
            viewer = pipe.auth.user_id
            if viewer not in audience:
                continue
            if not isinstance(target, FakeChannel) and self._box_of(target, viewer) is not box:
                continue
            updates = self._event_updates(target, box, event, viewer)
            if not updates:
                continue
            messages = [u.message for u in updates if hasattr(u, "message")]
            users, chats = self._entities(messages, viewer, extra=[target])
            pipe.push(types.Updates(updates=updates, users=users, chats=chats, date=_now(), seq=0))

    # ==== internals: media =======================================================================

    def _register_document(self, data: bytes, mime_type: str, attributes: list) -> types.Document:
        document = types.Document(
            id=self._rng.getrandbits(62), access_hash=self._rng.getrandbits(63),
            file_reference=self._rng.randbytes(12), date=_now(), mime_type=mime_type, size=len(data),
            dc_id=self.DC_ID, attributes=attributes)
        self._documents[document.id] = document
        self._file_data[("document", document.id)] = data
        return document

    def _message_media(self, media):
        if media is None:
            return None
        if isinstance(media, types.Photo):
            return types.MessageMediaPhoto(photo=media)
        if isinstance(media, types.Document):
            video = next((a for a in media.attributes if isinstance(a, types.DocumentAttributeVideo)), None)
            audio = next((a for a in media.attributes if isinstance(a, types.DocumentAttributeAudio)), None)
            return types.MessageMediaDocument(
                document=media, video=bool(video and not video.round_message) or None,
                round=bool(video and video.round_message) or None, voice=bool(audio and audio.voice) or None)
        if isinstance(media, (types.MessageMediaPhoto, types.MessageMediaDocument)):
            return media
        raise TypeError(f"use fake.photo()/fake.document() for media, not {type(media).__name__}")

    def _assemble_upload(self, input_file) -> bytes:
        parts = self._uploads.pop(input_file.id, {})
        if any(i not in parts for i in range(input_file.parts)):
            raise RpcFail("FILE_PARTS_INVALID")
        data = b"".join(parts[i] for i in range(input_file.parts))
        checksum = getattr(input_file, "md5_checksum", "")
        if checksum and hashlib.md5(data).hexdigest() != checksum:
            raise RpcFail("MD5_CHECKSUM_INVALID")
        return data

    def _media_from_input(self, media):
        if isinstance(media, types.InputMediaUploadedPhoto):
            return types.MessageMediaPhoto(photo=self.photo(self._assemble_upload(media.file)))
        if isinstance(media, types.InputMediaUploadedDocument):
            data = self._assemble_upload(media.file)
            return self._message_media(self._register_document(data, media.mime_type, list(media.attributes)))
        if isinstance(media, types.InputMediaPhoto) and isinstance(media.id, types.InputPhoto):
            photo = self._photos.get(media.id.id)
            if photo is None or photo.access_hash != media.id.access_hash:
                raise RpcFail("MEDIA_INVALID")
            if photo.file_reference != media.id.file_reference:
                raise RpcFail("FILE_REFERENCE_EXPIRED")
            return types.MessageMediaPhoto(photo=photo)
        if isinstance(media, types.InputMediaDocument) and isinstance(media.id, types.InputDocument):
            document = self._documents.get(media.id.id)
            if document is None or document.access_hash != media.id.access_hash:
                raise RpcFail("MEDIA_INVALID")
            if document.file_reference != media.id.file_reference:
                raise RpcFail("FILE_REFERENCE_EXPIRED")
            return self._message_media(document)
        raise RpcFail(f"FAKE_UNSUPPORTED_{type(media).__name__}")

    # ==== internals: the wire ====================================================================

    def _open_pipe(self) -> _Pipe:
        pipe = _Pipe(self)
        self._pipes.append(pipe)
        return pipe

    def _forget_pipe(self, pipe: _Pipe) -> None:
        if pipe in self._pipes:
            self._pipes.remove(pipe)
        self._pipes_changed.set()

    def _on_packet(self, pipe: _Pipe, packet: bytes) -> None:
        try:
            self._handle_packet(pipe, packet)
        except Exception as exc:  # a fake bug must not look like a network problem
            log.exception("fake Telegram failed on a packet")
            self.errors.append(exc)

    def _handle_packet(self, pipe: _Pipe, packet: bytes) -> None:
        if len(packet) < 24:
            return
        key_id = struct.unpack("<Q", packet[:8])[0]
        record = self._keys.get(key_id)
        if record is None:
            # Unencrypted packets start a key exchange; like Telegram for unknown keys, refuse
            # with transport error -404 (Telethon raises it from connect()).
            pipe.send_raw(_TRANSPORT_AUTH_KEY_UNKNOWN)
            return
        plain = _Pipe.decrypt(record.key, packet)
        if plain is None:
            return  # Telegram silently drops messages with a wrong msg_key
        pipe.auth = record
        _salt, session_id, msg_id, _seq_no, length = struct.unpack("<qqqii", plain[:32])
        body = plain[32:32 + length]
        outgoing: list[tuple[int, int, bytes]] = []
        if session_id != pipe.session_id:
            pipe.session_id = session_id
            self._pipes_changed.set()
            outgoing.append(pipe.message(bytes(types.NewSessionCreated(
                first_msg_id=msg_id, unique_id=self._rng.getrandbits(63), server_salt=pipe.salt)),
                response=False, content_related=False))
        self._process(pipe, msg_id, BinaryReader(body).tgread_object(), outgoing)
        pipe.send(outgoing)

    def _process(self, pipe: _Pipe, msg_id: int, obj, outgoing: list) -> None:
        if isinstance(obj, MessageContainer):
            for inner in obj.messages:
                self._process(pipe, inner.msg_id, inner.obj, outgoing)
        elif isinstance(obj, GzipPacked):
            self._process(pipe, msg_id, BinaryReader(obj.data).tgread_object(), outgoing)
        elif isinstance(obj, (functions.PingRequest, functions.PingDelayDisconnectRequest)):
            outgoing.append(pipe.message(bytes(types.Pong(msg_id=msg_id, ping_id=obj.ping_id)), response=True))
        elif isinstance(obj, functions.DestroySessionRequest):
            outgoing.append(pipe.message(bytes(types.DestroySessionNone(obj.session_id)), response=True))
        elif isinstance(obj, TLRequest):
            outgoing.append(pipe.message(self._rpc_result(pipe, msg_id, obj), response=True))
        # acks, state requests and the like need no answer

    def _rpc_result(self, pipe: _Pipe, msg_id: int, request) -> bytes:
        name = type(request).__name__
        account = self._accounts_by_id.get(pipe.auth.user_id) if pipe.auth else None
        sender = account.name if account is not None else None
        try:
            request = self._unwrap(pipe, request)
            name = type(request).__name__
            self.requests.append(name)
            result = self._call(pipe, request, name)
            body = _serialise_result(result)
            if not isinstance(result, types.upload.File):
                body = GzipPacked.gzip_if_smaller(True, body)
        except RpcFail as fail:
            result = types.RpcError(fail.code, fail.message)
            body = bytes(result)
        self.calls.append(FakeCall(name, request, result, sender))
        return struct.pack("<Iq", _RPC_RESULT, msg_id) + body

    def _unwrap(self, pipe: _Pipe, request):
        while isinstance(request, _WRAPPERS):
            if isinstance(request, functions.InvokeWithoutUpdatesRequest):
                pipe.receives_updates = False
            if isinstance(request, functions.InitConnectionRequest) and request.api_id != self.API_ID:
                raise RpcFail("API_ID_INVALID")
            request = request.query
        return request

    def _call(self, pipe: _Pipe, request, name: str):
        handler = self._handlers.get(type(request))
        if handler is None:
            self.unsupported.append(name)
            raise RpcFail(f"FAKE_UNSUPPORTED_{name}")
        user_id = pipe.auth.user_id if pipe.auth else None
        if type(request) not in self._without_login:
            if user_id is None:
                raise RpcFail((pipe.auth.refusal if pipe.auth else None) or "AUTH_KEY_UNREGISTERED", 401)
            banned = self._ban_of(user_id)
            if banned:
                raise RpcFail(banned, 401)
        pending = self._failures.get(name, [])
        failure = next((f for f in pending if f.user_id is None or f.user_id == user_id), None)
        if failure is not None and failure.passes > 0:
            failure.passes -= 1
        elif failure is not None:
            failure.remaining -= 1
            if failure.remaining <= 0:
                pending.remove(failure)
            raise RpcFail(failure.message, failure.code)
        self._check_rate(name, user_id)
        try:
            return handler(_Ctx(pipe, user_id), request)
        except RpcFail:
            raise
        except Exception as exc:
            log.exception("fake Telegram failed handling %s", name)
            self.errors.append(exc)
            raise RpcFail(f"FAKE_INTERNAL_{type(exc).__name__}") from exc

    # ==== request handlers =======================================================================

    _without_login = frozenset({
        functions.help.GetConfigRequest, functions.help.GetNearestDcRequest,
        functions.auth.SendCodeRequest, functions.auth.SignInRequest,
        functions.auth.ImportBotAuthorizationRequest, functions.auth.LogOutRequest,
    })

    def _handler_table(self) -> dict[type, Callable]:
        f = functions
        return {
            f.help.GetConfigRequest: self._h_get_config,
            f.help.GetNearestDcRequest: self._h_get_nearest_dc,
            f.auth.SendCodeRequest: self._h_send_code,
            f.auth.SignInRequest: self._h_sign_in,
            f.auth.ImportBotAuthorizationRequest: self._h_import_bot_authorization,
            f.auth.LogOutRequest: self._h_log_out,
            f.account.UpdateStatusRequest: lambda ctx, req: True,
            f.updates.GetStateRequest: self._h_get_state,
            f.updates.GetDifferenceRequest: self._h_get_difference,
            f.updates.GetChannelDifferenceRequest: self._h_get_channel_difference,
            f.users.GetUsersRequest: self._h_get_users,
            f.users.GetFullUserRequest: self._h_get_full_user,
            f.contacts.ResolveUsernameRequest: self._h_resolve_username,
            f.contacts.GetContactsRequest: lambda ctx, req: types.contacts.Contacts([], 0, []),
            f.channels.GetChannelsRequest: self._h_get_channels,
            f.channels.GetFullChannelRequest: self._h_get_full_channel,
            f.channels.JoinChannelRequest: self._h_join_channel,
            f.channels.LeaveChannelRequest: self._h_leave_channel,
            f.channels.GetMessagesRequest: self._h_channels_get_messages,
            f.channels.ReadHistoryRequest: self._h_channels_read_history,
            f.messages.CheckChatInviteRequest: self._h_check_chat_invite,
            f.messages.ImportChatInviteRequest: self._h_import_chat_invite,
            f.messages.GetDialogsRequest: self._h_get_dialogs,
            f.messages.GetPeerDialogsRequest: self._h_get_peer_dialogs,
            f.messages.GetHistoryRequest: self._h_get_history,
            f.messages.GetMessagesRequest: self._h_messages_get_messages,
            f.messages.GetChatsRequest: self._h_get_chats,
            f.messages.GetMessagesViewsRequest: self._h_get_messages_views,
            f.messages.ReadHistoryRequest: self._h_messages_read_history,
            f.messages.SendMessageRequest: self._h_send_message,
            f.messages.SendMediaRequest: self._h_send_media,
            f.messages.SendMultiMediaRequest: self._h_send_multi_media,
            f.messages.UploadMediaRequest: self._h_upload_media,
            f.upload.SaveFilePartRequest: self._h_save_file_part,
            f.upload.SaveBigFilePartRequest: self._h_save_file_part,
            f.upload.GetFileRequest: self._h_get_file,
        }

    # ---- helpers shared by handlers ----

    def _state_date(self) -> dt.datetime:
        """Now, as a state date; remembers when each date was first handed out so that
        getDifference can tell which same-second events the client has not seen yet."""
        date = _now()
        self._dates_issued.setdefault(int(date.timestamp()), time.time())
        return date

    def _state(self, user_id: int) -> types.updates.State:
        return types.updates.State(pts=self._account_box(user_id).pts, qts=0, date=self._state_date(), seq=0,
                                   unread_count=0)

    def _channel_from_input(self, ctx: _Ctx, peer) -> FakeChannel:
        if not isinstance(peer, (types.InputChannel, types.InputPeerChannel,
                                 types.InputChannelFromMessage, types.InputPeerChannelFromMessage)):
            raise RpcFail("CHANNEL_INVALID")
        channel = self._channels.get(peer.channel_id)
        if channel is None:
            raise RpcFail("CHANNEL_INVALID")
        access_hash = getattr(peer, "access_hash", None)
        if access_hash is not None and access_hash != channel.access_hash:
            # Bots may address channels with access_hash 0, users may not.
            if not (access_hash == 0 and self._users[ctx.user_id].bot):
                raise RpcFail("CHANNEL_INVALID")
        return channel

    def _check_readable(self, ctx: _Ctx, channel: FakeChannel) -> None:
        if channel.username is None and ctx.user_id not in channel.members:
            raise RpcFail("CHANNEL_PRIVATE")

    def _target_from_input(self, ctx: _Ctx, peer):
        """A FakeChannel, FakeGroup or user id from an InputPeer, checking access hashes."""
        if isinstance(peer, types.InputPeerSelf):
            return ctx.user_id
        if isinstance(peer, (types.InputPeerChannel, types.InputPeerChannelFromMessage)):
            channel = self._channel_from_input(ctx, peer)
            self._check_readable(ctx, channel)
            return channel
        if isinstance(peer, types.InputPeerChat):
            group = self._groups.get(peer.chat_id)
            if group is None or ctx.user_id not in group.members:
                raise RpcFail("PEER_ID_INVALID")
            return group
        if isinstance(peer, (types.InputPeerUser, types.InputPeerUserFromMessage)):
            user = self._users.get(peer.user_id)
            if user is None or getattr(peer, "access_hash", user.access_hash) not in (user.access_hash, 0):
                raise RpcFail("PEER_ID_INVALID")
            return user.id
        raise RpcFail("PEER_ID_INVALID")

    def _user_from_input(self, ctx: _Ctx, input_user) -> int | None:
        if isinstance(input_user, (types.InputUserSelf, types.InputPeerSelf)):
            return ctx.user_id
        user = self._users.get(getattr(input_user, "user_id", None))
        if user is None:
            return None
        if getattr(input_user, "access_hash", 0) not in (user.access_hash, 0):
            return None
        return user.id

    def _dialog(self, ctx: _Ctx, target):
        history = self._history(target, ctx.user_id)
        top = history[0] if history else None
        top_id = top.id if top else 0
        dialog = types.Dialog(
            peer=self._peer_of(target, ctx.user_id), top_message=top_id, read_inbox_max_id=top_id,
            read_outbox_max_id=top_id, unread_count=0, unread_mentions_count=0, unread_reactions_count=0,
            unread_poll_votes_count=0, notify_settings=types.PeerNotifySettings(),
            pts=target.box.pts if isinstance(target, FakeChannel) else None)
        box = self._box_of(target, ctx.user_id)
        return dialog, (self._view(box, top, ctx.user_id) if top else None)

    def _dialogs_bundle(self, ctx: _Ctx, targets: list):
        pairs = [self._dialog(ctx, t) for t in targets]
        pairs.sort(key=lambda p: p[1].date.timestamp() if p[1] else 0, reverse=True)
        messages = [m for _, m in pairs if m is not None]
        users, chats = self._entities(messages, ctx.user_id, extra=targets)
        return [d for d, _ in pairs], messages, chats, users

    def _join_updates(self, ctx: _Ctx, channel: FakeChannel) -> types.Updates:
        return types.Updates(updates=[types.UpdateChannel(channel.id)], users=[],
                             chats=[self._channel_view(channel, ctx.user_id)], date=_now(), seq=0)

    def _messages_result(self, ctx: _Ctx, target, box: _Box, found: list, count: int | None = None):
        views = [self._view(box, m, ctx.user_id) if isinstance(m, types.Message) else m for m in found]
        users, chats = self._entities([v for v in views if isinstance(v, types.Message)], ctx.user_id,
                                      extra=[target] if target is not None else [])
        if isinstance(target, FakeChannel):
            return types.messages.ChannelMessages(
                pts=target.box.pts, count=len(views) if count is None else count, messages=views,
                topics=[], chats=chats, users=users)
        if count is not None and count > len(views):
            return types.messages.MessagesSlice(count=count, messages=views, topics=[], chats=chats, users=users)
        return types.messages.Messages(messages=views, topics=[], chats=chats, users=users)

    def _lookup(self, target, box: _Box, input_messages: list) -> list:
        found = []
        for item in input_messages:
            msg_id = item if isinstance(item, int) else getattr(item, "id", 0)
            if isinstance(item, types.InputMessageReplyTo):
                replied = box.messages.get(item.id)
                header = getattr(replied, "reply_to", None) if replied else None
                msg_id = getattr(header, "reply_to_msg_id", None) or 0
            message = box.messages.get(msg_id)
            if target is not None and not self._in_chat(target, message):
                message = None
            found.append(message if message is not None else types.MessageEmpty(id=msg_id, peer_id=None))
        return found

    # ---- help / auth ----

    def _h_get_config(self, ctx, req):
        now = _now()
        return types.Config(
            date=now, expires=now + dt.timedelta(hours=1), test_mode=False, this_dc=self.DC_ID,
            dc_options=[types.DcOption(id=self.DC_ID, ip_address=self.DC_IP, port=self.DC_PORT)],
            dc_txt_domain_name="apv3.stel.com", chat_size_max=200, megagroup_size_max=200000,
            forwarded_count_max=100, online_update_period_ms=210000, offline_blur_timeout_ms=5000,
            offline_idle_timeout_ms=30000, online_cloud_timeout_ms=300000, notify_cloud_delay_ms=30000,
            notify_default_delay_ms=1500, push_chat_period_ms=60000, push_chat_limit=2,
            edit_time_limit=172800, revoke_time_limit=2147483647, revoke_pm_time_limit=2147483647,
            rating_e_decay=2419200, stickers_recent_limit=200, channels_read_media_period=604800,
            call_receive_timeout_ms=20000, call_ring_timeout_ms=90000, call_connect_timeout_ms=30000,
            call_packet_timeout_ms=10000, me_url_prefix="https://t.me/", caption_length_max=1024,
            message_length_max=4096, webfile_dc_id=4)

    def _h_get_nearest_dc(self, ctx, req):
        return types.NearestDc(country="UA", this_dc=self.DC_ID, nearest_dc=self.DC_ID)

    def _h_send_code(self, ctx, req):
        if req.api_id != self.API_ID or req.api_hash != self.API_HASH:
            raise RpcFail("API_ID_INVALID")
        self._account_by_phone(req.phone_number)
        return types.auth.SentCode(type=types.auth.SentCodeTypeApp(length=len(self.LOGIN_CODE)),
                                   phone_code_hash=self.PHONE_CODE_HASH)

    def _h_sign_in(self, ctx, req):
        account = self._account_by_phone(req.phone_number)
        if req.phone_code_hash != self.PHONE_CODE_HASH:
            raise RpcFail("PHONE_CODE_EXPIRED")
        if req.phone_code != self.LOGIN_CODE:
            raise RpcFail("PHONE_CODE_INVALID")
        ctx.pipe.auth.user_id, ctx.pipe.auth.refusal = account.id, None
        if account.state == "logged_out":
            account.state = "active"
        return types.auth.Authorization(user=self._user_view(account.id, account.id))

    def _h_import_bot_authorization(self, ctx, req):
        if req.api_id != self.API_ID or req.api_hash != self.API_HASH:
            raise RpcFail("API_ID_INVALID")
        if req.bot_auth_token != self.BOT_TOKEN:
            raise RpcFail("ACCESS_TOKEN_INVALID")
        ctx.pipe.auth.user_id, ctx.pipe.auth.refusal = self._bot_id, None
        return types.auth.Authorization(user=self._user_view(self._bot_id, self._bot_id))

    def _h_log_out(self, ctx, req):
        if ctx.pipe.auth is not None:
            ctx.pipe.auth.user_id = None
        return types.auth.LoggedOut()

    # ---- updates ----

    def _h_get_state(self, ctx, req):
        return self._state(ctx.user_id)

    def _h_get_difference(self, ctx, req):
        box = self._account_box(ctx.user_id)
        date = int(_as_datetime(req.date).timestamp())
        since = self._dates_issued.get(date, date)
        new_messages, other_updates = [], []
        for event in box.events:
            if event.pts <= req.pts:
                continue
            target = self._account_target_of(box, event)
            if target is None:
                continue  # the message is gone; its deletion event follows
            for update in self._event_updates(target, box, event, ctx.user_id):
                if isinstance(update, types.UpdateNewMessage):
                    new_messages.append(update.message)
                else:
                    other_updates.append(update)
        # Like Telegram, point at channels with news since the client's date; Telethon then
        # fetches those it tracks with getChannelDifference.
        touched = [c for c in self._channels.values()
                   if ctx.user_id in c.members and c.box.events and c.box.last_event >= since]
        other_updates.extend(types.UpdateChannelTooLong(c.id, pts=c.box.pts) for c in touched)
        if not new_messages and not other_updates:
            return types.updates.DifferenceEmpty(date=self._state_date(), seq=0)
        users, chats = self._entities(new_messages + [u.message for u in other_updates if hasattr(u, "message")],
                                      ctx.user_id, extra=touched)
        return types.updates.Difference(new_messages=new_messages, new_encrypted_messages=[],
                                        other_updates=other_updates, chats=chats, users=users,
                                        state=self._state(ctx.user_id))

    def _account_target_of(self, box: _Box, event: _Event):
        if event.kind == "delete":
            return self._me_id  # any non-channel target: deletions carry no peer
        message = box.messages.get(event.ids[0])
        if message is None:
            return None
        peer = message.peer_id
        return self._groups[peer.chat_id] if isinstance(peer, types.PeerChat) else peer.user_id

    def _h_get_channel_difference(self, ctx, req):
        """Telegram's semantics: up to ``limit`` events a page (``final`` unset while more
        remain, ``pts`` where the page ends); channelDifferenceTooLong only when the pts is
        older than the box keeps (``DIFFERENCE_RETENTION`` events) or on demand; members only
        (CHANNEL_PRIVATE otherwise); ``timeout`` advises when to poll again."""
        channel = self._channel_from_input(ctx, req.channel)
        self._check_readable(ctx, channel)
        if ctx.user_id not in channel.members:
            raise RpcFail("CHANNEL_PRIVATE", 406)
        box = channel.box
        limit = max(1, min(req.limit, 100_000))
        if self._users[ctx.user_id].bot is None:
            limit = min(limit, _CHANNEL_DIFF_MAX_USER)
        if req.pts <= 0:
            raise RpcFail("PERSISTENT_TIMESTAMP_EMPTY")
        if req.pts > box.pts:
            raise RpcFail("PERSISTENT_TIMESTAMP_INVALID")
        timeout = channel.poll_timeout
        if channel.too_long_pending or box.pts - req.pts > self.DIFFERENCE_RETENTION:
            channel.too_long_pending = False
            dialog, _ = self._dialog(ctx, channel)
            latest = self._history(channel, ctx.user_id)[:limit]
            views = [self._view(box, m, ctx.user_id) for m in latest]
            users, chats = self._entities(views, ctx.user_id, extra=[channel])
            return types.updates.ChannelDifferenceTooLong(dialog=dialog, messages=views, chats=chats,
                                                          users=users, final=True, timeout=timeout)
        if req.pts == box.pts:
            return types.updates.ChannelDifferenceEmpty(pts=box.pts, final=True, timeout=timeout)
        pending = [e for e in box.events if e.pts > req.pts][:limit]
        final = pending[-1].pts == box.pts
        created = {e.ids[0] for e in pending if e.kind == "new"}
        new_messages, other_updates = [], []
        for event in pending:
            if event.kind == "edit" and event.ids[0] in created:
                continue  # the new message is sent in its edited form already
            for update in self._event_updates(channel, box, event, ctx.user_id):
                if isinstance(update, types.UpdateNewChannelMessage):
                    new_messages.append(update.message)
                else:
                    other_updates.append(update)
        users, chats = self._entities(new_messages + [u.message for u in other_updates if hasattr(u, "message")],
                                      ctx.user_id, extra=[channel])
        return types.updates.ChannelDifference(pts=pending[-1].pts, new_messages=new_messages,
                                               other_updates=other_updates, chats=chats, users=users,
                                               final=final or None, timeout=timeout)

    # ---- users and contacts ----

    def _h_get_users(self, ctx, req):
        found = [self._user_from_input(ctx, u) for u in req.id]
        return [self._user_view(uid, ctx.user_id) for uid in found if uid is not None]

    def _h_get_full_user(self, ctx, req):
        user_id = self._user_from_input(ctx, req.id)
        if user_id is None:
            raise RpcFail("USER_ID_INVALID")
        full = types.UserFull(id=user_id, settings=types.PeerSettings(),
                              notify_settings=types.PeerNotifySettings(), common_chats_count=0)
        return types.users.UserFull(full_user=full, chats=[], users=[self._user_view(user_id, ctx.user_id)])

    def _h_resolve_username(self, ctx, req):
        name = req.username.lower()
        if not _USERNAME.match(name):
            raise RpcFail("USERNAME_INVALID")
        for channel in self._channels.values():
            if channel.username and channel.username.lower() == name:
                return types.contacts.ResolvedPeer(peer=channel.peer, users=[],
                                                   chats=[self._channel_view(channel, ctx.user_id)])
        for user in self._users.values():
            if user.username and user.username.lower() == name:
                return types.contacts.ResolvedPeer(peer=types.PeerUser(user.id), chats=[],
                                                   users=[self._user_view(user.id, ctx.user_id)])
        raise RpcFail("USERNAME_NOT_OCCUPIED")

    # ---- channels ----

    def _h_get_channels(self, ctx, req):
        return types.messages.Chats(chats=[self._channel_view(self._channel_from_input(ctx, c), ctx.user_id)
                                           for c in req.id])

    def _h_get_full_channel(self, ctx, req):
        channel = self._channel_from_input(ctx, req.channel)
        self._check_readable(ctx, channel)
        top = max(channel.box.messages, default=0)
        full = types.ChannelFull(
            id=channel.id, about=channel.about, read_inbox_max_id=top, read_outbox_max_id=top, unread_count=0,
            chat_photo=types.PhotoEmpty(id=0), notify_settings=types.PeerNotifySettings(), bot_info=[],
            pts=channel.box.pts, participants_count=len(channel.members))
        return types.messages.ChatFull(full_chat=full, chats=[self._channel_view(channel, ctx.user_id)], users=[])

    def _h_join_channel(self, ctx, req):
        channel = self._channel_from_input(ctx, req.channel)
        if channel.username is None and ctx.user_id not in channel.members:
            raise RpcFail("CHANNEL_PRIVATE")
        self._check_channel_cap(ctx.user_id, channel)
        channel.members.add(ctx.user_id)
        return self._join_updates(ctx, channel)

    def _h_leave_channel(self, ctx, req):
        channel = self._channel_from_input(ctx, req.channel)
        if ctx.user_id not in channel.members:
            raise RpcFail("USER_NOT_PARTICIPANT")
        channel.members.discard(ctx.user_id)
        return self._join_updates(ctx, channel)

    def _h_channels_get_messages(self, ctx, req):
        channel = self._channel_from_input(ctx, req.channel)
        self._check_readable(ctx, channel)
        return self._messages_result(ctx, channel, channel.box, self._lookup(channel, channel.box, req.id))

    def _h_channels_read_history(self, ctx, req):
        self._channel_from_input(ctx, req.channel)
        return True

    def _h_check_chat_invite(self, ctx, req):
        channel = next((c for c in self._channels.values() if c.invite_hash == req.hash), None)
        if channel is None:
            raise RpcFail("INVITE_HASH_EXPIRED")
        if ctx.user_id in channel.members:
            return types.ChatInviteAlready(chat=self._channel_view(channel, ctx.user_id))
        return types.ChatInvite(
            title=channel.title, photo=types.PhotoEmpty(id=0), participants_count=len(channel.members), color=0,
            channel=True, broadcast=None if channel.megagroup else True, megagroup=channel.megagroup or None,
            public=channel.username is not None or None)

    def _h_import_chat_invite(self, ctx, req):
        channel = next((c for c in self._channels.values() if c.invite_hash == req.hash), None)
        if channel is None:
            raise RpcFail("INVITE_HASH_EXPIRED")
        if ctx.user_id in channel.members:
            raise RpcFail("USER_ALREADY_PARTICIPANT")
        self._check_channel_cap(ctx.user_id, channel)
        channel.members.add(ctx.user_id)
        return self._join_updates(ctx, channel)

    # ---- messages ----

    def _h_get_dialogs(self, ctx, req):
        if req.folder_id:  # nothing is archived
            return types.messages.Dialogs(dialogs=[], messages=[], chats=[], users=[])
        targets: list = [c for c in self._channels.values() if ctx.user_id in c.members]
        targets += [g for g in self._groups.values() if ctx.user_id in g.members and ctx.user_id == self._me_id]
        box = self._account_box(ctx.user_id)
        targets += sorted({m.peer_id.user_id for m in box.messages.values() if isinstance(m.peer_id, types.PeerUser)})
        dialogs, messages, chats, users = self._dialogs_bundle(ctx, targets)
        return types.messages.Dialogs(dialogs=dialogs, messages=messages, chats=chats, users=users)

    def _h_get_peer_dialogs(self, ctx, req):
        # the account's own dialogs: a channel it is not in has none
        targets = [t for t in (self._target_from_input(ctx, p.peer) for p in req.peers
                               if isinstance(p, types.InputDialogPeer))
                   if not isinstance(t, FakeChannel) or ctx.user_id in t.members]
        dialogs, messages, chats, users = self._dialogs_bundle(ctx, targets)
        return types.messages.PeerDialogs(dialogs=dialogs, messages=messages, chats=chats, users=users,
                                          state=self._state(ctx.user_id))

    def _h_get_history(self, ctx, req):
        target = self._target_from_input(ctx, req.peer)
        history = self._history(target, ctx.user_id)
        page = _history_page(history, req)
        return self._messages_result(ctx, target, self._box_of(target, ctx.user_id), page, count=len(history))

    def _h_messages_get_messages(self, ctx, req):
        box = self._account_box(ctx.user_id)
        return self._messages_result(ctx, None, box, self._lookup(None, box, req.id))

    def _h_get_chats(self, ctx, req):
        groups = [self._groups.get(i) for i in req.id]
        if any(g is None for g in groups):
            raise RpcFail("CHAT_ID_INVALID")
        return types.messages.Chats(chats=[self._group_view(g, ctx.user_id) for g in groups])

    def _h_get_messages_views(self, ctx, req):
        target = self._target_from_input(ctx, req.peer)
        box = self._box_of(target, ctx.user_id)
        found = [box.messages.get(i) if self._in_chat(target, box.messages.get(i)) else None for i in req.id]
        views = [types.MessageViews(views=getattr(m, "views", None), forwards=getattr(m, "forwards", None))
                 for m in found]
        users, chats = self._entities([], ctx.user_id, extra=[target])
        return types.messages.MessageViews(views=views, chats=chats, users=users)

    def _h_messages_read_history(self, ctx, req):
        self._target_from_input(ctx, req.peer)
        return types.messages.AffectedMessages(pts=self._account_box(ctx.user_id).pts, pts_count=0)

    def _send(self, ctx: _Ctx, peer, items: list[tuple[int, str, list | None, Any]], reply_to, grouped: bool):
        """Store messages a client sent and answer like Telegram: UpdateMessageID + the new
        message updates, pushed to the chat's other connections as well."""
        target = self._target_from_input(ctx, peer)
        if isinstance(target, FakeChannel) and ctx.user_id not in target.members:
            raise RpcFail("CHAT_WRITE_FORBIDDEN", 403)
        reply_header = None
        if isinstance(reply_to, types.InputReplyToMessage):
            reply_header = types.MessageReplyHeader(reply_to_msg_id=reply_to.reply_to_msg_id)
        # Telegram remembers each sender's random_id, so a request repeated after a lost answer
        # posts nothing twice
        seen = self._random_ids.setdefault(ctx.user_id, set())
        if any(random_id in seen for random_id, *_ in items):
            raise RpcFail("RANDOM_ID_DUPLICATE", 500)
        seen.update(random_id for random_id, *_ in items)
        grouped_id = self._rng.getrandbits(62) if grouped else None
        broadcast = isinstance(target, FakeChannel) and not target.megagroup
        box = self._box_of(target, ctx.user_id)
        updates, stored = [], []
        for random_id, text, entities, media in items:
            fields = dict(message=text, date=_now(), entities=entities or None, media=media,
                          reply_to=reply_header, grouped_id=grouped_id)
            if broadcast:
                fields.update(post=True, views=1)
            elif not isinstance(target, int):
                fields["from_id"] = types.PeerUser(ctx.user_id)
            message, event = self._store(target, ctx.user_id, ctx.user_id, fields)
            self._sent.setdefault(self._marked_id_of(target), []).append(message)
            self._deliver(target, event, exclude=ctx.pipe)
            stored.append(message)
            updates.append(types.UpdateMessageID(id=message.id, random_id=random_id))
            updates.extend(self._event_updates(target, box, event, ctx.user_id))
        users, chats = self._entities([self._view(box, m, ctx.user_id) for m in stored], ctx.user_id, extra=[target])
        return types.Updates(updates=updates, users=users, chats=chats, date=_now(), seq=0)

    def _h_send_message(self, ctx, req):
        if not req.message.strip():
            raise RpcFail("MESSAGE_EMPTY")
        return self._send(ctx, req.peer, [(req.random_id, req.message, req.entities, None)], req.reply_to, False)

    def _h_send_media(self, ctx, req):
        self._target_from_input(ctx, req.peer)
        media = self._media_from_input(req.media)
        return self._send(ctx, req.peer, [(req.random_id, req.message, req.entities, media)], req.reply_to, False)

    def _h_send_multi_media(self, ctx, req):
        self._target_from_input(ctx, req.peer)
        items = [(m.random_id, m.message, m.entities, self._media_from_input(m.media)) for m in req.multi_media]
        return self._send(ctx, req.peer, items, req.reply_to, True)

    def _h_upload_media(self, ctx, req):
        self._target_from_input(ctx, req.peer)
        return self._media_from_input(req.media)

    # ---- files ----

    def _h_save_file_part(self, ctx, req):
        self._uploads.setdefault(req.file_id, {})[req.file_part] = req.bytes
        return True

    def _h_get_file(self, ctx, req):
        location = req.location
        if isinstance(location, types.InputPhotoFileLocation):
            media, kind = self._photos.get(location.id), "photo"
            known_sizes = {s.type for s in media.sizes} if media else set()
        elif isinstance(location, types.InputDocumentFileLocation):
            media, kind = self._documents.get(location.id), "document"
            known_sizes = {""}
        else:
            name = f"GetFileRequest_{type(location).__name__}"
            self.unsupported.append(name)
            raise RpcFail(f"FAKE_UNSUPPORTED_{name}")
        if media is None or media.access_hash != location.access_hash or location.thumb_size not in known_sizes:
            raise RpcFail("LOCATION_INVALID")
        if location.file_reference != media.file_reference:
            raise RpcFail("FILE_REFERENCE_EXPIRED")
        _check_file_window(req.offset, req.limit, bool(req.precise))
        data = self._file_data[(kind, media.id)]
        file_type = types.storage.FileJpeg() if kind == "photo" else types.storage.FileUnknown()
        return types.upload.File(type=file_type, mtime=int(time.time()),
                                 bytes=data[req.offset:req.offset + req.limit])


def _history_page(history: list, req) -> list:
    """messages.getHistory over ``history`` (newest first), with Telegram's semantics:
    min_id/max_id are exclusive bounds, offset_id is exclusive and wins over offset_date,
    add_offset shifts the window (negative to page towards newer messages)."""
    candidates = [m for m in history
                  if (not req.min_id or m.id > req.min_id) and (not req.max_id or m.id < req.max_id)]
    # An absent offset_date travels as 0, which arrives here as the epoch.
    cutoff = _as_datetime(req.offset_date).timestamp() if req.offset_date else 0
    if req.offset_id:
        start = next((i for i, m in enumerate(candidates) if m.id < req.offset_id), len(candidates))
    elif cutoff > 0:
        start = next((i for i, m in enumerate(candidates) if m.date.timestamp() < cutoff), len(candidates))
    else:
        start = 0
    start += req.add_offset
    end = start + max(0, min(req.limit, _HISTORY_PAGE_MAX))
    return candidates[max(start, 0):max(end, 0)]


def _check_file_window(offset: int, limit: int, precise: bool) -> None:
    """upload.getFile's constraints on the requested window."""
    if offset < 0:
        raise RpcFail("OFFSET_INVALID")
    if limit <= 0 or limit > _MB:
        raise RpcFail("LIMIT_INVALID")
    if precise:
        if offset % 1024 or limit % 1024:
            raise RpcFail("LIMIT_INVALID" if limit % 1024 else "OFFSET_INVALID")
        return
    if limit % 4096 or _MB % limit:
        raise RpcFail("LIMIT_INVALID")
    if offset % 4096 or offset // _MB != (offset + limit - 1) // _MB:
        raise RpcFail("OFFSET_INVALID")
