"""Throughput of normalise + match on one core with a warm cache.

    .venv/bin/python bench/bench_matching.py            # prints msgs/s, appends to bench/RESULTS.md
    .venv/bin/python bench/bench_matching.py --no-record

The messages are generated from a fixed seed: everyday city-chat sentences of 100–300 characters,
about one in ten carrying a topic word (some of them hard negatives such as «бус до Польщі»),
with the odd emoji, Latin look-alike or dotted acronym, as in the real feeds.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import record  # noqa: E402
from bot.matching import load_rules, match  # noqa: E402
from bot.matching.matcher import _evaluate, _Message  # noqa: E402
from bot.matching.normalise import normalise  # noqa: E402
from bot.matching.words import WORD_RE  # noqa: E402

SEED = 20240601
COUNT = 20_000
ROUNDS = 5

EVERYDAY = [
    "Світло дали о 18:00, у кого ще нема?", "Хтось знає, чи працює сьогодні ЦНАП на Оболоні?",
    "На Позняках відключили воду до вечора", "Кто знает хорошего стоматолога в центре?",
    "Продам дитячий візок, стан ідеальний, фото в особисті", "Біля метро Лісова пробка, аварія на перехресті",
    "Ціни на яйця знову зросли, 70 грн десяток", "Отключения света по графику, очередь 3",
    "Шукаю репетитора з англійської для дитини 10 років", "Маршрутку 407 скасували чи просто запізнюється?",
    "Тривога, всі в укриття! Над областю дрони", "Сьогодні в парку концерт, вхід вільний 🎶",
    "Хто їде завтра до Львова машиною, візьміть посилку", "Загубився паспорт на ім'я Іваненко",
    "Где купить генератор подешевле?", "Вибухи чути на лівому березі, ППО працює",
    "Дякуємо ЗСУ за ще одну спокійну ніч", "У кого є номер сантехніка? Терміново",
    "Біля АТБ роздають безкоштовно каву ☕", "Хто бачив рудого пса біля школи? Втік з двору",
    "Новий паркінг біля ТРЦ, перші дві години безкоштовно", "Ветерани відкрили кав'ярню на Подолі",
]
TOPICAL = [
    "ТЦК на блокпосту на виїзді з міста, перевіряють всіх", "пікселі пакують біля метро, обережно",
    "Т.Ц.К біля ринку", "Повiстки роздають біля ТРЦ", "Брат пішов у СЗЧ, що робити",
    "бусифікували сусіда прямо біля під'їзду", "Бус до Польщі, є місця на суботу",
    "Їдемо на лижі в Буковель", "Повістка дня сесії міськради", "Пакую посилку на Нову пошту",
]


def messages(count: int, seed: int = SEED) -> list[str]:
    rnd = random.Random(seed)
    out = []
    for _ in range(count):
        parts: list[str] = []
        target = rnd.randint(100, 300)
        while sum(len(p) + 1 for p in parts) < target:
            parts.append(rnd.choice(TOPICAL) if rnd.random() < 0.04 else rnd.choice(EVERYDAY))
        text = " ".join(parts)[:target]
        if rnd.random() < 0.05:
            text = text.replace("о", "o", 1)  # a Latin look-alike slipped in
        out.append(text)
    return out


def measure(fn, texts: list[str]) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for text in texts:
            fn(text)
        best = min(best, time.perf_counter() - started)
    return len(texts) / best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=COUNT)
    parser.add_argument("--no-record", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args()

    rules = load_rules(ROOT / "keywords.example.toml")
    texts = messages(args.count)
    matched = sum(bool(match(rules, t)) for t in texts)  # also warms every cache

    indexed = measure(lambda t: match(rules, t), texts)
    enabled = [r for r in rules.rules if r.enabled]

    def every_rule(text: str) -> None:
        message = _Message(rules, text)
        for rule in enabled:
            _evaluate(rule, message, None, rules.kind_of(None), rules.settings)

    unindexed = measure(every_rule, texts)
    # The raw reference: what no matcher can avoid (normalising and splitting into words).
    raw = measure(lambda t: WORD_RE.findall(normalise(t).text), texts)
    chars = sum(map(len, texts)) / len(texts)
    print(f"{len(texts)} messages, {chars:.0f} chars on average, {matched} matched ({matched / len(texts):.1%})")
    print(f"normalise + match, indexed:            {indexed:,.0f} msgs/s")
    print(f"normalise + every rule, no index:      {unindexed:,.0f} msgs/s")
    print(f"raw reference, normalise + split:      {raw:,.0f} msgs/s (match runs at {indexed / raw:.2f} of it)")

    if not args.no_record:
        record("Matching", ".venv/bin/python bench/bench_matching.py", f"""
One core, single process. Workload: {len(texts)} generated messages (seed {SEED}), {chars:.0f} characters
on average, {matched / len(texts):.1%} matching a topic; default `keywords.example.toml`; warm caches;
best of {ROUNDS} rounds.

| what | msgs/s |
|---|---:|
| normalise + match (lemma index → candidate rules) | {indexed:,.0f} |
| normalise + evaluate every rule (no index) | {unindexed:,.0f} |
| raw reference: normalise + split into words | {raw:,.0f} |

Ratio of match to the raw reference: {indexed / raw:.2f}. Rules: {len(enabled)} enabled (kinds, typo
tolerance, numbers and emoji as words, history guard); a message of unknown chat kind.
""")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
