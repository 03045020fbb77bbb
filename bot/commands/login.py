"""`dozor login`: sign an account in once; the session is stored with mode 0600.

    dozor login                    # the main account: <storage>/dozor.session
    dozor login --account spare    # another account: <storage>/dozor-spare.session
"""
from __future__ import annotations

import argparse
import asyncio
import getpass
from dataclasses import replace

from bot.config import MAIN_ACCOUNT, ConfigError, Settings, account_name_problem, load_settings
from bot.lock import StorageLock
from bot.telegram.client import account_name, make_client, make_private

HELP = "sign in to Telegram interactively (phone, code, two-step password)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--phone", help="phone number in international format; asked for if omitted")
    parser.add_argument("--account", metavar="NAME", default=MAIN_ACCOUNT,
                        help=f"which account to sign in (default: {MAIN_ACCOUNT}); list it in DOZOR_ACCOUNTS "
                             "for `dozor run` to serve it")


def main(args: argparse.Namespace) -> int:
    settings = for_account(load_settings(args.config), args.account)
    settings.require_api()
    with StorageLock(settings.lock_path):
        return asyncio.run(_login(settings, args.phone))


def for_account(settings: Settings, account: str) -> Settings:
    """The settings of `account` (given with --account), refused when it cannot name one."""
    if problem := account_name_problem(account):
        raise ConfigError("--account", problem)
    return replace(settings, account=account)


async def _login(settings: Settings, phone: str | None, **client_options) -> int:
    client = make_client(settings, **client_options)
    await client.start(
        phone=phone or (lambda: input("Phone number (international format, e.g. +380…): ")),
        code_callback=lambda: input("Code Telegram sent you: "),
        password=lambda: getpass.getpass("Two-step verification password: "),
    )
    name = await account_name(client)
    await client.disconnect()
    await asyncio.to_thread(make_private, settings.session_path)
    print(f"Signed in as {name} (account {settings.account}); session stored in {settings.session_path} "
          "(mode 0600)")
    if settings.account not in settings.accounts:
        print(f"Note: {settings.account} is not in DOZOR_ACCOUNTS, so a plain `dozor run` does not serve it; "
              f"add it there, or run `dozor run --account {settings.account}`")
    return 0
