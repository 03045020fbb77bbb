"""The offline Telegram itself, exercised through a real Telethon client."""
from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from telethon import TelegramClient, errors, events, functions, types
from telethon.sessions import MemorySession

from tests.telegram_fake import FakeTelegram

WAIT = 5.0  # bounds a broken build; passing tests never come near it


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    world = FakeTelegram()
    yield world
    assert world.errors == [], "the fake failed internally"


@pytest.fixture
async def connect(fake: FakeTelegram, tmp_path: Path):
    """Connect fresh authorised clients; all are disconnected at teardown."""
    clients: list[TelegramClient] = []

    async def make(name: str = "user", *, bot: bool = False, account: str | None = None, **kwargs) -> TelegramClient:
        path = str(tmp_path / name)
        fake.authorise_session(path, bot=bot, account=account)
        client = fake.client(path, **kwargs)
        clients.append(client)
        await client.connect()
        return client

    yield make
    for client in clients:
        await client.disconnect()


async def eventually(condition, what: str, limit: float = WAIT) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        await asyncio.sleep(0.01)


async def collect(queue: asyncio.Queue, count: int) -> list:
    return [await asyncio.wait_for(queue.get(), WAIT) for _ in range(count)]


def watch(client: TelegramClient, builder) -> asyncio.Queue:
    queue: asyncio.Queue = asyncio.Queue()
    client.add_event_handler(queue.put, builder)
    return queue


async def joined_client(connect, channel):
    client = await connect()
    await client(functions.channels.JoinChannelRequest(channel.username))
    return client


# 1 -----------------------------------------------------------------------------------------

async def test_authorised_session_connects_as_me(fake, connect):
    client = await connect()
    assert await client.is_user_authorized()
    me = await client.get_me()
    assert (me.id, me.first_name, me.is_self) == (fake.me.id, fake.me.first_name, True)
    assert fake.requests[:2] == ["GetConfigRequest", "GetUsersRequest"]


async def test_unauthorised_session_signs_in_with_the_code(fake, tmp_path):
    fake.unauthorised_session(str(tmp_path / "fresh"))
    client = fake.client(str(tmp_path / "fresh"))
    await client.connect()
    try:
        assert not await client.is_user_authorized()
        assert await client.get_me() is None
        with pytest.raises(errors.UnauthorizedError):
            await client(functions.updates.GetStateRequest())
        await client.send_code_request(fake.me.phone)
        with pytest.raises(errors.PhoneCodeInvalidError):
            await client.sign_in(fake.me.phone, "00000")
        user = await client.sign_in(fake.me.phone, fake.LOGIN_CODE)
        assert user.id == fake.me.id
        assert await client.is_user_authorized()
    finally:
        await client.disconnect()


async def test_session_without_a_key_cannot_connect(fake, tmp_path):
    client = fake.client(str(tmp_path / "empty"))
    try:
        with pytest.raises(BufferError, match="404"):
            await client.connect()
    finally:
        await client.disconnect()


async def test_bot_session_and_memory_session(fake, connect):
    bot = await connect("bot", bot=True)
    assert (await bot.get_me()).bot
    session = MemorySession()
    fake.authorise_session(session)
    client = fake.client(session)
    await client.connect()
    try:
        assert (await client.get_me()).id == fake.me.id
    finally:
        await client.disconnect()


# 2 -----------------------------------------------------------------------------------------

async def test_resolve_and_history_pages(fake, connect):
    channel = fake.add_channel(username="kyiv_news", title="Київ новини")
    for n in range(1, 251):
        fake.post(channel, f"post {n}")
    client = await connect()

    entity = await client.get_entity("kyiv_news")
    assert (entity.id, entity.title, entity.broadcast) == (channel.id, "Київ новини", True)

    oldest_first = [m.id async for m in client.iter_messages(entity, reverse=True, min_id=100, wait_time=0)]
    assert oldest_first == list(range(101, 251))
    newest = [m.id async for m in client.iter_messages(entity, limit=30, wait_time=0)]
    assert newest == list(range(250, 220, -1))
    bounded = [m.id async for m in client.iter_messages(entity, max_id=50, min_id=40, wait_time=0)]
    assert bounded == list(range(49, 40, -1))
    assert (await client.get_messages(entity, ids=7)).raw_text == "post 7"
    assert fake.requests.count("GetHistoryRequest") >= 4


