"""How a chat is written, wherever dozor reads one (DOZOR_CHATS, the keywords file, --chat).

    parse_chat("t.me/kyiv_news")          # ChatRef("username", "kyiv_news")
    parse_chat("https://t.me/c/1700000003/9")  # ChatRef("id", -1001700000003)
    parse_chat("t.me/+AbCdEf123")         # ChatRef("invite", "AbCdEf123")
    parse_chat("kyiv_news", bare=True)    # a bare name counts only where nothing else can be meant

Accepted: `@name`, `t.me/name` and `t.me/s/name` (http(s)://, telegram.me, a trailing slash
or message id allowed), a numeric id in marked form (-100…) or as written in private links
(`t.me/c/123`), and invite links `t.me/+HASH` / `t.me/joinchat/HASH`. Telethon is not needed
here, so the matching rules can use it too.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = r"[A-Za-z][A-Za-z0-9_]{3,31}"
_HOST = r"(?:https?://)?(?:www\.)?(?:t|telegram)\.me/"
_INVITE = re.compile(_HOST + r"(?:\+|joinchat/)(?P<hash>[\w-]+)/?")
_PRIVATE = re.compile(_HOST + r"c/(?P<id>\d+)(?:/\d+)?/?")
_LINK = re.compile(_HOST + rf"(?:s/)?(?P<name>{_NAME})(?:/\d+)?/?")
_AT_NAME = re.compile(rf"@(?P<name>{_NAME})")
_BARE_NAME = re.compile(rf"(?P<name>{_NAME})")
_ID = re.compile(r"-?\d+")
CHANNEL_MARK = "-100"  # Telegram's marked ids of channels and supergroups start with it


@dataclass(frozen=True, slots=True)
class ChatRef:
    kind: str  # username | id | invite
    value: str | int  # the username without @, the marked id, or the invite hash


def parse_chat(text: str, *, bare: bool = False) -> ChatRef:
    """The chat `text` names; ValueError saying what is accepted when it names none.
    `bare`: a plain word is a username (DOZOR_CHATS); elsewhere it means something else."""
    text = text.strip()
    if _ID.fullmatch(text):
        return ChatRef("id", int(text))
    if found := _PRIVATE.fullmatch(text):
        return ChatRef("id", int(CHANNEL_MARK + found["id"]))
    if found := _INVITE.fullmatch(text):
        return ChatRef("invite", found["hash"])
    if found := (_LINK.fullmatch(text) or _AT_NAME.fullmatch(text) or (bare and _BARE_NAME.fullmatch(text))):
        return ChatRef("username", found["name"])
    raise ValueError(f"{text!r} is not a @username, t.me link, invite link or numeric chat id")
