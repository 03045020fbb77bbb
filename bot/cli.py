"""The `dozor` command. Each sub-command lives in its own module under `bot/commands/`.

    dozor login            # once: phone, code, two-step password
    dozor run              # the service
    dozor status [--json]  # per chat: checkpoint, last message, today's counts, errors

A command module has HELP (one line), `configure(parser)` and `main(args) -> int`;
dropping a new module into bot/commands/ adds the sub-command.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sqlite3
import sys
from pathlib import Path

import bot
from bot import __version__, commands
from bot.archive import ArchiveError, DatabaseError
from bot.config import ConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dozor", description=bot.__doc__.split(": ", 1)[-1])
    parser.add_argument("--version", action="version", version=f"dozor {__version__}")
    config_help = "settings file (default: config.env if present); the environment overrides it"
    parser.add_argument("--config", type=Path, default=None, help=config_help)
    # also accepted after the sub-command (dozor status --config prod.env); SUPPRESS keeps the
    # value given before it when it is not repeated
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=config_help)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        name = getattr(module, "NAME", info.name)
        command = sub.add_parser(name, help=module.HELP, description=module.HELP, parents=[common])
        module.configure(command)
        _accept_config(command, common)
        command.set_defaults(handler=module.main)
    return parser


def _accept_config(command: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """Give every nested action (`keywords test`) the --config option as well, so it works after
    any command, however deep."""
    for action in command._actions:
        if isinstance(action, argparse._SubParsersAction):
            for nested in action.choices.values():
                if not any("--config" in a.option_strings for a in nested._actions):
                    nested._add_container_actions(common)
                _accept_config(nested, common)


def _refusals() -> list[tuple[type[BaseException], int, str]]:
    """Errors a user can cause, with the exit code and how the message is introduced.
    Imported late so that `dozor --help` stays fast."""
    from bot.lock import AlreadyRunning
    from bot.matching import RulesError
    from bot.telegram.client import NotLoggedIn

    return [
        (ConfigError, 2, "configuration error: "),
        (RulesError, 2, "keywords file: "),
        (NotLoggedIn, 2, ""),
        (AlreadyRunning, 3, ""),
        (ArchiveError, 1, ""),
    ]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # everything dozor writes (session, archive, media, digests) is private to its owner
    os.umask(0o077)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        return 130
    except (DatabaseError, sqlite3.DatabaseError) as error:
        # the Telegram session is a SQLite file of its own, whatever holds the archive
        print(f"dozor: the archive or session database cannot be used ({getattr(error, 'orig', error)}); "
              "check DOZOR_STORAGE and the files in it, and DOZOR_DATABASE_URL if it is set", file=sys.stderr)
        return 1
    except PermissionError as error:
        print(f"dozor: no permission for {error.filename}: run dozor as the user that owns DOZOR_STORAGE",
              file=sys.stderr)
        return 1
    except Exception as error:
        # a failure inside the service's TaskGroup arrives wrapped; one cause is told as itself
        cause = error
        while isinstance(cause, BaseExceptionGroup) and len(cause.exceptions) == 1:
            cause = cause.exceptions[0]
        for kind, code, intro in _refusals():
            if isinstance(cause, kind):
                print(f"dozor: {intro}{cause}", file=sys.stderr)
                return code
        raise
