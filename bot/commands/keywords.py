"""`dozor keywords`: test the keywords file, train the model, and see how both fare on labels.

    dozor keywords test                   # the file's examples, then the archive's labels
    dozor keywords test --keywords my.toml
    dozor keywords train [--output storage/model.npz]   # from tests/data, the shared set, labels
    dozor keywords report                 # per-rule precision, silent rules, what each gets wrong

Each failure names the rule, the message, what was expected and what fired, with the file line.
Labels (`dozor label`) are read from the archive when there is one.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.archive.database import exists as archive_exists
from bot.commands.check import keywords_path
from bot.config import load_settings
from bot.matching import RulesError, load_rules, run_examples

HELP = "check the keywords file against its examples and the labels; train the model; report"


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    test = sub.add_parser("test", help="run the examples embedded in the keywords file, then the archive's labels")
    train = sub.add_parser("train", help="train the model from the labelled sets and the archive's labels")
    report = sub.add_parser("report", help="per-rule precision from labels, rules that never fire, "
                                           "the model's suggestions, what each rule gets wrong")
    for command in (test, train, report):
        command.add_argument("--keywords", type=Path, default=None, help="keywords file (default: DOZOR_KEYWORDS)")
    train.add_argument("--output", type=Path, default=None,
                       help="model file to write (default: DOZOR_MODEL, the shipped model unless set)")
    train.add_argument("--shared", type=Path, default=None,
                       help="the shared development set (default: ../shared/keywords/dev_messages.jsonl)")
    train.add_argument("--without-shared", action="store_true", help="train without the shared development set")
    train.add_argument("--without-labels", action="store_true",
                       help="leave the archive's labels out (this reproduces the shipped model)")
    report.add_argument("--days", type=float, default=7.0,
                        help="archived messages of the last N days the model's suggestions are counted on")


def main(args: argparse.Namespace) -> int:
    path = keywords_path(args)
    try:
        rules = load_rules(path)
    except RulesError as error:
        print(f"dozor keywords: {error}", file=sys.stderr)
        return 2
    if args.action == "train":
        from bot.commands._keywords_train import train
        return train(args, rules)
    if args.action == "report":
        from bot.commands._keywords_report import report
        return report(args, rules)
    ran, failures = run_examples(rules)
    for failure in failures:
        print(failure)
    active = sum(r.enabled for r in rules.rules)
    wrong = _label_mistakes(args, rules)
    for mistake in wrong:
        print(mistake)
    if failures or wrong:
        if failures:
            print(f"{len(failures)} of {ran} examples failed ({path})")
        if wrong:
            print(f"{len(wrong)} labelled message(s) the rules get wrong (dozor keywords report says more)")
        return 1
    print(f"all {ran} examples pass: {active} rules in {len(rules.topics)} topics ({path})")
    return 0


def _label_mistakes(args: argparse.Namespace, rules) -> list:
    from bot.feedback import mistakes

    examples = archive_labels(args)
    return mistakes(rules, examples) if examples else []


def archive_labels(args: argparse.Namespace) -> list:
    """The archive's labels in force as examples; none when there is no archive yet."""
    settings = load_settings(args.config)
    if not archive_exists(settings.archive_location):
        return []
    return asyncio.run(_archive_labels(settings.archive_location))


async def _archive_labels(path) -> list:
    from bot.archive import Archive
    from bot.archive.labels import current_labels
    from bot.classifier.examples import from_labels

    async with Archive.opened(path) as archive:
        chats = {chat.id: chat for chat in await archive.chats()}
        return from_labels(await current_labels(archive), chats)
