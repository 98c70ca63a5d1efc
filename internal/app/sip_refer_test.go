package app

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"switchboard/internal/client"
	"switchboard/internal/config"
	"switchboard/internal/protocol"
	sbsip "switchboard/internal/sip"
)

// rawPhone is a desk phone on a plain UDP socket that both calls and is
// called, and takes part in transfers: a reader sorts what the server
// sends (responses; NOTIFYs and BYEs, answered 200 at once; other
// requests), and an RTP socket counts what it hears.
type rawPhone struct {
	t              *testing.T
	user, password string
	conn, media    *net.UDPConn
	srv            *net.UDPAddr
	responses      chan *sip.Response
	notifies       chan string // sipfrag status lines, in order
	byes           chan *sip.Request
	requests       chan *sip.Request
	heard          atomic.Int64 // RTP packets received
	order          chan string  // NOTIFY status lines and "BYE", as they came
	seq            atomic.Int64 // for branches and CSeqs
	sent           atomic.Int64 // RTP packets sent
	// The call it is in.
	callID, from, to, remote string
	cseq                     int
	peerMedia                netip.AddrPort
}

func newRawPhone(t *testing.T, a *App, user, password string, register bool) *rawPhone {
	t.Helper()
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	p := &rawPhone{t: t, user: user, password: password, conn: listen(), media: listen(), srv: a.SIPAddrs().UDP.(*net.UDPAddr),
		responses: make(chan *sip.Response, 32), notifies: make(chan string, 16), byes: make(chan *sip.Request, 4),
		requests: make(chan *sip.Request, 16), order: make(chan string, 32)}
	go p.readLoop()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, err := p.media.Read(buf)
			if err != nil {
				return
			}
			var pkt rtp.Packet
			if pkt.Unmarshal(buf[:n]) == nil {
				p.heard.Add(1)
			}
		}
	}()
	if register {
		uri := "sip:pbx.test"
		reg := func(auth string) *sip.Response {
			p.send(fmt.Sprintf("REGISTER %s SIP/2.0\r\n%sFrom: <sip:%s@pbx.test>;tag=reg%d\r\nTo: <sip:%s@pbx.test>\r\n"+
				"Call-ID: reg-%s-%d@test\r\nCSeq: %d REGISTER\r\nContact: <%s>\r\nExpires: 300\r\n%sContent-Length: 0\r\n\r\n",
				uri, p.via(), user, p.seq.Load(), user, user, p.seq.Load(), p.seq.Add(1), p.contact(), auth))
			return p.response("REGISTER")
		}
		if res := reg(p.authorization(reg(""), "REGISTER", uri)); res.StatusCode != 200 {
			t.Fatalf("register %s: %d", user, res.StatusCode)
		}
	}
	return p
}

func (p *rawPhone) readLoop() {
	buf := make([]byte, 65536)
	for {
		n, err := p.conn.Read(buf)
		if err != nil {
			return
		}
		m, err := sip.ParseMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			continue
		}
		switch m := m.(type) {
		case *sip.Response:
			p.responses <- m
		case *sip.Request:
			switch m.Method {
			case sip.NOTIFY:
				p.reply(m, 200, "OK", "")
				line, _, _ := strings.Cut(string(m.Body()), "\r\n")
				p.notifies <- line
				p.log(line)
			case sip.BYE:
				p.reply(m, 200, "OK", "")
				p.byes <- m
				p.log("BYE")
			default:
				p.requests <- m
			}
		}
	}
}

func (p *rawPhone) log(what string) {
	select {
	case p.order <- what:
	default:
	}
}

func (p *rawPhone) contact() string { return fmt.Sprintf("sip:%s@%s", p.user, p.conn.LocalAddr()) }

func (p *rawPhone) via() string {
	return fmt.Sprintf("Via: SIP/2.0/UDP %s;branch=z9hG4bK%d-%d;rport\r\nMax-Forwards: 70\r\n", p.conn.LocalAddr(), time.Now().UnixNano(), p.seq.Add(1))
}

