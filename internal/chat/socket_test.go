package chat

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// rawDevice is a socket that sends whatever a test writes, as a broken or
// hostile client would.
type rawDevice struct {
	t  *testing.T
	ws *websocket.Conn
}

func (h *harness) raw(u store.User, origin string) (*rawDevice, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hdr := http.Header{"X-Test-User": {u.ID}}
	if origin != "" {
		hdr.Set("Origin", origin)
	}
	ws, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(h.srv.URL, "http")+"/api/v1/connect", &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		return nil, resp, err
	}
	ws.SetReadLimit(1 << 20)
	d := &rawDevice{t: h.t, ws: ws}
	h.t.Cleanup(func() { ws.CloseNow() })
	if typ := d.next()["type"]; typ != "ready" {
		h.t.Fatalf("first frame is %v, not ready", typ)
	}
	return d, resp, nil
}

func (d *rawDevice) send(frame string) {
	d.t.Helper()
	if err := d.ws.Write(context.Background(), websocket.MessageText, []byte(frame)); err != nil {
		d.t.Fatalf("write: %v", err)
	}
}

// next is the next frame that is not an event or presence (nil when the socket closed).
func (d *rawDevice) next() map[string]any {
	d.t.Helper()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, data, err := d.ws.Read(ctx)
		cancel()
		if err != nil {
			return nil
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			d.t.Fatalf("server sent a frame that is not JSON: %.100s", data)
		}
		if m["type"] != "presence" && m["type"] != "event" {
			return m
		}
	}
}

// A frame too large, even when it is JSON, is answered by its id, so the
// client's request ends instead of timing out; the socket stays open.
func TestOversizedFrameAnsweredByID(t *testing.T) {
	h := newHarness(t, options{})
	d, _, err := h.raw(h.user("alice", "member"), "")
	if err != nil {
		t.Fatal(err)
	}
	d.send(`{"type":"ping","id":"big","pad":"` + strings.Repeat("x", protocol.MaxFrame) + `"}`)
	if m := d.next(); m["type"] != "error" || m["id"] != "big" || m["code"] != protocol.CodeTooLarge {
		t.Fatalf("got %v, want a too_large error for request big", m)
	}
	d.send(`{"type":"ping","id":"after"}`)
	if m := d.next(); m == nil || m["id"] != "after" {
		t.Fatalf("socket unusable after an oversized frame: %v", m)
	}
}

// Malformed frames count against the rate limit like any other, and a
// client that keeps flooding is disconnected.
func TestFloodOfMalformedFramesIsCut(t *testing.T) {
	h := newHarness(t, options{})
	d, _, err := h.raw(h.user("mallory", "member"), "")
	if err != nil {
		t.Fatal(err)
	}
	// A burst of 60 is allowed; of 80 malformed frames, about 20 are refused.
	for range 80 {
		d.send(`{"type":`)
	}
	limited, malformed := 0, 0
	for limited+malformed < 80 {
		m := d.next()
		if m == nil {
			t.Fatalf("socket closed after %d answers", limited+malformed)
		}
		switch m["code"] {
		case protocol.CodeRateLimited:
			limited++
		case protocol.CodeBadRequest:
			malformed++
		}
	}
	if limited < 10 {
		t.Fatalf("%d of 80 malformed frames at once were rate limited, want about 20", limited)
	}
	// Keep flooding: after 100 refusals the server closes the socket.
	for range 200 {
		if d.ws.Write(context.Background(), websocket.MessageText, []byte(`{"type":`)) != nil {
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, _, err := d.ws.Read(ctx); err != nil {
			if ctx.Err() != nil {
				t.Fatal("a client flooding the server was never disconnected")
			}
			return
		}
	}
}

// Another site's page cannot open the socket with the person's cookie; the
// page's own origin can.
func TestSocketOrigin(t *testing.T) {
	h := newHarness(t, options{})
	u := h.user("alice", "member")
	if _, resp, err := h.raw(u, "https://evil.example"); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: err %v, response %v; want 403", err, resp)
	}
	if _, _, err := h.raw(u, h.srv.URL); err != nil {
		t.Fatalf("own origin refused: %v", err)
	}
}

// allowed_origins entries are whole origins (scheme and host); host
// patterns work too.
func TestOriginPatterns(t *testing.T) {
	check := upgrader([]string{"https://www.example.com", "*.example.org"}).CheckOrigin
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"https://www.example.com", true},
		{"http://www.example.com", false}, // another scheme is another origin
		{"https://evil.example.com", false},
		{"https://chat.example.org", true},
		{"https://switchboard.test", true}, // the page's own origin
		{"", true},                         // not a browser
		{"null", false},
	} {
		r := httptest.NewRequest("GET", "http://switchboard.test/api/v1/connect", nil)
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		if got := check(r); got != tc.ok {
			t.Errorf("origin %q allowed: %v, want %v", tc.origin, got, tc.ok)
		}
	}
	if !upgrader([]string{"*"}).CheckOrigin(func() *http.Request {
		r := httptest.NewRequest("GET", "http://switchboard.test/", nil)
		r.Header.Set("Origin", "https://anywhere.example")
		return r
	}()) {
		t.Error(`allowed_origins "*" refused an origin`)
	}
}
