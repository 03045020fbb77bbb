"""The only package that imports Telethon: it turns Telegram into plain `bot.model` values."""
