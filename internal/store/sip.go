package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrNoSuchUser is returned when a SIP account is linked to a user id that
// does not exist.
var ErrNoSuchUser = errors.New("store: no such user")

// SIPAccount is a phone's account with the registrar. The password is not
// kept: HA1MD5 and HA1SHA256 are the digest hashes H(username:realm:password)
// for Realm (see migrations/sqlite/00006_sip.sql). They are secrets: they let
// whoever holds them register as this phone, so never send them to clients.
// Computing them is internal/sip's job; the store keeps what it is given.
type SIPAccount struct {
	ID          string
	Username    string // digest username, case-sensitive, unique
	DisplayName string
	UserID      string // linked Switchboard user; "" when none
	Realm       string
	HA1MD5      string // hex
	HA1SHA256   string // hex
	Enabled     bool
	// MediaEncryption is what calls we place to this account's phones
	// offer: "none" (plain RTP) or "sdes" (SDES-SRTP, required).
	MediaEncryption string
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// SIPAccountChanges lists the fields UpdateSIPAccount changes; nil leaves a
// field as it is. Secrets change only through SetSIPAccountSecret.
type SIPAccountChanges struct {
	DisplayName *string
	UserID      *string // "" unlinks
	Enabled     *bool
	// MediaEncryption is "none" or "sdes" ("" is none).
	MediaEncryption *string
}

const sipAccountColumns = `id, username, display_name, user_id, realm, ha1_md5, ha1_sha256, enabled, media_encryption, created_at, updated_at`

func scanSIPAccount(row scanner) (SIPAccount, error) {
	var a SIPAccount
	var user sql.NullString
	var enabled, created, updated int64
	if err := row.Scan(&a.ID, &a.Username, &a.DisplayName, &user, &a.Realm, &a.HA1MD5, &a.HA1SHA256,
		&enabled, &a.MediaEncryption, &created, &updated); err != nil {
		return SIPAccount{}, err
	}
	a.UserID = user.String
	a.Enabled = enabled != 0
	a.CreatedAt = fromMillis(created)
	a.UpdatedAt = fromMillis(updated)
	return a, nil
}

// nullID stores "" as NULL, which the foreign key to users allows.
func nullID(id string) sql.NullString { return sql.NullString{String: id, Valid: id != ""} }

// isForeignKeyViolation reports whether err is a foreign key violation, in
// either database.
func isForeignKeyViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23503"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	return false
}

// sipAccountConflict maps constraint violations to the store's errors.
func sipAccountConflict(err error) error {
	switch {
	case err == nil:
		return nil
	case isUniqueViolation(err):
		return ErrExists
	case isForeignKeyViolation(err):
		return ErrNoSuchUser
	}
	return err
}

// CreateSIPAccount stores a and returns it as stored; zero times are set to
// now. It returns ErrExists when the id or username is taken and
// ErrNoSuchUser when UserID names no user.
func (s *Store) CreateSIPAccount(ctx context.Context, a SIPAccount) (SIPAccount, error) {
	if a.ID == "" || a.Username == "" || a.Realm == "" || a.HA1MD5 == "" || a.HA1SHA256 == "" {
		return SIPAccount{}, errors.New("store: create sip account: empty id, username, realm or hash")
	}
	a.CreatedAt = s.stamp(a.CreatedAt)
	if a.UpdatedAt.IsZero() {
		a.UpdatedAt = a.CreatedAt
	}
	a.UpdatedAt = s.stamp(a.UpdatedAt)
	a.MediaEncryption = mediaEncryption(a.MediaEncryption)
	_, err := s.w.ExecContext(ctx,
		`INSERT INTO sip_accounts (`+sipAccountColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Username, a.DisplayName, nullID(a.UserID), a.Realm, a.HA1MD5, a.HA1SHA256,
		webhookFlag(a.Enabled), a.MediaEncryption, millis(a.CreatedAt), millis(a.UpdatedAt))
	if err != nil {
		return SIPAccount{}, fmt.Errorf("store: create sip account %q: %w", a.Username, sipAccountConflict(err))
	}
	return a, nil
}

