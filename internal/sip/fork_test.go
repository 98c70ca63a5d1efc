package sip

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/emiago/sipgo/sip"
)

// twoPhones registers two phones on alice's account (a desk phone over
// UDP, a softphone over TCP): two bindings of one account.
func twoPhones(t *testing.T, edit func(*Config)) (*harness, *phone, *phone) {
	t.Helper()
	h := newHarness(t, func(c *Config) {
		c.RTPBindAddr = "127.0.0.1:0"
		if edit != nil {
			edit(c)
		}
	})
	p1 := dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
	p2 := dialPhone(t, "tcp", h.s.Addrs().TCP.String(), "alice")
	for _, p := range []*phone{p1, p2} {
		if r := p.register("secret", "", p.contact()); r.StatusCode != 200 {
			t.Fatalf("register: %d", r.StatusCode)
		}
	}
	if n := len(h.s.Bindings("alice")); n != 2 {
		t.Fatalf("%d bindings, want 2", n)
	}
	return h, p1, p2
}

// refuseCancel answers a CANCEL of inv the way a phone does: 200 to the
// CANCEL, 487 to the INVITE, then takes the ACK of the 487.
func (p *phone) refuseCancel(inv *sip.Request) *sip.Request {
	p.t.Helper()
	can := p.readRequest("CANCEL")
	if can.CallID().Value() != inv.CallID().Value() || !sameBranch(can, inv) {
		p.t.Fatalf("CANCEL does not match the INVITE:\n%s", can)
	}
	p.reply(can, 200, "OK", "")
	p.reply(inv, 487, "Request Terminated", "")
	p.readRequest("ACK")
	return can
}

func waitDial(t *testing.T, res chan dialResult) dialResult {
	t.Helper()
	select {
	case r := <-res:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("Dial did not return")
	}
	return dialResult{}
}

// Both bindings ring; the softphone answers, the desk phone gets CANCEL
// with "Call completed elsewhere"; 180 is reported once; one record.
func TestForkFirstAnswerWins(t *testing.T) {
	rec := newRecorder()
	h, p1, p2 := twoPhones(t, func(c *Config) { c.OnRecord = rec.add })
	progress := make(chan int, 4)
	res := dialAsync(t.Context(), h.s, progress)
	inv1, inv2 := p1.readRequest("INVITE"), p2.readRequest("INVITE")
	if inv1.CallID().Value() == inv2.CallID().Value() {
		t.Fatal("the branches share a Call-ID")
	}
	p1.reply(inv1, 180, "Ringing", "")
	p2.reply(inv2, 180, "Ringing", "")
	if st := <-progress; st != 180 {
		t.Fatalf("progress %d", st)
	}
	media := udpSocket(t)
	port := netip.MustParseAddrPort(media.LocalAddr().String()).Port()
	p2.reply(inv2, 200, "OK", answerSDP(int(port), 0))
	p2.readRequest("ACK")
	can := p1.refuseCancel(inv1)
	if r := can.GetHeader("Reason"); r == nil || !strings.Contains(r.Value(), "cause=200") ||
		!strings.Contains(r.Value(), "Call completed elsewhere") {
		t.Errorf("CANCEL Reason: %v", r)
	}
	r := waitDial(t, res)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.c.Binding.Transport != "TCP" || r.c.Binding.Source != p2.local() || r.c.WebRTC {
		t.Errorf("won by %+v", r.c.Binding)
	}
	select {
	case st := <-progress:
		t.Errorf("180 reported twice (%d)", st)
	default:
	}
	if n := h.s.ActiveCalls(); n != 1 {
		t.Errorf("active calls %d", n)
	}
	r.c.Hangup()
	bye := p2.readRequest("BYE")
	p2.reply(bye, 200, "OK", "")
	<-r.c.Done()
	got := rec.next(t)
	if got.CallID != inv2.CallID().Value() || got.Outcome != OutcomeAnswered {
		t.Errorf("record %+v", got)
	}
	rec.none(t)
}

