package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"switchboard/internal/auth"
	"switchboard/internal/client"
	"switchboard/internal/config"
	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// rawSocket is a signalling socket driven by hand, for bad input.
type rawSocket struct {
	t  *testing.T
	ws *websocket.Conn
}

func rawDial(t *testing.T, a *App) *rawSocket {
	t.Helper()
	ws, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(a.URL(), "http")+"/api/v1/signal", nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(1 << 20)
	t.Cleanup(func() { ws.CloseNow() })
	return &rawSocket{t, ws}
}

func (s *rawSocket) send(msg string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.ws.Write(ctx, websocket.MessageText, []byte(msg))
}

// expectError sends msg and returns the error code of the reply.
func (s *rawSocket) expectError(msg string) string {
	s.t.Helper()
	if err := s.send(msg); err != nil {
		s.t.Fatalf("send: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		_, data, err := s.ws.Read(ctx)
		if err != nil {
			s.t.Fatalf("no reply to %.60s: %v", msg, err)
		}
		var e protocol.Error
		json.Unmarshal(data, &e)
		if e.Type == "error" {
			return e.Code
		}
	}
}

func TestBadInput(t *testing.T) {
	a := startServer(t, nil)
	// Someone is in a meeting the whole time; they must keep being served.
	alice := dial(t, a, "steady", "Alice", nil)

	s := rawDial(t, a)
	tests := []struct{ name, msg, code string }{
		{"malformed JSON", `{"type":"join",`, protocol.CodeBadRequest},
		{"not an object", `"hello"`, protocol.CodeBadRequest},
		{"unknown type", `{"type":"explode","id":"1"}`, protocol.CodeUnknownType},
		{"before join", `{"type":"chat","id":"2","text":"hi"}`, protocol.CodeNotJoined},
		{"wrong version", `{"type":"join","id":"3","v":7,"room":"r","name":"x"}`, protocol.CodeUnsupportedVersion},
		{"bad room id", `{"type":"join","id":"4","v":1,"room":"a/b","name":"x"}`, protocol.CodeBadRequest},
		{"no name", `{"type":"join","id":"5","v":1,"room":"r"}`, protocol.CodeBadRequest},
		{"garbage token", `{"type":"join","id":"6","v":1,"room":"r","name":"x","token":"abc.def.ghi"}`, protocol.CodeUnauthorized},
		{"unknown resume", `{"type":"join","id":"7","v":1,"room":"r","resume":"nope"}`, protocol.CodeUnauthorized},
	}
	for _, tt := range tests {
		if got := s.expectError(tt.msg); got != tt.code {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.code)
		}
	}

	// An oversized frame is refused and the socket closed.
	big := rawDial(t, a)
	if got := big.expectError(`{"type":"ping","id":"` + strings.Repeat("x", protocol.MaxFrame) + `"}`); got != protocol.CodeTooLarge {
		t.Errorf("oversized frame: got %q", got)
	}

	// A flood is rate limited.
	flood := rawDial(t, a)
	limited := false
	for i := 0; i < 300 && !limited; i++ {
		flood.send(`{"type":"ping"}`)
	}
	for i := 0; i < 5 && !limited; i++ {
		limited = flood.expectError(`{"type":"ping","id":"x"}`) == protocol.CodeRateLimited
	}
	if !limited {
		t.Error("300 messages at once should hit the rate limit")
	}

	// Alice was served throughout.
	if _, err := alice.Request(context.Background(), &protocol.Chat{Text: "still here"}); err != nil {
		t.Fatalf("the server stopped serving others: %v", err)
	}
}