// SIPAccount returns the account with id, or ErrNotFound.
func (s *Store) SIPAccount(ctx context.Context, id string) (SIPAccount, error) {
	a, err := scanSIPAccount(s.r.QueryRowContext(ctx,
		`SELECT `+sipAccountColumns+` FROM sip_accounts WHERE id = ?`, id))
	if err != nil {
		return SIPAccount{}, fmt.Errorf("store: sip account %q: %w", id, notFound(err))
	}
	return a, nil
}

// SIPAccountByUsername returns the account with that exact username, or
// ErrNotFound. The registrar calls it for every authenticated request.
func (s *Store) SIPAccountByUsername(ctx context.Context, username string) (SIPAccount, error) {
	a, err := scanSIPAccount(s.r.QueryRowContext(ctx,
		`SELECT `+sipAccountColumns+` FROM sip_accounts WHERE username = ?`, username))
	if err != nil {
		return SIPAccount{}, fmt.Errorf("store: sip account %q: %w", username, notFound(err))
	}
	return a, nil
}

// SIPAccounts lists accounts by username. The hashes are left empty: a list
// is for display, and hashes should only leave the store to check a digest.
func (s *Store) SIPAccounts(ctx context.Context) ([]SIPAccount, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT `+sipAccountColumns+` FROM sip_accounts ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("store: sip accounts: %w", err)
	}
	defer rows.Close()
	list := []SIPAccount{}
	for rows.Next() {
		a, err := scanSIPAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("store: sip accounts: %w", err)
		}
		a.HA1MD5, a.HA1SHA256 = "", ""
		list = append(list, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: sip accounts: %w", err)
	}
	return list, nil
}

// UpdateSIPAccount applies ch and returns the updated account (with its
// hashes). It returns ErrNotFound or ErrNoSuchUser.
func (s *Store) UpdateSIPAccount(ctx context.Context, id string, ch SIPAccountChanges) (SIPAccount, error) {
	t, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return SIPAccount{}, fmt.Errorf("store: update sip account: %w", err)
	}
	defer t.Rollback()
	a, err := scanSIPAccount(t.QueryRowContext(ctx,
		`SELECT `+sipAccountColumns+` FROM sip_accounts WHERE id = ?`, id))
	if err != nil {
		return SIPAccount{}, fmt.Errorf("store: update sip account %q: %w", id, notFound(err))
	}
	if ch.DisplayName != nil {
		a.DisplayName = *ch.DisplayName
	}
	if ch.UserID != nil {
		a.UserID = *ch.UserID
	}
	if ch.Enabled != nil {
		a.Enabled = *ch.Enabled
	}
	if ch.MediaEncryption != nil {
		a.MediaEncryption = mediaEncryption(*ch.MediaEncryption)
	}
	a.UpdatedAt = s.stamp(time.Time{})
	if _, err := t.ExecContext(ctx,
		`UPDATE sip_accounts SET display_name = ?, user_id = ?, enabled = ?, media_encryption = ?, updated_at = ? WHERE id = ?`,
		a.DisplayName, nullID(a.UserID), webhookFlag(a.Enabled), a.MediaEncryption, millis(a.UpdatedAt), id); err != nil {
		return SIPAccount{}, fmt.Errorf("store: update sip account %q: %w", id, sipAccountConflict(err))
	}
	if err := t.Commit(); err != nil {
		return SIPAccount{}, fmt.Errorf("store: update sip account: %w", err)
	}
	return a, nil
}

// SetSIPAccountSecret replaces the realm and digest hashes (a new password,
// or the same one under a new realm).
func (s *Store) SetSIPAccountSecret(ctx context.Context, id, realm, ha1MD5, ha1SHA256 string) error {
	if realm == "" || ha1MD5 == "" || ha1SHA256 == "" {
		return errors.New("store: set sip account secret: empty realm or hash")
	}
	return s.execOne(ctx, "set sip account secret",
		`UPDATE sip_accounts SET realm = ?, ha1_md5 = ?, ha1_sha256 = ?, updated_at = ? WHERE id = ?`,
		realm, ha1MD5, ha1SHA256, millis(s.stamp(time.Time{})), id)
}

// DeleteSIPAccount removes an account, or returns ErrNotFound. Phones
// registered with it stay in the registrar's memory until their bindings
// expire or the registrar is told (sip.Server.Unregister).
func (s *Store) DeleteSIPAccount(ctx context.Context, id string) error {
	return s.execOne(ctx, "delete sip account", `DELETE FROM sip_accounts WHERE id = ?`, id)
}
