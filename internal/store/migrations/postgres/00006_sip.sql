-- The PostgreSQL twin of ../sqlite/00006_sip.sql: same table, columns and
-- meaning (HA1 digests, never passwords). Times are Unix milliseconds (BIGINT).

-- +goose Up
CREATE TABLE sip_accounts (
    id           TEXT PRIMARY KEY,
    username     TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL DEFAULT '',
    user_id      TEXT REFERENCES users (id) ON DELETE SET NULL,
    realm        TEXT NOT NULL,
    ha1_md5      TEXT NOT NULL,
    ha1_sha256   TEXT NOT NULL,
    enabled      INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE INDEX sip_accounts_user ON sip_accounts (user_id) WHERE user_id IS NOT NULL;

-- +goose Down
DROP TABLE sip_accounts;
