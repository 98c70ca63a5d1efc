package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrNoSuchTrunk is returned when a number is bound to a trunk id that does
// not exist.
var ErrNoSuchTrunk = errors.New("store: no such SIP trunk")

// SIPTrunk is a connection to a telephone provider (see
// migrations/sqlite/00007_sip_trunks.sql). Password is kept as it is,
// because we answer the provider's digest challenges with it: never send
// it to clients. Checking the fields is internal/sip's job (Trunk.Validate).
type SIPTrunk struct {
	ID               string
	Name             string
	Enabled          bool
	Host             string
	Transport        string // udp, tcp, tls
	Register         bool
	Username         string
	AuthUsername     string
	Password         string
	FromDomain       string
	InboundIPs       []string
	OutboundPrefixes []string
	NumberFormat     string // e164, national, digits
	MaxCalls         int
	MediaEncryption  string // none, sdes: what our calls out offer ("" is none)
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// SIPNumber is a telephone number (E.164) that reaches us and where its
// calls go: TargetKind user, extension, conference or queue, and its value.
type SIPNumber struct {
	Number      string
	TrunkID     string // "" for calls from any trunk
	Label       string
	TargetKind  string
	TargetValue string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

const sipTrunkColumns = `id, name, enabled, host, transport, registers, username, auth_username, password, from_domain,
	inbound_ips, outbound_prefixes, number_format, max_calls, media_encryption, created_at, updated_at`

func scanSIPTrunk(row scanner) (SIPTrunk, error) {
	var t SIPTrunk
	var enabled, register, maxCalls, created, updated int64
	var inbound, prefixes string
	if err := row.Scan(&t.ID, &t.Name, &enabled, &t.Host, &t.Transport, &register, &t.Username, &t.AuthUsername,
		&t.Password, &t.FromDomain, &inbound, &prefixes, &t.NumberFormat, &maxCalls, &t.MediaEncryption, &created, &updated); err != nil {
		return SIPTrunk{}, err
	}
	t.Enabled, t.Register, t.MaxCalls = enabled != 0, register != 0, int(maxCalls)
	if err := json.Unmarshal([]byte(inbound), &t.InboundIPs); err != nil {
		return SIPTrunk{}, fmt.Errorf("inbound_ips: %w", err)
	}
	if err := json.Unmarshal([]byte(prefixes), &t.OutboundPrefixes); err != nil {
		return SIPTrunk{}, fmt.Errorf("outbound_prefixes: %w", err)
	}
	t.CreatedAt, t.UpdatedAt = fromMillis(created), fromMillis(updated)
	return t, nil
}

// jsonList stores a list as a JSON array ("[]" for none).
func jsonList(l []string) string {
	if l == nil {
		l = []string{}
	}
	b, _ := json.Marshal(l)
	return string(b)
}

func (t *SIPTrunk) args() []any {
	return []any{t.Name, webhookFlag(t.Enabled), t.Host, t.Transport, webhookFlag(t.Register), t.Username, t.AuthUsername,
		t.Password, t.FromDomain, jsonList(t.InboundIPs), jsonList(t.OutboundPrefixes), t.NumberFormat, int64(t.MaxCalls), mediaEncryption(t.MediaEncryption)}
}

// mediaEncryption stores "" as "none".
func mediaEncryption(v string) string {
	if v == "" {
		return "none"
	}
	return v
}

// CreateSIPTrunk stores t (zero times set to now) and returns it as stored;
// ErrExists when the id or name is taken.
func (s *Store) CreateSIPTrunk(ctx context.Context, t SIPTrunk) (SIPTrunk, error) {
	if t.ID == "" || t.Name == "" || t.Host == "" || t.Transport == "" || t.NumberFormat == "" {
		return SIPTrunk{}, errors.New("store: create sip trunk: empty id, name, host, transport or number format")
	}
	t.CreatedAt = s.stamp(t.CreatedAt)
	if t.UpdatedAt.IsZero() {
		t.UpdatedAt = t.CreatedAt
	}
	t.UpdatedAt = s.stamp(t.UpdatedAt)
	t.InboundIPs, t.OutboundPrefixes = nonNil(t.InboundIPs), nonNil(t.OutboundPrefixes)
	t.MediaEncryption = mediaEncryption(t.MediaEncryption)
	args := append([]any{t.ID}, t.args()...)
	args = append(args, millis(t.CreatedAt), millis(t.UpdatedAt))
	if _, err := s.w.ExecContext(ctx, `INSERT INTO sip_trunks (`+sipTrunkColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...); err != nil {
		if isUniqueViolation(err) {
			err = ErrExists
		}
		return SIPTrunk{}, fmt.Errorf("store: create sip trunk %q: %w", t.Name, err)
	}
	return t, nil
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// SIPTrunk returns the trunk with id, or ErrNotFound.
func (s *Store) SIPTrunk(ctx context.Context, id string) (SIPTrunk, error) {
	t, err := scanSIPTrunk(s.r.QueryRowContext(ctx, `SELECT `+sipTrunkColumns+` FROM sip_trunks WHERE id = ?`, id))
	if err != nil {
		return SIPTrunk{}, fmt.Errorf("store: sip trunk %q: %w", id, notFound(err))
	}
	return t, nil
}

// SIPTrunks lists the trunks by name, with their passwords (the gateway
// needs them; the API leaves them out).
func (s *Store) SIPTrunks(ctx context.Context) ([]SIPTrunk, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sipTrunkColumns+` FROM sip_trunks ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: sip trunks: %w", err)
	}
	defer rows.Close()
	list := []SIPTrunk{}
	for rows.Next() {
		t, err := scanSIPTrunk(rows)
		if err != nil {
			return nil, fmt.Errorf("store: sip trunks: %w", err)
		}
		list = append(list, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: sip trunks: %w", err)
	}
	return list, nil
}

// UpdateSIPTrunk replaces the writable fields of the trunk with t.ID and
// returns it as stored; ErrNotFound, or ErrExists for a taken name.
func (s *Store) UpdateSIPTrunk(ctx context.Context, t SIPTrunk) (SIPTrunk, error) {
	old, err := s.SIPTrunk(ctx, t.ID)
	if err != nil {
		return SIPTrunk{}, err
	}
	t.CreatedAt, t.UpdatedAt = old.CreatedAt, s.stamp(time.Time{})
	t.InboundIPs, t.OutboundPrefixes = nonNil(t.InboundIPs), nonNil(t.OutboundPrefixes)
	t.MediaEncryption = mediaEncryption(t.MediaEncryption)
	args := append(t.args(), millis(t.UpdatedAt), t.ID)
	err = s.execOne(ctx, "update sip trunk", `UPDATE sip_trunks SET name = ?, enabled = ?, host = ?, transport = ?,
		registers = ?, username = ?, auth_username = ?, password = ?, from_domain = ?, inbound_ips = ?,
		outbound_prefixes = ?, number_format = ?, max_calls = ?, media_encryption = ?, updated_at = ? WHERE id = ?`, args...)
	if isUniqueViolation(err) {
		return SIPTrunk{}, fmt.Errorf("store: update sip trunk %q: %w", t.Name, ErrExists)
	}
	if err != nil {
		return SIPTrunk{}, err
	}
	return t, nil
}

// DeleteSIPTrunk removes a trunk and the numbers bound to it, or returns ErrNotFound.
func (s *Store) DeleteSIPTrunk(ctx context.Context, id string) error {
	return s.execOne(ctx, "delete sip trunk", `DELETE FROM sip_trunks WHERE id = ?`, id)
}

const sipNumberColumns = `number, trunk_id, label, target_kind, target_value, created_at, updated_at`

func scanSIPNumber(row scanner) (SIPNumber, error) {
	var n SIPNumber
	var trunk sql.NullString
	var created, updated int64
	if err := row.Scan(&n.Number, &trunk, &n.Label, &n.TargetKind, &n.TargetValue, &created, &updated); err != nil {
		return SIPNumber{}, err
	}
	n.TrunkID = trunk.String
	n.CreatedAt, n.UpdatedAt = fromMillis(created), fromMillis(updated)
	return n, nil
}

// sipNumberConflict maps constraint violations to the store's errors.
func sipNumberConflict(err error) error {
	switch {
	case err == nil:
		return nil
	case isUniqueViolation(err):
		return ErrExists
	case isForeignKeyViolation(err):
		return ErrNoSuchTrunk
	}
	return err
}

// CreateSIPNumber stores n; ErrExists when the number is taken,
// ErrNoSuchTrunk when TrunkID names no trunk.
func (s *Store) CreateSIPNumber(ctx context.Context, n SIPNumber) (SIPNumber, error) {
	if n.Number == "" || n.TargetKind == "" || n.TargetValue == "" {
		return SIPNumber{}, errors.New("store: create sip number: empty number or target")
	}
	n.CreatedAt = s.stamp(n.CreatedAt)
	if n.UpdatedAt.IsZero() {
		n.UpdatedAt = n.CreatedAt
	}
	n.UpdatedAt = s.stamp(n.UpdatedAt)
	_, err := s.w.ExecContext(ctx, `INSERT INTO sip_numbers (`+sipNumberColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		n.Number, nullID(n.TrunkID), n.Label, n.TargetKind, n.TargetValue, millis(n.CreatedAt), millis(n.UpdatedAt))
	if err != nil {
		return SIPNumber{}, fmt.Errorf("store: create sip number %q: %w", n.Number, sipNumberConflict(err))
	}
	return n, nil
}

// SIPNumber returns the number (E.164), or ErrNotFound.
func (s *Store) SIPNumber(ctx context.Context, number string) (SIPNumber, error) {
	n, err := scanSIPNumber(s.r.QueryRowContext(ctx, `SELECT `+sipNumberColumns+` FROM sip_numbers WHERE number = ?`, number))
	if err != nil {
		return SIPNumber{}, fmt.Errorf("store: sip number %q: %w", number, notFound(err))
	}
	return n, nil
}

// SIPNumbers lists the numbers in order.
func (s *Store) SIPNumbers(ctx context.Context) ([]SIPNumber, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sipNumberColumns+` FROM sip_numbers ORDER BY number`)
	if err != nil {
		return nil, fmt.Errorf("store: sip numbers: %w", err)
	}
	defer rows.Close()
	list := []SIPNumber{}
	for rows.Next() {
		n, err := scanSIPNumber(rows)
		if err != nil {
			return nil, fmt.Errorf("store: sip numbers: %w", err)
		}
		list = append(list, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: sip numbers: %w", err)
	}
	return list, nil
}

// UpdateSIPNumber replaces the trunk, label and target of n.Number and
// returns it as stored; ErrNotFound or ErrNoSuchTrunk.
func (s *Store) UpdateSIPNumber(ctx context.Context, n SIPNumber) (SIPNumber, error) {
	old, err := s.SIPNumber(ctx, n.Number)
	if err != nil {
		return SIPNumber{}, err
	}
	n.CreatedAt, n.UpdatedAt = old.CreatedAt, s.stamp(time.Time{})
	err = s.execOne(ctx, "update sip number", `UPDATE sip_numbers SET trunk_id = ?, label = ?, target_kind = ?,
		target_value = ?, updated_at = ? WHERE number = ?`,
		nullID(n.TrunkID), n.Label, n.TargetKind, n.TargetValue, millis(n.UpdatedAt), n.Number)
	if err != nil {
		return SIPNumber{}, fmt.Errorf("store: update sip number %q: %w", n.Number, sipNumberConflict(err))
	}
	return n, nil
}

// DeleteSIPNumber removes a number, or returns ErrNotFound.
func (s *Store) DeleteSIPNumber(ctx context.Context, number string) error {
	return s.execOne(ctx, "delete sip number", `DELETE FROM sip_numbers WHERE number = ?`, number)
}
