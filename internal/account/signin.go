package account

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"switchboard/internal/store"
)

var errWrongCredentials = fail(http.StatusUnauthorized, "unauthorized", "wrong username or password")

func errLocked(wait time.Duration) error {
	return &apiError{status: http.StatusTooManyRequests, code: "locked",
		msg: "too many failed attempts; this account is locked for now", retryAfter: wait}
}

// lockedUntil returns until when the account is locked, or zero. Unknown
// usernames are locked the same way (see ghostLocks).
func (s *Service) lockedUntil(u store.User, known bool, username string, now time.Time) time.Time {
	if !known {
		return s.ghosts.locked(username, now)
	}
	if u.LockedUntil.After(now) {
		return u.LockedUntil
	}
	return time.Time{}
}

// failed counts a failed password or code check and logs it; the failure
// that locks the account is logged as a warning.
func (s *Service) failed(ctx context.Context, r *http.Request, u store.User, known bool, username, reason string) error {
	now := s.now()
	var until time.Time
	if known {
		var err error
		if until, err = s.st.LoginFailed(ctx, u.ID, now, s.cfg.MaxFailures, s.lockFor); err != nil {
			return err
		}
	} else if UsernamePattern.MatchString(username) {
		// Names that cannot exist are not tracked: no account can be
		// told apart by them, and they could be long.
		until = s.ghosts.fail(username, now, s.cfg.MaxFailures, s.lockFor)
	}
	ip := clientIP(r)
	if !known && !UsernamePattern.MatchString(username) {
		username = "(not a valid username)"
	}
	s.log.Info("sign-in failed", "user", username, "ip", ip, "reason", reason, "known", known)
	if !until.IsZero() {
		s.log.Warn("account locked after failed sign-ins", "user", username, "ip", ip, "until", until.UTC(), "known", known)
	}
	return nil
}

// checkPassword checks password for u (known=false: no such user) under
// the lockout rules, and reports whether the stored hash should be renewed.
func (s *Service) checkPassword(ctx context.Context, r *http.Request, u store.User, known bool, username, password string) (rehash bool, err error) {
	now := s.now()
	if until := s.lockedUntil(u, known, username, now); !until.IsZero() {
		s.log.Info("sign-in refused: account locked", "user", username, "ip", clientIP(r))
		return false, errLocked(until.Sub(now))
	}
	ok, rehash, err := s.hasher.verify(ctx, password, u.PasswordHash)
	if err != nil {
		return false, err
	}
	if !known || !ok {
		if err := s.failed(ctx, r, u, known, username, "wrong password"); err != nil {
			return false, err
		}
		return false, errWrongCredentials
	}
	return rehash, nil
}

// signIn records a successful sign-in: it clears the failure count,
// renews an outdated hash, and starts a session.
func (s *Service) signIn(ctx context.Context, w http.ResponseWriter, r *http.Request, u store.User, password string, rehash bool) (store.Session, error) {
	if err := s.st.LoginSucceeded(ctx, u.ID); err != nil {
		return store.Session{}, err
	}
	if rehash {
		// Not fatal: the old hash still works, and the next sign-in retries.
		if h, err := s.hasher.hash(ctx, password); err != nil {
			s.log.Error("accounts: rehash password", "user", u.Username, "err", err)
		} else if err := s.st.RehashPassword(ctx, u.ID, u.PasswordHash, h); err != nil {
			s.log.Error("accounts: rehash password", "user", u.Username, "err", err)
		}
	}
	return s.startSession(ctx, w, r, u)
}

func (s *Service) login(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
		TOTP     string `json:"totp"`
	}
	if err := s.limit(r); err != nil {
		s.reply(w, "login", err)
		return
	}
	if err := decode(w, r, &req); err != nil {
		s.reply(w, "login", err)
		return
	}
	username := strings.ToLower(strings.TrimSpace(req.Username))
	if username == "" || req.Password == "" {
		s.reply(w, "login", invalid("username and password are required"))
		return
	}
	var u store.User
	known := false
	if UsernamePattern.MatchString(username) {
		var err error
		u, err = s.st.UserByUsername(ctx, username)
		known = err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.internal(w, "login", err)
			return
		}
	}
	rehash, err := s.checkPassword(ctx, r, u, known, username, req.Password)
	if err != nil {
		s.reply(w, "login", err)
		return
	}
	// Only someone who knows the password learns that the account is disabled.
	if u.Disabled {
		s.log.Info("sign-in refused: account disabled", "user", username, "ip", clientIP(r))
		s.reply(w, "login", fail(http.StatusForbidden, "forbidden", "this account is disabled"))
		return
	}
	if u.TOTPSecret != "" {
		if err := s.checkTOTP(ctx, r, u, req.TOTP); err != nil {
			s.reply(w, "login", err)
			return
		}
	}
	ss, err := s.signIn(ctx, w, r, u, req.Password, rehash)
	if err != nil {
		s.internal(w, "login", err)
		return
	}
	writeJSON(w, http.StatusOK, signedInJSON{User: s.userJSON(u, true), CSRFToken: ss.CSRFToken})
}

// checkTOTP is the second step of signing in to an account with two-factor
// sign-in on.
func (s *Service) checkTOTP(ctx context.Context, r *http.Request, u store.User, code string) error {
	if strings.TrimSpace(code) == "" {
		return fail(http.StatusUnauthorized, "totp_required", "enter the code from your authenticator app")
	}
	step, ok := matchTOTP(u.TOTPSecret, code, s.now())
	if !ok {
		if err := s.failed(ctx, r, u, true, u.Username, "wrong code"); err != nil {
			return err
		}
		return fail(http.StatusUnauthorized, "unauthorized", "wrong code")
	}
	fresh, err := s.st.UseTOTPStep(ctx, u.ID, step)
	if err != nil {
		return err
	}
	if !fresh {
		s.log.Info("sign-in failed", "user", u.Username, "ip", clientIP(r), "reason", "code reused")
		return fail(http.StatusUnauthorized, "unauthorized", "that code was used already; wait for the next one")
	}
	return nil
}

