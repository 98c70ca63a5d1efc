package account

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"switchboard/internal/store"
)

// Single sign-on with OpenID Connect (authorization code flow with PKCE).
// A person who signs in at the identity provider is matched to an account
// by their e-mail address, and an account (role member unless configured,
// no password) is created the first time, unless ExistingOnly. The provider
// takes care of second factors, so TOTP is not asked for after SSO.

// OIDCConfig configures single sign-on.
type OIDCConfig struct {
	Issuer       string // e.g. https://accounts.example.com
	ClientID     string
	ClientSecret string
	// RedirectURL is this server's callback as registered at the provider
	// ["<PublicURL>/api/v1/auth/oidc/callback", from the request without
	// a PublicURL].
	RedirectURL string
	// Scopes to ask for ["openid", "email", "profile"].
	Scopes []string
	// AllowUnverifiedEmail accepts an e-mail claim without email_verified:
	// true. Only for providers that never send the claim (Microsoft Entra
	// ID) and whose addresses the organisation controls; otherwise anyone
	// who can register an address at the provider could claim an account.
	AllowUnverifiedEmail bool
	// HTTPClient talks to the provider [http.DefaultClient].
	HTTPClient *http.Client
	// Name is the provider as the sign-in page names it, "Sign in with
	// <Name>" ["SSO"].
	Name string
	// Role is given to accounts created at their first sign-in [member].
	Role string
	// ExistingOnly signs in only people who already have an account with
	// that e-mail address (created by an admin or from an invitation); no
	// account is created at the first sign-in.
	ExistingOnly bool
}

const (
	oidcCookie = "sb_oidc"
	oidcPath   = "/api/v1/auth/oidc/"
	// oidcFlowTTL is how long a person has to finish signing in at the provider.
	oidcFlowTTL = 10 * time.Minute
	// maxOIDCFlows bounds the flows waiting in memory.
	maxOIDCFlows = 10000
)

type oidcClient struct {
	cfg OIDCConfig

	mu       sync.Mutex
	provider *oidc.Provider // discovered on first use, so a provider that is down at start-up does not stop the server
	flows    map[string]oidcFlow
}

// oidcFlow is a sign-in in progress, by its state parameter. It lives in
// memory: a restart (or another node, when clustered) just means signing in again.
type oidcFlow struct {
	nonce, verifier, redirectURL string
	expires                      time.Time
}

func newOIDCClient(cfg OIDCConfig) (*oidcClient, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" {
		return nil, errors.New("account: single sign-on needs an issuer and a client id")
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{oidc.ScopeOpenID, "email", "profile"}
	}
	if cfg.Role == "" {
		cfg.Role = RoleMember
	}
	if !ValidRole(cfg.Role) {
		return nil, fmt.Errorf("account: single sign-on role %q is not admin, agent or member", cfg.Role)
	}
	if cfg.Name == "" {
		cfg.Name = "SSO"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	return &oidcClient{cfg: cfg, flows: map[string]oidcFlow{}}, nil
}

func (o *oidcClient) context(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, o.cfg.HTTPClient)
}

// discover returns the provider, fetching its discovery document once.
func (o *oidcClient) discover(ctx context.Context) (*oidc.Provider, error) {
	o.mu.Lock()
	p := o.provider
	o.mu.Unlock()
	if p != nil {
		return p, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(o.context(ctx), o.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", o.cfg.Issuer, err)
	}
	o.mu.Lock()
	o.provider = p
	o.mu.Unlock()
	return p, nil
}

func (o *oidcClient) oauth2(p *oidc.Provider, redirectURL string) *oauth2.Config {
	return &oauth2.Config{ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, Endpoint: p.Endpoint(),
		RedirectURL: redirectURL, Scopes: o.cfg.Scopes}
}

func (o *oidcClient) begin(state string, f oidcFlow, now time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.flows) >= maxOIDCFlows {
		for k, v := range o.flows {
			if !now.Before(v.expires) {
				delete(o.flows, k)
			}
		}
		if len(o.flows) >= maxOIDCFlows {
			return false
		}
	}
	o.flows[state] = f
	return true
}

// finish takes the flow for state; each flow can finish once.
func (o *oidcClient) finish(state string, now time.Time) (oidcFlow, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	f, ok := o.flows[state]
	delete(o.flows, state)
	return f, ok && now.Before(f.expires)
}

