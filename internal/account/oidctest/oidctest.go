// Package oidctest provides a fake OpenID Connect provider for tests, in the
// manner of net/http/httptest.
//
// A Provider is an httptest.Server on loopback (plain http, which OIDC
// clients accept for a loopback issuer) that serves:
//
//	GET  /.well-known/openid-configuration  the discovery document
//	GET  /jwks                               its RSA signing key
//	GET  /authorize                          signs in the configured person at once and redirects back with a code
//	POST /token                              exchanges a code for an RS256-signed ID token
//
// The authorization endpoint insists on the authorization-code flow with
// PKCE (S256), a nonce, a state and the openid scope. The token endpoint
// answers invalid_client unless the client id and secret match (HTTP basic
// auth or form), and invalid_grant unless the code is known and unused, the
// redirect URI is the one authorized, and the PKCE verifier matches the
// challenge. The ID token carries iss, sub, aud, iat, exp and the nonce, then
// the claims of the person signed in, which override those: a test can send
// a wrong nonce, audience or expiry by naming it among the person's claims.
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The client credentials a Provider accepts unless WithClient says otherwise.
const (
	ClientID     = "switchboard-test"
	ClientSecret = "client-secret"
)

const keyID = "k1"

// Provider is a running fake OpenID provider. It is closed when the test
// that made it ends.
type Provider struct {
	URL          string // the issuer, http://127.0.0.1:port with no trailing slash
	ClientID     string
	ClientSecret string

	t   testing.TB
	srv *httptest.Server
	key *rsa.PrivateKey
	now func() time.Time

	mu     sync.Mutex
	person map[string]any   // the claims of whoever signs in next
	grants map[string]grant // by authorization code
}

type grant struct {
	challenge, nonce, redirect string
	person                     map[string]any
}

// An Option configures a Provider.
type Option func(*Provider)

// WithClock makes the provider stamp ID tokens (iat, exp) by now rather
// than time.Now.
func WithClock(now func() time.Time) Option { return func(p *Provider) { p.now = now } }

// WithClient sets the client id and secret the token endpoint accepts.
func WithClient(id, secret string) Option {
	return func(p *Provider) { p.ClientID, p.ClientSecret = id, secret }
}

// WithPerson sets the claims of the person who signs in, as SignInAs does.
func WithPerson(claims map[string]any) Option {
	return func(p *Provider) { p.person = maps.Clone(claims) }
}

// NewProvider starts a Provider and stops it when t ends.
func NewProvider(t testing.TB, opts ...Option) *Provider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{ClientID: ClientID, ClientSecret: ClientSecret, t: t, key: key, now: time.Now, grants: map[string]grant{}}
	for _, o := range opts {
		o(p)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	p.srv = httptest.NewServer(mux)
	p.URL = p.srv.URL
	t.Cleanup(p.srv.Close)
	return p
}

// SignInAs sets the claims of the person who signs in from now on (email,
// email_verified, name, preferred_username, ...). A flow takes them when it
// passes the authorization endpoint.
func (p *Provider) SignInAs(claims map[string]any) {
	p.mu.Lock()
	p.person = maps.Clone(claims)
	p.mu.Unlock()
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer": p.URL, "authorization_endpoint": p.URL + "/authorize", "token_endpoint": p.URL + "/token",
		"jwks_uri": p.URL + "/jwks", "response_types_supported": []string{"code"},
		"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported": []string{"S256"},
	})
}

func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	b64 := base64.RawURLEncoding.EncodeToString
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": keyID, "use": "sig", "alg": "RS256",
		"n": b64(p.key.N.Bytes()), "e": b64(big.NewInt(int64(p.key.E)).Bytes()),
	}}})
}

func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != p.ClientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" ||
		!strings.Contains(" "+q.Get("scope")+" ", " openid ") {
		http.Error(w, "bad authorization request: "+r.URL.RawQuery, http.StatusBadRequest)
		return
	}
	code := rand.Text()
	p.mu.Lock()
	p.grants[code] = grant{challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), redirect: q.Get("redirect_uri"), person: p.person}
	p.mu.Unlock()
	http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {code}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	code := r.PostForm.Get("code")
	p.mu.Lock()
	g, found := p.grants[code]
	delete(p.grants, code) // a code is good once, even when refused
	p.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	switch {
	case id != p.ClientID || secret != p.ClientSecret:
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	case !found || r.PostForm.Get("redirect_uri") != g.redirect || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
		return
	}
	now := p.now()
	claims := jwt.MapClaims{"iss": p.URL, "sub": fmt.Sprint("sub-", g.person["email"]), "aud": p.ClientID,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "nonce": g.nonce}
	maps.Copy(claims, g.person)
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = keyID
	signed, err := tok.SignedString(p.key)
	if err != nil {
		p.t.Error(err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": signed})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
