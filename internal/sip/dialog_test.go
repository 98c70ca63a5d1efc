package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// recorder collects call detail records.
type recorder struct {
	mu   sync.Mutex
	recs []CallRecord
	ch   chan CallRecord
}

func newRecorder() *recorder { return &recorder{ch: make(chan CallRecord, 16)} }

func (r *recorder) add(rec CallRecord) {
	r.mu.Lock()
	r.recs = append(r.recs, rec)
	r.mu.Unlock()
	r.ch <- rec
}

func (r *recorder) next(t *testing.T) CallRecord {
	t.Helper()
	select {
	case rec := <-r.ch:
		return rec
	case <-time.After(5 * time.Second):
		t.Fatal("no call record")
	}
	return CallRecord{}
}

// none checks that no further record comes.
func (r *recorder) none(t *testing.T) {
	t.Helper()
	select {
	case rec := <-r.ch:
		t.Fatalf("an extra record: %+v", rec)
	case <-time.After(200 * time.Millisecond):
	}
}

// offerAt is an SDP offer of PCMU and telephone-event at port, with
// direction.
func offerAt(port uint16, direction string) string {
	return fmt.Sprintf("v=0\r\no=- 1 %d IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=%s\r\n", time.Now().UnixNano()%1000, port, direction)
}

