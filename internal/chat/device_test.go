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
	d := deviceOfSilentPeer(t)
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

// deviceOfSilentPeer is a device on a real socket whose peer never reads,
// with small buffers on both sides.
func deviceOfSilentPeer(t *testing.T) *device {
	t.Helper()
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
	t.Cleanup(srv.Close)
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
	t.Cleanup(func() { peer.Close() }) // and never reads
	return <-devices
}

// A write still going past its due time (a peer gone without a word, whose
// buffer the kernel never frees) is cut by the watchdog: it closes the
// device, which ends the write and frees the sender. Others are left alone.
func TestWatchdogCutsStuckWrites(t *testing.T) {
	h := newHub()
	stuck, fine := deviceOfSilentPeer(t), deviceOfSilentPeer(t)
	h.add(stuck)
	h.add(fine)
	now := time.Now()
	stuck.writeDue.Store(now.Add(-time.Millisecond).UnixNano())
	fine.writeDue.Store(now.Add(time.Second).UnixNano())
	h.cutStuckWrites(now)
	if !stuck.isClosed() {
		t.Fatal("a write past its due time was not cut")
	}
	if fine.isClosed() {
		t.Fatal("a write in time was cut")
	}
}
