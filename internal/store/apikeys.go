package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// APIKey is a key for minting access tokens. Secret is the HMAC key; it is
// stored in the clear because verifying an HMAC needs the key itself.
type APIKey struct {
	ID        string
	Secret    string
	Name      string
	CreatedAt time.Time
}

// CreateAPIKey stores k; a zero CreatedAt is set to now. It returns ErrExists
// if the id is taken.
func (s *Store) CreateAPIKey(ctx context.Context, k APIKey) error {
	if k.ID == "" || k.Secret == "" {
		return errors.New("store: create api key: empty id or secret")
	}
	res, err := s.w.ExecContext(ctx,
		`INSERT INTO api_keys (id, secret, name, created_at) VALUES (?, ?, ?, ?)
		 ON CONFLICT (id) DO NOTHING`,
		k.ID, k.Secret, k.Name, millis(s.stamp(k.CreatedAt)))
	if err != nil {
		return fmt.Errorf("store: create api key: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: create api key: %w", err)
	} else if n == 0 {
		return fmt.Errorf("store: create api key %q: %w", k.ID, ErrExists)
	}
	return nil
}

// APIKey returns the key with its secret, or ErrNotFound.
func (s *Store) APIKey(ctx context.Context, id string) (APIKey, error) {
	k := APIKey{ID: id}
	var created int64
	err := s.r.QueryRowContext(ctx,
		`SELECT secret, name, created_at FROM api_keys WHERE id = ?`, id).
		Scan(&k.Secret, &k.Name, &created)
	if err != nil {
		return APIKey{}, fmt.Errorf("store: api key %q: %w", id, notFound(err))
	}
	k.CreatedAt = fromMillis(created)
	return k, nil
}

// APIKeys lists keys oldest first. Secrets are left empty: listing is for
// display, and a secret should only leave the store when a token is checked.
func (s *Store) APIKeys(ctx context.Context) ([]APIKey, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT id, name, created_at FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("store: api keys: %w", err)
	}
	defer rows.Close()
	keys := []APIKey{}
	for rows.Next() {
		var k APIKey
		var created int64
		if err := rows.Scan(&k.ID, &k.Name, &created); err != nil {
			return nil, fmt.Errorf("store: api keys: %w", err)
		}
		k.CreatedAt = fromMillis(created)
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: api keys: %w", err)
	}
	return keys, nil
}

// DeleteAPIKey removes a key; tokens signed with it stop verifying. It
// returns ErrNotFound if there is no such key.
func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM api_keys WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("store: delete api key: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: delete api key: %w", err)
	} else if n == 0 {
		return fmt.Errorf("store: delete api key %q: %w", id, ErrNotFound)
	}
	return nil
}
