package account

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"switchboard/internal/account/oidctest"
)

// sso runs the browser side of a single sign-on and returns the callback's answer.
func (c *client) sso(t *testing.T) result {
	t.Helper()
	start := c.send("GET", "/api/v1/auth/oidc/login", nil, nil)
	if start.status != http.StatusFound {
		t.Fatalf("oidc login: %d %s", start.status, start.raw)
	}
	resp, err := c.hc.Get(start.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("issuer answered %d", resp.StatusCode)
	}
	cb, _ := url.Parse(resp.Header.Get("Location"))
	return c.send("GET", cb.RequestURI(), nil, nil)
}

func TestOIDC(t *testing.T) {
	var issuer *oidctest.Provider
	e := newEnv(t, func(c *Config) {
		issuer = oidctest.NewProvider(t, oidctest.WithClock(c.Now))
		c.OIDC = &OIDCConfig{Issuer: issuer.URL, ClientID: issuer.ClientID, ClientSecret: issuer.ClientSecret}
	})
	if r := e.client().do("GET", "/api/v1/auth/setup", nil); r.body["sso"] != true {
		t.Fatalf("setup status %s", r.raw)
	}

	// Before first-run setup, SSO creates nobody: setup needs an empty table.
	issuer.SignInAs(map[string]any{"email": "Wanda@Example.com", "email_verified": true, "name": "Wanda W.", "preferred_username": "wanda"})
	wantStatus(t, "before setup", e.client().sso(t), http.StatusConflict, "conflict")
	wantStatus(t, "setup", e.client().send("POST", "/api/v1/auth/setup", map[string]string{"code": e.svc.SetupCode(),
		"username": "root", "password": "root-password"}, nil), http.StatusCreated, "")

	// First sign-in creates a member.
	c := e.client()
	r := c.sso(t)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != e.srv.URL+"/" {
		t.Fatalf("callback: %d %s %v", r.status, r.raw, r.header)
	}
	s := c.do("GET", "/api/v1/auth/session", nil)
	wantStatus(t, "session after SSO", s, http.StatusOK, "")
	user := s.body["user"].(map[string]any)
	if user["username"] != "wanda" || user["displayName"] != "Wanda W." || user["email"] != "wanda@example.com" || user["role"] != RoleMember {
		t.Fatalf("SSO user %s", s.raw)
	}
	u, _ := e.st.UserByUsername(t.Context(), "wanda")
	if u.PasswordHash != "" {
		t.Fatal("SSO user got a password")
	}
	// The next sign-in finds the same account.
	c2 := e.client()
	c2.sso(t)
	if s := c2.do("GET", "/api/v1/auth/session", nil); s.body["user"].(map[string]any)["id"] != u.ID {
		t.Fatalf("second SSO %s", s.raw)
	}

	// An existing account is matched by e-mail and keeps its role.
	admin, err := e.svc.CreateUser(t.Context(), NewUser{Username: "xena", Email: "xena@example.com", Role: RoleAdmin, Password: "xena-password"})
	if err != nil {
		t.Fatal(err)
	}
	issuer.SignInAs(map[string]any{"email": "xena@example.com", "email_verified": "true", "preferred_username": "x"})
	c3 := e.client()
	c3.sso(t)
	if s := c3.do("GET", "/api/v1/auth/session", nil); s.body["user"].(map[string]any)["id"] != admin.ID || s.body["user"].(map[string]any)["role"] != RoleAdmin {
		t.Fatalf("matched %s", s.raw)
	}

	// A taken username gets a number.
	issuer.SignInAs(map[string]any{"email": "wanda@elsewhere.org", "email_verified": true, "preferred_username": "wanda@elsewhere.org"})
	c4 := e.client()
	c4.sso(t)
	if s := c4.do("GET", "/api/v1/auth/session", nil); s.body["user"].(map[string]any)["username"] != "wanda-2" {
		t.Fatalf("numbered %s", s.raw)
	}

	// Refusals.
	issuer.SignInAs(map[string]any{"email": "yan@example.com", "email_verified": false})
	wantStatus(t, "unverified email", e.client().sso(t), http.StatusForbidden, "forbidden")
	if _, err := e.st.UserByEmail(t.Context(), "yan@example.com"); err == nil {
		t.Fatal("account made for an unverified address")
	}
	issuer.SignInAs(map[string]any{"email_verified": true})
	wantStatus(t, "no email", e.client().sso(t), http.StatusForbidden, "forbidden")

	if _, err := e.svc.SetDisabled(t.Context(), u.ID, true); err != nil {
		t.Fatal(err)
	}
	issuer.SignInAs(map[string]any{"email": "wanda@example.com", "email_verified": true})
	wantStatus(t, "disabled", e.client().sso(t), http.StatusForbidden, "forbidden")

	issuer.SignInAs(map[string]any{"email": "zoe@example.com", "email_verified": true, "nonce": "something else"})
	wantStatus(t, "wrong nonce", e.client().sso(t), http.StatusUnauthorized, "unauthorized")
	issuer.SignInAs(map[string]any{"email": "zoe@example.com", "email_verified": true})

	// The callback only completes in the browser that started, and once.
	victim := e.client()
	start := victim.send("GET", "/api/v1/auth/oidc/login", nil, nil)
	resp, err := victim.hc.Get(start.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cb, _ := url.Parse(resp.Header.Get("Location"))
	wantStatus(t, "other browser", e.client().send("GET", cb.RequestURI(), nil, nil), http.StatusBadRequest, "bad_request")
	if r := victim.send("GET", cb.RequestURI(), nil, nil); r.status != http.StatusSeeOther {
		t.Fatalf("own browser: %d %s", r.status, r.raw)
	}
	replay := e.client()
	replay.hc.Jar.SetCookies(&url.URL{Scheme: "http", Host: strings.TrimPrefix(e.srv.URL, "http://"), Path: oidcPath},
		[]*http.Cookie{{Name: oidcCookie, Value: cb.Query().Get("state"), Path: oidcPath}})
	wantStatus(t, "replayed callback", replay.send("GET", cb.RequestURI(), nil, nil), http.StatusBadRequest, "bad_request")

	// Flows expire.
	start = victim.send("GET", "/api/v1/auth/oidc/login", nil, nil)
	resp, _ = victim.hc.Get(start.header.Get("Location"))
	resp.Body.Close()
	e.clock.Add(oidcFlowTTL + time.Second)
	cb, _ = url.Parse(resp.Header.Get("Location"))
	wantStatus(t, "expired flow", victim.send("GET", cb.RequestURI(), nil, nil), http.StatusBadRequest, "bad_request")

	wantStatus(t, "provider error", e.client().send("GET", "/api/v1/auth/oidc/callback?error=access_denied", nil, nil), http.StatusUnauthorized, "unauthorized")
	// A browser is sent back to the sign-in page, which says why.
	r = e.client().send("GET", "/api/v1/auth/oidc/callback?error=access_denied", nil, map[string]string{"Accept": "text/html,application/xhtml+xml"})
	if loc := r.header.Get("Location"); r.status != http.StatusSeeOther || !strings.Contains(loc, "/login?sso_error=the+sign-in+provider+said+no") {
		t.Fatalf("browser after a refused sign-in: %d, Location %q", r.status, loc)
	}
}

// The configured role, the name shown on the sign-in page, and signing in
// only people who already have an account.
func TestOIDCRoleNameExistingOnly(t *testing.T) {
	var issuer *oidctest.Provider
	e := newEnv(t, func(c *Config) {
		issuer = oidctest.NewProvider(t, oidctest.WithClock(c.Now))
		c.OIDC = &OIDCConfig{Issuer: issuer.URL, ClientID: issuer.ClientID, ClientSecret: issuer.ClientSecret,
			Name: "Keycloak", Role: RoleAgent}
	})
	if r := e.client().do("GET", "/api/v1/auth/setup", nil); r.body["ssoName"] != "Keycloak" {
		t.Fatalf("setup status %s", r.raw)
	}
	e.user("root", RoleAdmin)
	issuer.SignInAs(map[string]any{"email": "ada@example.com", "email_verified": true})
	c := e.client()
	c.sso(t)
	if s := c.do("GET", "/api/v1/auth/session", nil); s.body["user"].(map[string]any)["role"] != RoleAgent {
		t.Fatalf("role of an SSO account: %s", s.raw)
	}

	e = newEnv(t, func(c *Config) {
		issuer = oidctest.NewProvider(t, oidctest.WithClock(c.Now))
		c.OIDC = &OIDCConfig{Issuer: issuer.URL, ClientID: issuer.ClientID, ClientSecret: issuer.ClientSecret, ExistingOnly: true}
	})
	if r := e.client().do("GET", "/api/v1/auth/setup", nil); r.body["ssoName"] != "SSO" {
		t.Fatalf("default name: %s", r.raw)
	}
	if _, err := e.svc.CreateUser(t.Context(), NewUser{Username: "bea", Email: "bea@example.com", Role: RoleMember, Password: "bea-password"}); err != nil {
		t.Fatal(err)
	}
	issuer.SignInAs(map[string]any{"email": "ada@example.com", "email_verified": true})
	wantStatus(t, "no account", e.client().sso(t), http.StatusForbidden, "forbidden")
	if _, err := e.st.UserByEmail(t.Context(), "ada@example.com"); err == nil {
		t.Fatal("an account was created though only existing ones may sign in")
	}
	issuer.SignInAs(map[string]any{"email": "bea@example.com", "email_verified": true})
	if r := e.client().sso(t); r.status != http.StatusSeeOther {
		t.Fatalf("existing account: %d %s", r.status, r.raw)
	}

	if _, err := New(Config{Store: e.st, OIDC: &OIDCConfig{Issuer: "https://id.example.com", ClientID: "x", Role: "owner"}}); err == nil {
		t.Fatal("unknown role accepted")
	}
}

func TestOIDCProviderDown(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	e := newEnv(t, func(c *Config) {
		c.OIDC = &OIDCConfig{Issuer: dead.URL, ClientID: oidctest.ClientID}
	})
	wantStatus(t, "login", e.client().send("GET", "/api/v1/auth/oidc/login", nil, nil), http.StatusBadGateway, "unavailable")
	if _, err := New(Config{Store: e.st, OIDC: &OIDCConfig{}}); err == nil {
		t.Fatal("OIDC without issuer accepted")
	}
}

func TestUsernameFrom(t *testing.T) {
	for _, tc := range []struct{ preferred, email, want string }{
		{"wanda", "w@x.org", "wanda"},
		{"", "Jean.Luc+tag@x.org", "jean.luc-tag"},
		{"Ana María", "a@x.org", "ana-mar-a"},
		{"", "@x.org", "user"},
		{"...", "", "user"},
		{strings.Repeat("long", 20), "", strings.Repeat("long", 8)},
	} {
		if got := usernameFrom(tc.preferred, tc.email); got != tc.want || !UsernamePattern.MatchString(got) {
			t.Errorf("usernameFrom(%q, %q) = %q, want %q", tc.preferred, tc.email, got, tc.want)
		}
	}
}
