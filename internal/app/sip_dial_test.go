package app

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"switchboard/internal/client"
	"switchboard/internal/protocol"
)

// udpPhone is a desk phone on a plain UDP socket: it registers with
// digest authentication, then answers what the server sends it.
type udpPhone struct {
	t    *testing.T
	conn *net.UDPConn
	srv  *net.UDPAddr
}

func newUDPPhone(t *testing.T, a *App, user, password string) *udpPhone {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p := &udpPhone{t: t, conn: c, srv: a.SIPAddrs().UDP.(*net.UDPAddr)}
	reg := func(cseq int, auth string) *sip.Response {
		msg := fmt.Sprintf("REGISTER sip:pbx.test SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKreg%d%d;rport\r\n"+
			"Max-Forwards: 70\r\nFrom: <sip:%s@pbx.test>;tag=reg%s\r\nTo: <sip:%s@pbx.test>\r\nCall-ID: reg-%s@test\r\n"+
			"CSeq: %d REGISTER\r\nContact: <sip:%s@192.0.2.1:5060>\r\nExpires: 300\r\n%sContent-Length: 0\r\n\r\n",
			c.LocalAddr(), time.Now().UnixNano(), cseq, user, user, user, user, cseq, user, auth)
		p.send(msg)
		res, ok := p.read().(*sip.Response)
		if !ok {
			t.Fatal("no answer to REGISTER")
		}
		return res
	}
	res := reg(1, "")
	chal, err := digest.ParseChallenge(res.GetHeader("WWW-Authenticate").Value())
	if err != nil {
		t.Fatal(err)
	}
	cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:pbx.test", Username: user, Password: password, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res := reg(2, "Authorization: "+cred.String()+"\r\n"); res.StatusCode != 200 {
		t.Fatalf("register: %d", res.StatusCode)
	}
	return p
}

func (p *udpPhone) send(msg string) {
	if _, err := p.conn.WriteToUDP([]byte(msg), p.srv); err != nil {
		p.t.Fatal(err)
	}
}

func (p *udpPhone) read() sip.Message {
	p.t.Helper()
	buf := make([]byte, 65536)
	p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := p.conn.Read(buf)
	if err != nil {
		p.t.Fatalf("phone: %v", err)
	}
	m, err := sip.ParseMessage(buf[:n])
	if err != nil {
		p.t.Fatal(err)
	}
	return m
}

// request reads requests until one of method comes (INVITE retransmissions are skipped).
func (p *udpPhone) request(method string) *sip.Request {
	p.t.Helper()
	for {
		if req, ok := p.read().(*sip.Request); ok && req.Method == sip.RequestMethod(method) {
			return req
		}
	}
}

