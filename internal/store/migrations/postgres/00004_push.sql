-- The PostgreSQL twin of ../sqlite/00004_push.sql: same tables, columns and
-- meaning. Times are Unix milliseconds (BIGINT).

-- +goose Up
CREATE TABLE push_vapid (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    public_key  TEXT NOT NULL,
    private_key TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE push_subscriptions (
    endpoint   TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    p256dh     TEXT NOT NULL,
    auth       TEXT NOT NULL,
    user_agent TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id, created_at);

CREATE TABLE webhooks (
    id           TEXT PRIMARY KEY,
    url          TEXT NOT NULL,
    secret       TEXT NOT NULL,
    events       TEXT NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(events::jsonb) = 'array'),
    conversation TEXT NOT NULL DEFAULT '',
    enabled      INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_by   TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL
);

-- +goose Down
DROP TABLE webhooks;
DROP TABLE push_subscriptions;
DROP TABLE push_vapid;
