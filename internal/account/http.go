package account

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"switchboard/internal/store"
)

// Routes registers every accounts endpoint on mux (see docs/api.md,
// "Accounts and sessions").
func (s *Service) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/auth/setup", s.setupStatus)
	mux.HandleFunc("POST /api/v1/auth/setup", s.setup)
	mux.HandleFunc("POST /api/v1/auth/login", s.login)
	mux.HandleFunc("POST /api/v1/auth/logout", s.signedIn(s.logout))
	mux.HandleFunc("GET /api/v1/auth/session", s.signedIn(s.sessionInfo))
	mux.HandleFunc("GET /api/v1/auth/sessions", s.browser(s.listSessions))
	mux.HandleFunc("DELETE /api/v1/auth/sessions/{id}", s.browser(s.deleteSession))
	mux.HandleFunc("POST /api/v1/auth/totp/setup", s.browser(s.totpSetup))
	mux.HandleFunc("POST /api/v1/auth/totp/enable", s.browser(s.totpEnable))
	mux.HandleFunc("POST /api/v1/auth/totp/disable", s.browser(s.totpDisable))
	mux.HandleFunc("POST /api/v1/auth/accept-invite", s.acceptInvite)
	mux.HandleFunc("POST /api/v1/auth/tokens", s.browser(s.createToken))
	mux.HandleFunc("GET /api/v1/auth/tokens", s.browser(s.listTokens))
	mux.HandleFunc("DELETE /api/v1/auth/tokens/{id}", s.browser(s.deleteToken))
	mux.HandleFunc("POST /api/v1/invites", s.admin(s.createInvite))
	mux.HandleFunc("GET /api/v1/invites", s.admin(s.listInvites))
	mux.HandleFunc("DELETE /api/v1/invites/{id}", s.admin(s.deleteInvite))
	mux.HandleFunc("GET /api/v1/users", s.signedIn(s.listUsers))
	mux.HandleFunc("GET /api/v1/users/{id}", s.signedIn(s.getUser))
	mux.HandleFunc("PATCH /api/v1/users/{id}", s.signedIn(s.patchUser))
	mux.HandleFunc("POST /api/v1/users/me/password", s.browser(s.changePassword))
	if s.oidc != nil {
		mux.HandleFunc("GET /api/v1/auth/oidc/login", s.oidcLogin)
		mux.HandleFunc("GET /api/v1/auth/oidc/callback", s.oidcCallback)
	}
}

// apiError is a failure with its HTTP answer.
type apiError struct {
	status     int
	code, msg  string
	retryAfter time.Duration // > 0 adds Retry-After
}

func (e *apiError) Error() string { return e.msg }

func fail(status int, code, msg string) *apiError {
	return &apiError{status: status, code: code, msg: msg}
}

// reply sends err: its own answer for an *apiError, 400 for an
// *InvalidError, 409 for a clash in the store, else 500 (logged).
func (s *Service) reply(w http.ResponseWriter, what string, err error) {
	var ae *apiError
	var ie *InvalidError
	switch {
	case errors.As(err, &ae):
		if ae.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ae.retryAfter.Seconds()))))
		}
		writeError(w, ae.status, ae.code, ae.msg)
	case errors.As(err, &ie):
		writeError(w, http.StatusBadRequest, "bad_request", ie.Msg)
	case errors.Is(err, store.ErrUsernameTaken):
		writeError(w, http.StatusConflict, "conflict", "that username is taken")
	case errors.Is(err, store.ErrEmailTaken):
		writeError(w, http.StatusConflict, "conflict", "another account has that e-mail address")
	case errors.Is(err, store.ErrLastAdmin):
		writeError(w, http.StatusConflict, "conflict", "there must be at least one enabled admin")
	default:
		s.internal(w, what, err)
	}
}

func (s *Service) internal(w http.ResponseWriter, what string, err error) {
	s.log.Error("accounts: "+what, "err", err)
	writeError(w, http.StatusInternalServerError, "internal", "something went wrong on the server")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	// Answers here carry personal data and one-time secrets: never cache.
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	// The one error shape of the whole API (docs/api.md): {"code": ..., "message": ...}.
	writeJSON(w, status, map[string]string{"code": code, "message": message})
}

// maxBody bounds request bodies; the largest legitimate one is a 256
// character password plus a little.
const maxBody = 16 << 10

// decode reads a small JSON body strictly into v. A body must be sent as
// application/json: a cross-site HTML form cannot send that type, which
// stops sign-in CSRF (a page signing the victim into the attacker's account)
// on the endpoints that need no session. An empty body leaves v as it is.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return fail(http.StatusRequestEntityTooLarge, "bad_request", "the request body is over 16 KiB")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return fail(http.StatusUnsupportedMediaType, "bad_request", "send the body as JSON with Content-Type: application/json")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fail(http.StatusBadRequest, "bad_request", "invalid JSON body: "+err.Error())
	}
	if dec.More() {
		return fail(http.StatusBadRequest, "bad_request", "invalid JSON body: more than one value")
	}
	return nil
}

// limit takes a sign-in attempt token for the client's address.
func (s *Service) limit(r *http.Request) error {
	if ok, wait := s.limits.allow(clientIP(r), s.now()); !ok {
		return &apiError{status: http.StatusTooManyRequests, code: "rate_limited",
			msg: "too many attempts from your address; try again shortly", retryAfter: wait}
	}
	return nil
}

// baseURL is where people reach this server.
func (s *Service) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return (&url.URL{Scheme: scheme, Host: r.Host}).String()
}

func timeJSON(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// userJSON is a user as others see it. Email, creation time and the
// security state are added for the user themself and for admins; hashes and
// secrets are never sent.
type userJSON struct {
	ID          string `json:"id"`
	Username    string `json:"username"`
	DisplayName string `json:"displayName"`
	Role        string `json:"role"`
	Disabled    bool   `json:"disabled"`
	Email       string `json:"email,omitempty"`
	CreatedAt   string `json:"createdAt,omitempty"`
	TOTPEnabled *bool  `json:"totpEnabled,omitempty"`
	LockedUntil string `json:"lockedUntil,omitempty"`
	LastActive  string `json:"lastActiveAt,omitempty"` // admins' list only
}

func (s *Service) userJSON(u store.User, full bool) userJSON {
	j := userJSON{ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Role: u.Role, Disabled: u.Disabled}
	if full {
		totpOn := u.TOTPSecret != ""
		j.Email, j.CreatedAt, j.TOTPEnabled = u.Email, timeJSON(u.CreatedAt), &totpOn
		if u.LockedUntil.After(s.now()) {
			j.LockedUntil = timeJSON(u.LockedUntil)
		}
	}
	return j
}

// signedInJSON answers a request that started a session (sign-in, setup,
// accepting an invitation) or asks about the current one.
type signedInJSON struct {
	User      userJSON `json:"user"`
	CSRFToken string   `json:"csrfToken"`
}
