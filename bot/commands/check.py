"""`dozor check`: which topics a text matches, which rule fired and on which words.

    dozor check "ТЦК пакують біля метро"
    dozor check "пікселі біля АТБ" --chat @kyiv_obolon_chat
    dozor check --jsonl messages.jsonl > results.jsonl     # lines {"id": …, "text": …, "chat"?: …}; "-" for stdin

The model (DOZOR_MODEL) gives its opinion on topics no rule found: "found by the model" when
confident (counted in `topics`, as the digest lists it), "to review" when not (`review`), each
with the labelled examples it resembles. JSONL lines: id, topics, review, rules (ids), evidence
(each rule's topic, term and span) and model (topic, score, found, like).

No Telegram session is needed: this is for moderators trying out the keywords file. A JSONL line's
"chat" is a kind of chat from the keywords file (city, news, other …) or a chat as the file writes
chats (@name, t.me/name, -100…); without it (and without --chat) the text counts as posted in a chat
the file does not list. With no keywords file configured and no keywords.toml, the shipped
keywords.example.toml is used, and stderr says so.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bot.config import Settings, load_settings
from bot.display import shown
from bot.matching import Rules, RulesError, load_rules, match
from bot.matching.rules import chat_reference
from bot.model import MODEL_RULE, Chat, Match

HELP = "match a text (or a JSONL file of texts) against the keywords file, without Telegram"

_BOLD_RED = "\033[1;31m"
_RESET = "\033[0m"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", nargs="?", help="the message text to check")
    parser.add_argument("--keywords", type=Path, default=None, help="keywords file (default: DOZOR_KEYWORDS)")
    parser.add_argument("--chat", default=None,
                        help="pretend the text was posted in this chat (@username, numeric id) or kind of chat (city, news …)")
    parser.add_argument("--jsonl", default=None, metavar="FILE",
                        help='read lines {"id": …, "text": …} from FILE ("-" for stdin), write one result per line')


def main(args: argparse.Namespace) -> int:
    if (args.text is None) == (args.jsonl is None):
        print('dozor check: give either a text or --jsonl FILE', file=sys.stderr)
        return 2
    try:
        rules = load_rules(keywords_path(args))
    except RulesError as error:
        print(f"dozor check: {error}", file=sys.stderr)
        return 2
    chat, kind = where(rules, args.chat)
    model = _model(args)
    if args.jsonl is not None:
        return _check_jsonl(rules, args.jsonl, chat, kind, model)
    _show(rules, args.text, chat, kind, sys.stdout.isatty(), model)
    return 0


def _model(args: argparse.Namespace):
    """DOZOR_MODEL's classifier; a broken or missing one is named, and the rules work alone."""
    from bot.classifier import ModelError, load_classifier

    try:
        return load_classifier(load_settings(args.config).model)
    except ModelError as error:
        print(f"dozor check: model not used, rules only: {error}", file=sys.stderr)
        return None


def _result(rules: Rules, text: str, chat: Chat | None, kind: str | None, model):
    result = match(rules, text, chat, kind)
    return model.second_opinion([(text, result)])[0] if model is not None else result


_SHIPPED = Path(__file__).resolve().parent.parent.parent / "keywords.example.toml"


def keywords_path(args: argparse.Namespace) -> Path:
    """--keywords if given, else the configured DOZOR_KEYWORDS; the shipped example on a fresh clone."""
    if args.keywords is not None:
        return args.keywords
    path = load_settings(args.config).keywords
    if path == Settings.keywords and not path.exists():
        for example in (Path("keywords.example.toml"), _SHIPPED):
            if example.exists():
                print(f"dozor: no {path} and DOZOR_KEYWORDS is not set; using {example}", file=sys.stderr)
                return example
    return path


def where(rules: Rules, text: str | None) -> tuple[Chat | None, str | None]:
    """A chat reference (@name, t.me/name, id; a bare name is taken as @name) or a kind of chat."""
    if text is None:
        return None, None
    text = text.strip()
    if text in rules.kind_names():
        return None, text
    return chat_reference(text) or chat_reference("@" + text) or Chat(id=0, title=text, username=text), None


def check_line(rules: Rules, item: dict, chat: Chat | None = None, kind: str | None = None,
               model=None) -> dict:
    """One JSONL result: the line's own "chat" (a kind or a chat) wins over --chat."""
    if isinstance(item.get("chat"), (str, int)) and not isinstance(item.get("chat"), bool):
        chat, kind = where(rules, str(item["chat"]))
    text = item["text"]
    result = _result(rules, text if isinstance(text, str) else "", chat, kind, model)
    return {"id": item.get("id"), "topics": result.topics, "review": result.review,
            "rules": [m.rule for m in result.matches if m.rule != MODEL_RULE],
            "evidence": [{"topic": m.topic, "rule": m.rule, "term": m.term, "span": [m.start, m.end]}
                         for m in result.matches if m.rule != MODEL_RULE],
            "model": [{"topic": o.topic, "score": o.score, "found": o.found, "like": list(o.like)}
                      for o in result.opinions]}


def _show(rules: Rules, text: str, chat: Chat | None, kind: str | None, colour: bool, model=None) -> None:
    result = _result(rules, text, chat, kind, model)
    if not result:
        print("no match")
    for m in result.matches:
        if m.rule == MODEL_RULE:
            continue
        print(f"{m.topic} ({rules.topics.get(m.topic, m.topic)}): rule {m.rule!r}, term {m.term!r}")
        print(f"  {highlight(text, m, colour)}")
    for opinion in result.opinions:
        title = f"{opinion.topic} ({rules.topics.get(opinion.topic, opinion.topic)})"
        verdict = "found by the model" if opinion.found else "to review: the model is unsure"
        print(f"{title}: {verdict} ({opinion.score:.2f}), like these labelled examples:")
        for example in opinion.like:
            print(f"  «{example}»")
    print(f"language: {result.language or 'unknown'}")


def highlight(text: str, m: Match, colour: bool) -> str:
    """The text with the matched span in bold red (a terminal) or in [[double brackets]] (a pipe)."""
    # cleaned piece by piece: the span indexes the text as posted
    before, inside, after = shown(text[: m.start]), shown(text[m.start: m.end]), shown(text[m.end:])
    if colour:
        return f"{before}{_BOLD_RED}{inside}{_RESET}{after}"
    return f"{before}[[{inside}]]{after}"


def _check_jsonl(rules: Rules, source: str, chat: Chat | None, kind: str | None, model=None) -> int:
    """Exit 0 when every line was checked, 1 when some lines were not (each one named)."""
    try:
        stream = sys.stdin if source == "-" else open(source, encoding="utf-8")
    except OSError as error:
        print(f"dozor check: cannot read {source}: {error.strerror}", file=sys.stderr)
        return 2
    bad = 0
    try:
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                item["text"]
            except (ValueError, KeyError, TypeError):
                bad += 1
                print(f"dozor check: {source}:{number}: not a JSON object with a \"text\"", file=sys.stderr)
                continue
            print(shown(json.dumps(check_line(rules, item, chat, kind, model), ensure_ascii=False)))
    finally:
        if stream is not sys.stdin:
            stream.close()
    if bad:
        print(f"dozor check: {bad} line(s) of {source} were not checked", file=sys.stderr)
    return 1 if bad else 0
