"""The desk's decisions, without Telegram: commands, who may use them, verdicts, surges, settings."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.config import ConfigError, load_settings
from bot.desk.access import Editors
from bot.desk.commands import Command, CommandError, SearchQuery, parse_command, parse_search
from bot.desk.feedback import item_number, pick, tags, verdict
from bot.desk.ratelimit import RateLimit
from bot.desk.spikes import Sighting, SpikeRule, SpikeWatch, cities_of, find_spikes
from bot.digest.compose import ItemRef
from bot.model import Chat

UTC = timezone.utc
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
TOPICS = frozenset({"szch", "busification", "enlistment_centre"})


def test_commands_are_read_as_telegram_writes_them():
    assert parse_command("/search@dozor_digest_bot ТЦК метро") == Command("search", "ТЦК метро")
    assert parse_command("/HELP") == Command("help", "")
    assert parse_command("/check ТЦК\nпакують") == Command("check", "ТЦК\nпакують")
    assert parse_command("ТЦК пакують /search") is None
    assert parse_command("👎 3") is None


def test_search_takes_words_a_topic_and_a_span():
    assert parse_search("ТЦК метро* #busification 7d", TOPICS) == SearchQuery("ТЦК метро*", "busification", 7.0)
    assert parse_search("повістки 12h", TOPICS) == SearchQuery("повістки", None, 0.5)
    assert parse_search("#szch", TOPICS) == SearchQuery("", "szch", None)
    paged = parse_search("ТЦК #szch 24h p3", TOPICS)
    assert paged == SearchQuery("ТЦК", "szch", 1.0, 3) and paged.typed(4) == "/search ТЦК #szch 1d p4"
    with pytest.raises(CommandError, match="немає теми #tcc"):
        parse_search("ТЦК #tcc", TOPICS)
    with pytest.raises(CommandError, match="що шукати"):
        parse_search("7d", TOPICS)


def test_editors_by_id_or_by_name_in_any_case():
    editors = Editors.parse(("@anna_ed", "123456"))
    assert editors.admits(123456, None) and editors.admits(42, "Anna_Ed")
    assert not editors.admits(42, "olena_kyiv") and not editors.admits(None, None)
    assert not Editors.parse(())


def test_an_editor_past_the_rate_waits_and_is_told_once():
    limit = RateLimit(per_minute=2)
    assert limit.take("a", 0.0) == 0 and limit.take("a", 1.0) == 0
    assert limit.take("a", 2.0) == pytest.approx(58.0)
    assert limit.should_warn("a", 2.0) and not limit.should_warn("a", 3.0)
    assert limit.take("b", 3.0) == 0  # per editor
    assert limit.take("a", 60.5) == 0  # the first one left the window


@pytest.mark.parametrize("text, expected", [
    ("👎", False), ("👎 3", False), ("-", False), ("ні, це про кіно", False), ("не те #szch", False),
    ("👍", True), ("+", True), ("так", True), ("вірно, №2", True),
    ("дякую", None), ("а що там з Оболонню?", None), ("нічого", None),
])
def test_verdicts_in_the_words_editors_use(text, expected):
    assert verdict(text) is expected


def test_a_reply_names_its_item_or_means_the_only_one():
    items = [ItemRef(1, 1, -100, 5), ItemRef(1, 2, -100, 6), ItemRef(2, 3, -200, 7), ItemRef(2, 4, -200, 7)]
    assert item_number("👎 №3 #szch") == 3 and item_number("👎") is None and tags("👎 3 #szch #busification") == [
        "szch", "busification"]
    assert pick(items, part=1, number=2) == items[1]
    assert pick(items, part=1, number=None) is None  # two different items: which?
    assert pick(items, part=2, number=None) == items[2]  # one message under two topics
    assert pick(items, part=1, number=9) is None


def sighting(chat_id: int, minutes_ago: float, topic: str = "busification", n: int = 1) -> Sighting:
    return Sighting(topic, chat_id, f"chat {chat_id}", None, n, NOW - timedelta(minutes=minutes_ago), "…")


CITIES = {-1: "Київ", -2: "Київ", -3: "Київ", -4: "Львів"}


def test_a_city_surges_when_its_chats_together_pass_the_threshold():
    rule = SpikeRule(window=timedelta(minutes=15), city_matches=4)
    burst = [sighting(-1, 3), sighting(-2, 2), sighting(-3, 1), sighting(-1, 0, n=2)]
    [spike] = find_spikes(burst, now=NOW, rule=rule, cities=CITIES, usual={})
    assert spike.key == ("city", "Київ", "busification") and spike.chats == 3 and len(spike.items) == 4
    # the same number spread over an hour, over two cities, or over two topics is no surge
    spread = [sighting(-1, 50), sighting(-2, 40), sighting(-3, 30), sighting(-1, 1)]
    assert find_spikes(spread, now=NOW, rule=rule, cities=CITIES, usual={}) == []
    mixed = [sighting(-1, 3), sighting(-2, 2), sighting(-4, 1), sighting(-4, 0, n=2)]
    assert find_spikes(mixed, now=NOW, rule=rule, cities=CITIES, usual={}) == []
    topics = [sighting(-1, 3), sighting(-2, 2), sighting(-3, 1, "szch"), sighting(-1, 0, "szch", n=2)]
    assert find_spikes(topics, now=NOW, rule=rule, cities=CITIES, usual={}) == []


def test_a_chat_surges_far_above_its_usual_rate():
    rule = SpikeRule(window=timedelta(minutes=15), chat_factor=4, chat_min=3)
    burst = [sighting(-9, m, n=m) for m in range(3)]
    # a busy chat: 672 windows a week, 1 match per window on average → 3 is not 4× that
    assert find_spikes(burst, now=NOW, rule=rule, cities={}, usual={(-9, "busification"): 672}) == []
    [spike] = find_spikes(burst, now=NOW, rule=rule, cities={}, usual={(-9, "busification"): 10})
    assert spike.key == ("chat", -9, "busification")
    assert find_spikes(burst[:2], now=NOW, rule=rule, cities={}, usual={}) == []  # below chat_min
    # a chat whose city surges as well: one alert, the city's
    both = SpikeRule(window=timedelta(minutes=15), city_matches=3, chat_factor=4, chat_min=3)
    [spike] = find_spikes(burst, now=NOW, rule=both, cities={-9: "Київ"}, usual={})
    assert spike.key == ("city", "Київ", "busification")


def test_each_surge_is_announced_once_until_it_has_been_quiet_for_a_window():
    rule = SpikeRule(window=timedelta(minutes=15), city_matches=2)
    watch = SpikeWatch(rule.window)
    burst = [sighting(-1, 1), sighting(-2, 0)]
    spikes = find_spikes(burst, now=NOW, rule=rule, cities=CITIES, usual={})
    assert watch.fresh(spikes, NOW) == spikes
    assert watch.fresh(spikes, NOW + timedelta(minutes=5)) == []
    assert watch.fresh([], NOW + timedelta(minutes=15)) == []
    assert watch.fresh(spikes, NOW + timedelta(minutes=40)) == spikes  # a new surge later


def test_cities_are_found_by_username_or_id():
    chats = [Chat(-1001, "Оболонь", "Kyiv_Obolon_Chat"), Chat(-1002, "Поділ"), Chat(-1003, "Інший", "other")]
    config = (("Київ", ("@kyiv_obolon_chat", "-1002")), ("Одеса", ("t.me/odesa_chat",)))
    assert cities_of(chats, config) == {-1001: "Київ", -1002: "Київ"}


@pytest.mark.parametrize("variable, value, named", [
    ("DOZOR_EDITORS", "@anna_ed, anna", "'anna'"),
    ("DESK_RATE", "0", "at least 1"),
    ("SPIKE_CITY_MATCHES", "many", "whole number"),
    ("SPIKE_CHAT_FACTOR", "-2", "above 0"),
    ("SPIKE_CITIES", "Київ @kyiv_obolon_chat", "City: @chat"),
    ("SPIKE_CITIES", "Київ: @kyiv_obolon_chat, Оболонь", "'Оболонь' (city Київ)"),
])
def test_a_bad_desk_setting_names_its_variable(monkeypatch, variable, value, named):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as error:
        load_settings(None)
    assert str(error.value).startswith(f"{variable}: ") and named in str(error.value)


def test_desk_settings_as_written(monkeypatch):
    for variable, value in {"DOZOR_EDITORS": "@Anna_Ed, 123456", "SPIKE_CITY_MATCHES": "5",
                            "SPIKE_CITIES": "Київ: @kyiv_obolon_chat, -1001234567890\nОдеса: t.me/odesa_chat"}.items():
        monkeypatch.setenv(variable, value)
    settings = load_settings(None)
    assert settings.editors == ("@anna_ed", "123456") and settings.spike_city_matches == 5
    assert settings.spike_cities == (("Київ", ("@kyiv_obolon_chat", "-1001234567890")), ("Одеса", ("t.me/odesa_chat",)))
    assert settings.spike_chat_factor is None  # off until set
    assert "Київ: @kyiv_obolon_chat" in settings.masked()["SPIKE_CITIES"]


async def test_desk_search_puts_the_closest_match_first(tmp_path):
    from bot.archive import Archive
    from bot.archive.search import search
    from bot.model import MatchResult, Post

    archive = await Archive.open(tmp_path / "archive.sqlite3")
    try:
        chat = Chat(-1001, "Київ новини", "kyiv_news", keep_all=True)
        await archive.save_chat(chat)
        close = "ТЦК біля метро Оболонь: ТЦК зупиняють усіх"
        far = "Сьогодні в місті ремонт доріг, тролейбуси ходять інакше, " * 5 + "а біля метро черги за кавою"
        await archive.ingest(chat, [(Post(chat.id, 1, NOW - timedelta(hours=2), close), MatchResult()),
                                    (Post(chat.id, 2, NOW - timedelta(hours=1), far), MatchResult())])
        assert [h.message_id for h in await search(archive, "ТЦК метро")] == [1]
        assert [h.message_id for h in await search(archive, "метро")] == [2, 1]  # newest first
        assert [h.message_id for h in await search(archive, "метро", best_first=True)] == [1, 2]
    finally:
        await archive.close()


def test_what_a_message_to_the_desk_is():
    from bot.desk.desk import Forwarded, Incoming, kind_of

    def msg(text, private=False, reply_to=None, forward=None):
        return Incoming(chat_id=-1, message_id=5, sender_id=42, username="anna_ed", text=text, private=private,
                        reply_to=reply_to, forward=forward)

    missed = Forwarded(-100, 7, "СЗЧ: двоє пішли")
    assert kind_of(msg("/search ТЦК"), False) == "command"
    assert kind_of(msg("", private=True, forward=missed), False) == "forward"
    assert kind_of(msg("", forward=missed), False) is None  # forwards count in private only
    assert kind_of(msg("#szch", private=True), True) == "topic"
    assert kind_of(msg("#szch", private=True), False) is None
    assert kind_of(msg("👎 2", reply_to=9), False) == "feedback"
    assert kind_of(msg("👎 2"), False) is None  # a verdict answers an item
    assert kind_of(msg("а що там на Оболоні?", reply_to=9), False) is None
