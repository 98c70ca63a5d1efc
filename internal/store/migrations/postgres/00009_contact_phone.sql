-- The PostgreSQL twin of ../sqlite/00009_contact_phone.sql: same columns
-- and meaning.

-- +goose Up
ALTER TABLE visitors ADD COLUMN phone TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN phone TEXT NOT NULL DEFAULT '';
CREATE INDEX visitors_phone ON visitors (phone) WHERE phone <> '';

-- +goose Down
DROP INDEX visitors_phone;
ALTER TABLE contacts DROP COLUMN phone;
ALTER TABLE visitors DROP COLUMN phone;
