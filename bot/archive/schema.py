"""The whole archive schema, as numbered migrations applied in order.

`PRAGMA user_version` holds the number of the last migration applied. A migration is
never edited once released: a change to the schema is a new entry at the end.
Nothing in this schema is ever deleted by the service: edits become versions,
deletions become marks, failures wait in `failures` with their reason.
"""

MIGRATIONS: list[str] = [
    # 1: chats, messages, matches, versions, checkpoints, failures
    """
    CREATE TABLE chats (
        id              INTEGER PRIMARY KEY,      -- Telethon's marked id (-100… for channels)
        title           TEXT NOT NULL,
        username        TEXT,
        kind            TEXT NOT NULL,            -- channel | group | user
        keep_all        INTEGER NOT NULL DEFAULT 0,
        checkpoint      INTEGER NOT NULL DEFAULT 0, -- highest message id committed
        last_message_at TEXT,
        last_read_at    TEXT,                     -- last time history was re-read
        added_at        TEXT NOT NULL
    );

    -- how the operator named each chat in DOZOR_CHATS, and what became of it
    CREATE TABLE chat_sources (
        source      TEXT PRIMARY KEY,
        chat_id     INTEGER REFERENCES chats(id),
        error       TEXT,                         -- set while the chat cannot be resolved
        checked_at  TEXT NOT NULL
    );

    CREATE TABLE messages (
        id           INTEGER PRIMARY KEY,
        chat_id      INTEGER NOT NULL REFERENCES chats(id),
        message_id   INTEGER NOT NULL,
        date         TEXT NOT NULL,               -- UTC, ISO 8601
        text         TEXT NOT NULL,
        author_id    INTEGER,
        author_name  TEXT,
        views        INTEGER,
        forwards     INTEGER,
        reply_to     INTEGER,
        forward_from TEXT,
        grouped_id   INTEGER,
        media_kind   TEXT,
        language     TEXT,
        matched      INTEGER NOT NULL,            -- 1 if any version matched a topic
        edit_date    TEXT,
        deleted_at   TEXT,                        -- marked, never erased
        archived_at  TEXT NOT NULL,
        UNIQUE (chat_id, message_id)
    );
    CREATE INDEX messages_by_date ON messages (date);
    CREATE INDEX messages_by_album ON messages (chat_id, grouped_id) WHERE grouped_id IS NOT NULL;

    CREATE TABLE matches (
        message  INTEGER NOT NULL REFERENCES messages(id),
        topic    TEXT NOT NULL,
        rule     TEXT NOT NULL,
        term     TEXT NOT NULL,
        start    INTEGER NOT NULL,                -- span in messages.text
        end      INTEGER NOT NULL,
        PRIMARY KEY (message, topic, rule, start)
    ) WITHOUT ROWID;
    CREATE INDEX matches_by_topic ON matches (topic);

    -- the text a message had before each edit
    CREATE TABLE message_versions (
        message     INTEGER NOT NULL REFERENCES messages(id),
        version     INTEGER NOT NULL,             -- 1 = the first text seen
        text        TEXT NOT NULL,
        edit_date   TEXT,
        replaced_at TEXT NOT NULL,
        PRIMARY KEY (message, version)
    ) WITHOUT ROWID;

    -- items that failed for good wait here, visibly, with the reason
    CREATE TABLE failures (
        id         INTEGER PRIMARY KEY,
        stage      TEXT NOT NULL,                 -- convert | match | store | media | digest | chat
        chat_id    INTEGER,
        message_id INTEGER,
        reason     TEXT NOT NULL,
        detail     TEXT,
        at         TEXT NOT NULL
    );
    CREATE INDEX failures_by_chat ON failures (chat_id);
    """,
    # 2: media of archived messages: the download queue and the content-addressed files
    """
    CREATE TABLE media_files (
        sha256     TEXT PRIMARY KEY,
        path       TEXT NOT NULL,                 -- relative to the storage directory
        size       INTEGER NOT NULL,
        stored_at  TEXT NOT NULL
    );

    CREATE TABLE media (
        id              INTEGER PRIMARY KEY,
        message         INTEGER NOT NULL UNIQUE REFERENCES messages(id),
        kind            TEXT NOT NULL,            -- photo | video | round | voice | audio | document | gif | sticker | other
        telegram_id     INTEGER,
        mime_type       TEXT,
        size            INTEGER,
        file_name       TEXT,
        width           INTEGER,
        height          INTEGER,
        duration        REAL,
        status          TEXT NOT NULL DEFAULT 'pending', -- pending | done | skipped | failed
        reason          TEXT,                     -- why skipped or failed
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        sha256          TEXT REFERENCES media_files(sha256),
        updated_at      TEXT NOT NULL
    );
    CREATE INDEX media_by_status ON media (status, next_attempt_at);
    """,
    # 3: full-text search over archived texts (kept in step by triggers)
    """
    CREATE VIRTUAL TABLE messages_fts USING fts5(
        text, content='messages', content_rowid='id', tokenize='unicode61'
    );
    INSERT INTO messages_fts (rowid, text) SELECT id, text FROM messages;
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
    END;
    """,
    # 4: the digest: each period's composed parts, which of them Telegram accepted, and why not
    """
    CREATE TABLE digests (
        period          TEXT PRIMARY KEY,         -- daily:2026-03-29 | weekly:2026-03-30 (local end date)
        period_start    TEXT NOT NULL,            -- UTC
        period_end      TEXT NOT NULL,
        chat            TEXT NOT NULL,            -- DIGEST_CHAT when it was composed
        composed_at     TEXT NOT NULL,
        sent_at         TEXT,                     -- set once Telegram accepted every part
        attempts        INTEGER NOT NULL DEFAULT 0,
        error           TEXT,                     -- the last refusal, shown by `dozor status`
        error_at        TEXT,
        next_attempt_at TEXT
    );

    -- frozen at the first attempt, so a resumed digest sends exactly the parts still missing
    CREATE TABLE digest_parts (
        period     TEXT NOT NULL REFERENCES digests(period),
        part       INTEGER NOT NULL,              -- 1, 2, …
        html       TEXT NOT NULL,
        message_id INTEGER,                       -- Telegram's id once accepted
        sent_at    TEXT,
        PRIMARY KEY (period, part)
    ) WITHOUT ROWID;

    -- when digests were first scheduled here: periods that ended earlier are not owed
    CREATE TABLE digest_schedule (
        id    INTEGER PRIMARY KEY CHECK (id = 1),
        since TEXT NOT NULL
    );

    CREATE INDEX messages_matched_by_date ON messages (date) WHERE matched = 1;
    """,
    # 5: what a message carried before an edit swapped its file, found when the file was fetched
    """
    CREATE TABLE media_versions (
        media       INTEGER NOT NULL REFERENCES media(id),
        version     INTEGER NOT NULL,             -- 1, 2, … in the order they were replaced
        kind        TEXT NOT NULL,
        telegram_id INTEGER,
        mime_type   TEXT,
        size        INTEGER,
        file_name   TEXT,
        width       INTEGER,
        height      INTEGER,
        duration    REAL,
        replaced_at TEXT NOT NULL,
        PRIMARY KEY (media, version)
    ) WITHOUT ROWID;
    """,
    # 6: a digest part keeps one random_id for every attempt, so Telegram refuses a repeat
    # (RANDOM_ID_DUPLICATE); a digest Telegram keeps refusing is given up with its reason
    """
    ALTER TABLE digest_parts ADD COLUMN random_id INTEGER;
    UPDATE digest_parts SET random_id = random() & 0x7fffffffffffffff WHERE random_id IS NULL;
    ALTER TABLE digests ADD COLUMN rejections INTEGER NOT NULL DEFAULT 0;  -- refusals of the message itself
    ALTER TABLE digests ADD COLUMN failed_at TEXT;                         -- given up: not retried
    """,
    # 7: `dozor status` counts today's messages per chat without scanning the whole archive
    """
    CREATE INDEX messages_by_chat_archived ON messages (chat_id, archived_at);
    """,
    # 8: deletions that arrive before the history page carrying the message is written
    """
    CREATE TABLE early_deletions (
        chat_id     INTEGER NOT NULL,
        message_id  INTEGER NOT NULL,
        deleted_at  TEXT NOT NULL,
        PRIMARY KEY (chat_id, message_id)
    ) WITHOUT ROWID;
    """,
    # 9: what editors and moderators said about a message's topics: feedback that teaches the
    # rules' report and the model. Never updated: the newest label of a message and topic counts
    """
    CREATE TABLE labels (
        id          INTEGER PRIMARY KEY,
        chat_id     INTEGER,                      -- NULL for a text that is not in the archive
        message_id  INTEGER,
        topic       TEXT NOT NULL,
        correct     INTEGER NOT NULL,             -- 1: the message is about the topic; 0: it is not
        text        TEXT NOT NULL,                -- the text judged, kept so later edits do not change it
        source      TEXT NOT NULL,                -- cli | desk | import …
        labelled_by TEXT,                         -- who said so (an editor's id or name)
        at          TEXT NOT NULL
    );
    CREATE INDEX labels_by_message ON labels (chat_id, message_id, topic);
    CREATE INDEX labels_by_topic ON labels (topic);
    """,
    # 10: Telegram's limits: flood waits in force, which new chats were joined or are read from
    # history only (and why), and how many channels the account is in against its cap
    """
    CREATE TABLE flood_waits (
        method      TEXT PRIMARY KEY,             -- resolve | join | history | difference | download | dialogs | other
        request     TEXT NOT NULL,                -- the request Telegram refused, e.g. JoinChannelRequest
        seconds     INTEGER NOT NULL,
        started_at  TEXT NOT NULL,
        until       TEXT NOT NULL                 -- UTC: the method is held until then
    ) WITHOUT ROWID;

    -- the last step of a new chat's plan (resolved, then read, then joined); the first two are
    -- chat_sources.chat_id and chats.last_read_at
    CREATE TABLE memberships (
        chat_id     INTEGER PRIMARY KEY REFERENCES chats(id),
        state       TEXT NOT NULL,                -- joined | history_only
        reason      TEXT,                         -- why history only: over the cap, private, refused
        updated_at  TEXT NOT NULL
    );

    CREATE TABLE account_channels (
        id          INTEGER PRIMARY KEY CHECK (id = 1),
        channels    INTEGER NOT NULL,             -- channels and supergroups the account is in
        cap         INTEGER NOT NULL,             -- DOZOR_CHANNEL_CAP when counted
        counted_at  TEXT NOT NULL
    );
    """,
    # 11: the editors' desk: which archived message each digest item stands for, so a reply to
    # an item becomes a label; and where the desk posted interim digests
    """
    CREATE TABLE digest_items (
        period      TEXT NOT NULL,                -- digests.period, or interim:<UTC time> for /digest
        part        INTEGER NOT NULL,             -- 1, 2, … as in digest_parts
        number      INTEGER NOT NULL,             -- the item's number as shown (№3)
        chat_id     INTEGER NOT NULL,             -- the archived message it stands for
        message_id  INTEGER NOT NULL,
        PRIMARY KEY (period, number)
    ) WITHOUT ROWID;

    -- interim digests are not scheduled periods: only where each part landed is kept
    CREATE TABLE interim_parts (
        chat_id     INTEGER NOT NULL,             -- where the desk posted it (marked id)
        message_id  INTEGER NOT NULL,
        period      TEXT NOT NULL,                -- interim:<UTC time>
        part        INTEGER NOT NULL,
        PRIMARY KEY (chat_id, message_id)
    ) WITHOUT ROWID;
    CREATE INDEX digest_parts_by_message ON digest_parts (message_id);

    -- surges already announced, so a restart in the middle of one does not announce it again
    CREATE TABLE spike_alerts (
        surge       TEXT PRIMARY KEY,             -- city|Київ|busification or chat|-100…|szch
        started_at  TEXT NOT NULL,
        last_seen   TEXT NOT NULL,                -- the surge is over a window after this
        matches     INTEGER NOT NULL,             -- how many the alert listed
        sent_at     TEXT                          -- when Telegram accepted the alert
    ) WITHOUT ROWID;
    """,
    # 12: a match's spans index the text they were found in: 0 is the current text, n the text kept
    # as message_versions.version n (an edit that no longer matches keeps why it was archived)
    """
    ALTER TABLE matches ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
    """,
    # 13: a failure is current until the chat or message it names succeeds; resolved ones are
    # kept for a while (FAILURE_RETENTION) and then dropped
    """
    ALTER TABLE failures ADD COLUMN resolved_at TEXT;
    CREATE INDEX failures_current ON failures (chat_id, message_id) WHERE resolved_at IS NULL;
    """,
    # 14: a re-read whose text did not change leaves the full-text index alone, so reading the
    # same history twice (catch-up, `dozor import`) changes nothing in the archive file
    """
    DROP TRIGGER messages_fts_update;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages WHEN old.text IS NOT new.text BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
    END;
    """,
    # 15: the viewer's chats page (counts, oldest and newest per chat) and a chat's newest
    # messages read this index alone instead of every message's row
    """
    CREATE INDEX messages_by_chat_date ON messages (chat_id, date, matched, deleted_at);
    """,
    # 16: topics the model suspects in a message but is not sure of: the digest's "to review"
    """
    CREATE TABLE model_reviews (
        message  INTEGER NOT NULL REFERENCES messages(id),
        topic    TEXT NOT NULL,
        score    REAL NOT NULL,                   -- the model's probability, 0–1
        PRIMARY KEY (message, topic)
    ) WITHOUT ROWID;
    """,
    # 17: coverage: per chat, how complete the archive is (owned by bot/coverage.py), and every
    # deletion mark with how it was known, so a message that reappears clears an inferred one
    """
    CREATE TABLE coverage (
        chat_id          INTEGER PRIMARY KEY REFERENCES chats(id),
        pts              INTEGER,                 -- the channel's update sequence applied up to here
        complete_up_to   TEXT,                    -- every message up to this moment is known (UTC)
        gap_found_at     TEXT,                    -- the last time messages were found missing
        gap_repaired_at  TEXT,                    -- when that gap was read; before gap_found_at: open
        difference_lost_at TEXT,                  -- Telegram's difference was too long: edits and
                                                  -- deletions before this moment may be unknown
        polled_at        TEXT                     -- the last catch-up or poll that completed
    );

    CREATE TABLE deletion_marks (
        chat_id      INTEGER NOT NULL,
        message_id   INTEGER NOT NULL,
        marked_at    TEXT NOT NULL,
        how          TEXT NOT NULL,               -- telegram: Telegram said so | absent: missing from
                                                  -- history and confirmed by getMessages
        restored_at  TEXT,                        -- an inferred mark cleared when the message reappeared
        PRIMARY KEY (chat_id, message_id, marked_at)
    ) WITHOUT ROWID;
    """,
]
