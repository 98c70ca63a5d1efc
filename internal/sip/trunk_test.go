package sip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// sippUAS starts sipp as a provider's side (a UAS scenario from testdata)
// on 127.0.0.1:port and returns a function that waits for it to finish
// and reports whether its scenario succeeded, with its output.
func sippUAS(t *testing.T, scenario string, port int, extra ...string) func() (bool, string) {
	t.Helper()
	bin := sippBinary(t)
	scen, err := filepath.Abs(filepath.Join("testdata", scenario))
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-sf", scen, "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-m", "1", "-nostdin",
		"-timeout", "30s", "-timeout_error"}, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = t.TempDir()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	var once sync.Once
	var ok bool
	wait := func() (bool, string) {
		once.Do(func() {
			ok = cmd.Wait() == nil
			cancel()
		})
		return ok, out.String()
	}
	t.Cleanup(func() { cancel(); wait() })
	time.Sleep(300 * time.Millisecond) // let it bind its port
	return wait
}

func testTrunk(port int) Trunk {
	return Trunk{ID: "t1", Name: "Provider", Enabled: true, Host: "127.0.0.1:" + strconv.Itoa(port), Transport: TransportUDP,
		Username: "trunkuser", Password: "trunk secret", FromDomain: "provider.test"}
}

// A registering trunk against sipp as the provider's registrar: each
// REGISTER is challenged and the digest checked; the registration is
// refreshed before its 2 s expire and removed (Expires: 0) when the trunk
// goes. sipp's scenario fails unless all three happened.
func TestTrunkRegisterSipp(t *testing.T) {
	sippBinary(t)
	h := newHarness(t, nil)
	port := freePort(t, "udp")
	wait := sippUAS(t, "uas_trunk_register.xml", port, "-key", "expires", "2")
	tr := testTrunk(port)
	tr.Register = true
	h.s.SetTrunks([]Trunk{tr})
	waitFor(t, "the registration", func() bool { return h.s.TrunkStatus("t1").Registered })
	st := h.s.TrunkStatus("t1")
	if st.LastError != "" || !st.ExpiresAt.Equal(h.clock.now().Add(2*time.Second)) {
		t.Fatalf("status %+v", st)
	}
	time.Sleep(2500 * time.Millisecond) // a refresh at 1.6 s
	h.s.SetTrunks(nil)                  // un-REGISTER
	if ok, out := wait(); !ok {
		t.Fatalf("sipp's registrar scenario failed:\n%s", out)
	}
	if st := h.s.TrunkStatus("t1"); st.Registered {
		t.Fatalf("status of a removed trunk: %+v", st)
	}
}

// A wrong password: the status says so, and the password is not logged.
func TestTrunkRegisterRefused(t *testing.T) {
	sippBinary(t)
	h := newHarness(t, nil)
	h.s.trunks.retry = time.Hour // one attempt
	port := freePort(t, "udp")
	sippUAS(t, "uas_trunk_register.xml", port, "-key", "expires", "60")
	tr := testTrunk(port)
	tr.Register, tr.Password = true, "wrong password"
	h.s.SetTrunks([]Trunk{tr})
	waitFor(t, "the failure", func() bool { return h.s.TrunkStatus("t1").LastError != "" })
	st := h.s.TrunkStatus("t1")
	if st.Registered || !strings.Contains(st.LastError, "403") || !strings.Contains(st.LastError, "credentials") {
		t.Fatalf("status %+v", st)
	}
	if strings.Contains(h.logs.String(), "wrong password") {
		t.Fatal("the trunk password reached the log")
	}
}