func (s *Service) oidcRedirectURL(r *http.Request) string {
	if s.oidc.cfg.RedirectURL != "" {
		return s.oidc.cfg.RedirectURL
	}
	return s.baseURL(r) + oidcPath + "callback"
}

// oidcLogin sends the browser to the provider. The state parameter is also
// put in a cookie, so the callback only completes in the browser that
// started the flow (no signing someone into an account of the attacker's).
func (s *Service) oidcLogin(w http.ResponseWriter, r *http.Request) {
	if err := s.limit(r); err != nil {
		s.reply(w, "oidc login", err)
		return
	}
	p, err := s.oidc.discover(r.Context())
	if err != nil {
		s.log.Error("accounts: single sign-on provider unreachable", "err", err)
		writeError(w, http.StatusBadGateway, "unavailable", "the single sign-on provider cannot be reached")
		return
	}
	now := s.now()
	state := newSecret()
	f := oidcFlow{nonce: newSecret(), verifier: oauth2.GenerateVerifier(), redirectURL: s.oidcRedirectURL(r),
		expires: now.Add(oidcFlowTTL)}
	if !s.oidc.begin(state, f, now) {
		s.reply(w, "oidc login", fail(http.StatusTooManyRequests, "rate_limited", "too many sign-ins in progress; try again shortly"))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: state, Path: oidcPath, MaxAge: int(oidcFlowTTL / time.Second),
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
	target := s.oidc.oauth2(p, f.redirectURL).AuthCodeURL(state, oidc.Nonce(f.nonce), oauth2.S256ChallengeOption(f.verifier))
	http.Redirect(w, r, target, http.StatusFound)
}

// oidcClaims are the ID token claims we use. email_verified is a boolean,
// though some providers send the string "true".
type oidcClaims struct {
	Email             string          `json:"email"`
	EmailVerified     json.RawMessage `json:"email_verified"`
	Name              string          `json:"name"`
	PreferredUsername string          `json:"preferred_username"`
}

func (c oidcClaims) verified() bool {
	v := strings.Trim(string(c.EmailVerified), `"`)
	return v == "true"
}

func (s *Service) oidcCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	// The state cookie has done its job whatever happens next.
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: "", Path: oidcPath, MaxAge: -1,
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
	if e := q.Get("error"); e != "" {
		s.log.Info("single sign-on refused by the provider", "error", e, "ip", clientIP(r))
		s.ssoFailed(w, r, fail(http.StatusUnauthorized, "unauthorized", "the sign-in provider said no: "+e))
		return
	}
	state := q.Get("state")
	ck, err := r.Cookie(oidcCookie)
	if state == "" || err != nil || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(state)) != 1 {
		s.ssoFailed(w, r, fail(http.StatusBadRequest, "bad_request", "this sign-in did not start in this browser; start again"))
		return
	}
	flow, ok := s.oidc.finish(state, s.now())
	if !ok {
		s.ssoFailed(w, r, fail(http.StatusBadRequest, "bad_request", "this sign-in expired or was used; start again"))
		return
	}
	claims, err := s.oidcExchange(ctx, flow, q.Get("code"))
	if err != nil {
		s.log.Info("single sign-on failed", "err", err, "ip", clientIP(r))
		s.ssoFailed(w, r, fail(http.StatusUnauthorized, "unauthorized", "single sign-on failed; start again"))
		return
	}
	u, err := s.oidcUser(ctx, claims)
	if ae := (*apiError)(nil); errors.As(err, &ae) {
		s.ssoFailed(w, r, ae)
		return
	} else if err != nil {
		s.reply(w, "oidc callback", err)
		return
	}
	if _, err := s.startSession(ctx, w, r, u); err != nil {
		s.internal(w, "oidc callback", err)
		return
	}
	http.Redirect(w, r, s.baseURL(r)+"/", http.StatusSeeOther)
}

// ssoFailed answers a sign-in that failed. A browser (it asks for HTML) is
// sent back to the sign-in page, which shows why; other clients get the
// JSON error.
func (s *Service) ssoFailed(w http.ResponseWriter, r *http.Request, e *apiError) {
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		http.Redirect(w, r, s.baseURL(r)+"/login?sso_error="+url.QueryEscape(e.msg), http.StatusSeeOther)
		return
	}
	writeError(w, e.status, e.code, e.msg)
}

