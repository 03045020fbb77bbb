"""The digest's text: archived hits of one period → HTML messages ready for Telegram. Pure.

    parts = compose(period, hits, previous={"szch": 7}, titles={"szch": "СЗЧ"},
                    tz=ZoneInfo("Europe/Kyiv"), cap=15)
    for html in parts: ...            # each within Telegram's limit, split between items only

A hit is one matched message as the archive returned it (bot/archive/digests.py builds them).
Hits the model found are listed under their topic with the labelled examples they resemble;
hits it only suspects (Hit.review, no spans) come last, under "to review", and count nowhere.
Items are hits grouped: an album is one item, and the same text in several chats is one
item that names where else it appeared. Message text is escaped piece by piece, with the
matched spans (offsets into the unescaped text) wrapped in <b>, so a `<b>` or `&` typed in a
channel stays text.
"""
from __future__ import annotations

import html
import itertools
import math
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Iterable, Mapping
from zoneinfo import ZoneInfo

from bot.digest.schedule import Period
from bot.display import shown
from bot.model import Chat

# Telegram counts a message's length after entity parsing, in UTF-16 code units, up to 4096.
# Parts are packed to 4000 so that the visible text and, for safety, the raw HTML both stay clear.
TELEGRAM_LIMIT = 4096
PART_LIMIT = 4000
SNIPPET = 280  # visible characters of message text per item
QUOTE = 600  # a deleted message is quoted at more length: the archive is the only copy left
TITLE = 60  # chat titles are cut to this
ALSO_IN = 5  # chats named in "also in"; the rest are counted
BUSIEST = 5

MEDIA_MARKS = {"photo": "📷", "video": "🎥", "round": "📹", "voice": "🎤", "audio": "🎵",
               "document": "📎", "gif": "🎞", "sticker": "🏷"}

# Every word the editors read, in one place, so the digest can be translated here.
WORDS = {
    "title": "Дайджест",
    "total": "Усього",
    "previous": "попередній період",
    "busiest": "Найактивніші чати",
    "nothing": "За цей період збігів немає.",
    "edited": "✏️ змінено",
    "deleted": "🗑 видалено",
    "also_in": "також у",
    "again_here": "повтор тут",
    "and_more": "та ще {n}",
    "more": "…і ще {n} — ",
    "continued": "(далі)",
    "part": "частина {i}/{n}",
    "model": "🤖 знайдено моделлю, схоже на позначені приклади:",
    "review": "На перевірку",
    "review_why": "🤔 модель не впевнена:",
    "coverage": "Прочитано до кінця періоду: {complete} з {chats} чатів",
    "behind": "відстають: {names}",
}


@dataclass(frozen=True, slots=True)
class Span:
    topic: str
    start: int  # offsets into Hit.text
    end: int


@dataclass(frozen=True, slots=True)
class Hit:
    """One matched message of the period, with what the digest needs to show it."""

    chat_id: int
    message_id: int
    chat_title: str
    chat_username: str | None
    date: datetime  # aware UTC
    text: str
    spans: tuple[Span, ...] = ()
    views: int | None = None
    forwards: int | None = None
    grouped_id: int | None = None
    media: tuple[tuple[str, int], ...] = ()  # (kind, count), over the whole album
    edited: bool = False
    deleted: bool = False
    model: tuple[tuple[str, str], ...] = ()  # (topic, explanation) of topics the model found
    review: tuple[tuple[str, float], ...] = ()  # (topic, score) the model suspects, nothing found

    @property
    def topics(self) -> set[str]:
        return {s.topic for s in self.spans}

    @property
    def link(self) -> str:
        return Chat(id=self.chat_id, title=self.chat_title, username=self.chat_username).link(self.message_id)


@dataclass(slots=True)
class Item:
    """What the digest lists: the earliest hit of a group, and where else the text appeared."""

    hit: Hit
    copies: list[Hit] = field(default_factory=list)

    @property
    def hits(self) -> list[Hit]:
        return [self.hit, *self.copies]

    @property
    def topics(self) -> set[str]:
        return set().union(*(h.topics for h in self.hits))

    @property
    def chats(self) -> int:
        return len({h.chat_id for h in self.hits})

    @property
    def score(self) -> float:
        """Significance: reach (views), spread by readers (forwards) and by other chats.

        Logarithms keep one huge channel from burying everything else; each extra chat
        carrying the text weighs about as much as twenty times the views.
        """
        views = max((h.views or 0) for h in self.hits)
        forwards = sum((h.forwards or 0) for h in self.hits)
        return math.log1p(views) + 2 * math.log1p(forwards) + 3 * (self.chats - 1)


