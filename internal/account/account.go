// Package account is people: users and their roles, passwords (argon2id),
// browser sessions with CSRF tokens, two-factor sign-in (TOTP), sign-in
// lockout and rate limits, invitations, first-run setup, personal API tokens
// and, optionally, single sign-on with OpenID Connect.
//
// The rest of the server asks one question: who is making this request?
// Authenticate (or the Require wrapper) answers with an Identity, from the
// sb_session cookie or an "Authorization: Bearer sbu_..." token.
//
// Credentials are kept server-side only as SHA-256 digests (session cookies,
// API tokens, invitation tokens) or argon2id hashes (passwords); none of them
// is ever logged.
package account

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"switchboard/internal/store"
)

// Roles. An admin manages users and invitations; an agent answers customer
// contacts; a member is everyone else. Roles other than admin mean nothing
// to this package: other features give them their meaning.
const (
	RoleAdmin  = "admin"
	RoleAgent  = "agent"
	RoleMember = "member"
)

// ValidRole reports whether r is one of the three roles.
func ValidRole(r string) bool { return r == RoleAdmin || r == RoleAgent || r == RoleMember }

var (
	// ErrUnauthenticated means the request carries no valid session or token
	// (answer 401).
	ErrUnauthenticated = errors.New("account: not signed in")
	// ErrCSRF means a cookie-authenticated request that changes state lacks
	// the session's X-CSRF-Token (answer 403).
	ErrCSRF = errors.New("account: missing or wrong CSRF token")
)

// InvalidError is input that cannot be accepted as it is; its text says why,
// in words for the person who typed it.
type InvalidError struct{ Msg string }

func (e *InvalidError) Error() string { return e.Msg }

func invalid(format string, args ...any) error {
	return &InvalidError{Msg: fmt.Sprintf(format, args...)}
}

// Identity is who made a request.
type Identity struct {
	UserID      string
	Username    string
	DisplayName string
	Role        string
	// SessionID is the browser session's id, or the API token's id when
	// ViaToken is set: either way, one signed-in device.
	SessionID string
	ViaToken  bool
}

// IsAdmin reports whether the identity has the admin role.
func (id Identity) IsAdmin() bool { return id.Role == RoleAdmin }

// Config configures a Service. Zero fields take the defaults in brackets.
type Config struct {
	Store *store.Store
	// Secure marks cookies Secure even on plain-HTTP requests, for a public
	// URL that is https with TLS ended by a proxy. Requests that arrive over
	// TLS always get Secure cookies.
	Secure bool
	// PublicURL is the base of links we hand out (invitations, the SSO
	// callback); "" derives it from each request.
	PublicURL string
	Logger    *slog.Logger
	Now       func() time.Time // [time.Now]
	// Password is the argon2id cost for new hashes [DefaultParams]. Tests use
	// a cheap one; hashes made with other parameters still verify and are
	// replaced at the next sign-in.
	Password Params
	// SessionTTL is how long a session lasts after it was last refreshed
	// (sliding) [30 days]; IdleTimeout ends it earlier when it was not used
	// for that long [14 days].
	SessionTTL  time.Duration
	IdleTimeout time.Duration
	// MaxFailures wrong passwords (or codes) in a row lock an account for
	// LockTime, doubling with each further lockout up to MaxLockTime
	// [5, 15 minutes, 24 hours].
	MaxFailures int
	LockTime    time.Duration
	MaxLockTime time.Duration
	// LoginPerMinute is the rate of sign-in attempts (and other password or
	// code checks) allowed per client address, with as large a burst [10].
	LoginPerMinute int
	// InviteTTL is how long an invitation lasts unless the admin says [7 days].
	InviteTTL time.Duration
	// Issuer names this server in authenticator apps ["Switchboard"].
	Issuer string
	// OIDC enables single sign-on when not nil.
	OIDC *OIDCConfig
	// Guest, when set, finds people who are not accounts (customer
	// contact's website visitors) for GET /api/v1/users/{id}, so that the
	// people talking with them see their names.
	Guest func(ctx context.Context, id string) (store.User, error)
	// Ended, when set, is told when a credential stops being valid, so that
	// connections opened with it (messaging sockets) are closed: credential
	// is a session or API token id, or "" for all of the user's. It is
	// called after the change is stored.
	Ended func(userID, credential string)
}

