package app

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"switchboard/internal/audio"
	"switchboard/internal/client"
	"switchboard/internal/config"
	"switchboard/internal/protocol"
	sbsip "switchboard/internal/sip"
)

// An admin manages trunks and numbers over REST: validation with
// messages, the password written but never read back, the trunk handed to
// the SIP server at once, and numbers by their URL-escaped E.164 form.
func TestSIPTrunksAPI(t *testing.T) {
	a := startSIPServer(t, func(c *config.Config) { c.SIP.DefaultCountryCode = "44" })
	root := admin(t, a, "root")
	bob := member(t, a, "bob")
	api := a.URL() + "/api/v1/sip/trunks"
	nums := a.URL() + "/api/v1/sip/numbers"

	if resp := jsonRequest(t, "GET", api, bob, ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a member listed trunks: %d", resp.StatusCode)
	}
	if resp := jsonRequest(t, "POST", nums, bob, `{}`); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a member added a number: %d", resp.StatusCode)
	}
	for bad, want := range map[string]string{
		`{"name":"P","host":"sip.example.net","transport":"sctp"}`:         "transport",
		`{"name":"P","host":"sip://x"}`:                                    "host",
		`{"name":"P","host":"sip.example.net","register":true}`:            "username and a password",
		`{"name":"P","host":"sip.example.net","inboundIPs":["300.1.1.1"]}`: "inbound IP",
		`{"name":"P","host":"sip.example.net","outboundPrefixes":["44"]}`:  "outbound prefix",
		`{"name":"P","host":"sip.example.net","numberFormat":"roman"}`:     "number format",
		`{"name":"P","host":"sip.example.net","maxCalls":-1}`:              "maxCalls",
		`{"name":"P","host":"sip.example.net","status":{}}`:                "unknown field",
		`{"host":"sip.example.net"}`:                                       "name",
	} {
		resp := jsonRequest(t, "POST", api, root, bad)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d %s, want 400 about %q", bad, resp.StatusCode, b, want)
		}
	}
	resp := jsonRequest(t, "POST", api, root, `{"name":"Provider","host":"203.0.113.9:5070","transport":"tcp",
		"username":"acct","password":"trunk secret","inboundIPs":["198.51.100.7","203.0.113.0/24"],
		"outboundPrefixes":["+44"],"numberFormat":"national","maxCalls":5}`)
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	raw, _ := io.ReadAll(resp.Body)
	if bytes.Contains(raw, []byte("trunk secret")) || bytes.Contains(raw, []byte(`"password"`)) {
		t.Fatalf("the password came back: %s", raw)
	}
	tr := decodeJSON[sipTrunkJSON](t, &http.Response{Body: io.NopCloser(bytes.NewReader(raw))})
	if !strings.HasPrefix(tr.ID, "t_") || !tr.Enabled || !tr.HasPassword || tr.Transport != "tcp" ||
		strings.Join(tr.InboundIPs, ",") != "198.51.100.7/32,203.0.113.0/24" || tr.Status.Registered {
		t.Fatalf("created %+v", tr)
	}
	if got, ok := a.sip.srv.Trunk(tr.ID); !ok || got.Password != "trunk secret" || got.MaxCalls != 5 {
		t.Fatalf("the SIP server has %+v, %v", got, ok)
	}
	if resp := jsonRequest(t, "POST", api, root, `{"name":"Provider","host":"x.example"}`); resp.StatusCode != http.StatusConflict {
		t.Errorf("duplicate name: %d", resp.StatusCode)
	}
	// PATCH a subset; disabling reaches the server too.
	tr = decodeJSON[sipTrunkJSON](t, jsonRequest(t, "PATCH", api+"/"+tr.ID, root, `{"enabled":false,"maxCalls":2}`))
	if tr.Enabled || tr.MaxCalls != 2 || tr.Host != "203.0.113.9:5070" || !tr.HasPassword {
		t.Fatalf("patched %+v", tr)
	}
	if got, _ := a.sip.srv.Trunk(tr.ID); got.Enabled {
		t.Fatal("the SIP server still has the trunk enabled")
	}
	if resp := jsonRequest(t, "PATCH", api+"/"+tr.ID, root, `{"transport":"carrier pigeon"}`); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad patch: %d", resp.StatusCode)
	}
	if resp := jsonRequest(t, "GET", api+"/t_nope", root, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing trunk: %d", resp.StatusCode)
	}
	list := decodeJSON[struct{ Trunks []sipTrunkJSON }](t, jsonRequest(t, "GET", api, root, ""))
	if len(list.Trunks) != 1 || list.Trunks[0].ID != tr.ID {
		t.Fatalf("list %+v", list)
	}

	// Numbers: written nationally, stored and addressed as E.164.
	for bad, want := range map[string]string{
		`{"number":"2079460000","target":{"kind":"user","value":"bob"}}`:                     "neither international",
		`{"number":"+442079460000","target":{"kind":"user","value":"nobody"}}`:               "does not exist",
		`{"number":"+442079460000","target":{"kind":"fax","value":"bob"}}`:                   "target kind",
		`{"number":"+442079460000","target":{"kind":"extension","value":"999"}}`:             "not a SIP account",
		`{"number":"+442079460000","trunk":"t_nope","target":{"kind":"user","value":"bob"}}`: "trunk",
		`{"number":"+442079460000"}`: "target",
	} {
		resp := jsonRequest(t, "POST", nums, root, bad)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d %s, want 400 about %q", bad, resp.StatusCode, b, want)
		}
	}
	resp = jsonRequest(t, "POST", nums, root, `{"number":"020 7946 0000","trunk":"`+tr.ID+`","label":"Sales","target":{"kind":"user","value":"bob"}}`)
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("create number: %d %s", resp.StatusCode, b)
	}
	n := decodeJSON[sipNumberJSON](t, resp)
	if n.Number != "+442079460000" || n.Trunk != tr.ID || n.Target.Kind != "user" {
		t.Fatalf("number %+v", n)
	}
	one := nums + "/" + url.PathEscape("+442079460000")
	n = decodeJSON[sipNumberJSON](t, jsonRequest(t, "PATCH", one, root, `{"label":"Support","target":{"kind":"conference","value":"standup"}}`))
	if n.Label != "Support" || n.Target.Kind != "conference" || n.Trunk != tr.ID {
		t.Fatalf("patched number %+v", n)
	}
	if got := decodeJSON[sipNumberJSON](t, jsonRequest(t, "GET", nums+"/%2B442079460000", root, "")); got.Label != "Support" {
		t.Fatalf("get number %+v", got)
	}
	// Deleting the trunk deletes its numbers.
	if resp := jsonRequest(t, "DELETE", api+"/"+tr.ID, root, ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete trunk: %d", resp.StatusCode)
	}
	if _, ok := a.sip.srv.Trunk(tr.ID); ok {
		t.Fatal("the SIP server kept a deleted trunk")
	}
	if resp := jsonRequest(t, "GET", one, root, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("number of a deleted trunk: %d", resp.StatusCode)
	}
}

