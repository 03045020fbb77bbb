"""dozor: watches Telegram chats, archives what the newsroom cares about, posts a daily digest."""

__version__ = "0.1.0"
