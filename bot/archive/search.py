"""Search over the archive, for editors when a story breaks: word forms, on SQLite and PostgreSQL.

    hits = await search(archive, "ТЦК бусифікація", topic="busification", since=yesterday)
    hits[0].snippet     # '… вчора [тцкашники] [бусифікували] чоловіка …'

Every word must occur in a message, in any of its forms: «бусифікація» finds «бусифікували»,
«ТЦК» finds «тцкашники» (see `bot.archive.terms` for what is indexed and how a word is looked up).
Newest first; `best_first` ranks the newest matches by how closely they match.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from bot.archive import Archive, from_iso, iso
from bot.archive.terms import Query, QueryWord, after, found_spans, parse_query
from bot.model import Chat

SNIPPET_WORDS = 16  # words shown around the first found one
PLAIN_SNIPPET = 120  # characters shown when nothing was searched for
RANK_POOL = 200  # best_first ranks this many newest matches (at least)
# A word with more postings than this is frequent: the newest messages are walked and tested
# for it, instead of all its messages being gathered and sorted by date.
FREQUENT = 20_000


@dataclass(frozen=True, slots=True)
class Hit:
    chat: Chat
    message_id: int
    date: datetime
    text: str
    pieces: tuple[tuple[str, bool], ...]  # the snippet, cut where a found word starts and ends
    topics: tuple[str, ...]
    deleted: bool
    marks: tuple[tuple[int, int], ...] = ()  # where in `text` the words searched for were found

    @property
    def snippet(self) -> str:
        """The snippet with the found words between [ and ]."""
        return "".join(f"[{text}]" if found else text for text, found in self.pieces)

    @property
    def found(self) -> tuple[str, ...]:
        return tuple(text for text, found in self.pieces if found)

    @property
    def link(self) -> str | None:
        return None if self.deleted else self.chat.link(self.message_id)


async def search(archive: Archive, words: str = "", *, topic: str | None = None, chat_id: int | None = None,
                 since: datetime | None = None, until: datetime | None = None, limit: int = 50,
                 best_first: bool = False, skip: int = 0) -> list[Hit]:
    """Newest first: messages containing every word (all messages when no words are given),
    optionally of one topic, one chat, or a period [since, until). `best_first`: the closest
    matches first, newest among equals. `skip`: the ones before a page."""
    query = parse_query(words)
    if words.strip() and not query:
        return []  # only punctuation: nothing can contain it as a word
    where, params = _filters(topic, chat_id, since, until)
    if query:
        driving = await _rarest(archive, query)
        conditions = []
        for number, word in enumerate(query.words):
            terms = _terms_condition(word, f"w{number}", params)
            if word is driving:
                conditions.append(f"m.id IN (SELECT t.message FROM message_terms t WHERE {terms})")
            else:
                conditions.append(f"EXISTS (SELECT 1 FROM message_terms t WHERE t.message = m.id AND ({terms}))")
        where = conditions + where
    if best_first and query:
        params.update(limit=max(RANK_POOL, skip + limit), skip=0)
    else:
        params.update(limit=limit, skip=skip)
    rows = await archive.rows(
        f"""SELECT m.id, m.message_id, m.date, m.text, m.deleted_at, c.id, c.title, c.username, c.kind
            FROM messages m JOIN chats c ON c.id = m.chat_id
            WHERE {" AND ".join(where) or "1 = 1"}
            ORDER BY m.date DESC, m.id DESC LIMIT :limit OFFSET :skip""", params)
    topics = await _topics(archive, [row[0] for row in rows])
    if not query:
        return [_hit(row, topics.get(row[0], ()), query) for row in rows]
    # finding the words in each text is the matcher's work again (normalising, lemmas): a page
    # of long posts takes tens of milliseconds, which the event loop must not spend
    return await asyncio.to_thread(_found, rows, topics, query, best_first, skip, limit)


def _found(rows, topics, query: Query, best_first: bool, skip: int, limit: int) -> list[Hit]:
    hits = [_hit(row, topics.get(row[0], ()), query) for row in rows]
    return _closest_first(hits, query)[skip:skip + limit] if best_first else hits


def _filters(topic, chat_id, since, until) -> tuple[list[str], dict]:
    # only the filters given: `:x IS NULL OR …` leaves PostgreSQL guessing the type of :x
    where, params = [], {}
    if topic is not None:
        where.append("EXISTS (SELECT 1 FROM matches WHERE message = m.id AND topic = :topic)")
        params["topic"] = topic
    if chat_id is not None:
        where.append("m.chat_id = :chat")
        params["chat"] = chat_id
    if since is not None:
        where.append("m.date >= :since")
        params["since"] = iso(since)
    if until is not None:
        where.append("m.date < :until")
        params["until"] = iso(until)
    return where, params


def _terms_condition(word: QueryWord, name: str, params: dict) -> str:
    """SQL true for a row of message_terms `t` that is this word: one index range per prefix."""
    if word.whole:
        params[name] = sorted(word.exact)
        return f"t.term IN :{name}"
    ranges = []
    for number, prefix in enumerate(word.prefixes):
        params[f"{name}_{number}"], params[f"{name}_{number}_end"] = prefix, after(prefix)
        ranges.append(f"(t.term >= :{name}_{number} AND t.term < :{name}_{number}_end)")
    return " OR ".join(ranges)


async def _rarest(archive: Archive, query: Query) -> QueryWord | None:
    """The word with the fewest postings, to gather messages from; None when every word is
    frequent: the newest messages are then tested word by word until the page is full."""
    best, fewest = None, FREQUENT
    for word in query.words:
        params: dict = {"cap": FREQUENT}
        postings = await archive.scalar(
            f"""SELECT COUNT(*) FROM (SELECT 1 FROM message_terms t WHERE {_terms_condition(word, "w", params)}
                LIMIT :cap) AS found""", params)
        if postings < fewest:
            best, fewest = word, postings
    return best


async def _topics(archive: Archive, ids: list[int]) -> dict[int, tuple[str, ...]]:
    found: dict[int, set[str]] = {}
    if ids:
        for message, topic in await archive.rows(
                "SELECT message, topic FROM matches WHERE message IN :ids", {"ids": ids}):
            found.setdefault(message, set()).add(topic)
    return {message: tuple(sorted(topics)) for message, topics in found.items()}


def _hit(row, topics: tuple[str, ...], query: Query) -> Hit:
    _, message_id, date, text, deleted_at, chat_id, title, username, kind = row
    text = text or ""
    spans = found_spans(text, query)
    return Hit(chat=Chat(id=chat_id, title=title, username=username, kind=kind), message_id=message_id,
               date=from_iso(date), text=text, pieces=snippet(text, spans), topics=topics,
               deleted=deleted_at is not None, marks=tuple((start, end) for start, end, _ in spans))


def snippet(text: str, spans: list[tuple[int, int, bool]]) -> tuple[tuple[str, bool], ...]:
    """About SNIPPET_WORDS words of `text` from just before the first found word, found words
    marked, … where text was cut; the start of the text when nothing was found."""
    if not spans:
        short = text[:PLAIN_SNIPPET]
        return ((short + ("…" if len(text) > PLAIN_SNIPPET else ""), False),) if text else ()
    words = [(start, end) for start, end in _word_spans(text)]
    first = next(i for i, (start, end) in enumerate(words) if end > spans[0][0])
    begin = max(0, first - 2)
    finish = min(len(words), begin + SNIPPET_WORDS)
    begin = max(0, finish - SNIPPET_WORDS)
    cut_start = words[begin][0] if begin > 0 else 0
    cut_end = words[finish - 1][1] if finish < len(words) else len(text)
    pieces: list[tuple[str, bool]] = [("…", False)] if cut_start > 0 else []
    at = cut_start
    for start, end, _ in spans:
        if end <= at or start >= cut_end:
            continue
        start, end = max(start, at), min(end, cut_end)
        if start > at:
            pieces.append((text[at:start], False))
        pieces.append((text[start:end], True))
        at = end
    if cut_end > at:
        pieces.append((text[at:cut_end], False))
    if cut_end < len(text):
        pieces.append(("…", False))
    return tuple(pieces)


def _word_spans(text: str) -> list[tuple[int, int]]:
    """Whitespace-separated words of the original text: where a snippet may be cut."""
    spans, start = [], None
    for i, char in enumerate(text):
        if char.isspace():
            if start is not None:
                spans.append((start, i))
                start = None
        elif start is None:
            start = i
    if start is not None:
        spans.append((start, len(text)))
    return spans


def _closest_first(hits: list[Hit], query: Query) -> list[Hit]:
    """Ranked like BM25 over the pool: each word counts by how often it occurs (saturating),
    less in a long message, half when only a prefix or root of it was found; newest among equals."""
    lengths = {id(hit): max(1, len(_word_spans(hit.text))) for hit in hits}
    average = sum(lengths.values()) / max(1, len(lengths))

    def score(hit: Hit) -> float:
        counts: dict[bool, float] = {}
        for _, _, exact in found_spans(hit.text, query):
            counts[exact] = counts.get(exact, 0) + 1
        weight = counts.get(True, 0) + counts.get(False, 0) / 2
        norm = 1.2 * (0.25 + 0.75 * lengths[id(hit)] / average)
        return weight * 2.2 / (weight + norm)

    return sorted(hits, key=score, reverse=True)  # stable: the pool is newest first
