"""Settings from `config.env` with the environment taking precedence (pydantic-settings).

    settings = load_settings(Path("config.env"))
    settings.archive_path  # storage/archive.sqlite3
    settings.config_file   # the file that was read, None when there was none

A setting is one line in `Settings`: its attribute, its type (one of the checked types below,
which say what a good value is) and `var("VARIABLE", default)`. pydantic-settings reads the
file and the environment; every bad value, and every unknown DOZOR_/DIGEST_/TG_/MEDIA_ name,
raises one ConfigError naming the variable and what it expected, so an operator sees exactly
which line of the file to fix. `Settings(...)` built in code is not checked (tests, tools).
"""
from __future__ import annotations

import difflib
import os
import re
from dataclasses import MISSING, dataclass, field, fields, replace
from datetime import time as dtime
from pathlib import Path
from typing import Annotated, Any, Callable, Mapping, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from pydantic import BeforeValidator, Field, ValidationError, create_model
from pydantic_core import PydanticUseDefault
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.archive.database import UnknownDatabase, database_url
from bot.archive.database import describe as describe_database
from bot.chat_refs import parse_chat
from bot.telegram.budget import DEFAULT_RATES

DEFAULT_CONFIG = Path("config.env")
EXAMPLE_CONFIG = "config.example.env"
MEDIA_KINDS = ("photo", "video", "round", "voice", "audio", "document", "gif", "sticker")
SECRET_FIELDS = {"api_hash", "digest_bot_token"}
# ours, but read by the test suite rather than by dozor (the PostgreSQL server the tests use)
NOT_SETTINGS = {"DOZOR_TEST_DATABASE_URL"}
# the account a Service serves unless told otherwise; its session keeps the first release's name
MAIN_ACCOUNT = "main"
ACCOUNT_NAME = re.compile(r"[a-z0-9_-]{1,32}")
OUR_PREFIXES = ("DOZOR_", "DIGEST_", "TG_", "MEDIA_", "DESK_", "SPIKE_", "WEB_")  # an unknown name with one of these is a typo


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""

    def __init__(self, variable: str, problem: str):
        self.variable = variable
        super().__init__(f"{variable}: {problem}")


# --- parsers: text → value, or ValueError saying what was expected -----------------------------

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


def _choice(*options: str, upper: bool = False) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().upper() if upper else text.strip().lower()
        if value not in options:
            raise ValueError(f"expected {', '.join(options[:-1])} or {options[-1]}, got {text!r}")
        return value
    return parse


def _media_types(text: str) -> tuple[str, ...]:
    kinds = tuple(k.lower() for k in _list(text))
    unknown = [k for k in kinds if k not in MEDIA_KINDS]
    if unknown:
        raise ValueError(f"unknown media type {unknown[0]!r}; choose from {', '.join(MEDIA_KINDS)}")
    return kinds


def _text(text: str) -> str:
    return text.strip()


def _file(text: str) -> Path:
    if not text.strip():
        raise ValueError("expected a file path, got an empty value")
    if "\0" in text:
        raise ValueError("expected a file path, got a NUL character")
    return Path(text.strip())


def _directory(text: str) -> Path:
    """A directory that exists or can be created: not a file, not under a file."""
    if not text.strip():
        raise ValueError("expected a directory, got an empty value")
    if "\0" in text:
        raise ValueError("expected a directory, got a NUL character")
    path = Path(text.strip())
    if path.exists() and not path.is_dir():
        raise ValueError(f"expected a directory, but {path} is a file")
    ancestor = path
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not path.exists() and (not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK)):
        raise ValueError(f"cannot create {path}: {ancestor} is not a directory this user may write to")
    return path


def _editors(text: str) -> tuple[str, ...]:
    found = []
    for entry in _list(text):
        if re.fullmatch(r"\d+", entry):
            found.append(entry)
        elif re.fullmatch(r"@[A-Za-z][A-Za-z0-9_]{3,31}", entry):
            found.append(entry.casefold())
        else:
            raise ValueError(f"expected @username or a numeric user id, got {entry!r}")
    return tuple(found)