async def test_unknown_names_and_invites(fake, connect):
    secret = fake.add_channel(username=None, title="Закритий чат", megagroup=True)
    client = await connect()
    with pytest.raises(ValueError):
        await client.get_entity("no_such_chat_here")
    with pytest.raises(errors.UsernameInvalidError):
        await client(functions.contacts.ResolveUsernameRequest("a"))
    with pytest.raises(errors.InviteHashExpiredError):
        await client(functions.messages.CheckChatInviteRequest("expiredHash"))
    with pytest.raises(ValueError):  # not a member yet
        await client.get_entity(f"https://t.me/+{secret.invite_hash}")

    await client(functions.messages.ImportChatInviteRequest(secret.invite_hash))
    assert fake.joined(secret)
    entity = await client.get_entity(f"https://t.me/+{secret.invite_hash}")
    assert entity.id == secret.id and entity.megagroup


async def test_dialogs_make_marked_ids_resolvable(fake, connect):
    news = fake.add_channel(username="kyiv_news", title="Київ новини", joined=True)
    fake.post(news, "hello")
    client = await connect()
    with pytest.raises(ValueError):
        await client.get_entity(news.marked_id)  # nothing cached yet
    dialogs = await client.get_dialogs()
    assert [d.id for d in dialogs] == [news.marked_id]
    assert dialogs[0].message.raw_text == "hello"
    assert (await client.get_entity(news.marked_id)).title == "Київ новини"


# 3 -----------------------------------------------------------------------------------------

async def test_live_post_edit_and_delete_reach_handlers(fake, connect):
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    client = await joined_client(connect, news)
    assert fake.joined(news)
    new, edited, deleted = (watch(client, events.NewMessage(chats=[news.marked_id])),
                            watch(client, events.MessageEdited(chats=[news.marked_id])),
                            watch(client, events.MessageDeleted()))

    post = fake.post(news, "Перша новина", views=10, forwards=2)
    (event,) = await collect(new, 1)
    assert (event.id, event.raw_text, event.chat_id, event.message.views) == (post.id, "Перша новина",
                                                                                news.marked_id, 10)

    fake.edit(news, post.id, "Перша новина (оновлено)")
    (event,) = await collect(edited, 1)
    assert (event.id, event.raw_text) == (post.id, "Перша новина (оновлено)")

    fake.delete(news, [post.id])
    (event,) = await collect(deleted, 1)
    assert (event.deleted_ids, event.chat_id) == ([post.id], news.marked_id)
    assert fake.messages(news) == []


async def test_posts_to_channels_not_joined_are_not_pushed(fake, connect):
    joined = fake.add_channel(username="kyiv_news", title="Київ новини", joined=True)
    other = fake.add_channel(username="not_watched", title="Not watched")
    client = await connect()
    new = watch(client, events.NewMessage())
    fake.post(other, "unseen")
    fake.post(joined, "seen")
    (event,) = await collect(new, 1)
    assert event.raw_text == "seen"
    assert new.empty()


async def test_megagroup_messages_carry_their_author(fake, connect):
    city = fake.add_channel(username="lviv_city_chat", title="Львів чат", megagroup=True, joined=True)
    author = fake.add_user("Тарас", username="taras_lviv")
    client = await connect()
    new = watch(client, events.NewMessage(chats=[city.marked_id]))
    fake.post(city, "Де сьогодні світло?", from_user=author, reply_to=None)
    (event,) = await collect(new, 1)
    sender = await event.get_sender()
    assert (event.sender_id, sender.username, event.is_group) == (author.id, "taras_lviv", True)


# 4 -----------------------------------------------------------------------------------------

async def test_pts_gap_is_filled_with_channel_difference(fake, connect):
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    client = await joined_client(connect, news)
    new = watch(client, events.NewMessage(chats=[news.marked_id]))
    first = fake.post(news, "tracked")  # Telethon starts tracking the channel's pts here
    assert (await collect(new, 1))[0].id == first.id

    withheld = [fake.post(news, f"withheld {n}", deliver=False).id for n in range(3)]
    fake.edit(news, withheld[0], "withheld 0, edited", deliver=False)
    last = fake.post(news, "delivered")
    seen = await collect(new, 4)
    assert [e.id for e in seen] == withheld + [last.id]
    assert seen[0].raw_text == "withheld 0, edited"
    assert "GetChannelDifferenceRequest" in fake.requests


# 5 -----------------------------------------------------------------------------------------

