package account

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"switchboard/internal/store/pgtest"
)

// The whole sign-in path, on both databases.
func TestLoginAndSession(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testLoginAndSession(t, newEnv(t)) })
	t.Run("postgres", func(t *testing.T) { testLoginAndSession(t, newEnvOn(t, pgtest.Database(t))) })
}

func testLoginAndSession(t *testing.T, e *env) {
	u := e.user("alice", RoleAgent)
	c := e.client()
	wantStatus(t, "before sign-in", c.do("GET", "/api/v1/auth/session", nil), http.StatusUnauthorized, "unauthorized")

	r := c.login("Alice ", "alice-password") // usernames are case-insensitive
	user := r.body["user"].(map[string]any)
	if user["id"] != u.ID || user["username"] != "alice" || user["role"] != RoleAgent || user["totpEnabled"] != false {
		t.Fatalf("login answered %s", r.raw)
	}
	if strings.Contains(r.raw, "argon2") || len(c.csrf) < 40 {
		t.Fatalf("login answer %s", r.raw)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("Cache-Control %q", r.header.Get("Cache-Control"))
	}

	s := c.do("GET", "/api/v1/auth/session", nil)
	wantStatus(t, "session", s, http.StatusOK, "")
	if s.body["csrfToken"] != c.csrf || s.body["user"].(map[string]any)["username"] != "alice" {
		t.Fatalf("session answered %s", s.raw)
	}
	id, err := e.svc.Authenticate(authRequest(t, e, c, "GET"))
	if err != nil || id.UserID != u.ID || id.Username != "alice" || id.Role != RoleAgent || id.ViaToken || id.SessionID == "" {
		t.Fatalf("Authenticate = %+v, %v", id, err)
	}

	// Only the hash of the cookie is stored.
	ck := cookieOf(t, c)
	if _, _, err := e.st.SessionByTokenHash(t.Context(), hashToken(ck)); err != nil {
		t.Fatalf("session by hash: %v", err)
	}
	if _, _, err := e.st.SessionByTokenHash(t.Context(), ck); err == nil {
		t.Fatal("the raw cookie value is stored")
	}

	// Junk in names, ids and headers is an ordinary miss, not a database
	// error (PostgreSQL refuses invalid UTF-8).
	wantStatus(t, "junk username", e.client().send("POST", "/api/v1/auth/login",
		map[string]string{"username": "\xff\xfe", "password": "alice-password"}, nil), http.StatusUnauthorized, "unauthorized")
	wantStatus(t, "junk session id", c.do("DELETE", "/api/v1/auth/sessions/%ff", nil), http.StatusNotFound, "not_found")
	wantStatus(t, "junk user id", c.do("GET", "/api/v1/users/%ff%00", nil), http.StatusNotFound, "not_found")
	odd := e.client()
	if r := odd.send("POST", "/api/v1/auth/login", map[string]string{"username": "alice", "password": "alice-password"},
		map[string]string{"User-Agent": "odd\xff\tagent"}); r.status != http.StatusOK {
		t.Fatalf("login with an odd User-Agent: %d %s", r.status, r.raw)
	}
	// Signing in again in one browser replaces its session.
	c.login("alice", "alice-password")
	c.login("alice", "alice-password")
	if ss, _ := e.st.Sessions(t.Context(), u.ID); len(ss) != 2 || (ss[0].UserAgent != "oddagent" && ss[1].UserAgent != "oddagent") {
		t.Fatalf("sessions after signing in again: %+v", ss)
	}

	wantStatus(t, "logout without CSRF", c.send("POST", "/api/v1/auth/logout", nil, nil), http.StatusForbidden, "forbidden")
	out := c.do("POST", "/api/v1/auth/logout", nil)
	wantStatus(t, "logout", out, http.StatusNoContent, "")
	if sc := out.header.Get("Set-Cookie"); !strings.Contains(sc, CookieName+"=;") || !strings.Contains(sc, "Max-Age=0") {
		t.Fatalf("logout Set-Cookie %q", sc)
	}
	wantStatus(t, "after logout", c.do("GET", "/api/v1/auth/session", nil), http.StatusUnauthorized, "unauthorized")
}

