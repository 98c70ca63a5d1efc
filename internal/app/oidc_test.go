package app

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/internal/account"
	"switchboard/internal/account/oidctest"
	"switchboard/internal/config"
)

// getJSON sends a GET with the browser's cookies and decodes the answer.
func getJSON(t *testing.T, hc *http.Client, url string) (int, map[string]any) {
	t.Helper()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// Single sign-on through the whole server: the configuration turns it on, the
// sign-in page learns of it, and a browser that follows /api/v1/auth/oidc/login
// through the provider and back holds a session that the API accepts.
func TestSingleSignOn(t *testing.T) {
	const clientID, clientSecret = "switchboard", "a-client-secret"
	provider := oidctest.NewProvider(t, oidctest.WithClient(clientID, clientSecret), oidctest.WithPerson(map[string]any{
		"email": "Grace@Example.com", "email_verified": true, "name": "Grace Hopper", "preferred_username": "grace"}))
	secretFile := filepath.Join(t.TempDir(), "oidc-client-secret")
	if err := os.WriteFile(secretFile, []byte(clientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startServer(t, func(c *config.Config) {
		c.OIDC.Issuer, c.OIDC.ClientID, c.OIDC.ClientSecretFile, c.OIDC.Name = provider.URL, clientID, secretFile, "Test IdP"
	})

	jar, _ := cookiejar.New(nil)
	var hops []string
	browser := &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		hops = append(hops, req.URL.String())
		return nil
	}}

	status, setup := getJSON(t, browser, a.URL()+"/api/v1/auth/setup")
	if status != http.StatusOK || setup["sso"] != true || setup["ssoName"] != "Test IdP" {
		t.Fatalf("setup status: %d %v", status, setup)
	}
	// Single sign-on creates accounts only once the first admin exists.
	if _, err := a.accounts.CreateUser(context.Background(), account.NewUser{Username: "root", Role: account.RoleAdmin,
		Password: account.GeneratePassword()}); err != nil {
		t.Fatal(err)
	}

	resp, err := browser.Get(a.URL() + "/api/v1/auth/oidc/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(hops) != 3 {
		t.Fatalf("sign-in ended with %s after %q", resp.Status, hops)
	}
	callback := a.URL() + "/api/v1/auth/oidc/callback"
	if !strings.HasPrefix(hops[0], provider.URL+"/authorize?") || !strings.HasPrefix(hops[1], callback+"?") || hops[2] != a.URL()+"/" {
		t.Fatalf("redirects: %q", hops)
	}
	if redirect, _ := url.Parse(hops[0]); redirect.Query().Get("redirect_uri") != callback {
		t.Fatalf("redirect_uri %q, want %q", redirect.Query().Get("redirect_uri"), callback)
	}
	server, _ := url.Parse(a.URL())
	var session *http.Cookie
	for _, c := range jar.Cookies(server) {
		if c.Name == "sb_session" {
			session = c
		}
	}
	if session == nil {
		t.Fatal("no session cookie after single sign-on")
	}

	// The session works for the accounts API and for messaging.
	status, me := getJSON(t, browser, a.URL()+"/api/v1/users/me")
	if status != http.StatusOK || me["username"] != "grace" || me["displayName"] != "Grace Hopper" ||
		me["email"] != "grace@example.com" || me["role"] != account.RoleMember {
		t.Fatalf("GET /api/v1/users/me: %d %v", status, me)
	}
	if status, body := getJSON(t, browser, a.URL()+"/api/v1/conversations"); status != http.StatusOK {
		t.Fatalf("GET /api/v1/conversations: %d %v", status, body)
	}
	u, err := a.accounts.UserByUsername(context.Background(), "grace")
	if err != nil || u.PasswordHash != "" {
		t.Fatalf("the SSO account: %v, password set: %v", err, u.PasswordHash != "")
	}

	// Signing out (with the CSRF token) ends it.
	_, info := getJSON(t, browser, a.URL()+"/api/v1/auth/session")
	csrf, _ := info["csrfToken"].(string)
	req, _ := http.NewRequest("POST", a.URL()+"/api/v1/auth/logout", nil)
	req.Header.Set("X-CSRF-Token", csrf)
	resp, err = browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %s", resp.Status)
	}
	if status, _ := getJSON(t, browser, a.URL()+"/api/v1/users/me"); status != http.StatusUnauthorized {
		t.Fatalf("after logout: %d", status)
	}

	// Without single sign-on configured there is no such route, and the sign-in page is told so.
	plain := startServer(t, nil)
	if status, setup := getJSON(t, http.DefaultClient, plain.URL()+"/api/v1/auth/setup"); setup["sso"] != false || setup["ssoName"] != nil {
		t.Fatalf("setup status without SSO: %d %v", status, setup)
	}
	resp, err = http.Get(plain.URL() + "/api/v1/auth/oidc/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("oidc login without SSO: %s", resp.Status)
	}
}
