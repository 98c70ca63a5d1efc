package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Customer contact: settings documents, visitors and contact records.
// Routing itself lives in memory (internal/contact/routing); these rows are
// what survives it: configuration, who the visitors are, and what happened to
// each contact, for the consoles, returning visitors and the statistics.

// Setting kinds.
const (
	SettingQueue  = "queue"
	SettingWidget = "widget"
	SettingAgent  = "agent"
)

// Setting is one settings document (JSON, decoded by internal/contact).
type Setting struct {
	Kind      string
	ID        string
	Doc       []byte
	UpdatedAt time.Time
}

// PutSetting creates or replaces a settings document.
func (s *Store) PutSetting(ctx context.Context, st Setting) error {
	if st.Kind == "" || st.ID == "" || len(st.Doc) == 0 {
		return errors.New("store: put setting: empty kind, id or document")
	}
	_, err := s.w.ExecContext(ctx,
		`INSERT INTO contact_settings (kind, id, doc, updated_at) VALUES (?, ?, ?, ?)
		 ON CONFLICT (kind, id) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at`,
		st.Kind, st.ID, string(st.Doc), millis(s.stamp(st.UpdatedAt)))
	if err != nil {
		return fmt.Errorf("store: put setting %s %s: %w", st.Kind, st.ID, err)
	}
	return nil
}

// DeleteSetting deletes a settings document, or returns ErrNotFound.
func (s *Store) DeleteSetting(ctx context.Context, kind, id string) error {
	return s.execOne(ctx, "delete setting", `DELETE FROM contact_settings WHERE kind = ? AND id = ?`, kind, id)
}

// Settings returns every document of a kind, by id.
func (s *Store) Settings(ctx context.Context, kind string) ([]Setting, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT kind, id, doc, updated_at FROM contact_settings WHERE kind = ? ORDER BY id`, kind)
	if err != nil {
		return nil, fmt.Errorf("store: settings: %w", err)
	}
	defer rows.Close()
	var out []Setting
	for rows.Next() {
		var st Setting
		var doc string
		var at int64
		if err := rows.Scan(&st.Kind, &st.ID, &doc, &at); err != nil {
			return nil, fmt.Errorf("store: settings: %w", err)
		}
		st.Doc, st.UpdatedAt = []byte(doc), fromMillis(at)
		out = append(out, st)
	}
	return out, rows.Err()
}

// Visitor is a website visitor. TokenHash is the SHA-256 of their bearer
// token (see internal/contact).
type Visitor struct {
	ID          string
	Widget      string
	DisplayName string
	Email       string
	TokenHash   string
	CreatedAt   time.Time
	LastSeenAt  time.Time
	ExpiresAt   time.Time
	IP          string
	// Phone is the E.164 number of a telephone caller (a queue's number);
	// "" for website visitors.
	Phone string
}

const visitorColumns = `id, widget, display_name, email, token_hash, created_at, last_seen_at, expires_at, ip, phone`

func scanVisitor(row scanner) (Visitor, error) {
	var v Visitor
	var created, seen, expires int64
	if err := row.Scan(&v.ID, &v.Widget, &v.DisplayName, &v.Email, &v.TokenHash, &created, &seen, &expires, &v.IP, &v.Phone); err != nil {
		return Visitor{}, notFound(err)
	}
	v.CreatedAt, v.LastSeenAt, v.ExpiresAt = fromMillis(created), fromMillis(seen), fromMillis(expires)
	return v, nil
}

// CreateVisitor stores a new visitor.
func (s *Store) CreateVisitor(ctx context.Context, v Visitor) error {
	if v.ID == "" || v.TokenHash == "" {
		return errors.New("store: create visitor: empty id or token")
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO visitors (`+visitorColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		v.ID, v.Widget, v.DisplayName, v.Email, v.TokenHash, millis(s.stamp(v.CreatedAt)), millis(v.LastSeenAt), millis(v.ExpiresAt), v.IP, v.Phone)
	if err != nil {
		return fmt.Errorf("store: create visitor: %w", err)
	}
	return nil
}

