"""Where the training data lives: the project's labelled sets, the shared development set.

    paths = project_sets()                 # tests/data/*.jsonl of this checkout
    shared = find_shared()                 # ../shared/keywords/dev_messages.jsonl, or None

The shared development set was written independently of the project, for every engineer to
evaluate on; it is used for training where found, and is never copied into the repository
(its texts are not quoted as explanations either).
"""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SHARED_NAME = "dev_messages.jsonl"
# a checkout sits in the project folder (../shared) or in a worktree folder below it (../../shared)
SHARED_PLACES = (ROOT.parent / "shared" / "keywords", ROOT.parent.parent / "shared" / "keywords")


def project_sets(root: Path = ROOT) -> list[Path]:
    return sorted((root / "tests" / "data").glob("*.jsonl"))


def find_shared() -> Path | None:
    for place in SHARED_PLACES:
        if (place / SHARED_NAME).is_file():
            return place / SHARED_NAME
    return None


class SharedSetMissing(Exception):
    """The shared development set is wanted for training but not found."""


def training_data(shared: Path | None, use_shared: bool = True, labels: list | None = None,
                  root: Path = ROOT) -> tuple[list, list[dict]]:
    """(Examples in a fixed order, the record of the sets they came from) for `train`;
    `labels`: the archive's labels as examples (examples.from_labels), oldest first.

    The project's sets come first in name order, then the shared set, then the archive's labels
    (oldest first), so the same data always gives the same model."""
    from bot.classifier.examples import file_sha256, read_set

    examples, record = [], []
    for path in project_sets(root):
        found = read_set(path)
        examples += found
        record.append({"name": path.name, "place": "tests/data", "examples": len(found),
                       "sha256": file_sha256(path)})
    if use_shared:
        shared = shared or find_shared()
        if shared is None or not shared.is_file():
            places = " or ".join(str(p) for p in SHARED_PLACES) if shared is None else str(shared)
            raise SharedSetMissing(
                f"the shared development set {SHARED_NAME} is not in {places}; pass --shared FILE, "
                "or --without-shared to train without it (the model will then differ from the shipped one)")
        found = read_set(shared, shown=False)
        examples += found
        record.append({"name": shared.name, "place": "shared/keywords", "examples": len(found),
                       "sha256": file_sha256(shared)})
    if labels:
        examples += labels
        record.append({"name": "archive labels", "place": "archive", "examples": len(labels)})
    return examples, record