// trunkPeer is a provider's side of an IP-authenticated trunk: a sipgo
// client and server on its own port, with a UDP socket for RTP.
type trunkPeer struct {
	client *sipgo.Client
	media  *net.UDPConn
	byes   chan struct{}
	srv    *net.UDPAddr
	server *sipgo.Server // (tests add handlers: re-INVITEs)
}

func newTrunkPeer(t *testing.T, a *App) *trunkPeer {
	t.Helper()
	ua, _ := sipgo.NewUA()
	t.Cleanup(func() { ua.Close() })
	c, _ := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	s, _ := sipgo.NewServer(ua)
	p := &trunkPeer{client: c, byes: make(chan struct{}, 1), srv: a.SIPAddrs().UDP.(*net.UDPAddr), server: s}
	s.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		p.byes <- struct{}{}
	})
	m, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	p.media = m
	return p
}

// invite calls number from caller (with a display name) and returns the final response.
func (p *trunkPeer) invite(ctx context.Context, number, caller, name string) (*sip.Request, *sip.Response, error) {
	inv := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: number, Host: "127.0.0.1", Port: p.srv.Port})
	from := &sip.FromHeader{DisplayName: name, Address: sip.Uri{Scheme: "sip", User: caller, Host: "provider.test"}}
	from.Params.Add("tag", sip.GenerateTagN(8))
	inv.AppendHeader(from)
	inv.AppendHeader(sip.NewHeader("Contact", "<sip:"+caller+"@127.0.0.1>"))
	inv.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	inv.SetBody([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio " +
		strconv.Itoa(p.media.LocalAddr().(*net.UDPAddr).Port) + " RTP/AVP 0\r\n"))
	res, err := p.client.Do(ctx, inv)
	return inv, res, err
}

