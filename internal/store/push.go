package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// VAPIDKeys is the server's Web Push key pair: a P-256 key, base64url without
// padding (the public key as a 65-byte uncompressed point, the private key as
// the 32-byte scalar). Browsers bind each subscription to the public key, so
// the pair must not change once subscriptions exist.
type VAPIDKeys struct {
	PublicKey  string
	PrivateKey string
	CreatedAt  time.Time
}

// EnsureVAPIDKeys returns the stored key pair, storing candidate first if
// there is none. Every caller gets the same pair back, even when several
// servers start at once on one PostgreSQL database, so generate a candidate,
// call this, and use what it returns.
func (s *Store) EnsureVAPIDKeys(ctx context.Context, candidate VAPIDKeys) (VAPIDKeys, error) {
	if candidate.PublicKey == "" || candidate.PrivateKey == "" {
		return VAPIDKeys{}, errors.New("store: vapid keys: empty key")
	}
	if _, err := s.w.ExecContext(ctx,
		`INSERT INTO push_vapid (id, public_key, private_key, created_at) VALUES (1, ?, ?, ?)
		 ON CONFLICT (id) DO NOTHING`,
		candidate.PublicKey, candidate.PrivateKey, millis(s.stamp(candidate.CreatedAt))); err != nil {
		return VAPIDKeys{}, fmt.Errorf("store: vapid keys: %w", err)
	}
	// Read through the writer: on SQLite a reader could in principle lag the
	// write just made.
	var k VAPIDKeys
	var created int64
	if err := s.w.QueryRowContext(ctx,
		`SELECT public_key, private_key, created_at FROM push_vapid WHERE id = 1`).
		Scan(&k.PublicKey, &k.PrivateKey, &created); err != nil {
		return VAPIDKeys{}, fmt.Errorf("store: vapid keys: %w", notFound(err))
	}
	k.CreatedAt = fromMillis(created)
	return k, nil
}

// PushSubscription is one browser's Web Push subscription: where to send
// (Endpoint, a capability URL of the browser vendor's push service) and the
// keys to encrypt for (P256dh, Auth; base64url as the browser gives them).
type PushSubscription struct {
	Endpoint  string
	UserID    string
	P256dh    string
	Auth      string
	UserAgent string
	CreatedAt time.Time // when first subscribed or last renewed
}

// SavePushSubscription stores sub for sub.UserID, replacing any subscription
// with the same endpoint (whoever it belonged to: an endpoint is one browser
// profile, and it now notifies whoever subscribed last). A zero CreatedAt is
// set to now. The user then keeps at most keep subscriptions: the oldest others
// are deleted, and how many is returned.
func (s *Store) SavePushSubscription(ctx context.Context, sub PushSubscription, keep int) (replaced int, err error) {
	if sub.Endpoint == "" || sub.UserID == "" || sub.P256dh == "" || sub.Auth == "" {
		return 0, errors.New("store: save push subscription: empty endpoint, user or key")
	}
	if keep < 1 {
		return 0, errors.New("store: save push subscription: keep < 1")
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store: save push subscription: %w", err)
	}
	defer tx.Rollback()
	// Two devices of one user subscribing at once must not both keep the limit.
	if err := s.lockKey(ctx, tx, "push:"+sub.UserID); err != nil {
		return 0, fmt.Errorf("store: save push subscription: %w", err)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO push_subscriptions (endpoint, user_id, p256dh, auth, user_agent, created_at)
		 VALUES (?, ?, ?, ?, ?, ?)
		 ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id, p256dh = excluded.p256dh,
		   auth = excluded.auth, user_agent = excluded.user_agent, created_at = excluded.created_at`,
		sub.Endpoint, sub.UserID, sub.P256dh, sub.Auth, sub.UserAgent, millis(s.stamp(sub.CreatedAt))); err != nil {
		return 0, fmt.Errorf("store: save push subscription: %w", err)
	}
	// The new subscription is never the one evicted, even with equal times.
	res, err := tx.ExecContext(ctx,
		`DELETE FROM push_subscriptions WHERE user_id = ? AND endpoint <> ? AND endpoint NOT IN (
		   SELECT endpoint FROM push_subscriptions WHERE user_id = ? AND endpoint <> ?
		   ORDER BY created_at DESC, endpoint DESC LIMIT ?)`,
		sub.UserID, sub.Endpoint, sub.UserID, sub.Endpoint, keep-1)
	if err != nil {
		return 0, fmt.Errorf("store: save push subscription: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: save push subscription: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: save push subscription: %w", err)
	}
	return int(n), nil
}

// PushSubscriptions returns userID's subscriptions, newest first.
func (s *Store) PushSubscriptions(ctx context.Context, userID string) ([]PushSubscription, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT endpoint, p256dh, auth, user_agent, created_at FROM push_subscriptions
		 WHERE user_id = ? ORDER BY created_at DESC, endpoint DESC`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: push subscriptions: %w", err)
	}
	defer rows.Close()
	subs := []PushSubscription{}
	for rows.Next() {
		sub := PushSubscription{UserID: userID}
		var created int64
		if err := rows.Scan(&sub.Endpoint, &sub.P256dh, &sub.Auth, &sub.UserAgent, &created); err != nil {
			return nil, fmt.Errorf("store: push subscriptions: %w", err)
		}
		sub.CreatedAt = fromMillis(created)
		subs = append(subs, sub)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: push subscriptions: %w", err)
	}
	return subs, nil
}

// DeletePushSubscription removes userID's subscription with this endpoint
// (the user unsubscribed). It returns ErrNotFound if the user has none: one
// user cannot remove another's subscription.
func (s *Store) DeletePushSubscription(ctx context.Context, userID, endpoint string) error {
	res, err := s.w.ExecContext(ctx,
		`DELETE FROM push_subscriptions WHERE user_id = ? AND endpoint = ?`, userID, endpoint)
	if err != nil {
		return fmt.Errorf("store: delete push subscription: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: delete push subscription: %w", err)
	} else if n == 0 {
		return fmt.Errorf("store: delete push subscription: %w", ErrNotFound)
	}
	return nil
}

// DeleteUserPushSubscriptions removes all of userID's subscriptions (the
// account is deleted, or the user logged out everywhere) and returns how many.
func (s *Store) DeleteUserPushSubscriptions(ctx context.Context, userID string) (int, error) {
	res, err := s.w.ExecContext(ctx, `DELETE FROM push_subscriptions WHERE user_id = ?`, userID)
	if err != nil {
		return 0, fmt.Errorf("store: delete user push subscriptions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: delete user push subscriptions: %w", err)
	}
	return int(n), nil
}

// RemovePushEndpoint removes the subscription with this endpoint, whoever it
// belongs to, but only if its keys are still p256dh and auth: the push service
// said the endpoint is gone, and a concurrent renewal with new keys is a new
// subscription. It returns ErrNotFound if nothing matched.
func (s *Store) RemovePushEndpoint(ctx context.Context, endpoint, p256dh, auth string) error {
	res, err := s.w.ExecContext(ctx,
		`DELETE FROM push_subscriptions WHERE endpoint = ? AND p256dh = ? AND auth = ?`,
		endpoint, p256dh, auth)
	if err != nil {
		return fmt.Errorf("store: remove push endpoint: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: remove push endpoint: %w", err)
	} else if n == 0 {
		return fmt.Errorf("store: remove push endpoint: %w", ErrNotFound)
	}
	return nil
}
