package app

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"switchboard/internal/client"
	"switchboard/internal/config"
	"switchboard/internal/protocol"
	sbsip "switchboard/internal/sip"
	"switchboard/internal/store"
)

// A desk phone (SIP account 100, alice's) calls bob by name. Bob's
// messaging socket rings as for a call from alice; he answers, joins the
// call's room with the meetings protocol (a pion client, as the web app
// would) and publishes G.711. The phone's audio reaches him through the
// SFU untouched, his reaches the phone, and when he hangs up the phone
// gets a BYE.
func TestSIPPhoneCallsBrowser(t *testing.T) {
	a := startSIPServer(t, func(c *config.Config) { c.SIP.RTPPorts = "47400-47499" })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, events := phoneAndBob(ctx, t, a)

	// The phone: sipgo for signalling, a UDP socket for RTP.
	ua, _ := sipgo.NewUA()
	defer ua.Close()
	phoneClient, _ := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	phoneServer, _ := sipgo.NewServer(ua)
	byes := make(chan struct{}, 1)
	phoneServer.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		byes <- struct{}{}
	})
	media, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer media.Close()
	srvAddr := a.SIPAddrs().UDP.(*net.UDPAddr)
	invite := phoneInvite(srvAddr.Port, "Desk 100",
		"m=audio "+strconv.Itoa(media.LocalAddr().(*net.UDPAddr).Port)+" RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n")
	answered := callFromPhone(ctx, t, phoneClient, invite)

	wait := func(what string, match func(protocol.Message) bool) protocol.Message {
		t.Helper()
		return nextEvent(ctx, t, events, what, match)
	}
	inc := wait("call.incoming", func(msg protocol.Message) bool { _, ok := msg.(*protocol.CallIncoming); return ok }).(*protocol.CallIncoming)
	if inc.Call.From != "alice" {
		t.Fatalf("the call comes from %q, want alice (the phone's user)", inc.Call.From)
	}
	if _, err := m.Request(ctx, &protocol.CallAction{Action: "answer", Call: inc.Call.ID}); err != nil {
		t.Fatal(err)
	}
	acc := wait("accepted", func(msg protocol.Message) bool {
		s, ok := msg.(*protocol.CallState)
		return ok && s.State == "accepted"
	}).(*protocol.CallState)

	res := <-answered
	if res == nil || res.StatusCode != 200 {
		t.Fatalf("the phone's INVITE: %v", res)
	}
	offer, err := sbsip.ParseSDP(res.Body())
	if err != nil || len(offer.Codecs) != 1 || offer.Codecs[0].Name != "PCMU" || offer.Addr.Port() < 47400 || offer.Addr.Port() > 47499 {
		t.Fatalf("answer SDP %q: %v", res.Body(), err)
	}
	target := invite.Recipient
	if c := res.Contact(); c != nil {
		target = c.Address
	}
	ack := sip.NewRequest(sip.ACK, target)
	ack.AppendHeader(invite.From())
	ack.AppendHeader(res.To())
	ack.AppendHeader(res.CallID())
	ack.AppendHeader(&sip.CSeqHeader{SeqNo: res.CSeq().SeqNo, MethodName: sip.ACK})
	ack.SetDestination(srvAddr.String())
	if err := phoneClient.WriteRequest(ack); err != nil {
		t.Fatal(err)
	}

	// Bob in the room: he publishes G.711 and counts what he hears.
	var heard atomic.Int64
	var heardCodec atomic.Value
	api := newAPI(t)
	bob, err := client.Dial(ctx, a.URL(), api, protocol.Join{Room: acc.Room, Name: "Bob", Token: acc.Token},
		func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			heardCodec.Store(tr.Codec().MimeType)
			go func() {
				for {
					if _, _, err := tr.ReadRTP(); err != nil {
						return
					}
					heard.Add(1)
				}
			}()
		})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	mic, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1}, "mic", "bob")
	if err := bob.Publish(ctx, map[webrtc.TrackLocal]string{mic: "microphone"}); err != nil {
		t.Fatal(err)
	}
	for _, tr := range bob.Pub.GetTransceivers() {
		if s := tr.Sender(); s != nil {
			for _, c := range s.GetParameters().Codecs {
				if c.MimeType != webrtc.MimeTypePCMU {
					t.Errorf("the server let the browser publish %s in a call with a phone", c.MimeType)
				}
			}
		}
	}

	// Both talk for two seconds, once bob's connections are up (pion drops
	// what is written before).
	for deadline := time.Now().Add(10 * time.Second); bob.Pub.ConnectionState() != webrtc.PeerConnectionStateConnected; {
		if time.Now().After(deadline) {
			t.Fatalf("bob's publish connection: %v", bob.Pub.ConnectionState())
		}
		time.Sleep(20 * time.Millisecond)
	}
	var toPhone atomic.Int64
	go func() {
		buf := make([]byte, 1500)
		for {
			media.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := media.Read(buf)
			if err != nil {
				return
			}
			var p rtp.Packet
			if p.Unmarshal(buf[:n]) == nil && p.PayloadType == 0 {
				toPhone.Add(1)
			}
		}
	}()
	payload := make([]byte, 160)
	for i := range 100 {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 0x1234}, Payload: payload}
		raw, _ := p.Marshal()
		media.WriteToUDPAddrPort(raw, offer.Addr)
		mic.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i * 160)}, Payload: payload})
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	t.Logf("bob heard %d packets (%v), the phone %d", heard.Load(), heardCodec.Load(), toPhone.Load())
	if heard.Load() < 80 || heardCodec.Load() != webrtc.MimeTypePCMU {
		t.Errorf("bob heard %d packets of %v from the phone", heard.Load(), heardCodec.Load())
	}
	if toPhone.Load() < 80 {
		t.Errorf("the phone heard %d packets from bob", toPhone.Load())
	}

	// Bob hangs up: the phone gets a BYE.
	if _, err := m.Request(ctx, &protocol.CallAction{Action: "hangup", Call: inc.Call.ID}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-byes:
	case <-time.After(5 * time.Second):
		t.Fatal("the phone got no BYE")
	}
	// The call is in alice and bob's conversation.
	wait("call entry", func(msg protocol.Message) bool {
		e, ok := msg.(*protocol.EventMsg)
		return ok && e.Entry.Kind == store.KindCall
	})
}

