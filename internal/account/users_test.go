package account

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/internal/store"
)

func TestSetup(t *testing.T) {
	e := newEnv(t)
	code := e.svc.SetupCode()
	if len(code) < 20 {
		t.Fatalf("setup code %q", code)
	}
	c := e.client()
	if r := c.do("GET", "/api/v1/auth/setup", nil); r.body["needed"] != true || r.body["sso"] != false {
		t.Fatalf("setup status %s", r.raw)
	}
	body := func(code string) map[string]string {
		return map[string]string{"code": code, "username": "Root", "displayName": "The Admin", "password": "admin-password"}
	}
	wantStatus(t, "no code", c.send("POST", "/api/v1/auth/setup", body(""), nil), http.StatusForbidden, "forbidden")
	wantStatus(t, "wrong code", c.send("POST", "/api/v1/auth/setup", body(code+"x"), nil), http.StatusForbidden, "forbidden")
	short := body(code)
	short["password"] = "short"
	wantStatus(t, "short password", c.send("POST", "/api/v1/auth/setup", short, nil), http.StatusBadRequest, "bad_request")

	r := c.send("POST", "/api/v1/auth/setup", body(code), nil)
	wantStatus(t, "setup", r, http.StatusCreated, "")
	if u := r.body["user"].(map[string]any); u["role"] != RoleAdmin || u["username"] != "root" || u["displayName"] != "The Admin" {
		t.Fatalf("setup made %s", r.raw)
	}
	c.csrf = r.body["csrfToken"].(string)
	wantStatus(t, "signed in by setup", c.do("GET", "/api/v1/auth/session", nil), http.StatusOK, "")

	if e.svc.SetupCode() != "" {
		t.Fatal("setup code survives setup")
	}
	wantStatus(t, "setup again", e.client().send("POST", "/api/v1/auth/setup", body(code), nil), http.StatusConflict, "conflict")
	if r := c.do("GET", "/api/v1/auth/setup", nil); r.body["needed"] != false {
		t.Fatalf("setup status after setup %s", r.raw)
	}
	// A restarted server with users has no setup code.
	again, err := New(Config{Store: e.st, Password: testParams})
	if err != nil || again.SetupCode() != "" {
		t.Fatalf("after restart: %q, %v", again.SetupCode(), err)
	}
}

func TestSetupRace(t *testing.T) {
	e := newEnv(t)
	code := e.svc.SetupCode()
	var wg sync.WaitGroup
	statuses := make(chan int, 6)
	for i := range 6 {
		wg.Go(func() {
			r := e.client().send("POST", "/api/v1/auth/setup", map[string]string{"code": code,
				"username": "admin" + string(rune('a'+i)), "password": "admin-password"}, nil)
			statuses <- r.status
		})
	}
	wg.Wait()
	close(statuses)
	created := 0
	for s := range statuses {
		if s == http.StatusCreated {
			created++
		} else if s != http.StatusConflict {
			t.Fatalf("status %d", s)
		}
	}
	if n, _ := e.st.CountUsers(t.Context()); created != 1 || n != 1 {
		t.Fatalf("%d created, %d users", created, n)
	}
}

func TestSetupNotNeededAfterCLIUser(t *testing.T) {
	e := newEnv(t)
	code := e.svc.SetupCode()
	// The command line runs in another process: it writes the store only.
	other, err := New(Config{Store: e.st, Password: testParams})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.CreateUser(t.Context(), NewUser{Username: "ops", Role: RoleAdmin, Password: "ops-password"}); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	if r := c.do("GET", "/api/v1/auth/setup", nil); r.body["needed"] != false {
		t.Fatalf("status %s", r.raw)
	}
	wantStatus(t, "setup", c.send("POST", "/api/v1/auth/setup", map[string]string{"code": code, "username": "late", "password": "late-password"}, nil), http.StatusConflict, "conflict")
}

