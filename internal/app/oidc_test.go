package app

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"switchboard/internal/account"
	"switchboard/internal/config"
)

// oidcProvider is a minimal OpenID provider on loopback: discovery, JWKS, an
// authorization endpoint that signs in `person` at once, and a token endpoint
// that checks the client's credentials and PKCE verifier before issuing an
// RS256-signed ID token.
type oidcProvider struct {
	t        *testing.T
	srv      *httptest.Server
	key      *rsa.PrivateKey
	clientID string
	secret   string
	person   map[string]any

	mu     sync.Mutex
	grants map[string]oidcGrant
}

type oidcGrant struct{ challenge, nonce, redirect string }

func newOIDCProvider(t *testing.T, clientID, secret string, person map[string]any) *oidcProvider {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &oidcProvider{t: t, key: key, clientID: clientID, secret: secret, person: person, grants: map[string]oidcGrant{}}
	b64 := base64.RawURLEncoding.EncodeToString
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": p.srv.URL, "authorization_endpoint": p.srv.URL + "/authorize", "token_endpoint": p.srv.URL + "/token",
			"jwks_uri": p.srv.URL + "/jwks", "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256"},
			"code_challenge_methods_supported": []string{"S256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": "test", "use": "sig", "alg": "RS256",
			"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
		}}})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != clientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" ||
			q.Get("nonce") == "" || q.Get("state") == "" || !strings.Contains(" "+q.Get("scope")+" ", " openid ") {
			http.Error(w, "bad authorization request: "+r.URL.RawQuery, http.StatusBadRequest)
			return
		}
		code := rand.Text()
		p.mu.Lock()
		p.grants[code] = oidcGrant{challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), redirect: q.Get("redirect_uri")}
		p.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {code}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", p.token)
	p.srv = httptest.NewServer(mux) // on 127.0.0.1: plain http is accepted for a loopback issuer
	t.Cleanup(p.srv.Close)
	return p
}

func (p *oidcProvider) token(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	code := r.PostForm.Get("code")
	p.mu.Lock()
	g, found := p.grants[code]
	delete(p.grants, code)
	p.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	w.Header().Set("Content-Type", "application/json")
	switch {
	case id != p.clientID || secret != p.secret:
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client"})
		return
	case !found || r.PostForm.Get("redirect_uri") != g.redirect || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
		return
	}
	now := time.Now()
	claims := jwt.MapClaims{"iss": p.srv.URL, "sub": "subject-1", "aud": p.clientID, "iat": now.Unix(),
		"exp": now.Add(5 * time.Minute).Unix(), "nonce": g.nonce}
	for k, v := range p.person {
		claims[k] = v
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = "test"
	signed, err := tok.SignedString(p.key)
	if err != nil {
		p.t.Error(err)
	}
	json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": signed})
}

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
	provider := newOIDCProvider(t, clientID, clientSecret, map[string]any{
		"email": "Grace@Example.com", "email_verified": true, "name": "Grace Hopper", "preferred_username": "grace"})
	secretFile := filepath.Join(t.TempDir(), "oidc-client-secret")
	if err := os.WriteFile(secretFile, []byte(clientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startServer(t, func(c *config.Config) {
		c.OIDC.Issuer, c.OIDC.ClientID, c.OIDC.ClientSecretFile, c.OIDC.Name = provider.srv.URL, clientID, secretFile, "Test IdP"
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
	if !strings.HasPrefix(hops[0], provider.srv.URL+"/authorize?") || !strings.HasPrefix(hops[1], callback+"?") || hops[2] != a.URL()+"/" {
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
