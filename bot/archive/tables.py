"""The archive's tables as SQLAlchemy Core metadata: the current schema, for both backends.

What it is used for: the PostgreSQL DDL of new revisions, `dozor archive copy` (which walks
every table), and the types of values that cross between backends. Queries are written as
portable SQL text in the modules of this package; migrations live in `migrations/versions/`
and are frozen once released, so a new table or column goes there *and* here.

    Moment    a timestamp: timestamptz in PostgreSQL, ISO 8601 text in SQLite (as the archive
              has always stored it, so old archives need no rewrite and text order is time order)
    Id        an autoincrementing key: BIGINT identity in PostgreSQL, SQLite's rowid alias
"""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa

metadata = sa.MetaData()


class Moment(sa.types.TypeDecorator):
    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Text())
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.isoformat(timespec="seconds")
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.astimezone(timezone.utc)


Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


chats = sa.Table(
    'chats', metadata,
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


chat_sources = sa.Table(
    'chat_sources', metadata,
    sa.Column('source', sa.Text(), primary_key=True, autoincrement=False),
    sa.Column('chat_id', sa.BigInteger(), sa.ForeignKey('chats.id')),
    sa.Column('error', sa.Text()),
    sa.Column('checked_at', Moment(), nullable=False),
)


messages = sa.Table(
    'messages', metadata,
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


matches = sa.Table(
    'matches', metadata,
    sa.Column('message', sa.BigInteger(), sa.ForeignKey('messages.id'), primary_key=True),
    sa.Column('topic', sa.Text(), primary_key=True),
    sa.Column('rule', sa.Text(), primary_key=True),
    sa.Column('term', sa.Text(), nullable=False),
    sa.Column('start', sa.BigInteger(), primary_key=True),
    sa.Column('end', sa.BigInteger(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False, server_default=sa.text('0')),
)


message_versions = sa.Table(
    'message_versions', metadata,
    sa.Column('message', sa.BigInteger(), sa.ForeignKey('messages.id'), primary_key=True),
    sa.Column('version', sa.BigInteger(), primary_key=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('edit_date', Moment()),
    sa.Column('replaced_at', Moment(), nullable=False),
)


failures = sa.Table(
    'failures', metadata,
    sa.Column('id', Id, primary_key=True, autoincrement=True),
    sa.Column('stage', sa.Text(), nullable=False),
    sa.Column('chat_id', sa.BigInteger()),
    sa.Column('message_id', sa.BigInteger()),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('detail', sa.Text()),
    sa.Column('at', Moment(), nullable=False),
    sa.Column('resolved_at', Moment()),
)


media_files = sa.Table(
    'media_files', metadata,
    sa.Column('sha256', sa.Text(), primary_key=True, autoincrement=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('stored_at', Moment(), nullable=False),
)


media = sa.Table(
    'media', metadata,
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


digests = sa.Table(
    'digests', metadata,
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


digest_parts = sa.Table(
    'digest_parts', metadata,
    sa.Column('period', sa.Text(), sa.ForeignKey('digests.period'), primary_key=True),
    sa.Column('part', sa.BigInteger(), primary_key=True),
    sa.Column('html', sa.Text(), nullable=False),
    sa.Column('message_id', sa.BigInteger()),
    sa.Column('sent_at', Moment()),
    sa.Column('random_id', sa.BigInteger()),
)


digest_schedule = sa.Table(
    'digest_schedule', metadata,
    sa.Column('id', sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column('since', Moment(), nullable=False),
    sa.CheckConstraint('id = 1'),
)


media_versions = sa.Table(
    'media_versions', metadata,
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


early_deletions = sa.Table(
    'early_deletions', metadata,
    sa.Column('chat_id', sa.BigInteger(), primary_key=True),
    sa.Column('message_id', sa.BigInteger(), primary_key=True),
    sa.Column('deleted_at', Moment(), nullable=False),
)


labels = sa.Table(
    'labels', metadata,
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


flood_waits = sa.Table(
    'flood_waits', metadata,
    sa.Column('method', sa.Text(), primary_key=True, autoincrement=False),
    sa.Column('request', sa.Text(), nullable=False),
    sa.Column('seconds', sa.BigInteger(), nullable=False),
    sa.Column('started_at', Moment(), nullable=False),
    sa.Column('until', Moment(), nullable=False),
)


memberships = sa.Table(
    'memberships', metadata,
    sa.Column('chat_id', sa.BigInteger(), sa.ForeignKey('chats.id'), primary_key=True, autoincrement=False),
    sa.Column('state', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text()),
    sa.Column('updated_at', Moment(), nullable=False),
)


account_channels = sa.Table(
    'account_channels', metadata,
    sa.Column('id', sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column('channels', sa.BigInteger(), nullable=False),
    sa.Column('cap', sa.BigInteger(), nullable=False),
    sa.Column('counted_at', Moment(), nullable=False),
    sa.CheckConstraint('id = 1'),
)


digest_items = sa.Table(
    'digest_items', metadata,
    sa.Column('period', sa.Text(), primary_key=True),
    sa.Column('part', sa.BigInteger(), nullable=False),
    sa.Column('number', sa.BigInteger(), primary_key=True),
    sa.Column('chat_id', sa.BigInteger(), nullable=False),
    sa.Column('message_id', sa.BigInteger(), nullable=False),
)


interim_parts = sa.Table(
    'interim_parts', metadata,
    sa.Column('chat_id', sa.BigInteger(), primary_key=True),
    sa.Column('message_id', sa.BigInteger(), primary_key=True),
    sa.Column('period', sa.Text(), nullable=False),
    sa.Column('part', sa.BigInteger(), nullable=False),
)


spike_alerts = sa.Table(
    'spike_alerts', metadata,
    sa.Column('surge', sa.Text(), primary_key=True, autoincrement=False),
    sa.Column('started_at', Moment(), nullable=False),
    sa.Column('last_seen', Moment(), nullable=False),
    sa.Column('matches', sa.BigInteger(), nullable=False),
    sa.Column('sent_at', Moment()),
)


model_reviews = sa.Table(
    'model_reviews', metadata,
    sa.Column('message', sa.BigInteger(), sa.ForeignKey('messages.id'), primary_key=True),
    sa.Column('topic', sa.Text(), primary_key=True),
    sa.Column('score', sa.Float(), nullable=False),
)


coverage = sa.Table(
    'coverage', metadata,
    sa.Column('chat_id', sa.BigInteger(), sa.ForeignKey('chats.id'), primary_key=True, autoincrement=False),
    sa.Column('pts', sa.BigInteger()),
    sa.Column('complete_up_to', Moment()),
    sa.Column('gap_found_at', Moment()),
    sa.Column('gap_repaired_at', Moment()),
    sa.Column('difference_lost_at', Moment()),
    sa.Column('polled_at', Moment()),
)


deletion_marks = sa.Table(
    'deletion_marks', metadata,
    sa.Column('chat_id', sa.BigInteger(), primary_key=True),
    sa.Column('message_id', sa.BigInteger(), primary_key=True),
    sa.Column('marked_at', Moment(), primary_key=True),
    sa.Column('how', sa.Text(), nullable=False),
    sa.Column('restored_at', Moment()),
)


sa.Index('messages_by_date', messages.c.date)
sa.Index('messages_by_album', messages.c.chat_id, messages.c.grouped_id, sqlite_where=sa.text('grouped_id IS NOT NULL'), postgresql_where=sa.text('grouped_id IS NOT NULL'))
sa.Index('matches_by_topic', matches.c.topic)
sa.Index('failures_by_chat', failures.c.chat_id)
sa.Index('media_by_status', media.c.status, media.c.next_attempt_at)
sa.Index('messages_matched_by_date', messages.c.date, sqlite_where=sa.text('matched = 1'), postgresql_where=sa.text('matched = 1'))
sa.Index('messages_by_chat_archived', messages.c.chat_id, messages.c.archived_at)
sa.Index('labels_by_message', labels.c.chat_id, labels.c.message_id, labels.c.topic)
sa.Index('labels_by_topic', labels.c.topic)
sa.Index('digest_parts_by_message', digest_parts.c.message_id)
sa.Index('failures_current', failures.c.chat_id, failures.c.message_id, sqlite_where=sa.text('resolved_at IS NULL'), postgresql_where=sa.text('resolved_at IS NULL'))
sa.Index('messages_by_chat_date', messages.c.chat_id, messages.c.date, messages.c.matched, messages.c.deleted_at)


# The search index (bot/archive/terms.py): per message, each distinct normalised word and its
# dictionary forms. Collated "C" in PostgreSQL, so a prefix is one range of the B-tree in code
# point order, as in SQLite (a linguistic collation skips apostrophes and reorders letters).
Term = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")

message_terms = sa.Table(
    'message_terms', metadata,
    sa.Column('term', Term, primary_key=True),
    sa.Column('message', sa.BigInteger(), sa.ForeignKey('messages.id'), primary_key=True),
    sqlite_with_rowid=False,
)
# a message's own terms: replaced when its text is edited, and tested when every word is frequent
sa.Index('message_terms_by_message', message_terms.c.message, message_terms.c.term)


# ---- accounts (revision 0003): leases, chat assignments and moves, media claims -------------

leases = sa.Table(
    'leases', metadata,
    sa.Column('kind', sa.Text(), nullable=False),  # account | role | lock
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('holder', sa.Text()),  # host:pid:random of the worker; NULL once released
    sa.Column('lease_until', Moment()),  # the database's clock
    sa.Column('state', sa.Text(), nullable=False, server_default='active'),  # active | logged_out | banned
    sa.Column('reason', sa.Text()),
    sa.Column('cap', sa.Integer()),
    sa.Column('flood_until', Moment()),
    sa.Column('updated_at', Moment(), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'name'),
)


chat_assignments = sa.Table(
    'chat_assignments', metadata,
    sa.Column('source', sa.Text(), primary_key=True, autoincrement=False),
    sa.Column('account', sa.Text(), nullable=False),
    sa.Column('assigned_at', Moment(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),  # the order assignments were made in
)


chat_moves = sa.Table(
    'chat_moves', metadata,
    sa.Column('id', Id, primary_key=True, autoincrement=True),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('from_account', sa.Text()),
    sa.Column('to_account', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('moved_at', Moment(), nullable=False),
)
sa.Index('chat_moves_by_time', chat_moves.c.moved_at)


media_claims = sa.Table(
    'media_claims', metadata,
    sa.Column('media', sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column('claimed_by', sa.Text(), nullable=False),
    sa.Column('claim_until', Moment(), nullable=False),
)
