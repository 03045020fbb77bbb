"""How well the keywords file finds the labelled topics of a JSONL set, by topic, language and chat kind.

    .venv/bin/python bench/eval_rules.py tests/data/heldout_messages.jsonl
    .venv/bin/python bench/eval_rules.py dev_messages.jsonl --part tune      # the part rules may be tuned on
    .venv/bin/python bench/eval_rules.py dev_messages.jsonl --part held-out  # aggregate numbers only
    .venv/bin/python bench/eval_rules.py set.jsonl --errors                  # each mistake (never on held-out)
    .venv/bin/python bench/eval_rules.py set.jsonl --no-chat                 # as if no line said its chat

Lines are {"id", "text", "topics": [...], "lang"?, "chat"?} and go through the same code path as
`dozor check --jsonl` (bot.commands.check.check_line). A set is split by the sha256 of each id:
HELD_OUT_SHARE of the ids fall in the held-out part, the same ones on every machine and run.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.commands.check import check_line  # noqa: E402
from bot.matching import load_rules  # noqa: E402

HELD_OUT_SHARE = 0.4


def held_out(message_id: str) -> bool:
    """True for the ~40% of ids never looked at while tuning (a fixed function of the id)."""
    digest = hashlib.sha256(str(message_id).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") < HELD_OUT_SHARE * 2**32


def part(rows: list[dict], which: str) -> list[dict]:
    if which == "all":
        return rows
    keep = which == "held-out"
    return [r for r in rows if held_out(r["id"]) == keep]


class Score:
    def __init__(self) -> None:
        self.tp = self.fp = self.fn = 0
        self.negatives = self.negatives_flagged = 0

    def add(self, got: set[str], expected: set[str]) -> None:
        self.tp += len(got & expected)
        self.fp += len(got - expected)
        self.fn += len(expected - got)
        if not expected:
            self.negatives += 1
            self.negatives_flagged += bool(got)

    def row(self, name: str, count: int) -> str:
        p = self.tp / ((self.tp + self.fp) or 1)
        r = self.tp / ((self.tp + self.fn) or 1)
        f1 = 2 * p * r / ((p + r) or 1)
        flagged = f"{self.negatives_flagged / self.negatives:6.1%}" if self.negatives else "     -"
        return f"{name:<22} {count:>5} {p:6.3f} {r:6.3f} {f1:6.3f} {flagged:>8} {self.tp:4} {self.fp:4} {self.fn:4}"


def evaluate(rows: list[dict], rules, use_chat: bool = True) -> tuple[str, list[str], float]:
    """(table, mistakes, micro-F1)."""
    overall = Score()
    by: dict[str, Score] = defaultdict(Score)
    counts: dict[str, int] = defaultdict(int)
    mistakes = []
    for row in rows:
        item = dict(row) if use_chat else {k: v for k, v in row.items() if k != "chat"}
        got = set(check_line(rules, item)["topics"])
        expected = set(row["topics"])
        groups = [f"lang={row.get('lang', '?')}", f"chat={row.get('chat', '?')}"] + [
            f"topic={t}" for t in rules.topics]
        overall.add(got, expected)
        for group in groups[:2]:
            by[group].add(got, expected)
            counts[group] += 1
        for topic in rules.topics:
            by[f"topic={topic}"].add(got & {topic}, expected & {topic})
            counts[f"topic={topic}"] += 1
        if got != expected:
            mistakes.append(f"{row['id']} [{row.get('chat', '?')}] expected {sorted(expected)} got {sorted(got)}: "
                            f"{row['text']}")
    header = f"{'':<22} {'n':>5} {'P':>6} {'R':>6} {'F1':>6} {'neg.flag':>8} {'tp':>4} {'fp':>4} {'fn':>4}"
    lines = [header, overall.row("micro (all topics)", len(rows))]
    lines += [by[name].row(name, counts[name]) for name in sorted(by)]
    p = overall.tp / ((overall.tp + overall.fp) or 1)
    r = overall.tp / ((overall.tp + overall.fn) or 1)
    return "\n".join(lines), mistakes, 2 * p * r / ((p + r) or 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--keywords", type=Path, default=ROOT / "keywords.example.toml")
    parser.add_argument("--part", choices=("all", "tune", "held-out"), default="all")
    parser.add_argument("--errors", action="store_true", help="list each mistake (refused for the held-out part)")
    parser.add_argument("--no-chat", action="store_true", help="ignore the lines' chat field")
    args = parser.parse_args()
    if args.errors and args.part == "held-out":
        parser.error("the held-out part is scored in aggregate only")
    rows = [json.loads(line) for line in args.file.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = part(rows, args.part)
    table, mistakes, _ = evaluate(rows, load_rules(args.keywords), use_chat=not args.no_chat)
    print(f"{args.file} ({args.part}, {len(rows)} messages{', chat ignored' if args.no_chat else ''})")
    print(table)
    if args.errors:
        print("\n".join(mistakes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
