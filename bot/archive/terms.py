"""The search index: every archived message's words and their dictionary forms, one row each.

    terms = terms_of("ТЦК бусифікували чоловіка")   # {'тцк', 'бусифікували', 'бусифікувати', …}
    async with archive.transaction() as db:
        await write_terms(db, rowid, terms)          # where Archive.ingest writes a text
    query = parse_query("бусифікація ТЦК")
    query.words[0].prefixes                          # ('бусифік',): a term must start with one

A message is indexed by the keys the matcher compares words with (`bot.matching.words.forms`:
the normalised word, its Ukrainian and Russian lemmas, readings of Latin-typed words), so the
search and the keywords file agree on what "the same word" is. A query word is looked for as
the start of an indexed term (тцк → тцкашники), from its own spelling, its lemmas, and the
root of its lemma (бусифікація → бусифік-, which also starts бусифікувати): editors type the
noun and chats write the verb.

One table, `message_terms(term, message)`, B-tree ordered by term: a prefix is the range
[prefix, prefix with its last letter advanced), which SQLite and PostgreSQL both walk in the
index (the column is collated "C" on PostgreSQL, so the order is that of code points, as in
SQLite). Pure functions first; the SQL (writing terms, the backfill) at the end.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass

import sqlalchemy as sa

from bot.matching.normalise import MAX_WORD, normalise
from bot.matching.words import WORD_RE, forms

log = logging.getLogger("dozor.archive")

MIN_PREFIX = 3  # shorter query words match whole terms only: «в», «на» would match half the archive
MIN_ROOT = 5  # a root shorter than this («пак» of пакувати) starts too many unrelated words
# Derivational endings of lemmas, longest first: the noun of an action and its verb share the rest
# (бусифік|ація, бусифік|увати; мобіліз|ація, мобіліз|увати; пакув|ання, пакув|ати).
_ENDINGS = sorted("""ування ювання ання ення іння яння ація яція увати ювати уватися ватися ати яти ити іти
    ти тися ирование ование ение ание ация ировать овать ать ять ить еть ться""".split(), key=len, reverse=True)
_INDEXED = re.compile(r"[^\W_]+(?:'[^\W_]+)*")  # words and numbers; pictographs are not searched for
_LATIN = re.compile(r"[a-z']+")


# ---- what a message is indexed by ----------------------------------------------------------

def terms_of(text: str | None) -> frozenset[str]:
    """The distinct terms of a message: each normalised word or number and its dictionary forms."""
    if not text:
        return frozenset()
    found: set[str] = set()
    for word in set(WORD_RE.findall(normalise(text).text)):
        if len(word) > MAX_WORD or not _INDEXED.fullmatch(word):
            continue  # runs that long are hashes and base64, not words anybody searches for
        if word.isdigit():
            found.add(word)
        else:
            # a Latin word is indexed as typed and stemmed, not by its Cyrillic readings (a quarter
            # of all terms for a tenth of the messages); a Latin query word is read in Cyrillic instead
            keys = forms(word, transliterate=not _LATIN.fullmatch(word)).keys
            found.update(key for key in keys if len(key) <= MAX_WORD)
    return frozenset(found)


# ---- what a query looks for ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class QueryWord:
    typed: str  # normalised, as the editor wrote it
    exact: frozenset[str]  # terms that are this word itself (its spelling, its lemmas)
    prefixes: tuple[str, ...]  # a term starting with one of these is this word; none starts another
    whole: bool = False  # too short for a prefix: only the exact terms count

    def finds(self, terms: frozenset[str] | set[str]) -> bool:
        if self.whole:
            return not self.exact.isdisjoint(terms)
        return any(term.startswith(self.prefixes) for term in terms)


@dataclass(frozen=True, slots=True)
class Query:
    words: tuple[QueryWord, ...]

    def __bool__(self) -> bool:
        return bool(self.words)


def parse_query(text: str) -> Query:
    """The words of a query, each with the terms it finds. Any punctuation is just a separator,
    so nothing an editor types is an error; `word*` asks for a prefix even of a short word."""
    normalised = normalise(text or "").text
    words: list[QueryWord] = []
    seen: set[str] = set()
    for found in WORD_RE.finditer(normalised):
        word = found.group()
        starred = normalised.startswith("*", found.end())
        if word in seen or len(word) > MAX_WORD or not _INDEXED.fullmatch(word):
            continue
        seen.add(word)
        words.append(query_word(word, starred))
    return Query(tuple(words))


def query_word(word: str, starred: bool = False) -> QueryWord:
    if word.isdigit():
        exact = frozenset({word})
        return QueryWord(word, exact, (word,), whole=not starred)
    exact = frozenset(forms(word).keys)
    if len(word) < MIN_PREFIX and not starred:
        return QueryWord(word, exact, (word,), whole=True)
    starts = set(exact) | {root(key) for key in exact}
    return QueryWord(word, exact, _outermost(k for k in starts if len(k) >= min(MIN_PREFIX, len(word))))


def root(lemma: str) -> str:
    """The lemma without a derivational ending, if at least MIN_ROOT letters stay; else the lemma."""
    for ending in _ENDINGS:
        if lemma.endswith(ending) and len(lemma) - len(ending) >= MIN_ROOT:
            return lemma[: -len(ending)]
    return lemma


def _outermost(prefixes) -> tuple[str, ...]:
    """Drop a prefix that starts with another one: its range lies inside the other's."""
    kept: list[str] = []
    for prefix in sorted(set(prefixes)):
        if not kept or not prefix.startswith(kept[-1]):
            kept.append(prefix)
    return tuple(kept)