// Declining a phone's call in the browser answers the phone 486, and a
// call from a phone whose account is linked to nobody cannot ring anyone.
func TestSIPPhoneCallDeclined(t *testing.T) {
	a := startSIPServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	root := admin(t, a, "root")
	member(t, a, "alice")
	bobToken := member(t, a, "bob")
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/accounts", root, `{"username":"100","password":"alice desk phone","userId":"alice"}`)
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/accounts", root, `{"username":"200","password":"lobby phone pw"}`)
	var self atomic.Pointer[client.Messenger]
	declined := make(chan error, 1)
	m, err := client.DialMessenger(ctx, "ws"+strings.TrimPrefix(a.URL(), "http")+"/api/v1/connect",
		map[string][]string{"Authorization": {"Bearer " + bobToken}, "Origin": {a.URL()}},
		func(msg protocol.Message) {
			if inc, ok := msg.(*protocol.CallIncoming); ok {
				go func() {
					c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					_, err := self.Load().Request(c, &protocol.CallAction{Action: "decline", Call: inc.Call.ID})
					declined <- err
				}()
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	self.Store(m)
	defer m.Close()
	phone := newSIPPhone(t, a)
	if code := phone.invite("100", "alice desk phone", "bob"); code != 486 {
		t.Errorf("declined call: %d, want 486", code)
	}
	if err := <-declined; err != nil {
		t.Errorf("decline: %v", err)
	}
	if code := phone.invite("200", "lobby phone pw", "bob"); code != 480 {
		t.Errorf("call from an unlinked phone: %d, want 480", code)
	}
}

// A phone that gives up while the browser rings (CANCEL) stops the
// ringing: the browser hears the call ended as cancelled.
func TestSIPPhoneCancelsWhileRinging(t *testing.T) {
	a := startSIPServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, events := phoneAndBob(ctx, t, a)

	phone := newSIPPhone(t, a)
	srvAddr := a.SIPAddrs().UDP.(*net.UDPAddr)
	invite := phoneInvite(srvAddr.Port, "", "m=audio 40000 RTP/AVP 8\r\n")
	res, err := phone.client.Do(ctx, invite)
	if err != nil || res.StatusCode != 401 {
		t.Fatalf("first INVITE: %v %v", res, err)
	}
	tx, err := phone.client.TransactionDigestAuth(ctx, invite, res, sipgo.DigestAuth{Username: "100", Password: "alice desk phone"})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Terminate()
	for {
		var r *sip.Response
		select {
		case r = <-tx.Responses():
		case <-ctx.Done():
			t.Fatal("no 180")
		}
		if r.StatusCode == 180 {
			break
		}
	}
	callID := nextEvent(ctx, t, events, "ringing at bob's browser", func(msg protocol.Message) bool {
		_, ok := msg.(*protocol.CallIncoming)
		return ok
	}).(*protocol.CallIncoming).Call.ID
	// CANCEL repeats the INVITE's Request-URI, Via, From, To, Call-ID and CSeq number.
	c := sip.NewRequest(sip.CANCEL, invite.Recipient)
	c.AppendHeader(invite.Via().Clone())
	c.AppendHeader(invite.From())
	c.AppendHeader(invite.To())
	c.AppendHeader(invite.CallID())
	c.AppendHeader(&sip.CSeqHeader{SeqNo: invite.CSeq().SeqNo, MethodName: sip.CANCEL})
	c.AppendHeader(sip.NewHeader("Max-Forwards", "70"))
	c.SetDestination(srvAddr.String())
	if err := phone.client.WriteRequest(c); err != nil {
		t.Fatal(err)
	}
	end := nextEvent(ctx, t, events, "end of the ringing after the phone cancelled", func(msg protocol.Message) bool {
		s, ok := msg.(*protocol.CallState)
		return ok && s.Call == callID && s.State == "ended"
	}).(*protocol.CallState)
	if end.Reason != "cancelled" {
		t.Fatalf("ended as %q, want cancelled", end.Reason)
	}
}

// phoneInvite is the INVITE of alice's desk phone (extension 100) for bob,
// offering media (an SDP m= line and its attributes).
func phoneInvite(port int, displayName, media string) *sip.Request {
	invite := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "bob", Host: "127.0.0.1", Port: port})
	from := &sip.FromHeader{DisplayName: displayName, Address: sip.Uri{Scheme: "sip", User: "100", Host: "pbx.test"}}
	from.Params.Add("tag", sip.GenerateTagN(8))
	invite.AppendHeader(from)
	invite.AppendHeader(sip.NewHeader("Contact", "<sip:100@127.0.0.1>"))
	invite.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	invite.SetBody([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" + media))
	return invite
}

// callFromPhone sends invite with the phone's digest credentials; the final
// answer arrives on the channel (closed on an error).
func callFromPhone(ctx context.Context, t *testing.T, phone *sipgo.Client, invite *sip.Request) <-chan *sip.Response {
	answered := make(chan *sip.Response, 1)
	go func() {
		res, err := phone.Do(ctx, invite)
		if err == nil && res.StatusCode == 401 {
			res, err = phone.DoDigestAuth(ctx, invite, res, sipgo.DigestAuth{Username: "100", Password: "alice desk phone"})
		}
		if err != nil {
			t.Error(err)
			close(answered)
			return
		}
		answered <- res
	}()
	return answered
}

// phoneAndBob sets the scene of a call from a phone: alice, whose desk phone
// is SIP account 100, and bob, with a messaging socket whose messages
// arrive on events (closed when the test ends).
func phoneAndBob(ctx context.Context, t *testing.T, a *App) (*client.Messenger, chan protocol.Message) {
	t.Helper()
	root := admin(t, a, "root")
	member(t, a, "alice")
	bobToken := member(t, a, "bob")
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/accounts", root, `{"username":"100","password":"alice desk phone","userId":"alice"}`)
	events := make(chan protocol.Message, 64)
	m, err := client.DialMessenger(ctx, "ws"+strings.TrimPrefix(a.URL(), "http")+"/api/v1/connect",
		map[string][]string{"Authorization": {"Bearer " + bobToken}, "Origin": {a.URL()}},
		func(msg protocol.Message) { events <- msg })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m, events
}

// nextEvent waits for the first message on events that matches.
func nextEvent(ctx context.Context, t *testing.T, events <-chan protocol.Message, what string, match func(protocol.Message) bool) protocol.Message {
	t.Helper()
	for {
		select {
		case msg := <-events:
			if match(msg) {
				return msg
			}
		case <-ctx.Done():
			t.Fatalf("no %s", what)
		}
	}
}