func (p *trunkPeer) ack(t *testing.T, inv *sip.Request, res *sip.Response) {
	t.Helper()
	target := inv.Recipient
	if c := res.Contact(); c != nil {
		target = c.Address
	}
	ack := sip.NewRequest(sip.ACK, target)
	ack.AppendHeader(inv.From())
	ack.AppendHeader(res.To())
	ack.AppendHeader(res.CallID())
	ack.AppendHeader(&sip.CSeqHeader{SeqNo: res.CSeq().SeqNo, MethodName: sip.ACK})
	ack.SetDestination(p.srv.String())
	if err := p.client.WriteRequest(ack); err != nil {
		t.Fatal(err)
	}
}

// talkInRoom joins the call's room as a browser would (a pion client),
// publishes codec, sends 100 packets, and returns how many it heard.
// sendToPhone, when set, is called alongside for each packet.
func talkInRoom(ctx context.Context, t *testing.T, a *App, acc *protocol.CallState, mime string, sendToPhone func(i int)) int64 {
	t.Helper()
	var heard atomic.Int64
	cl, err := client.Dial(ctx, a.URL(), newAPI(t), protocol.Join{Room: acc.Room, Name: "User", Token: acc.Token},
		func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
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
	defer cl.Close()
	mic, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 8000, Channels: 1}, "mic", "user")
	if err := cl.Publish(ctx, map[webrtc.TrackLocal]string{mic: "microphone"}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); cl.Pub.ConnectionState() != webrtc.PeerConnectionStateConnected; {
		if time.Now().After(deadline) {
			t.Fatalf("publish connection: %v", cl.Pub.ConnectionState())
		}
		time.Sleep(20 * time.Millisecond)
	}
	payload := bytes.Repeat([]byte{0xd5}, 160)
	for i := range 100 {
		if sendToPhone != nil {
			sendToPhone(i)
		}
		mic.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i * 160)}, Payload: payload})
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	return heard.Load()
}