func (p *rawPhone) send(msg string) {
	if _, err := p.conn.WriteToUDP([]byte(msg), p.srv); err != nil {
		p.t.Error(err)
	}
}

// response waits for the final response to a request of method.
func (p *rawPhone) response(method string) *sip.Response {
	p.t.Helper()
	for {
		select {
		case r := <-p.responses:
			if r.CSeq() != nil && string(r.CSeq().MethodName) == method && r.StatusCode >= 200 {
				return r
			}
		case <-time.After(10 * time.Second):
			p.t.Fatalf("%s: no response to %s", p.user, method)
		}
	}
}

func (p *rawPhone) authorization(res *sip.Response, method, uri string) string {
	p.t.Helper()
	name := "Authorization"
	h := res.GetHeader("WWW-Authenticate")
	if h == nil {
		h, name = res.GetHeader("Proxy-Authenticate"), "Proxy-Authorization"
	}
	if h == nil {
		p.t.Fatalf("%s: no challenge in %d", p.user, res.StatusCode)
	}
	chal, err := digest.ParseChallenge(h.Value())
	if err != nil {
		p.t.Fatal(err)
	}
	cred, err := digest.Digest(chal, digest.Options{Method: method, URI: uri, Username: p.user, Password: p.password, Count: 1})
	if err != nil {
		p.t.Fatal(err)
	}
	return name + ": " + cred.String() + "\r\n"
}

func (p *rawPhone) sdp() string {
	return fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0 101\r\n"+
		"a=rtpmap:101 telephone-event/8000\r\n", p.media.LocalAddr().(*net.UDPAddr).Port)
}

// call calls target with digest authentication and returns the final
// status; on 200 it sends the ACK and keeps the dialog.
func (p *rawPhone) call(target string) int {
	p.t.Helper()
	uri := "sip:" + target + "@pbx.test"
	p.callID = fmt.Sprintf("call-%s-%d@test", p.user, time.Now().UnixNano())
	p.from = fmt.Sprintf("\"Desk %s\" <sip:%s@pbx.test>;tag=f%d", p.user, p.user, time.Now().UnixNano())
	body := p.sdp()
	invite := func(cseq int, via, auth string) {
		p.send(fmt.Sprintf("INVITE %s SIP/2.0\r\n%sFrom: %s\r\nTo: <%s>\r\nCall-ID: %s\r\nCSeq: %d INVITE\r\nContact: <%s>\r\n%s"+
			"Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", uri, via, p.from, uri, p.callID, cseq, p.contact(), auth, len(body), body))
	}
	via := p.via()
	invite(1, via, "")
	res := p.response("INVITE")
	if res.StatusCode == 401 || res.StatusCode == 407 {
		p.send(fmt.Sprintf("ACK %s SIP/2.0\r\n%sFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
			uri, via, p.from, res.To().Value(), p.callID))
		invite(2, p.via(), p.authorization(res, "INVITE", uri))
		res = p.response("INVITE")
	}
	if res.StatusCode != 200 {
		return res.StatusCode
	}
	p.to, p.cseq, p.remote = res.To().Value(), int(res.CSeq().SeqNo), uri
	if c := res.Contact(); c != nil {
		p.remote = c.Address.String()
	}
	md, err := sbsip.ParseSDP(res.Body())
	if err != nil {
		p.t.Fatal(err)
	}
	p.peerMedia = md.Addr
	p.send(fmt.Sprintf("ACK %s SIP/2.0\r\n%sFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d ACK\r\nContent-Length: 0\r\n\r\n",
		p.remote, p.via(), p.from, p.to, p.callID, p.cseq))
	return 200
}

// answer takes the call the server rings it with: 180, then 200 with its
// SDP after the ACK; or a refusal with status (>= 300). ringing, when
// set, runs between the 180 and the answer.
func (p *rawPhone) answer(status int, ringing func()) *sip.Request {
	p.t.Helper()
	inv := p.request("INVITE")
	p.reply(inv, 180, "Ringing", "")
	if ringing != nil {
		ringing()
	}
	if status >= 300 {
		p.reply(inv, status, "Refused", "")
		p.request("ACK")
		return inv
	}
	p.accept(inv)
	return inv
}

