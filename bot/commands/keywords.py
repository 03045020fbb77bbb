"""`dozor keywords test`: run the example messages written in the keywords file.

    dozor keywords test                   # 0 and a count when every example passes
    dozor keywords test --keywords my.toml

Each failure names the rule, the message, what was expected and what fired, with the file line.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.commands.check import keywords_path
from bot.matching import RulesError, load_rules, run_examples

HELP = "check the keywords file: run its must_match / must_not_match examples"


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    test = sub.add_parser("test", help="run the examples embedded in the keywords file")
    test.add_argument("--keywords", type=Path, default=None, help="keywords file (default: DOZOR_KEYWORDS)")


def main(args: argparse.Namespace) -> int:
    path = keywords_path(args)
    try:
        rules = load_rules(path)
    except RulesError as error:
        print(f"dozor keywords: {error}", file=sys.stderr)
        return 2
    ran, failures = run_examples(rules)
    for failure in failures:
        print(failure)
    active = sum(r.enabled for r in rules.rules)
    if failures:
        print(f"{len(failures)} of {ran} examples failed ({path})")
        return 1
    print(f"all {ran} examples pass: {active} rules in {len(rules.topics)} topics ({path})")
    return 0
