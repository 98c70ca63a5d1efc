package push

import (
	"context"
	"crypto/ecdh"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"switchboard/internal/store"
)

// Limits on subscriptions.
const (
	// MaxSubscriptions per user; subscribing more replaces the oldest. Ten
	// covers a person's browsers and devices; more is likely a leak.
	MaxSubscriptions = 10
	maxEndpoint      = 2048
	maxUserAgent     = 256
	p256dhLen        = 65 // uncompressed P-256 point
	authLen          = 16 // RFC 8291 authentication secret
)

// Subscription is a browser's PushSubscription.toJSON():
//
//	{"endpoint":"https://...","expirationTime":null,"keys":{"p256dh":"...","auth":"..."}}
type Subscription struct {
	Endpoint string `json:"endpoint"`
	Keys     struct {
		P256dh string `json:"p256dh"`
		Auth   string `json:"auth"`
	} `json:"keys"`
}

// ErrInvalidSubscription is wrapped by the errors Subscribe returns for bad
// input; the message says what is wrong.
var ErrInvalidSubscription = errors.New("invalid push subscription")

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidSubscription, fmt.Sprintf(format, a...))
}

// validate checks sub and returns its keys in canonical form (base64url
// without padding). insecure allows http endpoints.
func validate(sub Subscription, insecure bool) (p256dh, auth string, err error) {
	if err := validateEndpoint(sub.Endpoint, insecure); err != nil {
		return "", "", err
	}
	key, err := decodeKey(sub.Keys.P256dh)
	if err != nil {
		return "", "", invalid("keys.p256dh: %v", err)
	}
	if len(key) != p256dhLen {
		return "", "", invalid("keys.p256dh is %d bytes, want %d (an uncompressed P-256 point)", len(key), p256dhLen)
	}
	// Also rejects points off the curve, which would fail every send.
	if _, err := ecdh.P256().NewPublicKey(key); err != nil {
		return "", "", invalid("keys.p256dh is not a P-256 public key")
	}
	secret, err := decodeKey(sub.Keys.Auth)
	if err != nil {
		return "", "", invalid("keys.auth: %v", err)
	}
	if len(secret) != authLen {
		return "", "", invalid("keys.auth is %d bytes, want %d", len(secret), authLen)
	}
	return base64.RawURLEncoding.EncodeToString(key), base64.RawURLEncoding.EncodeToString(secret), nil
}

func validateEndpoint(endpoint string, insecure bool) error {
	if endpoint == "" {
		return invalid("endpoint is missing")
	}
	if len(endpoint) > maxEndpoint {
		return invalid("endpoint is longer than %d characters", maxEndpoint)
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return invalid("endpoint is not a URL")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && insecure:
	default:
		return invalid("endpoint must be an https URL")
	}
	if u.Host == "" || u.Hostname() == "" {
		return invalid("endpoint has no host")
	}
	if u.User != nil {
		return invalid("endpoint must not contain credentials")
	}
	return nil
}

// decodeKey decodes a base64url key as browsers send it (no padding); padded
// base64url is accepted too.
func decodeKey(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("missing")
	}
	if len(s) > 256 {
		return nil, errors.New("too long")
	}
	enc := base64.RawURLEncoding
	if strings.HasSuffix(s, "=") {
		enc = base64.URLEncoding
	}
	b, err := enc.Strict().DecodeString(s)
	if err != nil {
		return nil, errors.New("not base64url")
	}
	return b, nil
}

// Subscribe stores sub for userID after validating it. userAgent (shown to
// the user to tell devices apart) may be empty. Subscribing an endpoint again
// updates it; beyond MaxSubscriptions the user's oldest is replaced. Input
// errors wrap ErrInvalidSubscription.
func (s *Service) Subscribe(ctx context.Context, userID string, sub Subscription, userAgent string) (store.PushSubscription, error) {
	if userID == "" {
		return store.PushSubscription{}, errors.New("push: subscribe: empty user")
	}
	p256dh, auth, err := validate(sub, s.cfg.AllowInsecureEndpoints)
	if err != nil {
		return store.PushSubscription{}, err
	}
	ps := store.PushSubscription{
		Endpoint:  sub.Endpoint,
		UserID:    userID,
		P256dh:    p256dh,
		Auth:      auth,
		UserAgent: clip(userAgent, maxUserAgent),
		CreatedAt: time.UnixMilli(time.Now().UnixMilli()).UTC(), // as stored
	}
	replaced, err := s.st.SavePushSubscription(ctx, ps, MaxSubscriptions)
	if err != nil {
		return store.PushSubscription{}, fmt.Errorf("push: subscribe: %w", err)
	}
	if replaced > 0 {
		s.log.InfoContext(ctx, "push: oldest subscriptions replaced", "user", userID, "replaced", replaced)
	}
	return ps, nil
}

// Unsubscribe removes userID's subscription with endpoint, or returns
// store.ErrNotFound.
func (s *Service) Unsubscribe(ctx context.Context, userID, endpoint string) error {
	if err := s.st.DeletePushSubscription(ctx, userID, endpoint); err != nil {
		return fmt.Errorf("push: unsubscribe: %w", err)
	}
	return nil
}

// UnsubscribeAll removes all of userID's subscriptions: call it when an
// account is deleted or disabled, or the user logs out everywhere, so their
// devices stop showing notifications.
func (s *Service) UnsubscribeAll(ctx context.Context, userID string) error {
	if _, err := s.st.DeleteUserPushSubscriptions(ctx, userID); err != nil {
		return fmt.Errorf("push: unsubscribe all: %w", err)
	}
	return nil
}

// Subscriptions returns userID's subscriptions, newest first.
func (s *Service) Subscriptions(ctx context.Context, userID string) ([]store.PushSubscription, error) {
	subs, err := s.st.PushSubscriptions(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("push: subscriptions: %w", err)
	}
	return subs, nil
}

// clip cuts s to at most n bytes without splitting a character, dropping
// control characters (a user agent ends up in an admin's UI).
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}
