"""`dozor login` signs in once; the session it leaves is private and lets `run` start."""
from __future__ import annotations

import stat
from dataclasses import replace

from bot.commands.login import _login
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