// A 200 from the second phone after the first answered is acknowledged
// and hung up at once; the call stays with the first.
func TestForkLateSecondAnswer(t *testing.T) {
	h, p1, p2 := twoPhones(t, nil)
	res := dialAsync(t.Context(), h.s, nil)
	inv1, inv2 := p1.readRequest("INVITE"), p2.readRequest("INVITE")
	p1.reply(inv1, 200, "OK", answerSDP(40000, 0))
	p1.readRequest("ACK")
	// No provisional response yet, so no CANCEL: the phone answers.
	p2.reply(inv2, 200, "OK", answerSDP(40002, 0))
	p2.readRequest("ACK")
	bye := p2.readRequest("BYE")
	if bye.CallID().Value() != inv2.CallID().Value() {
		t.Fatal("BYE for another call")
	}
	p2.reply(bye, 200, "OK", "")
	r := waitDial(t, res)
	if r.err != nil || r.c.Binding.Source != p1.local() {
		t.Fatalf("dial: %v", r.err)
	}
	select {
	case <-r.c.Done():
		t.Fatal("the winning call ended")
	case <-time.After(200 * time.Millisecond):
	}
}

// All busy: 486. One busy and one timing out / refusing with 480: busy
// still wins (RFC 3261 16.7). A 603 from one ends the other (CANCEL).
func TestForkFailures(t *testing.T) {
	t.Run("all busy", func(t *testing.T) {
		rec := newRecorder()
		h, p1, p2 := twoPhones(t, func(c *Config) { c.OnRecord = rec.add })
		res := dialAsync(t.Context(), h.s, nil)
		inv1, inv2 := p1.readRequest("INVITE"), p2.readRequest("INVITE")
		p1.reply(inv1, 486, "Busy Here", "")
		p2.reply(inv2, 480, "Temporarily Unavailable", "")
		r := waitDial(t, res)
		var de *DialError
		if !errors.As(r.err, &de) || de.Status != 486 {
			t.Fatalf("want 486, got %v", r.err)
		}
		if got := rec.next(t); got.Outcome != OutcomeBusy || got.Status != 486 {
			t.Errorf("record %+v", got)
		}
		rec.none(t)
	})
	t.Run("declined", func(t *testing.T) {
		h, p1, p2 := twoPhones(t, nil)
		res := dialAsync(t.Context(), h.s, nil)
		inv1, inv2 := p1.readRequest("INVITE"), p2.readRequest("INVITE")
		p2.reply(inv2, 180, "Ringing", "")
		p1.reply(inv1, 603, "Decline", "")
		r := waitDial(t, res)
		var de *DialError
		if !errors.As(r.err, &de) || de.Status != 603 {
			t.Fatalf("want 603, got %v", r.err)
		}
		can := p2.refuseCancel(inv2)
		if can.GetHeader("Reason") != nil {
			t.Errorf("a declined call's CANCEL says it was completed elsewhere")
		}
	})
	t.Run("caller cancels", func(t *testing.T) {
		rec := newRecorder()
		h, p1, p2 := twoPhones(t, func(c *Config) { c.OnRecord = rec.add })
		ctx, cancel := context.WithCancel(t.Context())
		res := dialAsync(ctx, h.s, nil)
		inv1, inv2 := p1.readRequest("INVITE"), p2.readRequest("INVITE")
		p1.reply(inv1, 180, "Ringing", "")
		p2.reply(inv2, 180, "Ringing", "")
		time.Sleep(50 * time.Millisecond)
		cancel()
		p1.refuseCancel(inv1)
		p2.refuseCancel(inv2)
		if r := waitDial(t, res); !errors.Is(r.err, ErrDialCancelled) {
			t.Fatalf("want cancelled, got %v", r.err)
		}
		if got := rec.next(t); got.Outcome != OutcomeCancelled {
			t.Errorf("record %+v", got)
		}
		rec.none(t)
		if n := h.s.ActiveCalls(); n != 0 {
			t.Errorf("active calls %d", n)
		}
	})
}