async def test_channel_difference_too_long_is_survived(fake, connect):
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    client = await joined_client(connect, news)
    new = watch(client, events.NewMessage(chats=[news.marked_id]))
    fake.post(news, "tracked")
    await collect(new, 1)

    fake.difference_too_long(news)
    withheld = [fake.post(news, f"withheld {n}", deliver=False).id for n in range(3)]
    fake.post(news, "reveals the gap")

    def too_long_answered():
        return any(isinstance(c.outcome, types.updates.ChannelDifferenceTooLong) for c in fake.calls)

    await eventually(too_long_answered, "channelDifferenceTooLong to be served")
    after = fake.post(news, "after the reset")
    (event,) = await collect(new, 1)
    # Telethon jumps to the dialog's pts and dispatches none of the skipped messages;
    # they are only recoverable from history.
    assert event.id == after.id and new.empty()
    recovered = [m.id async for m in client.iter_messages("kyiv_news", reverse=True, min_id=1, wait_time=0)]
    assert set(withheld) <= set(recovered)
    assert (await client.get_me()).id == fake.me.id


async def test_a_gap_wider_than_the_user_limit_comes_in_pages(fake, connect):
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    client = await joined_client(connect, news)
    new = watch(client, events.NewMessage(chats=[news.marked_id]))
    fake.post(news, "tracked")
    await collect(new, 1)
    withheld = [fake.post(news, f"withheld {n}", deliver=False).id for n in range(120)]
    last = fake.post(news, "reveals the gap")
    events_seen = await collect(new, 121)
    assert [e.id for e in events_seen] == [*withheld, last.id]
    pages = [c.outcome for c in fake.calls if isinstance(c.outcome, types.updates.ChannelDifference)]
    assert [bool(p.final) for p in pages[:2]] == [False, True]  # 100 events, then the rest
    assert pages[0].timeout == news.poll_timeout


async def test_a_pts_older_than_the_box_keeps_is_too_long(fake, connect):
    fake.DIFFERENCE_RETENTION = 100
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    client = await joined_client(connect, news)
    new = watch(client, events.NewMessage(chats=[news.marked_id]))
    fake.post(news, "tracked")
    await collect(new, 1)
    for n in range(120):
        fake.post(news, f"withheld {n}", deliver=False)
    fake.post(news, "reveals the gap")
    await eventually(lambda: any(isinstance(c.outcome, types.updates.ChannelDifferenceTooLong)
                                 for c in fake.calls), "channelDifferenceTooLong for a 121-event gap")


async def test_a_big_channel_pushes_nothing_and_its_difference_shows_everything(fake, connect):
    news = fake.add_channel(username="big_news", title="Великий канал", big=True, poll_timeout=2)
    client = await joined_client(connect, news)
    new = watch(client, events.NewMessage(chats=[news.marked_id]))
    start = (await client(functions.messages.GetPeerDialogsRequest(
        [types.InputDialogPeer(await client.get_input_entity(news.marked_id))]))).dialogs[0].pts
    first = fake.post(news, "first")
    second = fake.post(news, "second")
    fake.edit(news, first.id, "first, edited")
    fake.delete(news, [second.id])
    await asyncio.sleep(0.3)
    assert new.empty()  # nothing was pushed
    channel = await client.get_input_entity(news.marked_id)
    diff = await client(functions.updates.GetChannelDifferenceRequest(
        channel, types.ChannelMessagesFilterEmpty(), start, 100))
    assert [m.message for m in diff.new_messages] == ["first, edited"]
    assert [type(u).__name__ for u in diff.other_updates] == ["UpdateDeleteChannelMessages"]
    assert diff.other_updates[0].messages == [second.id] and diff.final and diff.timeout == 2


async def test_a_channel_not_joined_has_no_difference_and_no_dialog(fake, connect):
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    fake.post(news, "hello")
    client = await connect()
    channel = await client.get_input_entity("kyiv_news")
    dialogs = await client(functions.messages.GetPeerDialogsRequest([types.InputDialogPeer(channel)]))
    assert dialogs.dialogs == []
    with pytest.raises(errors.ChannelPrivateError):
        await client(functions.updates.GetChannelDifferenceRequest(
            channel, types.ChannelMessagesFilterEmpty(), 1, 100))


# 6 -----------------------------------------------------------------------------------------

async def test_flood_wait_on_history_is_slept_through(fake, connect):
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    for n in range(150):
        fake.post(news, f"post {n}")
    client = await connect()
    fake.flood_wait("GetHistoryRequest", seconds=1, times=1)
    started = time.monotonic()
    ids = [m.id async for m in client.iter_messages("kyiv_news", wait_time=0)]
    assert ids == list(range(150, 0, -1))
    assert time.monotonic() - started >= 1
    refused = [c for c in fake.calls if c.name == "GetHistoryRequest" and isinstance(c.outcome, types.RpcError)]
    assert [c.outcome.error_message for c in refused] == ["FLOOD_WAIT_1"]


