"""`dozor config`: the resolved settings, secrets masked."""
from __future__ import annotations

import argparse

from bot.config import VARIABLES, load_settings

HELP = "print the resolved settings (secrets masked)"


def configure(parser: argparse.ArgumentParser) -> None:
    pass


def main(args: argparse.Namespace) -> int:
    shown = load_settings(args.config).masked()
    width = max(len(v) for v in VARIABLES)
    for variable, (name, _) in VARIABLES.items():
        print(f"{variable:<{width}}  {shown[name]}")
    return 0
