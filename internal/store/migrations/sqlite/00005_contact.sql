-- Customer contact: queue, widget and agent settings, website visitors, and
-- one row per contact (a visitor asking for an agent) for the consoles and
-- the statistics. Times are Unix milliseconds; 0 means "not yet".

-- +goose Up
-- Settings are small JSON documents (internal/contact decodes and validates
-- them): kind 'queue' and 'widget' by their id, 'agent' by user id.
CREATE TABLE contact_settings (
    kind       TEXT NOT NULL CHECK (kind IN ('queue', 'widget', 'agent')),
    id         TEXT NOT NULL,
    doc        TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
) STRICT;

-- A visitor is a person on a website talking to us through a widget or a
-- contact link: not an account. token_hash is the SHA-256 of their bearer
-- token; a visitor coming back with an old token keeps their id (sticky
-- routing, earlier contacts) and gets a new one.
CREATE TABLE visitors (
    id           TEXT PRIMARY KEY,
    widget       TEXT NOT NULL,
    display_name TEXT NOT NULL,
    email        TEXT NOT NULL DEFAULT '',
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    ip           TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX visitors_expires ON visitors (expires_at);

CREATE TABLE contacts (
    id              TEXT PRIMARY KEY,
    queue           TEXT NOT NULL,   -- where it is or ended
    first_queue     TEXT NOT NULL,   -- where it arrived (statistics count it there)
    widget          TEXT NOT NULL DEFAULT '',
    visitor_id      TEXT NOT NULL,
    conversation_id TEXT NOT NULL DEFAULT '',
    media           TEXT NOT NULL,
    status          TEXT NOT NULL,
    agent_id        TEXT NOT NULL DEFAULT '',
    arrived_at      INTEGER NOT NULL,
    answered_at     INTEGER NOT NULL DEFAULT 0,
    ended_at        INTEGER NOT NULL DEFAULT 0,
    wait_ms         INTEGER NOT NULL DEFAULT 0,
    handle_ms       INTEGER NOT NULL DEFAULT 0,
    wrapup_code     TEXT NOT NULL DEFAULT '',
    notes           TEXT NOT NULL DEFAULT '',
    page            TEXT NOT NULL DEFAULT '',
    referrer        TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX contacts_arrived ON contacts (first_queue, arrived_at);
CREATE INDEX contacts_visitor ON contacts (visitor_id, arrived_at);
CREATE INDEX contacts_conversation ON contacts (conversation_id);

-- +goose Down
DROP TABLE contacts;
DROP TABLE visitors;
DROP TABLE contact_settings;
