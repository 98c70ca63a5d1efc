-- Web Push (VAPID key pair, browser subscriptions) and outgoing webhooks.
-- Times are Unix milliseconds. User ids are TEXT without foreign keys: this
-- migration may run before the accounts tables exist.

-- +goose Up
-- One row: the server's VAPID key pair (P-256, base64url without padding).
-- Kept so browsers' subscriptions, which are bound to the public key, survive
-- restarts. The private key is stored in the clear; the database file is 0600.
CREATE TABLE push_vapid (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    public_key  TEXT NOT NULL,
    private_key TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

-- An endpoint is one browser profile's subscription, so it belongs to one
-- user at a time: subscribing again moves it to whoever subscribed last.
CREATE TABLE push_subscriptions (
    endpoint   TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    p256dh     TEXT NOT NULL,
    auth       TEXT NOT NULL,
    user_agent TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id, created_at);

-- events is a JSON array of event types; conversation '' matches every
-- conversation. The secret signs deliveries (HMAC), so it is kept in the clear.
CREATE TABLE webhooks (
    id           TEXT PRIMARY KEY,
    url          TEXT NOT NULL,
    secret       TEXT NOT NULL,
    events       TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(events) AND json_type(events) = 'array'),
    conversation TEXT NOT NULL DEFAULT '',
    enabled      INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_by   TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE webhooks;
DROP TABLE push_subscriptions;
DROP TABLE push_vapid;
