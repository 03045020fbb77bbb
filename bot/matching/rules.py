"""The keywords file (TOML) → compiled, indexed rules.

    rules = load_rules(Path("keywords.toml"))       # RulesError on any mistake
    rules.topics                                     # {'szch': 'СЗЧ і дезертирство', …}
    str(error)   # "keywords.toml:12: unknown key 'requries' in rule 'szch-core' (expected one of …)"

The file is written by moderators, not programmers, so every mistake is reported with its line
and with what to write instead. tomllib gives the line of syntax errors; for everything else
(unknown key, bad term, duplicate id, unknown group, wrong type) the line is found by scanning
the text for the table or key at fault.
"""
from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from bot.chat_refs import parse_chat
from bot.matching.terms import AtomIndex, Term, TermError, compile_term
from bot.model import Chat

DEFAULT_NEAR = 3
MAX_NEAR = 50
_TOP_KEYS = ("settings", "topics", "kinds", "groups", "rule")
_RULE_KEYS = ("id", "topic", "terms", "requires", "unless", "unless_near", "near", "chats", "kinds",
              "history_guard", "enabled", "must_match", "must_not_match")
# Kinds of chat that always exist; [kinds] lists which chats are which and may add more.
BUILTIN_KINDS = ("city", "news", "other")
UNKNOWN_KIND = "unknown"  # a chat that [kinds] does not list, or a text with no chat at all


@dataclass(frozen=True, slots=True)
class Settings:
    """The [settings] table: switches of the matching engine."""

    typo_min_length: int = 7  # terms this long tolerate one wrong letter; 0: never
    history_before: int = 2014  # a year before this near a term: history, not news; 0: no guard
    history_near: int = 6  # how many words count as near a year
    unknown_chat: str = UNKNOWN_KIND  # the kind a chat counts as when [kinds] does not list it


_SETTINGS_RANGES = {"typo_min_length": (0, 40), "history_before": (0, 3000), "history_near": (1, MAX_NEAR)}
_TERM_KEYS = ("terms", "requires", "unless", "unless_near")
_ID_RE = re.compile(r"[\w.-]+")


class RulesError(Exception):
    """A mistake in the keywords file; str() is 'file:line: what is wrong'."""

    def __init__(self, problem: str, source: str = "<keywords>", line: int | None = None):
        self.problem = problem
        self.source = source
        self.line = line
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True, slots=True)
class ChatScope:
    """The chats a rule is meant for, as usernames (casefolded) and marked ids."""

    usernames: frozenset[str]
    ids: frozenset[int]
    example_chat: Chat  # the chat a rule's examples pretend to be posted in

    def admits(self, chat: Chat | None) -> bool:
        if chat is None:
            return False
        return chat.id in self.ids or bool(chat.username and chat.username.casefold() in self.usernames)


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    topic: str
    terms: tuple[Term, ...]
    requires: tuple[Term, ...] = ()
    unless: tuple[Term, ...] = ()
    unless_near: tuple[Term, ...] = ()
    near: int = DEFAULT_NEAR
    scope: ChatScope | None = None  # None: every chat (unless `kinds` limits it)
    kinds: frozenset[str] | None = None  # None: chats of every kind
    history_guard: bool = True
    enabled: bool = True
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Example:
    """A message in the file that must (or must not) match its rule."""

    rule: str
    topic: str
    text: str
    should_match: bool
    chat: Chat | None
    line: int | None
    kind: str | None = None  # the kind of chat the example counts as posted in


@dataclass(frozen=True)
class Rules:
    topics: dict[str, str]  # topic id → title
    rules: tuple[Rule, ...]  # in file order; the first rule that fires names a topic's match
    examples: tuple[Example, ...]
    index: AtomIndex
    triggers: dict[int, tuple[int, ...]]  # atom → positions in `rules` whose terms start with it
    source: str = "<keywords>"
    settings: Settings = Settings()
    kinds: dict[str, ChatScope] = field(default_factory=dict)  # kind name → its chats

    def rule(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)

    def kind_names(self) -> tuple[str, ...]:
        return (*self.kinds, UNKNOWN_KIND)

    def kind_of(self, chat: Chat | None) -> str:
        """The kind [kinds] gives `chat`; the unknown_chat setting for a chat it does not list."""
        if chat is not None:
            for name, scope in self.kinds.items():
                if scope.admits(chat):
                    return name
        return self.settings.unknown_chat


