-- The PostgreSQL twin of ../sqlite/00007_sip_trunks.sql: same tables,
-- columns and meaning (the trunk password is stored as it is: we answer
-- providers' digest challenges with it). Times are Unix milliseconds (BIGINT).

-- +goose Up
CREATE TABLE sip_trunks (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    enabled           INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    host              TEXT NOT NULL,
    transport         TEXT NOT NULL CHECK (transport IN ('udp', 'tcp', 'tls')),
    registers         INTEGER NOT NULL DEFAULT 0 CHECK (registers IN (0, 1)),
    username          TEXT NOT NULL DEFAULT '',
    auth_username     TEXT NOT NULL DEFAULT '',
    password          TEXT NOT NULL DEFAULT '',
    from_domain       TEXT NOT NULL DEFAULT '',
    inbound_ips       TEXT NOT NULL DEFAULT '[]',
    outbound_prefixes TEXT NOT NULL DEFAULT '[]',
    number_format     TEXT NOT NULL DEFAULT 'e164' CHECK (number_format IN ('e164', 'national', 'digits')),
    max_calls         INTEGER NOT NULL DEFAULT 0 CHECK (max_calls >= 0),
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

CREATE TABLE sip_numbers (
    number       TEXT PRIMARY KEY,
    trunk_id     TEXT REFERENCES sip_trunks (id) ON DELETE CASCADE,
    label        TEXT NOT NULL DEFAULT '',
    target_kind  TEXT NOT NULL CHECK (target_kind IN ('user', 'extension', 'conference', 'queue')),
    target_value TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE INDEX sip_numbers_trunk ON sip_numbers (trunk_id) WHERE trunk_id IS NOT NULL;

-- +goose Down
DROP TABLE sip_numbers;
DROP TABLE sip_trunks;
