package sip

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
)

// readRequest reads the next request the server sent to the phone.
func (p *phone) readRequest(method string) *sip.Request {
	p.t.Helper()
	for {
		m := p.read(5 * time.Second)
		req, ok := m.(*sip.Request)
		if !ok {
			p.t.Fatalf("phone wanted a %s request, got %v", method, m)
		}
		if req.Method == sip.RequestMethod(method) {
			return req
		}
		if req.Method != sip.INVITE { // an INVITE retransmission is skipped
			p.t.Fatalf("phone wanted a %s request, got %s", method, req.Method)
		}
	}
}

// reply answers req from the phone, with the dialog's To tag and, for 2xx
// and 18x, our Contact; extra headers are added.
func (p *phone) reply(req *sip.Request, code int, reason, body string, extra ...sip.Header) {
	p.t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	if to := req.To(); to != nil && req.Method == sip.INVITE && code > 100 {
		if _, ok := to.Params.Get("tag"); !ok {
			to.Params.Add("tag", "phone"+p.user) // one tag for every response
		}
	}
	res := sip.NewResponseFromRequest(req, code, reason, b)
	if code > 100 && code < 300 && req.Method == sip.INVITE {
		res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: p.user, Host: "192.0.2.1", Port: 5060}})
	}
	if body != "" {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	for _, h := range extra {
		res.AppendHeader(h)
	}
	p.send(res.String())
}

func answerSDP(port int, pt int) string {
	return fmt.Sprintf("v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP %d 101\r\na=rtpmap:101 telephone-event/8000\r\n", port, pt)
}

type dialResult struct {
	c   *OutCall
	err error
}

func dialAsync(ctx context.Context, s *Server, progress chan int) chan dialResult {
	out := make(chan dialResult, 1)
	go func() {
		c, err := s.Dial(ctx, DialRequest{Username: "alice", FromUser: "bob", FromDisplay: "Bob",
			OnProgress: func(st int) {
				if progress != nil {
					progress <- st
				}
			}})
		out <- dialResult{c, err}
	}()
	return out
}

// A call to a phone registered over TCP with a Contact nobody listens on:
// the INVITE reaches it over its own connection, offers PCMU, PCMA and
// telephone-event; 180 is reported; the 200 with PCMA is acknowledged,
// media flows both ways on the answered addresses, and the phone's BYE
// ends the call.
func TestDialAnsweredThenPhoneHangsUp(t *testing.T) {
	for _, network := range []string{"tcp", "udp"} {
		t.Run(network, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.RTPBindAddr = "127.0.0.1:0" })
			addr := h.s.Addrs().TCP.String()
			if network == "udp" {
				addr = h.s.Addrs().UDP.String()
			}
			p := dialPhone(t, network, addr, "alice")
			if r := p.register("secret", "", "Contact: <sip:alice@192.0.2.1:5060>"); r.StatusCode != 200 {
				t.Fatalf("register: %d", r.StatusCode)
			}
			progress := make(chan int, 4)
			res := dialAsync(t.Context(), h.s, progress)
			inv := p.readRequest("INVITE")
			offer, err := ParseSDP(inv.Body())
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, c := range offer.Codecs {
				names = append(names, c.Name)
			}
			if strings.Join(names, ",") != "PCMU,PCMA" || !offer.HasDTMF {
				t.Fatalf("offer: %+v", offer)
			}
			if f := inv.From(); f == nil || f.Address.User != "bob" || f.DisplayName != "Bob" {
				t.Errorf("From: %v", inv.From())
			}
			p.reply(inv, 100, "Trying", "")
			p.reply(inv, 180, "Ringing", "")
			select {
			case st := <-progress:
				if st != 180 {
					t.Errorf("progress %d", st)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("180 was not reported")
			}
			media := udpSocket(t)
			mport := media.LocalAddr().(interface{ String() string }).String()
			port := netip.MustParseAddrPort(mport).Port()
			p.reply(inv, 200, "OK", answerSDP(int(port), 8))
			ack := p.readRequest("ACK")
			if ack.CallID().Value() != inv.CallID().Value() {
				t.Fatalf("ACK for another call")
			}
			var r dialResult
			select {
			case r = <-res:
			case <-time.After(3 * time.Second):
				t.Fatal("Dial did not return")
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
			c := r.c
			if c.Codec.Name != "PCMA" || c.Codec.PayloadType != 8 {
				t.Fatalf("codec %+v", c.Codec)
			}
			if h.s.ActiveCalls() != 1 {
				t.Errorf("active calls %d", h.s.ActiveCalls())
			}
			// Media both ways.
			got := make(chan *rtp.Packet, 8)
			c.RTP().Start(func(pk *rtp.Packet) { got <- &rtp.Packet{Header: pk.Header} })
			for i := range 3 {
				sendRTP(t, media, c.RTP().LocalAddr(), uint16(10+i), 8)
			}
			select {
			case pk := <-got:
				if pk.PayloadType != 8 {
					t.Errorf("payload type %d", pk.PayloadType)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("no RTP from the phone")
			}
			if err := c.RTP().WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SSRC: 5}, Payload: []byte{1}}); err != nil {
				t.Fatal(err)
			}
			media.SetReadDeadline(time.Now().Add(3 * time.Second))
			buf := make([]byte, 1500)
			if _, err := media.Read(buf); err != nil {
				t.Fatalf("no RTP to the phone: %v", err)
			}
			// The phone hangs up.
			to := inv.To().Value()
			from := inv.From()
			bye := fmt.Sprintf("BYE sip:bob@%s SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=z9hG4bKbye%d;rport\r\nMax-Forwards: 70\r\n"+
				"From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
				testRealm, p.transport, p.local(), time.Now().UnixNano(), to, from.Value(), inv.CallID().Value())
			p.send(bye)
			p.expect(200)
			select {
			case <-c.Done():
			case <-time.After(3 * time.Second):
				t.Fatal("the call did not end")
			}
			if c.EndReason() != EndRemoteBye || h.s.ActiveCalls() != 0 {
				t.Errorf("reason %q, active %d", c.EndReason(), h.s.ActiveCalls())
			}
		})
	}
}