// A provider (an IP-authenticated trunk peer) calls a number routed to bob:
// bob's socket rings with the caller's number and name and no caller user,
// he answers and joins the room, audio goes both ways, and his hang-up
// sends the provider a BYE. A number nobody has is 404; the meetings'
// dial-in number asks for a PIN by keypad, so a caller offering no
// telephone-event is refused (488; 503 in a build without Opus); a queue's
// number whose queue does not exist is 480.
func TestSIPTrunkCallsUser(t *testing.T) {
	a := startSIPServer(t, func(c *config.Config) { c.SIP.DefaultCountryCode = "1" })
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	m, events := phoneAndBob(ctx, t, a) // bob; alice has desk phone 100
	root := admin(t, a, "root2")
	tr := decodeJSON[sipTrunkJSON](t, jsonRequest(t, "POST", a.URL()+"/api/v1/sip/trunks", root,
		`{"name":"Peer","host":"127.0.0.1:5999","inboundIPs":["127.0.0.1"]}`))
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/numbers", root, `{"number":"+15551234567","trunk":"`+tr.ID+`","target":{"kind":"user","value":"bob"}}`)
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/numbers", root, `{"number":"+15551230000","target":{"kind":"conference","value":"standup"}}`)
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/numbers", root, `{"number":"+15551239999","target":{"kind":"queue","value":"sales"}}`)
	peer := newTrunkPeer(t, a)

	if _, res, err := peer.invite(ctx, "+15550000000", "+15557654321", ""); err != nil || res.StatusCode != 404 {
		t.Fatalf("unknown number: %v %v", res, err)
	}
	wantMeeting := 503
	if audio.OpusAvailable {
		wantMeeting = 488
	}
	if _, res, err := peer.invite(ctx, "5551230000", "+15557654321", ""); err != nil || res.StatusCode != wantMeeting {
		t.Fatalf("meeting number: %v %v, want %d", res, err, wantMeeting)
	}
	if _, res, err := peer.invite(ctx, "5551239999", "+15557654321", ""); err != nil || res.StatusCode != 480 {
		t.Fatalf("queue number: %v %v", res, err)
	}

	type answer struct {
		inv *sip.Request
		res *sip.Response
	}
	answered := make(chan answer, 1)
	go func() {
		// National (NANP) form in the Request-URI: read with the default country code.
		inv, res, err := peer.invite(ctx, "5551234567", "555-765-4321", "Jane Caller") // the caller national too
		if err != nil {
			t.Error(err)
		}
		answered <- answer{inv, res}
	}()
	inc := nextEvent(ctx, t, events, "call.incoming", func(msg protocol.Message) bool { _, ok := msg.(*protocol.CallIncoming); return ok }).(*protocol.CallIncoming)
	if inc.Call.From != "" || inc.Call.Phone != "+15557654321" || inc.Call.PhoneName != "Jane Caller" || inc.Call.Conversation != "" {
		t.Fatalf("incoming %+v", inc.Call)
	}
	if _, err := m.Request(ctx, &protocol.CallAction{Action: "answer", Call: inc.Call.ID}); err != nil {
		t.Fatal(err)
	}
	acc := nextEvent(ctx, t, events, "accepted", func(msg protocol.Message) bool {
		s, ok := msg.(*protocol.CallState)
		return ok && s.State == "accepted"
	}).(*protocol.CallState)
	ans := <-answered
	if ans.res == nil || ans.res.StatusCode != 200 {
		t.Fatalf("the provider's INVITE: %v", ans.res)
	}
	if st := a.sip.srv.TrunkStatus(tr.ID); st.ActiveCalls != 1 {
		t.Fatalf("trunk status %+v", st)
	}
	peer.ack(t, ans.inv, ans.res)
	sdp, err := sbsip.ParseSDP(ans.res.Body())
	if err != nil {
		t.Fatal(err)
	}
	var toPeer atomic.Int64
	go func() {
		buf := make([]byte, 1500)
		for {
			peer.media.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := peer.media.Read(buf); err != nil {
				return
			}
			toPeer.Add(1)
		}
	}()
	heard := talkInRoom(ctx, t, a, acc, webrtc.MimeTypePCMU, func(i int) {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 9},
			Payload: make([]byte, 160)}
		raw, _ := p.Marshal()
		peer.media.WriteToUDPAddrPort(raw, sdp.Addr)
	})
	if heard < 80 || toPeer.Load() < 80 {
		t.Fatalf("bob heard %d packets from the caller, the caller %d from bob", heard, toPeer.Load())
	}
	if _, err := m.Request(ctx, &protocol.CallAction{Action: "hangup", Call: inc.Call.ID}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-peer.byes:
	case <-ctx.Done():
		t.Fatal("the provider got no BYE")
	}
	deadline := time.Now().Add(5 * time.Second)
	for a.sip.srv.TrunkStatus(tr.ID).ActiveCalls != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the trunk's call slot was not given back")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sippProvider starts sipp as a provider answering calls out (the
