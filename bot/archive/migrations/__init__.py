"""Alembic migrations of the archive, for SQLite and PostgreSQL alike."""
