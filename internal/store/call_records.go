package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// CallRecord is a stored call detail record: one SIP call leg that ended
// (internal/sip's CallRecord), plus the users behind its parties when known.
type CallRecord struct {
	ID        string
	CallID    string // the SIP Call-ID
	Direction string // inbound | outbound
	From      string
	FromName  string
	To        string
	Trunk     string
	// FromUserID and ToUserID are the Switchboard users behind From and To,
	// "" when the party is nobody's phone or a phone number.
	FromUserID string
	ToUserID   string

	Started  time.Time
	Answered time.Time // zero when never answered
	Ended    time.Time

	Outcome string
	Status  int
	Cause   string
	Codec   string

	PacketsSent     uint64
	PacketsReceived uint64
	PacketsLost     uint64
	JitterMillis    float64
}

// CallRecordFilter selects records for CallRecords. Zero fields do not filter.
type CallRecordFilter struct {
	Since, Until time.Time // started at or after Since, before Until
	Number       string    // a substring of From, FromName or To, in any case
	Outcome      string
	Direction    string
	UserID       string // records with this user on either side
	// After continues a listing: records older than this one (its Started
	// and ID, as the last record of the previous page).
	AfterStarted time.Time
	AfterID      string
	Limit        int // at most MaxCallRecordPage; 0 means 50
}

// MaxCallRecordPage is the most records one CallRecords call returns.
const MaxCallRecordPage = 1000

const callRecordColumns = `id, call_id, direction, from_number, from_name, to_number, trunk, from_user_id, to_user_id,
	started_at, answered_at, ended_at, outcome, status, cause, codec, packets_sent, packets_received, packets_lost, jitter_ms`

func scanCallRecord(row scanner) (CallRecord, error) {
	var r CallRecord
	var fromUser, toUser sql.NullString
	var started, answered, ended, sent, recv, lost int64
	if err := row.Scan(&r.ID, &r.CallID, &r.Direction, &r.From, &r.FromName, &r.To, &r.Trunk, &fromUser, &toUser,
		&started, &answered, &ended, &r.Outcome, &r.Status, &r.Cause, &r.Codec, &sent, &recv, &lost, &r.JitterMillis); err != nil {
		return CallRecord{}, err
	}
	r.FromUserID, r.ToUserID = fromUser.String, toUser.String
	r.Started, r.Ended = fromMillis(started), fromMillis(ended)
	if answered != 0 {
		r.Answered = fromMillis(answered)
	}
	r.PacketsSent, r.PacketsReceived, r.PacketsLost = uint64(sent), uint64(recv), uint64(lost)
	return r, nil
}

// AddCallRecord stores r. Times are kept to the millisecond. A user id that
// names no user (deleted meanwhile) is stored as none rather than refused:
// the record matters more than the link.
func (s *Store) AddCallRecord(ctx context.Context, r CallRecord) error {
	if r.ID == "" || r.Started.IsZero() || r.Ended.IsZero() || r.Outcome == "" {
		return errors.New("store: add call record: empty id, outcome or times")
	}
	if r.Direction != "inbound" && r.Direction != "outbound" {
		return fmt.Errorf("store: add call record: direction %q", r.Direction)
	}
	answered := int64(0)
	if !r.Answered.IsZero() {
		answered = millis(r.Answered)
	}
	insert := func(from, to string) error {
		_, err := s.w.ExecContext(ctx, `INSERT INTO call_records (`+callRecordColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.CallID, r.Direction, r.From, r.FromName, r.To, r.Trunk, nullID(from), nullID(to),
			millis(r.Started), answered, millis(r.Ended), r.Outcome, r.Status, r.Cause, r.Codec,
			clampInt64(r.PacketsSent), clampInt64(r.PacketsReceived), clampInt64(r.PacketsLost), r.JitterMillis)
		return err
	}
	err := insert(r.FromUserID, r.ToUserID)
	if err != nil && isForeignKeyViolation(err) {
		err = insert("", "")
	}
	if err != nil {
		if isUniqueViolation(err) {
			err = ErrExists
		}
		return fmt.Errorf("store: add call record: %w", err)
	}
	return nil
}

func clampInt64(v uint64) int64 { return int64(min(v, 1<<63-1)) }

// CallRecords lists records newest first.
func (s *Store) CallRecords(ctx context.Context, f CallRecordFilter) ([]CallRecord, error) {
	var where []string
	var args []any
	if !f.Since.IsZero() {
		where, args = append(where, `started_at >= ?`), append(args, millis(f.Since))
	}
	if !f.Until.IsZero() {
		where, args = append(where, `started_at < ?`), append(args, millis(f.Until))
	}
	if f.Number != "" {
		like := "%" + likeEscaper.Replace(strings.ToLower(f.Number)) + "%"
		where = append(where, `(lower(from_number) LIKE ? ESCAPE '\' OR lower(from_name) LIKE ? ESCAPE '\' OR lower(to_number) LIKE ? ESCAPE '\')`)
		args = append(args, like, like, like)
	}
	if f.Outcome != "" {
		where, args = append(where, `outcome = ?`), append(args, f.Outcome)
	}
	if f.Direction != "" {
		where, args = append(where, `direction = ?`), append(args, f.Direction)
	}
	if f.UserID != "" {
		where, args = append(where, `(from_user_id = ? OR to_user_id = ?)`), append(args, f.UserID, f.UserID)
	}
	if !f.AfterStarted.IsZero() {
		at := millis(f.AfterStarted)
		where, args = append(where, `(started_at < ? OR (started_at = ? AND id < ?))`), append(args, at, at, f.AfterID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, MaxCallRecordPage)
	q := `SELECT ` + callRecordColumns + ` FROM call_records`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY started_at DESC, id DESC LIMIT ?`
	rows, err := s.r.QueryContext(ctx, q, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("store: call records: %w", err)
	}
	defer rows.Close()
	list := []CallRecord{}
	for rows.Next() {
		r, err := scanCallRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("store: call records: %w", err)
		}
		list = append(list, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: call records: %w", err)
	}
	return list, nil
}

// DeleteCallRecordsBefore removes the records of calls that started before t
// and returns how many went.
func (s *Store) DeleteCallRecordsBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM call_records WHERE started_at < ?`, millis(t))
	if err != nil {
		return 0, fmt.Errorf("store: delete old call records: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