// accept answers the server's INVITE inv (200 with its SDP), takes the ACK
// and keeps the dialog.
func (p *rawPhone) accept(inv *sip.Request) {
	p.t.Helper()
	p.reply(inv, 200, "OK", p.sdp())
	p.request("ACK")
	md, err := sbsip.ParseSDP(inv.Body())
	if err != nil {
		p.t.Fatal(err)
	}
	// Requests of ours in this call: From is the INVITE's To, with our tag.
	p.callID, p.from, p.to, p.cseq = inv.CallID().Value(), inv.To().Value(), inv.From().Value(), 0
	p.remote, p.peerMedia = inv.From().Address.String(), md.Addr
	if c := inv.Contact(); c != nil {
		p.remote = c.Address.String()
	}
}

func (p *rawPhone) request(method string) *sip.Request {
	p.t.Helper()
	for {
		select {
		case r := <-p.requests:
			if string(r.Method) == method {
				return r
			}
		case <-time.After(10 * time.Second):
			p.t.Fatalf("%s: no %s", p.user, method)
		}
	}
}

func (p *rawPhone) reply(req *sip.Request, code int, reason, body string) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	if to := res.To(); to != nil && code > 100 {
		if _, ok := to.Params.Get("tag"); !ok {
			to.Params.Add("tag", "t"+p.user)
		}
		if req.Method == sip.INVITE {
			req.To().Params = to.Params // our requests in the dialog use the tag
		}
	}
	if code >= 180 && code < 300 {
		res.AppendHeader(sip.NewHeader("Contact", "<"+p.contact()+">"))
	}
	if body != "" {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res.SetBody([]byte(body))
	}
	p.send(res.String())
}

// inDialog sends a request of method in the phone's call and returns its final response.
func (p *rawPhone) inDialog(method string, headers ...string) *sip.Response {
	p.t.Helper()
	return p.inDialogBody(method, "", headers...)
}

// inDialogBody is inDialog with a body (its Content-Type among headers).
func (p *rawPhone) inDialogBody(method, body string, headers ...string) *sip.Response {
	p.t.Helper()
	p.cseq++
	p.send(fmt.Sprintf("%s %s SIP/2.0\r\n%sFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\nContact: <%s>\r\n%sContent-Length: %d\r\n\r\n%s",
		method, p.remote, p.via(), p.from, p.to, p.callID, p.cseq, method, p.contact(), strings.Join(headers, ""), len(body), body))
	return p.response(method)
}

func (p *rawPhone) refer(target string) int {
	p.t.Helper()
	return p.inDialog("REFER", "Refer-To: <"+target+">\r\n", "Referred-By: <sip:"+p.user+"@pbx.test>\r\n").StatusCode
}

// notify waits for the next NOTIFY's status line.
func (p *rawPhone) notify() string {
	p.t.Helper()
	select {
	case n := <-p.notifies:
		return n
	case <-time.After(10 * time.Second):
		p.t.Fatalf("%s: no NOTIFY", p.user)
	}
	return ""
}

// talk sends n packets of G.711 to the other side of its call, 20 ms apart.
func (p *rawPhone) talk(n int) {
	payload := bytes.Repeat([]byte{0xff}, 160)
	for range n {
		i := p.sent.Add(1) // one stream: sequence numbers go on from call to call
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 0x4242}, Payload: payload}
		raw, _ := pkt.Marshal()
		p.media.WriteToUDPAddrPort(raw, p.peerMedia)
		time.Sleep(20 * time.Millisecond)
	}
}

// roomUser is a browser in a call's room (a pion client): it publishes
// PCMU while talking and counts what it hears.
type roomUser struct {
	cl    *client.Client
	mic   *webrtc.TrackLocalStaticRTP
	heard atomic.Int64
	stop  chan struct{}
}

