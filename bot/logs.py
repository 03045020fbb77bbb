"""Logging for the service: one line per event, to stderr (systemd/journald keeps it)."""
from __future__ import annotations

import logging


def setup(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    # Telethon's INFO is chatty about connections; its warnings stay, and so do its
    # flood-wait notices (INFO in telethon.client.users), which operators need to see
    logging.getLogger("telethon").setLevel(max(logging.getLevelName(level), logging.WARNING))
    logging.getLogger("telethon.client.users").setLevel(level)
