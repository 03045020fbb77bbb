"""`dozor login` signs an account in once; the session it leaves is private and lets `run` start."""
from __future__ import annotations

import stat
from dataclasses import replace

import pytest

from bot.cli import main
from bot.commands.login import _login, for_account
from bot.telegram.client import open_authorised


async def test_login_stores_a_private_session_that_run_accepts(fake, settings, monkeypatch, tmp_path, capsys):
    storage = tmp_path / "fresh"
    storage.mkdir()
    settings = replace(settings, storage=storage)
    fake.unauthorised_session(str(settings.session_path))
    answers = iter([fake.LOGIN_CODE])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))

    assert await _login(settings, "+" + fake.me.phone, connection=fake.connection) == 0

    assert "Signed in as" in capsys.readouterr().out
    assert stat.S_IMODE(settings.session_path.stat().st_mode) == 0o600
    client = await open_authorised(settings, connection=fake.connection)
    try:
        assert (await client.get_me()).id == fake.me.id
    finally:
        await client.disconnect()


async def test_login_of_another_account_keeps_its_own_private_session(fake, settings, monkeypatch, capsys):
    spare = fake.add_account("spare")
    spare_settings = for_account(settings, "spare")
    fake.unauthorised_session(str(spare_settings.session_path))
    answers = iter([fake.LOGIN_CODE])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))

    assert await _login(spare_settings, "+" + spare.phone, connection=fake.connection) == 0

    out = capsys.readouterr().out
    assert "(account spare)" in out and "dozor-spare.session" in out
    assert "spare is not in DOZOR_ACCOUNTS" in out  # plain `dozor run` would not serve it
    assert spare_settings.session_path == settings.storage / "dozor-spare.session"
    assert stat.S_IMODE(spare_settings.session_path.stat().st_mode) == 0o600
    for account_settings, user_id in ((spare_settings, spare.id), (settings, fake.me.id)):
        client = await open_authorised(account_settings, connection=fake.connection)
        try:
            assert (await client.get_me()).id == user_id
        finally:
            await client.disconnect()


@pytest.mark.usefixtures("clean_environment")
@pytest.mark.parametrize("name", ["Spare", "../main", "", "a" * 33, "spare.2"])
def test_login_refuses_an_account_name_that_cannot_be_one(tmp_path, capsys, name):
    config = tmp_path / "config.env"
    config.write_text(f"TG_API_ID=1\nTG_API_HASH=abc\nDOZOR_STORAGE={tmp_path / 's'}\n", encoding="utf-8")
    assert main(["--config", str(config), "login", "--account", name]) == 2
    err = capsys.readouterr().err
    assert f"--account: {name!r} is not an account name" in err and err.count("\n") == 1
    assert not (tmp_path / "s").exists() or not any((tmp_path / "s").iterdir())  # no session file made
