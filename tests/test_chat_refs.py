"""One way to write a chat: DOZOR_CHATS and the keywords file read the same references alike."""
from __future__ import annotations

import pytest

from bot.chat_refs import ChatRef, parse_chat
from bot.matching.rules import chat_reference
from bot.telegram.subscriptions import parse_source


@pytest.mark.parametrize("written, meant", [
    ("@kyiv_news", ChatRef("username", "kyiv_news")),
    ("t.me/kyiv_news", ChatRef("username", "kyiv_news")),
    ("https://t.me/s/kyiv_news", ChatRef("username", "kyiv_news")),
    ("https://telegram.me/kyiv_news/", ChatRef("username", "kyiv_news")),
    ("https://t.me/kyiv_news/501", ChatRef("username", "kyiv_news")),  # a post's link, pasted
    ("-1001700000003", ChatRef("id", -1001700000003)),
    ("https://t.me/c/1700000003/9", ChatRef("id", -1001700000003)),
])
def test_the_settings_and_the_keywords_file_read_a_chat_alike(written, meant):
    assert parse_chat(written) == meant
    assert parse_source(written) == (meant.kind, meant.value)
    chat = chat_reference(written)
    assert (chat.username, chat.id) == ((meant.value, 0) if meant.kind == "username" else (None, meant.value))


def test_an_invite_link_is_a_chat_to_watch_but_not_one_a_rule_can_name():
    assert parse_source("t.me/+AbCdEf123") == ("invite", "AbCdEf123")
    assert parse_source("https://t.me/joinchat/AbCdEf123") == ("invite", "AbCdEf123")
    assert chat_reference("t.me/+AbCdEf123") is None


def test_a_bare_word_is_a_username_only_in_dozor_chats():
    assert parse_source("kyiv_news") == ("username", "kyiv_news")
    assert chat_reference("kyiv_news") is None  # in the keywords file it names a group of chats


@pytest.mark.parametrize("written", ["", "@ab", "t.me/", "https://example.com/kyiv_news", "kyiv news"])
def test_what_is_not_a_chat_is_refused_saying_what_is_accepted(written):
    with pytest.raises(ValueError, match="is not a @username, t.me link, invite link or numeric chat id"):
        parse_chat(written, bare=True)
    assert chat_reference(written) is None