// ended tells Config.Ended that a user's credential (or all, "") ended.
func (s *Service) ended(userID, credential string) {
	if s.cfg.Ended != nil {
		s.cfg.Ended(userID, credential)
	}
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Password == (Params{}) {
		c.Password = DefaultParams
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = 30 * 24 * time.Hour
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 14 * 24 * time.Hour
	}
	if c.MaxFailures <= 0 {
		c.MaxFailures = 5
	}
	if c.LockTime <= 0 {
		c.LockTime = 15 * time.Minute
	}
	if c.MaxLockTime <= 0 {
		c.MaxLockTime = 24 * time.Hour
	}
	if c.LoginPerMinute <= 0 {
		c.LoginPerMinute = 10
	}
	if c.InviteTTL <= 0 {
		c.InviteTTL = 7 * 24 * time.Hour
	}
	if c.Issuer == "" {
		c.Issuer = "Switchboard"
	}
	c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
}

// Service is the accounts feature. It is safe for concurrent use.
type Service struct {
	cfg    Config
	st     *store.Store
	log    *slog.Logger
	now    func() time.Time
	hasher *hasher
	limits *ipLimiter
	ghosts *ghostLocks
	oidc   *oidcClient // nil without single sign-on

	mu        sync.Mutex
	setupCode string // "" once setup is done or was never needed
}

// New builds the service. When there are no users yet it makes a one-time
// setup code (SetupCode) that lets whoever holds it create the first admin.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("account: no store")
	}
	cfg.defaults()
	if err := cfg.Password.validate(); err != nil {
		return nil, fmt.Errorf("account: password parameters: %w", err)
	}
	s := &Service{cfg: cfg, st: cfg.Store, log: cfg.Logger, now: cfg.Now,
		hasher: newHasher(cfg.Password), limits: newIPLimiter(cfg.LoginPerMinute),
		ghosts: newGhostLocks()}
	if cfg.OIDC != nil {
		c, err := newOIDCClient(*cfg.OIDC)
		if err != nil {
			return nil, err
		}
		s.oidc = c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := s.st.CountUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("account: %w", err)
	}
	if n == 0 {
		// 100 bits: guessing is hopeless even without the rate limit.
		s.setupCode = randomString(13)
	}
	return s, nil
}

// SetupCode returns the one-time code for creating the first admin at
// /setup?code=..., or "" when setup is not needed.
func (s *Service) SetupCode() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setupCode
}

// User returns the user with id (store.ErrNotFound if none). The result
// holds secrets (password hash, TOTP secret): never send it as it is.
func (s *Service) User(ctx context.Context, id string) (store.User, error) {
	return s.st.User(ctx, id)
}

// UserByUsername returns the user with that username, in any case.
func (s *Service) UserByUsername(ctx context.Context, name string) (store.User, error) {
	return s.st.UserByUsername(ctx, strings.ToLower(strings.TrimSpace(name)))
}

// Users lists every user by username, disabled ones included.
func (s *Service) Users(ctx context.Context) ([]store.User, error) {
	return s.st.Users(ctx)
}

// lowerBase32 is RFC 4648 base32 in lowercase without padding: case-free
// enough to read aloud, and safe in URLs, cookies and file names.
var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// randomString returns n random bytes as lowercase base32.
func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return lowerBase32.EncodeToString(b)
}

// newID is a row id: 128 random bits, 26 characters of [a-z2-7].
func newID() string { return randomString(16) }

// pathID is the {id} path value, or "" (which matches no row) when it cannot
// be an id.
func pathID(r *http.Request) string {
	if id := r.PathValue("id"); validID(id) {
		return id
	}
	return ""
}

// validID reports whether id could be one of ours. Ids in paths are checked
// before they reach the database, so junk (such as invalid UTF-8, which
// PostgreSQL refuses) is a 404 like any unknown id.
func validID(id string) bool {
	if len(id) != 26 {
		return false
	}
	for i := range len(id) {
		if c := id[i]; !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

func clientIP(r *http.Request) string {
	// Proxies are not trusted, as in internal/httpd: a forged
	// X-Forwarded-For must not buy a fresh rate limit.
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
