"""`dozor keywords train`: the model from the labelled sets (and the archive's labels), written
where DOZOR_MODEL points or to --output. The same data gives the same file, byte for byte.

    dozor keywords train --without-labels          # reproduces the shipped bot/classifier/model.npz
    dozor keywords train --output storage/model.npz   # with the editors' labels; then DOZOR_MODEL=storage/model.npz
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.classifier import SHIPPED_MODEL, model_path
from bot.classifier.examples import ExamplesError, file_sha256
from bot.classifier.sets import SharedSetMissing, training_data
from bot.config import load_settings
from bot.matching import match


def train(args: argparse.Namespace, rules) -> int:
    from bot.classifier.modelfile import save
    from bot.classifier.train import train as fit
    from bot.commands.keywords import archive_labels

    output = args.output or model_path(load_settings(args.config).model) or SHIPPED_MODEL
    labels = [] if args.without_labels else archive_labels(args)
    if labels and output.resolve() == SHIPPED_MODEL.resolve():
        # the shipped file is the repository's, reproducible by anyone; labels make a model of your own
        print("dozor keywords train: the archive has labels, and the shipped model is rebuilt without them: "
              "pass --output storage/model.npz (then set DOZOR_MODEL to it), or --without-labels",
              file=sys.stderr)
        return 2
    try:
        examples, sets = training_data(args.shared, use_shared=not args.without_shared, labels=labels)
        # thresholds are set where these rules are silent: retrain when the keywords file changes
        trained = fit(examples, list(rules.topics), lambda e: match(rules, e.text, e.chat).topics)
    except (SharedSetMissing, ExamplesError, ValueError) as error:
        print(f"dozor keywords train: {error}", file=sys.stderr)
        return 2
    save(trained, output, sets, keywords={"name": Path(rules.source).name, "sha256": file_sha256(Path(rules.source))})
    for entry in sets:
        print(f"  {entry['name']} ({entry['place']}): {entry['examples']} examples")
    for topic, th in trained.thresholds.items():
        positives, negatives = trained.counts[topic]
        print(f"  {topic}: {positives} yes / {negatives} no; found at ≥ {th.found:.2f}, review at ≥ {th.review:.2f}")
    print(f"model written to {output} (training data sha256 {trained.data_sha256[:16]}…)")
    return 0
