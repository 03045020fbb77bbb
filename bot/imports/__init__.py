"""History from outside the live account: Telegram Desktop exports (`dozor import`)."""
