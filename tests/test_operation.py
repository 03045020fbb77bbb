"""What an operator sees: bad configuration, a missing session, a second instance, an
unresolvable chat, `dozor status`, and a clean stop on SIGTERM."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
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


pytestmark = pytest.mark.usefixtures("clean_environment")


@pytest.mark.parametrize("variable, value, expected", [
    ("TG_API_ID", "12ab", "TG_API_ID: expected a whole number, got '12ab'"),
    ("DIGEST_TIME", "9am", "DIGEST_TIME: expected a local time as HH:MM"),
    ("DIGEST_TZ", "Kyiv", "DIGEST_TZ: expected an IANA time zone"),
    ("MEDIA_TYPES", "photo, movie", "MEDIA_TYPES: unknown media type 'movie'"),
    ("DOZOR_JOIN_CHANNELS", "maybe", "DOZOR_JOIN_CHANNELS: expected yes/no"),
    ("TG_API_ID", "99999999999999999999", "TG_API_ID: expected at most 2147483647"),
    ("DOZOR_BACKFILL_HOURS", "nan", "DOZOR_BACKFILL_HOURS: expected a number above 0, got 'nan'"),
    ("DOZOR_BACKFILL_HOURS", "1e309", "DOZOR_BACKFILL_HOURS: expected at most 87840, got '1e309'"),
    ("DOZOR_CATCHUP_INTERVAL", "inf", "DOZOR_CATCHUP_INTERVAL: expected at most 604800, got 'inf'"),
    ("DOZOR_CATCHUP_INTERVAL", "nan", "DOZOR_CATCHUP_INTERVAL: expected a number above 0, got 'nan'"),
    ("DOZOR_CATCHUP_INTERVAL", "0", "DOZOR_CATCHUP_INTERVAL: expected a number above 0, got '0'"),
    ("MEDIA_MAX_MB", "nan", "MEDIA_MAX_MB: expected a number above 0, got 'nan'"),
    ("MEDIA_WORKERS", "100000", "MEDIA_WORKERS: expected at most 16, got '100000'"),
    ("DOZOR_CHATS", "", "DOZOR_CHATS: no chats to watch"),
    ("DOZOR_CHATS", " , ", "DOZOR_CHATS: no chats to watch"),
    ("DOZOR_STORAGE", "", "DOZOR_STORAGE: expected a directory, got an empty value"),
    ("DOZOR_KEYWORDS", "", "DOZOR_KEYWORDS: expected a file path, got an empty value"),
    ("DOZOR_STORAGE", "/dev/null", "DOZOR_STORAGE: expected a directory, but /dev/null is a file"),
    ("DOZOR_STORAGE", "/dev/null/storage", "DOZOR_STORAGE: cannot create /dev/null/storage"),
    ("DOZOR_CHAT", "@kyiv_news", "DOZOR_CHAT: unknown setting in"),
    ("DOZOR_CHAT", "@kyiv_news", "did you mean DOZOR_CHATS?"),
    ("DIGEST_TIMEZONE", "Europe/Kyiv", "DIGEST_TIMEZONE: unknown setting"),
    ("TG_APIHASH", "abc", "did you mean TG_API_HASH?"),
])
def test_malformed_setting_stops_start_up_naming_the_variable(tmp_path, capsys, variable, value, expected):
    values = {"TG_API_ID": "1", "TG_API_HASH": "abc", "DOZOR_STORAGE": tmp_path / "s", "DOZOR_CHATS": "@a",
              variable: value}
    config = write_config(tmp_path, **values)
    assert main(["--config", config, "run"]) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert err.count("\n") == 1  # one message, no traceback
    assert not (tmp_path / "s" / "archive.sqlite3").exists()


@pytest.mark.parametrize("variable, value, expected", [
    ("DOZOR_BACKFIL_HOURS", "12", "DOZOR_BACKFIL_HOURS: unknown setting in the environment; did you mean "
                                  "DOZOR_BACKFILL_HOURS?"),
    ("MEDIA_WORKERS", "0", "MEDIA_WORKERS: expected at least 1, got '0'"),
    ("DIGEST_TOPIC_CAP", "2.5", "DIGEST_TOPIC_CAP: expected a whole number, got '2.5'"),
])
def test_bad_environment_variable_is_named(tmp_path, capsys, monkeypatch, variable, value, expected):
    config = write_config(tmp_path, TG_API_ID="1", TG_API_HASH="abc", DOZOR_STORAGE=tmp_path / "s")
    monkeypatch.setenv(variable, value)
    assert main(["--config", config, "config"]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1


def test_config_naming_a_directory_is_refused(tmp_path, capsys):
    assert main(["--config", str(tmp_path), "status"]) == 2
    err = capsys.readouterr().err
    assert f"--config: {tmp_path} is a directory" in err and err.count("\n") == 1


def test_a_fresh_clone_without_configuration_is_told_to_copy_the_example(tmp_path):
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith(("TG_", "DOZOR_", "DIGEST_", "MEDIA_", "LOG_LEVEL"))}
    environment["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=environment,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "config.env: no configuration found: copy config.example.env to config.env" in done.stderr
    assert not (tmp_path / "storage").exists()  # nothing created before the configuration exists


def test_dozor_config_says_which_file_it_read(tmp_path, capsys, monkeypatch):
    config = write_config(tmp_path, DIGEST_TIME="06:45")
    assert main(["config", "--config", config]) == 0
    assert f"read {tmp_path / 'config.env'}" in capsys.readouterr().out
    monkeypatch.chdir(tmp_path / "..")
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    assert main(["config"]) == 0
    assert "no configuration found" in capsys.readouterr().out


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
                          DOZOR_KEYWORDS=EXAMPLE_KEYWORDS, DOZOR_CHATS="@kyiv_news")
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
                              DOZOR_STORAGE=settings.storage, DOZOR_KEYWORDS=settings.keywords,
                              DOZOR_CHATS="@kyiv_news")
        # a real second process, as an operator would start it
        second = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--config", config, "run", cwd=ROOT, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(second.communicate(), 60)
        assert second.returncode == 3
        assert f"another dozor (pid {os.getpid()}) is already running" in err.decode()


async def test_sigterm_in_the_middle_of_a_catch_up_commits_what_was_read(fake, settings):
    news = fake.add_channel(username="kyiv_news", title="Київ новини")
    posts = [fake.post(news, f"{MATCHING} {n}") for n in range(250)]
    # a new chat is read before it is joined: one request asks for its newest id, the first page
    # goes through, and the second waits on a flood wait
    fake.flood_wait("GetHistoryRequest", seconds=3, after=2)
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


def test_config_may_come_after_a_nested_command(tmp_path, capsys):
    keywords = tmp_path / "mine.toml"
    keywords.write_bytes(EXAMPLE_KEYWORDS.read_bytes())
    config = write_config(tmp_path, DOZOR_KEYWORDS=keywords)
    assert main(["keywords", "test", "--config", config]) == 0
    assert str(keywords) in capsys.readouterr().out
