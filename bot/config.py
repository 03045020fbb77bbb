"""Settings from `config.env` (python-dotenv) with the environment taking precedence.

    settings = load_settings(Path("config.env"))
    settings.archive_path  # storage/archive.sqlite3

Every bad value raises one ConfigError naming the variable and what it expected,
so an operator sees exactly which line of the file to fix.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from datetime import time as dtime
from pathlib import Path
from typing import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

DEFAULT_CONFIG = Path("config.env")
MEDIA_KINDS = ("photo", "video", "round", "voice", "audio", "document", "gif", "sticker")
SECRET_FIELDS = {"api_hash", "digest_bot_token"}


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""

    def __init__(self, variable: str, problem: str):
        self.variable = variable
        super().__init__(f"{variable}: {problem}")


@dataclass(frozen=True)
class Settings:
    api_id: int | None = None
    api_hash: str | None = field(default=None, repr=False)  # secrets never reach a log via repr
    storage: Path = Path("storage")
    chats: tuple[str, ...] = ()
    keep_all_chats: tuple[str, ...] = ()
    join_channels: bool = True
    keywords: Path = Path("keywords.toml")
    backfill_hours: float = 24.0
    catchup_interval: float = 900.0  # longest seconds between two looks at a chat
    digest_chat: str | None = None
    digest_time: dtime = dtime(9, 0)
    digest_tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Kyiv"))
    digest_period: str = "daily"
    digest_topic_cap: int = 15
    digest_bot_token: str | None = field(default=None, repr=False)
    media_max_mb: float = 50.0
    media_types: tuple[str, ...] = MEDIA_KINDS
    media_workers: int = 2
    log_level: str = "INFO"

    @property
    def session_path(self) -> Path:
        return self.storage / "dozor.session"

    @property
    def archive_path(self) -> Path:
        return self.storage / "archive.sqlite3"

    @property
    def media_dir(self) -> Path:
        return self.storage / "media"

    @property
    def lock_path(self) -> Path:
        return self.storage / "dozor.lock"

    def require_api(self) -> tuple[int, str]:
        if self.api_id is None:
            raise ConfigError("TG_API_ID", "not set; get it at https://my.telegram.org → API development tools")
        if not self.api_hash:
            raise ConfigError("TG_API_HASH", "not set; get it at https://my.telegram.org → API development tools")
        return self.api_id, self.api_hash

    def masked(self) -> dict[str, str]:
        """The resolved settings as text, secrets replaced by stars (for `dozor config`)."""
        shown = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS and value:
                text = str(value)
                value = "*" * 8 + text[-2:] if len(text) > 6 else "*" * 8
            elif isinstance(value, tuple):
                value = ", ".join(value)
            shown[f.name] = "" if value is None else str(value)
        return shown


# variable name → (field, parser); parsers raise ValueError with a readable expectation
def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"expected a whole number, got {text!r}") from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None
    if value <= 0:
        raise ValueError(f"expected a number above 0, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    value = _int(text)
    if value <= 0:
        raise ValueError(f"expected a whole number above 0, got {text!r}")
    return value


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected yes/no (true/false, 1/0), got {text!r}")


def _list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.replace("\n", ",").split(",") if part.strip())


def _time(text: str) -> dtime:
    try:
        hours, minutes = text.strip().split(":")
        return dtime(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"expected a local time as HH:MM, e.g. 09:00, got {text!r}") from None


def _zone(text: str) -> ZoneInfo:
    try:
        return ZoneInfo(text.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"expected an IANA time zone such as Europe/Kyiv, got {text!r}") from None


def _period(text: str) -> str:
    lowered = text.strip().lower()
    if lowered not in {"daily", "weekly"}:
        raise ValueError(f"expected daily or weekly, got {text!r}")
    return lowered


def _media_types(text: str) -> tuple[str, ...]:
    kinds = tuple(k.lower() for k in _list(text))
    unknown = [k for k in kinds if k not in MEDIA_KINDS]
    if unknown:
        raise ValueError(f"unknown media type {unknown[0]!r}; choose from {', '.join(MEDIA_KINDS)}")
    return kinds


def _log_level(text: str) -> str:
    level = text.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError(f"expected DEBUG, INFO, WARNING or ERROR, got {text!r}")
    return level


def _non_empty(text: str) -> str:
    if not text.strip():
        raise ValueError("expected a value, got an empty string")
    return text.strip()


VARIABLES = {
    "TG_API_ID": ("api_id", _positive_int),
    "TG_API_HASH": ("api_hash", _non_empty),
    "DOZOR_STORAGE": ("storage", lambda t: Path(_non_empty(t))),
    "DOZOR_CHATS": ("chats", _list),
    "DOZOR_KEEP_ALL_CHATS": ("keep_all_chats", _list),
    "DOZOR_JOIN_CHANNELS": ("join_channels", _bool),
    "DOZOR_KEYWORDS": ("keywords", lambda t: Path(_non_empty(t))),
    "DOZOR_BACKFILL_HOURS": ("backfill_hours", _positive_float),
    "DOZOR_CATCHUP_INTERVAL": ("catchup_interval", _positive_float),
    "DIGEST_CHAT": ("digest_chat", _non_empty),
    "DIGEST_TIME": ("digest_time", _time),
    "DIGEST_TZ": ("digest_tz", _zone),
    "DIGEST_PERIOD": ("digest_period", _period),
    "DIGEST_TOPIC_CAP": ("digest_topic_cap", _positive_int),
    "DIGEST_BOT_TOKEN": ("digest_bot_token", _non_empty),
    "MEDIA_MAX_MB": ("media_max_mb", _positive_float),
    "MEDIA_TYPES": ("media_types", _media_types),
    "MEDIA_WORKERS": ("media_workers", _positive_int),
    "LOG_LEVEL": ("log_level", _log_level),
}


def load_settings(config: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read `config` (default `config.env` if present), then let the environment override it."""
    environ = os.environ if environ is None else environ
    values: dict[str, str] = {}
    if config is not None and not config.exists():
        raise ConfigError("--config", f"file {config} does not exist")
    path = config or (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    if path is not None:
        values.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    values.update({k: v for k, v in environ.items() if k in VARIABLES})

    parsed = {}
    for variable, (name, parse) in VARIABLES.items():
        raw = values.get(variable)
        if raw is None or raw.strip() == "":
            continue
        try:
            parsed[name] = parse(raw)
        except ValueError as error:
            raise ConfigError(variable, str(error)) from None
    return Settings(**parsed)
