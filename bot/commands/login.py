"""`dozor login`: sign the account in once; the session is stored with mode 0600."""
from __future__ import annotations

import argparse
import asyncio
import getpass

from bot.config import load_settings
from bot.lock import StorageLock
from bot.telegram.client import account_name, make_client, make_private

HELP = "sign in to Telegram interactively (phone, code, two-step password)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--phone", help="phone number in international format; asked for if omitted")


def main(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    settings.require_api()
    with StorageLock(settings.lock_path):
        return asyncio.run(_login(settings, args.phone))


async def _login(settings, phone: str | None, **client_options) -> int:
    client = make_client(settings, **client_options)
    await client.start(
        phone=phone or (lambda: input("Phone number (international format, e.g. +380…): ")),
        code_callback=lambda: input("Code Telegram sent you: "),
        password=lambda: getpass.getpass("Two-step verification password: "),
    )
    name = await account_name(client)
    await client.disconnect()
    await asyncio.to_thread(make_private, settings.session_path)
    print(f"Signed in as {name}; session stored in {settings.session_path} (mode 0600)")
    return 0
