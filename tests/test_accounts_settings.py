"""The accounts a machine runs, chats pinned to one, the lease: read from the configuration,
refused with the variable named; `dozor run` says which account has no session."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.cli import main
from bot.commands.run import accounts_to_run
from bot.config import ConfigError, Settings, load_settings
from bot.telegram.client import NoSession
from tests.conftest import EXAMPLE_KEYWORDS

pytestmark = pytest.mark.usefixtures("clean_environment")


def config_file(tmp_path: Path, **values) -> Path:
    base = {"TG_API_ID": "1", "TG_API_HASH": "abc", "DOZOR_STORAGE": tmp_path / "s", "DOZOR_CHATS": "@kyiv_news",
            "DOZOR_KEYWORDS": EXAMPLE_KEYWORDS}
    path = tmp_path / "config.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in {**base, **values}.items()), encoding="utf-8")
    return path


def test_one_main_account_unless_told_otherwise(tmp_path):
    settings = load_settings(config_file(tmp_path))
    assert (settings.accounts, settings.account_pins, settings.lease_seconds, settings.account) == (
        ("main",), (), 180.0, "main")
    assert settings.session_path == tmp_path / "s" / "dozor.session"  # where every install has kept it


def test_accounts_pins_and_lease_are_read(tmp_path):
    settings = load_settings(config_file(
        tmp_path, DOZOR_ACCOUNTS="main, spare_2, night-shift",
        DOZOR_ACCOUNT_PINS='"@kyiv_news=spare_2, t.me/+AbCdEf123=elsewhere, -1001700000003=main"',
        DOZOR_LEASE_SECONDS="45"))
    assert settings.accounts == ("main", "spare_2", "night-shift")
    # an account this machine does not run may serve a pinned chat from another machine
    assert settings.account_pins == (("@kyiv_news", "spare_2"), ("t.me/+AbCdEf123", "elsewhere"),
                                     ("-1001700000003", "main"))
    assert settings.lease_seconds == 45
    assert replace(settings, account="spare_2").session_path == tmp_path / "s" / "dozor-spare_2.session"
    # each account is locked on its own: `dozor login --account spare_2` while main runs
    assert (settings.lock_path, replace(settings, account="spare_2").lock_path) == (
        tmp_path / "s" / "dozor.lock", tmp_path / "s" / "dozor-spare_2.lock")


@pytest.mark.parametrize("variable, value, expected", [
    ("DOZOR_ACCOUNTS", "main, Spare", "DOZOR_ACCOUNTS: 'Spare' is not an account name: expected 1-32 of a-z"),
    ("DOZOR_ACCOUNTS", "main, ../x", "DOZOR_ACCOUNTS: '../x' is not an account name"),
    ("DOZOR_ACCOUNTS", "main, main", "DOZOR_ACCOUNTS: account 'main' is listed twice"),
    ("DOZOR_ACCOUNTS", " , ", "DOZOR_ACCOUNTS: expected comma-separated account names"),
    ("DOZOR_ACCOUNT_PINS", "@kyiv_news", "DOZOR_ACCOUNT_PINS: expected 'chat=account, chat=account', "
                                         "got '@kyiv_news'"),
    ("DOZOR_ACCOUNT_PINS", "@kyiv_news=", "DOZOR_ACCOUNT_PINS: expected 'chat=account"),
    ("DOZOR_ACCOUNT_PINS", "t.me/x=main", "DOZOR_ACCOUNT_PINS: 't.me/x=main': 't.me/x' is not a @username"),
    ("DOZOR_ACCOUNT_PINS", "@kyiv_news=Main", "DOZOR_ACCOUNT_PINS: '@kyiv_news=Main': 'Main' is not an account"),
    ("DOZOR_ACCOUNT_PINS", "@kyiv_news=main, t.me/Kyiv_News=spare",
     "DOZOR_ACCOUNT_PINS: 't.me/Kyiv_News' is pinned to both 'main' and 'spare'"),
    ("DOZOR_LEASE_SECONDS", "10", "DOZOR_LEASE_SECONDS: expected at least 30, got '10'"),
    ("DOZOR_LEASE_SECONDS", "soon", "DOZOR_LEASE_SECONDS: expected a number, got 'soon'"),
    ("DOZOR_LEASE_SECONDS", "inf", "DOZOR_LEASE_SECONDS: expected at most 86400, got 'inf'"),
])
def test_a_malformed_account_setting_is_refused_naming_the_variable(tmp_path, capsys, variable, value, expected):
    assert main(["--config", str(config_file(tmp_path, **{variable: value})), "run"]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1


def test_an_account_setting_from_the_environment_is_checked_too(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DOZOR_ACCOUNTS", "main,Night")
    assert main(["--config", str(config_file(tmp_path)), "config"]) == 2
    assert "DOZOR_ACCOUNTS: 'Night' is not an account name" in capsys.readouterr().err


def test_dozor_config_shows_the_pins_as_written(tmp_path, capsys):
    config = config_file(tmp_path, DOZOR_ACCOUNTS="main,spare", DOZOR_ACCOUNT_PINS="@kyiv_news=spare")
    assert main(["--config", str(config), "config"]) == 0
    out = capsys.readouterr().out
    assert "main, spare" in out and "@kyiv_news=spare" in out


def test_a_name_that_is_no_account_name_never_becomes_a_file_name(tmp_path):
    with pytest.raises(ValueError, match="'../main' is not an account name"):
        Settings(storage=tmp_path, account="../main").session_path


def sessions(storage: Path, *names: str) -> Settings:
    storage.mkdir(exist_ok=True)
    settings = Settings(storage=storage, accounts=("main", "spare"))
    for name in names:
        settings.session_path_of(name).write_bytes(b"")
    return settings


def test_run_serves_every_configured_account_or_the_one_asked_for(tmp_path):
    settings = sessions(tmp_path / "s", "main", "spare", "standby")
    assert accounts_to_run(settings, None) == ["main", "spare"]
    assert accounts_to_run(settings, "spare") == ["spare"]
    # an account this machine does not list still runs when asked for by name: its session is here
    assert accounts_to_run(settings, "standby") == ["standby"]


def test_run_names_the_account_without_a_session_and_how_to_make_one(tmp_path):
    settings = sessions(tmp_path / "s", "main")
    with pytest.raises(NoSession, match=r"^no session for account spare: run `dozor login --account spare`"):
        accounts_to_run(settings, "spare")
    with pytest.raises(NoSession, match="no session for account spare"):
        accounts_to_run(settings, None)  # every configured account must be able to start
    with pytest.raises(ConfigError, match="--account: 'Spare' is not an account name"):
        accounts_to_run(settings, "Spare")


def test_dozor_run_for_an_account_without_a_session_stops_before_starting(tmp_path, capsys):
    config = config_file(tmp_path, DOZOR_ACCOUNTS="main,spare")
    (tmp_path / "s").mkdir()
    assert main(["--config", str(config), "run", "--account", "spare"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dozor: no session for account spare: run `dozor login --account spare`")
    assert err.count("\n") == 1
    assert list((tmp_path / "s").iterdir()) == []  # no empty session, no archive left behind