// Two of our servers: A registers a trunk with B's registrar (SHA-256
// only, qop=auth), from A's listening port, over UDP and TCP; B then calls
// the number through that registration and A takes the call as one from
// the trunk, without a challenge, with the caller's number.
func TestTrunkRegisterWithOurRegistrar(t *testing.T) {
	for _, transport := range []string{TransportUDP, TransportTCP} {
		t.Run(transport, func(t *testing.T) {
			b := newHarness(t, func(c *Config) { c.DigestAlgorithms = []string{AlgSHA256} })
			calls := make(chan *Call, 1)
			a := newHarness(t, func(c *Config) { c.OnCall = func(c *Call) { calls <- c } })
			addr := b.s.Addrs().UDP.String()
			if transport == TransportTCP {
				addr = b.s.Addrs().TCP.String()
			}
			tr := Trunk{ID: "tb", Name: "B", Enabled: true, Host: addr, Transport: transport, Register: true,
				Username: "alice", Password: "secret", FromDomain: testRealm}
			a.s.SetTrunks([]Trunk{tr})
			waitFor(t, "the registration at B", func() bool { return len(b.s.Bindings("alice")) == 1 })
			waitFor(t, "A's status", func() bool { return a.s.TrunkStatus("tb").Registered })
			bind := b.s.Bindings("alice")[0]
			if transport == TransportUDP && bind.Source != a.s.Addrs().UDP.String() {
				t.Fatalf("registered from %s, not A's listening socket %s", bind.Source, a.s.Addrs().UDP)
			}

			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			type result struct {
				c   *OutCall
				err error
			}
			done := make(chan result, 1)
			go func() {
				c, err := b.s.Dial(ctx, DialRequest{Username: "alice", FromUser: "+15551230000", FromDisplay: "Caller"})
				done <- result{c, err}
			}()
			var in *Call
			select {
			case in = <-calls:
			case <-ctx.Done():
				t.Fatal("A never got the call")
			}
			if in.Trunk != "tb" || in.CallerNumber != "+15551230000" || in.CallerName != "Caller" || in.ToUser != "alice" {
				t.Fatalf("call from the trunk: trunk %q, caller %q %q, to %q", in.Trunk, in.CallerNumber, in.CallerName, in.ToUser)
			}
			if n := a.m.Challenges.Load(); n != 0 {
				t.Fatalf("A challenged %d times", n)
			}
			if a.s.TrunkStatus("tb").ActiveCalls != 1 {
				t.Fatalf("status %+v", a.s.TrunkStatus("tb"))
			}
			if _, err := in.Answer(); err != nil {
				t.Fatal(err)
			}
			r := <-done
			if r.err != nil {
				t.Fatal(r.err)
			}
			r.c.Hangup()
			<-in.Done()
			waitFor(t, "the trunk's slot back", func() bool { return a.s.TrunkStatus("tb").ActiveCalls == 0 })

			a.s.SetTrunks(nil)
			waitFor(t, "the un-REGISTER", func() bool { return len(b.s.Bindings("alice")) == 0 })
		})
	}
}

// Calls out through a trunk to sipp, which challenges the INVITE: the
// digest is answered, the call connects, and RTP goes both ways (sipp
// echoes what it gets). The call counts against the trunk; our BYE ends
// sipp's scenario. A wrong password is a 403.
func TestDialTrunkSipp(t *testing.T) {
	sippBinary(t)
	h := newHarness(t, nil)
	port, mport := freePort(t, "udp"), freePort(t, "udp")
	wait := sippUAS(t, "uas_trunk_answer.xml", port, "-rtp_echo", "-mi", "127.0.0.1", "-mp", strconv.Itoa(mport))
	tr := testTrunk(port)
	tr.NumberFormat = FormatNational
	h.s.SetTrunks([]Trunk{tr})
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	var progress []int
	c, err := h.s.DialTrunk(ctx, TrunkDialRequest{Trunk: "t1", Number: "+442079460000", Plan: NumberPlan{CountryCode: "44"},
		FromDisplay: "Ann", OnProgress: func(s int) { progress = append(progress, s) }})
	if err != nil {
		t.Fatal(err)
	}
	if c.Trunk != "t1" || c.To != "+442079460000" || c.Codec.Name != PCMA.Name || len(progress) == 0 || progress[0] != 180 {
		t.Fatalf("call %+v, progress %v", c, progress)
	}
	if st := h.s.TrunkStatus("t1"); st.ActiveCalls != 1 {
		t.Fatalf("status %+v", st)
	}
	rs := c.RTP()
	rs.Start(nil)
	for i := range 50 {
		p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: c.Codec.PayloadType, SequenceNumber: uint16(i),
			Timestamp: uint32(160 * i), SSRC: 7}, Payload: bytes.Repeat([]byte{0xd5}, 160)}
		if err := rs.WriteRTP(p); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		if rs.PacketsIn.Load() >= 20 {
			break
		}
	}
	waitFor(t, "sipp's echo", func() bool { return rs.PacketsIn.Load() >= 20 })
	c.Hangup()
	if ok, out := wait(); !ok {
		t.Fatalf("sipp's scenario failed:\n%s", out)
	}
	waitFor(t, "the trunk's slot back", func() bool { return h.s.TrunkStatus("t1").ActiveCalls == 0 })

	// The wrong password.
	port = freePort(t, "udp")
	sippUAS(t, "uas_trunk_answer.xml", port, "-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "udp")))
	tr = testTrunk(port)
	tr.Password = "wrong"
	h.s.SetTrunks([]Trunk{tr})
	_, err = h.s.DialTrunk(ctx, TrunkDialRequest{Trunk: "t1", Number: "+442079460000"})
	var de *DialError
	if !errors.As(err, &de) || de.Status != 403 {
		t.Fatalf("wrong password: %v", err)
	}
}