// inDialogMsg builds a request from the phone inside a dialog.
func (p *phone) inDialogMsg(method, from, to string, cseq int, ctype, body string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s sip:%s@%s SIP/2.0\r\n", method, p.user, testRealm)
	fmt.Fprintf(&b, "Via: SIP/2.0/%s %s;branch=z9hG4bKdlg%d;rport\r\n", p.transport, p.local(), time.Now().UnixNano())
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n", from, to, p.callID, cseq, method)
	fmt.Fprintf(&b, "Contact: <sip:%s@%s>\r\n", p.user, p.local())
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	if ctype != "" {
		fmt.Fprintf(&b, "Content-Type: %s\r\n", ctype)
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.String()
}

// inbound is an answered call from the hand-rolled phone.
type inbound struct {
	h     *harness
	p     *phone
	c     *Call
	ok    *sip.Response // our 200
	media *net.UDPConn  // the phone's RTP socket
	cseq  int
}

// from and to are the phone's From and To inside the call.
func (in *inbound) from() string {
	return fmt.Sprintf("<sip:%s@%s>;tag=%s", in.p.user, testRealm, in.p.tag)
}
func (in *inbound) to() string { return in.ok.To().Value() }

// send sends a request inside the call, with the next CSeq.
func (in *inbound) send(method, ctype, body string, extra ...string) {
	in.cseq++
	in.p.send(in.p.inDialogMsg(method, in.from(), in.to(), in.cseq, ctype, body, extra...))
}

// answered sets up a call from alice that the server answers; edit may
// change the config, extra headers go in the INVITE.
func answered(t *testing.T, edit func(*Config), extra ...string) *inbound {
	t.Helper()
	return answeredOffer(t, edit, func(port uint16) string { return offerAt(port, SendRecv) }, extra...)
}

// answeredOffer is answered with the phone's offer at its media port.
func answeredOffer(t *testing.T, edit func(*Config), offer func(port uint16) string, extra ...string) *inbound {
	t.Helper()
	calls := make(chan *Call, 1)
	h := newHarness(t, func(c *Config) {
		c.RTPBindAddr = "127.0.0.1:0"
		c.OnCall = func(call *Call) {
			if _, err := call.Answer(); err != nil {
				t.Error(err)
			}
			calls <- call
		}
		if edit != nil {
			edit(c)
		}
	})
	in := &inbound{h: h, media: udpSocket(t), cseq: 2}
	in.p = dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
	port := netip.MustParseAddrPort(in.media.LocalAddr().String()).Port()
	msg, branch := in.p.inviteMsg("bob", offer(port), 1, extra...)
	in.p.send(msg)
	res := in.p.readFinal()
	in.p.ack(branch, 1, res)
	auth := answer(t, res, "", "alice", "secret", "INVITE", "sip:bob@"+testRealm)
	msg, _ = in.p.inviteMsg("bob", offer(port), 2, append(extra, auth)...)
	in.p.send(msg)
	in.ok = in.p.readFinal()
	if in.ok.StatusCode != 200 {
		t.Fatalf("the call got %d", in.ok.StatusCode)
	}
	in.c = <-calls
	in.p.send(in.p.inDialogMsg("ACK", in.from(), in.to(), 2, "", ""))
	waitFor(t, "the ACK", func() bool {
		select {
		case <-in.c.byeReady:
			return true
		default:
			return false
		}
	})
	return in
}

// Every call leg gives exactly one record: answered (with its RTP
// statistics), rejected, cancelled, refused for its media.
func TestCallRecordsInbound(t *testing.T) {
	rec := newRecorder()
	in := answered(t, func(c *Config) { c.OnRecord = rec.add })
	rs := in.c.RTP()
	rs.Start(nil)
	// Packets 1, 2, 4, 5: one lost.
	for _, seq := range []uint16{1, 2, 4, 5} {
		sendRTP(t, in.media, rs.LocalAddr(), seq, 0)
	}
	waitFor(t, "RTP", func() bool { return rs.PacketsIn.Load() == 4 })
	in.send("BYE", "", "")
	in.p.expect(200)
	r := rec.next(t)
	if r.CallID != in.p.callID || r.Direction != RecordInbound || r.From != "alice" || r.To != "bob" ||
		r.Outcome != OutcomeAnswered || r.Status != 200 || r.Cause != EndRemoteBye || r.Codec != "PCMU" ||
		r.PacketsReceived != 4 || r.PacketsLost != 1 || r.Answered.IsZero() || r.Ended.Before(r.Answered) || r.Started.After(r.Answered) {
		t.Fatalf("answered record %+v", r)
	}
	rec.none(t)
}

func TestCallRecordsInboundRefused(t *testing.T) {
	rec := newRecorder()
	calls := make(chan *Call, 4)
	h := newHarness(t, func(c *Config) {
		c.RTPBindAddr = "127.0.0.1:0"
		c.OnRecord = rec.add
		c.OnCall = func(call *Call) {
			switch call.Target {
			case "busy":
				call.Reject(486, "Busy Here")
			default:
				call.Ringing()
				calls <- call
			}
		}
	})
	p := dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
	p.call("busy", "secret", offerPCMU)
	p.readFinal()
	if r := rec.next(t); r.Outcome != OutcomeBusy || r.Status != 486 || r.Cause != EndRejected || r.To != "busy" || !r.Answered.IsZero() {
		t.Fatalf("busy record %+v", r)
	}
	// G.722 only: refused with 488, still a record.
	p = dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
	p.call("x", "secret", strings.Replace(offerPCMU, "RTP/AVP 9 0 8 101", "RTP/AVP 9 101", 1))
	p.readFinal()
	if r := rec.next(t); r.Outcome != OutcomeRejected || r.Status != 488 {
		t.Fatalf("488 record %+v", r)
	}
	// Cancelled while ringing.
	p = dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
	branch := p.call("ring", "secret", offerPCMU)
	c := <-calls
	uri := "sip:ring@" + testRealm
	p.send(fmt.Sprintf("CANCEL %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s;rport\r\nMax-Forwards: 70\r\n"+
		"From: <sip:alice@%s>;tag=%s\r\nTo: <%s>\r\nCall-ID: %s\r\nCSeq: 2 CANCEL\r\nContent-Length: 0\r\n\r\n",
		uri, p.local(), branch, testRealm, p.tag, uri, p.callID))
	<-c.Done()
	if r := rec.next(t); r.Outcome != OutcomeCancelled || r.Status != 487 || r.Cause != EndCancelled {
		t.Fatalf("cancelled record %+v", r)
	}
	rec.none(t)
}

// outbound is an answered call to the hand-rolled phone.
type outbound struct {
	h     *harness
	p     *phone
	c     *OutCall
	inv   *sip.Request
	media *net.UDPConn
	cseq  int
}

func (o *outbound) from() string { return o.inv.To().Value() } // reply gave it the phone's tag
func (o *outbound) to() string   { return o.inv.From().Value() }

func (o *outbound) send(method, ctype, body string, extra ...string) {
	o.cseq++
	o.p.send(o.p.inDialogMsg(method, o.from(), o.to(), o.cseq, ctype, body, extra...))
}

// dialed sets up a call to alice that her phone answers.
func dialed(t *testing.T, edit func(*Config), answerExtra ...string) *outbound {
	t.Helper()
	h := newHarness(t, func(c *Config) {
		c.RTPBindAddr = "127.0.0.1:0"
		if edit != nil {
			edit(c)
		}
	})
	o := &outbound{h: h, media: udpSocket(t), cseq: 10}
	o.p = dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
	if r := o.p.register("secret", "", o.p.contact()); r.StatusCode != 200 {
		t.Fatalf("register: %d", r.StatusCode)
	}
	res := dialAsync(t.Context(), h.s, nil)
	o.inv = o.p.readRequest("INVITE")
	o.p.callID = o.inv.CallID().Value() // the phone's requests are in our call
	port := netip.MustParseAddrPort(o.media.LocalAddr().String()).Port()
	o.p.replyWith(o.inv, 200, "OK", answerSDP(int(port), 0), answerExtra...)
	o.p.readRequest("ACK")
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	o.c = r.c
	return o
}

// replyWith is reply with extra headers.
func (p *phone) replyWith(req *sip.Request, code int, reason, body string, extra ...string) {
	p.t.Helper()
	if len(extra) == 0 {
		p.reply(req, code, reason, body)
		return
	}
	for _, e := range extra {
		k, v, _ := strings.Cut(e, ":")
		req.AppendHeader(sip.NewHeader(k, strings.TrimSpace(v))) // copied into the response below
	}
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	if to := req.To(); to != nil {
		if _, ok := to.Params.Get("tag"); !ok {
			to.Params.Add("tag", "phone"+p.user)
		}
	}
	res := sip.NewResponseFromRequest(req, code, reason, b)
	for _, e := range extra {
		k, v, _ := strings.Cut(e, ":")
		res.AppendHeader(sip.NewHeader(k, strings.TrimSpace(v)))
	}
	res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: p.user, Host: "192.0.2.1", Port: 5060}})
	if body != "" {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	p.send(res.String())
}

