package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Webhook is an outgoing webhook endpoint configured by an admin. Secret is
// the HMAC key deliveries are signed with; it is stored in the clear because
// signing needs the key itself (the same reason as API key secrets).
type Webhook struct {
	ID           string
	URL          string
	Secret       string
	Events       []string // event types delivered, e.g. "message.created"
	Conversation string   // only events of this conversation; "" for all
	Enabled      bool
	CreatedBy    string
	CreatedAt    time.Time
}

const webhookColumns = `id, url, secret, events, conversation, enabled, created_by, created_at`

// CreateWebhook stores w and returns it as stored; a zero CreatedAt is set to
// now. It returns ErrExists if the id is taken.
func (s *Store) CreateWebhook(ctx context.Context, w Webhook) (Webhook, error) {
	if w.ID == "" || w.URL == "" || w.Secret == "" {
		return Webhook{}, errors.New("store: create webhook: empty id, url or secret")
	}
	if w.Events == nil {
		w.Events = []string{}
	}
	events, err := json.Marshal(w.Events)
	if err != nil {
		return Webhook{}, fmt.Errorf("store: create webhook: %w", err)
	}
	w.CreatedAt = s.stamp(w.CreatedAt)
	res, err := s.w.ExecContext(ctx,
		`INSERT INTO webhooks (`+webhookColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		 ON CONFLICT (id) DO NOTHING`,
		w.ID, w.URL, w.Secret, string(events), w.Conversation, webhookFlag(w.Enabled), w.CreatedBy, millis(w.CreatedAt))
	if err != nil {
		return Webhook{}, fmt.Errorf("store: create webhook: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return Webhook{}, fmt.Errorf("store: create webhook: %w", err)
	} else if n == 0 {
		return Webhook{}, fmt.Errorf("store: create webhook %q: %w", w.ID, ErrExists)
	}
	return w, nil
}

// Webhook returns the webhook with its secret, or ErrNotFound.
func (s *Store) Webhook(ctx context.Context, id string) (Webhook, error) {
	w, err := scanWebhook(s.r.QueryRowContext(ctx,
		`SELECT `+webhookColumns+` FROM webhooks WHERE id = ?`, id))
	if err != nil {
		return Webhook{}, fmt.Errorf("store: webhook %q: %w", id, notFound(err))
	}
	return w, nil
}

// Webhooks lists all webhooks, oldest first, with their secrets: the
// dispatcher signs with them. Callers showing the list must leave them out.
func (s *Store) Webhooks(ctx context.Context) ([]Webhook, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT `+webhookColumns+` FROM webhooks ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("store: webhooks: %w", err)
	}
	defer rows.Close()
	hooks := []Webhook{}
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, fmt.Errorf("store: webhooks: %w", err)
		}
		hooks = append(hooks, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: webhooks: %w", err)
	}
	return hooks, nil
}

// SetWebhookEnabled turns deliveries to a webhook on or off. It returns
// ErrNotFound if there is no such webhook.
func (s *Store) SetWebhookEnabled(ctx context.Context, id string, enabled bool) error {
	res, err := s.w.ExecContext(ctx, `UPDATE webhooks SET enabled = ? WHERE id = ?`, webhookFlag(enabled), id)
	if err != nil {
		return fmt.Errorf("store: set webhook enabled: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: set webhook enabled: %w", err)
	} else if n == 0 {
		return fmt.Errorf("store: set webhook enabled %q: %w", id, ErrNotFound)
	}
	return nil
}

// DeleteWebhook removes a webhook. It returns ErrNotFound if there is none.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM webhooks WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("store: delete webhook: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: delete webhook: %w", err)
	} else if n == 0 {
		return fmt.Errorf("store: delete webhook %q: %w", id, ErrNotFound)
	}
	return nil
}

func scanWebhook(row interface{ Scan(...any) error }) (Webhook, error) {
	var w Webhook
	var events string
	var enabled, created int64
	if err := row.Scan(&w.ID, &w.URL, &w.Secret, &events, &w.Conversation, &enabled, &w.CreatedBy, &created); err != nil {
		return Webhook{}, err
	}
	if err := json.Unmarshal([]byte(events), &w.Events); err != nil {
		return Webhook{}, fmt.Errorf("events of %q: %w", w.ID, err)
	}
	if w.Events == nil {
		w.Events = []string{}
	}
	w.Enabled = enabled != 0
	w.CreatedAt = fromMillis(created)
	return w, nil
}

// webhookFlag stores booleans as 0/1 INTEGER in both databases, so one schema
// and one scan serve both.
func webhookFlag(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
