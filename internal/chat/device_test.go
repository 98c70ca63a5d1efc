package chat

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A device whose peer stops reading never blocks whoever sends to it (the
// fan-out of a message to everyone else goes on), and once its queue is full
// it is disconnected.
func TestStuckDeviceNeverBlocksSenders(t *testing.T) {
	devices := make(chan *device, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := upgrader(nil).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		ws.NetConn().(*net.TCPConn).SetWriteBuffer(8 << 10)
		d := newDevice(Identity{UserID: "stuck"}, ws, 16)
		d.release([]byte(`{"type":"ready"}`))
		devices <- d
	}))
	defer srv.Close()
	dialer := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			c.(*net.TCPConn).SetReadBuffer(4 << 10)
		}
		return c, err
	}}
	peer, _, err := dialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close() // and never reads
	d := <-devices
	// Once the writer that sent ready is gone, frames are written inline.
	for writing := true; writing; time.Sleep(50 * time.Millisecond) {
		d.mu.Lock()
		writing = d.writing
		d.mu.Unlock()
	}

	frame := []byte(`{"type":"event","text":"` + strings.Repeat("x", 2000) + `"}`)
	deadline := time.Now().Add(10 * time.Second)
	sent := 0
	for !d.isClosed() {
		if time.Now().After(deadline) {
			t.Fatalf("after %d frames to a peer that does not read, the device is still open", sent)
		}
		start := time.Now()
		d.send(frame)
		if took := time.Since(start); took > 200*time.Millisecond {
			t.Fatalf("send %d blocked for %v", sent, took)
		}
		sent++
	}
	t.Logf("disconnected after %d frames of %d bytes", sent, len(frame))
}
