"""What an operator sees: bad configuration, a missing session, a second instance, an
unresolvable chat, `dozor status`, and a clean stop on SIGTERM."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import sys
from dataclasses import replace

import pytest

from bot.cli import main
from bot.commands.run import _run
from bot.lock import AlreadyRunning
from bot.service import Service
from tests.conftest import EXAMPLE_KEYWORDS, ROOT, archive_of, eventually
from tests.test_ingestion import MATCHING


def write_config(tmp_path, **values) -> str:
    path = tmp_path / "config.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    return str(path)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    # the operator's own environment must not leak into what these tests read
    for name in ("TG_API_ID", "TG_API_HASH", "DOZOR_STORAGE", "DOZOR_CHATS", "LOG_LEVEL", "DIGEST_TZ"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("variable, value, expected", [
    ("TG_API_ID", "12ab", "TG_API_ID: expected a whole number, got '12ab'"),
    ("DIGEST_TIME", "9am", "DIGEST_TIME: expected a local time as HH:MM"),
    ("DIGEST_TZ", "Kyiv", "DIGEST_TZ: expected an IANA time zone"),
    ("MEDIA_TYPES", "photo, movie", "MEDIA_TYPES: unknown media type 'movie'"),
    ("DOZOR_JOIN_CHANNELS", "maybe", "DOZOR_JOIN_CHANNELS: expected yes/no"),
])
def test_malformed_setting_stops_start_up_naming_the_variable(tmp_path, capsys, variable, value, expected):
    values = {"TG_API_ID": "1", "TG_API_HASH": "abc", "DOZOR_STORAGE": tmp_path / "s", variable: value}
    config = write_config(tmp_path, **values)
    assert main(["--config", config, "run"]) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert err.count("\n") == 1  # one message, no traceback
    assert not (tmp_path / "s" / "archive.sqlite3").exists()


def test_environment_overrides_the_file(tmp_path, capsys, monkeypatch):
    config = write_config(tmp_path, DIGEST_TIME="09:00", TG_API_HASH="0123456789abcdef")
    monkeypatch.setenv("DIGEST_TIME", "07:30")
    assert main(["--config", config, "config"]) == 0
    out = capsys.readouterr().out
    assert "07:30" in out
    assert "0123456789abcdef" not in out and "********ef" in out  # the secret is masked


def test_config_may_come_after_the_sub_command(tmp_path, capsys):
    config = write_config(tmp_path, DIGEST_TIME="06:45")
    assert main(["config", "--config", config]) == 0
    assert "06:45" in capsys.readouterr().out


def test_missing_session_says_to_log_in(tmp_path, capsys):
    config = write_config(tmp_path, TG_API_ID="1", TG_API_HASH="abc", DOZOR_STORAGE=tmp_path / "s",
                          DOZOR_KEYWORDS=EXAMPLE_KEYWORDS)
    assert main(["--config", config, "run"]) == 2
    err = capsys.readouterr().err
    assert "run `dozor login` first" in err
    assert not (tmp_path / "s" / "dozor.session").exists()  # no empty session left behind


async def test_unresolvable_chat_is_reported_while_the_others_are_archived(fake, run_service, settings, capsys):
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    async with run_service(chats=("@no_such_chat_here", "@kyiv_news", "t.me/+expiredHash")) as running:
        await running.settled()
        post = fake.post(news, MATCHING)
        await eventually(lambda: running.service.archive.message(news.marked_id, post.id), "the post")
        config = write_config(settings.storage.parent, DOZOR_STORAGE=settings.storage)
        assert await asyncio.to_thread(main, ["--config", config, "status", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = {row["source"]: row for row in report["chats"]}
    assert "no chat is called '@no_such_chat_here'" in rows["@no_such_chat_here"]["error"]
    assert "invite link has expired" in rows["t.me/+expiredHash"]["error"]
    assert rows["@kyiv_news"]["error"] is None
    assert rows["@kyiv_news"]["title"] == "Київ новини"
    assert rows["@kyiv_news"]["matches_today"] == 1
    assert rows["@kyiv_news"]["checkpoint"] == post.id


async def test_second_run_on_the_same_storage_is_refused(fake, run_service, settings, capsys):
    fake.add_channel(username="kyiv_news", title="Київ новини")
    async with run_service(chats=("@kyiv_news",)):
        with pytest.raises(AlreadyRunning, match=f"pid {os.getpid()}"):
            await Service(settings, client_options={"connection": fake.connection}).run(asyncio.Event())
        config = write_config(settings.storage.parent, TG_API_ID="1", TG_API_HASH="x",
                              DOZOR_STORAGE=settings.storage, DOZOR_KEYWORDS=settings.keywords)
        # a real second process, as an operator would start it
        second = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--config", config, "run", cwd=ROOT, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(second.communicate(), 60)
        assert second.returncode == 3
        assert f"another dozor (pid {os.getpid()}) is already running" in err.decode()


async def test_sigterm_in_the_middle_of_a_catch_up_commits_what_was_read(fake, settings):
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    posts = [fake.post(news, f"{MATCHING} {n}") for n in range(250)]
    # the first page goes through (the newest id comes from the dialog); the second waits on a flood wait
    fake.flood_wait("GetHistoryRequest", seconds=3, after=1)
    service = Service(replace(settings, chats=("@kyiv_news",)), client_options={"connection": fake.connection},
                      history_wait=0)
    task = asyncio.create_task(_run(service))
    await eventually(lambda: service.ready.is_set() and service.coverage.checkpoint(news.marked_id),
                     "the first page")
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(task, 30)  # returns normally: exit code 0 in `dozor run`
    async with archive_of(settings) as archive:
        first_page = [p.id for p in posts[:100]]
        assert await archive.message_ids(news.marked_id) == first_page
        assert await archive.checkpoint(news.marked_id) == first_page[-1]
    assert stat.S_IMODE(settings.session_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.archive_path.stat().st_mode) == 0o600
