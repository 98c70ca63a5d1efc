package sip

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"switchboard/internal/store"
)

const testRealm = "sb.test"

// fakeAccounts is an in-memory Accounts.
type fakeAccounts struct {
	mu    sync.Mutex
	byKey map[string]store.SIPAccount
	err   error
}

func (f *fakeAccounts) SIPAccountByUsername(_ context.Context, username string) (store.SIPAccount, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return store.SIPAccount{}, f.err
	}
	a, ok := f.byKey[username]
	if !ok {
		return store.SIPAccount{}, fmt.Errorf("sip account %q: %w", username, store.ErrNotFound)
	}
	return a, nil
}

func (f *fakeAccounts) add(username, password string, enabled bool) {
	md5h, shah := HashPassword(username, testRealm, password)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.byKey[username] = store.SIPAccount{ID: "id-" + username, Username: username, Realm: testRealm,
		HA1MD5: md5h, HA1SHA256: shah, Enabled: enabled}
}

// clock is a settable time source, so expiry tests need no sleeping.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// logBuffer collects log output so tests can check what is (not) logged.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type harness struct {
	s     *Server
	accts *fakeAccounts
	clock *clock
	logs  *logBuffer
	m     *Metrics
}

// newHarness starts a server on 127.0.0.1 (UDP and TCP, port 0) with
// accounts alice/secret and bob/hunter2 (disabled: carol/pw). edit may
// change the config first.
func newHarness(t *testing.T, edit func(*Config)) *harness {
	t.Helper()
	h := &harness{accts: &fakeAccounts{byKey: map[string]store.SIPAccount{}}, clock: newClock(), logs: &logBuffer{}, m: &Metrics{}}
	h.accts.add("alice", "secret", true)
	h.accts.add("bob", "hunter2", true)
	h.accts.add("carol", "pw", false)
	cfg := Config{
		UDPAddr:  "127.0.0.1:0",
		TCPAddr:  "127.0.0.1:0",
		Realm:    testRealm,
		Accounts: h.accts,
		Logger:   slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:  h.m,
		Now:      h.clock.now,
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	h.s = s
	return h
}

// phone is a hand-rolled SIP client: it writes request text and parses the
// responses, so tests control every header.
type phone struct {
	t         *testing.T
	conn      net.Conn
	br        *bufio.Reader
	transport string
	user      string
	callID    string
	cseq      int
	tag       string
}

func dialPhone(t *testing.T, network, addr, user string) *phone {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return newPhone(t, c, strings.ToUpper(network), user)
}

func newPhone(t *testing.T, c net.Conn, transport, user string) *phone {
	return &phone{t: t, conn: c, br: bufio.NewReader(c), transport: transport, user: user,
		callID: fmt.Sprintf("call-%s-%d@test", user, time.Now().UnixNano()), tag: "t" + user}
}

func (p *phone) local() string { return p.conn.LocalAddr().String() }

// request builds a request from the phone; extra lines are added as headers.
func (p *phone) request(method, uri string, extra ...string) string {
	p.cseq++
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, uri)
	fmt.Fprintf(&b, "Via: SIP/2.0/%s %s;branch=z9hG4bK%d%d;rport\r\n", p.transport, p.local(), time.Now().UnixNano(), p.cseq)
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=%s\r\n", p.user, testRealm, p.tag)
	fmt.Fprintf(&b, "To: <sip:%s@%s>\r\n", p.user, testRealm)
	fmt.Fprintf(&b, "Call-ID: %s\r\n", p.callID)
	fmt.Fprintf(&b, "CSeq: %d %s\r\n", p.cseq, method)
	b.WriteString("User-Agent: test-phone\r\n")
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

func (p *phone) send(msg string) {
	p.t.Helper()
	if _, err := p.conn.Write([]byte(msg)); err != nil {
		p.t.Fatal(err)
	}
}

// read returns the next message, or nil after timeout.
func (p *phone) read(timeout time.Duration) sip.Message {
	p.t.Helper()
	p.conn.SetReadDeadline(time.Now().Add(timeout))
	defer p.conn.SetReadDeadline(time.Time{})
	var raw []byte
	if p.transport == "UDP" {
		buf := make([]byte, 65536)
		n, err := p.conn.Read(buf)
		if err != nil {
			return nil
		}
		raw = buf[:n]
	} else {
		var head bytes.Buffer
		length := 0
		for {
			line, err := p.br.ReadString('\n')
			if err != nil {
				return nil
			}
			if head.Len() == 0 && strings.TrimSpace(line) == "" {
				continue // keep-alive CRLF
			}
			head.WriteString(line)
			if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Content-Length") {
				length, _ = strconv.Atoi(strings.TrimSpace(v))
			}
			if line == "\r\n" {
				break
			}
		}
		body := make([]byte, length)
		if _, err := io.ReadFull(p.br, body); err != nil {
			return nil
		}
		raw = append(head.Bytes(), body...)
	}
	m, err := sip.ParseMessage(raw)
	if err != nil {
		p.t.Fatalf("unparsable message from server: %v\n%s", err, raw)
	}
	return m
}

// expect reads a response and checks its status.
func (p *phone) expect(code int) *sip.Response {
	p.t.Helper()
	m := p.read(3 * time.Second)
	res, ok := m.(*sip.Response)
	if !ok {
		p.t.Fatalf("want response %d, got %v", code, m)
	}
	if res.StatusCode != code {
		p.t.Fatalf("want %d, got %d %s\n%s", code, res.StatusCode, res.Reason, res)
	}
	return res
}

// silence checks that nothing arrives for a while.
func (p *phone) silence(d time.Duration) {
	p.t.Helper()
	if m := p.read(d); m != nil {
		p.t.Fatalf("want silence, got\n%s", m)
	}
}

// answer computes credentials for the challenge with algorithm alg (""
// picks the first challenge) using the icholy/digest client code, an
// implementation independent of ours.
func answer(t *testing.T, res *sip.Response, alg, user, password, method, uri string) string {
	t.Helper()
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		chal, err := digest.ParseChallenge(h.Value())
		if err != nil {
			t.Fatal(err)
		}
		if alg != "" && !strings.EqualFold(chal.Algorithm, alg) {
			continue
		}
		cred, err := digest.Digest(chal, digest.Options{Method: method, URI: uri, Username: user, Password: password, Count: 1})
		if err != nil {
			t.Fatal(err)
		}
		return "Authorization: " + cred.String()
	}
	t.Fatalf("no %q challenge in\n%s", alg, res)
	return ""
}

// register runs the challenge and answer; it returns the final response.
func (p *phone) register(password, alg string, extra ...string) *sip.Response {
	p.t.Helper()
	uri := "sip:" + testRealm
	p.send(p.request("REGISTER", uri, extra...))
	res := p.expect(401)
	auth := answer(p.t, res, alg, p.user, password, "REGISTER", uri)
	p.send(p.request("REGISTER", uri, append(extra, auth)...))
	m := p.read(3 * time.Second)
	r, _ := m.(*sip.Response)
	if r == nil {
		p.t.Fatalf("no answer to the authenticated REGISTER")
	}
	return r
}

func (p *phone) contact() string {
	return fmt.Sprintf("Contact: <sip:%s@%s;transport=%s>", p.user, p.local(), strings.ToLower(p.transport))
}
