-- Times are Unix milliseconds (INTEGER) so they sort and compare without
-- depending on a driver's time format.

-- +goose Up
CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    secret     TEXT NOT NULL,
    name       TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE rooms (
    id         TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    settings   TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(settings)),
    created_by TEXT NOT NULL DEFAULT ''
) STRICT;

-- No foreign key to rooms: rooms that were never saved (ad hoc, token-created)
-- still have chat. DeleteRoom removes chat and files by room id.
CREATE TABLE chat_messages (
    room           TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    participant_id TEXT NOT NULL DEFAULT '',
    name           TEXT NOT NULL DEFAULT '',
    text           TEXT NOT NULL DEFAULT '',
    file_id        TEXT NOT NULL DEFAULT '',
    file_name      TEXT NOT NULL DEFAULT '',
    file_size      INTEGER NOT NULL DEFAULT 0,
    file_type      TEXT NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (room, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE files (
    id           TEXT PRIMARY KEY,
    room         TEXT NOT NULL,
    name         TEXT NOT NULL DEFAULT '',
    size         INTEGER NOT NULL,
    content_type TEXT NOT NULL DEFAULT '',
    sha256       TEXT NOT NULL,
    created_at   INTEGER NOT NULL
) STRICT;

CREATE INDEX files_room ON files (room);

-- +goose Down
DROP TABLE files;
DROP TABLE chat_messages;
DROP TABLE rooms;
DROP TABLE api_keys;