# ---- grouping ------------------------------------------------------------------------------

def text_key(text: str) -> str:
    """Texts that differ only in case and spacing are the same text."""
    return " ".join(text.casefold().split())


def group(hits: Iterable[Hit]) -> list[Item]:
    """Albums become one item; equal texts in several chats (or reposted) become one item."""
    albums: dict[tuple[int, int], Hit] = {}
    singles: list[Hit] = []
    for hit in sorted(hits, key=lambda h: (h.date, h.chat_id, h.message_id)):
        if hit.grouped_id is None:
            singles.append(hit)
            continue
        album = (hit.chat_id, hit.grouped_id)
        if album in albums:
            first = albums[album]
            # several items of one album matched: one entry, all spans kept on the captioned one
            keep, other = (first, hit) if len(first.text) >= len(hit.text) else (hit, first)
            albums[album] = _merge(keep, other)
        else:
            albums[album] = hit
            singles.append(hit)
    merged = [albums.get((h.chat_id, h.grouped_id), h) if h.grouped_id is not None else h for h in singles]

    items: list[Item] = []
    by_text: dict[str, Item] = {}
    for hit in sorted(merged, key=lambda h: (h.date, h.chat_id, h.message_id)):
        key = text_key(hit.text)
        if key and key in by_text:
            by_text[key].copies.append(hit)
            continue
        item = Item(hit)
        items.append(item)
        if key:
            by_text[key] = item
    return items


def _merge(keep: Hit, other: Hit) -> Hit:
    if keep.text == other.text:
        spans = keep.spans + tuple(s for s in other.spans if s not in keep.spans)
    else:
        spans = keep.spans
    return replace(keep, spans=spans, views=max(keep.views or 0, other.views or 0) or None,
                   edited=keep.edited or other.edited)


# ---- one item ------------------------------------------------------------------------------