// authRequest is a request carrying c's cookie, for calling Authenticate directly.
func authRequest(t *testing.T, e *env, c *client, method string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(method, "/x", nil)
	r.AddCookie(&http.Cookie{Name: CookieName, Value: cookieOf(t, c)})
	return r
}

func cookieOf(t *testing.T, c *client) string {
	t.Helper()
	req, _ := http.NewRequest("GET", c.e.srv.URL, nil)
	for _, ck := range c.hc.Jar.Cookies(req.URL) {
		if ck.Name == CookieName {
			return ck.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

func TestLoginFailuresLookAlike(t *testing.T) {
	e := newEnv(t)
	e.user("bob", RoleMember)
	sso := e.user("sso", RoleMember)
	if err := e.st.SetPassword(t.Context(), sso.ID, "", ""); err != nil { // an SSO-only account
		t.Fatal(err)
	}
	c := e.client()
	var msgs []string
	for _, tc := range []struct{ name, user, pw string }{
		{"wrong password", "bob", "not-bobs-password"},
		{"unknown user", "nobody", "not-bobs-password"},
		{"no password set", "sso", "not-bobs-password"},
	} {
		r := c.send("POST", "/api/v1/auth/login", map[string]string{"username": tc.user, "password": tc.pw}, nil)
		wantStatus(t, tc.name, r, http.StatusUnauthorized, "unauthorized")
		msgs = append(msgs, r.raw)
	}
	if msgs[0] != msgs[1] || msgs[1] != msgs[2] {
		t.Fatalf("answers differ: %q", msgs)
	}
	for _, tc := range []struct {
		name   string
		body   string
		ctype  string
		status int
	}{
		{"no username", `{"password":"x"}`, "application/json", 400},
		{"unknown field", `{"username":"bob","password":"x","admin":true}`, "application/json", 400},
		{"form post", `{"username":"bob","password":"bob-password"}`, "text/plain", 415},
		{"not JSON", `username=bob`, "application/json", 400},
	} {
		req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/auth/login", strings.NewReader(tc.body))
		req.Header.Set("Content-Type", tc.ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "sign-in failed") || !strings.Contains(logs, "user=nobody") || !strings.Contains(logs, "ip=127.0.0.1") {
		t.Fatalf("sign-in failures not logged:\n%s", logs)
	}
}

func TestLockout(t *testing.T) {
	e := newEnv(t)
	e.user("carol", RoleMember)
	c := e.client()
	try := func(user, pw string) result {
		return c.send("POST", "/api/v1/auth/login", map[string]string{"username": user, "password": pw}, nil)
	}
	for _, user := range []string{"carol", "ghost"} { // a real account and a made-up name behave alike
		for i := range 5 {
			wantStatus(t, user+" failure", try(user, "wrong-password"), http.StatusUnauthorized, "unauthorized")
			_ = i
		}
		r := try(user, user+"-password")
		wantStatus(t, user+" locked", r, http.StatusTooManyRequests, "locked")
		if r.header.Get("Retry-After") != "900" {
			t.Fatalf("%s Retry-After %q, want 900", user, r.header.Get("Retry-After"))
		}
	}
	if !strings.Contains(e.logs.String(), "level=WARN msg=\"account locked after failed sign-ins\" user=carol") {
		t.Fatalf("lockout not logged at warn:\n%s", e.logs)
	}

	// The lock ends after 15 minutes.
	e.clock.Add(14 * time.Minute)
	wantStatus(t, "still locked", try("carol", "carol-password"), http.StatusTooManyRequests, "locked")
	e.clock.Add(time.Minute)
	// The next lockout lasts twice as long.
	for range 5 {
		wantStatus(t, "failure after lock", try("carol", "wrong-password"), http.StatusUnauthorized, "unauthorized")
	}
	if r := try("carol", "carol-password"); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "1800" {
		t.Fatalf("second lockout: %d Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	e.clock.Add(30 * time.Minute)
	c.login("carol", "carol-password")
	// Success resets the doubling.
	for range 5 {
		try("carol", "wrong-password")
	}
	if r := try("carol", "carol-password"); r.header.Get("Retry-After") != "900" {
		t.Fatalf("lockout after success: Retry-After %q", r.header.Get("Retry-After"))
	}
}

func TestLockForCaps(t *testing.T) {
	s := &Service{cfg: Config{LockTime: 15 * time.Minute, MaxLockTime: 24 * time.Hour}}
	for n, want := range map[int]time.Duration{0: 15 * time.Minute, 1: 30 * time.Minute, 3: 2 * time.Hour, 6: 16 * time.Hour, 7: 24 * time.Hour, 1000: 24 * time.Hour} {
		if got := s.lockFor(n); got != want {
			t.Errorf("lockFor(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestIPRateLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.LoginPerMinute = 10 })
	e.user("dave", RoleMember)
	n := 0
	attempt := func(ip string) *httptest.ResponseRecorder {
		n++ // a new name each time, or the account lockout answers first
		req := httptest.NewRequest("POST", "/api/v1/auth/login", strings.NewReader(fmt.Sprintf(`{"username":"user%d","password":"wrong-password"}`, n)))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = ip + ":1234"
		w := httptest.NewRecorder()
		e.mux.ServeHTTP(w, req)
		return w
	}
	for i := range 10 {
		if w := attempt("192.0.2.1"); w.Code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, w.Code)
		}
	}
	w := attempt("192.0.2.1")
	if w.Code != http.StatusTooManyRequests || !strings.Contains(w.Body.String(), `"rate_limited"`) || w.Header().Get("Retry-After") != "6" {
		t.Fatalf("11th attempt: %d %s Retry-After %q", w.Code, w.Body, w.Header().Get("Retry-After"))
	}
	// Another address has its own bucket; an IPv6 /64 is one client.
	if w := attempt("192.0.2.2"); w.Code != http.StatusUnauthorized {
		t.Fatalf("other address: %d", w.Code)
	}
	for i := range 10 {
		attempt(fmt.Sprintf("[2001:db8::%x]", i+1))
	}
	if w := attempt("[2001:db8::ff]"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("same /64: %d", w.Code)
	}
	e.clock.Add(6 * time.Second)
	if w := attempt("192.0.2.1"); w.Code != http.StatusUnauthorized {
		t.Fatalf("after refill: %d", w.Code)
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	u := e.user("erin", RoleMember)
	c := e.signedIn(u)
	patch := map[string]string{"displayName": "Erin E."}
	wantStatus(t, "no CSRF token", c.send("PATCH", "/api/v1/users/me", patch, nil), http.StatusForbidden, "forbidden")
	wantStatus(t, "wrong CSRF token", c.send("PATCH", "/api/v1/users/me", patch, map[string]string{CSRFHeader: c.csrf + "x"}), http.StatusForbidden, "forbidden")
	other := e.signedIn(e.user("frank", RoleMember))
	wantStatus(t, "another session's token", c.send("PATCH", "/api/v1/users/me", patch, map[string]string{CSRFHeader: other.csrf}), http.StatusForbidden, "forbidden")
	wantStatus(t, "right CSRF token", c.do("PATCH", "/api/v1/users/me", patch), http.StatusOK, "")
	wantStatus(t, "GET needs none", c.send("GET", "/api/v1/users/me", nil, nil), http.StatusOK, "")
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		if _, err := e.svc.Authenticate(authRequest(t, e, c, m)); err != ErrCSRF {
			t.Errorf("%s without token: %v", m, err)
		}
	}
	for _, m := range []string{"GET", "HEAD", "OPTIONS"} {
		if _, err := e.svc.Authenticate(authRequest(t, e, c, m)); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
}

func TestCookieFlags(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opt    option
		tls    bool
		secure bool
	}{
		{"plain http", func(*Config) {}, false, false},
		{"Secure configured", func(c *Config) { c.Secure = true }, false, true},
		{"https public URL", func(c *Config) { c.PublicURL = "https://meet.example.com/" }, false, true},
		{"request over TLS", func(*Config) {}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opt)
			e.user("gina", RoleMember)
			req := httptest.NewRequest("POST", "/api/v1/auth/login", strings.NewReader(`{"username":"gina","password":"gina-password"}`))
			req.Header.Set("Content-Type", "application/json")
			if tc.tls {
				req.TLS = &tls.ConnectionState{}
			}
			w := httptest.NewRecorder()
			e.mux.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				t.Fatalf("login: %d %s", w.Code, w.Body)
			}
			cks := w.Result().Cookies()
			if len(cks) != 1 {
				t.Fatalf("cookies %v", cks)
			}
			ck := cks[0]
			if ck.Name != CookieName || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" ||
				ck.Secure != tc.secure || ck.MaxAge != 30*24*3600 || len(ck.Value) != 43 {
				t.Fatalf("cookie %+v", ck)
			}
		})
	}
}

func TestSessionsListRevokeAndExpiry(t *testing.T) {
	e := newEnv(t)
	u := e.user("hana", RoleMember)
	laptop, phone := e.signedIn(u), e.signedIn(u)
	list := laptop.do("GET", "/api/v1/auth/sessions", nil)
	wantStatus(t, "list", list, http.StatusOK, "")
	sessions := list.body["sessions"].([]any)
	if len(sessions) != 2 {
		t.Fatalf("sessions %s", list.raw)
	}
	var phoneID string
	for _, s := range sessions {
		m := s.(map[string]any)
		if m["current"] == false {
			phoneID = m["id"].(string)
		}
		if m["ip"] != "127.0.0.1" || m["userAgent"] != "Go-http-client/1.1" || m["expiresAt"] == "" {
			t.Fatalf("session %v", m)
		}
	}
	// Another user cannot end hana's session.
	other := e.signedIn(e.user("ivan", RoleMember))
	wantStatus(t, "revoke another's", other.do("DELETE", "/api/v1/auth/sessions/"+phoneID, nil), http.StatusNotFound, "not_found")
	wantStatus(t, "revoke without CSRF", laptop.send("DELETE", "/api/v1/auth/sessions/"+phoneID, nil, nil), http.StatusForbidden, "forbidden")
	wantStatus(t, "revoke", laptop.do("DELETE", "/api/v1/auth/sessions/"+phoneID, nil), http.StatusNoContent, "")
	wantStatus(t, "revoked phone", phone.do("GET", "/api/v1/auth/session", nil), http.StatusUnauthorized, "unauthorized")
	wantStatus(t, "laptop", laptop.do("GET", "/api/v1/auth/session", nil), http.StatusOK, "")

	// Last-seen is written at most once a minute; each write slides the
	// expiry and renews the cookie.
	ss, _ := e.st.Sessions(t.Context(), u.ID)
	seen := ss[0].LastSeenAt
	e.clock.Add(30 * time.Second)
	if r := laptop.do("GET", "/api/v1/auth/session", nil); r.header.Get("Set-Cookie") != "" {
		t.Fatal("cookie renewed within the minute")
	}
	if ss, _ := e.st.Sessions(t.Context(), u.ID); !ss[0].LastSeenAt.Equal(seen) {
		t.Fatal("last seen written within the minute")
	}
	e.clock.Add(31 * time.Second)
	if r := laptop.do("GET", "/api/v1/auth/session", nil); !strings.Contains(r.header.Get("Set-Cookie"), "Max-Age=2592000") {
		t.Fatalf("cookie not renewed: %q", r.header.Get("Set-Cookie"))
	}
	ss, _ = e.st.Sessions(t.Context(), u.ID)
	if now := e.clock.Now(); !ss[0].LastSeenAt.Equal(now) || !ss[0].ExpiresAt.Equal(now.Add(30*24*time.Hour)) {
		t.Fatalf("after touch: %+v", ss[0])
	}

	// Used every 13 days, a session lives on; 15 idle days end it.
	for range 3 {
		e.clock.Add(13 * 24 * time.Hour)
		wantStatus(t, "used within the idle timeout", laptop.do("GET", "/api/v1/auth/session", nil), http.StatusOK, "")
	}
	e.clock.Add(15 * 24 * time.Hour)
	wantStatus(t, "idle", laptop.do("GET", "/api/v1/auth/session", nil), http.StatusUnauthorized, "unauthorized")
	if ss, _ := e.st.Sessions(t.Context(), u.ID); len(ss) != 0 {
		t.Fatalf("idle session kept: %+v", ss)
	}
}

func TestSessionAbsoluteTTL(t *testing.T) {
	// With an idle timeout longer than the lifetime, the sliding expiry decides.
	e := newEnv(t, func(c *Config) { c.SessionTTL = time.Hour; c.IdleTimeout = 48 * time.Hour })
	c := e.signedIn(e.user("jan", RoleMember))
	e.clock.Add(59 * time.Minute)
	wantStatus(t, "within TTL", c.do("GET", "/api/v1/auth/session", nil), http.StatusOK, "")
	e.clock.Add(61 * time.Minute) // slid to 59m+1h
	wantStatus(t, "after slide", c.do("GET", "/api/v1/auth/session", nil), http.StatusUnauthorized, "unauthorized")
}

func TestDisabledUserLosesSessions(t *testing.T) {
	e := newEnv(t)
	admin := e.signedIn(e.user("root", RoleAdmin))
	u := e.user("kim", RoleMember)
	kim := e.signedIn(u)
	tok := kim.do("POST", "/api/v1/auth/tokens", map[string]string{"name": "bot"})
	bot := &client{e: e, hc: http.DefaultClient, bearer: tok.body["token"].(string)}
	wantStatus(t, "bot", bot.do("GET", "/api/v1/users", nil), http.StatusOK, "")

	r := admin.do("PATCH", "/api/v1/users/"+u.ID, map[string]any{"disabled": true})
	wantStatus(t, "disable", r, http.StatusOK, "")
	if r.body["disabled"] != true {
		t.Fatalf("disable answered %s", r.raw)
	}
	wantStatus(t, "kim after disable", kim.do("GET", "/api/v1/auth/session", nil), http.StatusUnauthorized, "unauthorized")
	wantStatus(t, "bot after disable", bot.do("GET", "/api/v1/users", nil), http.StatusUnauthorized, "unauthorized")
	if ss, _ := e.st.Sessions(t.Context(), u.ID); len(ss) != 0 {
		t.Fatalf("%d sessions left", len(ss))
	}
	// Only with the right password does one learn the account is disabled.
	c := e.client()
	wantStatus(t, "login disabled", c.send("POST", "/api/v1/auth/login", map[string]string{"username": "kim", "password": "kim-password"}, nil), http.StatusForbidden, "forbidden")
	wantStatus(t, "login disabled, wrong password", c.send("POST", "/api/v1/auth/login", map[string]string{"username": "kim", "password": "kim-passwor"}, nil), http.StatusUnauthorized, "unauthorized")

	wantStatus(t, "enable", admin.do("PATCH", "/api/v1/users/"+u.ID, map[string]any{"disabled": false}), http.StatusOK, "")
	c.login("kim", "kim-password")
	wantStatus(t, "bot after enable", bot.do("GET", "/api/v1/users", nil), http.StatusOK, "")
}

// Nothing secret reaches the log: not passwords, cookies, CSRF tokens, API
// tokens, invitation tokens, setup codes or hashes.
func TestNoSecretsLogged(t *testing.T) {
	e := newEnv(t)
	code := e.svc.SetupCode()
	c := e.client()
	r := c.send("POST", "/api/v1/auth/setup", map[string]string{"code": code, "username": "root", "password": "setup-password-1"}, nil)
	wantStatus(t, "setup", r, http.StatusCreated, "")
	c.csrf = r.body["csrfToken"].(string)
	inv := c.do("POST", "/api/v1/invites", map[string]string{"role": "member"})
	tok := c.do("POST", "/api/v1/auth/tokens", map[string]string{"name": "ci"})
	c.send("POST", "/api/v1/auth/login", map[string]string{"username": "root", "password": "wrong-password-9"}, nil)
	c.do("POST", "/api/v1/users/me/password", map[string]string{"old": "setup-password-1", "new": "second-password-2"})
	u, _ := e.st.UserByUsername(t.Context(), "root")
	logs := e.logs.String()
	for _, secret := range []string{code, "setup-password-1", "wrong-password-9", "second-password-2", c.csrf, cookieOf(t, c),
		inv.body["token"].(string), tok.body["token"].(string), u.PasswordHash, "argon2id"} {
		if secret == "" || strings.Contains(logs, secret) {
			t.Fatalf("secret %q in the log:\n%s", secret, logs)
		}
	}
}
