"""Media of archived messages: the download queue's workers and the content-addressed store.

    await run_media(settings, archive, client, wake=event)   # one task in the service

policy.py decides what is skipped (pure), store.py writes files by their hash,
worker.py drains the queue kept in the archive (bot/archive/media.py);
the Telethon side is bot/telegram/download.py.
"""
from bot.media.worker import run_media

__all__ = ["run_media"]