def load_rules(path: Path) -> Rules:
    """Read and compile a keywords file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RulesError(f"cannot read the file: {error}", str(path)) from None
    return parse_rules(text, str(path))


def parse_rules(text: str, source: str = "<keywords>") -> Rules:
    """Compile the text of a keywords file; RulesError names the line of the first mistake."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        m = re.search(r"\s*\(at line (\d+), column \d+\)", message)
        line = int(m.group(1)) if m else None
        problem = message[: m.start()] if m else message
        raise RulesError(f"not valid TOML: {problem}", source, line) from None
    return _Compiler(text, source).compile(data)


class _Compiler:
    def __init__(self, text: str, source: str):
        self.source = source
        self.where = _Locator(text)
        self.index = AtomIndex()
        self.settings = Settings()
        self.kinds: dict[str, ChatScope] = {}

    def fail(self, problem: str, line: int | None) -> RulesError:
        return RulesError(problem, self.source, line)

    def compile(self, data: dict) -> Rules:
        for key in data:
            if key not in _TOP_KEYS:
                raise self.fail(_unknown(key, "at the top level", _TOP_KEYS), self.where.top_key(key))
        self.settings = self.read_settings(data.get("settings", {}))
        self.index = AtomIndex(self.settings.typo_min_length)
        topics = self.topics(data.get("topics"))
        groups = self.groups(data.get("groups", {}))
        self.kinds = self.read_kinds(data.get("kinds", {}))
        if self.settings.unknown_chat not in (*self.kinds, UNKNOWN_KIND):
            raise self.fail(_unknown(self.settings.unknown_chat, "as unknown_chat in [settings]",
                                     (*self.kinds, UNKNOWN_KIND), what="kind"),
                            self.where.key(("settings",), "unknown_chat"))
        raw_rules = data.get("rule", [])
        if not isinstance(raw_rules, list) or not all(isinstance(r, dict) for r in raw_rules):
            raise self.fail("'rule' must be a list of [[rule]] tables", self.where.top_key("rule"))
        rules: list[Rule] = []
        examples: list[Example] = []
        seen: dict[str, int] = {}
        for n, raw in enumerate(raw_rules):
            rule, rule_examples = self.rule(n, raw, topics, groups)
            if rule.id in seen:
                raise self.fail(f"duplicate rule id {rule.id!r} (first used by rule #{seen[rule.id] + 1}); "
                                "give each rule its own id", self.where.key(("rule", n), "id"))
            seen[rule.id] = n
            rules.append(rule)
            examples.extend(rule_examples)
        triggers: dict[int, list[int]] = {}
        for position, rule in enumerate(rules):
            if not rule.enabled:
                continue
            for term in rule.terms:
                for atom in term.first_atoms:
                    bucket = triggers.setdefault(atom, [])
                    if not bucket or bucket[-1] != position:
                        bucket.append(position)
        return Rules(topics, tuple(rules), tuple(examples), self.index,
                     {atom: tuple(ps) for atom, ps in triggers.items()}, self.source, self.settings, self.kinds)

    def read_settings(self, raw) -> Settings:
        if not isinstance(raw, dict):
            raise self.fail("[settings] must be a table of  name = value", self.where.top_key("settings"))
        names = tuple(Settings.__dataclass_fields__)
        values = {}
        for key, value in raw.items():
            line = self.where.key(("settings",), key)
            if key not in names:
                raise self.fail(_unknown(key, "in [settings]", names), line)
            if key == "unknown_chat":
                if not isinstance(value, str) or not value.strip():
                    raise self.fail("unknown_chat must be the name of a kind of chat, e.g. \"city\"", line)
                values[key] = value
                continue
            low, high = _SETTINGS_RANGES[key]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise self.fail(f"{key} must be a whole number from {low} to {high}", line)
            values[key] = value
        return Settings(**values)

    def read_kinds(self, raw) -> dict[str, ChatScope]:
        """[kinds]: kind name → chats of that kind; city, news and other exist even when not listed."""
        if not isinstance(raw, dict):
            raise self.fail("[kinds] must map a kind of chat (city, news, other …) to a list of chats",
                            self.where.top_key("kinds"))
        kinds = {name: ChatScope(frozenset(), frozenset(), None) for name in BUILTIN_KINDS}
        for name, chats in raw.items():
            line = self.where.key(("kinds",), name)
            if name == UNKNOWN_KIND or not _ID_RE.fullmatch(name):
                raise self.fail(f"kind {name!r}: use letters, digits, '_', '-' or '.' (and not {UNKNOWN_KIND!r}, "
                                "which is what a chat not listed here counts as)", line)
            refs = _as_list(chats, (str, int)) if chats != [] else []
            if refs is None:
                raise self.fail(f"kind {name!r} must be a list of chats (@username, t.me/name or a numeric id)", line)
            parsed = self.chats(f"kind {name!r}", refs, line)
            kinds[name] = _scope(parsed) if parsed else ChatScope(frozenset(), frozenset(), None)
        return kinds

    def chats(self, what: str, refs: list, line):
        """Each reference of a list as a chat; the first that is none is reported at its line."""
        parsed = []
        for ref in refs:
            chat = chat_reference(ref)
            if chat is None:
                raise self.fail(f"{what}: {ref!r} is not a chat; write @username, t.me/name "
                                "or a numeric id such as -1001234567890", self.where.value(line, ref))
            parsed.append(chat)
        return parsed

    def topics(self, raw) -> dict[str, str]:
        line = self.where.table("topics")
        if raw is None:
            raise self.fail("no [topics] table: list each topic as  id = \"Title\"", None)
        if not isinstance(raw, dict) or not raw:
            raise self.fail("[topics] must map each topic id to its title, e.g. szch = \"СЗЧ\"", line)
        for topic, title in raw.items():
            if not isinstance(title, str) or not title.strip():
                raise self.fail(f"topic {topic!r}: the title must be a non-empty string",
                                self.where.key(("topics",), topic))
            if not _ID_RE.fullmatch(topic):
                raise self.fail(f"topic id {topic!r}: use letters, digits, '_', '-' or '.'",
                                self.where.key(("topics",), topic))
        return dict(raw)

    def groups(self, raw) -> dict[str, ChatScope]:
        if not isinstance(raw, dict):
            raise self.fail("[groups] must map a group name to a list of chats", self.where.top_key("groups"))
        groups = {}
        for name, chats in raw.items():
            line = self.where.key(("groups",), name)
            refs = _as_list(chats, (str, int))
            if refs is None or not refs:
                raise self.fail(f"group {name!r} must be a list of chats (@username, t.me/name or a numeric id)",
                                line)
            groups[name] = self.chats(f"group {name!r}", refs, line)
        return {name: _scope(refs) for name, refs in groups.items()}

    def rule(self, n: int, raw: dict, topics: dict[str, str], groups: dict[str, ChatScope]):
        block = ("rule", n)
        header = self.where.table_line(block)
        rule_id = raw.get("id")
        label = f"rule {rule_id!r}" if isinstance(rule_id, str) else f"rule #{n + 1}"
        for key in raw:
            if key not in _RULE_KEYS:
                raise self.fail(_unknown(key, f"in {label}", _RULE_KEYS), self.where.key(block, key))
        if not isinstance(rule_id, str) or not _ID_RE.fullmatch(rule_id):
            problem = (f"{label} has no id; add  id = \"short-name\"" if rule_id is None
                       else f"{label}: id must be a short name of letters, digits, '_', '-' or '.'")
            raise self.fail(problem, self.where.key(block, "id") or header)
        topic = raw.get("topic")
        if not isinstance(topic, str):
            raise self.fail(f"{label} needs  topic = \"…\"  (one of: {', '.join(topics)})",
                            self.where.key(block, "topic") or header)
        if topic not in topics:
            raise self.fail(_unknown(topic, f"as topic of {label}", tuple(topics), what="topic"),
                            self.where.key(block, "topic"))

        compiled: dict[str, tuple[Term, ...]] = {}
        for key in _TERM_KEYS:
            if key not in raw:
                compiled[key] = ()
                continue
            values = _as_list(raw[key], (str,))
            line = self.where.key(block, key)
            if values is None:
                raise self.fail(f"{label}: {key} must be a list of strings, e.g. {key} = [\"ТЦК\"]", line)
            terms = []
            for value in values:
                try:
                    terms.append(compile_term(value, self.index))
                except TermError as error:
                    raise self.fail(f"{label}: bad term {value!r} in {key}: {error}",
                                    self.where.value(line, value)) from None
            compiled[key] = tuple(terms)
        if not compiled["terms"]:
            raise self.fail(f"{label} needs at least one term: terms = [\"…\"]", self.where.key(block, "terms") or header)

        near = raw.get("near", DEFAULT_NEAR)
        if isinstance(near, bool) or not isinstance(near, int) or not 1 <= near <= MAX_NEAR:
            raise self.fail(f"{label}: near must be a whole number of words from 1 to {MAX_NEAR}",
                            self.where.key(block, "near"))
        if "near" in raw and not compiled["unless_near"]:
            raise self.fail(f"{label}: near only applies to unless_near, which this rule does not have",
                            self.where.key(block, "near"))
        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            raise self.fail(f"{label}: enabled must be true or false (without quotes)",
                            self.where.key(block, "enabled"))
        scope = self.scope(raw, label, block, groups)
        kinds = self.rule_kinds(raw, label, block)
        history_guard = raw.get("history_guard", True)
        if not isinstance(history_guard, bool):
            raise self.fail(f"{label}: history_guard must be true or false (without quotes)",
                            self.where.key(block, "history_guard"))

        rule = Rule(rule_id, topic, compiled["terms"], compiled["requires"], compiled["unless"],
                    compiled["unless_near"], near, scope, kinds, history_guard, enabled, header)
        example_chat = scope.example_chat if scope else None
        # Examples count as posted in the rule's first chat, else in a chat of its first kind.
        example_kind = None if scope or kinds is None else _first_kind(raw["kinds"])
        examples = []
        for key, should_match in (("must_match", True), ("must_not_match", False)):
            values = _as_list(raw.get(key, []), (str,))
            line = self.where.key(block, key)
            if values is None:
                raise self.fail(f"{label}: {key} must be a list of messages (strings)", line)
            for value in values:
                examples.append(Example(rule_id, topic, value, should_match, example_chat,
                                        self.where.value(line, value), example_kind))
        return rule, examples

    def rule_kinds(self, raw: dict, label: str, block) -> frozenset[str] | None:
        if "kinds" not in raw:
            return None
        line = self.where.key(block, "kinds")
        names = _as_list(raw["kinds"], (str,))
        known = (*self.kinds, UNKNOWN_KIND)
        if not names:
            raise self.fail(f"{label}: kinds must list kinds of chat, e.g. kinds = [\"city\"] "
                            f"(known: {', '.join(known)})", line)
        for name in names:
            if name not in known:
                raise self.fail(_unknown(name, f"in kinds of {label}", known, what="kind"),
                                self.where.value(line, name))
        return frozenset(names)

    def scope(self, raw: dict, label: str, block, groups: dict[str, ChatScope]) -> ChatScope | None:
        if "chats" not in raw:
            return None
        line = self.where.key(block, "chats")
        refs = _as_list(raw["chats"], (str, int))
        if not refs:
            raise self.fail(f"{label}: chats must list group names or chats (@username, t.me/name, id)", line)
        usernames: list[str] = []
        ids: list[int] = []
        first: Chat | None = None
        for ref in refs:
            if isinstance(ref, str) and ref in groups:
                group = groups[ref]
                usernames.extend(group.usernames)
                ids.extend(group.ids)
                first = first or group.example_chat
                continue
            chat = chat_reference(ref)
            if chat is None:
                hint = difflib.get_close_matches(str(ref), list(groups), n=1)
                problem = f"{label}: unknown group {ref!r} in chats"
                problem += f" (did you mean {hint[0]!r}?)" if hint else (
                    f" (groups: {', '.join(groups) or 'none defined'}; a chat is @username, t.me/name or an id)")
                raise self.fail(problem, self.where.value(line, str(ref)))
            first = first or chat
            if chat.username:
                usernames.append(chat.username.casefold())
            else:
                ids.append(chat.id)
        return ChatScope(frozenset(usernames), frozenset(ids), first)


