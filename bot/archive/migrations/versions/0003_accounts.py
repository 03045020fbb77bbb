"""Accounts: leases on accounts and roles, which account serves which chat, the moves of
chats between accounts, and claims on media downloads.

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.archive.tables import Id, Moment

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a worker's hold on an account (kind 'account'), the elected digest sender (kind 'role',
    # name 'editors'), and a row used only as a lock (kind 'lock')
    op.create_table(
        "leases",
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("holder", sa.Text),  # host:pid:random of the worker; NULL once released
        sa.Column("lease_until", Moment),  # the database's clock
        sa.Column("state", sa.Text, nullable=False, server_default="active"),  # active | logged_out | banned
        sa.Column("reason", sa.Text),  # Telegram's words for the state
        sa.Column("cap", sa.Integer),  # chats the account may serve, as its worker is configured
        sa.Column("flood_until", Moment),  # the end of the account's longest flood wait
        sa.Column("updated_at", Moment, nullable=False),
        sa.PrimaryKeyConstraint("kind", "name"),
    )
    # which account serves each DOZOR_CHATS entry (the same list on every machine)
    op.create_table(
        "chat_assignments",
        sa.Column("source", sa.Text, primary_key=True, autoincrement=False),
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("assigned_at", Moment, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),  # the order assignments were made in
    )
    # every move of a chat between accounts, with why: shown by `dozor status`
    op.create_table(
        "chat_moves",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("from_account", sa.Text),  # NULL: the chat had no account yet
        sa.Column("to_account", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("moved_at", Moment, nullable=False),
    )
    op.create_index("chat_moves_by_time", "chat_moves", ["moved_at"])
    # a worker's row lease on a queued download: nobody else fetches it until claim_until
    op.create_table(
        "media_claims",
        sa.Column("media", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("claimed_by", sa.Text, nullable=False),
        sa.Column("claim_until", Moment, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("media_claims")
    op.drop_index("chat_moves_by_time", table_name="chat_moves")
    op.drop_table("chat_moves")
    op.drop_table("chat_assignments")
    op.drop_table("leases")
