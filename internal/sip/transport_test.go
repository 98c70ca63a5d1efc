package sip

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/emiago/sipgo/sip"
)

// answerRequest reads a request the server sent to the phone and answers 200.
func (p *phone) answerRequest(method string) {
	p.t.Helper()
	m := p.read(3 * time.Second)
	req, ok := m.(*sip.Request)
	if !ok || req.Method != sip.RequestMethod(method) {
		p.t.Errorf("phone wanted a %s request, got %v", method, m)
		return
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	p.send(res.String())
}

// A phone registered over TCP is reached over its own connection: the
// server never dials the Contact (behind NAT nobody could).
func TestQualifyOverRegisteredTCPConnection(t *testing.T) {
	h := newHarness(t, nil)
	p := dialPhone(t, "tcp", h.s.Addrs().TCP.String(), "alice")
	// A Contact nobody listens on: only the connection leads to the phone.
	if r := p.register("secret", "", "Contact: <sip:alice@192.0.2.1:5060;transport=tcp>"); r.StatusCode != 200 {
		t.Fatalf("register: %d", r.StatusCode)
	}
	bs := h.s.Bindings("alice")
	if len(bs) != 1 || bs[0].Transport != "TCP" || bs[0].Source != p.local() {
		t.Fatalf("bindings: %+v", bs)
	}
	done := make(chan struct{})
	go func() { defer close(done); p.answerRequest("OPTIONS") }()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	res, err := h.s.Qualify(ctx, bs[0])
	<-done
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("qualify: %v, %v", res, err)
	}
}

// The same over UDP: the request goes to the source address the REGISTER
// came from (the NAT's public side), not to the Contact.
func TestQualifyOverUDPSource(t *testing.T) {
	h := newHarness(t, nil)
	p := dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
	if r := p.register("secret", "", "Contact: <sip:alice@192.0.2.1:5060>"); r.StatusCode != 200 {
		t.Fatalf("register: %d", r.StatusCode)
	}
	done := make(chan struct{})
	go func() { defer close(done); p.answerRequest("OPTIONS") }()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	res, err := h.s.Qualify(ctx, h.s.Bindings("alice")[0])
	<-done
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("qualify: %v, %v", res, err)
	}
}

// wsConn adapts a WebSocket client to the phone's net.Conn use: one SIP
// message per text message. A reader goroutine feeds a channel, so reads can
// time out without closing the WebSocket (cancelling a Read would).
type wsConn struct {
	net.Conn
	c        *websocket.Conn
	msgs     chan []byte
	deadline time.Time
	buf      []byte
}

func newWSConn(c *websocket.Conn) *wsConn {
	w := &wsConn{c: c, msgs: make(chan []byte, 16)}
	go func() {
		defer close(w.msgs)
		for {
			_, data, err := c.Read(context.Background())
			if err != nil {
				return
			}
			w.msgs <- data
		}
	}()
	return w
}

func (w *wsConn) Write(p []byte) (int, error) {
	return len(p), w.c.Write(context.Background(), websocket.MessageText, p)
}

func (w *wsConn) SetReadDeadline(t time.Time) error { w.deadline = t; return nil }

func (w *wsConn) Read(p []byte) (int, error) {
	if len(w.buf) == 0 {
		var timeout <-chan time.Time
		if !w.deadline.IsZero() {
			timer := time.NewTimer(time.Until(w.deadline))
			defer timer.Stop()
			timeout = timer.C
		}
		select {
		case data, ok := <-w.msgs:
			if !ok {
				return 0, net.ErrClosed
			}
			w.buf = data
		case <-timeout:
			return 0, os.ErrDeadlineExceeded
		}
	}
	n := copy(p, w.buf)
	w.buf = w.buf[n:]
	return n, nil
}

