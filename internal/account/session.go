package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"switchboard/internal/store"
)

const (
	// CookieName is the session cookie.
	CookieName = "sb_session"
	// CSRFHeader carries the session's CSRF token on requests that change state.
	CSRFHeader = "X-CSRF-Token"
	// TokenPrefix starts every personal API token, so leaked tokens are easy
	// to recognise (and to scan for).
	TokenPrefix = "sbu_"
	// touchEvery bounds how often a session's or token's last use is
	// written: once a minute is precise enough for "last seen", and saves a
	// write per request.
	touchEvery = time.Minute
	// maxUserAgent bounds the stored User-Agent.
	maxUserAgent = 256
)

// newSecret returns 32 random bytes as unpadded base64url: a session cookie
// value or CSRF token.
func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashToken is how bearer secrets are stored and looked up. Lookups are by
// hash, so the timing of the lookup says nothing useful about the secret.
func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// secure reports whether cookies for r get the Secure attribute.
func (s *Service) secure(r *http.Request) bool {
	return s.cfg.Secure || r.TLS != nil || strings.HasPrefix(s.cfg.PublicURL, "https://")
}

func (s *Service) setCookie(w http.ResponseWriter, r *http.Request, value string) {
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: value, Path: "/",
		MaxAge:   int(s.cfg.SessionTTL / time.Second),
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode,
	})
}

func (s *Service) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode,
	})
}

// startSession signs u in on this device: a new session row, and its token
// in the cookie. It first drops the user's expired sessions, so the table
// does not grow without a cleanup job.
func (s *Service) startSession(ctx context.Context, w http.ResponseWriter, r *http.Request, u store.User) (store.Session, error) {
	now := s.now()
	if err := s.st.PruneSessions(ctx, u.ID, now, now.Add(-s.cfg.IdleTimeout)); err != nil {
		return store.Session{}, err
	}
	// Signing in again in a browser replaces its session rather than
	// leaving the old one valid behind a forgotten cookie.
	if ck, err := r.Cookie(CookieName); err == nil && ck.Value != "" {
		if old, _, err := s.st.SessionByTokenHash(ctx, hashToken(ck.Value)); err == nil {
			if err := s.st.DeleteSession(ctx, old.UserID, old.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return store.Session{}, err
			}
		}
	}
	token := newSecret()
	ua := cleanText(r.UserAgent(), maxUserAgent)
	ss := store.Session{ID: newID(), TokenHash: hashToken(token), UserID: u.ID, CSRFToken: newSecret(),
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL), UserAgent: ua, IP: clientIP(r)}
	if err := s.st.CreateSession(ctx, ss); err != nil {
		return store.Session{}, err
	}
	s.setCookie(w, r, token)
	s.log.Info("signed in", "user", u.Username, "session", ss.ID, "ip", ss.IP)
	return ss, nil
}

// cleanText makes header text fit to store and show: valid UTF-8 (PostgreSQL
// rejects anything else), no control characters, at most max bytes.
func cleanText(v string, max int) string {
	v = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(v, ""))
	if len(v) > max {
		v = strings.ToValidUTF8(v[:max], "")
	}
	return v
}

// safeMethod reports methods that must not change state and so need no
// CSRF token.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || m == http.MethodTrace
}

// Authenticate says who made r: the sb_session cookie, or a personal API
// token in "Authorization: Bearer sbu_...". A cookie-authenticated request
// with an unsafe method (POST, PUT, PATCH, DELETE, ...) must carry the
// session's CSRF token in X-CSRF-Token. Errors are ErrUnauthenticated (401),
// ErrCSRF (403) or a store failure (500).
func (s *Service) Authenticate(r *http.Request) (Identity, error) {
	c, _, err := s.authenticate(r)
	if err != nil {
		return Identity{}, err
	}
	return c.Identity, nil
}

// caller is an authenticated request: the Identity, and the rows it was
// read from, which handlers here need.
type caller struct {
	Identity
	user    store.User
	session store.Session // zero for an API token
}