def _first_kind(raw) -> str:
    return raw if isinstance(raw, str) else raw[0]


def _scope(chats: list[Chat]) -> ChatScope:
    return ChatScope(frozenset(c.username.casefold() for c in chats if c.username),
                     frozenset(c.id for c in chats if not c.username), chats[0])


def chat_reference(ref) -> Chat | None:
    """A chat reference as moderators write it: @name, t.me/name, t.me/c/123, -100123, 123."""
    if isinstance(ref, bool):
        return None
    if isinstance(ref, int):
        return Chat(id=ref, title=str(ref))
    try:
        found = parse_chat(ref)
    except ValueError:
        return None
    if found.kind == "id":
        return Chat(id=found.value, title=ref.strip())
    if found.kind == "username":
        return Chat(id=0, title=ref.strip(), username=found.value)
    return None  # an invite link names no chat a rule could recognise a message by


def _as_list(value, types: tuple[type, ...]) -> list | None:
    """A value or list of values of `types`; a single value is taken as a one-item list."""
    if isinstance(value, types) and not isinstance(value, bool):
        return [value]
    if isinstance(value, list) and all(isinstance(v, types) and not isinstance(v, bool) for v in value):
        return value
    return None


def _unknown(key: str, where: str, expected: tuple[str, ...], what: str = "key") -> str:
    hint = difflib.get_close_matches(key, expected, n=1)
    did_you_mean = f"did you mean {hint[0]!r}? " if hint else ""
    return f"unknown {what} {key!r} {where} ({did_you_mean}expected one of: {', '.join(expected)})"


