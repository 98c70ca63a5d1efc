// Package auth issues and verifies Switchboard access tokens.
//
// An access token is a JWT signed with HMAC (HS256) using the secret of an API
// key; the key id travels in the "kid" header so the server can find the
// secret. Claims are flat: sub, name, iat, nbf, exp, and the grants room,
// join, publish, subscribe, moderate, create and admin.
//
// The HMAC key is the API key secret string exactly as issued (its bytes, not
// its base64 decoding), so any JWT library can mint tokens from it.
package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// ClockSkew is how far apart issuer and server clocks may be.
	ClockSkew = 30 * time.Second
	// MinSecretLen rejects secrets too short for HMAC-SHA256 to be safe.
	MinSecretLen = 32
	// maxTokenLen bounds the work done on untrusted input before any crypto.
	maxTokenLen = 8 << 10
)

var (
	// ErrTokenExpired means a correctly signed token is past its exp.
	ErrTokenExpired = errors.New("auth: token expired")
	// ErrTokenInvalid covers everything else: malformed, bad signature,
	// unknown key, disallowed algorithm, missing exp, not yet valid.
	ErrTokenInvalid = errors.New("auth: token invalid")
)

// keyIDAlphabet is RFC 4648 base32; 256 is a multiple of 32, so masking a
// random byte gives uniform characters.
const keyIDAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// NewAPIKey returns a fresh key id ("SB" + 12 base32 characters) and secret
// (32 random bytes, base64url without padding).
func NewAPIKey() (id, secret string) {
	b := make([]byte, 14)
	rand.Read(b[2:]) // never fails since Go 1.24
	for i := 2; i < len(b); i++ {
		b[i] = keyIDAlphabet[b[i]&31]
	}
	b[0], b[1] = 'S', 'B'
	id = string(b)
	var s [32]byte
	rand.Read(s[:])
	return id, base64.RawURLEncoding.EncodeToString(s[:])
}

// Claims is what a verified token says about its bearer.
type Claims struct {
	Identity string // sub
	Name     string // display name

	Room      string // room the token is limited to; "" means any room
	Join      bool
	Publish   bool
	Subscribe bool
	Moderate  bool // host powers in the room
	Create    bool // may create rooms
	Admin     bool // REST management: list and close rooms

	IssuedAt  time.Time
	NotBefore time.Time
	ExpiresAt time.Time
}

// Allows reports whether the token may be used for room.
func (c *Claims) Allows(room string) bool { return c.Room == "" || c.Room == room }

// CanJoin reports whether the bearer may join room; joining needs an identity.
func (c *Claims) CanJoin(room string) bool {
	return c.Identity != "" && c.Join && c.Allows(room)
}

// CanModerate reports whether the bearer has host powers in room.
func (c *Claims) CanModerate(room string) bool { return c.Moderate && c.Allows(room) }

// CanCreate reports whether the bearer may create room.
func (c *Claims) CanCreate(room string) bool { return c.Create && c.Allows(room) }

// wireClaims is the JSON form of Claims.
type wireClaims struct {
	jwt.RegisteredClaims
	Name      string `json:"name,omitempty"`
	Room      string `json:"room,omitempty"`
	Join      bool   `json:"join,omitempty"`
	Publish   bool   `json:"publish,omitempty"`
	Subscribe bool   `json:"subscribe,omitempty"`
	Moderate  bool   `json:"moderate,omitempty"`
	Create    bool   `json:"create,omitempty"`
	Admin     bool   `json:"admin,omitempty"`
}

func numericDate(t time.Time) *jwt.NumericDate {
	if t.IsZero() {
		return nil
	}
	return jwt.NewNumericDate(t)
}

func timeOf(d *jwt.NumericDate) time.Time {
	if d == nil {
		return time.Time{}
	}
	return d.Time
}

// Mint signs c with HS256 under the API key keyID. c.ExpiresAt is required;
// a zero IssuedAt is set to now.
func Mint(keyID string, secret []byte, c Claims) (string, error) {
	if keyID == "" {
		return "", errors.New("auth: mint: empty key id")
	}
	if len(secret) < MinSecretLen {
		return "", fmt.Errorf("auth: mint: secret shorter than %d bytes", MinSecretLen)
	}
	if c.ExpiresAt.IsZero() {
		return "", errors.New("auth: mint: ExpiresAt is required")
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = time.Now()
	}
	w := wireClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   c.Identity,
			IssuedAt:  numericDate(c.IssuedAt),
			NotBefore: numericDate(c.NotBefore),
			ExpiresAt: numericDate(c.ExpiresAt),
		},
		Name: c.Name, Room: c.Room,
		Join: c.Join, Publish: c.Publish, Subscribe: c.Subscribe,
		Moderate: c.Moderate, Create: c.Create, Admin: c.Admin,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, w)
	t.Header["kid"] = keyID
	s, err := t.SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	return s, nil
}

// Verify checks token at time now and returns its claims. lookup maps a key
// id to its secret; a lookup error makes the token invalid (the lookup error
// is wrapped too, so callers can tell a store outage from an unknown key).
// Errors wrap ErrTokenExpired or ErrTokenInvalid.
func Verify(token string, lookup func(keyID string) ([]byte, error), now time.Time) (*Claims, error) {
	if len(token) > maxTokenLen {
		return nil, fmt.Errorf("%w: token too long", ErrTokenInvalid)
	}
	var lookupErr error
	keyFunc := func(t *jwt.Token) (any, error) {
		// WithValidMethods already limits alg; this guards the key type too.
		if _, ok := t.Method.(*jwt.SigningMethodHMAC); !ok {
			return nil, fmt.Errorf("unexpected alg %v", t.Header["alg"])
		}
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("missing kid")
		}
		secret, err := lookup(kid)
		if err != nil {
			lookupErr = fmt.Errorf("key %q: %w", kid, err)
			return nil, lookupErr
		}
		if len(secret) < MinSecretLen {
			return nil, fmt.Errorf("key %q: secret too short", kid)
		}
		return secret, nil
	}
	var w wireClaims
	_, err := jwt.ParseWithClaims(token, &w, keyFunc,
		jwt.WithValidMethods([]string{"HS256", "HS384", "HS512"}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(ClockSkew),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	switch {
	case err == nil:
	case lookupErr != nil:
		return nil, fmt.Errorf("%w: %w", ErrTokenInvalid, lookupErr)
	case errors.Is(err, jwt.ErrTokenExpired):
		// jwt/v5 checks the signature before claims, so this is a genuine token.
		return nil, fmt.Errorf("%w: %v", ErrTokenExpired, err)
	default:
		return nil, fmt.Errorf("%w: %v", ErrTokenInvalid, err)
	}
	return &Claims{
		Identity: w.Subject, Name: w.Name, Room: w.Room,
		Join: w.Join, Publish: w.Publish, Subscribe: w.Subscribe,
		Moderate: w.Moderate, Create: w.Create, Admin: w.Admin,
		IssuedAt:  timeOf(w.IssuedAt),
		NotBefore: timeOf(w.NotBefore),
		ExpiresAt: timeOf(w.ExpiresAt),
	}, nil
}
