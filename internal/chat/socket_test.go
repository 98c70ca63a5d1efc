package chat

import (
	"context"
	"encoding/json"
	"net/http"
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
// client that keeps flooding is disconnected; one that pauses is not
// punished later for an old burst.
func TestFloodOfMalformedFramesIsCut(t *testing.T) {
	h := newHarness(t, options{})
	d, _, err := h.raw(h.user("mallory", "member"), "")
	if err != nil {
		t.Fatal(err)
	}
	limited := 0
	for i := 0; i < 400; i++ {
		if err := d.ws.Write(context.Background(), websocket.MessageText, []byte(`{"type":`)); err != nil {
			break // closed
		}
	}
	for {
		m := d.next()
		if m == nil {
			break
		}
		if m["code"] == protocol.CodeRateLimited {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("a flood of malformed frames was never rate limited")
	}
	if limited > 101 {
		t.Fatalf("%d refusals before the flood was cut off, want at most 101", limited)
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
