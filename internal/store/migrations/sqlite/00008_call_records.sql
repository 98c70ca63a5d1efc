-- Call detail records: one row per SIP call leg once it ended (sip.CallRecord),
-- for admins and for people's call history. Times are Unix milliseconds;
-- answered_at is 0 for a call never answered. from_user_id and to_user_id are
-- the Switchboard users behind the parties when the app could tell (see
-- internal/app/sip_records.go); the rows are kept for sip.record_retention.

-- +goose Up
CREATE TABLE call_records (
    id               TEXT PRIMARY KEY,
    call_id          TEXT NOT NULL,        -- the SIP Call-ID
    direction        TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    from_number      TEXT NOT NULL DEFAULT '',
    from_name        TEXT NOT NULL DEFAULT '',
    to_number        TEXT NOT NULL DEFAULT '',
    trunk            TEXT NOT NULL DEFAULT '',
    from_user_id     TEXT REFERENCES users (id) ON DELETE SET NULL,
    to_user_id       TEXT REFERENCES users (id) ON DELETE SET NULL,
    started_at       INTEGER NOT NULL,
    answered_at      INTEGER NOT NULL DEFAULT 0,
    ended_at         INTEGER NOT NULL,
    outcome          TEXT NOT NULL,
    status           INTEGER NOT NULL DEFAULT 0,
    cause            TEXT NOT NULL DEFAULT '',
    codec            TEXT NOT NULL DEFAULT '',
    packets_sent     INTEGER NOT NULL DEFAULT 0,
    packets_received INTEGER NOT NULL DEFAULT 0,
    packets_lost     INTEGER NOT NULL DEFAULT 0,
    jitter_ms        REAL NOT NULL DEFAULT 0
) STRICT;

-- Lists are newest first, paged by (started_at, id).
CREATE INDEX call_records_started ON call_records (started_at, id);
CREATE INDEX call_records_from_user ON call_records (from_user_id, started_at) WHERE from_user_id IS NOT NULL;
CREATE INDEX call_records_to_user ON call_records (to_user_id, started_at) WHERE to_user_id IS NOT NULL;

-- +goose Down
DROP TABLE call_records;