func joinCallRoom(ctx context.Context, t *testing.T, a *App, acc *protocol.CallState) *roomUser {
	t.Helper()
	u := &roomUser{stop: make(chan struct{})}
	cl, err := client.Dial(ctx, a.URL(), newAPI(t), protocol.Join{Room: acc.Room, Name: "User", Token: acc.Token},
		func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			go func() {
				for {
					if _, _, err := tr.ReadRTP(); err != nil {
						return
					}
					u.heard.Add(1)
				}
			}()
		})
	if err != nil {
		t.Fatal(err)
	}
	u.cl = cl
	u.mic, _ = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1}, "mic", "user")
	if err := cl.Publish(ctx, map[webrtc.TrackLocal]string{u.mic: "microphone"}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); cl.Pub.ConnectionState() != webrtc.PeerConnectionStateConnected; {
		if time.Now().After(deadline) {
			t.Fatalf("publish connection: %v", cl.Pub.ConnectionState())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The browser talks all along, as people do.
	go func() {
		payload := bytes.Repeat([]byte{0xd5}, 160)
		for i := 0; ; i++ {
			select {
			case <-u.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			u.mic.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i * 160)}, Payload: payload})
		}
	}()
	t.Cleanup(func() {
		close(u.stop)
		cl.Close()
	})
	return u
}

// audioBothWays checks that phone p and browser u hear each other for a
// second and a half.
func audioBothWays(t *testing.T, what string, p *rawPhone, u *roomUser) {
	t.Helper()
	h0, u0 := p.heard.Load(), u.heard.Load()
	p.talk(75)
	time.Sleep(200 * time.Millisecond)
	toPhone, toUser := p.heard.Load()-h0, u.heard.Load()-u0
	t.Logf("%s: the phone heard %d packets, the browser %d", what, toPhone, toUser)
	if toPhone < 50 || toUser < 50 {
		t.Errorf("%s: the phone heard %d packets, the browser %d (want 50 each)", what, toPhone, toUser)
	}
}

// callState waits for the call's state want on events, failing on its end before.
func callState(ctx context.Context, t *testing.T, events <-chan protocol.Message, id, want string) *protocol.CallState {
	t.Helper()
	return nextEvent(ctx, t, events, "call.state "+want, func(msg protocol.Message) bool {
		s, ok := msg.(*protocol.CallState)
		if ok && s.Call == id && s.State == "ended" && want != "ended" {
			t.Fatalf("the call ended (%s) while waiting for %s", s.Reason, want)
		}
		return ok && s.Call == id && s.State == want
	}).(*protocol.CallState)
}

// transferScene is alice's desk phone (100) in a call with bob's browser,
// and carl's registered desk phone (300).
type transferScene struct {
	a           *App
	ctx         context.Context
	m           *client.Messenger
	events      chan protocol.Message
	root        string
	alice, carl *rawPhone
	callID      string
	bob         *roomUser
	acc         *protocol.CallState
}

func phoneCallsBob(t *testing.T) *transferScene {
	t.Helper()
	a := startSIPServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	root := admin(t, a, "root")
	member(t, a, "alice")
	bobToken := member(t, a, "bob")
	member(t, a, "carl")
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/accounts", root, `{"username":"100","password":"alice desk phone","userId":"alice"}`)
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/accounts", root, `{"username":"300","password":"carl desk phone","userId":"carl"}`)
	events := make(chan protocol.Message, 64)
	m, err := client.DialMessenger(ctx, "ws"+strings.TrimPrefix(a.URL(), "http")+"/api/v1/connect",
		map[string][]string{"Authorization": {"Bearer " + bobToken}, "Origin": {a.URL()}},
		func(msg protocol.Message) { events <- msg })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	carl := newRawPhone(t, a, "300", "carl desk phone", true)
	alice := newRawPhone(t, a, "100", "alice desk phone", false)

	answered := make(chan int, 1)
	go func() { answered <- alice.call("bob") }()
	inc := nextEvent(ctx, t, events, "call.incoming", func(msg protocol.Message) bool { _, ok := msg.(*protocol.CallIncoming); return ok }).(*protocol.CallIncoming)
	callID := inc.Call.ID
	if _, err := m.Request(ctx, &protocol.CallAction{Action: "answer", Call: callID}); err != nil {
		t.Fatal(err)
	}
	acc := callState(ctx, t, events, callID, "accepted")
	if code := <-answered; code != 200 {
		t.Fatalf("the phone's call: %d", code)
	}
	bob := joinCallRoom(ctx, t, a, acc)
	return &transferScene{a: a, ctx: ctx, m: m, events: events, root: root, alice: alice, carl: carl, callID: callID, bob: bob, acc: acc}
}

