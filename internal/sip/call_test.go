package sip

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
)

// inviteMsg builds an INVITE from the phone to target with an SDP body.
// It returns the message and its Via branch (a CANCEL must repeat it).
func (p *phone) inviteMsg(target, body string, cseq int, extra ...string) (string, string) {
	branch := fmt.Sprintf("z9hG4bKinv%d", time.Now().UnixNano())
	uri := "sip:" + target + "@" + testRealm
	var b strings.Builder
	fmt.Fprintf(&b, "INVITE %s SIP/2.0\r\n", uri)
	fmt.Fprintf(&b, "Via: SIP/2.0/%s %s;branch=%s;rport\r\n", p.transport, p.local(), branch)
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=%s\r\n", p.user, testRealm, p.tag)
	fmt.Fprintf(&b, "To: <%s>\r\n", uri)
	fmt.Fprintf(&b, "Call-ID: %s\r\n", p.callID)
	fmt.Fprintf(&b, "CSeq: %d INVITE\r\n", cseq)
	fmt.Fprintf(&b, "Contact: <sip:%s@%s>\r\n", p.user, p.local())
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	return b.String(), branch
}

// call sends an authenticated INVITE (401 first, ACKed) and returns the
// branch of the authenticated one.
func (p *phone) call(target, password, body string) string {
	p.t.Helper()
	msg, branch := p.inviteMsg(target, body, 1)
	p.send(msg)
	res := p.readFinal()
	if res.StatusCode != 401 {
		p.t.Fatalf("INVITE without credentials: %d", res.StatusCode)
	}
	p.ack(branch, 1, res)
	auth := answer(p.t, res, "", p.user, password, "INVITE", "sip:"+target+"@"+testRealm)
	msg, branch = p.inviteMsg(target, body, 2, auth)
	p.send(msg)
	return branch
}

// readFinal skips provisional responses.
func (p *phone) readFinal() *sip.Response {
	p.t.Helper()
	for {
		m := p.read(3 * time.Second)
		res, ok := m.(*sip.Response)
		if !ok {
			p.t.Fatalf("want a response, got %v", m)
		}
		if res.StatusCode >= 200 {
			return res
		}
	}
}

// ack acknowledges a non-2xx final response (same branch, RFC 3261 17.1.1.3).
func (p *phone) ack(branch string, cseq int, res *sip.Response) {
	to := res.To()
	p.send(fmt.Sprintf("ACK %s SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=%s;rport\r\nMax-Forwards: 70\r\n"+
		"From: <sip:%s@%s>;tag=%s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d ACK\r\nContent-Length: 0\r\n\r\n",
		to.Address.String(), p.transport, p.local(), branch, p.user, testRealm, p.tag, to.Value(), p.callID, cseq))
}

const offerPCMU = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=audio 40000 RTP/AVP 9 0 8 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\n"

// Calls that cannot be connected get the right final response: a target
// nothing matches 404, a busy user 486, nobody answering 480, media we
// cannot pass through 488, and a phone without credentials a challenge.
func TestCallRefusals(t *testing.T) {
	calls := make(chan *Call, 10)
	h := newHarness(t, func(c *Config) {
		c.RTPBindAddr = "127.0.0.1:0"
		c.OnCall = func(call *Call) {
			calls <- call
			switch call.Target {
			case "nobody":
				call.Reject(404, "Not Found")
			case "busy":
				call.Reject(486, "Busy Here")
			case "away":
				call.Ringing()
				call.Hangup() // nobody answered
			}
		}
	})
	for _, tc := range []struct {
		target string
		code   int
	}{{"nobody", 404}, {"busy", 486}, {"away", 480}} {
		p := dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
		p.call(tc.target, "secret", offerPCMU)
		res := p.readFinal()
		if res.StatusCode != tc.code {
			t.Errorf("%s: %d, want %d", tc.target, res.StatusCode, tc.code)
		}
		c := <-calls
		if c.From.Username != "alice" || c.Codec != PCMU || c.Target != tc.target {
			t.Errorf("call %+v", c)
		}
		select {
		case <-c.Done():
		case <-time.After(2 * time.Second):
			t.Fatalf("%s: call did not end", tc.target)
		}
	}
	// Only G.722: a browser would need transcoding, so 488.
	p := dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
	p.call("someone", "secret", strings.Replace(offerPCMU, "RTP/AVP 9 0 8 101", "RTP/AVP 9 101", 1))
	if res := p.readFinal(); res.StatusCode != 488 {
		t.Errorf("G.722 only: %d", res.StatusCode)
	}
	// The wrong password: 403, the handler never sees it.
	p = dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
	p.call("someone", "guess", offerPCMU)
	if res := p.readFinal(); res.StatusCode != 403 {
		t.Errorf("wrong password: %d", res.StatusCode)
	}
	if h.s.ActiveCalls() != 0 || len(calls) != 0 {
		t.Errorf("%d active calls, %d handled", h.s.ActiveCalls(), len(calls))
	}
	if !strings.Contains(h.logs.String(), "sip: call ended") {
		t.Error("no log line for ended calls")
	}
}