// We hang up: the phone gets a BYE in the dialog.
func TestDialHangup(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RTPBindAddr = "127.0.0.1:0" })
	p := dialPhone(t, "tcp", h.s.Addrs().TCP.String(), "alice")
	if r := p.register("secret", "", "Contact: <sip:alice@192.0.2.1:5060;transport=tcp>"); r.StatusCode != 200 {
		t.Fatalf("register: %d", r.StatusCode)
	}
	res := dialAsync(t.Context(), h.s, nil)
	inv := p.readRequest("INVITE")
	p.reply(inv, 200, "OK", answerSDP(40000, 0))
	p.readRequest("ACK")
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.c.Codec.Name != "PCMU" {
		t.Errorf("codec %v", r.c.Codec)
	}
	r.c.Hangup()
	bye := p.readRequest("BYE")
	if bye.CallID().Value() != inv.CallID().Value() {
		t.Fatal("BYE for another call")
	}
	if tag, _ := bye.To().Params.Get("tag"); tag != "phonealice" {
		t.Errorf("BYE To tag %q", tag)
	}
	p.reply(bye, 200, "OK", "")
	<-r.c.Done()
	if r.c.EndReason() != EndHangup {
		t.Errorf("reason %q", r.c.EndReason())
	}
}

// Refusals and cancelling: a busy phone's 486 is a DialError; cancelling
// the context while it rings sends CANCEL (the phone answers 200 and 487);
// an unregistered account is ErrNotRegistered.
func TestDialRefusedAndCancelled(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RTPBindAddr = "127.0.0.1:0" })
	if _, err := h.s.Dial(t.Context(), DialRequest{Username: "alice"}); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("unregistered: %v", err)
	}
	p := dialPhone(t, "udp", h.s.Addrs().UDP.String(), "alice")
	if r := p.register("secret", "", "Contact: <sip:alice@192.0.2.1:5060>"); r.StatusCode != 200 {
		t.Fatalf("register: %d", r.StatusCode)
	}

	res := dialAsync(t.Context(), h.s, nil)
	inv := p.readRequest("INVITE")
	p.reply(inv, 486, "Busy Here", "")
	r := <-res
	var de *DialError
	if !errors.As(r.err, &de) || de.Status != 486 {
		t.Fatalf("busy: %v", r.err)
	}
	p.readRequest("ACK") // the transaction acknowledges a non-2xx final response

	ctx, cancel := context.WithCancel(t.Context())
	res = dialAsync(ctx, h.s, nil)
	inv = p.readRequest("INVITE")
	p.reply(inv, 180, "Ringing", "")
	time.Sleep(50 * time.Millisecond)
	cancel()
	can := p.readRequest("CANCEL")
	if can.CallID().Value() != inv.CallID().Value() || !sameBranch(can, inv) {
		t.Fatalf("CANCEL does not match the INVITE:\n%s", can)
	}
	p.reply(can, 200, "OK", "")
	p.reply(inv, 487, "Request Terminated", "")
	select {
	case r = <-res:
	case <-time.After(5 * time.Second):
		t.Fatal("Dial did not return after the CANCEL")
	}
	if !errors.Is(r.err, ErrDialCancelled) {
		t.Fatalf("cancelled: %v", r.err)
	}
	if n := h.s.ActiveCalls(); n != 0 {
		t.Errorf("active calls %d", n)
	}
}

func sameBranch(a, b *sip.Request) bool {
	x, _ := a.Via().Params.Get("branch")
	y, _ := b.Via().Params.Get("branch")
	return x != "" && x == y
}
