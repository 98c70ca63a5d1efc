package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

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

func request(t *testing.T, method, url, token, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
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
}
