"""Labelled examples the model learns from: the project's JSONL sets and the archive's labels.

    examples = read_set(Path("tests/data/labelled_messages.jsonl"))
    examples += from_labels(await current_labels(archive))
    targets = topic_targets(examples, "szch")       # [(example, True|False), …]

A JSONL set says every topic of each message (a missing topic means "not about it"); an archive
label speaks about one topic only, so it is a target for that topic and silent about the others.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable


class ExamplesError(Exception):
    """A labelled set cannot be read; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Example:
    id: str
    text: str
    source: str  # the set's file name, or "archive"
    topics: frozenset[str] = frozenset()  # topics it is about
    judged: frozenset[str] | None = None  # topics it was judged on; None: every topic
    shown: bool = True  # may be quoted as an explanation (its text may be stored in the model file)
    chat: object = None  # the bot.model.Chat it was posted in, when known (rules limited to some chats)

    def target(self, topic: str) -> bool | None:
        if self.judged is not None and topic not in self.judged:
            return None
        return topic in self.topics


def read_set(path: Path, shown: bool = True) -> list[Example]:
    """Lines {"id", "text", "topics": [...]}; ExamplesError naming file:line for a bad one."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise ExamplesError(f"{path}: cannot read ({error.strerror})") from None
    examples = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            text, topics = item["text"], item["topics"]
            if not isinstance(text, str) or not isinstance(topics, list):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise ExamplesError(f'{path}:{number}: expected {{"id", "text", "topics": [...]}}') from None
        examples.append(Example(id=str(item.get("id", f"{path.name}:{number}")), text=text, source=path.name,
                                topics=frozenset(topics), shown=shown))
    return examples


def from_labels(labels: Iterable, chats: dict | None = None) -> list[Example]:
    """Archive labels (bot.archive.labels.Label, the judgements in force) as examples;
    `chats`: chat id → bot.model.Chat, so that rules limited to some chats are judged fairly."""
    examples = []
    chats = chats or {}
    for label in labels:
        where = f"{label.chat_id}/{label.message_id}" if label.chat_id is not None else "text"
        # never quoted: the archive's texts stay in the archive, not in a model file
        examples.append(Example(id=f"label:{where}:{label.topic}", text=label.text, source="archive",
                                topics=frozenset([label.topic]) if label.correct else frozenset(),
                                judged=frozenset([label.topic]), shown=False, chat=chats.get(label.chat_id)))
    return examples


def topic_targets(examples: Iterable[Example], topic: str) -> list[tuple[Example, bool]]:
    return [(e, t) for e in examples if (t := e.target(topic)) is not None]


def fingerprint(examples: Iterable[Example]) -> str:
    """SHA-256 of the training data as the model saw it (texts, targets, order)."""
    digest = hashlib.sha256()
    for e in examples:
        judged = sorted(e.judged) if e.judged is not None else None
        digest.update(json.dumps([e.source, e.id, e.text, sorted(e.topics), judged],
                                 ensure_ascii=False).encode() + b"\n")
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
