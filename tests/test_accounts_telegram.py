"""Telegram saying an account itself is unusable (logged out, banned) reaches whoever serves
the account, once, instead of failing request after request; `dozor run` and `dozor login`
say which account lacks a session."""
from __future__ import annotations

from dataclasses import replace

import pytest
from telethon import errors

from bot.telegram.account_state import BANNED, LOGGED_OUT, account_state
from bot.telegram.client import NotLoggedIn, open_authorised


@pytest.mark.parametrize("error, state, name", [
    (errors.AuthKeyUnregisteredError, LOGGED_OUT, "AUTH_KEY_UNREGISTERED"),
    (errors.SessionRevokedError, LOGGED_OUT, "SESSION_REVOKED"),
    (errors.SessionExpiredError, LOGGED_OUT, "SESSION_EXPIRED"),
    (errors.UserDeactivatedError, LOGGED_OUT, "USER_DEACTIVATED"),
    (errors.UserDeactivatedBanError, BANNED, "USER_DEACTIVATED_BAN"),
    (errors.PhoneNumberBannedError, BANNED, "PHONE_NUMBER_BANNED"),
])
def test_errors_about_the_account_name_its_state(error, state, name):
    found = account_state(error(request=None))
    assert found.state == state
    assert found.reason.startswith(f"{name}: ")


@pytest.mark.parametrize("error", [errors.ChannelPrivateError, errors.FloodWaitError, errors.ChatWriteForbiddenError])
def test_errors_about_one_request_say_nothing_of_the_account(error):
    made = error(request=None, capture=30) if error is errors.FloodWaitError else error(request=None)
    assert account_state(made) is None


def spare_of(settings, fake):
    fake.add_account("spare")
    spare = replace(settings, account="spare")
    fake.authorise_session(str(spare.session_path), account="spare")
    return spare


async def test_a_logged_out_account_is_reported_once_and_the_request_still_fails(fake, settings):
    fake.add_channel(username="kyiv_news", title="Київ новини")
    client = await open_authorised(settings, connection=fake.connection)
    told = []
    client.on_account_state = lambda state, reason: told.append((state, reason))
    try:
        assert await client.get_messages("kyiv_news", limit=1) is not None
        assert told == []
        fake.log_out()
        for _ in range(3):  # every task of the service meets it; the owner hears it once
            with pytest.raises(errors.AuthKeyUnregisteredError):
                await client.get_messages("kyiv_news", limit=1)
        assert [state for state, _ in told] == [LOGGED_OUT]
        assert told[0][1].startswith("AUTH_KEY_UNREGISTERED: ")
    finally:
        await client.disconnect()


async def test_a_banned_spare_is_reported_while_the_main_account_goes_on(fake, settings):
    fake.add_channel(username="kyiv_news", title="Київ новини")
    spare = spare_of(settings, fake)
    main_client = await open_authorised(settings, connection=fake.connection)
    spare_client = await open_authorised(spare, connection=fake.connection)
    told = {"main": [], "spare": []}
    main_client.on_account_state = lambda state, reason: told["main"].append(state)
    spare_client.on_account_state = lambda state, reason: told["spare"].append(state)
    try:
        assert (await spare_client.get_me()).id == fake.account("spare").id
        fake.ban("spare")
        with pytest.raises(errors.UserDeactivatedBanError):
            await spare_client.get_messages("kyiv_news", limit=1)
        assert await main_client.get_messages("kyiv_news", limit=1) is not None
        assert told == {"main": [], "spare": [BANNED]}
    finally:
        await main_client.disconnect()
        await spare_client.disconnect()


async def test_a_refusal_met_before_anyone_listened_is_told_when_someone_does(fake, settings):
    fake.add_channel(username="kyiv_news", title="Київ новини")
    client = await open_authorised(settings, connection=fake.connection)
    try:
        fake.log_out(error="SESSION_REVOKED")
        with pytest.raises(errors.SessionRevokedError):
            await client.get_messages("kyiv_news", limit=1)
        told = []
        client.on_account_state = lambda state, reason: told.append((state, reason.split(":")[0]))
        assert told == [(LOGGED_OUT, "SESSION_REVOKED")]
    finally:
        await client.disconnect()


async def test_a_session_telegram_refuses_is_not_logged_in_and_says_why(fake, settings):
    spare = spare_of(settings, fake)
    fake.log_out("spare", error="SESSION_REVOKED")
    with pytest.raises(NotLoggedIn, match=r"SESSION_REVOKED.*run `dozor login --account spare` first") as refused:
        await open_authorised(spare, connection=fake.connection)
    assert (refused.value.account, refused.value.refused.state) == ("spare", LOGGED_OUT)

    fake.ban()
    with pytest.raises(NotLoggedIn, match="account main cannot be used \\(USER_DEACTIVATED_BAN") as refused:
        await open_authorised(settings, connection=fake.connection)
    assert refused.value.refused.state == BANNED