func TestCallRecordsOutbound(t *testing.T) {
	rec := newRecorder()
	o := dialed(t, func(c *Config) { c.OnRecord = rec.add })
	o.c.RTP().Start(nil)
	for _, seq := range []uint16{100, 101, 102} {
		sendRTP(t, o.media, o.c.RTP().LocalAddr(), seq, 0)
	}
	waitFor(t, "RTP", func() bool { return o.c.RTP().PacketsIn.Load() == 3 })
	o.c.Hangup()
	bye := o.p.readRequest("BYE")
	o.p.reply(bye, 200, "OK", "")
	r := rec.next(t)
	if r.Direction != RecordOutbound || r.From != "bob" || r.FromName != "Bob" || r.To != "alice" || r.Outcome != OutcomeAnswered ||
		r.Cause != EndHangup || r.PacketsReceived != 3 || r.PacketsLost != 0 || r.Codec != "PCMU" || r.CallID == "" {
		t.Fatalf("answered record %+v", r)
	}
	// Busy, then cancelled.
	res := dialAsync(t.Context(), o.h.s, nil)
	inv := o.p.readRequest("INVITE")
	o.p.reply(inv, 486, "Busy Here", "")
	o.p.readRequest("ACK")
	if r := <-res; r.err == nil {
		t.Fatal("busy call answered")
	}
	if r := rec.next(t); r.Outcome != OutcomeBusy || r.Status != 486 || r.Cause != EndRejected {
		t.Fatalf("busy record %+v", r)
	}
	ctx, cancel := context.WithCancel(t.Context())
	res = dialAsync(ctx, o.h.s, nil)
	inv = o.p.readRequest("INVITE")
	o.p.reply(inv, 180, "Ringing", "")
	time.Sleep(50 * time.Millisecond)
	cancel()
	can := o.p.readRequest("CANCEL")
	o.p.reply(can, 200, "OK", "")
	o.p.reply(inv, 487, "Request Terminated", "")
	if r := <-res; !errors.Is(r.err, ErrDialCancelled) {
		t.Fatalf("cancelled dial: %v", r.err)
	}
	if r := rec.next(t); r.Outcome != OutcomeCancelled || r.Status != 487 {
		t.Fatalf("cancelled record %+v", r)
	}
	rec.none(t)
}