// Many phones hang up as soon as the REFER is accepted: that does not end
// bob's call while the target rings. When the target answers it takes the
// call over; when it does not, bob's call ends (nobody is left).
func TestSIPPhoneHangsUpWhileTransferring(t *testing.T) {
	for _, answer := range []bool{true, false} {
		t.Run(fmt.Sprint("answered=", answer), func(t *testing.T) {
			sc := phoneCallsBob(t)
			if code := sc.alice.refer("sip:carl@pbx.test"); code != 202 {
				t.Fatalf("REFER: %d", code)
			}
			if res := sc.alice.inDialog("BYE"); res.StatusCode != 200 {
				t.Fatalf("the phone's BYE: %d", res.StatusCode)
			}
			inv := sc.carl.request("INVITE")
			sc.carl.reply(inv, 180, "Ringing", "")
			time.Sleep(500 * time.Millisecond) // bob's call must outlive the phone's BYE
			if !answer {
				sc.carl.reply(inv, 603, "Decline", "")
				sc.carl.request("ACK")
				if st := callState(sc.ctx, t, sc.events, sc.callID, "ended"); st.Reason != "hangup" {
					t.Errorf("ended as %q", st.Reason)
				}
				return
			}
			sc.carl.accept(inv)
			if st := callState(sc.ctx, t, sc.events, sc.callID, "active"); st.Phone != "300" {
				t.Errorf("bob was told %+v", st)
			}
			audioBothWays(t, "bob and carl", sc.carl, sc.bob)

			// Bob's transfer control now acts on carl's phone: a REFER to
			// carl, whose NOTIFY 200 ends bob's call as transferred.
			go func() {
				if _, err := sc.m.Request(sc.ctx, &protocol.CallTransfer{Call: sc.callID, Target: "100"}); err != nil {
					t.Error(err)
				}
			}()
			ref := sc.carl.request("REFER")
			if h := ref.GetHeader("Refer-To"); h == nil || !strings.Contains(h.Value(), "sip:100@") {
				t.Errorf("Refer-To %v", h)
			}
			sc.carl.reply(ref, 202, "Accepted", "")
			if res := sc.carl.inDialogBody("NOTIFY", "SIP/2.0 200 OK\r\n", "Event: refer\r\n",
				"Subscription-State: terminated;reason=noresource\r\n", "Content-Type: message/sipfrag;version=2.0\r\n"); res.StatusCode != 200 {
				t.Errorf("carl's NOTIFY: %d", res.StatusCode)
			}
			<-sc.carl.byes
			if st := callState(sc.ctx, t, sc.events, sc.callID, "ended"); st.Reason != "transferred" {
				t.Errorf("ended as %q", st.Reason)
			}
		})
	}
}

