"""`dozor run`: the long-lived service. Never prompts; SIGINT/SIGTERM stop it cleanly.

    dozor run                     # every account in DOZOR_ACCOUNTS, in this one process
    dozor run --account spare     # one account (a worker per account, on this machine or another)
"""
from __future__ import annotations

import argparse
import asyncio
import signal
from dataclasses import replace

from bot import logs
from bot.config import ConfigError, Settings, account_name_problem, load_settings
from bot.service import Service, run_accounts
from bot.telegram.client import NoSession

HELP = "run the monitoring service (needs a session from `dozor login`)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--account", metavar="NAME", default=None,
                        help="run this account only (default: every account in DOZOR_ACCOUNTS)")


def main(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    settings.require_api()  # before anything else: a fresh clone is told how to configure dozor
    settings.require_chats()
    accounts = accounts_to_run(settings, args.account)
    logs.setup(settings.log_level)
    # refusals (a second run, a session Telegram no longer accepts) are reported by bot.cli
    asyncio.run(_run_accounts(settings, accounts))
    return 0


def accounts_to_run(settings: Settings, chosen: str | None) -> list[str]:
    """The accounts this `dozor run` serves: `chosen` (--account) alone, or every account in
    DOZOR_ACCOUNTS. Each needs its session file; the first without one is refused, naming the
    command that makes it, before anything starts."""
    if chosen is not None:
        if problem := account_name_problem(chosen):
            raise ConfigError("--account", problem)
        names = [chosen]
    else:
        names = list(settings.accounts)
    for name in names:
        session = settings.session_path_of(name)
        if not session.exists():
            raise NoSession(name, session)
    return names


async def _run_accounts(settings: Settings, accounts: list[str]) -> None:
    """One Service per account (bot.service.run_accounts), all stopped by the same signal."""
    if len(accounts) == 1:
        await _run(Service(replace(settings, account=accounts[0])))
        return
    await run_accounts(settings, accounts, _stop_on_signals())


async def _run(service: Service) -> None:
    await service.run(_stop_on_signals())


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop
