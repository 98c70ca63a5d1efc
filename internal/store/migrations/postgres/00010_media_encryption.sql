-- What calls we place offer for media (internal/sip sdes.go): 'none'
-- (plain RTP/AVP) or 'sdes' (RTP/SAVP with an a=crypto key, and an answer
-- without one is refused), per trunk and per SIP account.

-- +goose Up
ALTER TABLE sip_trunks ADD COLUMN media_encryption TEXT NOT NULL DEFAULT 'none'
    CHECK (media_encryption IN ('none', 'sdes'));
ALTER TABLE sip_accounts ADD COLUMN media_encryption TEXT NOT NULL DEFAULT 'none'
    CHECK (media_encryption IN ('none', 'sdes'));

-- +goose Down
ALTER TABLE sip_accounts DROP COLUMN media_encryption;
ALTER TABLE sip_trunks DROP COLUMN media_encryption;
