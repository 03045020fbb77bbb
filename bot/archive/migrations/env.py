"""Alembic's entry: dozor runs migrations itself (`bot/archive/database.py`) on the
connection it opened, so there is no alembic.ini and no URL here."""
from alembic import context

from bot.archive.tables import metadata

connection = context.config.attributes["connection"]
# one transaction for the whole upgrade: the current revision is read inside it, after the
# write lock is taken, so a second worker waiting for the lock finds the work done
context.configure(connection=connection, target_metadata=metadata, transaction_per_migration=False,
                  # SQLite alters a table by copying it: Alembic's batch mode does that
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