async def test_a_failure_can_wait_for_its_turn(fake, connect):
    fake.add_channel(username="dozor_digest", title="Дайджест", joined=True)
    client = await connect()
    fake.fail("SendMessageRequest", "CHAT_WRITE_FORBIDDEN", times=2, after=1)
    fake.flood_wait("GetHistoryRequest", seconds=1, after=2)
    outcomes = []
    for n in range(4):
        try:
            await client.send_message("dozor_digest", f"part {n}")
            outcomes.append("sent")
        except errors.ChatWriteForbiddenError:
            outcomes.append("refused")
    assert outcomes == ["sent", "refused", "refused", "sent"]
    for _ in range(3):  # the third is refused once and slept through by Telethon
        await client.get_messages("dozor_digest", limit=1)
    history = [c for c in fake.calls if c.name == "GetHistoryRequest"]
    assert [isinstance(c.outcome, types.RpcError) for c in history] == [False, False, True, False]


# 7 -----------------------------------------------------------------------------------------

async def test_dropped_connection_reconnects_and_keeps_receiving(fake, connect):
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    client = await joined_client(connect, news)
    new = watch(client, events.NewMessage(chats=[news.marked_id]))
    fake.post(news, "before")
    await collect(new, 1)

    assert fake.drop_connections() == 1
    missed = fake.post(news, "while away")  # nobody is connected to push it to
    await fake.wait_connected()
    after = fake.post(news, "after")
    seen = await collect(new, 2)
    # The missed post surfaces through gap recovery once the next update exposes the gap.
    assert [e.id for e in seen] == [missed.id, after.id]
    assert client.is_connected()


# 8 -----------------------------------------------------------------------------------------

async def test_download_photo_and_large_document(fake, connect):
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    picture = os.urandom(150_000)
    big = os.urandom(3 * 1024 * 1024 + 12_345)
    with_photo = fake.post(news, "photo", media=fake.photo(picture))
    with_doc = fake.post(news, "document", media=fake.document(big, file_name="report.pdf"))
    client = await connect()
    photo_msg, doc_msg = await client.get_messages("kyiv_news", ids=[with_photo.id, with_doc.id])
    assert await client.download_media(photo_msg, file=bytes) == picture
    assert doc_msg.file.name == "report.pdf" and doc_msg.file.size == len(big)
    assert await client.download_media(doc_msg, file=bytes) == big


async def test_expired_file_reference_needs_a_refetched_message(fake, connect):
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    picture = os.urandom(40_000)
    doc = os.urandom(70_000)
    with_photo = fake.post(news, "photo", media=fake.photo(picture))
    with_voice = fake.post(news, "voice", media=fake.document(doc, voice=True, duration=3))
    client = await connect()
    stale_photo, stale_doc = await client.get_messages("kyiv_news", ids=[with_photo.id, with_voice.id])

    fake.fail("GetFileRequest", "FILE_REFERENCE_EXPIRED")
    with pytest.raises(errors.FileReferenceExpiredError):
        await client.download_media(stale_photo, file=bytes)
    fresh = await client.get_messages("kyiv_news", ids=with_photo.id)
    assert await client.download_media(fresh, file=bytes) == picture

    # For documents Telethon re-fetches the message by itself and retries.
    fetched_before = fake.requests.count("GetMessagesRequest")
    assert stale_doc.voice
    assert await client.download_media(stale_doc, file=bytes) == doc
    assert fake.requests.count("GetMessagesRequest") == fetched_before + 1


# 9 -----------------------------------------------------------------------------------------

async def test_sent_messages_are_recorded_with_entities(fake, connect):
    digest = fake.add_channel(username="dozor_digest", title="Дайджест", joined=True)
    client = await connect()
    sent = await client.send_message("dozor_digest", '<b>Дайджест</b> за день: <a href="https://t.me/x/1">джерело</a>',
                                     parse_mode="html")
    (stored,) = fake.sent(digest)
    assert stored.id == sent.id
    assert stored.message == "Дайджест за день: джерело" == sent.raw_text
    bold, link = stored.entities
    assert isinstance(bold, types.MessageEntityBold) and (bold.offset, bold.length) == (0, 8)
    assert isinstance(link, types.MessageEntityTextUrl) and link.url == "https://t.me/x/1"

    data = os.urandom(20_000)
    with_file = await client.send_file(digest.marked_id, data, caption="attachment", force_document=True)
    assert fake.sent(digest.marked_id)[1].message == "attachment"
    assert await client.download_media(with_file, file=bytes) == data