func TestTokens(t *testing.T) {
	a := startServer(t, func(c *config.Config) { c.Rooms.OpenCreation = false })
	id, secret := auth.NewAPIKey()
	if err := a.Store().CreateAPIKey(context.Background(), store.APIKey{ID: id, Secret: secret, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	mint := func(c auth.Claims) string {
		if c.ExpiresAt.IsZero() {
			c.ExpiresAt = time.Now().Add(time.Hour)
		}
		c.IssuedAt = time.Now().Add(-time.Minute)
		tok, err := auth.Mint(id, []byte(secret), c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	join := func(room, token string) error {
		cl, err := client.Dial(context.Background(), a.URL(), newAPI(t), protocol.Join{Room: room, Name: "x", Token: token}, nil)
		if err == nil {
			cl.Close()
		}
		return err
	}
	code := func(err error) string {
		var pe *protocol.Error
		if errors.As(err, &pe) {
			return pe.Code
		}
		return ""
	}
	full := auth.Claims{Identity: "u1", Join: true, Publish: true, Subscribe: true}

	if got := code(join("r1", "")); got != protocol.CodeForbidden {
		t.Errorf("no token on a closed server: %q, want forbidden", got)
	}
	withCreate := full
	withCreate.Create = true
	if err := join("r1", mint(withCreate)); err != nil {
		t.Fatalf("token with create grant: %v", err)
	}
	if got := code(join("r2", mint(full))); got != protocol.CodeNotFound {
		t.Errorf("unknown room without create grant: %q, want not_found", got)
	}
	expired := withCreate
	expired.ExpiresAt = time.Now().Add(-time.Hour)
	expired.IssuedAt = time.Now().Add(-2 * time.Hour)
	tok, _ := auth.Mint(id, []byte(secret), expired)
	if got := code(join("r1", tok)); got != protocol.CodeTokenExpired {
		t.Errorf("expired token: %q", got)
	}
	noJoin := withCreate
	noJoin.Join = false
	if got := code(join("r1", mint(noJoin))); got != protocol.CodeForbidden {
		t.Errorf("token without join grant: %q", got)
	}
	other := withCreate
	other.Room = "elsewhere"
	if got := code(join("r1", mint(other))); got != protocol.CodeForbidden {
		t.Errorf("token for another room: %q", got)
	}
	withCreate.ExpiresAt = time.Now().Add(time.Hour)
	forged, err := auth.Mint(id, []byte(strings.Repeat("not-the-secret-", 4)), withCreate)
	if err != nil {
		t.Fatal(err)
	}
	if got := code(join("r1", forged)); got != protocol.CodeUnauthorized {
		t.Errorf("token signed with the wrong secret: %q", got)
	}
	// Without the publish grant, offers are refused.
	viewer := withCreate
	viewer.Publish = false
	cl, err := client.Dial(context.Background(), a.URL(), newAPI(t), protocol.Join{Room: "r1", Name: "v", Token: mint(viewer)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	_, err = cl.Request(context.Background(), &protocol.Offer{PC: "pub", SDP: "v=0\r\n"})
	if got := code(err); got != protocol.CodeForbidden {
		t.Errorf("offer without publish grant: %q", got)
	}

	// REST: creating a room needs credentials here; the API key works, and so does a minted token.
	resp, _ := http.Post(a.URL()+"/api/v1/rooms", "application/json", nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous room creation on a closed server: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("POST", a.URL()+"/api/v1/tokens", strings.NewReader(`{"identity":"bot","room":"r9","join":true,"ttl":"10m"}`))
	req.SetBasicAuth(id, secret)
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("minting a token over REST: %v %v", err, resp.Status)
	}
	var minted struct{ Token string }
	json.NewDecoder(resp.Body).Decode(&minted)
	claims, err := a.verifyToken(minted.Token)
	if err != nil || claims.Room != "r9" || !claims.Join || claims.Create {
		t.Errorf("minted token claims %+v, %v", claims, err)
	}
	req, _ = http.NewRequest("POST", a.URL()+"/api/v1/tokens", strings.NewReader(`{"identity":"bot","ttl":"100h"}`))
	req.SetBasicAuth(id, secret)
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a token living 100h must be refused, got %d", resp.StatusCode)
	}
	req, _ = http.NewRequest("GET", a.URL()+"/api/v1/rooms", nil)
	req.SetBasicAuth(id, "wrong")
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("listing rooms with a wrong secret: %d", resp.StatusCode)
	}
	req.SetBasicAuth(id, secret)
	resp, _ = http.DefaultClient.Do(req)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"id":"r1"`)) {
		t.Errorf("listing rooms: %d %s", resp.StatusCode, body)
	}
}
