"""`dozor run`: the long-lived service. Never prompts; SIGINT/SIGTERM stop it cleanly."""
from __future__ import annotations

import argparse
import asyncio
import signal

from bot import logs
from bot.config import load_settings
from bot.service import Service

HELP = "run the monitoring service (needs a session from `dozor login`)"


def configure(parser: argparse.ArgumentParser) -> None:
    pass


def main(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    settings.require_api()  # before anything else: a fresh clone is told how to configure dozor
    settings.require_chats()
    logs.setup(settings.log_level)
    asyncio.run(_run(Service(settings)))  # refusals (no session, a second run) are reported by bot.cli
    return 0


async def _run(service: Service) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await service.run(stop)