// Visitor returns a visitor by id, or ErrNotFound.
func (s *Store) Visitor(ctx context.Context, id string) (Visitor, error) {
	return scanVisitor(s.r.QueryRowContext(ctx, `SELECT `+visitorColumns+` FROM visitors WHERE id = ?`, id))
}

// VisitorByTokenHash returns the visitor holding a token, expired or not, or
// ErrNotFound.
func (s *Store) VisitorByTokenHash(ctx context.Context, hash string) (Visitor, error) {
	return scanVisitor(s.r.QueryRowContext(ctx, `SELECT `+visitorColumns+` FROM visitors WHERE token_hash = ?`, hash))
}

// VisitorByPhone returns the visitor who last called from an E.164
// number, or ErrNotFound.
func (s *Store) VisitorByPhone(ctx context.Context, phone string) (Visitor, error) {
	if phone == "" {
		return Visitor{}, ErrNotFound
	}
	return scanVisitor(s.r.QueryRowContext(ctx,
		`SELECT `+visitorColumns+` FROM visitors WHERE phone = ? ORDER BY created_at DESC, id LIMIT 1`, phone))
}

// RenewVisitor gives a returning visitor a new token and expiry, and may
// change their name and e-mail.
func (s *Store) RenewVisitor(ctx context.Context, v Visitor) error {
	return s.execOne(ctx, "renew visitor",
		`UPDATE visitors SET token_hash = ?, display_name = ?, email = ?, last_seen_at = ?, expires_at = ?, ip = ? WHERE id = ?`,
		v.TokenHash, v.DisplayName, v.Email, millis(v.LastSeenAt), millis(v.ExpiresAt), v.IP, v.ID)
}

// TouchVisitor records a visitor's use of their token and slides its expiry.
func (s *Store) TouchVisitor(ctx context.Context, id string, seen, expires time.Time) error {
	return s.execOne(ctx, "touch visitor", `UPDATE visitors SET last_seen_at = ?, expires_at = ? WHERE id = ?`,
		millis(seen), millis(expires), id)
}

// EndVisitor expires a visitor's token now (they closed the conversation or
// an admin blocked them).
func (s *Store) EndVisitor(ctx context.Context, id string, now time.Time) error {
	return s.execOne(ctx, "end visitor", `UPDATE visitors SET expires_at = ? WHERE id = ?`, millis(now), id)
}

// Contact is the record of one contact: a visitor asking for an agent in a
// queue, from arrival to its end and the agent's wrap-up.
type Contact struct {
	ID           string
	Queue        string // where it is, or ended
	FirstQueue   string // where it arrived
	Widget       string
	VisitorID    string
	Conversation string
	Media        string
	Status       string
	AgentID      string
	ArrivedAt    time.Time
	AnsweredAt   time.Time // zero until answered
	EndedAt      time.Time // zero until it left routing
	Wait         time.Duration
	Handle       time.Duration
	WrapUpCode   string
	Notes        string
	Page         string
	Referrer     string
	// Phone is the E.164 number the contact is with: a telephone caller's,
	// or the one a website visitor asked to be called back on.
	Phone string
}

const contactColumns = `id, queue, first_queue, widget, visitor_id, conversation_id, media, status, agent_id,
	arrived_at, answered_at, ended_at, wait_ms, handle_ms, wrapup_code, notes, page, referrer, phone`

func scanContact(row scanner) (Contact, error) {
	var c Contact
	var arrived, answered, ended, wait, handle int64
	if err := row.Scan(&c.ID, &c.Queue, &c.FirstQueue, &c.Widget, &c.VisitorID, &c.Conversation, &c.Media, &c.Status, &c.AgentID,
		&arrived, &answered, &ended, &wait, &handle, &c.WrapUpCode, &c.Notes, &c.Page, &c.Referrer, &c.Phone); err != nil {
		return Contact{}, notFound(err)
	}
	c.ArrivedAt, c.AnsweredAt, c.EndedAt = fromMillis(arrived), optMillis(answered), optMillis(ended)
	c.Wait, c.Handle = time.Duration(wait)*time.Millisecond, time.Duration(handle)*time.Millisecond
	return c, nil
}

