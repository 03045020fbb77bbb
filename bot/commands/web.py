"""`dozor web`: the read-only web viewer of the archive, and its accounts.

    dozor web add-user olena          # asks for the password twice (or reads one line from stdin)
    dozor web                         # serves http://127.0.0.1:8080 (WEB_HOST, WEB_PORT)
    dozor web users | remove-user olena

It reads the archive and never writes it, so it runs beside `dozor run`. Accounts live in
<storage>/web-users.sqlite3 (0600), apart from the archive.
"""
from __future__ import annotations

import argparse
import getpass
import sys

from bot.archive.database import exists as archive_exists
from bot.config import load_settings
from bot.web.accounts import AccountError, Accounts

HELP = "the read-only web viewer: dozor web [add-user NAME | remove-user NAME | users]"


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    for name, text in (("add-user", "create a user, or give one a new password"), ("remove-user", "remove a user")):
        action = actions.add_parser(name, help=text, description=text)
        action.add_argument("name")
        action.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    listing = actions.add_parser("users", help="list the users")
    listing.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def main(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    accounts = Accounts(settings.storage)
    if args.action == "add-user":
        try:
            new = accounts.add(args.name, _password())
        except AccountError as error:
            print(f"dozor web: {error}", file=sys.stderr)
            return 2
        print(f"{args.name}: {'created' if new else 'new password set; their open sessions end'}")
        return 0
    if args.action == "remove-user":
        if not accounts.remove(args.name):
            print(f"dozor web: no user {args.name!r}", file=sys.stderr)
            return 2
        print(f"{args.name}: removed; their open sessions end")
        return 0
    if args.action == "users":
        print("\n".join(accounts.names()) or "no users yet: dozor web add-user NAME")
        return 0
    return _serve(settings, accounts)


def _password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise AccountError("the two passwords differ")
    return first


def _serve(settings, accounts: Accounts) -> int:
    import uvicorn

    from bot.archive import NoArchive
    from bot.web.app import create_app

    if not archive_exists(settings.archive_location):
        raise NoArchive(settings.archive_location)
    if not accounts.names():
        print("dozor web: no users yet; create one with `dozor web add-user NAME`", file=sys.stderr)
        return 2
    print(f"dozor web: http://{settings.web_host}:{settings.web_port}/", file=sys.stderr)
    # no access log: the addresses of pages and searches say what editors look for
    uvicorn.run(create_app(settings, accounts), host=settings.web_host, port=settings.web_port,
                access_log=False, server_header=False, proxy_headers=True, log_level="warning")
    return 0
