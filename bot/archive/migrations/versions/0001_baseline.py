"""The schema of dozor 0.1 (legacy SQLite migration 17), on either backend.

SQLite archives were built by the numbered scripts in `bot/archive/schema.py` and carry their
number in `PRAGMA user_version`; they are brought up to 17 by those same scripts, so an old
archive and a new one end up identical. PostgreSQL gets the same tables from the definitions
below (full-text search is not part of them: the lemma index of the next revision replaces
SQLite's FTS5 on both).

Revision ID: 0001
"""
import sqlite3

import sqlalchemy as sa
from alembic import op

from bot.archive.schema import MIGRATIONS
from bot.archive.tables import Id, Moment

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _legacy_sqlite(bind)
    else:
        _tables()


def downgrade() -> None:
    raise NotImplementedError("the archive is never migrated down: restore a backup instead")


def _legacy_sqlite(bind) -> None:
    version = bind.exec_driver_sql("PRAGMA user_version").scalar()
    if version > len(MIGRATIONS):
        raise RuntimeError(f"schema {version} is newer than this dozor knows ({len(MIGRATIONS)})")
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        for statement in _statements(script):
            bind.exec_driver_sql(statement)
        bind.exec_driver_sql(f"PRAGMA user_version={number}")


def _statements(script: str):
    """One statement at a time (the driver runs no scripts inside a transaction); a trigger's
    body holds semicolons, so a statement ends where SQLite says it is complete."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip():
                yield pending.strip()
            pending = ""
    if pending.strip().strip(";").strip():
        yield pending.strip()


def _tables() -> None:
    op.create_table(
        'chats',
        sa.Column('id', sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('username', sa.Text()),
        sa.Column('kind', sa.Text(), nullable=False),
        sa.Column('keep_all', sa.BigInteger(), nullable=False, server_default=sa.text('0')),
        sa.Column('checkpoint', sa.BigInteger(), nullable=False, server_default=sa.text('0')),
        sa.Column('last_message_at', Moment()),
        sa.Column('last_read_at', Moment()),
        sa.Column('added_at', Moment(), nullable=False),
    )
    op.create_table(
        'chat_sources',
        sa.Column('source', sa.Text(), primary_key=True, autoincrement=False),
        sa.Column('chat_id', sa.BigInteger(), sa.ForeignKey('chats.id')),
        sa.Column('error', sa.Text()),
        sa.Column('checked_at', Moment(), nullable=False),
    )
    op.create_table(
        'messages',
        sa.Column('id', Id, primary_key=True, autoincrement=True),
        sa.Column('chat_id', sa.BigInteger(), sa.ForeignKey('chats.id'), nullable=False),
        sa.Column('message_id', sa.BigInteger(), nullable=False),
        sa.Column('date', Moment(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('author_id', sa.BigInteger()),
        sa.Column('author_name', sa.Text()),
        sa.Column('views', sa.BigInteger()),
        sa.Column('forwards', sa.BigInteger()),
        sa.Column('reply_to', sa.BigInteger()),
        sa.Column('forward_from', sa.Text()),
        sa.Column('grouped_id', sa.BigInteger()),
        sa.Column('media_kind', sa.Text()),
        sa.Column('language', sa.Text()),
        sa.Column('matched', sa.BigInteger(), nullable=False),
        sa.Column('edit_date', Moment()),
        sa.Column('deleted_at', Moment()),
        sa.Column('archived_at', Moment(), nullable=False),
        sa.UniqueConstraint('chat_id', 'message_id'),
    )
    op.create_table(
        'matches',
        sa.Column('message', sa.BigInteger(), sa.ForeignKey('messages.id'), primary_key=True),
        sa.Column('topic', sa.Text(), primary_key=True),
        sa.Column('rule', sa.Text(), primary_key=True),
        sa.Column('term', sa.Text(), nullable=False),
        sa.Column('start', sa.BigInteger(), primary_key=True),
        sa.Column('end', sa.BigInteger(), nullable=False),
        sa.Column('version', sa.BigInteger(), nullable=False, server_default=sa.text('0')),
    )
    op.create_table(
        'message_versions',
        sa.Column('message', sa.BigInteger(), sa.ForeignKey('messages.id'), primary_key=True),
        sa.Column('version', sa.BigInteger(), primary_key=True),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('edit_date', Moment()),
        sa.Column('replaced_at', Moment(), nullable=False),
    )
    op.create_table(
        'failures',
        sa.Column('id', Id, primary_key=True, autoincrement=True),
        sa.Column('stage', sa.Text(), nullable=False),
        sa.Column('chat_id', sa.BigInteger()),
        sa.Column('message_id', sa.BigInteger()),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('detail', sa.Text()),
        sa.Column('at', Moment(), nullable=False),
        sa.Column('resolved_at', Moment()),
    )
    op.create_table(
        'media_files',
        sa.Column('sha256', sa.Text(), primary_key=True, autoincrement=False),
        sa.Column('path', sa.Text(), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('stored_at', Moment(), nullable=False),
    )
    op.create_table(
        'media',
        sa.Column('id', Id, primary_key=True, autoincrement=True),
        sa.Column('message', sa.BigInteger(), sa.ForeignKey('messages.id'), nullable=False),
        sa.Column('kind', sa.Text(), nullable=False),
        sa.Column('telegram_id', sa.BigInteger()),
        sa.Column('mime_type', sa.Text()),
        sa.Column('size', sa.BigInteger()),
        sa.Column('file_name', sa.Text()),
        sa.Column('width', sa.BigInteger()),
        sa.Column('height', sa.BigInteger()),
        sa.Column('duration', sa.Float()),
        sa.Column('status', sa.Text(), nullable=False, server_default=sa.text("'pending'")),
        sa.Column('reason', sa.Text()),
        sa.Column('attempts', sa.BigInteger(), nullable=False, server_default=sa.text('0')),
        sa.Column('next_attempt_at', Moment()),
        sa.Column('sha256', sa.Text(), sa.ForeignKey('media_files.sha256')),
        sa.Column('updated_at', Moment(), nullable=False),
        sa.UniqueConstraint('message'),
    )
    op.create_table(
        'digests',
        sa.Column('period', sa.Text(), primary_key=True, autoincrement=False),
        sa.Column('period_start', Moment(), nullable=False),
        sa.Column('period_end', Moment(), nullable=False),
        sa.Column('chat', sa.Text(), nullable=False),
        sa.Column('composed_at', Moment(), nullable=False),
        sa.Column('sent_at', Moment()),
        sa.Column('attempts', sa.BigInteger(), nullable=False, server_default=sa.text('0')),
        sa.Column('error', sa.Text()),
        sa.Column('error_at', Moment()),
        sa.Column('next_attempt_at', Moment()),
        sa.Column('rejections', sa.BigInteger(), nullable=False, server_default=sa.text('0')),
        sa.Column('failed_at', Moment()),
    )
    op.create_table(
        'digest_parts',
        sa.Column('period', sa.Text(), sa.ForeignKey('digests.period'), primary_key=True),
        sa.Column('part', sa.BigInteger(), primary_key=True),
        sa.Column('html', sa.Text(), nullable=False),
        sa.Column('message_id', sa.BigInteger()),
        sa.Column('sent_at', Moment()),
        sa.Column('random_id', sa.BigInteger()),
    )
    op.create_table(
        'digest_schedule',
        sa.Column('id', sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column('since', Moment(), nullable=False),
        sa.CheckConstraint('id = 1'),
    )
    op.create_table(
        'media_versions',
        sa.Column('media', sa.BigInteger(), sa.ForeignKey('media.id'), primary_key=True),
        sa.Column('version', sa.BigInteger(), primary_key=True),
        sa.Column('kind', sa.Text(), nullable=False),
        sa.Column('telegram_id', sa.BigInteger()),
        sa.Column('mime_type', sa.Text()),
        sa.Column('size', sa.BigInteger()),
        sa.Column('file_name', sa.Text()),
        sa.Column('width', sa.BigInteger()),
        sa.Column('height', sa.BigInteger()),
        sa.Column('duration', sa.Float()),
        sa.Column('replaced_at', Moment(), nullable=False),
    )
    op.create_table(
        'early_deletions',
        sa.Column('chat_id', sa.BigInteger(), primary_key=True),
        sa.Column('message_id', sa.BigInteger(), primary_key=True),
        sa.Column('deleted_at', Moment(), nullable=False),
    )
    op.create_table(
        'labels',
        sa.Column('id', Id, primary_key=True, autoincrement=True),
        sa.Column('chat_id', sa.BigInteger()),
        sa.Column('message_id', sa.BigInteger()),
        sa.Column('topic', sa.Text(), nullable=False),
        sa.Column('correct', sa.BigInteger(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('source', sa.Text(), nullable=False),
        sa.Column('labelled_by', sa.Text()),
        sa.Column('at', Moment(), nullable=False),
    )
    op.create_table(
        'flood_waits',
        sa.Column('method', sa.Text(), primary_key=True, autoincrement=False),
        sa.Column('request', sa.Text(), nullable=False),
        sa.Column('seconds', sa.BigInteger(), nullable=False),
        sa.Column('started_at', Moment(), nullable=False),
        sa.Column('until', Moment(), nullable=False),
    )
    op.create_table(
        'memberships',
        sa.Column('chat_id', sa.BigInteger(), sa.ForeignKey('chats.id'), primary_key=True, autoincrement=False),
        sa.Column('state', sa.Text(), nullable=False),
        sa.Column('reason', sa.Text()),
        sa.Column('updated_at', Moment(), nullable=False),
    )
    op.create_table(
        'account_channels',
        sa.Column('id', sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column('channels', sa.BigInteger(), nullable=False),
        sa.Column('cap', sa.BigInteger(), nullable=False),
        sa.Column('counted_at', Moment(), nullable=False),
        sa.CheckConstraint('id = 1'),
    )
    op.create_table(
        'digest_items',
        sa.Column('period', sa.Text(), primary_key=True),
        sa.Column('part', sa.BigInteger(), nullable=False),
        sa.Column('number', sa.BigInteger(), primary_key=True),
        sa.Column('chat_id', sa.BigInteger(), nullable=False),
        sa.Column('message_id', sa.BigInteger(), nullable=False),
    )
    op.create_table(
        'interim_parts',
        sa.Column('chat_id', sa.BigInteger(), primary_key=True),
        sa.Column('message_id', sa.BigInteger(), primary_key=True),
        sa.Column('period', sa.Text(), nullable=False),
        sa.Column('part', sa.BigInteger(), nullable=False),
    )
    op.create_table(
        'spike_alerts',
        sa.Column('surge', sa.Text(), primary_key=True, autoincrement=False),
        sa.Column('started_at', Moment(), nullable=False),
        sa.Column('last_seen', Moment(), nullable=False),
        sa.Column('matches', sa.BigInteger(), nullable=False),
        sa.Column('sent_at', Moment()),
    )
    op.create_table(
        'model_reviews',
        sa.Column('message', sa.BigInteger(), sa.ForeignKey('messages.id'), primary_key=True),
        sa.Column('topic', sa.Text(), primary_key=True),
        sa.Column('score', sa.Float(), nullable=False),
    )
    op.create_table(
        'coverage',
        sa.Column('chat_id', sa.BigInteger(), sa.ForeignKey('chats.id'), primary_key=True, autoincrement=False),
        sa.Column('pts', sa.BigInteger()),
        sa.Column('complete_up_to', Moment()),
        sa.Column('gap_found_at', Moment()),
        sa.Column('gap_repaired_at', Moment()),
        sa.Column('difference_lost_at', Moment()),
        sa.Column('polled_at', Moment()),
    )
    op.create_table(
        'deletion_marks',
        sa.Column('chat_id', sa.BigInteger(), primary_key=True),
        sa.Column('message_id', sa.BigInteger(), primary_key=True),
        sa.Column('marked_at', Moment(), primary_key=True),
        sa.Column('how', sa.Text(), nullable=False),
        sa.Column('restored_at', Moment()),
    )
    op.create_index('messages_by_date', 'messages', ['date'])
    op.create_index('messages_by_album', 'messages', ['chat_id', 'grouped_id'], postgresql_where=sa.text('grouped_id IS NOT NULL'))
    op.create_index('matches_by_topic', 'matches', ['topic'])
    op.create_index('failures_by_chat', 'failures', ['chat_id'])
    op.create_index('media_by_status', 'media', ['status', 'next_attempt_at'])
    op.create_index('messages_matched_by_date', 'messages', ['date'], postgresql_where=sa.text('matched = 1'))
    op.create_index('messages_by_chat_archived', 'messages', ['chat_id', 'archived_at'])
    op.create_index('labels_by_message', 'labels', ['chat_id', 'message_id', 'topic'])
    op.create_index('labels_by_topic', 'labels', ['topic'])
    op.create_index('digest_parts_by_message', 'digest_parts', ['message_id'])
    op.create_index('failures_current', 'failures', ['chat_id', 'message_id'], postgresql_where=sa.text('resolved_at IS NULL'))
    op.create_index('messages_by_chat_date', 'messages', ['chat_id', 'date', 'matched', 'deleted_at'])
