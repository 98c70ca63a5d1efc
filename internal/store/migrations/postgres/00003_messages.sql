-- The PostgreSQL twin of ../sqlite/00003_messages.sql; comments are there.

-- +goose Up
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE conversations (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('direct', 'group', 'channel')),
    name          TEXT NOT NULL DEFAULT '',
    topic         TEXT NOT NULL DEFAULT '',
    direct_key    TEXT UNIQUE,
    created_by    TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    last_seq      BIGINT NOT NULL DEFAULT 0,
    last_activity BIGINT NOT NULL,
    archived      INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX conversations_kind ON conversations (kind, archived);

CREATE TABLE members (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    role            TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'member')),
    joined_at       BIGINT NOT NULL,
    read_seq        BIGINT NOT NULL DEFAULT 0,
    delivered_seq   BIGINT NOT NULL DEFAULT 0,
    muted           INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, user_id)
);

CREATE INDEX members_user ON members (user_id);

CREATE TABLE messages (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    sender_id       TEXT NOT NULL,
    txn_id          TEXT,
    text            TEXT NOT NULL DEFAULT '',
    target_seq      BIGINT NOT NULL DEFAULT 0,
    thread_seq      BIGINT NOT NULL DEFAULT 0,
    reply_seq       BIGINT NOT NULL DEFAULT 0,
    data            TEXT NOT NULL DEFAULT '{}' CHECK (data::jsonb IS NOT NULL),
    edited_at       BIGINT NOT NULL DEFAULT 0,
    deleted_at      BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    UNIQUE (conversation_id, seq),
    UNIQUE (conversation_id, sender_id, txn_id)
);

CREATE INDEX messages_thread ON messages (conversation_id, thread_seq) WHERE thread_seq > 0;
CREATE INDEX messages_created ON messages (created_at);
-- Search: trigrams match any part of a word, and CJK text.
CREATE INDEX messages_text_trgm ON messages USING gin (text gin_trgm_ops) WHERE kind = 'text';

CREATE TABLE message_revisions (
    conversation_id TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    revised_at      BIGINT NOT NULL,
    editor_id       TEXT NOT NULL,
    action          TEXT NOT NULL CHECK (action IN ('edit', 'delete')),
    text            TEXT NOT NULL,
    FOREIGN KEY (conversation_id, seq) REFERENCES messages (conversation_id, seq) ON DELETE CASCADE
);

CREATE INDEX message_revisions_message ON message_revisions (conversation_id, seq);

CREATE TABLE reactions (
    conversation_id TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    user_id         TEXT NOT NULL,
    emoji           TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, seq, user_id, emoji),
    FOREIGN KEY (conversation_id, seq) REFERENCES messages (conversation_id, seq) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE reactions;
DROP TABLE message_revisions;
DROP TABLE messages;
DROP TABLE members;
DROP TABLE conversations;
