-- The PostgreSQL twin of ../sqlite/00001_init.sql: same tables, columns and
-- meaning. Times are Unix milliseconds (BIGINT).

-- +goose Up
CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    secret     TEXT NOT NULL,
    name       TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

CREATE TABLE rooms (
    id         TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    settings   TEXT NOT NULL DEFAULT '{}' CHECK (settings::jsonb IS NOT NULL),
    created_by TEXT NOT NULL DEFAULT ''
);

CREATE TABLE chat_messages (
    room           TEXT NOT NULL,
    seq            BIGINT NOT NULL,
    participant_id TEXT NOT NULL DEFAULT '',
    name           TEXT NOT NULL DEFAULT '',
    text           TEXT NOT NULL DEFAULT '',
    file_id        TEXT NOT NULL DEFAULT '',
    file_name      TEXT NOT NULL DEFAULT '',
    file_size      BIGINT NOT NULL DEFAULT 0,
    file_type      TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (room, seq)
);

CREATE TABLE files (
    id           TEXT PRIMARY KEY,
    room         TEXT NOT NULL,
    name         TEXT NOT NULL DEFAULT '',
    size         BIGINT NOT NULL,
    content_type TEXT NOT NULL DEFAULT '',
    sha256       TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE INDEX files_room ON files (room);

-- +goose Down
DROP TABLE files;
DROP TABLE chat_messages;
DROP TABLE rooms;
DROP TABLE api_keys;