// Alice's desk phone (100) calls bob, who answers in his browser; then the
// phone transfers the call (REFER). To carl's extension 300 that declines
// first: the phone hears 486 in a NOTIFY and goes on talking with bob. A
// second REFER while one is pending is 491. Then to 300 again, which
// answers: the phone gets NOTIFY 100, 180, 200 and then BYE; carl's phone
// joins the same call room and talks with bob both ways; bob's call is the
// same call, told it is now with 300; the phone's BYE does not end it,
// carl's keys reach bob, and carl hanging up does.
func TestSIPPhoneTransfersBrowserCall(t *testing.T) {
	sc := phoneCallsBob(t)
	a, ctx, m, events, root, alice, carl, callID, bob, acc := sc.a, sc.ctx, sc.m, sc.events, sc.root, sc.alice, sc.carl, sc.callID, sc.bob, sc.acc
	audioBothWays(t, "before the transfer", alice, bob)

	// Refused: another host, attended transfer, nobody of that name.
	if code := alice.refer("sip:300@evil.example"); code != 403 {
		t.Errorf("REFER to another host: %d, want 403", code)
	}
	if code := alice.refer("sip:300@pbx.test?Replaces=x%3Bto-tag%3Dy%3Bfrom-tag%3Dz"); code != 501 {
		t.Errorf("attended transfer: %d, want 501", code)
	}
	if code := alice.refer("sip:999@pbx.test"); code != 404 {
		t.Errorf("REFER to nobody: %d, want 404", code)
	}
	// An extension that is not registered: accepted, then NOTIFY 480.
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/accounts", root, `{"username":"400","password":"unplugged phone"}`)
	if code := alice.refer("sip:400@pbx.test"); code != 202 {
		t.Errorf("REFER to an unregistered extension: %d, want 202", code)
	}
	for _, want := range []string{"SIP/2.0 100 Trying", "SIP/2.0 480 Temporarily Unavailable"} {
		if n := alice.notify(); n != want {
			t.Errorf("NOTIFY %q, want %q", n, want)
		}
	}

	// Carl's phone declines.
	if code := alice.refer("sip:300@pbx.test"); code != 202 {
		t.Fatalf("REFER: %d", code)
	}
	if n := alice.notify(); n != "SIP/2.0 100 Trying" {
		t.Fatalf("first NOTIFY %q", n)
	}
	inv := carl.request("INVITE")
	if f := inv.From(); f == nil || f.Address.User != "bob" {
		t.Errorf("the target is rung from %v, want bob", inv.From())
	}
	if code := alice.refer("sip:300@pbx.test"); code != 491 {
		t.Errorf("a second REFER while one is pending: %d, want 491", code)
	}
	carl.reply(inv, 180, "Ringing", "")
	if n := alice.notify(); n != "SIP/2.0 180 Ringing" {
		t.Errorf("NOTIFY %q, want 180", n)
	}
	carl.reply(inv, 486, "Busy Here", "")
	carl.request("ACK")
	if n := alice.notify(); n != "SIP/2.0 486 Busy Here" {
		t.Errorf("NOTIFY %q, want 486", n)
	}
	audioBothWays(t, "after the declined transfer", alice, bob)

	// Carl's phone answers.
	if code := alice.refer("sip:300@pbx.test"); code != 202 {
		t.Fatalf("REFER: %d", code)
	}
	if n := alice.notify(); n != "SIP/2.0 100 Trying" {
		t.Fatalf("NOTIFY %q", n)
	}
	carl.answer(200, func() {
		if n := alice.notify(); n != "SIP/2.0 180 Ringing" {
			t.Errorf("NOTIFY %q, want 180", n)
		}
	})
	if n := alice.notify(); n != "SIP/2.0 200 OK" {
		t.Errorf("NOTIFY %q, want 200", n)
	}
	select {
	case <-alice.byes:
	case <-time.After(5 * time.Second):
		t.Fatal("the transferring phone got no BYE")
	}
	var order []string
	for len(alice.order) > 0 {
		order = append(order, <-alice.order)
	}
	if n := len(order); n < 2 || order[n-2] != "SIP/2.0 200 OK" || order[n-1] != "BYE" {
		t.Errorf("the transferring phone got %q, want the NOTIFY 200 before the BYE", order)
	}
	st := callState(ctx, t, events, callID, "active")
	if st.Reason != "phone_transferred" || st.Phone != "300" || st.PhoneName != "300" || st.By != "phone" {
		t.Errorf("bob was told %+v", st)
	}
	if r, ok := a.registry.Get(acc.Room); !ok || r.Members() != 2 {
		t.Errorf("the call's room after the transfer: %v", ok)
	}
	audioBothWays(t, "after the transfer", carl, bob)

	// Carl's keys reach bob; bob may hold carl.
	for i, ev := range keyPress(5) {
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: uint16(1000 + i), Timestamp: 99999, SSRC: 0x4242, Marker: i == 0}, Payload: ev}
		raw, _ := pkt.Marshal()
		carl.media.WriteToUDPAddrPort(raw, carl.peerMedia)
	}
	nextEvent(ctx, t, events, "carl's key", func(msg protocol.Message) bool {
		d, ok := msg.(*protocol.CallDTMF)
		return ok && d.Call == callID && d.Digit == "5"
	})
	go func() {
		if _, err := m.Request(ctx, &protocol.CallAction{Action: "hold", Call: callID}); err != nil {
			t.Error(err)
		}
	}()
	reinv := carl.request("INVITE")
	if !strings.Contains(string(reinv.Body()), "sendonly") {
		t.Errorf("bob's hold re-INVITEs carl with %q", reinv.Body())
	}
	carl.reply(reinv, 200, "OK", strings.Replace(carl.sdp(), "a=rtpmap", "a=recvonly\r\na=rtpmap", 1))
	carl.request("ACK")
	callState(ctx, t, events, callID, "held")

	// Carl hangs up: bob's call ends.
	if res := carl.inDialog("BYE"); res.StatusCode != 200 {
		t.Fatalf("carl's BYE: %d", res.StatusCode)
	}
	if s := callState(ctx, t, events, callID, "ended"); s.Reason != "hangup" {
		t.Errorf("ended as %q", s.Reason)
	}

	// Call records: the transferring phone's leg ended as transferred;
	// carl's leg has its own (answered), and so has the declined ring.
	a.waitCallRecords()
	recs := decodeJSON[recordsPage](t, jsonRequest(t, "GET", a.URL()+"/api/v1/sip/calls", root, "")).Calls
	var transferred, carlAnswered, carlBusy int
	for _, r := range recs {
		switch {
		case r.From == "100" && r.Cause == sbsip.EndTransferred && r.Outcome == sbsip.OutcomeAnswered:
			transferred++
		case r.To == "300" && r.Outcome == sbsip.OutcomeAnswered:
			carlAnswered++
		case r.To == "300" && r.Outcome == sbsip.OutcomeBusy:
			carlBusy++
		}
	}
	if transferred != 1 || carlAnswered != 1 || carlBusy != 1 {
		t.Errorf("records: %d transferred, %d answered and %d busy at 300, want one each: %+v", transferred, carlAnswered, carlBusy, recs)
	}
}

