"""Telegram's errors named the way operators can look them up."""
from __future__ import annotations

import re

from telethon import errors


def rpc_error_name(error: errors.RPCError) -> str:
    """Telegram's own name of the error (CHAT_WRITE_FORBIDDEN).

    Telethon keeps only the generic class of a known error in `.message` (FORBIDDEN) and a
    paragraph in its text, so the name is rebuilt from the specific exception class.
    """
    name = type(error).__name__
    if name.endswith("Error") and type(error).__module__.startswith("telethon.errors.rpcerrorlist"):
        return re.sub(r"(?<!^)(?=[A-Z])", "_", name[: -len("Error")]).upper()
    return error.message