// Early media comes from the first branch that sends it; another branch
// may still answer, and the call's RTP goes to its address.
func TestForkEarlyMediaThenOtherAnswers(t *testing.T) {
	h, p1, p2 := twoPhones(t, nil)
	early := make(chan EarlyMedia, 2)
	out := make(chan dialResult, 1)
	go func() {
		c, err := h.s.Dial(t.Context(), DialRequest{Username: "alice", FromUser: "bob", OnEarly: func(e EarlyMedia) { early <- e }})
		out <- dialResult{c, err}
	}()
	inv1, inv2 := p1.readRequest("INVITE"), p2.readRequest("INVITE")
	p1.reply(inv1, 183, "Session Progress", answerSDP(41000, 8))
	e := <-early
	p2.reply(inv2, 183, "Session Progress", answerSDP(42000, 0))
	if e.Codec.Name != "PCMA" {
		t.Fatalf("early media: %+v", e.Codec)
	}
	if peer, _ := e.RTP.Peer(); peer.Port() != 41000 {
		t.Fatalf("early media to %v", peer)
	}
	p2.reply(inv2, 200, "OK", answerSDP(42000, 8))
	p2.readRequest("ACK")
	p1.refuseCancel(inv1)
	r := waitDial(t, out)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.c.RTP() != e.RTP {
		t.Error("the answered call has another RTP session than its early media")
	}
	if peer, _ := r.c.RTP().Peer(); peer.Port() != 42000 {
		t.Errorf("media to %v, want the answering phone's", peer)
	}
	select {
	case <-early:
		t.Error("early media reported twice")
	default:
	}
}

func TestBestStatus(t *testing.T) {
	for _, c := range []struct {
		in   []int
		want int
	}{
		{nil, 408},
		{[]int{486, 480}, 486},
		{[]int{480, 486}, 486},
		{[]int{408, 404}, 404},
		{[]int{503, 480}, 480},
		{[]int{503, 500}, 503},
		{[]int{302, 404}, 302},
		{[]int{487, 408}, 487},
		{[]int{404, 600}, 600},
	} {
		if got := bestStatus(c.in); got != c.want {
			t.Errorf("bestStatus(%v) = %d, want %d", c.in, got, c.want)
		}
	}
}

// webrtcSDP is a browser's SDP (ICE, DTLS fingerprint, SAVPF) at port.
func webrtcSDP(port int) string {
	return "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n" +
		"a=fingerprint:sha-256 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\r\n" +
		"m=audio " + strconv.Itoa(port) + " UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 127.0.0.1\r\na=mid:0\r\na=rtpmap:0 PCMU/8000\r\n" +
		"a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=setup:actpass\r\na=rtcp-mux\r\na=sendrecv\r\n"
}

