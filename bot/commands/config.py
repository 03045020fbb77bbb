"""`dozor config`: which file was read and the resolved settings, secrets masked."""
from __future__ import annotations

import argparse

from bot.config import load_settings, no_configuration

HELP = "print which settings file was read and the resolved settings (secrets masked)"


def configure(parser: argparse.ArgumentParser) -> None:
    pass


def main(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    if settings.config_file is not None:
        print(f"# read {settings.config_file}; the environment overrides it")
    else:
        print(f"# {no_configuration()}; showing defaults and the environment")
    shown = settings.masked()
    width = max(map(len, shown))
    for variable, value in shown.items():
        print(f"{variable:<{width}}  {value}")
    return 0
