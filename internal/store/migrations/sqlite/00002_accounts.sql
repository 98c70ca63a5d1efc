-- Accounts: users, their browser sessions, personal API tokens and
-- invitations. Secrets that only need to be recognised (session cookies, API
-- tokens, invite tokens) are stored as SHA-256 hex digests; a database leak
-- does not let anyone sign in with them. TOTP secrets are stored in the clear
-- because computing a code needs the secret itself (the database file is 0600).
-- Times are Unix milliseconds; 0 means "never" / "not set".

-- +goose Up
CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    display_name   TEXT NOT NULL,
    email          TEXT NOT NULL DEFAULT '',
    role           TEXT NOT NULL CHECK (role IN ('admin', 'agent', 'member')),
    -- argon2id PHC string; '' for users who can only sign in by SSO
    password_hash  TEXT NOT NULL DEFAULT '',
    -- base32; totp_pending holds a secret between setup and enable
    totp_secret    TEXT NOT NULL DEFAULT '',
    totp_pending   TEXT NOT NULL DEFAULT '',
    -- the last accepted TOTP time step: a code is never accepted twice
    totp_last_step INTEGER NOT NULL DEFAULT 0,
    disabled       INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    failed_logins  INTEGER NOT NULL DEFAULT 0,
    -- lockouts since the last successful sign-in, for the doubling lock time
    lockouts       INTEGER NOT NULL DEFAULT 0,
    locked_until   INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL
) STRICT;

-- E-mail is optional, but two accounts must not share one: single sign-on
-- matches users by it.
CREATE UNIQUE INDEX users_email ON users (email) WHERE email <> '';

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    user_agent   TEXT NOT NULL DEFAULT '',
    ip           TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE user_tokens (
    id           TEXT PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX user_tokens_user ON user_tokens (user_id);

CREATE TABLE invites (
    id         TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL CHECK (role IN ('admin', 'agent', 'member')),
    created_by TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER NOT NULL DEFAULT 0,
    used_by    TEXT NOT NULL DEFAULT ''
) STRICT;

-- +goose Down
DROP TABLE invites;
DROP TABLE user_tokens;
DROP TABLE sessions;
DROP TABLE users;