// wsPhone registers alice from a browser SIP client over WebSocket.
func wsPhone(t *testing.T, h *harness) *phone {
	t.Helper()
	hs := httptest.NewServer(h.s.WebSocketHandler())
	t.Cleanup(hs.Close)
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/sip"
	c, _, err := websocket.Dial(t.Context(), url, &websocket.DialOptions{Subprotocols: []string{"sip"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	p := newPhone(t, newWSConn(c), "UDP", "alice") // "UDP": one message per read
	msg := func(s string) string { return strings.Replace(s, "SIP/2.0/UDP", "SIP/2.0/WSS", 1) }
	uri := "sip:" + testRealm
	contact := "Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws>"
	p.send(msg(p.request("REGISTER", uri, contact)))
	ch := p.expect(401)
	p.send(msg(p.request("REGISTER", uri, contact, answer(t, ch, "", "alice", "secret", "REGISTER", uri))))
	p.expect(200)
	return p
}

// A desk phone (UDP) and a browser SIP client (WebSocket) on one account:
// the phone gets our RTP offer, the browser the WebRTC offer; the browser
// answers, its answer goes to OnWebRTCAnswer and the phone gets CANCEL.
// Without a WebRTC offer the browser is not rung.
func TestForkWebSocketAndUDP(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RTPBindAddr = "127.0.0.1:0" })
	p1 := dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
	if r := p1.register("secret", "", p1.contact()); r.StatusCode != 200 {
		t.Fatalf("register: %d", r.StatusCode)
	}
	pw := wsPhone(t, h)

	offer := webrtcSDP(9)
	answers := make(chan string, 1)
	out := make(chan dialResult, 1)
	go func() {
		c, err := h.s.Dial(t.Context(), DialRequest{Username: "alice", FromUser: "bob",
			WebRTCOffer: []byte(offer), OnWebRTCAnswer: func(b []byte) error { answers <- string(b); return nil }})
		out <- dialResult{c, err}
	}()
	inv1, invw := p1.readRequest("INVITE"), pw.readRequest("INVITE")
	if md, err := ParseSDP(inv1.Body()); err != nil || md.WebRTC {
		t.Fatalf("the desk phone's offer: %+v %v", md, err)
	}
	if string(invw.Body()) != offer {
		t.Fatalf("the browser got another offer:\n%s", invw.Body())
	}
	p1.reply(inv1, 180, "Ringing", "")
	pw.reply(invw, 200, "OK", webrtcSDP(50000))
	pw.readRequest("ACK")
	p1.refuseCancel(inv1)
	r := waitDial(t, out)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !r.c.WebRTC || r.c.RTP() != nil || r.c.Binding.Transport != "WS" {
		t.Errorf("won by %+v, webrtc %v", r.c.Binding, r.c.WebRTC)
	}
	if a := <-answers; a != webrtcSDP(50000) {
		t.Errorf("answer %q", a)
	}

	// Without a WebRTC offer, only the desk phone rings.
	res := dialAsync(t.Context(), h.s, nil)
	inv1 = p1.readRequest("INVITE")
	p1.reply(inv1, 486, "Busy Here", "")
	var de *DialError
	if r := waitDial(t, res); !errors.As(r.err, &de) || de.Status != 486 {
		t.Fatalf("want 486, got %v", r.err)
	}
	pw.silence(200 * time.Millisecond)
}

// onePhone registers one UDP phone on alice's account.
func onePhone(t *testing.T) (*harness, *phone) {
	t.Helper()
	h := newHarness(t, func(c *Config) { c.RTPBindAddr = "127.0.0.1:0" })
	p := dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
	if r := p.register("secret", "", p.contact()); r.StatusCode != 200 {
		t.Fatalf("register: %d", r.StatusCode)
	}
	return h, p
}

// A phone that rang, then sends no final response to our CANCEL (it
// vanished, or answered the CANCEL 481): the branch gives up after
// cancelWait instead of waiting forever (sipgo's Timer B stopped at 180).
func TestForkCancelWithoutFinalResponse(t *testing.T) {
	h, p := onePhone(t)
	h.s.cancelWait = 300 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	res := dialAsync(ctx, h.s, nil)
	inv := p.readRequest("INVITE")
	p.reply(inv, 180, "Ringing", "")
	waitFor(t, "the branch", func() bool { return h.s.liveBranches.Load() == 1 })
	time.Sleep(50 * time.Millisecond)
	cancel()
	can := p.readRequest("CANCEL")
	p.reply(can, 481, "Call/Transaction Does Not Exist", "")
	if r := waitDial(t, res); !errors.Is(r.err, ErrDialCancelled) {
		t.Fatalf("want cancelled, got %v", r.err)
	}
	waitFor(t, "the branch to end", func() bool { return h.s.liveBranches.Load() == 0 })
}

// A phone rings longer than ringLimit: it gets CANCEL and the call is
// refused 408 (no answer), not 487.
func TestForkRingLimit(t *testing.T) {
	h, p := onePhone(t)
	h.s.ringLimit = 300 * time.Millisecond
	res := dialAsync(t.Context(), h.s, nil)
	inv := p.readRequest("INVITE")
	p.reply(inv, 180, "Ringing", "")
	can := p.readRequest("CANCEL")
	if can.GetHeader("Reason") != nil {
		t.Errorf("a CANCEL for ringing too long says the call was completed elsewhere")
	}
	p.reply(can, 200, "OK", "")
	p.reply(inv, 487, "Request Terminated", "")
	p.readRequest("ACK")
	var de *DialError
	if r := waitDial(t, res); !errors.As(r.err, &de) || de.Status != 408 {
		t.Fatalf("want 408, got %v", r.err)
	}
	waitFor(t, "the branch to end", func() bool { return h.s.liveBranches.Load() == 0 })
}

// An account set to sdes: the softphone answers in clear RTP. Its 2xx is
// acknowledged and hung up, but it does not win: the desk phone rings on
// (no CANCEL) and answers with a key. When every phone answers in clear,
// the call is refused 488 with cause no-srtp.
func TestForkUnusableAnswerDoesNotWin(t *testing.T) {
	t.Run("other answers", func(t *testing.T) {
		h, p1, p2 := twoPhones(t, nil)
		sdesAccount(h)
		res := dialAsync(t.Context(), h.s, nil)
		inv1, inv2 := p1.readRequest("INVITE"), p2.readRequest("INVITE")
		p1.reply(inv1, 180, "Ringing", "")
		p2.reply(inv2, 200, "OK", answerSDP(40000, 0))
		p2.readRequest("ACK")
		bye := p2.readRequest("BYE")
		p2.reply(bye, 200, "OK", "")
		p1.silence(300 * time.Millisecond) // no CANCEL: it still rings
		offer, err := ParseSDP(inv1.Body())
		if err != nil || offer.SRTP == nil {
			t.Fatalf("offer %v", err)
		}
		p1.reply(inv1, 200, "OK", sdesAnswer(40002, offer.SRTP.Tag, offer.SRTP.Suite, bytes.Repeat([]byte{7}, sdesKeyLen)))
		p1.readRequest("ACK")
		r := waitDial(t, res)
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.c.Binding.Source != p1.local() {
			t.Errorf("won by %+v", r.c.Binding)
		}
		r.c.Hangup()
		p1.reply(p1.readRequest("BYE"), 200, "OK", "")
	})
	t.Run("all in clear", func(t *testing.T) {
		h, p1, p2 := twoPhones(t, nil)
		sdesAccount(h)
		res := dialAsync(t.Context(), h.s, nil)
		inv1, inv2 := p1.readRequest("INVITE"), p2.readRequest("INVITE")
		for _, pi := range []struct {
			p   *phone
			inv *sip.Request
		}{{p1, inv1}, {p2, inv2}} {
			pi.p.reply(pi.inv, 200, "OK", answerSDP(40000, 0))
			pi.p.readRequest("ACK")
			pi.p.reply(pi.p.readRequest("BYE"), 200, "OK", "")
		}
		var de *DialError
		if r := waitDial(t, res); !errors.As(r.err, &de) || de.Status != 488 || de.Cause != EndNoSRTP {
			t.Fatalf("want 488 no-srtp, got %v", r.err)
		}
	})
}

// A trunk that challenges our INVITE with 407: the INVITE is sent again
// with Proxy-Authorization and the call connects. When the caller gave up
// before the challenge came, the 407 is final: no new INVITE goes out.
func TestTrunkDialChallenge(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RTPBindAddr = "127.0.0.1:0" })
	tp := newProxy(t) // the trunk
	port := netip.MustParseAddrPort(tp.addr()).Port()
	h.s.SetTrunks([]Trunk{testTrunk(int(port))})
	challenge := sip.NewHeader("Proxy-Authenticate", `Digest realm="provider.test", nonce="n0nce", algorithm=MD5, qop="auth"`)
	toTag := func(req *sip.Request) {
		req.To().Params.Add("tag", "trunk")
	}

	t.Run("answered", func(t *testing.T) {
		out := make(chan dialResult, 1)
		go func() {
			c, err := h.s.DialTrunk(t.Context(), TrunkDialRequest{Trunk: "t1", Number: "+15551234567"})
			out <- dialResult{c, err}
		}()
		inv, from := tp.next(5 * time.Second)
		if inv == nil || inv.Method != sip.INVITE {
			t.Fatalf("no INVITE: %v", inv)
		}
		toTag(inv)
		tp.respond(inv, from, 407, "Proxy Authentication Required", challenge)
		if ack, _ := tp.next(3 * time.Second); ack == nil || ack.Method != sip.ACK {
			t.Fatalf("the 407 was not acknowledged: %v", ack)
		}
		inv2, from := tp.next(3 * time.Second)
		if inv2 == nil || inv2.Method != sip.INVITE || inv2.GetHeader("Proxy-Authorization") == nil {
			t.Fatalf("no INVITE with credentials: %v", inv2)
		}
		if !strings.Contains(inv2.GetHeader("Proxy-Authorization").Value(), `username="trunkuser"`) {
			t.Errorf("credentials %s", inv2.GetHeader("Proxy-Authorization").Value())
		}
		toTag(inv2)
		res := sip.NewResponseFromRequest(inv2, 200, "OK", []byte(answerSDP(40000, 0)))
		res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: int(port)}})
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		tp.conn.WriteToUDP([]byte(res.String()), from)
		if ack, _ := tp.next(3 * time.Second); ack == nil || ack.Method != sip.ACK {
			t.Fatalf("no ACK of the 200: %v", ack)
		}
		r := waitDial(t, out)
		if r.err != nil {
			t.Fatal(r.err)
		}
		r.c.Hangup()
		tp.readRequest("BYE")
		<-r.c.Done()
	})
	t.Run("cancelled before the challenge", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		out := make(chan dialResult, 1)
		go func() {
			c, err := h.s.DialTrunk(ctx, TrunkDialRequest{Trunk: "t1", Number: "+15551234567"})
			out <- dialResult{c, err}
		}()
		inv, from := tp.next(5 * time.Second)
		if inv == nil || inv.Method != sip.INVITE {
			t.Fatalf("no INVITE: %v", inv)
		}
		cancel()
		if r := waitDial(t, out); !errors.Is(r.err, ErrDialCancelled) {
			t.Fatalf("want cancelled, got %v", r.err)
		}
		toTag(inv)
		tp.respond(inv, from, 407, "Proxy Authentication Required", challenge)
		for {
			m, _ := tp.next(500 * time.Millisecond)
			if m == nil {
				break
			}
			if m.Method != sip.ACK {
				t.Fatalf("after the caller gave up, the trunk got\n%s", m)
			}
		}
		waitFor(t, "the branch to end", func() bool { return h.s.liveBranches.Load() == 0 })
	})
}