// The phone holds (a=sendonly), resumes at a new port, holds the old way
// (c=0.0.0.0); each re-INVITE gets 200 with the mirrored direction, OnHold
// hears of it, and the media follows the new address.
func TestPhoneHoldsAndResumes(t *testing.T) {
	in := answered(t, nil)
	held := make(chan bool, 4)
	in.c.OnHold(func(h bool) { held <- h })
	port := netip.MustParseAddrPort(in.media.LocalAddr().String()).Port()
	check := func(offer, wantDir string, wantHeld bool) {
		t.Helper()
		in.send("INVITE", "application/sdp", offer)
		res := in.p.readFinal()
		if res.StatusCode != 200 {
			t.Fatalf("re-INVITE got %d", res.StatusCode)
		}
		ans, err := ParseSDP(res.Body())
		if err != nil || ans.Direction != wantDir {
			t.Fatalf("answer direction %q (%v), want %q", ans.Direction, err, wantDir)
		}
		in.p.send(in.p.inDialogMsg("ACK", in.from(), in.to(), in.cseq, "", ""))
		select {
		case h := <-held:
			if h != wantHeld {
				t.Fatalf("OnHold(%v), want %v", h, wantHeld)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("OnHold not called")
		}
	}
	check(offerAt(port, SendOnly), RecvOnly, true)
	if _, byPhone := in.c.Held(); !byPhone {
		t.Fatal("not held")
	}
	other := udpSocket(t)
	oport := netip.MustParseAddrPort(other.LocalAddr().String()).Port()
	check(offerAt(oport, SendRecv), SendRecv, false)
	if got := in.c.RTP().signalledAddr(); got.Port() != oport {
		t.Fatalf("media still at %v", got)
	}
	old := strings.Replace(offerAt(oport, SendRecv), "c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0", 1)
	check(old, RecvOnly, true)
	// A codec we cannot switch to: 488, the session stays.
	in.send("INVITE", "application/sdp", strings.Replace(offerAt(oport, SendRecv), "RTP/AVP 0 101", "RTP/AVP 8 101", 1))
	if res := in.p.readFinal(); res.StatusCode != 488 {
		t.Fatalf("codec change got %d", res.StatusCode)
	}
	// A CSeq that does not grow: 500.
	in.cseq -= 2
	in.send("INVITE", "application/sdp", offerAt(oport, SendRecv))
	if res := in.p.readFinal(); res.StatusCode != 500 {
		t.Fatalf("old CSeq got %d", res.StatusCode)
	}
}

// We hold and resume the phone we called: re-INVITEs with sendonly and
// sendrecv, with growing CSeq, ACKed; 491 is reported as ErrRequestPending;
// the phone's re-INVITE while ours is pending gets 491 (glare).
func TestWeHoldAndResume(t *testing.T) {
	o := dialed(t, nil)
	errc := make(chan error, 1)
	go func() { errc <- o.c.Hold() }()
	inv := o.p.readRequest("INVITE")
	offer, err := ParseSDP(inv.Body())
	if err != nil || offer.Direction != SendOnly {
		t.Fatalf("hold offer %q (%v)", offer.Direction, err)
	}
	// Glare: the phone's own re-INVITE now gets 491.
	port := netip.MustParseAddrPort(o.media.LocalAddr().String()).Port()
	o.send("INVITE", "application/sdp", offerAt(port, SendRecv))
	if res := o.p.readFinal(); res.StatusCode != 491 {
		t.Fatalf("glare got %d", res.StatusCode)
	}
	o.p.reply(inv, 200, "OK", strings.Replace(answerSDP(int(port), 0), "telephone-event/8000\r\n", "telephone-event/8000\r\na=recvonly\r\n", 1))
	ack := o.p.readRequest("ACK")
	if ack.CSeq().SeqNo != inv.CSeq().SeqNo {
		t.Fatalf("ACK CSeq %d for INVITE %d", ack.CSeq().SeqNo, inv.CSeq().SeqNo)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if byUs, _ := o.c.Held(); !byUs {
		t.Fatal("not held by us")
	}
	go func() { errc <- o.c.Resume() }()
	inv2 := o.p.readRequest("INVITE")
	if inv2.CSeq().SeqNo <= inv.CSeq().SeqNo {
		t.Fatalf("CSeq did not grow: %d then %d", inv.CSeq().SeqNo, inv2.CSeq().SeqNo)
	}
	o.p.reply(inv2, 491, "Request Pending", "")
	o.p.readRequest("ACK") // for a non-2xx, by the transaction layer
	if err := <-errc; !errors.Is(err, ErrRequestPending) {
		t.Fatalf("491: %v", err)
	}
	if byUs, _ := o.c.Held(); !byUs {
		t.Fatal("a failed resume changed the state")
	}
	go func() { errc <- o.c.Resume() }()
	inv3 := o.p.readRequest("INVITE")
	if md, _ := ParseSDP(inv3.Body()); md.Direction != SendRecv {
		t.Fatalf("resume offer %q", md.Direction)
	}
	o.p.reply(inv3, 603, "Decline", "")
	o.p.readRequest("ACK")
	var re *RequestError
	if err := <-errc; !errors.As(err, &re) || re.Status != 603 {
		t.Fatalf("603: %v", err)
	}
}

// A blind transfer we ask for: REFER with Refer-To and Referred-By, NOTIFY
// progress, success ends the call (BYE); a failed one keeps it.
func TestTransferPhone(t *testing.T) {
	o := dialed(t, nil)
	errc := make(chan error, 1)
	go func() { errc <- o.c.Transfer(t.Context(), "+15551234") }()
	ref := o.p.readRequest("REFER")
	if h := ref.GetHeader("Refer-To"); h == nil || h.Value() != "<sip:+15551234@"+testRealm+">" {
		t.Fatalf("Refer-To %v", h)
	}
	if h := ref.GetHeader("Referred-By"); h == nil || !strings.Contains(h.Value(), "sip:bob@") {
		t.Fatalf("Referred-By %v", h)
	}
	o.p.reply(ref, 486, "Busy Here", "")
	var re *RequestError
	if err := <-errc; !errors.As(err, &re) || re.Status != 486 {
		t.Fatalf("refused REFER: %v", err)
	}
	go func() { errc <- o.c.Transfer(t.Context(), "sip:carol@example.net") }()
	ref = o.p.readRequest("REFER")
	o.p.reply(ref, 202, "Accepted", "")
	notify := func(frag string) {
		o.send("NOTIFY", "message/sipfrag;version=2.0", frag, "Event: refer", "Subscription-State: active;expires=60")
		o.p.expect(200)
	}
	notify("SIP/2.0 100 Trying\r\n")
	notify("SIP/2.0 486 Busy Here\r\n")
	var te *TransferError
	if err := <-errc; !errors.As(err, &te) || te.Status != 486 {
		t.Fatalf("failed transfer: %v", err)
	}
	go func() { errc <- o.c.Transfer(t.Context(), "1000") }()
	ref = o.p.readRequest("REFER")
	o.p.reply(ref, 202, "Accepted", "")
	notify("SIP/2.0 100 Trying\r\n")
	notify("SIP/2.0 200 OK\r\n")
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	bye := o.p.readRequest("BYE")
	o.p.reply(bye, 200, "OK", "")
	if o.c.EndReason() != EndTransferred {
		t.Fatalf("ended as %q", o.c.EndReason())
	}
	if err := o.c.Transfer(t.Context(), "1000"); !errors.Is(err, ErrCallEnded) {
		t.Fatalf("transfer of an ended call: %v", err)
	}
	if _, err := (&dialog{s: o.h.s}).transferURI("a b"); err == nil {
		t.Fatal("a bad target was accepted")
	}
}

// The phone asks us to transfer: without OnRefer 603; with it 202, NOTIFY
// 100 Trying, then the result as NOTIFY 200 or 503.
func TestPhoneTransfers(t *testing.T) {
	in := answered(t, nil)
	in.send("REFER", "", "", "Refer-To: <sip:+15557654321@"+testRealm+">")
	in.p.expect(603)
	targets := make(chan string, 2)
	results := make(chan func(error), 2)
	in.c.OnRefer(func(target string, result func(error)) error {
		if target == "nobody" {
			return errors.New("no such target")
		}
		targets <- target
		results <- result
		return nil
	})
	in.send("REFER", "", "", "Refer-To: <sip:nobody@"+testRealm+">")
	in.p.expect(603)
	in.send("REFER", "", "", "Refer-To: <sip:+15557654321@"+testRealm+">", "Referred-By: <sip:alice@"+testRealm+">")
	in.p.expect(202)
	if got := <-targets; got != "+15557654321" {
		t.Fatalf("target %q", got)
	}
	readNotify := func(want string) {
		t.Helper()
		n := in.p.readRequest("NOTIFY")
		if ev := n.GetHeader("Event"); ev == nil || !strings.HasPrefix(ev.Value(), "refer;id=") {
			t.Fatalf("Event %v", ev)
		}
		if !strings.HasPrefix(string(n.Body()), want) {
			t.Fatalf("NOTIFY body %q, want %q", n.Body(), want)
		}
		in.p.reply(n, 200, "OK", "")
	}
	readNotify("SIP/2.0 100 Trying")
	go (<-results)(nil) // returns once the NOTIFY is answered
	readNotify("SIP/2.0 200 OK")
	// Attended transfer is not ours to do.
	in.send("REFER", "", "", "Refer-To: <sip:x@"+testRealm+"?Replaces=abc%3Bto-tag%3D1>")
	in.p.expect(501)
}

// INFO key presses are answered 200 and reach the RTP session's listener;
// unknown bodies get 415, broken ones 400.
func TestInfoDTMF(t *testing.T) {
	in := answered(t, nil)
	keys := make(chan DTMFEvent, 4)
	in.c.RTP().OnSignalledKey(func(e DTMFEvent) { keys <- e })
	in.send("INFO", "application/dtmf-relay", "Signal=5\r\nDuration=250\r\n")
	in.p.expect(200)
	in.send("INFO", "application/dtmf", "#")
	in.p.expect(200)
	for _, want := range []DTMFEvent{{Digit: '5', Duration: 2000}, {Digit: '#', Duration: 1280}} {
		select {
		case e := <-keys:
			if e != want {
				t.Fatalf("key %+v, want %+v", e, want)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("no key")
		}
	}
	in.send("INFO", "application/x-custom", "hello")
	in.p.expect(415)
	in.send("INFO", "application/dtmf-relay", "Signal=X\r\n")
	in.p.expect(400)
	in.send("INFO", "", "")
	in.p.expect(200)
	if in.h.m.KeysIn.Load() != 2 {
		t.Fatalf("keys counted %d", in.h.m.KeysIn.Load())
	}
}

// An answered call whose phone sends nothing is hung up; RTP keeps it up.
func TestMediaTimeout(t *testing.T) {
	rec := newRecorder()
	in := answered(t, func(c *Config) { c.MediaTimeout = 400 * time.Millisecond; c.OnRecord = rec.add })
	rs := in.c.RTP()
	rs.Start(nil)
	for i := range 12 { // 600 ms of packets: alive
		sendRTP(t, in.media, rs.LocalAddr(), uint16(i), 0)
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case <-in.c.Done():
		t.Fatal("a call with media timed out")
	default:
	}
	bye := in.p.readRequest("BYE")
	in.p.reply(bye, 200, "OK", "")
	if in.c.EndReason() != EndMediaTimeout {
		t.Fatalf("ended as %q", in.c.EndReason())
	}
	if r := rec.next(t); r.Cause != EndMediaTimeout || r.Outcome != OutcomeAnswered {
		t.Fatalf("record %+v", r)
	}
}

// A call on hold sends nothing and is not hung up for it.
func TestMediaTimeoutNotOnHold(t *testing.T) {
	in := answered(t, func(c *Config) { c.MediaTimeout = 200 * time.Millisecond })
	port := netip.MustParseAddrPort(in.media.LocalAddr().String()).Port()
	in.send("INVITE", "application/sdp", offerAt(port, Inactive))
	in.p.readFinal()
	in.p.send(in.p.inDialogMsg("ACK", in.from(), in.to(), in.cseq, "", ""))
	time.Sleep(600 * time.Millisecond)
	select {
	case <-in.c.Done():
		t.Fatalf("a held call timed out: %s", in.c.EndReason())
	default:
	}
}

// Session timers: an interval under our minimum gets 422 with Min-SE; a
// phone that is the refresher and does not refresh is hung up; when we
// are the refresher we send re-INVITEs.
func TestSessionTimers(t *testing.T) {
	timers := func(c *Config) { c.SessionExpires, c.MinSessionExpires = 2*time.Second, time.Second }
	t.Run("too brief", func(t *testing.T) {
		h := newHarness(t, func(c *Config) {
			timers(c)
			c.MinSessionExpires = 2 * time.Second
			c.OnCall = func(call *Call) { call.Answer() }
		})
		p := dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
		msg, branch := p.inviteMsg("bob", offerPCMU, 1, "Session-Expires: 1", "Supported: timer")
		p.send(msg)
		res := p.readFinal()
		p.ack(branch, 1, res)
		auth := answer(t, res, "", "alice", "secret", "INVITE", "sip:bob@"+testRealm)
		msg, _ = p.inviteMsg("bob", offerPCMU, 2, "Session-Expires: 1", "Supported: timer", auth)
		p.send(msg)
		res = p.readFinal()
		if res.StatusCode != 422 || res.GetHeader("Min-SE") == nil || res.GetHeader("Min-SE").Value() != "2" {
			t.Fatalf("got %d, Min-SE %v", res.StatusCode, res.GetHeader("Min-SE"))
		}
	})
	t.Run("phone refreshes", func(t *testing.T) {
		in := answered(t, timers, "Session-Expires: 2;refresher=uac", "Supported: timer")
		if h := in.ok.GetHeader("Session-Expires"); h == nil || h.Value() != "2;refresher=uac" {
			t.Fatalf("Session-Expires in our 200: %v", h)
		}
		// One refresh by UPDATE keeps the call.
		time.Sleep(800 * time.Millisecond)
		in.send("UPDATE", "", "", "Session-Expires: 2;refresher=uac", "Supported: timer")
		if res := in.p.expect(200); res.GetHeader("Session-Expires") == nil {
			t.Fatal("no Session-Expires in the answer to UPDATE")
		}
		time.Sleep(800 * time.Millisecond)
		select {
		case <-in.c.Done():
			t.Fatal("a refreshed call was hung up")
		default:
		}
		bye := in.p.readRequest("BYE")
		in.p.reply(bye, 200, "OK", "")
		if in.c.EndReason() != EndSessionExpired {
			t.Fatalf("ended as %q", in.c.EndReason())
		}
	})
	t.Run("we refresh", func(t *testing.T) {
		o := dialed(t, timers, "Session-Expires: 2;refresher=uac", "Require: timer")
		for range 2 {
			inv := o.p.readRequest("INVITE")
			if h := inv.GetHeader("Session-Expires"); h == nil || !strings.HasPrefix(h.Value(), "2") {
				t.Fatalf("refresh without Session-Expires: %v", h)
			}
			md, _ := ParseSDP(inv.Body())
			o.p.replyWith(inv, 200, "OK", answerSDP(int(md.Addr.Port()), 0), "Session-Expires: 2;refresher=uac")
			o.p.readRequest("ACK")
		}
		select {
		case <-o.c.Done():
			t.Fatalf("the call ended: %s", o.c.EndReason())
		default:
		}
	})
}

// Early media: a 183 with SDP starts the RTP session towards the phone
// before the answer, and the 200 may move it.
func TestEarlyMedia(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RTPBindAddr = "127.0.0.1:0" })
	p := dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
	if r := p.register("secret", "", p.contact()); r.StatusCode != 200 {
		t.Fatalf("register: %d", r.StatusCode)
	}
	early := make(chan EarlyMedia, 2)
	out := make(chan dialResult, 1)
	go func() {
		c, err := h.s.Dial(t.Context(), DialRequest{Username: "alice", FromUser: "bob", OnEarly: func(e EarlyMedia) { early <- e }})
		out <- dialResult{c, err}
	}()
	inv := p.readRequest("INVITE")
	if !supports(inv, "timer") {
		t.Error("INVITE without Supported: timer")
	}
	m1, m2 := udpSocket(t), udpSocket(t)
	port1 := netip.MustParseAddrPort(m1.LocalAddr().String()).Port()
	port2 := netip.MustParseAddrPort(m2.LocalAddr().String()).Port()
	p.reply(inv, 183, "Session Progress", answerSDP(int(port1), 8))
	var e EarlyMedia
	select {
	case e = <-early:
	case <-time.After(3 * time.Second):
		t.Fatal("no early media")
	}
	if e.Codec.Name != "PCMA" || e.DTMF != 101 || e.RTP.signalledAddr().Port() != port1 {
		t.Fatalf("early media %+v", e)
	}
	// Ringback from the phone reaches us before the answer.
	e.RTP.Start(nil)
	sendRTP(t, m1, e.RTP.LocalAddr(), 1, 8)
	waitFor(t, "early RTP", func() bool { return e.RTP.PacketsIn.Load() == 1 })
	p.reply(inv, 200, "OK", answerSDP(int(port2), 8))
	p.readRequest("ACK")
	r := <-out
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.c.RTP() != e.RTP || r.c.RTP().signalledAddr().Port() != port2 {
		t.Fatalf("the answer did not move the media: %v", r.c.RTP().signalledAddr())
	}
	if len(early) != 0 {
		t.Fatal("OnEarly called twice")
	}
}

// The phone resends the 200 to our re-INVITE (our ACK was lost): it is
// acknowledged again, as the transaction lives on after the answer.
func TestReinvite2xxReacknowledged(t *testing.T) {
	o := dialed(t, nil)
	done := make(chan error, 1)
	go func() { done <- o.c.Hold() }()
	inv := o.p.readRequest("INVITE")
	port := netip.MustParseAddrPort(o.media.LocalAddr().String()).Port()
	o.p.reply(inv, 200, "OK", answerSDP(int(port), 0))
	o.p.readRequest("ACK")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	o.p.reply(inv, 200, "OK", answerSDP(int(port), 0))
	if ack := o.p.readRequest("ACK"); ack.CSeq().SeqNo != inv.CSeq().SeqNo {
		t.Fatalf("ACK CSeq %d, want %d", ack.CSeq().SeqNo, inv.CSeq().SeqNo)
	}
}
