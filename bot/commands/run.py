"""`dozor run`: the long-lived service. Never prompts; SIGINT/SIGTERM stop it cleanly."""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from bot import logs
from bot.config import load_settings
from bot.lock import AlreadyRunning
from bot.matching import RulesError
from bot.service import Service
from bot.telegram.client import NotLoggedIn

HELP = "run the monitoring service (needs a session from `dozor login`)"


def configure(parser: argparse.ArgumentParser) -> None:
    pass


def main(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    logs.setup(settings.log_level)
    try:
        asyncio.run(_run(Service(settings)))
    except NotLoggedIn as error:
        print(f"dozor: {error}", file=sys.stderr)
        return 2
    except AlreadyRunning as error:
        print(f"dozor: {error}", file=sys.stderr)
        return 3
    except RulesError as error:
        print(f"dozor: keywords file: {error}", file=sys.stderr)
        return 2
    return 0


async def _run(service: Service) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await service.run(stop)
