"""Plain data shared by every stage: Telegram → Post → Match → archive → digest.

Nothing here knows Telethon or SQL, so every stage can be tested with plain values.
Chat ids are in Telethon's marked form (-100… for channels); times are aware UTC datetimes.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


# Telethon marks a channel's id as -(10**12 + id): every marked id below this is a channel
CHANNEL_ID_OFFSET = -10**12


@dataclass(frozen=True, slots=True)
class Chat:
    """A monitored chat as the archive remembers it."""

    id: int
    title: str
    username: str | None = None
    kind: str = "channel"  # channel | group | user
    keep_all: bool = False  # archive every message's text, not only matches

    @property
    def numbers_its_own_messages(self) -> bool:
        """Channels and supergroups number messages 1, 2, 3 …; basic groups and private chats
        share one sequence across the whole account, so a jump in ids there means nothing."""
        return self.id < CHANNEL_ID_OFFSET

    @property
    def internal_id(self) -> int:
        """The id used in private t.me/c/<id>/<msg> links (the marked id without -100)."""
        return CHANNEL_ID_OFFSET - self.id if self.id < CHANNEL_ID_OFFSET else abs(self.id)

    def link(self, message_id: int) -> str:
        if self.username:
            return f"https://t.me/{self.username}/{message_id}"
        return f"https://t.me/c/{self.internal_id}/{message_id}"


@dataclass(frozen=True, slots=True)
class MediaRef:
    """What a message carries, described before anything is downloaded."""

    kind: str  # photo | video | round | voice | audio | document | gif | sticker | other
    telegram_id: int  # photo.id or document.id: the same file posted twice has the same id
    mime_type: str | None = None
    size: int | None = None
    file_name: str | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None


@dataclass(frozen=True, slots=True)
class Post:
    """One Telegram message, as every stage after the Telegram boundary sees it."""

    chat_id: int
    message_id: int
    date: datetime
    text: str
    author_id: int | None = None
    author_name: str | None = None
    views: int | None = None
    forwards: int | None = None
    reply_to: int | None = None
    forward_from: str | None = None  # a readable origin: channel title, user name or "hidden"
    grouped_id: int | None = None  # album id: items with the same id belong together
    media: MediaRef | None = None
    edit_date: datetime | None = None

    @property
    def key(self) -> tuple[int, int]:
        return (self.chat_id, self.message_id)


@dataclass(frozen=True, slots=True)
class Match:
    """One topic that a message matched, why, and where in the original text."""

    topic: str
    rule: str  # the rule id in the keywords file
    term: str  # the term as the moderator wrote it
    start: int  # span in the original (unnormalised) text
    end: int


MODEL_RULE = "model"  # the rule id of a Match the model found; no rule of the keywords file has it


@dataclass(frozen=True, slots=True)
class Opinion:
    """What the model thinks of one topic of a message, and why."""

    topic: str
    score: float  # probability, 0–1
    found: bool  # at or above the topic's found threshold: counts as found; else worth a review
    like: tuple[str, ...] = ()  # the nearest labelled examples of the topic, the explanation


@dataclass(frozen=True, slots=True)
class MatchResult:
    matches: tuple[Match, ...] = ()  # the rules' hits, then the model's confident ones (rule MODEL_RULE)
    language: str | None = None  # uk | ru | en | … or None when undecidable
    opinions: tuple[Opinion, ...] = ()  # the model's, for topics the rules did not find

    @property
    def topics(self) -> list[str]:
        """What counts as found: the rules' topics and the model's confident ones."""
        return sorted({m.topic for m in self.matches})

    @property
    def review(self) -> list[str]:
        """Topics the model suspects but is not sure of: for a human to look at."""
        return sorted({o.topic for o in self.opinions if not o.found} - set(self.topics))

    def __bool__(self) -> bool:
        return bool(self.matches)


@dataclass(slots=True)
class ChatStatus:
    """One row of `dozor status`."""

    chat_id: int | None
    source: str  # as the operator wrote it in DOZOR_CHATS
    title: str | None
    checkpoint: int = 0
    last_message_at: datetime | None = None
    archived_today: int = 0
    matches_today: int = 0
    error: str | None = None