class _Locator:
    """Finds the line of a table, key or value in the TOML text (1-based)."""

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([^\[\]#]+?)\s*\]\]?\s*(?:#.*)?$")

    def __init__(self, text: str):
        self.lines = text.splitlines()
        self.headers: list[tuple[int, tuple]] = []  # (line, ("rule", n) | ("topics",) | …)
        counts: dict[str, int] = {}
        for number, line in enumerate(self.lines, 1):
            m = self._HEADER.match(line)
            if not m:
                continue
            name = m.group(2).strip().strip('"')
            if m.group(1) == "[[":
                counts[name] = counts.get(name, -1) + 1
                self.headers.append((number, (name, counts[name])))
            else:
                self.headers.append((number, (name,)))

    def table_line(self, table: tuple) -> int | None:
        return next((line for line, name in self.headers if name == table), None)

    def table(self, name: str) -> int | None:
        return self.table_line((name,))

    def _block(self, table: tuple) -> range:
        start = self.table_line(table)
        if start is None:
            return range(0)
        after = [line for line, _ in self.headers if line > start]
        return range(start + 1, (after[0] if after else len(self.lines) + 1))

    def key(self, table: tuple, key: str) -> int | None:
        pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*[=.]")
        for number in self._block(table):
            if pattern.match(self.lines[number - 1]):
                return number
        return self.table_line(table)

    def top_key(self, key: str) -> int | None:
        first_header = self.headers[0][0] if self.headers else len(self.lines) + 1
        pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*[=.]")
        for number in range(1, first_header):
            if pattern.match(self.lines[number - 1]):
                return number
        return next((line for line, name in self.headers if name[0] == key or name[0].startswith(key + ".")),
                    None)

    def value(self, from_line: int | None, value) -> int | None:
        """The first line at or after `from_line` that contains `value` as written."""
        if from_line is None:
            return None
        needle = str(value)
        for number in range(from_line, len(self.lines) + 1):
            if needle in self.lines[number - 1]:
                return number
            if number > from_line and self._HEADER.match(self.lines[number - 1]):
                break
        return from_line