func TestInvites(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.PublicURL = "https://meet.example.com" })
	admin := e.signedIn(e.user("root", RoleAdmin))
	member := e.signedIn(e.user("mo", RoleMember))
	wantStatus(t, "member invites", member.do("POST", "/api/v1/invites", map[string]string{"role": "member"}), http.StatusForbidden, "forbidden")
	wantStatus(t, "bad role", admin.do("POST", "/api/v1/invites", map[string]string{"role": "owner"}), http.StatusBadRequest, "bad_request")
	wantStatus(t, "bad ttl", admin.do("POST", "/api/v1/invites", map[string]string{"ttl": "900h"}), http.StatusBadRequest, "bad_request")

	r := admin.do("POST", "/api/v1/invites", map[string]string{"role": "agent", "ttl": "48h"})
	wantStatus(t, "invite", r, http.StatusCreated, "")
	token := r.body["token"].(string)
	link, _ := url.Parse(r.body["url"].(string))
	if link.Host != "meet.example.com" || link.Path != "/invite/"+token || r.body["role"] != "agent" {
		t.Fatalf("invite %s", r.raw)
	}
	if exp, _ := time.Parse(time.RFC3339, r.body["expiresAt"].(string)); !exp.Equal(e.clock.Now().Add(48 * time.Hour)) {
		t.Fatalf("expires %v", r.body["expiresAt"])
	}
	list := admin.do("GET", "/api/v1/invites", nil)
	if invs := list.body["invites"].([]any); len(invs) != 1 || strings.Contains(list.raw, token) {
		t.Fatalf("list %s", list.raw)
	}

	accept := func(token, username string) result {
		return e.client().send("POST", "/api/v1/auth/accept-invite", map[string]string{"token": token,
			"username": username, "displayName": "New Person", "password": "new-person-pw"}, nil)
	}
	wantStatus(t, "taken username", accept(token, "mo"), http.StatusConflict, "conflict")
	wantStatus(t, "wrong token", accept(token+"x", "newbie"), http.StatusNotFound, "not_found")
	a := accept(token, "newbie")
	wantStatus(t, "accept", a, http.StatusCreated, "")
	if u := a.body["user"].(map[string]any); u["role"] != RoleAgent || u["username"] != "newbie" || a.body["csrfToken"] == "" {
		t.Fatalf("accepted %s", a.raw)
	}
	if !strings.Contains(a.header.Get("Set-Cookie"), CookieName+"=") {
		t.Fatal("accepting did not sign in")
	}
	wantStatus(t, "second use", accept(token, "another"), http.StatusNotFound, "not_found")

	// Expiry: the default is 7 days.
	r = admin.do("POST", "/api/v1/invites", nil)
	wantStatus(t, "default invite", r, http.StatusCreated, "")
	if r.body["role"] != RoleMember {
		t.Fatalf("default role %v", r.body["role"])
	}
	e.clock.Add(7*24*time.Hour + time.Second)
	wantStatus(t, "expired", accept(r.body["token"].(string), "late"), http.StatusNotFound, "not_found")

	// Withdrawn invitations stop working.
	r = admin.do("POST", "/api/v1/invites", nil)
	wantStatus(t, "withdraw", admin.do("DELETE", "/api/v1/invites/"+r.body["id"].(string), nil), http.StatusNoContent, "")
	wantStatus(t, "withdrawn", accept(r.body["token"].(string), "nobody"), http.StatusNotFound, "not_found")
	wantStatus(t, "withdraw again", admin.do("DELETE", "/api/v1/invites/"+r.body["id"].(string), nil), http.StatusNotFound, "not_found")
}