// The other direction: ann calls a desk phone, which transfers her. Phone
// 200 belongs to nobody, so it may not send her to a number (403), but to
// carl by name (his live extension 300): carl answers and talks with ann,
// and her hang-up reaches him. Phone 201 is bob's, a member, who may call
// numbers: it sends ann to a number through the trunk, whose provider
// answers; the provider's own REFER is refused (403: nobody outside may
// make us place calls), and its hang-up ends ann's call.
func TestSIPCalledPhoneTransfers(t *testing.T) {
	a := startSIPServer(t, func(c *config.Config) { c.SIP.DefaultCountryCode = "1" })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	root := admin(t, a, "root")
	annToken := member(t, a, "ann")
	member(t, a, "bob")
	member(t, a, "carl")
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/accounts", root, `{"username":"200","password":"lobby phone pw"}`)
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/accounts", root, `{"username":"201","password":"bob desk phone","userId":"bob"}`)
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/accounts", root, `{"username":"300","password":"carl desk phone","userId":"carl"}`)
	lobby := newRawPhone(t, a, "200", "lobby phone pw", true)
	bobPhone := newRawPhone(t, a, "201", "bob desk phone", true)
	carl := newRawPhone(t, a, "300", "carl desk phone", true)
	provider := newRawPhone(t, a, "provider", "", false)
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/trunks", root, `{"name":"Provider","host":"`+provider.conn.LocalAddr().String()+`","outboundPrefixes":["+1"]}`)

	events := make(chan protocol.Message, 64)
	m, err := client.DialMessenger(ctx, "ws"+strings.TrimPrefix(a.URL(), "http")+"/api/v1/connect",
		map[string][]string{"Authorization": {"Bearer " + annToken}, "Origin": {a.URL()}},
		func(msg protocol.Message) { events <- msg })
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	callPhone := func(ext string, phone *rawPhone) (string, *roomUser) {
		t.Helper()
		res, err := m.Request(ctx, &protocol.StartCall{Phone: ext})
		if err != nil {
			t.Fatal(err)
		}
		id := res.(*protocol.Calling).Call.ID
		phone.answer(200, nil)
		return id, joinCallRoom(ctx, t, a, callState(ctx, t, events, id, "accepted"))
	}

	id, ann := callPhone("200", lobby)
	audioBothWays(t, "ann and the lobby phone", lobby, ann)
	if code := lobby.refer("sip:+15557654321@pbx.test"); code != 403 {
		t.Errorf("a phone of nobody's transfers to a number: %d, want 403", code)
	}
	if code := lobby.refer("sip:carl@pbx.test"); code != 202 {
		t.Fatalf("REFER to carl: %d", code)
	}
	if n := lobby.notify(); n != "SIP/2.0 100 Trying" {
		t.Errorf("NOTIFY %q", n)
	}
	carl.answer(200, nil)
	if n := lobby.notify(); n != "SIP/2.0 200 OK" && !(n == "SIP/2.0 180 Ringing" && lobby.notify() == "SIP/2.0 200 OK") {
		t.Errorf("NOTIFY %q, want 200", n)
	}
	select {
	case <-lobby.byes:
	case <-time.After(5 * time.Second):
		t.Fatal("the lobby phone got no BYE")
	}
	if st := callState(ctx, t, events, id, "active"); st.Reason != "phone_transferred" || st.Phone != "300" {
		t.Errorf("ann was told %+v", st)
	}
	audioBothWays(t, "ann and carl", carl, ann)
	if _, err := m.Request(ctx, &protocol.CallAction{Action: "hangup", Call: id}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-carl.byes:
	case <-time.After(5 * time.Second):
		t.Fatal("carl got no BYE when ann hung up")
	}
	callState(ctx, t, events, id, "ended")

	// A number, by a member's phone; the provider may not transfer.
	id, ann = callPhone("201", bobPhone)
	if code := bobPhone.refer("tel:+15557654321"); code != 202 {
		t.Fatalf("REFER to a number: %d", code)
	}
	if n := bobPhone.notify(); n != "SIP/2.0 100 Trying" {
		t.Errorf("NOTIFY %q", n)
	}
	inv := provider.answer(200, nil)
	if inv.Recipient.User != "+15557654321" {
		t.Errorf("the provider was asked for %q", inv.Recipient.User)
	}
	<-bobPhone.byes
	if st := callState(ctx, t, events, id, "active"); st.Phone != "+15557654321" {
		t.Errorf("ann was told %+v", st)
	}
	audioBothWays(t, "ann and the number", provider, ann)
	if code := provider.refer("sip:300@pbx.test"); code != 403 {
		t.Errorf("REFER from a trunk: %d, want 403", code)
	}
	if res := provider.inDialog("BYE"); res.StatusCode != 200 {
		t.Fatalf("the provider's BYE: %d", res.StatusCode)
	}
	if st := callState(ctx, t, events, id, "ended"); st.Reason != "hangup" {
		t.Errorf("ended as %q", st.Reason)
	}
}