def _cities(text: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """'Київ: @kyiv_a, @kyiv_b; Одеса: t.me/odesa_chat' → ((city, chats), …)."""
    cities = []
    for entry in (e.strip() for e in re.split(r"[;\n]", text)):
        if not entry:
            continue
        city, colon, chats = entry.partition(":")
        refs = _list(chats)
        if not colon or not city.strip() or not refs:
            raise ValueError(f"expected 'City: @chat, @chat; City: …', got {entry!r}")
        for ref in refs:
            try:
                parse_chat(ref)
            except ValueError as error:
                raise ValueError(f"{ref!r} (city {city.strip()}): {error}") from None
        cities.append((city.strip(), refs))
    return tuple(cities)


def _database_url(text: str) -> str:
    """postgresql://user:password@host:port/database — the shared archive (unset: SQLite)."""
    try:
        database_url(text.strip())
    except UnknownDatabase as error:
        raise ValueError(f"expected postgresql://user@host/database, got {error}") from None
    return text.strip()


def account_name_problem(name: str) -> str | None:
    """Why `name` cannot name an account (it becomes part of a file name), None when it can."""
    if ACCOUNT_NAME.fullmatch(name):
        return None
    return f"{name!r} is not an account name: expected 1-32 of a-z, 0-9, _ and -, e.g. main or spare_2"


def _accounts(text: str) -> tuple[str, ...]:
    names = _list(text)
    if not names:
        raise ValueError(f"expected comma-separated account names such as {MAIN_ACCOUNT}, spare, got {text!r}")
    for name in names:
        if problem := account_name_problem(name):
            raise ValueError(problem)
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"account {name!r} is listed twice")
    return names


def _pins(text: str) -> tuple[tuple[str, str], ...]:
    """'@kyiv_news=main, t.me/odesa_chat=spare' → ((chat, account), …). An account unknown
    here is allowed: it may run on another machine sharing the archive."""
    pins, seen = [], {}
    for entry in _list(text):
        chat, equals, account = (part.strip() for part in entry.partition("="))
        if not equals or not chat or not account:
            raise ValueError(f"expected 'chat=account, chat=account', got {entry!r}")
        try:
            ref = parse_chat(chat, bare=True)
        except ValueError as error:
            raise ValueError(f"{entry!r}: {error}") from None
        if problem := account_name_problem(account):
            raise ValueError(f"{entry!r}: {problem}")
        key = (ref.kind, ref.value.casefold() if ref.kind == "username" else ref.value)
        if key in seen and seen[key] != account:
            raise ValueError(f"{chat!r} is pinned to both {seen[key]!r} and {account!r}")
        seen[key] = account
        pins.append((chat, account))
    return tuple(pins)