// An IP-authenticated peer: its INVITEs need no challenge and carry the
// caller's number; at the trunk's limit (1, calls in and out) another
// INVITE gets 503 with Retry-After and a call out ErrTrunkBusy. Other
// sources are still challenged.
func TestTrunkInboundPeerAndLimit(t *testing.T) {
	calls := make(chan *Call, 4)
	h := newHarness(t, func(c *Config) { c.OnCall = func(c *Call) { c.Ringing(); calls <- c } })
	h.s.SetTrunks([]Trunk{{ID: "peer", Name: "Peer", Enabled: true, Host: "192.0.2.1", Transport: TransportUDP,
		InboundIPs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, MaxCalls: 1}})
	addr := h.s.Addrs().UDP.String()

	p1 := dialPhone(t, "udp", addr, "+15551230001")
	msg, _ := p1.inviteMsg("+442079460000", offerPCMU, 1)
	p1.send(msg)
	var c1 *Call
	select {
	case c1 = <-calls:
	case <-time.After(3 * time.Second):
		t.Fatal("the peer's call did not arrive")
	}
	if c1.Trunk != "peer" || c1.CallerNumber != "+15551230001" || c1.Target != "+442079460000" {
		t.Fatalf("call: trunk %q, caller %q, target %q", c1.Trunk, c1.CallerNumber, c1.Target)
	}

	p2 := dialPhone(t, "udp", addr, "+15551230002")
	msg, _ = p2.inviteMsg("+442079460000", offerPCMU, 1)
	p2.send(msg)
	res := p2.readFinal()
	if res.StatusCode != 503 || res.GetHeader("Retry-After") == nil {
		t.Fatalf("over the limit: %d %v", res.StatusCode, res.GetHeader("Retry-After"))
	}
	if _, err := h.s.DialTrunk(t.Context(), TrunkDialRequest{Trunk: "peer", Number: "+15551234567"}); !errors.Is(err, ErrTrunkBusy) {
		t.Fatalf("call out over the limit: %v", err)
	}
	c1.Reject(404, "Not Found")
	waitFor(t, "the slot back", func() bool { return h.s.TrunkStatus("peer").ActiveCalls == 0 })

	// Not from the peer's addresses: a phone, challenged.
	h.s.SetTrunks([]Trunk{{ID: "peer", Name: "Peer", Enabled: true, Host: "192.0.2.1", Transport: TransportUDP,
		InboundIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}})
	p3 := dialPhone(t, "udp", addr, "+15551230003")
	msg, _ = p3.inviteMsg("+442079460000", offerPCMU, 1)
	p3.send(msg)
	if res := p3.readFinal(); res.StatusCode != 401 {
		t.Fatalf("INVITE from elsewhere: %d, want a challenge", res.StatusCode)
	}
}

