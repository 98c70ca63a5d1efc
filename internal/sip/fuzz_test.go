package sip

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"switchboard/internal/store"
)

// Fuzz targets for everything here that reads outside input:
//
//	go test -fuzz FuzzCredentials ./internal/sip/
//	go test -fuzz FuzzNonce ./internal/sip/
//	go test -fuzz FuzzRequest ./internal/sip/
//
// Without -fuzz they run their seeds as ordinary tests.

func FuzzCredentials(f *testing.F) {
	f.Add(`Digest username="alice", realm="sb.test", nonce="abc", uri="sip:sb.test", response="0123", algorithm=MD5, cnonce="x", qop=auth, nc=00000001`)
	f.Add(`Digest username="a\"b", realm="", nonce="", uri="", response=""`)
	f.Add(`Digest username=alice,,,, nc=zz`)
	f.Add(`Basic YWxpY2U6c2VjcmV0`)
	f.Add(`Digest username="` + strings.Repeat("a", 600) + `"`)
	f.Fuzz(func(t *testing.T, v string) {
		c, err := parseCredentials(v)
		if err != nil {
			return
		}
		if c.Username == "" || c.Nonce == "" || len(c.Username) > maxAuthField {
			t.Fatalf("accepted incomplete credentials %+v", c)
		}
		alg := credentialAlg(c)
		if alg == "" {
			return
		}
		// Computing a response from whatever was accepted must not panic,
		// and must not match an arbitrary response by accident.
		want := expectedResponse(alg, "00", "REGISTER", c)
		if responseMatches(want, c.Response) && c.Response != want && strings.ToLower(c.Response) != want {
			t.Fatalf("matched a different response")
		}
	})
}

func FuzzNonce(f *testing.F) {
	n := &nonces{key: []byte("0123456789abcdef"), realm: testRealm, lifetime: time.Minute}
	now := time.Unix(1_800_000_000, 0)
	ip := netip.MustParseAddr("127.0.0.1")
	good := n.make(ip, now)
	made := map[string]bool{good: true}
	f.Add(good)
	f.Add("")
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add(strings.Repeat("_", 43))
	f.Fuzz(func(t *testing.T, nonce string) {
		st := n.check(nonce, ip, now)
		if st == nonceOK && !made[nonce] {
			t.Fatalf("accepted a nonce we did not make: %q", nonce)
		}
		// Bound to the source: never valid for another address.
		if n.check(nonce, netip.MustParseAddr("::1"), now) == nonceOK {
			t.Fatalf("nonce valid for another source: %q", nonce)
		}
	})
}

// fakeTx is a server transaction that records responses.
type fakeTx struct {
	responses []*sip.Response
	done      chan struct{}
}

func newFakeTx() *fakeTx { return &fakeTx{done: make(chan struct{})} }

func (f *fakeTx) Terminate()                         {}
func (f *fakeTx) OnTerminate(sip.FnTxTerminate) bool { return true }
func (f *fakeTx) Done() <-chan struct{}              { return f.done }
func (f *fakeTx) Err() error                         { return nil }
func (f *fakeTx) Acks() <-chan *sip.Request          { return nil }
func (f *fakeTx) OnCancel(sip.FnTxCancel) bool       { return true }
func (f *fakeTx) Respond(res *sip.Response) error    { f.responses = append(f.responses, res); return nil }

