-- Telephone callers in customer contact (docs/contact.md, "Calls to a
-- queue's number"). visitors.phone is the E.164 number of a caller who rang
-- a queue's number: one visitor per calling number, so that agents see
-- their earlier contacts (the number is only shown and used for routing
-- back to the same agent, never trusted as an identity). contacts.phone is
-- the number the contact is with: the caller's, or the one a website
-- visitor gave when asking to be called back.

-- +goose Up
ALTER TABLE visitors ADD COLUMN phone TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN phone TEXT NOT NULL DEFAULT '';
CREATE INDEX visitors_phone ON visitors (phone) WHERE phone <> '';

-- +goose Down
DROP INDEX visitors_phone;
ALTER TABLE contacts DROP COLUMN phone;
ALTER TABLE visitors DROP COLUMN phone;
