-- The PostgreSQL twin of ../sqlite/00008_call_records.sql: same table,
-- columns and meaning. Times are Unix milliseconds (BIGINT).

-- +goose Up
CREATE TABLE call_records (
    id               TEXT PRIMARY KEY,
    call_id          TEXT NOT NULL,
    direction        TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    from_number      TEXT NOT NULL DEFAULT '',
    from_name        TEXT NOT NULL DEFAULT '',
    to_number        TEXT NOT NULL DEFAULT '',
    trunk            TEXT NOT NULL DEFAULT '',
    from_user_id     TEXT REFERENCES users (id) ON DELETE SET NULL,
    to_user_id       TEXT REFERENCES users (id) ON DELETE SET NULL,
    started_at       BIGINT NOT NULL,
    answered_at      BIGINT NOT NULL DEFAULT 0,
    ended_at         BIGINT NOT NULL,
    outcome          TEXT NOT NULL,
    status           INTEGER NOT NULL DEFAULT 0,
    cause            TEXT NOT NULL DEFAULT '',
    codec            TEXT NOT NULL DEFAULT '',
    packets_sent     BIGINT NOT NULL DEFAULT 0,
    packets_received BIGINT NOT NULL DEFAULT 0,
    packets_lost     BIGINT NOT NULL DEFAULT 0,
    jitter_ms        DOUBLE PRECISION NOT NULL DEFAULT 0
);

CREATE INDEX call_records_started ON call_records (started_at, id);
CREATE INDEX call_records_from_user ON call_records (from_user_id, started_at) WHERE from_user_id IS NOT NULL;
CREATE INDEX call_records_to_user ON call_records (to_user_id, started_at) WHERE to_user_id IS NOT NULL;

-- +goose Down
DROP TABLE call_records;