def after(prefix: str) -> str:
    """The least string above every string that starts with `prefix` (in code point order)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


# ---- where a query's words are in a text -----------------------------------------------------

def found_spans(text: str, query: Query) -> list[tuple[int, int, bool]]:
    """Spans of `text` (start, end, exact) holding a word the query finds; exact: its spelling or
    lemma, not only a prefix of one. For the snippet's marks and for ranking."""
    if not text or not query:
        return []
    normalised = normalise(text)
    spans = []
    for found in WORD_RE.finditer(normalised.text):
        word = found.group()
        if len(word) > MAX_WORD or not _INDEXED.fullmatch(word):
            continue
        keys = frozenset({word}) if word.isdigit() else forms(word).keys
        for query_word_ in query.words:
            if query_word_.finds(keys):
                start, end = normalised.span(found.start(), found.end())
                spans.append((start, end, not query_word_.exact.isdisjoint(keys)))
                break
    return spans


# ---- writing the index -----------------------------------------------------------------------

_INSERT = "INSERT INTO message_terms (term, message) VALUES (:term, :message) ON CONFLICT DO NOTHING"
BACKFILL_BATCH = 2000


async def write_terms(db, texts: dict[int, str | None], fresh: set[int]) -> None:
    """Index the texts messages now have (in the transaction that writes them): their terms are
    added, the terms only an earlier version had go, so the index holds the current text.
    `fresh`: messages just inserted, which have no terms yet. The lemmas of the whole batch are
    looked up in one trip to a thread: a long post of unseen words takes milliseconds."""
    if not texts:
        return
    indexed = await asyncio.to_thread(lambda: {message: sorted(terms_of(text)) for message, text in texts.items()})
    for message, terms in indexed.items():
        if message in fresh:
            continue
        if terms:
            await db.execute("DELETE FROM message_terms WHERE message = :message AND term NOT IN :terms",
                             {"message": message, "terms": terms})
        else:  # an empty list would expand to a NULL PostgreSQL refuses to compare with text
            await db.execute("DELETE FROM message_terms WHERE message = :message", {"message": message})
    await db.executemany(_INSERT, [{"term": term, "message": message}
                                   for message, terms in indexed.items() for term in terms])


def backfill(connection: sa.Connection) -> int:
    """Index every message (at the migration that creates the index), in batches by id; says
    up front how many, and how far it got, since a large archive takes minutes."""
    total = connection.execute(sa.text("SELECT COUNT(*) FROM messages")).scalar()
    if not total:
        return 0
    # about 1,000 messages a second on PostgreSQL, 2,000 on SQLite (bench/bench_search.py)
    log.warning("search index: indexing the words of %d archived messages, once; dozor starts when it is "
                "done (up to %d min)", total, max(1, total // 60_000))
    done, last, started, reported = 0, -1, time.monotonic(), time.monotonic()
    insert = sa.text(_INSERT)
    while True:
        rows = connection.execute(sa.text("SELECT id, text FROM messages WHERE id > :last ORDER BY id LIMIT :n"),
                                  {"last": last, "n": BACKFILL_BATCH}).fetchall()
        if not rows:
            break
        terms = [{"term": term, "message": rowid} for rowid, text in rows for term in terms_of(text)]
        if terms:
            connection.execute(insert, terms)
        done, last = done + len(rows), rows[-1][0]
        if time.monotonic() - reported > 10:
            reported = time.monotonic()
            log.warning("search index: %d of %d messages indexed", done, total)
    log.warning("search index: %d messages indexed in %.0f s", done, time.monotonic() - started)
    return done