func TestTrunkValidate(t *testing.T) {
	good := Trunk{Name: "P", Host: "sip.example.net", Transport: "udp", OutboundPrefixes: []string{"+44"}, NumberFormat: "national"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := Trunk{Name: "", Host: "sip://x", Transport: "sctp", Register: true, OutboundPrefixes: []string{"44"},
		NumberFormat: "weird", MaxCalls: -1, Username: "a b"}
	err := bad.Validate()
	if err == nil {
		t.Fatal("bad trunk accepted")
	}
	for _, want := range []string{"name", "host", "transport", "username and a password", "outbound prefix", "number format", "maxCalls", "username \"a b\""} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("no %q in %v", want, err)
		}
	}
	for _, h := range []string{"sip.example.net:5060", "203.0.113.7", "[2001:db8::1]:5080"} {
		if _, _, err := (Trunk{Host: h}).hostPort(); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
	for _, h := range []string{"x:0", "x:99999", "a:b:c", ""} {
		if _, _, err := (Trunk{Host: h}).hostPort(); err == nil {
			t.Errorf("%s accepted", h)
		}
	}
	if p, err := ParseInboundIP("203.0.113.7"); err != nil || p.Bits() != 32 {
		t.Errorf("one address: %v %v", p, err)
	}
	if _, err := ParseInboundIP("203.0.113.0/33"); err == nil {
		t.Error("bad network accepted")
	}
}

// A registration that fails is retried with backoff and recovers by
// itself once the registrar accepts it (here: the account appears).
func TestTrunkRegisterRetries(t *testing.T) {
	b := newHarness(t, nil)
	a := newHarness(t, nil)
	a.s.trunks.retry = 100 * time.Millisecond
	a.s.SetTrunks([]Trunk{{ID: "tb", Name: "B", Enabled: true, Host: b.s.Addrs().UDP.String(), Transport: TransportUDP,
		Register: true, Username: "dave", Password: "dave's pw", FromDomain: testRealm}})
	waitFor(t, "the failure", func() bool { return a.s.TrunkStatus("tb").LastError != "" })
	if st := a.s.TrunkStatus("tb"); st.Registered || !strings.Contains(st.LastError, "403") {
		t.Fatalf("status %+v", st)
	}
	b.accts.add("dave", "dave's pw", true)
	waitFor(t, "the registration after a retry", func() bool { return a.s.TrunkStatus("tb").Registered })
	if st := a.s.TrunkStatus("tb"); st.LastError != "" || len(b.s.Bindings("dave")) != 1 {
		t.Fatalf("status %+v, bindings %v", st, b.s.Bindings("dave"))
	}
}

// A trunk peer's messages are not rate-limited like a stranger's: a busy
// provider sends more than one source may.
func TestTrunkPeerNotRateLimited(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RequestsPerSecond = 1 })
	addr := h.s.Addrs().UDP.String()
	options := func(p *phone) int {
		n := 0
		for range 5 {
			p.send(fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKo%d;rport\r\nMax-Forwards: 70\r\n"+
				"From: <sip:peer@provider.test>;tag=o\r\nTo: <sip:%s>\r\nCall-ID: o%d@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
				testRealm, p.local(), time.Now().UnixNano(), testRealm, time.Now().UnixNano()))
		}
		for {
			p.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if _, err := p.br.ReadString('\n'); err != nil {
				return n
			}
			n++
		}
	}
	if got := options(dialPhone(t, "udp", addr, "stranger")); got == 0 {
		t.Fatal("no answer at all")
	}
	strangerLines := options(dialPhone(t, "udp", addr, "stranger2"))
	h.s.SetTrunks([]Trunk{{ID: "p", Name: "Peer", Enabled: true, Host: "192.0.2.1", Transport: TransportUDP,
		InboundIPs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}})
	peerLines := options(dialPhone(t, "udp", addr, "peer"))
	if peerLines <= strangerLines {
		t.Fatalf("the peer got %d lines of answers, a rate-limited stranger %d", peerLines, strangerLines)
	}
}

// BenchmarkInboundTrunk is what every SIP message pays in readFilter to
// learn whether it comes from a trunk peer: 10 trunks of 5 networks each.
func BenchmarkInboundTrunk(b *testing.B) {
	s := &Server{}
	var list []Trunk
	for i := range 10 {
		t := Trunk{ID: strconv.Itoa(i), Name: "T" + strconv.Itoa(i), Enabled: true}
		for j := range 5 {
			t.InboundIPs = append(t.InboundIPs, netip.MustParsePrefix("198.51."+strconv.Itoa(i*10+j)+".0/24"))
		}
		list = append(list, t)
	}
	s.SetTrunks(list)
	ip := netip.MustParseAddr("203.0.113.9") // matches none: the common case
	b.ReportAllocs()
	for b.Loop() {
		if s.inboundTrunk(ip) != nil {
			b.Fatal("matched")
		}
	}
}