// FuzzRequest feeds arbitrary bytes through sipgo's parser and, when they
// parse as a request, through our handlers, as the transports would. No
// input may panic, and every request but ACK gets at most one answer.
func FuzzRequest(f *testing.F) {
	h := &harness{accts: &fakeAccounts{byKey: map[string]store.SIPAccount{}}, clock: newClock(), m: &Metrics{}}
	h.accts.add("alice", "secret", true)
	cfg := Config{UDPAddr: "127.0.0.1:0", Realm: testRealm, Accounts: h.accts, Now: h.clock.now, Metrics: h.m,
		Logger: slog.New(slog.DiscardHandler), RTPBindAddr: "127.0.0.1:0",
		OnCall: func(c *Call) { c.Reject(486, "Busy Here") }}.WithDefaults()
	cfg.NonceKey = []byte("0123456789abcdef")
	s := &Server{cfg: cfg, log: cfg.Logger, m: h.m, guard: newGuard(&cfg), loc: newLocation(),
		nonces: &nonces{key: cfg.NonceKey, realm: cfg.Realm, lifetime: cfg.NonceLifetime}, dummy: "00",
		stop: make(chan struct{})}
	ip := netip.MustParseAddr("127.0.0.1")
	nonce := s.nonces.make(ip, h.clock.now())
	base := "REGISTER sip:sb.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n" +
		"From: <sip:alice@sb.test>;tag=1\r\nTo: <sip:alice@sb.test>\r\nCall-ID: c1\r\nCSeq: 1 REGISTER\r\n"
	f.Add([]byte(base + "Contact: <sip:alice@127.0.0.1:5070>\r\nExpires: 60\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte(base + "Contact: *\r\nExpires: 0\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte(base + "Contact: <sip:a@h>;expires=99999999999, <sip:b@h>\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte(base + `Authorization: Digest username="alice", realm="sb.test", nonce="` + nonce +
		`", uri="sip:sb.test", response="00000000000000000000000000000000", qop=auth, nc=00000001, cnonce="x"` +
		"\r\nContact: <sip:alice@127.0.0.1:5070>\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte(base + "Require: foo, bar\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("OPTIONS sip:sb.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK2\r\nCSeq: 2 OPTIONS\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("INVITE sip:bob@sb.test SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK3\r\nFrom: <sip:a@b>;tag=2\r\nTo: <sip:bob@sb.test>\r\nCall-ID: c2\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"))
	invite := "INVITE sip:bob@sb.test SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK4\r\nFrom: <sip:alice@sb.test>;tag=3\r\n" +
		"To: <sip:bob@sb.test>\r\nCall-ID: c3\r\nCSeq: 2 INVITE\r\nContact: <sip:alice@127.0.0.1:5070>\r\n" +
		`Authorization: Digest username="alice", realm="sb.test", nonce="` + nonce + `", uri="sip:bob@sb.test", response="00000000000000000000000000000000"` +
		"\r\nContent-Type: application/sdp\r\n"
	f.Add([]byte(invite + fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(offerPCMU), offerPCMU)))
	f.Add([]byte(strings.Replace(invite, "To: <sip:bob@sb.test>", "To: <sip:bob@sb.test>;tag=x", 1) + "Content-Length: 0\r\n\r\n"))
	f.Add([]byte("BYE sip:bob@sb.test SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK5\r\nFrom: <sip:a@b>;tag=2\r\nTo: <sip:bob@sb.test>;tag=9\r\nCall-ID: c3\r\nCSeq: 3 BYE\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("ACK sip:bob@sb.test SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK6\r\nFrom: <sip:a@b>;tag=2\r\nTo: <sip:bob@sb.test>;tag=9\r\nCall-ID: c3\r\nCSeq: 2 ACK\r\nContent-Length: 0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > cfg.MaxMessageSize {
			return
		}
		msg, err := sip.ParseMessage(data)
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		req.SetTransport("UDP")
		req.SetSource("127.0.0.1:5070")
		tx := newFakeTx()
		switch req.Method {
		case sip.REGISTER:
			s.onRegister(req, tx)
		case sip.OPTIONS:
			s.onOptions(req, tx)
		case sip.INVITE:
			s.onInvite(req, tx)
		case sip.BYE:
			s.onBye(req, tx)
		case sip.ACK:
			s.onAck(req, tx)
		default:
			s.onNoRoute(req, tx)
		}
		finals := 0
		for _, r := range tx.responses {
			if r.StatusCode >= 200 {
				finals++
			}
		}
		if finals > 1 || (req.IsAck() && len(tx.responses) > 0) {
			t.Fatalf("%d final responses to %s", finals, req.Method)
		}
		s.guard.unblock(ip) // keep every input exercising the handlers
	})
}