func TestUsersAPI(t *testing.T) {
	e := newEnv(t)
	rootU := e.user("root", RoleAdmin)
	root := e.signedIn(rootU)
	u := e.user("nina", RoleMember)
	if _, err := e.st.UpdateUser(t.Context(), u.ID, store.UserChanges{Email: ptr("nina@example.com")}); err != nil {
		t.Fatal(err)
	}
	nina := e.signedIn(u)
	other := e.user("olaf", RoleMember)

	// The directory: everyone sees everyone, but e-mail only for themself.
	r := nina.do("GET", "/api/v1/users", nil)
	wantStatus(t, "list", r, http.StatusOK, "")
	users := r.body["users"].([]any)
	if len(users) != 3 || strings.Contains(r.raw, "argon2") || strings.Contains(r.raw, "Hash") {
		t.Fatalf("list %s", r.raw)
	}
	for _, x := range users {
		m := x.(map[string]any)
		_, hasCreated := m["createdAt"]
		if (m["username"] == "nina") != hasCreated {
			t.Fatalf("member sees %v", m)
		}
	}
	if r := root.do("GET", "/api/v1/users/"+u.ID, nil); r.body["email"] != "nina@example.com" {
		t.Fatalf("admin sees %s", r.raw)
	}
	if r := nina.do("GET", "/api/v1/users/me", nil); r.body["id"] != u.ID || r.body["email"] != "nina@example.com" {
		t.Fatalf("me %s", r.raw)
	}
	wantStatus(t, "unknown user", nina.do("GET", "/api/v1/users/nope", nil), http.StatusNotFound, "not_found")
	wantStatus(t, "signed out", e.client().do("GET", "/api/v1/users", nil), http.StatusUnauthorized, "unauthorized")

	for _, tc := range []struct {
		name   string
		c      *client
		id     string
		body   map[string]any
		status int
		code   string
	}{
		{"rename self", nina, "me", map[string]any{"displayName": "  Nina N.  "}, 200, ""},
		{"empty name", nina, u.ID, map[string]any{"displayName": " "}, 400, "bad_request"},
		{"control character", nina, u.ID, map[string]any{"displayName": "a\x07b"}, 400, "bad_request"},
		{"own role", nina, u.ID, map[string]any{"role": "admin"}, 403, "forbidden"},
		{"own email", nina, u.ID, map[string]any{"email": "x@example.com"}, 403, "forbidden"},
		{"rename other", nina, other.ID, map[string]any{"displayName": "X"}, 403, "forbidden"},
		{"admin sets role", root, other.ID, map[string]any{"role": "agent", "email": "Olaf@Example.com"}, 200, ""},
		{"admin bad role", root, other.ID, map[string]any{"role": "king"}, 400, "bad_request"},
		{"admin bad email", root, other.ID, map[string]any{"email": "olaf"}, 400, "bad_request"},
		{"admin taken email", root, other.ID, map[string]any{"email": "nina@example.com"}, 409, "conflict"},
		{"demote the last admin", root, rootU.ID, map[string]any{"role": "member"}, 409, "conflict"},
		{"disable the last admin", root, "me", map[string]any{"disabled": true}, 409, "conflict"},
		{"unknown", root, "nope", map[string]any{"displayName": "X"}, 404, "not_found"},
		{"unknown field", root, other.ID, map[string]any{"passwordHash": "x"}, 400, "bad_request"},
	} {
		r := tc.c.do("PATCH", "/api/v1/users/"+tc.id, tc.body)
		wantStatus(t, tc.name, r, tc.status, tc.code)
	}
	if got, _ := e.st.User(t.Context(), u.ID); got.DisplayName != "Nina N." || got.Role != RoleMember {
		t.Fatalf("nina is %+v", got)
	}
	if got, _ := e.st.User(t.Context(), other.ID); got.Role != RoleAgent || got.Email != "olaf@example.com" {
		t.Fatalf("olaf is %+v", got)
	}
}

func ptr[T any](v T) *T { return &v }

func TestChangePassword(t *testing.T) {
	e := newEnv(t)
	u := e.user("pat", RoleMember)
	laptop, phone := e.signedIn(u), e.signedIn(u)
	change := func(old, new string) result {
		return laptop.do("POST", "/api/v1/users/me/password", map[string]string{"old": old, "new": new})
	}
	wantStatus(t, "wrong old", change("not-the-password", "brand-new-password"), http.StatusForbidden, "forbidden")
	wantStatus(t, "short new", change("pat-password", "short"), http.StatusBadRequest, "bad_request")
	wantStatus(t, "change", change("pat-password", "brand-new-password"), http.StatusNoContent, "")
	wantStatus(t, "this device stays", laptop.do("GET", "/api/v1/auth/session", nil), http.StatusOK, "")
	wantStatus(t, "other devices end", phone.do("GET", "/api/v1/auth/session", nil), http.StatusUnauthorized, "unauthorized")
	wantStatus(t, "old password", e.client().send("POST", "/api/v1/auth/login", map[string]string{"username": "pat", "password": "pat-password"}, nil), http.StatusUnauthorized, "unauthorized")
	e.client().login("pat", "brand-new-password")

	// Guessing the current password through a forgotten session locks too.
	for range 5 {
		change("guess-guess-guess", "another-new-password")
	}
	wantStatus(t, "locked", change("brand-new-password", "another-new-password"), http.StatusTooManyRequests, "locked")
}