# 10 ----------------------------------------------------------------------------------------

async def test_unsupported_request_names_itself(fake, connect):
    client = await connect()
    with pytest.raises(errors.BadRequestError, match="FAKE_UNSUPPORTED_GetStickersRequest"):
        await client(functions.messages.GetStickersRequest(emoticon="👍", hash=0))
    assert fake.unsupported == ["GetStickersRequest"]


async def test_a_repeated_random_id_posts_nothing_twice(tmp_path):
    from telethon import errors, functions

    fake = FakeTelegram()
    editors = fake.add_channel(username="editors_room", title="Редакція", joined=True)
    fake.authorise_session(str(tmp_path / "me"))
    client = fake.client(str(tmp_path / "me"), request_retries=0)
    await client.connect()
    try:
        request = functions.messages.SendMessageRequest(editors.username, "дайджест", random_id=42)
        await client(request)
        with pytest.raises((errors.RandomIdDuplicateError, ValueError)):
            await client(functions.messages.SendMessageRequest(editors.username, "дайджест", random_id=42))
        assert [m.message for m in fake.sent(editors)] == ["дайджест"]
    finally:
        await client.disconnect()


# 10 ----------------------------------------------------------------------------------------
# Several accounts: each its own channels, cap, limits and fate; the channels are shared.

async def test_a_second_account_reads_public_channels_and_joins_within_its_own_cap(fake, connect):
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    city = fake.add_channel(username="lviv_city_chat", title="Львів чат", megagroup=True)
    for n in range(1, 4):
        fake.post(news, f"post {n}")
    spare = fake.add_account("spare", channel_cap=1)
    fake.channel_cap = 2  # the primary account's cap only
    client = await connect("spare", account="spare")
    assert (await client.get_me()).id == spare.id != fake.me.id

    assert [m.raw_text async for m in client.iter_messages("kyiv_news", wait_time=0)] == [
        "post 3", "post 2", "post 1"]  # read without joining
    await client(functions.channels.JoinChannelRequest("kyiv_news"))
    with pytest.raises(errors.ChannelsTooMuchError):
        await client(functions.channels.JoinChannelRequest("lviv_city_chat"))
    main = await connect("main")
    await main(functions.channels.JoinChannelRequest("kyiv_news"))
    await main(functions.channels.JoinChannelRequest("lviv_city_chat"))

    assert (fake.channels_joined("spare"), fake.channels_joined()) == (1, 2)
    assert (fake.joined(news, account="spare"), fake.joined(city, account="spare"), fake.joined(city)) == (
        True, False, True)
    assert fake.members(news) == ["main", "spare"]
    joins = [(c.account, isinstance(c.outcome, types.RpcError)) for c in fake.calls if c.name == "JoinChannelRequest"]
    assert joins == [("spare", False), ("spare", True), ("main", False), ("main", False)]


async def test_each_account_receives_the_updates_of_the_channels_it_joined(fake, connect):
    fake.add_account("spare")
    ours = fake.add_channel(username="kyiv_news", title="Київ новини", joined=True)
    theirs = fake.add_channel(username="odesa_news", title="Одеса новини", joined="spare")
    both = fake.add_channel(username="both_news", title="Обидва", joined=["main", "spare"])
    main, spare = await connect("main"), await connect("spare", account="spare")
    to_main, to_spare = watch(main, events.NewMessage()), watch(spare, events.NewMessage())

    fake.post(ours, "for main")
    fake.post(theirs, "for spare")
    fake.post(both, "for both")
    assert [e.raw_text for e in await collect(to_main, 2)] == ["for main", "for both"]
    assert [e.raw_text for e in await collect(to_spare, 2)] == ["for spare", "for both"]
    assert to_main.empty() and to_spare.empty()


async def test_channel_difference_is_for_the_accounts_that_joined(fake, connect):
    news = fake.add_channel(username="kyiv_news", title="Київ новини", joined=True)
    fake.add_account("spare")
    fake.post(news, "one")
    spare = await connect("spare", account="spare")
    channel = await spare.get_input_entity("kyiv_news")
    ask = functions.updates.GetChannelDifferenceRequest(channel, types.ChannelMessagesFilterEmpty(), 1, 100)
    with pytest.raises(errors.ChannelPrivateError):
        await spare(ask)
    await spare(functions.channels.JoinChannelRequest(channel))
    difference = await spare(ask)
    assert [m.message for m in difference.new_messages] == ["one"]