func contactArgs(c Contact) []any {
	return []any{c.ID, c.Queue, c.FirstQueue, c.Widget, c.VisitorID, c.Conversation, c.Media, c.Status, c.AgentID,
		millis(c.ArrivedAt), optToMillis(c.AnsweredAt), optToMillis(c.EndedAt), c.Wait.Milliseconds(), c.Handle.Milliseconds(),
		c.WrapUpCode, c.Notes, c.Page, c.Referrer, c.Phone}
}

// SaveContact creates or replaces a contact record.
func (s *Store) SaveContact(ctx context.Context, c Contact) error {
	if c.ID == "" || c.VisitorID == "" || c.Queue == "" {
		return errors.New("store: save contact: empty id, visitor or queue")
	}
	if c.FirstQueue == "" {
		c.FirstQueue = c.Queue
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO contacts (`+contactColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET queue = excluded.queue, phone = excluded.phone, conversation_id = excluded.conversation_id, media = excluded.media,
		status = excluded.status, agent_id = excluded.agent_id, answered_at = excluded.answered_at, ended_at = excluded.ended_at,
		wait_ms = excluded.wait_ms, handle_ms = excluded.handle_ms, wrapup_code = excluded.wrapup_code, notes = excluded.notes`,
		contactArgs(c)...)
	if err != nil {
		return fmt.Errorf("store: save contact: %w", err)
	}
	return nil
}

// Contact returns a contact record, or ErrNotFound.
func (s *Store) Contact(ctx context.Context, id string) (Contact, error) {
	return scanContact(s.r.QueryRowContext(ctx, `SELECT `+contactColumns+` FROM contacts WHERE id = ?`, id))
}

// VisitorContacts returns a visitor's contacts, newest first, at most limit.
func (s *Store) VisitorContacts(ctx context.Context, visitor string, limit int) ([]Contact, error) {
	return s.contacts(ctx, `SELECT `+contactColumns+` FROM contacts WHERE visitor_id = ? ORDER BY arrived_at DESC, id LIMIT ?`, visitor, limit)
}

// OpenContacts returns the contacts that have not left routing (no end
// time), oldest first: what a restarted server finds unfinished.
func (s *Store) OpenContacts(ctx context.Context) ([]Contact, error) {
	return s.contacts(ctx, `SELECT `+contactColumns+` FROM contacts WHERE ended_at = 0 ORDER BY arrived_at, id`)
}

// ContactsArrived returns the contacts that arrived in [from, to), in the
// queue they first arrived in ("" for all), oldest first.
func (s *Store) ContactsArrived(ctx context.Context, queue string, from, to time.Time) ([]Contact, error) {
	if queue == "" {
		return s.contacts(ctx, `SELECT `+contactColumns+` FROM contacts WHERE arrived_at >= ? AND arrived_at < ? ORDER BY arrived_at, id`,
			millis(from), millis(to))
	}
	return s.contacts(ctx, `SELECT `+contactColumns+` FROM contacts WHERE first_queue = ? AND arrived_at >= ? AND arrived_at < ? ORDER BY arrived_at, id`,
		queue, millis(from), millis(to))
}

func (s *Store) contacts(ctx context.Context, q string, args ...any) ([]Contact, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: contacts: %w", err)
	}
	defer rows.Close()
	var out []Contact
	for rows.Next() {
		c, err := scanContact(rows)
		if err != nil {
			return nil, fmt.Errorf("store: contacts: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ContactByConversation returns the contact whose conversation is conv, or
// ErrNotFound.
func (s *Store) ContactByConversation(ctx context.Context, conv string) (Contact, error) {
	return scanContact(s.r.QueryRowContext(ctx,
		`SELECT `+contactColumns+` FROM contacts WHERE conversation_id = ? ORDER BY arrived_at DESC LIMIT 1`, conv))
}
