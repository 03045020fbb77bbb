"""Logging for the service: one line per event, to stderr (systemd/journald keeps it)."""
from __future__ import annotations

import logging


def setup(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    # Telethon's INFO is chatty about connections; its warnings stay. Flood waits are logged
    # by the request budget (dozor.telegram), which holds them instead of Telethon
    logging.getLogger("telethon").setLevel(max(logging.getLevelName(level), logging.WARNING))