func (p *udpPhone) reply(req *sip.Request, code int, reason, body string) {
	if to := req.To(); to != nil && code > 100 {
		if _, ok := to.Params.Get("tag"); !ok {
			to.Params.Add("tag", "desk")
		}
	}
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	res := sip.NewResponseFromRequest(req, code, reason, b)
	if code >= 180 && code < 300 {
		res.AppendHeader(sip.NewHeader("Contact", "<sip:200@192.0.2.1:5060>"))
	}
	if body != "" {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	p.send(res.String())
}

// A signed-in user calls a desk phone through the app: by the username of
// the user the phone belongs to ("bob", whose SIP account 200 is
// registered). A busy phone (486) ends the call as busy; a call the caller
// gives up while it rings sends CANCEL; the next call rings, is answered
// with PCMU, the caller is sent to the phone's room, and
// the phone hanging up (BYE) ends it as hangup. Names that match no
// registered phone are not found.
func TestSIPUserCallsPhone(t *testing.T) {
	a := startSIPServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	root := admin(t, a, "root")
	annToken := member(t, a, "ann")
	member(t, a, "bob")
	member(t, a, "carl")
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/accounts", root, `{"username":"200","password":"bob desk phone","userId":"bob"}`)
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/accounts", root, `{"username":"300","password":"carl desk phone","userId":"carl"}`)
	phone := newUDPPhone(t, a, "200", "bob desk phone")

	events := make(chan protocol.Message, 64)
	m, err := client.DialMessenger(ctx, "ws"+strings.TrimPrefix(a.URL(), "http")+"/api/v1/connect",
		map[string][]string{"Authorization": {"Bearer " + annToken}, "Origin": {a.URL()}},
		func(msg protocol.Message) { events <- msg })
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	state := func(id, want string) *protocol.CallState {
		t.Helper()
		for {
			select {
			case msg := <-events:
				if s, ok := msg.(*protocol.CallState); ok && s.Call == id && s.State == want {
					return s
				}
			case <-ctx.Done():
				t.Fatalf("no call.state %s", want)
			}
		}
	}
	for _, target := range []string{"nobody", "300", "carl"} { // 300 (carl's) is not registered
		if _, err := m.Request(ctx, &protocol.StartCall{Phone: target}); err == nil || !strings.Contains(err.Error(), protocol.CodeNotFound) {
			t.Errorf("call %s: %v, want not_found", target, err)
		}
	}

	// Busy.
	res, err := m.Request(ctx, &protocol.StartCall{Phone: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	k := res.(*protocol.Calling).Call
	if k.Phone != "200" || k.Conversation == "" { // the extension reached
		t.Fatalf("call %+v", k)
	}
	inv := phone.request("INVITE")
	if f := inv.From(); f == nil || f.Address.User != "ann" {
		t.Errorf("From %v", inv.From())
	}
	phone.reply(inv, 486, "Busy Here", "")
	if s := state(k.ID, "ended"); s.Reason != "busy" {
		t.Errorf("busy phone: reason %q", s.Reason)
	}

	// Ann gives up while it rings: the phone gets CANCEL (the ring
	// timeout takes the same path).
	res, err = m.Request(ctx, &protocol.StartCall{Phone: "200"})
	if err != nil {
		t.Fatal(err)
	}
	k = res.(*protocol.Calling).Call
	inv = phone.request("INVITE")
	phone.reply(inv, 180, "Ringing", "")
	time.Sleep(100 * time.Millisecond)
	if _, err := m.Request(ctx, &protocol.CallAction{Action: "hangup", Call: k.ID}); err != nil {
		t.Fatal(err)
	}
	can := phone.request("CANCEL")
	if can.CallID().Value() != inv.CallID().Value() {
		t.Fatal("CANCEL for another call")
	}
	phone.reply(can, 200, "OK", "")
	phone.reply(inv, 487, "Request Terminated", "")
	phone.request("ACK")
	if s := state(k.ID, "ended"); s.Reason != "cancelled" {
		t.Errorf("cancelled call: reason %q", s.Reason)
	}

	// Answered, then the phone hangs up.
	res, err = m.Request(ctx, &protocol.StartCall{Phone: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	k = res.(*protocol.Calling).Call
	inv = phone.request("INVITE")
	phone.reply(inv, 180, "Ringing", "")
	phone.reply(inv, 200, "OK", "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40002 RTP/AVP 0\r\n")
	phone.request("ACK")
	acc := state(k.ID, "accepted")
	if acc.Room == "" || acc.P2P || acc.Token == "" {
		t.Fatalf("accepted %+v", acc)
	}
	if r, ok := a.registry.Get(acc.Room); !ok || r.Settings().AudioCodec != "audio/PCMU" || r.Members() != 1 {
		t.Fatalf("the phone's room: %v", ok)
	}
	phone.send(fmt.Sprintf("BYE sip:ann@pbx.test SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKbye%d;rport\r\nMax-Forwards: 70\r\n"+
		"From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
		phone.conn.LocalAddr(), time.Now().UnixNano(), inv.To().Value(), inv.From().Value(), inv.CallID().Value()))
	if r, ok := phone.read().(*sip.Response); !ok || r.StatusCode != 200 {
		t.Fatalf("BYE answered %v", r)
	}
	if s := state(k.ID, "ended"); s.Reason != "hangup" {
		t.Errorf("phone hung up: reason %q", s.Reason)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := a.registry.Get(acc.Room); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the phone's room outlived the call")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