func (s *Service) logout(w http.ResponseWriter, r *http.Request, c *caller) {
	if c.ViaToken {
		s.reply(w, "logout", invalid("an API token has no session to end; revoke it with DELETE /api/v1/auth/tokens/{id}"))
		return
	}
	if err := s.st.DeleteSession(r.Context(), c.UserID, c.SessionID); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.internal(w, "logout", err)
		return
	}
	s.clearCookie(w, r)
	s.ended(c.UserID, c.SessionID)
	s.log.Info("signed out", "user", c.Username, "session", c.SessionID)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) sessionInfo(w http.ResponseWriter, r *http.Request, c *caller) {
	writeJSON(w, http.StatusOK, signedInJSON{User: s.userJSON(c.user, true), CSRFToken: c.session.CSRFToken})
}

type sessionJSON struct {
	ID         string `json:"id"`
	Current    bool   `json:"current"`
	CreatedAt  string `json:"createdAt"`
	LastSeenAt string `json:"lastSeenAt"`
	ExpiresAt  string `json:"expiresAt"`
	UserAgent  string `json:"userAgent"`
	IP         string `json:"ip"`
}

func (s *Service) listSessions(w http.ResponseWriter, r *http.Request, c *caller) {
	list, err := s.st.Sessions(r.Context(), c.UserID)
	if err != nil {
		s.internal(w, "list sessions", err)
		return
	}
	now := s.now()
	out := []sessionJSON{}
	for _, ss := range list {
		if !now.Before(ss.ExpiresAt) || now.Sub(ss.LastSeenAt) > s.cfg.IdleTimeout {
			continue // ended, only not yet pruned
		}
		out = append(out, sessionJSON{ID: ss.ID, Current: ss.ID == c.SessionID, CreatedAt: timeJSON(ss.CreatedAt),
			LastSeenAt: timeJSON(ss.LastSeenAt), ExpiresAt: timeJSON(ss.ExpiresAt), UserAgent: ss.UserAgent, IP: ss.IP})
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
}

func (s *Service) deleteSession(w http.ResponseWriter, r *http.Request, c *caller) {
	id := pathID(r)
	err := s.st.DeleteSession(r.Context(), c.UserID, id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "you have no session with that id")
		return
	}
	if err != nil {
		s.internal(w, "delete session", err)
		return
	}
	s.ended(c.UserID, id)
	if id == c.SessionID {
		s.clearCookie(w, r)
	}
	s.log.Info("session revoked", "user", c.Username, "session", id)
	w.WriteHeader(http.StatusNoContent)
}

// First-run setup.

func (s *Service) setupStatus(w http.ResponseWriter, r *http.Request) {
	needed := s.SetupCode() != ""
	if needed {
		// Users may have been added from the command line since start-up.
		n, err := s.st.CountUsers(r.Context())
		if err != nil {
			s.internal(w, "setup status", err)
			return
		}
		needed = n == 0
	}
	status := map[string]any{"needed": needed, "sso": s.oidc != nil}
	if s.oidc != nil {
		status["ssoName"] = s.oidc.cfg.Name
	}
	writeJSON(w, http.StatusOK, status)
}

func (s *Service) setup(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req struct {
		Code        string `json:"code"`
		Username    string `json:"username"`
		DisplayName string `json:"displayName"`
		Email       string `json:"email"`
		Password    string `json:"password"`
	}
	if err := s.limit(r); err != nil {
		s.reply(w, "setup", err)
		return
	}
	if err := decode(w, r, &req); err != nil {
		s.reply(w, "setup", err)
		return
	}
	code := s.SetupCode()
	if code == "" {
		s.reply(w, "setup", fail(http.StatusConflict, "conflict", "setup is done already; sign in instead"))
		return
	}
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(req.Code)), []byte(code)) != 1 {
		s.log.Warn("setup refused: wrong setup code", "ip", clientIP(r))
		s.reply(w, "setup", fail(http.StatusForbidden, "forbidden", "wrong setup code; it is in the server's log"))
		return
	}
	u, err := s.newUser(ctx, NewUser{Username: req.Username, DisplayName: req.DisplayName, Email: req.Email,
		Role: RoleAdmin, Password: req.Password})
	if err != nil {
		s.reply(w, "setup", err)
		return
	}
	// CreateFirstUser checks for existing users before anything else, so
	// ErrExists here means "someone completed setup first".
	if err := s.st.CreateFirstUser(ctx, u); errors.Is(err, store.ErrExists) {
		s.endSetup()
		s.reply(w, "setup", fail(http.StatusConflict, "conflict", "setup is done already; sign in instead"))
		return
	} else if err != nil {
		s.reply(w, "setup", err)
		return
	}
	s.endSetup()
	s.log.Warn("first admin created by setup", "user", u.Username, "ip", clientIP(r))
	ss, err := s.startSession(ctx, w, r, u)
	if err != nil {
		s.internal(w, "setup", err)
		return
	}
	writeJSON(w, http.StatusCreated, signedInJSON{User: s.userJSON(u, true), CSRFToken: ss.CSRFToken})
}

func (s *Service) endSetup() {
	s.mu.Lock()
	s.setupCode = ""
	s.mu.Unlock()
}
