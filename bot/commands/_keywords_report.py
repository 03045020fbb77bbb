"""`dozor keywords report`: how the rules fare on labelled messages, and what the model suggests.

    dozor keywords report [--days 7]

Labelled messages: the project's sets (tests/data) and the archive's labels (`dozor label`).
"""
from __future__ import annotations

import argparse
import asyncio
from datetime import datetime, timedelta, timezone

from bot.archive.database import exists as archive_exists
from bot.classifier import ModelError, load_classifier
from bot.classifier.examples import read_set
from bot.classifier.sets import project_sets
from bot.config import load_settings
from bot.feedback import mistakes, rule_scores, suggestions

SHOWN = 5  # examples per rule


def report(args: argparse.Namespace, rules) -> int:
    from bot.commands.keywords import archive_labels

    labels = archive_labels(args)
    examples = [e for path in project_sets() for e in read_set(path)] + labels
    print(f"Labelled messages: {len(examples) - len(labels)} in the project's sets, {len(labels)} archive labels")

    scores = rule_scores(rules, examples)
    print("\nPer-rule precision (fires on labelled messages: right / wrong):")
    for s in sorted((s for s in scores if s.fires), key=lambda s: (s.precision, -s.fires)):
        print(f"  {s.rule:<32} {s.topic:<18} {s.right:>4} / {len(s.wrong):<4} precision {s.precision:.2f}")

    silent = [s for s in scores if not s.fires]
    print(f"\nRules that never fire on the labelled messages ({len(silent)}):")
    for s in silent:
        print(f"  {s.rule} ({s.topic})")

    print("\nLabelled messages each rule now gets wrong:")
    for s in scores:
        for example in s.wrong[:SHOWN]:
            print(f"  {s.rule}: fires on {example.source} {example.id}, labelled not {s.topic}: «{_cut(example.text)}»")
        if len(s.wrong) > SHOWN:
            print(f"  {s.rule}: … and {len(s.wrong) - SHOWN} more")
    missed = [m for m in mistakes(rules, examples) if m.expected]
    for m in missed:
        print(f"  (no rule) {m}")

    _suggestions(args, rules)
    return 0


def _suggestions(args: argparse.Namespace, rules) -> None:
    settings = load_settings(args.config)
    try:
        classifier = load_classifier(settings.model)
    except ModelError as error:
        print(f"\nThe model's suggestions: none, the model is not usable: {error}")
        return
    if classifier is None:
        print("\nThe model's suggestions: none, DOZOR_MODEL=off")
        return
    texts = (asyncio.run(_recent(settings.archive_location, args.days))
             if archive_exists(settings.archive_location) else [])
    print(f"\nThe model's most frequent suggestions where no rule fired "
          f"({len(texts)} messages archived in the last {args.days:g} days):")
    found = suggestions(classifier, rules, texts)
    if not found:
        print("  none")
    for topic, (counts, best) in sorted(found.items(), key=lambda kv: -sum(kv[1][0].values())):
        print(f"  {topic}: {counts['found']} found, {counts['review']} to review")
        for score, text in best:
            print(f"    {score:.2f} «{_cut(text)}»")


async def _recent(path, days: float) -> list[str]:
    from bot.archive import Archive
    from bot.archive.opinions import recent_texts

    async with Archive.opened(path) as archive:
        return await recent_texts(archive, datetime.now(timezone.utc) - timedelta(days=days))


def _cut(text: str, width: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