// authenticate is Authenticate that also reports whether the session's
// expiry moved, so Require can renew the cookie's lifetime alongside.
func (s *Service) authenticate(r *http.Request) (*caller, bool, error) {
	ctx := r.Context()
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && strings.HasPrefix(tok, TokenPrefix) {
		c, err := s.authenticateToken(ctx, tok)
		return c, false, err
	}
	ck, err := r.Cookie(CookieName)
	if err != nil || ck.Value == "" {
		return nil, false, ErrUnauthenticated
	}
	ss, u, err := s.st.SessionByTokenHash(ctx, hashToken(ck.Value))
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, ErrUnauthenticated
	}
	if err != nil {
		return nil, false, err
	}
	now := s.now()
	if !now.Before(ss.ExpiresAt) || now.Sub(ss.LastSeenAt) > s.cfg.IdleTimeout {
		if err := s.st.DeleteSession(ctx, u.ID, ss.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, false, err
		}
		return nil, false, ErrUnauthenticated
	}
	if u.Disabled {
		return nil, false, ErrUnauthenticated
	}
	if !safeMethod(r.Method) {
		got := r.Header.Get(CSRFHeader)
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(ss.CSRFToken)) != 1 {
			return nil, false, ErrCSRF
		}
	}
	refreshed := false
	if now.Sub(ss.LastSeenAt) >= touchEvery {
		ss.LastSeenAt, ss.ExpiresAt, ss.IP = now, now.Add(s.cfg.SessionTTL), clientIP(r)
		if err := s.st.TouchSession(ctx, ss.ID, ss.LastSeenAt, ss.ExpiresAt, ss.IP); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, false, err
		}
		refreshed = true
	}
	return &caller{Identity: identity(u, ss.ID, false), user: u, session: ss}, refreshed, nil
}

func identity(u store.User, sessionID string, viaToken bool) Identity {
	return Identity{UserID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Role: u.Role,
		SessionID: sessionID, ViaToken: viaToken}
}

func (s *Service) authenticateToken(ctx context.Context, tok string) (*caller, error) {
	t, u, err := s.st.UserTokenByHash(ctx, hashToken(tok))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, ErrUnauthenticated
	}
	if now := s.now(); now.Sub(t.LastUsedAt) >= touchEvery {
		if err := s.st.TouchUserToken(ctx, t.ID, now); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	return &caller{Identity: identity(u, t.ID, true), user: u}, nil
}

// Require wraps h so that it runs only for an authenticated request,
// answering 401 or 403 (JSON) otherwise. It also renews the cookie's
// lifetime when the session's sliding expiry moved.
func (s *Service) Require(h func(http.ResponseWriter, *http.Request, Identity)) http.HandlerFunc {
	return s.signedIn(func(w http.ResponseWriter, r *http.Request, c *caller) { h(w, r, c.Identity) })
}

// signedIn is Require for this package's handlers, which also get the rows.
func (s *Service) signedIn(h func(http.ResponseWriter, *http.Request, *caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, refreshed, err := s.authenticate(r)
		if err != nil {
			s.authError(w, err)
			return
		}
		if refreshed {
			if ck, err := r.Cookie(CookieName); err == nil {
				s.setCookie(w, r, ck.Value)
			}
		}
		h(w, r, c)
	}
}

func (s *Service) authError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrUnauthenticated):
		writeError(w, http.StatusUnauthorized, "unauthorized", "sign in first")
	case errors.Is(err, ErrCSRF):
		writeError(w, http.StatusForbidden, "forbidden", fmt.Sprintf("missing or wrong %s header", CSRFHeader))
	default:
		s.internal(w, "authenticate", err)
	}
}

// admin is signedIn for admins only.
func (s *Service) admin(h func(http.ResponseWriter, *http.Request, *caller)) http.HandlerFunc {
	return s.signedIn(func(w http.ResponseWriter, r *http.Request, c *caller) {
		if !c.IsAdmin() {
			writeError(w, http.StatusForbidden, "forbidden", "only admins may do this")
			return
		}
		h(w, r, c)
	})
}

// browser is signedIn for account-security actions (password, two-factor,
// sessions, tokens). An API token cannot do them: a leaked bot token must
// not be able to change the password or mint itself successors.
func (s *Service) browser(h func(http.ResponseWriter, *http.Request, *caller)) http.HandlerFunc {
	return s.signedIn(func(w http.ResponseWriter, r *http.Request, c *caller) {
		if c.ViaToken {
			writeError(w, http.StatusForbidden, "forbidden", "this needs a signed-in browser session, not an API token")
			return
		}
		h(w, r, c)
	})
}