def checked(parse: Callable[[str], Any] = str.strip, *, blank_is_unset: bool = True) -> BeforeValidator:
    """Parse the text of a variable; an empty value means "not set" unless that is an error.
    Numbers are left to pydantic (`parse` only strips them), bounded by Field constraints."""
    def validate(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if blank_is_unset and not value.strip():
            raise PydanticUseDefault()
        return parse(value)
    return BeforeValidator(validate)


def _whole(low: int, high: int) -> tuple:
    return checked(), Field(ge=low, le=high)


def _number(high: float) -> tuple:
    return checked(), Field(gt=0, le=high, allow_inf_nan=False)


# pydantic's refusals of numbers, told the way the other settings are
_EXPECTED = {
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_parsing": "expected a number",
    "greater_than": "expected a number above {gt}",
    "greater_than_equal": "expected at least {ge}",
    "less_than_equal": "expected at most {le}",
}


# --- checked types: what a good value is --------------------------------------------------------
ApiId = Annotated[Annotated[int, Field(ge=1, le=2**31 - 1)] | None, checked()]  # a 32-bit number
Text = Annotated[str | None, checked(_text)]
Directory = Annotated[Path, checked(_directory, blank_is_unset=False)]
File = Annotated[Path, checked(_file, blank_is_unset=False)]
Chats = Annotated[tuple[str, ...], checked(_list)]
YesNo = Annotated[bool, checked(_bool)]
Hours = Annotated[float, *_number(24 * 366 * 10)]
Seconds = Annotated[float, *_number(7 * 86400)]
Megabytes = Annotated[float, *_number(4000)]  # Telegram's largest file is 4 GB
Workers = Annotated[int, *_whole(1, 16)]  # more parallel downloads only invite flood waits
Cap = Annotated[int, *_whole(1, 1000)]
LocalTime = Annotated[dtime, checked(_time)]
Zone = Annotated[ZoneInfo, checked(_zone)]
Period = Annotated[str, checked(_choice("daily", "weekly"))]
MediaKinds = Annotated[tuple[str, ...], checked(_media_types)]
LogLevel = Annotated[str, checked(_choice("DEBUG", "INFO", "WARNING", "ERROR", upper=True))]
PerMinute = Annotated[float, *_number(100_000)]  # requests a minute
ChannelCap = Annotated[int, *_whole(1, 10_000)]
Count = Annotated[int, *_whole(1, 100_000)]
Threshold = Annotated[Annotated[int, Field(ge=1, le=100_000)] | None, checked()]  # unset: off
Factor = Annotated[Annotated[float, Field(gt=0, le=1_000, allow_inf_nan=False)] | None, checked()]
Minutes = Annotated[float, *_number(24 * 60)]
ModelChoice = Annotated[str, checked(lambda t: t.strip().lower() if t.strip().lower() in {"shipped", "off"} else t.strip())]
Port = Annotated[int, *_whole(1, 65535)]
Editors = Annotated[tuple[str, ...], checked(_editors)]
Cities = Annotated[tuple[tuple[str, tuple[str, ...]], ...], checked(_cities)]
Accounts = Annotated[tuple[str, ...], checked(_accounts)]
Pins = Annotated[tuple[tuple[str, str], ...], checked(_pins)]
LeaseSeconds = Annotated[float, checked(), Field(ge=30, le=86400, allow_inf_nan=False)]
DatabaseUrl = Annotated[str | None, checked(_database_url)]


def var(variable: str, default: Any = None, **options) -> Any:
    """A setting read from `variable`; `options` go to dataclasses.field."""
    if callable(default) and not isinstance(default, type):
        return field(default_factory=default, metadata={"variable": variable}, **options)
    return field(default=default, metadata={"variable": variable}, **options)


@dataclass(frozen=True)
class Settings:
    api_id: ApiId = var("TG_API_ID")
    api_hash: Text = var("TG_API_HASH", repr=False)  # secrets never reach a log via repr
    storage: Directory = var("DOZOR_STORAGE", Path("storage"))
    # the archive: unset, a SQLite file in the storage directory; postgresql://… to share one
    # archive between workers and accounts (the password stays out of logs and `dozor config`)
    database_url: DatabaseUrl = var("DOZOR_DATABASE_URL", repr=False)
    # accounts: the ones this machine runs (`dozor login --account NAME` each), chats pinned to
    # one, and how long an account stays claimed by a worker that stopped renewing its lease
    accounts: Accounts = var("DOZOR_ACCOUNTS", (MAIN_ACCOUNT,))
    account_pins: Pins = var("DOZOR_ACCOUNT_PINS", ())
    lease_seconds: LeaseSeconds = var("DOZOR_LEASE_SECONDS", 180.0)
    chats: Chats = var("DOZOR_CHATS", ())
    keep_all_chats: Chats = var("DOZOR_KEEP_ALL_CHATS", ())
    join_channels: YesNo = var("DOZOR_JOIN_CHANNELS", True)
    keywords: File = var("DOZOR_KEYWORDS", Path("keywords.toml"))
    backfill_hours: Hours = var("DOZOR_BACKFILL_HOURS", 24.0)
    catchup_interval: Seconds = var("DOZOR_CATCHUP_INTERVAL", 900.0)  # longest seconds between two looks at a chat
    digest_chat: Text = var("DIGEST_CHAT")
    digest_time: LocalTime = var("DIGEST_TIME", dtime(9, 0))
    digest_tz: Zone = var("DIGEST_TZ", lambda: ZoneInfo("Europe/Kyiv"))
    digest_period: Period = var("DIGEST_PERIOD", "daily")
    digest_topic_cap: Cap = var("DIGEST_TOPIC_CAP", 15)
    digest_bot_token: Text = var("DIGEST_BOT_TOKEN", repr=False)
    media_max_mb: Megabytes = var("MEDIA_MAX_MB", 50.0)
    media_types: MediaKinds = var("MEDIA_TYPES", MEDIA_KINDS)
    media_workers: Workers = var("MEDIA_WORKERS", 2)
    log_level: LogLevel = var("LOG_LEVEL", "INFO")
    # Telegram's limits: requests per minute per method (bot/telegram/budget.py), the channel cap
    rate_resolve: PerMinute = var("DOZOR_RATE_RESOLVE", DEFAULT_RATES["resolve"])
    rate_join: PerMinute = var("DOZOR_RATE_JOIN", DEFAULT_RATES["join"])
    rate_history: PerMinute = var("DOZOR_RATE_HISTORY", DEFAULT_RATES["history"])
    rate_difference: PerMinute = var("DOZOR_RATE_DIFFERENCE", DEFAULT_RATES["difference"])
    rate_download: PerMinute = var("DOZOR_RATE_DOWNLOAD", DEFAULT_RATES["download"])
    rate_dialogs: PerMinute = var("DOZOR_RATE_DIALOGS", DEFAULT_RATES["dialogs"])
    rate_other: PerMinute = var("DOZOR_RATE_OTHER", DEFAULT_RATES["other"])
    channel_cap: ChannelCap = var("DOZOR_CHANNEL_CAP", 500)  # 1000 with Premium
    # the editors' desk: commands in Telegram, feedback, spike alerts (off until a threshold is set)
    editors: Editors = var("DOZOR_EDITORS", ())  # @username (casefolded) or numeric user id, as text
    desk_rate: Count = var("DESK_RATE", 6)  # commands per editor per minute
    spike_window: Minutes = var("SPIKE_WINDOW_MINUTES", 15.0)
    spike_city_matches: Threshold = var("SPIKE_CITY_MATCHES")  # matches of a topic in one city's chats
    spike_chat_factor: Factor = var("SPIKE_CHAT_FACTOR")  # times a chat's usual rate
    spike_chat_min: Count = var("SPIKE_CHAT_MIN", 5)  # fewest matches that count as a chat's surge
    spike_cities: Cities = var("SPIKE_CITIES", ())  # (city, chat references)
    # the learned second opinion: "shipped" (the model in the package), "off", or a model file;
    # a missing file is reported where the model is loaded, with its path
    model: ModelChoice = var("DOZOR_MODEL", "shipped")
    # the web viewer (`dozor web`): where it listens, how long a sign-in lasts, whether the
    # session cookie is kept to HTTPS (behind a TLS reverse proxy)
    web_host: Text = var("WEB_HOST", "127.0.0.1")
    web_port: Port = var("WEB_PORT", 8080)
    web_session_hours: Hours = var("WEB_SESSION_HOURS", 12.0)
    web_https: YesNo = var("WEB_HTTPS", False)
    # where the settings came from (not a setting): None when no file was read
    config_file: Path | None = field(default=None, compare=False)
    # which account a Service serves (not a setting: `dozor run` makes one per account)
    account: str = MAIN_ACCOUNT

    @property
    def session_path(self) -> Path:
        """<storage>/dozor.session for the main account (where every install has kept it),
        <storage>/dozor-NAME.session for the others."""
        if problem := account_name_problem(self.account):
            raise ValueError(problem)  # the name becomes a file name: no `../`
        if self.account == MAIN_ACCOUNT:
            return self.storage / "dozor.session"
        return self.storage / f"dozor-{self.account}.session"

    def session_path_of(self, account: str) -> Path:
        """Where `account`'s session is kept in this storage directory."""
        return replace(self, account=account).session_path

    @property
    def archive_path(self) -> Path:
        return self.storage / "archive.sqlite3"

    @property
    def archive_location(self) -> Path | str:
        """Where the archive is: the PostgreSQL URL when one is set, else the SQLite file."""
        return self.database_url or self.archive_path

    @property
    def media_dir(self) -> Path:
        return self.storage / "media"

    @property
    def lock_path(self) -> Path:
        """One lock per account and storage directory (two clients on one session file is the
        classic `database is locked`): signing in another account needs no stop of the others."""
        if self.account == MAIN_ACCOUNT:
            return self.storage / "dozor.lock"
        return self.session_path.with_suffix(".lock")

    @property
    def request_rates(self) -> dict[str, float]:
        """The request budget: requests per minute for each method (see bot/telegram/budget.py)."""
        return {method: getattr(self, f"rate_{method}") for method in DEFAULT_RATES}

    def require_api(self) -> tuple[int, str]:
        if self.api_id is None and self.config_file is None and not self.api_hash:
            raise ConfigError(str(DEFAULT_CONFIG), no_configuration())
        if self.api_id is None:
            raise ConfigError("TG_API_ID", "not set; get it at https://my.telegram.org → API development tools")
        if not self.api_hash:
            raise ConfigError("TG_API_HASH", "not set; get it at https://my.telegram.org → API development tools")
        return self.api_id, self.api_hash

    def require_chats(self) -> tuple[str, ...]:
        if not self.chats:
            raise ConfigError("DOZOR_CHATS", "no chats to watch; expected a comma-separated list such as "
                                             "@kyiv_news, t.me/kharkiv_chat")
        return self.chats

    def masked(self) -> dict[str, str]:
        """The resolved settings by variable, secrets replaced by stars (for `dozor config`)."""
        shown = {}
        for f in fields(self):
            if "variable" not in f.metadata:
                continue
            value = getattr(self, f.name)
            if f.name == "database_url" and value:
                value = describe_database(value)
            elif f.name in SECRET_FIELDS and value:
                text = str(value)
                value = "*" * 8 + text[-2:] if len(text) > 6 else "*" * 8
            elif f.name == "account_pins":
                value = ", ".join(f"{chat}={account}" for chat, account in value)
            elif f.name == "spike_cities":
                value = "; ".join(f"{city}: {', '.join(chats)}" for city, chats in value)
            elif isinstance(value, tuple):
                value = ", ".join(value)
            shown[f.metadata["variable"]] = "" if value is None else str(value)
        return shown


def no_configuration() -> str:
    return (f"no configuration found: copy {EXAMPLE_CONFIG} to {DEFAULT_CONFIG}, fill in TG_API_ID and "
            f"TG_API_HASH (or pass --config PATH), then run `dozor login`")


VARIABLES = {f.metadata["variable"]: f.name for f in fields(Settings) if "variable" in f.metadata}


def _reader() -> type[BaseSettings]:
    """A pydantic-settings model with one field per setting, read by its variable name."""
    hints = get_type_hints(Settings, include_extras=True)
    defined = {}
    for f in fields(Settings):
        if "variable" not in f.metadata:
            continue
        default = {"default": f.default} if f.default is not MISSING else {"default_factory": f.default_factory}
        defined[f.name] = (hints[f.name], Field(validation_alias=f.metadata["variable"], **default))

    class Reader(BaseSettings):
        # values are our own text formats (lists with commas, not JSON); names are exact
        model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", enable_decoding=False,
                                          arbitrary_types_allowed=True, env_file_encoding="utf-8")

    return create_model("SettingsReader", __base__=Reader, **defined)


