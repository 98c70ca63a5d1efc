-- Conversations and their message logs (docs/architecture.md, "Messaging").
-- Keep in step with ../postgres/00003_messages.sql.

-- +goose Up
CREATE TABLE conversations (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('direct', 'group', 'channel')),
    name          TEXT NOT NULL DEFAULT '',
    topic         TEXT NOT NULL DEFAULT '',
    -- The two user ids of a direct conversation, sorted and space-separated,
    -- so there is one direct conversation per pair. NULL for the others.
    direct_key    TEXT UNIQUE,
    created_by    TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    -- The last sequence number handed out; the next message takes last_seq+1
    -- in the same transaction that inserts it, so the log has no gaps.
    last_seq      INTEGER NOT NULL DEFAULT 0,
    last_activity INTEGER NOT NULL,
    archived      INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX conversations_kind ON conversations (kind, archived);

CREATE TABLE members (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    role            TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'member')),
    joined_at       INTEGER NOT NULL,
    read_seq        INTEGER NOT NULL DEFAULT 0,
    delivered_seq   INTEGER NOT NULL DEFAULT 0,
    muted           INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, user_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX members_user ON members (user_id);

-- The log: messages and the events that change them (edit, delete,
-- reaction), each with the conversation's next sequence number. A message
-- row also holds the message's current state (text after edits, deleted),
-- updated in the transaction that logs the change.
CREATE TABLE messages (
    id              INTEGER PRIMARY KEY, -- rowid, for the search index
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    sender_id       TEXT NOT NULL,
    txn_id          TEXT, -- the client's idempotency key; NULL when none
    text            TEXT NOT NULL DEFAULT '',
    target_seq      INTEGER NOT NULL DEFAULT 0,
    thread_seq      INTEGER NOT NULL DEFAULT 0,
    reply_seq       INTEGER NOT NULL DEFAULT 0,
    data            TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(data)),
    edited_at       INTEGER NOT NULL DEFAULT 0,
    deleted_at      INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    UNIQUE (conversation_id, seq),
    UNIQUE (conversation_id, sender_id, txn_id)
) STRICT;

CREATE INDEX messages_thread ON messages (conversation_id, thread_seq) WHERE thread_seq > 0;
CREATE INDEX messages_created ON messages (created_at);

-- Earlier texts of edited and deleted messages, for admins.
CREATE TABLE message_revisions (
    conversation_id TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    revised_at      INTEGER NOT NULL,
    editor_id       TEXT NOT NULL,
    action          TEXT NOT NULL CHECK (action IN ('edit', 'delete')),
    text            TEXT NOT NULL,
    FOREIGN KEY (conversation_id, seq) REFERENCES messages (conversation_id, seq) ON DELETE CASCADE
) STRICT;

CREATE INDEX message_revisions_message ON message_revisions (conversation_id, seq);

CREATE TABLE reactions (
    conversation_id TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    user_id         TEXT NOT NULL,
    emoji           TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, seq, user_id, emoji),
    FOREIGN KEY (conversation_id, seq) REFERENCES messages (conversation_id, seq) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- Search: a trigram index matches any part of a word, and CJK text, which
-- has no spaces between words. Only user messages are indexed.
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    text, content = 'messages', content_rowid = 'id', tokenize = 'trigram'
);

-- +goose StatementBegin
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.kind = 'text' BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.kind = 'text' BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages WHEN old.kind = 'text' BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE messages_fts;
DROP TABLE reactions;
DROP TABLE message_revisions;
DROP TABLE messages;
DROP TABLE members;
DROP TABLE conversations;
