"""Throughput and memory of normalise + rules + model, batched as history pages are, on one core.

    .venv/bin/python bench/bench_model.py            # prints, appends to bench/RESULTS.md
    .venv/bin/python bench/bench_model.py --no-record

Workload: bench_matching's generated city-chat messages (fixed seed). Reference measured in the
same run: normalise + rules alone, the path without a model. Memory: resident set size (VmRSS)
after the rules are loaded and warm, then after importing the model's libraries, loading the
shipped model and scoring every message in pages (its word cache and neighbour index made).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_matching import SEED, messages  # noqa: E402
from bench.results import record  # noqa: E402
from bot.matching import load_rules, match  # noqa: E402

COUNT = 20_000
BATCH = 100  # a history page
ROUNDS = 5


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def best_rate(fn, texts: list[str]) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for start in range(0, len(texts), BATCH):
            fn(texts[start:start + BATCH])
        best = min(best, time.perf_counter() - started)
    return len(texts) / best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=COUNT)
    parser.add_argument("--no-record", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core

    rules = load_rules(ROOT / "keywords.example.toml")
    texts = messages(args.count)
    for text in texts:  # warm the rules' caches
        match(rules, text)
    before = rss_mb()

    from bot.classifier import SHIPPED_MODEL, Classifier

    imported = rss_mb()
    classifier = Classifier.load(SHIPPED_MODEL)
    loaded = rss_mb()

    def rules_only(batch: list[str]) -> None:
        for text in batch:
            match(rules, text)

    def rules_and_model(batch: list[str]) -> list:
        return classifier.second_opinion([(text, match(rules, text)) for text in batch])

    found = review = 0
    for start in range(0, len(texts), BATCH):
        for result in rules_and_model(texts[start:start + BATCH]):
            found += any(o.found for o in result.opinions)
            review += bool(result.review)
    warm = rss_mb()
    reference = best_rate(rules_only, texts)
    combined = best_rate(rules_and_model, texts)
    model_alone = best_rate(classifier.scores, texts)
    chars = sum(map(len, texts)) / len(texts)

    body = f"""
One core (affinity set), single process. Workload: {len(texts)} generated messages (seed {SEED}),
{chars:.0f} characters on average; default `keywords.example.toml`; the shipped model; batches of
{BATCH} (a history page); warm caches; best of {ROUNDS} rounds. The model added {found} found and
{review} to-review messages on this everyday traffic.

| what | msgs/s | × reference |
|---|---:|---:|
| reference: normalise + rules (no model) | {reference:,.0f} | 1.00× |
| **normalise + rules + model** (`Classifier.second_opinion`) | **{combined:,.0f}** | {combined / reference:.2f}× |
| model alone: casefold + n-grams + scores (`Classifier.scores`) | {model_alone:,.0f} | {model_alone / reference:.2f}× |

| resident memory | MB |
|---|---:|
| rules loaded and warm (before the model) | {before:.0f} |
| + numpy and mmh3 imported (scikit-learn and scipy are only for training) | {imported:.0f} (+{imported - before:.0f}) |
| + shipped model loaded | {loaded:.0f} (+{loaded - imported:.0f}) |
| + {len(texts)} messages scored (word cache filled) | {warm:.0f} (+{warm - loaded:.0f}) |
| **added by the model, in all** | **+{warm - before:.0f}** |
"""
    print(body)
    if not args.no_record:
        record("Model: throughput and memory", ".venv/bin/python bench/bench_model.py", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
