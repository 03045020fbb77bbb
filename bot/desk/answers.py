"""Every answer of the desk, as Telegram HTML. Pure: plain values in, text out.

    pieces = search_answer(query, hits, tz=ZoneInfo("Europe/Kyiv"), more=True)
    for html in split(pieces): ...                   # bot.digest.compose.split: Telegram-sized

Every word the editors read is here, so the desk can be translated in one place. Text from
the archive is escaped piece by piece (compose.snippet), never pasted into markup.
"""
from __future__ import annotations

import html
from datetime import datetime, timedelta
from typing import Iterable, Mapping
from zoneinfo import ZoneInfo

from bot.archive.search import Hit as SearchHit
from bot.desk.commands import SearchQuery
from bot.desk.spikes import Sighting, Spike
from bot.digest.compose import Span, snippet
from bot.model import Chat, ChatStatus, MatchResult

SHOWN = 10  # search hits and alert items listed in one answer
TITLE = 60


def _e(text: str) -> str:
    return html.escape(text, quote=False)


def _title(text: str) -> str:
    text = " ".join(text.split())
    return _e(text if len(text) <= TITLE else text[: TITLE - 1] + "…")


def _local(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%d.%m %H:%M")


def _topic(topic: str, titles: Mapping[str, str]) -> str:
    return _e(titles.get(topic, topic))


def help_text(titles: Mapping[str, str]) -> str:
    topics = ", ".join(f"#{_e(t)}" for t in titles) or "—"
    return "\n".join([
        "<b>Команди</b>",
        "/digest — дайджест того, що з'явилося після останнього (запланований вийде як завжди)",
        "/search СЛОВА [#тема] [7d] [p2] — десять найкращих збігів в архіві (p2 — наступні десять); "
        "слова шукаються в усіх формах: «бусифікація» знайде «бусифікували», «ТЦК» — «тцкашники»",
        "/status — які чати читаються, збої, стан дайджесту",
        "/check ТЕКСТ — які теми й правила спрацюють на текст",
        "/help — ця довідка",
        "",
        "<b>Відгук</b>: відповідайте на пункт дайджесту 👍 або 👎 (у повідомленні з кількома пунктами "
        "додайте номер: «👎 3»; тему можна вказати: «👎 3 #szch»). Пропущене повідомлення перешліть "
        "акаунту в особисті й назвіть тему.",
        f"Теми: {topics}",
    ])


def refusal() -> str:
    return "Цей акаунт не приймає команд."


def slow_down(wait: float) -> str:
    return f"Забагато команд поспіль: спробуйте за {max(1, round(wait))} с."


def unknown(name: str) -> str:
    return f"Невідома команда /{_e(name)}. /help — список команд."


def mistake(problem: str) -> str:
    return f"⚠️ {_e(problem)}"


def failed() -> str:
    return "⚠️ Не вдалося виконати команду; подробиці в журналі сервісу."


# ---- /search ------------------------------------------------------------------------------

def search_answer(query: SearchQuery, hits: list[SearchHit], tz: ZoneInfo, more: bool,
                  titles: Mapping[str, str]) -> list[str]:
    """The best SHOWN hits (closest first) with chat, time, snippet and link; how to see more."""
    what = _e(query.words) or "усе"
    if query.topic:
        what += f" · #{_e(query.topic)}"
    if query.days:
        what += f" · {_span(query.days)}"
    if query.page > 1:
        what += f" · сторінка {query.page}"
    if not hits:
        return [f"🔎 <b>{what}</b>: нічого не знайдено."]
    first = (query.page - 1) * SHOWN + 1
    pieces = [f"🔎 <b>{what}</b>: {first}–{first + len(hits[:SHOWN]) - 1}{' і далі' if more else ''}"]
    for number, hit in enumerate(hits[:SHOWN], start=first):
        title = _title(hit.chat.title)
        name = f'<a href="{html.escape(hit.link)}">{title}</a>' if hit.link else f"{title} 🗑"
        marks = " ".join(f"#{_e(t)}" for t in hit.topics)
        head = " · ".join(p for p in (f"{number}. {name}", _local(hit.date, tz), marks) if p)
        found = [Span("", start, end) for start, end in hit.marks]
        pieces.append(f"{head}\n{snippet(hit.text, found) or '—'}")
    if more:
        pieces.append(f"<i>Далі:</i> <code>{_e(query.typed(query.page + 1))}</code>\n"
                      f"<i>Усе разом — у терміналі:</i> <code>{_e(_cli_search(query))}</code>")
    return pieces


def _span(days: float) -> str:
    return f"{days:g} дн." if days >= 1 else f"{days * 24:g} год."


def _cli_search(query: SearchQuery) -> str:
    parts = ["dozor search"]
    if query.words:
        parts.append(f"'{query.words}'")
    if query.topic:
        parts.append(f"--topic {query.topic}")
    if query.days:
        parts.append(f"--days {query.days:g}")
    parts.append("--limit 200")
    return " ".join(parts)


# ---- /check -------------------------------------------------------------------------------

def check_answer(text: str, result: MatchResult, titles: Mapping[str, str]) -> str:
    if not result:
        return f"Жодна тема не спрацювала (мова: {_e(result.language or 'невідома')})."
    lines = []
    for match in result.matches:
        lines.append(f"✅ <b>{_topic(match.topic, titles)}</b> (#{_e(match.topic)}): правило "
                     f"<code>{_e(match.rule)}</code>, термін «{_e(match.term)}»")
    lines.append(snippet(text, [Span(m.topic, m.start, m.end) for m in result.matches]))
    lines.append(f"мова: {_e(result.language or 'невідома')}")
    return "\n".join(lines)


# ---- /status ------------------------------------------------------------------------------

def status_answer(chats: list[ChatStatus], totals: Mapping[str, int], media: Mapping, digest: Mapping,
                  tz: ZoneInfo, now: datetime) -> str:
    """Coverage and failures in a few lines."""
    broken = [c for c in chats if c.error]
    reading = [c for c in chats if c.chat_id is not None]
    silent = [c for c in reading if c.last_message_at is None or now - c.last_message_at > timedelta(days=1)]
    lines = [f"📡 Чати: читаються {len(reading)} з {len(chats)}; сьогодні заархівовано "
             f"{sum(c.archived_today for c in chats)}, збігів {sum(c.matches_today for c in chats)}"]
    for chat in broken[:5]:
        lines.append(f"⚠️ {_e(chat.source)}: {_e(chat.error or '')[:200]}")
    if len(broken) > 5:
        lines.append(f"… і ще {len(broken) - 5} з помилками (dozor status)")
    if silent:
        named = ", ".join(_title(c.title or c.source) for c in silent[:5])
        lines.append(f"🔇 Без нових повідомлень понад добу: {named}" + ("…" if len(silent) > 5 else ""))
    lines.append(f"Збої обробки: {totals.get('failures', 0)}; медіа: {media.get('pending', 0)} в черзі, "
                 f"{media.get('failed', 0)} не завантажено" + (" — ПРИЗУПИНЕНО" if media.get("paused") else ""))
    last = digest.get("last_sent")
    sent = f"останній {_e(last['period'])}, {_e(_when(last['sent_at'], tz))}" if last else "ще не надсилався"
    lines.append(f"📰 Дайджест: {sent}")
    for pending in digest.get("pending", []):
        lines.append(f"⏳ {_e(pending['period'])}: {pending['parts_sent']}/{pending['parts']} частин; "
                     f"{_e(pending['error'] or 'чекає')[:200]}")
    for gone in digest.get("failed", []):
        lines.append(f"❌ {_e(gone['period'])}: {_e(gone['error'] or '')[:200]}")
    return "\n".join(lines)


def _when(moment: datetime | None, tz: ZoneInfo) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(tz).strftime("%d.%m %H:%M")


# ---- feedback -----------------------------------------------------------------------------

def labelled(number: int | None, topics: Iterable[str], correct: bool, titles: Mapping[str, str]) -> str:
    mark = "✅ так" if correct else "❌ ні"
    item = f"№{number}: " if number is not None else ""
    return f"Записано, {item}{mark} — " + ", ".join(_topic(t, titles) for t in topics)


def which_item() -> str:
    return "У цьому повідомленні кілька пунктів: додайте номер, напр. «👎 3»."


def no_item(number: int) -> str:
    return f"Пункту №{number} у цьому дайджесті немає."


def which_topic(titles: Mapping[str, str]) -> str:
    options = ", ".join(f"#{_e(t)} ({_topic(t, titles)})" for t in titles)
    return f"Яка тема? Відповідайте тегом: {options}"


# ---- spike alerts -------------------------------------------------------------------------

def spike_alert(spike: Spike, titles: Mapping[str, str], tz: ZoneInfo, window: timedelta) -> list[str]:
    minutes = round(window.total_seconds() / 60)
    where = _e(spike.where)
    if spike.key[0] == "city":
        head = (f"⚡ <b>{_topic(spike.topic, titles)}</b>: сплеск у місті {where} — {len(spike.items)} "
                f"за {minutes} хв у {spike.chats} чатах")
    else:
        usual = f"; зазвичай ≈{spike.usual:.1f}" if spike.usual is not None else ""
        head = (f"⚡ <b>{_topic(spike.topic, titles)}</b>: сплеск у чаті {where} — {len(spike.items)} "
                f"за {minutes} хв{usual}")
    pieces = [head]
    newest = sorted(spike.items, key=lambda s: s.date, reverse=True)
    for item in newest[:SHOWN]:
        pieces.append(_sighting(item, tz))
    if len(newest) > SHOWN:
        pieces.append(f"… і ще {len(newest) - SHOWN}")
    return pieces


def _sighting(item: Sighting, tz: ZoneInfo) -> str:
    link = Chat(id=item.chat_id, title=item.chat_title, username=item.chat_username).link(item.message_id)
    return (f'▪️ <a href="{html.escape(link)}">{_title(item.chat_title)}</a> · {_local(item.date, tz)}\n'
            f"{snippet(item.text, [])}")