func TestResetPasswordAndTOTP(t *testing.T) {
	e := newEnv(t)
	u := e.user("quinn", RoleMember)
	c := e.signedIn(u)
	if err := e.svc.ResetPassword(t.Context(), u.ID, "short"); err == nil {
		t.Fatal("short password accepted")
	}
	if err := e.svc.ResetPassword(t.Context(), u.ID, "reset-password-1"); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "after reset", c.do("GET", "/api/v1/auth/session", nil), http.StatusUnauthorized, "unauthorized")
	c.login("quinn", "reset-password-1")
	if err := e.st.SetTOTPPending(t.Context(), u.ID, "JBSWY3DPEHPK3PXP"); err != nil {
		t.Fatal(err)
	}
	if err := e.st.EnableTOTP(t.Context(), u.ID, "JBSWY3DPEHPK3PXP", 1); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.ResetTOTP(t.Context(), u.ID); err != nil {
		t.Fatal(err)
	}
	e.client().login("quinn", "reset-password-1")
}

func TestCreateUserValidation(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		nu   NewUser
		ok   bool
	}{
		{"fine", NewUser{Username: "Ren.A_b-1", Role: RoleMember, Password: "long-enough-pw"}, true},
		{"space", NewUser{Username: "ren a", Role: RoleMember, Password: "long-enough-pw"}, false},
		{"at", NewUser{Username: "@ren", Role: RoleMember, Password: "long-enough-pw"}, false},
		{"too long", NewUser{Username: strings.Repeat("r", 33), Role: RoleMember, Password: "long-enough-pw"}, false},
		{"no role", NewUser{Username: "ren2", Password: "long-enough-pw"}, false},
		{"short password", NewUser{Username: "ren3", Role: RoleMember, Password: "123456789"}, false},
		{"bad email", NewUser{Username: "ren4", Role: RoleMember, Password: "long-enough-pw", Email: "Ren <ren@example.com>"}, false},
		{"long display name", NewUser{Username: "ren5", Role: RoleMember, Password: "long-enough-pw", DisplayName: strings.Repeat("é", 65)}, false},
	} {
		_, err := e.svc.CreateUser(ctx, tc.nu)
		var ie *InvalidError
		if tc.ok != (err == nil) || (err != nil && !errors.As(err, &ie)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	u, err := e.svc.UserByUsername(ctx, "REN.A_B-1")
	if err != nil || u.Username != "ren.a_b-1" || u.DisplayName != "ren.a_b-1" {
		t.Fatalf("created %+v, %v", u, err)
	}
	if _, err := e.svc.CreateUser(ctx, NewUser{Username: "ren.a_b-1", Role: RoleMember, Password: "long-enough-pw"}); !errors.Is(err, store.ErrUsernameTaken) {
		t.Fatalf("duplicate: %v", err)
	}
	if users, err := e.svc.Users(ctx); err != nil || len(users) != 1 {
		t.Fatalf("Users = %v, %v", users, err)
	}
	if got, err := e.svc.User(ctx, u.ID); err != nil || got.ID != u.ID {
		t.Fatalf("User = %v, %v", got, err)
	}
}

func TestRehashOnLogin(t *testing.T) {
	e := newEnv(t)
	u := e.user("sam", RoleMember)
	// The same store, served with stronger parameters (an upgrade).
	stronger := testParams
	stronger.Memory = 128
	svc, err := New(Config{Store: e.st, Password: stronger, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Routes(mux)
	e.mux = mux
	e.srv.Config.Handler = mux
	e.client().login("sam", "sam-password")
	got, _ := e.st.User(t.Context(), u.ID)
	if got.PasswordHash == u.PasswordHash || !strings.HasPrefix(got.PasswordHash, "$argon2id$v=19$m=128,t=1,p=1$") {
		t.Fatalf("hash not renewed: %s", got.PasswordHash)
	}
	e.client().login("sam", "sam-password")
}

func TestAPITokens(t *testing.T) {
	e := newEnv(t)
	u := e.user("tara", RoleMember)
	c := e.signedIn(u)
	wantStatus(t, "unnamed", c.do("POST", "/api/v1/auth/tokens", map[string]string{"name": " "}), http.StatusBadRequest, "bad_request")
	r := c.do("POST", "/api/v1/auth/tokens", map[string]string{"name": "CI bot"})
	wantStatus(t, "create", r, http.StatusCreated, "")
	token := r.body["token"].(string)
	if !strings.HasPrefix(token, "sbu_") || len(token) < 50 {
		t.Fatalf("token %q", token)
	}
	bot := &client{e: e, hc: http.DefaultClient, bearer: token}
	// A token needs no CSRF token, even to change things.
	wantStatus(t, "bot renames", bot.do("PATCH", "/api/v1/users/me", map[string]string{"displayName": "Tara (bot)"}), http.StatusOK, "")
	s := bot.do("GET", "/api/v1/auth/session", nil)
	if s.body["csrfToken"] != "" || s.body["user"].(map[string]any)["username"] != "tara" {
		t.Fatalf("bot session %s", s.raw)
	}
	req := bearerRequest("POST", token)
	if id, err := e.svc.Authenticate(req); err != nil || !id.ViaToken || id.UserID != u.ID || id.SessionID != r.body["id"] {
		t.Fatalf("Authenticate = %+v, %v", id, err)
	}
	// But not account security.
	for _, p := range []struct{ method, path string }{
		{"POST", "/api/v1/auth/tokens"}, {"GET", "/api/v1/auth/tokens"}, {"GET", "/api/v1/auth/sessions"},
		{"POST", "/api/v1/users/me/password"}, {"POST", "/api/v1/auth/totp/setup"},
	} {
		wantStatus(t, "bot "+p.path, bot.do(p.method, p.path, map[string]string{}), http.StatusForbidden, "forbidden")
	}
	wantStatus(t, "bot logout", bot.do("POST", "/api/v1/auth/logout", nil), http.StatusBadRequest, "bad_request")

	list := c.do("GET", "/api/v1/auth/tokens", nil)
	toks := list.body["tokens"].([]any)
	if len(toks) != 1 || strings.Contains(list.raw, token) || toks[0].(map[string]any)["lastUsedAt"] == nil {
		t.Fatalf("list %s", list.raw)
	}
	other := e.signedIn(e.user("uma", RoleMember))
	id := r.body["id"].(string)
	wantStatus(t, "revoke another's", other.do("DELETE", "/api/v1/auth/tokens/"+id, nil), http.StatusNotFound, "not_found")
	wantStatus(t, "revoke", c.do("DELETE", "/api/v1/auth/tokens/"+id, nil), http.StatusNoContent, "")
	wantStatus(t, "revoked", bot.do("GET", "/api/v1/users", nil), http.StatusUnauthorized, "unauthorized")
	wantStatus(t, "made up", (&client{e: e, hc: http.DefaultClient, bearer: "sbu_nope"}).do("GET", "/api/v1/users", nil), http.StatusUnauthorized, "unauthorized")
}

func bearerRequest(method, bearer string) *http.Request {
	r, _ := http.NewRequestWithContext(context.Background(), method, "http://example.com/x", nil)
	r.Header.Set("Authorization", "Bearer "+bearer)
	return r
}

func TestRequire(t *testing.T) {
	e := newEnv(t)
	u := e.user("vera", RoleMember)
	c := e.signedIn(u)
	var got Identity
	e.mux.HandleFunc("POST /chat", e.svc.Require(func(w http.ResponseWriter, r *http.Request, id Identity) {
		got = id
		w.WriteHeader(http.StatusNoContent)
	}))
	wantStatus(t, "signed out", e.client().do("POST", "/chat", nil), http.StatusUnauthorized, "unauthorized")
	wantStatus(t, "no CSRF", c.send("POST", "/chat", nil, nil), http.StatusForbidden, "forbidden")
	wantStatus(t, "ok", c.do("POST", "/chat", nil), http.StatusNoContent, "")
	if got.UserID != u.ID || got.Username != "vera" || got.DisplayName != "vera" || got.Role != RoleMember || got.ViaToken {
		t.Fatalf("identity %+v", got)
	}
}