// challenge-demanding uas_trunk_answer.xml, echoing RTP) and returns its
// SIP port and a function waiting for its result.
func sippProvider(t *testing.T) (int, func() (bool, string)) {
	t.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		t.Skip("sipp is not installed (apt-get install sip-tester)")
	}
	scen, _ := filepath.Abs(filepath.Join("..", "sip", "testdata", "uas_trunk_answer.xml"))
	port, mport := freeUDPPort(t), freeUDPPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := exec.CommandContext(ctx, bin, "-sf", scen, "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-m", "1", "-nostdin",
		"-rtp_echo", "-mi", "127.0.0.1", "-mp", strconv.Itoa(mport), "-timeout", "50s", "-timeout_error")
	cmd.Dir = t.TempDir()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan bool, 1)
	go func() { done <- cmd.Wait() == nil; cancel() }()
	t.Cleanup(cancel)
	time.Sleep(300 * time.Millisecond)
	return port, func() (bool, string) {
		select {
		case ok := <-done:
			return ok, out.String()
		case <-time.After(10 * time.Second):
			return false, "sipp did not finish\n" + out.String()
		}
	}
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// Ann calls a number out through a trunk whose provider (sipp) demands
// digest: the call connects, the provider hears her and she hears it (sipp
// echoes her audio), she hangs up and sipp gets the BYE. A number with no
// trunk for it is not found, nor one outside sip.dial_prefixes.
func TestSIPUserCallsNumber(t *testing.T) {
	port, wait := sippProvider(t)
	a := startSIPServer(t, func(c *config.Config) {
		c.SIP.DefaultCountryCode = "44"
		c.SIP.DialPrefixes = []string{"+4420", "+1"} // London and North America only
	})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	root := admin(t, a, "root")
	annToken := member(t, a, "ann")
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/trunks", root, `{"name":"Provider","host":"127.0.0.1:`+strconv.Itoa(port)+`",
		"username":"trunkuser","password":"trunk secret","fromDomain":"provider.test","outboundPrefixes":["+44"],"numberFormat":"national"}`)
	events := make(chan protocol.Message, 64)
	m, err := client.DialMessenger(ctx, "ws"+strings.TrimPrefix(a.URL(), "http")+"/api/v1/connect",
		map[string][]string{"Authorization": {"Bearer " + annToken}, "Origin": {a.URL()}},
		func(msg protocol.Message) { events <- msg })
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Request(ctx, &protocol.StartCall{Phone: "+15551234567"}); err == nil || !strings.Contains(err.Error(), protocol.CodeNotFound) {
		t.Fatalf("a number without a trunk: %v", err)
	}
	if _, err := m.Request(ctx, &protocol.StartCall{Phone: "+449098790000"}); err == nil || !strings.Contains(err.Error(), protocol.CodeNotFound) {
		t.Fatalf("a premium number outside sip.dial_prefixes: %v", err) // the trunk takes +44, the prefixes do not
	}
	res, err := m.Request(ctx, &protocol.StartCall{Phone: "02079460000"})
	if err != nil {
		t.Fatal(err)
	}
	k := res.(*protocol.Calling).Call
	if k.Phone != "+442079460000" {
		t.Fatalf("call %+v", k)
	}
	acc := nextEvent(ctx, t, events, "accepted", func(msg protocol.Message) bool {
		s, ok := msg.(*protocol.CallState)
		return ok && s.Call == k.ID && s.State == "accepted"
	}).(*protocol.CallState)
	if r, ok := a.registry.Get(acc.Room); !ok || r.Settings().AudioCodec != "audio/PCMA" {
		t.Fatalf("the call's room: %v", ok)
	}
	heard := talkInRoom(ctx, t, a, acc, webrtc.MimeTypePCMA, nil)
	if heard < 50 {
		t.Fatalf("ann heard %d packets of her own echo from the provider", heard)
	}
	if _, err := m.Request(ctx, &protocol.CallAction{Action: "hangup", Call: k.ID}); err != nil {
		t.Fatal(err)
	}
	if ok, out := wait(); !ok {
		t.Fatalf("sipp (the provider) did not finish its scenario (digest, answer, BYE):\n%s", out)
	}
}
