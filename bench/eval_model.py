"""Leave one labelled set out: train on the others, score rules, model and both on the one left out.

    .venv/bin/python bench/eval_model.py              # prints tables, appends to bench/RESULTS.md
    .venv/bin/python bench/eval_model.py --no-record

Sets: the project's tests/data/*.jsonl and the shared development set (when found). Rules are
the repository's keywords.example.toml as they stand; they were written with the project's own
sets in view, so only the shared set is unseen by them. Negatives are the messages of no topic:
in these sets nearly all of them are look-alikes written to fool a keyword filter.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import record  # noqa: E402
from bot.classifier.classifier import Classifier  # noqa: E402
from bot.classifier.examples import read_set  # noqa: E402
from bot.classifier.modelfile import load, save  # noqa: E402
from bot.classifier.sets import find_shared, project_sets  # noqa: E402
from bot.classifier.train import train  # noqa: E402
from bot.matching import load_rules, match  # noqa: E402

KEYWORDS = ROOT / "keywords.example.toml"


def score(truth: list[frozenset], got: list[set], topics: list[str]) -> dict:
    out = {}
    tp_all = fp_all = fn_all = 0
    for topic in topics:
        tp = sum(topic in g and topic in t for t, g in zip(truth, got))
        fp = sum(topic in g and topic not in t for t, g in zip(truth, got))
        fn = sum(topic not in g and topic in t for t, g in zip(truth, got))
        out[topic] = (tp / (tp + fp) if tp + fp else 1.0, tp / (tp + fn) if tp + fn else 1.0)
        tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
    precision = tp_all / (tp_all + fp_all) if tp_all + fp_all else 1.0
    recall = tp_all / (tp_all + fn_all) if tp_all + fn_all else 1.0
    out["micro"] = (precision, recall, 2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    negatives = [g for t, g in zip(truth, got) if not t]
    out["negatives"] = (sum(bool(g) for g in negatives), len(negatives))
    return out


def evaluate(tmp: Path) -> str:
    rules = load_rules(KEYWORDS)
    topics = list(rules.topics)
    sets = {p.name: read_set(p) for p in project_sets()}
    shared = find_shared()
    if shared is not None:
        sets[shared.name] = read_set(shared, shown=False)
    lines = []
    for held, test in sets.items():
        training = [e for name, examples in sets.items() if name != held for e in examples]
        trained = train(training, topics, lambda e: match(rules, e.text).topics)
        save(trained, tmp / "model.npz", sets=[])
        classifier = Classifier(load(tmp / "model.npz"))
        rules_only = [match(rules, e.text) for e in test]
        combined = classifier.second_opinion([(e.text, r) for e, r in zip(test, rules_only)])
        scores = classifier.scores([e.text for e in test])
        # the model on its own, at even odds: its found thresholds are set for where the rules are silent
        model_only = [{t for t, s in zip(classifier.topics, row) if s >= 0.5} for row in scores]
        truth = [e.topics for e in test]
        reviews = sum(bool(r.review) for r in combined)
        lines.append(f"\n### {held} left out ({len(test)} messages; trained on {len(training)})\n")
        lines.append("| | " + " | ".join(f"{t} P / R" for t in topics) + " | micro P / R / F1 | negatives flagged |")
        lines.append("|---|" + "---:|" * (len(topics) + 2))
        for name, got in (("rules", [set(r.topics) for r in rules_only]), ("model alone (p ≥ 0.5)", model_only),
                          ("rules + model", [set(r.topics) for r in combined])):
            s = score(truth, got, topics)
            cells = [f"{s[t][0]:.2f} / {s[t][1]:.2f}" for t in topics]
            p, r, f = s["micro"]
            flagged, negatives = s["negatives"]
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {p:.2f} / {r:.2f} / **{f:.3f}** | "
                         f"{flagged}/{negatives} ({flagged / max(negatives, 1):.1%}) |")
        lines.append(f"\nTo review (model unsure, no topic found): {reviews} of {len(test)} messages. "
                     f"Thresholds (found / review): " + ", ".join(
                         f"{t} {th.found:.2f} / {th.review:.2f}" for t, th in trained.thresholds.items()))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        body = evaluate(Path(tmp))
    print(body)
    if not args.no_record:
        record("Model: leave one labelled set out", ".venv/bin/python bench/eval_model.py", body)


if __name__ == "__main__":
    main()
