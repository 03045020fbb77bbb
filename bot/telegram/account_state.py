"""What Telegram's refusals say about the account itself: logged out, or banned.

    found = account_state(error)      # None: the error is about a request, not the account
    found.state, found.reason         # "logged_out", "SESSION_REVOKED: the session was ended …"

Most errors concern one request (a chat that went private, a flood wait). These say the
account cannot be used at all any more, whatever is asked: retrying only repeats them, so the
service hands the account's chats to other accounts instead (see DozorClient.on_account_state).
A logged-out account comes back with `dozor login --account NAME`; a banned one does not.
"""
from __future__ import annotations

from dataclasses import dataclass

from telethon import errors

from bot.telegram.errors import rpc_error_name

ACTIVE = "active"
LOGGED_OUT = "logged_out"
BANNED = "banned"

# what each refusal means, for the log and `dozor accounts`
_LOGGED_OUT = {
    errors.AuthKeyUnregisteredError: "the session is not signed in (never was, or was logged out since)",
    errors.SessionRevokedError: "the session was ended from another device or by logging out",
    errors.SessionExpiredError: "the session expired",
    errors.UserDeactivatedError: "the account was deleted",
}
_BANNED = {
    errors.UserDeactivatedBanError: "Telegram banned the account",
    errors.PhoneNumberBannedError: "Telegram banned the account's phone number",
}


@dataclass(frozen=True, slots=True)
class AccountState:
    state: str  # LOGGED_OUT or BANNED
    reason: str  # Telegram's name of the error, then what it means


def account_state(error: BaseException) -> AccountState | None:
    """The account's state if `error` says the account itself is unusable, else None."""
    for state, meanings in ((BANNED, _BANNED), (LOGGED_OUT, _LOGGED_OUT)):
        for kind, meaning in meanings.items():
            if isinstance(error, kind):
                return AccountState(state, f"{rpc_error_name(error)}: {meaning}")
    return None