// Over UDP our ACK of a refusal may be lost: the phone resends its final
// response, and it is acknowledged again (the transaction lives on for
// Timer D), for a 486 and for the 487 after our CANCEL. (About 9 s:
// sipgo waits T2 before each such ACK.)
func TestForkRefusalReacknowledged(t *testing.T) {
	h, p := onePhone(t)
	resend := func(inv *sip.Request, code int, reason string) {
		t.Helper()
		p.reply(inv, code, reason, "")
		p.readRequest("ACK")
		time.Sleep(100 * time.Millisecond)
		p.reply(inv, code, reason, "") // as if our ACK were lost
		// sipgo waits T2 (4 s) before it ACKs a retransmission again.
		if ack, ok := p.read(10 * time.Second).(*sip.Request); !ok || ack.Method != sip.ACK {
			t.Fatalf("the resent %d was not acknowledged: %v", code, ack)
		}
	}
	res := dialAsync(t.Context(), h.s, nil)
	inv := p.readRequest("INVITE")
	resend(inv, 486, "Busy Here")
	var de *DialError
	if r := waitDial(t, res); !errors.As(r.err, &de) || de.Status != 486 {
		t.Fatalf("want 486, got %v", r.err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	res = dialAsync(ctx, h.s, nil)
	inv = p.readRequest("INVITE")
	p.reply(inv, 180, "Ringing", "")
	time.Sleep(50 * time.Millisecond)
	cancel()
	p.reply(p.readRequest("CANCEL"), 200, "OK", "")
	resend(inv, 487, "Request Terminated")
	if r := waitDial(t, res); !errors.Is(r.err, ErrDialCancelled) {
		t.Fatalf("want cancelled, got %v", r.err)
	}
}