// A phone that gives up while the callee rings sends CANCEL: it gets 487,
// and the handler sees the call end as cancelled.
func TestCallCancelled(t *testing.T) {
	calls := make(chan *Call, 1)
	h := newHarness(t, func(c *Config) {
		c.RTPBindAddr = "127.0.0.1:0"
		c.OnCall = func(call *Call) { call.Ringing(); calls <- call }
	})
	p := dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
	branch := p.call("bob", "secret", offerPCMU)
	c := <-calls
	for {
		res, _ := p.read(3 * time.Second).(*sip.Response)
		if res == nil {
			t.Fatalf("no 180\n%s", h.logs)
		}
		if res.StatusCode == 180 {
			if tag, _ := res.To().Params.Get("tag"); tag == "" {
				t.Fatal("180 without a To tag")
			}
			break
		}
	}
	uri := "sip:bob@" + testRealm
	p.send(fmt.Sprintf("CANCEL %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s;rport\r\nMax-Forwards: 70\r\n"+
		"From: <sip:alice@%s>;tag=%s\r\nTo: <%s>\r\nCall-ID: %s\r\nCSeq: 2 CANCEL\r\nContent-Length: 0\r\n\r\n",
		uri, p.local(), branch, testRealm, p.tag, uri, p.callID))
	got := map[int]bool{}
	for range 2 {
		if res, ok := p.read(3 * time.Second).(*sip.Response); ok {
			got[res.StatusCode] = true
		}
	}
	if !got[200] || !got[487] {
		t.Fatalf("CANCEL answers %v, want 200 and 487\n%s", got, h.logs)
	}
	select {
	case <-c.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("call did not end")
	}
	if c.EndReason() != EndCancelled {
		t.Fatalf("ended as %q", c.EndReason())
	}
	if _, err := c.Answer(); err == nil {
		t.Fatal("answered a cancelled call")
	}
}

func sippCall(t *testing.T, h *harness, scenario, target string) (bool, string) {
	t.Helper()
	bin := sippBinary(t)
	const pcaps = "/usr/share/sip-tester"
	if _, err := os.Stat(filepath.Join(pcaps, "g711a.pcap")); err != nil {
		t.Skip("sipp's pcaps are not installed")
	}
	dir := t.TempDir()
	if err := os.Symlink(pcaps, filepath.Join(dir, "pcap")); err != nil {
		t.Fatal(err)
	}
	scen, _ := filepath.Abs(filepath.Join("testdata", scenario))
	cmd := exec.CommandContext(t.Context(), bin, h.s.Addrs().UDP.String(), "-sf", scen, "-s", target,
		"-au", "alice", "-ap", "secret", "-key", "caller", "alice",
		// sipp's digest uri is sip:host:port unless told; phones use the Request-URI.
		"-auth_uri", target+"@"+h.s.Addrs().UDP.String(),
		"-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t, "udp")), "-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "udp")),
		"-m", "1", "-nostdin", "-timeout", "20s", "-timeout_error")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return err == nil, string(out)
}