func (w *wsConn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

func TestWebSocket(t *testing.T) {
	h := newHarness(t, nil)
	hs := httptest.NewServer(h.s.WebSocketHandler())
	t.Cleanup(hs.Close)
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/sip"

	// Without the sip subprotocol the upgrade is refused.
	if _, res, err := websocket.Dial(t.Context(), url, nil); err == nil || res == nil || res.StatusCode != http.StatusBadRequest {
		t.Fatalf("dial without subprotocol: %v %v", res, err)
	}
	if res, err := http.Get(hs.URL + "/sip"); err != nil || res.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("plain GET: %v %v", res, err)
	}

	c, res, err := websocket.Dial(t.Context(), url, &websocket.DialOptions{Subprotocols: []string{"sip"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	if c.Subprotocol() != "sip" || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("subprotocol %q, status %d", c.Subprotocol(), res.StatusCode)
	}
	w := newWSConn(c)
	p := newPhone(t, w, "UDP", "alice") // "UDP" makes read take one message per read
	msg := func(s string) string { return strings.Replace(s, "SIP/2.0/UDP", "SIP/2.0/WSS", 1) }
	uri := "sip:" + testRealm
	contact := "Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws>"
	p.send(msg(p.request("REGISTER", uri, contact)))
	ch := p.expect(401)
	p.send(msg(p.request("REGISTER", uri, contact, answer(t, ch, "", "alice", "secret", "REGISTER", uri))))
	p.expect(200)
	bs := h.s.Bindings("alice")
	if len(bs) != 1 || bs[0].Transport != "WS" {
		t.Fatalf("bindings: %+v", bs)
	}
	// The browser is reached over its WebSocket.
	done := make(chan struct{})
	go func() { defer close(done); p.answerRequest("OPTIONS") }()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	qr, err := h.s.Qualify(ctx, bs[0])
	<-done
	if err != nil || qr.StatusCode != 200 {
		t.Fatalf("qualify over websocket: %v, %v", qr, err)
	}
}

func TestTLS(t *testing.T) {
	cert := selfSigned(t)
	h := newHarness(t, func(c *Config) {
		c.TLSAddr = "127.0.0.1:0"
		c.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	})
	c, err := tls.Dial("tcp", h.s.Addrs().TLS.String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p := newPhone(t, c, "TLS", "alice")
	if r := p.register("secret", "", p.contact()); r.StatusCode != 200 {
		t.Fatalf("register over TLS: %d", r.StatusCode)
	}
	if bs := h.s.Bindings("alice"); len(bs) != 1 || bs[0].Transport != "TLS" {
		t.Fatalf("bindings: %+v", bs)
	}
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sb.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestOptionsAndUnknownMethods(t *testing.T) {
	h := newHarness(t, nil)
	p := dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
	uri := "sip:" + testRealm
	p.send(p.request("OPTIONS", uri))
	if r := p.expect(200); r.GetHeader("Allow") == nil || !strings.Contains(r.GetHeader("Allow").Value(), "REGISTER") {
		t.Fatalf("OPTIONS: %s", r)
	}
	p.send(p.request("SUBSCRIBE", uri))
	p.expect(405)
	p.send(p.request("BYE", uri))
	p.expect(481)
	p.send(p.request("INVITE", uri))
	p.expect(480)
	p.send(p.request("ACK", uri))
	p.silence(200 * time.Millisecond)
}

func TestGarbageAndLimits(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxMessageSize = 2048 })
	p := dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
	uri := "sip:" + testRealm
	for _, g := range []string{
		"\x00\x01\x02garbage",
		"REGISTER sip:x SIP/2.0\r\n\r\n",              // no headers at all
		"REGISTER sip:x SIP/2.0\r\nVia: nonsense\r\n", // truncated
		"SIP/2.0 200 OK\r\nCSeq: 1 OPTIONS\r\n\r\n",   // a stray response
		strings.Repeat("A", 1500),
		p.request("REGISTER", uri, "X-Pad: "+strings.Repeat("x", 3000)), // over the size limit
	} {
		p.send(g)
	}
	// Anything answered so far is a 400 at most; then the server still works.
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		m := p.read(100 * time.Millisecond)
		if m == nil {
			break
		}
		if r, ok := m.(*sip.Response); !ok || r.StatusCode != 400 {
			t.Fatalf("answer to garbage: %v", m)
		}
	}
	p.send(p.request("OPTIONS", uri))
	p.expect(200)
	if h.m.Dropped.Load() == 0 {
		t.Fatal("oversized datagram not counted as dropped")
	}

	// Over TCP an oversized message ends the connection.
	tcp := dialPhone(t, "tcp", h.s.Addrs().TCP.String(), "alice")
	tcp.send(tcp.request("OPTIONS", uri, "X-Pad: "+strings.Repeat("x", 3000)))
	tcp.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := tcp.conn.Read(make([]byte, 100)); err == nil {
		t.Fatal("connection open after an oversized message")
	}
}

func TestRateLimit(t *testing.T) {
	// The test clock stands still, so the bucket never refills: exactly the
	// burst (twice the rate) is answered.
	h := newHarness(t, func(c *Config) { c.RequestsPerSecond = 5 })
	p := dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
	for range 30 {
		p.send(p.request("OPTIONS", "sip:"+testRealm))
	}
	answered := 0
	for p.read(300*time.Millisecond) != nil {
		answered++
	}
	if answered != 10 || h.m.Dropped.Load() != 20 {
		t.Fatalf("answered %d, dropped %d; want 10 and 20", answered, h.m.Dropped.Load())
	}
	h.clock.advance(time.Second)
	p.send(p.request("OPTIONS", "sip:"+testRealm))
	p.expect(200)
}

func TestConfigValidate(t *testing.T) {
	good := Config{UDPAddr: ":5060", Realm: "example.com", Accounts: &fakeAccounts{}}.WithDefaults()
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*Config){
		"no listener":   func(c *Config) { c.UDPAddr = "" },
		"tls w/o cert":  func(c *Config) { c.TLSAddr = ":5061" },
		"no realm":      func(c *Config) { c.Realm = "" },
		"quoted realm":  func(c *Config) { c.Realm = `a"b` },
		"no accounts":   func(c *Config) { c.Accounts = nil },
		"bad algorithm": func(c *Config) { c.DigestAlgorithms = []string{"SHA-1"} },
		"min > default": func(c *Config) { c.MinExpires = 2 * time.Hour },
		"tiny messages": func(c *Config) { c.MaxMessageSize = 100 },
		"short nonce":   func(c *Config) { c.NonceLifetime = time.Second },
		"short key":     func(c *Config) { c.NonceKey = []byte("k") },
	} {
		c := good
		edit(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := New(Config{}); err == nil {
		t.Fatal("New accepted an empty config")
	}
}

func TestConnectionsPerSource(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxConnsPerSource = 2 })
	addr := h.s.Addrs().TCP.String()
	a := dialPhone(t, "tcp", addr, "alice")
	b := dialPhone(t, "tcp", addr, "alice")
	for _, p := range []*phone{a, b} {
		p.send(p.request("OPTIONS", "sip:"+testRealm))
		p.expect(200)
	}
	// The third is closed at once.
	c := dialPhone(t, "tcp", addr, "alice")
	c.send(c.request("OPTIONS", "sip:"+testRealm))
	c.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.conn.Read(make([]byte, 10)); err == nil {
		t.Fatal("third connection served")
	}
	// Closing one frees its slot.
	a.conn.Close()
	waitFor(t, "slot freed", func() bool {
		h.s.guard.mu.Lock()
		defer h.s.guard.mu.Unlock()
		return h.s.guard.conns[netip.MustParseAddr("127.0.0.1")] == 1
	})
	d := dialPhone(t, "tcp", addr, "alice")
	d.send(d.request("OPTIONS", "sip:"+testRealm))
	d.expect(200)
}