async def test_request_limits_and_failures_hold_per_account(fake, connect):
    fake.add_channel(username="kyiv_news", title="Київ новини")
    fake.add_account("spare")
    fake.rate_limit("ResolveUsernameRequest", count=1, per=60, wait=30)
    fake.flood_wait("GetHistoryRequest", seconds=30, account="spare")
    main = await connect("main", flood_sleep_threshold=0)
    spare = await connect("spare", account="spare", flood_sleep_threshold=0)
    resolve = functions.contacts.ResolveUsernameRequest("kyiv_news")

    await main(resolve)
    await spare(resolve)  # the spare's window is its own
    with pytest.raises(errors.FloodWaitError):
        await main(resolve)
    assert await main.get_messages("kyiv_news", limit=1) is not None  # the failure is the spare's
    with pytest.raises(errors.FloodWaitError):
        await spare.get_messages("kyiv_news", limit=1)
    assert (fake.rate_floods_of("main"), fake.rate_floods_of("spare")) == (["ResolveUsernameRequest"], [])


async def test_a_logged_out_account_is_refused_and_hears_nothing_until_it_logs_in_again(fake, connect, tmp_path):
    fake.add_account("spare")
    news = fake.add_channel(username="kyiv_news", title="Київ новини", joined=["main", "spare"])
    main, spare = await connect("main"), await connect("spare", account="spare")
    to_main, to_spare = watch(main, events.NewMessage()), watch(spare, events.NewMessage())
    fake.post(news, "before")
    await collect(to_main, 1), await collect(to_spare, 1)

    assert fake.log_out("spare") == 1
    assert fake.account("spare").state == "logged_out"
    fake.post(news, "after")
    assert [e.raw_text for e in await collect(to_main, 1)] == ["after"]
    with pytest.raises(errors.AuthKeyUnregisteredError):
        await spare.get_messages("kyiv_news", limit=1)
    assert to_spare.empty() and fake.connections_of("spare") == 0
    assert fake.joined(news, account="spare")  # its channels stay joined

    again = await connect("spare-again", account="spare")  # the owner signs in anew
    assert (await again.get_me()).id == fake.account("spare").id
    assert fake.account("spare").state == "active"
    fake.log_out("spare", error="SESSION_REVOKED")
    with pytest.raises(errors.SessionRevokedError):
        await again(functions.updates.GetStateRequest())
    assert await again.get_me() is None  # Telethon's way of saying "not logged in"


async def test_a_banned_account_is_refused_everywhere_and_cannot_sign_in(fake, connect, tmp_path):
    fake.add_account("spare")
    news = fake.add_channel(username="kyiv_news", title="Київ новини", joined=["main", "spare"])
    main, spare = await connect("main"), await connect("spare", account="spare")
    to_main = watch(main, events.NewMessage())

    fake.ban("spare")
    fake.post(news, "after the ban")
    await collect(to_main, 1)
    with pytest.raises(errors.UserDeactivatedBanError):
        await spare.get_messages("kyiv_news", limit=1)
    assert fake.connections_of("spare") == 0 and fake.connections_of("main") == 1

    fake.unauthorised_session(str(tmp_path / "fresh"))
    fresh = fake.client(str(tmp_path / "fresh"))
    await fresh.connect()
    try:
        with pytest.raises(errors.PhoneNumberBannedError):
            await fresh.send_code_request(fake.account("spare").phone)
    finally:
        await fresh.disconnect()


async def test_another_account_signs_in_with_its_own_phone(fake, tmp_path):
    spare = fake.add_account("spare")
    fake.unauthorised_session(str(tmp_path / "fresh"))
    client = fake.client(str(tmp_path / "fresh"))
    await client.connect()
    try:
        await client.send_code_request("+" + spare.phone)
        user = await client.sign_in("+" + spare.phone, fake.LOGIN_CODE)
        assert user.id == spare.id and user.id != fake.me.id
    finally:
        await client.disconnect()


def test_account_names_are_checked(fake):
    with pytest.raises(ValueError, match="Spare"):
        fake.add_account("Spare")
    fake.add_account("spare")
    with pytest.raises(ValueError, match="already exists"):
        fake.add_account("spare")
    with pytest.raises(KeyError, match="nobody"):
        fake.authorise_session("x", account="nobody")