// oidcExchange trades the code for tokens (proving the PKCE verifier) and
// checks the ID token: signature, issuer, audience, expiry and our nonce.
func (s *Service) oidcExchange(ctx context.Context, flow oidcFlow, code string) (oidcClaims, error) {
	if code == "" {
		return oidcClaims{}, errors.New("no code in the callback")
	}
	p, err := s.oidc.discover(ctx)
	if err != nil {
		return oidcClaims{}, err
	}
	ctx, cancel := context.WithTimeout(s.oidc.context(ctx), 15*time.Second)
	defer cancel()
	tok, err := s.oidc.oauth2(p, flow.redirectURL).Exchange(ctx, code, oauth2.VerifierOption(flow.verifier))
	if err != nil {
		return oidcClaims{}, fmt.Errorf("exchange code: %w", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return oidcClaims{}, errors.New("no id_token in the token response")
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: s.oidc.cfg.ClientID, Now: s.now}).Verify(ctx, raw)
	if err != nil {
		return oidcClaims{}, fmt.Errorf("verify id token: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(flow.nonce)) != 1 {
		return oidcClaims{}, errors.New("id token nonce does not match")
	}
	var c oidcClaims
	if err := idt.Claims(&c); err != nil {
		return oidcClaims{}, fmt.Errorf("id token claims: %w", err)
	}
	return c, nil
}

// oidcUser finds the account for the claims, creating it on first sign-in.
func (s *Service) oidcUser(ctx context.Context, c oidcClaims) (store.User, error) {
	email, err := normalizeEmail(c.Email)
	if err != nil || email == "" {
		return store.User{}, fail(http.StatusForbidden, "forbidden", "the sign-in provider gave no usable e-mail address")
	}
	if !c.verified() && !s.oidc.cfg.AllowUnverifiedEmail {
		return store.User{}, fail(http.StatusForbidden, "forbidden", "the sign-in provider has not verified your e-mail address")
	}
	u, err := s.st.UserByEmail(ctx, email)
	if err == nil {
		if u.Disabled {
			s.log.Info("single sign-on refused: account disabled", "user", u.Username)
			return store.User{}, fail(http.StatusForbidden, "forbidden", "this account is disabled")
		}
		return u, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return store.User{}, err
	}
	if s.oidc.cfg.ExistingOnly {
		s.log.Info("single sign-on refused: no account with that e-mail address", "email", email)
		return store.User{}, fail(http.StatusForbidden, "forbidden", "there is no account for "+email+" here; ask an admin for one")
	}
	// Before setup there is no admin; a first SSO member would make setup
	// impossible (it needs an empty users table).
	if s.SetupCode() != "" {
		return store.User{}, fail(http.StatusConflict, "conflict", "this server is not set up yet; its admin must finish setup first")
	}
	display, _ := normalizeDisplayName(c.Name)
	base := usernameFrom(c.PreferredUsername, email)
	if display == "" {
		display = base
	}
	// A person named like an existing user gets a numbered username.
	for i := 1; i <= 20; i++ {
		name := base
		if i > 1 {
			suffix := fmt.Sprint("-", i)
			name = strings.TrimRight(base[:min(len(base), 32-len(suffix))], ".-_") + suffix
		}
		u = store.User{ID: newID(), Username: name, DisplayName: display, Email: email, Role: s.oidc.cfg.Role, CreatedAt: s.now()}
		err = s.st.CreateUser(ctx, u)
		if err == nil {
			s.log.Info("user created by single sign-on", "user", u.Username)
			return u, nil
		}
		if errors.Is(err, store.ErrEmailTaken) {
			// Created meanwhile by a parallel sign-in: use it.
			return s.oidcUser(ctx, c)
		}
		if !errors.Is(err, store.ErrUsernameTaken) {
			return store.User{}, err
		}
	}
	return store.User{}, fail(http.StatusConflict, "conflict", "no free username for this account; ask an admin")
}

// usernameFrom makes a username out of the provider's preferred username or
// the e-mail's local part: lowercase, other characters as "-", at most 32.
func usernameFrom(preferred, email string) string {
	src := preferred
	if i := strings.IndexByte(src, '@'); i >= 0 {
		src = src[:i]
	}
	if src == "" {
		src, _, _ = strings.Cut(email, "@")
	}
	var b strings.Builder
	for _, r := range strings.ToLower(src) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
		if b.Len() >= 32 {
			break
		}
	}
	name := strings.Trim(b.String(), ".-_")
	if len(name) > 32 {
		name = name[:32]
	}
	if name == "" {
		name = "user"
	}
	return name
}