def snippet(text: str, spans: Iterable[Span], width: int = SNIPPET) -> str:
    """HTML: up to `width` characters of `text` around the first match, matches in bold.

    Spans index the unescaped text; each stretch between span edges is escaped on its own,
    so bolding can never land inside an entity such as `&amp;`.
    """
    ranges = _merge_ranges((max(0, s.start), min(len(text), s.end)) for s in spans)
    lo, hi = 0, len(text)
    if len(text) > width:
        anchor = ranges[0][0] if ranges else 0
        lo = max(0, anchor - width // 3)
        if lo > 0:
            space = text.find(" ", lo, anchor)
            lo = space + 1 if space != -1 else lo
        hi = min(len(text), lo + width)
        if hi < len(text):
            space = text.rfind(" ", max(lo, ranges[0][1] if ranges else lo), hi)
            hi = space if space > lo else hi
    bold = [False] * (hi - lo)
    for start, end in ranges:
        for i in range(max(start, lo), min(end, hi)):
            bold[i - lo] = True
    # whitespace runs fold to one space (an item is a short paragraph); the fold runs over the
    # whole window so that a span edge inside a run does not leave two spaces
    runs: list[list] = []  # [bold?, characters]
    after_space = False
    for char, flag in zip(text[lo:hi], bold):
        if char.isspace():
            if after_space:
                continue
            char, after_space = " ", True
        else:
            after_space = False
        if runs and runs[-1][0] == flag:
            runs[-1][1].append(char)
        else:
            runs.append([flag, [char]])
    out = ["…" if lo > 0 else ""]
    for flag, chars in runs:
        escaped = html.escape("".join(chars), quote=False)
        out.append(f"<b>{escaped}</b>" if flag else escaped)
    out.append("…" if hi < len(text) else "")
    return "".join(out).strip()


def _merge_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for start, end in sorted(r for r in ranges if r[0] < r[1]):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def media_mark(media: Iterable[tuple[str, int]]) -> str:
    marks = []
    for kind, count in media:
        mark = MEDIA_MARKS.get(kind, "📎")
        marks.append(f"{mark} {count}" if count > 1 else mark)
    return " ".join(marks)


def render_item(item: Item, tz: ZoneInfo, number: int | None = None,
                titles: Mapping[str, str] | None = None) -> str:
    """One item; `number` is what an editor names when replying about it (№3); `titles` name
    the topics the model suspects in a to-review item."""
    hit = item.hit
    title = html.escape(_cut(hit.chat_title, TITLE), quote=False)
    head = [f"<b>{title}</b>" if hit.deleted else f'<a href="{html.escape(hit.link)}"><b>{title}</b></a>',
            _local(hit.date, tz)]
    if hit.media:
        head.append(media_mark(hit.media))
    if hit.edited:
        head.append(WORDS["edited"])
    if hit.deleted:
        head.append(WORDS["deleted"])
    if number is not None:
        head.append(f"№{number}")
    lines = ["▪️ " + " · ".join(head)]
    if hit.deleted:
        lines.append(f"<blockquote>{snippet(hit.text, hit.spans, QUOTE) or '—'}</blockquote>")
    elif hit.text.strip():
        lines.append(snippet(hit.text, hit.spans))
    for _, explanation in hit.model[:1]:
        # the labelled examples it resembles are the model's only explanation
        quoted = explanation.split(": ", 1)[-1]
        lines.append(f"<i>{html.escape(WORDS['model'] + ' ' + _cut(quoted, 2 * SNIPPET // 3), quote=False)}</i>")
    if hit.review and not hit.spans:
        suspected = ", ".join(f"{(titles or {}).get(t, t)} {score:.0%}" for t, score in hit.review)
        lines.append(f"<i>{html.escape(WORDS['review_why'] + ' ' + suspected, quote=False)}</i>")
    tail = []
    if hit.views:
        tail.append(f"👁 {_count(max((h.views or 0) for h in item.hits))}")
    forwards = sum((h.forwards or 0) for h in item.hits)
    if forwards:
        tail.append(f"🔁 {_count(forwards)}")
    if item.copies:
        tail.append(f"{WORDS['also_in']}: {_also_in(item)}")
    if tail:
        lines.append(" · ".join(tail))
    return "\n".join(lines)


def _also_in(item: Item) -> str:
    names = []
    for copy in item.copies:
        # a repost inside the same chat is named as such, not by the chat's own title again
        same = copy.chat_id == item.hit.chat_id
        title = WORDS["again_here"] if same else html.escape(_cut(copy.chat_title, TITLE), quote=False)
        names.append(title if copy.deleted else f'<a href="{html.escape(copy.link)}">{title}</a>')
    shown = names[:ALSO_IN]
    if len(names) > ALSO_IN:
        shown.append(WORDS["and_more"].format(n=len(names) - ALSO_IN))
    return ", ".join(shown)


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _local(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%d.%m %H:%M")


def _count(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 10_000:
        return f"{n / 1000:.0f}k"
    if n >= 1000:
        return f"{n / 1000:.1f}k"
    return str(n)


# ---- the whole digest ----------------------------------------------------------------------

def topic_order(topics: Iterable[str], titles: Mapping[str, str]) -> list[str]:
    """Topics in the keywords file's order, then any the file no longer names."""
    wanted = set(topics)
    known = [t for t in titles if t in wanted]
    return known + sorted(wanted - set(known))


def head(period: Period, hits: list[Hit], previous: Mapping[str, int], titles: Mapping[str, str],
         tz: ZoneInfo, previous_total: int | None = None) -> str:
    counts = counts_by_topic(hits)
    start = period.start.astimezone(tz).strftime("%d.%m.%Y %H:%M")
    end = period.end.astimezone(tz).strftime("%d.%m.%Y %H:%M")
    lines = [f"<b>📰 {WORDS['title']}</b> {start} — {end} ({html.escape(str(tz))})"]
    total = len({(h.chat_id, h.message_id) for h in hits})
    before = previous_total if previous_total is not None else sum(previous.values())
    lines.append(f"{WORDS['total']}: <b>{total}</b> ({_change(total, before)}; "
                 f"{WORDS['previous']}: {before})")
    for topic in topic_order(set(counts) | set(previous), titles):
        now, then = counts.get(topic, 0), previous.get(topic, 0)
        title = html.escape(titles.get(topic, topic), quote=False)
        lines.append(f"• <b>{title}</b>: {now} ({_change(now, then)})")
    chats: dict[str, int] = {}
    for hit in {(h.chat_id, h.message_id): h for h in hits}.values():
        chats[hit.chat_title] = chats.get(hit.chat_title, 0) + 1
    if chats:
        busiest = sorted(chats.items(), key=lambda kv: (-kv[1], kv[0]))[:BUSIEST]
        named = ", ".join(f"{html.escape(_cut(t, TITLE), quote=False)} — {n}" for t, n in busiest)
        lines.append(f"{WORDS['busiest']}: {named}")
    if not hits:
        lines.append("")
        lines.append(WORDS["nothing"])
    return "\n".join(lines)


def counts_by_topic(hits: Iterable[Hit]) -> dict[str, int]:
    seen: dict[str, set[tuple[int, int]]] = {}
    for hit in hits:
        for topic in hit.topics:
            seen.setdefault(topic, set()).add((hit.chat_id, hit.message_id))
    return {topic: len(keys) for topic, keys in seen.items()}


def _change(now: int, then: int) -> str:
    if now == then:
        return "="
    return f"+{now - then}" if now > then else f"−{then - now}"


def search_hint(topic: str, period: Period, tz: ZoneInfo) -> str:
    since = period.start.astimezone(tz).strftime("%Y-%m-%dT%H:%M")
    until = period.end.astimezone(tz).strftime("%Y-%m-%dT%H:%M")
    return f"dozor search --topic {topic} --since {since} --until {until}"


@dataclass(slots=True)
class _Block:
    html: str
    topic: str | None = None  # None: the head
    header: bool = False  # a topic title, which must not end a part
    ref: "ItemRef | None" = None  # the archived message an item stands for


@dataclass(frozen=True, slots=True)
class ItemRef:
    """Which archived message digest item `number` stands for, and the part that shows it."""

    part: int
    number: int
    chat_id: int
    message_id: int


@dataclass(frozen=True, slots=True)
class Layout:
    parts: list[str]
    items: list[ItemRef]


def blocks(period: Period, hits: list[Hit], previous: Mapping[str, int], *, titles: Mapping[str, str],
           tz: ZoneInfo, cap: int, previous_total: int | None = None) -> list[_Block]:
    # the model's unsure suspicions are listed apart, after the topics, and counted nowhere
    review = [h for h in hits if h.review and not h.spans]
    hits = [h for h in hits if h.spans or not h.review]
    out = [_Block(head(period, hits, previous, titles, tz, previous_total))]
    numbers = itertools.count(1)
    items = group(hits)
    per_topic: dict[str, list[Item]] = {}
    for item in items:
        for topic in item.topics:
            per_topic.setdefault(topic, []).append(item)
    for topic in topic_order(per_topic, titles):
        ranked = sorted(per_topic[topic], key=lambda i: (-i.score, i.hit.date, i.hit.chat_id, i.hit.message_id))
        title = html.escape(titles.get(topic, topic), quote=False)
        out.append(_Block(f"<b>━━ {title} ━━</b>", topic, header=True))
        for item in ranked[:cap]:
            number = next(numbers)
            ref = ItemRef(0, number, item.hit.chat_id, item.hit.message_id)
            out.append(_Block(render_item(item, tz, number), topic, ref=ref))
        if len(ranked) > cap:
            more = WORDS["more"].format(n=len(ranked) - cap)
            out.append(_Block(f"<i>{html.escape(more, quote=False)}</i><code>"
                              f"{html.escape(search_hint(topic, period, tz), quote=False)}</code>", topic))
    if review:
        ranked = sorted(group(review), key=lambda i: (-max(s for _, s in i.hit.review), i.hit.date, i.hit.chat_id))
        out.append(_Block(f"<b>━━ {WORDS['review']} ━━</b>", WORDS["review"], header=True))
        out.extend(_Block(render_item(item, tz, titles=titles), WORDS["review"]) for item in ranked[:cap])
        if len(ranked) > cap:
            more = WORDS["more"].format(n=len(ranked) - cap).rstrip(" —")
            out.append(_Block(f"<i>{html.escape(more, quote=False)}</i>", WORDS["review"]))
    return out


def compose(period: Period, hits: list[Hit], previous: Mapping[str, int] | None = None, *,
            titles: Mapping[str, str] | None = None, tz: ZoneInfo, cap: int = 15,
            limit: int = PART_LIMIT, previous_total: int | None = None,
            coverage: Coverage | None = None) -> list[str]:
    """The digest as HTML messages, each within `limit` (visible UTF-16 units and raw HTML).

    `previous`: matched messages per topic in the period before; `titles`: topic id → title
    (a topic missing from it is shown by its id); `cap`: items listed per topic; `coverage`:
    how many watched chats were read up to the period's end, stated at the foot.
    """
    return layout(period, hits, previous, titles=titles, tz=tz, cap=cap, limit=limit,
                  previous_total=previous_total, coverage=coverage).parts


def layout(period: Period, hits: list[Hit], previous: Mapping[str, int] | None = None, *,
           titles: Mapping[str, str] | None = None, tz: ZoneInfo, cap: int = 15,
           limit: int = PART_LIMIT, previous_total: int | None = None,
           coverage: Coverage | None = None) -> Layout:
    """compose(), and which archived message each numbered item stands for (for replies)."""
    titles = titles or {}
    items = blocks(period, hits, previous or {}, titles=titles, tz=tz, cap=cap, previous_total=previous_total)
    if coverage is not None:
        items.append(_Block(coverage_foot(coverage)))
    grouped = pack_blocks(items, titles, limit)
    refs = [replace(b.ref, part=n) for n, part in enumerate(grouped, start=1) for b in part if b.ref]
    return Layout(_texts(grouped), refs)


@dataclass(frozen=True, slots=True)
class Coverage:
    """How complete the archive was for the period: chats read up to its end, and the others."""

    complete: int
    chats: int
    behind: tuple[str, ...] = ()


def coverage_foot(coverage: Coverage, shown: int = 5) -> str:
    text = WORDS["coverage"].format(complete=coverage.complete, chats=coverage.chats)
    if coverage.behind:
        names = ", ".join(coverage.behind[:shown])
        if len(coverage.behind) > shown:
            names += " " + WORDS["and_more"].format(n=len(coverage.behind) - shown)
        text += "; " + WORDS["behind"].format(names=names)
    return f"<i>{html.escape(text, quote=False)}</i>"


SEPARATOR = "\n\n"
_PART_MARK_ROOM = 40  # room kept in every part for "частина i/n"


def pack(items: list[_Block], titles: Mapping[str, str], limit: int = PART_LIMIT) -> list[str]:
    """Fill messages with whole blocks; a part that opens mid-topic repeats the topic title."""
    return _texts(pack_blocks(items, titles, limit))


def pack_blocks(items: list[_Block], titles: Mapping[str, str], limit: int = PART_LIMIT) -> list[list[_Block]]:
    """The blocks of each part (see pack)."""
    budget = limit - _PART_MARK_ROOM
    parts: list[list[_Block]] = []
    current: list[_Block] = []
    for block in items:
        candidate = current + [block]
        if current and not fits(_join(candidate), budget):
            carried = current.pop() if current[-1].header else None
            if current:
                parts.append(current)
            current = []
            if carried is not None:
                current.append(carried)
            elif block.topic is not None and not block.header:
                title = html.escape(titles.get(block.topic, block.topic), quote=False)
                current.append(_Block(f"<b>━━ {title} {WORDS['continued']} ━━</b>", block.topic, header=True))
            candidate = current + [block]
        if not fits(_join(candidate), budget):
            # cannot happen with the caps above; cut rather than have Telegram refuse the part
            block = _Block(_shrink(block.html, budget - measure(_join(current)) - 2), block.topic, ref=block.ref)
            candidate = current + [block]
        current = candidate
    if current:
        parts.append(current)
    return parts


def _texts(parts: list[list[_Block]]) -> list[str]:
    texts = [shown(_join(p)) for p in parts]  # no control character or bidi override reaches the editors
    if len(texts) > 1:
        texts = [f"{t}{SEPARATOR}<i>{WORDS['part'].format(i=i, n=len(texts))}</i>"
                 for i, t in enumerate(texts, start=1)]
    return texts


def split(pieces: list[str], limit: int = PART_LIMIT) -> list[str]:
    """Any answer as Telegram-sized messages, split between pieces like the digest."""
    return pack([_Block(p) for p in pieces], {}, limit)


def _join(blocks_: list[_Block]) -> str:
    return SEPARATOR.join(b.html for b in blocks_)


def visible(html_text: str) -> str:
    """The text Telegram shows for our HTML: tags removed, entities decoded.

    Valid for what this module writes, where every `<` of message text is escaped.
    """
    return html.unescape(re.sub(r"<[^>]*>", "", html_text))


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def measure(html_text: str) -> int:
    return max(utf16_len(visible(html_text)), len(html_text))


def fits(html_text: str, limit: int = PART_LIMIT) -> bool:
    return measure(html_text) <= limit


def _shrink(html_text: str, room: int) -> str:
    text = visible(html_text)
    return html.escape(text[: max(0, room // 2 - 1)], quote=False) + "…"


# ---- a page for the browser -----------------------------------------------------------------

def page(parts: list[str], title: str) -> str:
    """An HTML page showing the parts as Telegram would, for `dozor digest --preview --html`."""
    body = "\n".join(
        f'<section class="part">{p.replace(chr(10), "<br>")}</section>' for p in parts
    )
    return f"""<!doctype html>
<html lang="uk"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; background: #e6ebee; margin: 2em auto; max-width: 42em; }}
.part {{ background: #fff; border-radius: 10px; padding: 0.8em 1em; margin: 0 0 1em; }}
blockquote {{ border-left: 3px solid #999; margin: 0.3em 0; padding-left: 0.6em; color: #444; }}
a {{ color: #168acd; text-decoration: none; }}
</style></head>
<body>
{body}
</body></html>
"""