_READER = _reader()


def load_settings(config: Path | None = None) -> Settings:
    """Read `config` (default `config.env` if present), then let the environment override it."""
    path = _config_file(config)
    written = dotenv_values(path) if path is not None else {}
    _refuse_unknown(written, str(path))
    _refuse_unknown({k: v for k, v in os.environ.items() if k.startswith(OUR_PREFIXES)}, "the environment")
    try:
        read = _READER(_env_file=path)
    except ValidationError as error:
        first = error.errors()[0]
        variable = str(first["loc"][0]) if first["loc"] else "settings"
        cause = first.get("ctx", {}).get("error")
        problem = str(cause) if isinstance(cause, ValueError) else f"{_expected(first)}, got {first['input']!r}"
        raise ConfigError(variable, problem) from None
    return Settings(**dict(read), config_file=path.resolve() if path is not None else None)


def _expected(error: dict) -> str:
    bounds = {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in error.get("ctx", {}).items()}
    template = _EXPECTED.get(error["type"])
    return template.format(**bounds) if template else error["msg"]


def _config_file(config: Path | None) -> Path | None:
    if config is None:
        return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None
    if config.is_dir():
        raise ConfigError("--config", f"{config} is a directory; expected a settings file such as {DEFAULT_CONFIG}")
    if not config.exists():
        raise ConfigError("--config", f"file {config} does not exist")
    return config


def _refuse_unknown(values: Mapping[str, object], where: str) -> None:
    """A name we do not know is a typo: the setting it meant would silently keep its default."""
    for name in values:
        if name in VARIABLES or name in NOT_SETTINGS:
            continue
        close = difflib.get_close_matches(name, VARIABLES, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else f"; known settings are listed in {EXAMPLE_CONFIG}"
        raise ConfigError(name, f"unknown setting in {where}{hint}")
