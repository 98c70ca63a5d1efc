package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/internal/account"
	"switchboard/internal/client"
	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// member creates a user with an API token, for REST calls as that user.
func member(t *testing.T, a *App, id string) string {
	t.Helper()
	ctx := context.Background()
	if err := a.store.CreateUser(ctx, store.User{ID: id, Username: id, DisplayName: id, Role: "member"}); err != nil {
		t.Fatal(err)
	}
	tok, err := a.accounts.CreateToken(ctx, id, "test")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// send makes a request; its body is closed when the test ends.
func send(t *testing.T, method, url string, header http.Header, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// request sends body as text with the API token, if any.
func request(t *testing.T, method, url, token, body string) *http.Response {
	t.Helper()
	h := http.Header{"Content-Type": {"text/plain"}}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return send(t, method, url, h, body)
}

// A file shared in a conversation is served to its members only: not to
// other users, not to anyone through the meetings' public file links.
func TestConversationFilesStayPrivate(t *testing.T) {
	a := startServer(t, nil)
	alice, mallory := member(t, a, "alice"), member(t, a, "mallory")
	member(t, a, "bob")
	if _, err := a.store.CreateConversation(context.Background(),
		store.Conversation{ID: "secret", Kind: store.Group, CreatedBy: "alice"}, []string{"alice", "bob"}); err != nil {
		t.Fatal(err)
	}

	resp := request(t, "POST", a.URL()+"/api/v1/conversations/secret/files?name=plan.txt", alice, "the plan")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %s", resp.Status)
	}
	var fi protocol.FileInfo
	if err := json.NewDecoder(resp.Body).Decode(&fi); err != nil {
		t.Fatal(err)
	}
	if want := "/api/v1/conversations/secret/files/" + fi.ID; fi.URL != want {
		t.Fatalf("upload answered URL %q, want %q", fi.URL, want)
	}

	cases := []struct {
		name, url, token string
		status           int
	}{
		{"member", fi.URL, alice, http.StatusOK},
		{"non-member", fi.URL, mallory, http.StatusNotFound}, // not even its existence is told
		{"anonymous", fi.URL, "", http.StatusUnauthorized},
		{"meeting link to the same file", "/api/v1/rooms/conv:secret/files/" + fi.ID, "", http.StatusNotFound},
		{"escaped meeting link", "/api/v1/rooms/conv%3Asecret/files/" + fi.ID, "", http.StatusNotFound},
	}
	for _, c := range cases {
		resp := request(t, "GET", a.URL()+c.url, c.token, "")
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != c.status {
			t.Errorf("%s: %s (%s), want %d", c.name, resp.Status, body, c.status)
		}
		if c.status != http.StatusOK && strings.Contains(string(body), "the plan") {
			t.Errorf("%s: the file leaked", c.name)
		}
	}

	// An archived conversation takes no more files; its files still download.
	archived := true
	if _, err := a.store.UpdateConversation(context.Background(), "secret", nil, nil, &archived); err != nil {
		t.Fatal(err)
	}
	if resp := request(t, "POST", a.URL()+"/api/v1/conversations/secret/files?name=more.txt", alice, "more"); resp.StatusCode != http.StatusConflict {
		t.Errorf("upload to an archived conversation: %s", resp.Status)
	}
	if resp := request(t, "GET", a.URL()+fi.URL, alice, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("download from an archived conversation: %s", resp.Status)
	}
}

// browserSession signs username in as a browser does: a session cookie and
// its CSRF token.
type browserSession struct {
	cookie, csrf string
}

func signIn(t *testing.T, a *App, username, password string) browserSession {
	t.Helper()
	req, _ := http.NewRequest("POST", a.URL()+"/api/v1/auth/login",
		strings.NewReader(`{"username":"`+username+`","password":"`+password+`"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ CSRFToken string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in: %s %v", resp.Status, err)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "sb_session" {
			return browserSession{cookie: c.Name + "=" + c.Value, csrf: body.CSRFToken}
		}
	}
	t.Fatal("no session cookie")
	return browserSession{}
}

func (b browserSession) header() http.Header {
	return http.Header{"Cookie": {b.cookie}, "X-Csrf-Token": {b.csrf}}
}

func (b browserSession) do(t *testing.T, method, url, body string) *http.Response {
	t.Helper()
	h := b.header()
	if body != "" {
		h.Set("Content-Type", "application/json")
	}
	return send(t, method, url, h, body)
}

// connect opens a messaging socket with header's credentials, dropped when the test ends.
func connect(t *testing.T, a *App, header http.Header) *client.Messenger {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	header.Set("Origin", a.URL())
	m, err := client.DialMessenger(ctx, "ws"+strings.TrimPrefix(a.URL(), "http")+"/api/v1/connect", header, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Drop)
	return m
}

// A messaging socket does not outlive its credential: signing out a session
// or revoking an API token closes the sockets opened with it (and no
// other), and disabling the account closes them all.
func TestSocketsCloseWhenCredentialsEnd(t *testing.T) {
	a := startServer(t, nil)
	ctx := context.Background()
	if _, err := a.accounts.CreateUser(ctx, account.NewUser{Username: "dave", Role: "member", Password: "a long enough password"}); err != nil {
		t.Fatal(err)
	}
	laptop, phone := signIn(t, a, "dave", "a long enough password"), signIn(t, a, "dave", "a long enough password")
	open := func(h http.Header) *client.Messenger { return connect(t, a, h) }
	closed := func(m *client.Messenger) bool {
		select {
		case <-m.Done():
			return true
		case <-time.After(5 * time.Second):
			return false
		}
	}
	stillOpen := func(what string, m *client.Messenger) {
		t.Helper()
		select {
		case <-m.Done():
			t.Fatalf("%s closed a socket it should not have", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
	onLaptop, onPhone := open(laptop.header()), open(phone.header())

	if resp := phone.do(t, "POST", a.URL()+"/api/v1/auth/logout", ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("sign-out: %s", resp.Status)
	}
	if !closed(onPhone) {
		t.Fatal("the socket of a session signed out stays open")
	}
	stillOpen("signing out the phone", onLaptop)

	resp := laptop.do(t, "POST", a.URL()+"/api/v1/auth/tokens", `{"name":"bot"}`)
	var created struct{ ID, Token string }
	if err := json.NewDecoder(resp.Body).Decode(&created); err != nil || created.Token == "" {
		t.Fatalf("create token: %s %v", resp.Status, err)
	}
	bot := open(http.Header{"Authorization": {"Bearer " + created.Token}})
	if resp := laptop.do(t, "DELETE", a.URL()+"/api/v1/auth/tokens/"+created.ID, ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke: %s", resp.Status)
	}
	if !closed(bot) {
		t.Fatal("the socket of a revoked token stays open")
	}
	stillOpen("revoking the token", onLaptop)

	u, err := a.store.UserByUsername(ctx, "dave")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.store.SavePushSubscription(ctx, store.PushSubscription{Endpoint: "https://push.example/dave",
		UserID: u.ID, P256dh: "key", Auth: "auth"}, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := a.accounts.SetDisabled(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if !closed(onLaptop) {
		t.Fatal("a disabled user's socket stays open")
	}
	if subs, err := a.store.PushSubscriptions(ctx, u.ID); err != nil || len(subs) != 0 {
		t.Fatalf("a disabled user keeps %d push subscriptions (%v)", len(subs), err)
	}
}

// `switchboard user disable` runs in another process: the server learns of
// it from the store, in the sweep that closes sockets whose credential is no
// longer live. The sweep leaves everyone else connected.
func TestSweepClosesSocketsDisabledElsewhere(t *testing.T) {
	a := startServer(t, nil)
	ctx := context.Background()
	for _, name := range []string{"erin", "fred"} {
		if _, err := a.accounts.CreateUser(ctx, account.NewUser{Username: name, Role: "member", Password: "a long enough password"}); err != nil {
			t.Fatal(err)
		}
	}
	open := func(name string) *client.Messenger {
		return connect(t, a, signIn(t, a, name, "a long enough password").header())
	}
	erin, fred := open("erin"), open("fred")

	// What the command does, in its own process: straight to the store.
	u, err := a.store.UserByUsername(ctx, "erin")
	if err != nil {
		t.Fatal(err)
	}
	disabled := true
	if _, err := a.store.UpdateUser(ctx, u.ID, store.UserChanges{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	asOf := time.Now()
	live, err := a.store.LiveCredentials(ctx, asOf)
	if err != nil {
		t.Fatal(err)
	}
	// A device that connects after the list was read is not judged by it.
	latecomer := connect(t, a, signIn(t, a, "fred", "a long enough password").header())
	if n := a.chat.DisconnectUnless(live, asOf); n != 1 {
		t.Fatalf("the sweep closed %d sockets, want 1", n)
	}
	select {
	case <-erin.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the socket of a user disabled from the command line stays open")
	}
	select {
	case <-fred.Done():
		t.Fatal("the sweep closed someone else's socket")
	case <-latecomer.Done():
		t.Fatal("the sweep closed a socket opened after its list was read")
	case <-time.After(100 * time.Millisecond):
	}
}