// sipp as a registered phone calls, authenticates, and streams its G.711
// capture; the handler answers and echoes the audio back to where it comes
// from. Then either side hangs up.
func TestSippCall(t *testing.T) {
	sippBinary(t)
	for _, who := range []string{"phone", "server"} {
		t.Run(who+" hangs up", func(t *testing.T) {
			var mu sync.Mutex
			var call *Call
			var rs *RTPSession
			h := newHarness(t, func(c *Config) {
				c.RTPBindAddr = "127.0.0.1:0"
				c.OnCall = func(cl *Call) {
					cl.Ringing()
					s, err := cl.Answer()
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					call, rs = cl, s
					mu.Unlock()
					s.Start(func(p *rtp.Packet) {
						if p.PayloadType == cl.Codec.PayloadType {
							s.WriteRTP(p)
						}
					})
					if who == "server" {
						deadline := time.Now().Add(10 * time.Second)
						for s.PacketsIn.Load() < 80 && time.Now().Before(deadline) {
							time.Sleep(20 * time.Millisecond)
						}
						cl.Hangup()
					}
				}
			})
			scenario := "uac_auth_call.xml"
			if who == "server" {
				scenario = "uac_auth_call_hungup.xml"
			}
			if ok, out := sippCall(t, h, scenario, "echo"); !ok {
				t.Fatalf("sipp call failed\n%s\n%s", out, h.logs)
			}
			mu.Lock()
			defer mu.Unlock()
			if call == nil {
				t.Fatal("no call")
			}
			select {
			case <-call.Done():
			case <-time.After(3 * time.Second):
				t.Fatal("call did not end")
			}
			want := EndRemoteBye
			if who == "server" {
				want = EndHangup
			}
			peer, learned := rs.Peer()
			t.Logf("codec %s, RTP in %d, out %d, peer %v (learned %v), ended %s",
				call.Codec.Name, rs.PacketsIn.Load(), rs.PacketsOut.Load(), peer, learned, call.EndReason())
			if call.EndReason() != want || call.Codec != PCMA || rs.PacketsIn.Load() < 50 || rs.PacketsOut.Load() < 40 || !learned {
				t.Fatal("the call did not carry media both ways or did not end as it should")
			}
			if h.m.RTPIn.Load() != rs.PacketsIn.Load() || h.m.RTPOut.Load() != rs.PacketsOut.Load() {
				t.Fatalf("RTP totals %d/%d, session %d/%d", h.m.RTPIn.Load(), h.m.RTPOut.Load(), rs.PacketsIn.Load(), rs.PacketsOut.Load())
			}
			if h.m.CallAttempts.Load() != 1 || h.m.CallsAnswered.Load() != 1 || h.s.ActiveCalls() != 0 {
				t.Fatalf("metrics: attempts %d answered %d active %d", h.m.CallAttempts.Load(), h.m.CallsAnswered.Load(), h.s.ActiveCalls())
			}
		})
	}
}

// Calls' RTP ports come from the configured range, even ones only.
func TestListenRTPIn(t *testing.T) {
	const lo, hi = 47311, 47314 // even ports 47312 and 47314
	var open []*RTPSession
	defer func() {
		for _, s := range open {
			s.Close()
		}
	}()
	for range 2 {
		s, err := ListenRTPIn("127.0.0.1", lo, hi, netip.Addr{})
		if err != nil {
			t.Skipf("the test's ports are in use: %v", err)
		}
		open = append(open, s)
		if p := s.LocalAddr().Port(); p%2 != 0 || p < lo || p > hi {
			t.Fatalf("port %d", p)
		}
	}
	if _, err := ListenRTPIn("127.0.0.1", lo, hi, netip.Addr{}); err == nil || !strings.Contains(err.Error(), "taken") {
		t.Fatalf("a full range: %v", err)
	}
}

// Hanging up while the answer is being made sends exactly one final
// response: 200 followed by BYE, or 480.
func TestCallHangupRacesAnswer(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.RTPBindAddr = "127.0.0.1:0"
		c.OnCall = func(call *Call) {
			go call.Hangup()
			call.Answer()
		}
	})
	for range 5 {
		p := dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
		p.call("bob", "secret", offerPCMU)
		res := p.readFinal()
		switch res.StatusCode {
		case 480:
		case 200:
			p.send(fmt.Sprintf("ACK sip:bob@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKack%d;rport\r\nMax-Forwards: 70\r\n"+
				"From: <sip:alice@%s>;tag=%s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d ACK\r\nContent-Length: 0\r\n\r\n",
				testRealm, p.local(), time.Now().UnixNano(), testRealm, p.tag, res.To().Value(), p.callID, res.CSeq().SeqNo))
			req, ok := p.read(3 * time.Second).(*sip.Request)
			for ok && req.Method != sip.BYE { // 200 retransmissions come first
				req, ok = p.read(3 * time.Second).(*sip.Request)
			}
			if !ok {
				t.Fatal("answered, then hung up without a BYE")
			}
		default:
			t.Fatalf("final response %d", res.StatusCode)
		}
		if m := p.read(300 * time.Millisecond); m != nil {
			if r, ok := m.(*sip.Response); ok && r.StatusCode >= 200 && r.StatusCode != 200 {
				t.Fatalf("a second final response: %d", r.StatusCode)
			}
		}
	}
	if h.s.ActiveCalls() != 0 {
		t.Fatalf("%d calls left", h.s.ActiveCalls())
	}
	// And none is left in the table that in-dialog requests search.
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := 0
		h.s.calls.Range(func(_, _ any) bool { n++; return true })
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d ended calls still in the table", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
