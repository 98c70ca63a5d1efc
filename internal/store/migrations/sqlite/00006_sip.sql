-- SIP accounts: desk phones and softphones that register with the built-in
-- registrar (internal/sip). Times are Unix milliseconds.
--
-- The password itself is never stored. Digest authentication (RFC 3261,
-- RFC 8760) only needs HA1 = H(username ":" realm ":" password), so that is
-- what is kept, once per supported hash. HA1 is still a secret: it lets
-- whoever holds it answer challenges for this realm, so it must never leave
-- the server. It does not reveal the password, which people reuse elsewhere,
-- and it is bound to the realm: changing the realm needs new passwords.

-- +goose Up
CREATE TABLE sip_accounts (
    id           TEXT PRIMARY KEY,
    -- the digest username and the user part of the address of record;
    -- case-sensitive, as digest usernames are
    username     TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL DEFAULT '',
    -- the Switchboard user this phone belongs to, if any
    user_id      TEXT REFERENCES users (id) ON DELETE SET NULL,
    -- the realm the hashes below were computed for
    realm        TEXT NOT NULL,
    ha1_md5      TEXT NOT NULL,
    ha1_sha256   TEXT NOT NULL,
    enabled      INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;

CREATE INDEX sip_accounts_user ON sip_accounts (user_id) WHERE user_id IS NOT NULL;

-- +goose Down
DROP TABLE sip_accounts;
