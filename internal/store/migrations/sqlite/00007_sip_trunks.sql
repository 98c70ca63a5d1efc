-- SIP trunks (connections to telephone providers) and the numbers that
-- reach us through them (internal/sip trunk.go, internal/app sip_trunks.go).
-- Times are Unix milliseconds.
--
-- Unlike SIP accounts, a trunk's password is stored as it is: we are the
-- digest CLIENT here, and answering a provider's challenge needs the
-- password itself (or HA1 for the provider's realm, which we do not know
-- in advance and which is as good as the password to that provider). Keep
-- the database file private; the API never returns the password.

-- +goose Up
CREATE TABLE sip_trunks (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    enabled           INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    -- the provider's SIP server: host or host:port
    host              TEXT NOT NULL,
    transport         TEXT NOT NULL CHECK (transport IN ('udp', 'tcp', 'tls')),
    registers         INTEGER NOT NULL DEFAULT 0 CHECK (registers IN (0, 1)),
    username          TEXT NOT NULL DEFAULT '',
    auth_username     TEXT NOT NULL DEFAULT '',
    password          TEXT NOT NULL DEFAULT '',
    from_domain       TEXT NOT NULL DEFAULT '',
    -- JSON arrays of strings: source addresses/networks of an IP peer, and
    -- the E.164 prefixes called out through this trunk ([] = the default)
    inbound_ips       TEXT NOT NULL DEFAULT '[]',
    outbound_prefixes TEXT NOT NULL DEFAULT '[]',
    number_format     TEXT NOT NULL DEFAULT 'e164' CHECK (number_format IN ('e164', 'national', 'digits')),
    max_calls         INTEGER NOT NULL DEFAULT 0 CHECK (max_calls >= 0),
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
) STRICT;

-- Numbers (E.164, with "+") and where calls to them go. A number bound to
-- a trunk only matches calls from that trunk; deleting the trunk deletes
-- its numbers.
CREATE TABLE sip_numbers (
    number       TEXT PRIMARY KEY,
    trunk_id     TEXT REFERENCES sip_trunks (id) ON DELETE CASCADE,
    label        TEXT NOT NULL DEFAULT '',
    target_kind  TEXT NOT NULL CHECK (target_kind IN ('user', 'extension', 'conference', 'queue')),
    target_value TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;

CREATE INDEX sip_numbers_trunk ON sip_numbers (trunk_id) WHERE trunk_id IS NOT NULL;

-- +goose Down
DROP TABLE sip_numbers;
DROP TABLE sip_trunks;
