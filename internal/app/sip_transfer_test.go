package app

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"switchboard/internal/client"
	"switchboard/internal/config"
	"switchboard/internal/protocol"
	sbsip "switchboard/internal/sip"
)

// messenger signs user in to messaging (token from member) and returns
// its events.
func messenger(ctx context.Context, t *testing.T, a *App, token string) (*client.Messenger, chan protocol.Message) {
	t.Helper()
	events := make(chan protocol.Message, 64)
	m, err := client.DialMessenger(ctx, "ws"+strings.TrimPrefix(a.URL(), "http")+"/api/v1/connect",
		map[string][]string{"Authorization": {"Bearer " + token}, "Origin": {a.URL()}},
		func(msg protocol.Message) { events <- msg })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m, events
}

// phonesHear checks that phones p and q, in one room, hear each other.
func phonesHear(t *testing.T, what string, p, q *rawPhone) {
	t.Helper()
	p0, q0 := p.heard.Load(), q.heard.Load()
	done := make(chan struct{})
	go func() { q.talk(75); close(done) }()
	p.talk(75)
	<-done
	time.Sleep(200 * time.Millisecond)
	toP, toQ := p.heard.Load()-p0, q.heard.Load()-q0
	t.Logf("%s: %d and %d packets", what, toP, toQ)
	if toP < 50 || toQ < 50 {
		t.Errorf("%s: they heard %d and %d packets (want 50 each)", what, toP, toQ)
	}
}

// Ann calls a number out through a trunk and transfers the call by the
// server: a number is refused; carl declines, and the lobby phone (an
// extension) is busy, and each time the call goes on; carl
// answers and talks with the provider, ann's call ending as transferred;
// carl transfers on to extension 300, and the provider and that phone
// talk; the phone's hang-up ends the provider's leg and the room.
func TestSIPTransferTrunkCallByServer(t *testing.T) {
	a := startSIPServer(t, func(c *config.Config) { c.SIP.DefaultCountryCode = "1" })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	root := admin(t, a, "root")
	annToken := member(t, a, "ann")
	carlToken := member(t, a, "carl")
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/accounts", root, `{"username":"300","password":"lobby phone pw"}`)
	lobby := newRawPhone(t, a, "300", "lobby phone pw", true)
	provider := newRawPhone(t, a, "provider", "", false)
	tr := decodeJSON[sipTrunkJSON](t, jsonRequest(t, "POST", a.URL()+"/api/v1/sip/trunks", root,
		`{"name":"Provider","host":"`+provider.conn.LocalAddr().String()+`","outboundPrefixes":["+1"]}`))
	m, events := messenger(ctx, t, a, annToken)
	cm, carlEvents := messenger(ctx, t, a, carlToken)

	res, err := m.Request(ctx, &protocol.StartCall{Phone: "+15557654321"})
	if err != nil {
		t.Fatal(err)
	}
	id := res.(*protocol.Calling).Call.ID
	provider.answer(200, nil)
	acc := callState(ctx, t, events, id, "accepted")
	ann := joinCallRoom(ctx, t, a, acc)
	audioBothWays(t, "ann and the number", provider, ann)

	if _, err := m.Request(ctx, &protocol.CallTransfer{Call: id, Target: "+15550001111"}); err == nil ||
		!strings.Contains(err.Error(), "transfer to a colleague or an extension") {
		t.Fatalf("a transfer to a number: %v", err)
	}
	if st := callState(ctx, t, events, id, "active"); st.Reason != "transfer_failed" {
		t.Errorf("after the refused transfer: %+v", st)
	}

	ringCarl := func() *protocol.CallIncoming {
		t.Helper()
		if _, err := m.Request(ctx, &protocol.CallTransfer{Call: id, Target: "carl"}); err != nil {
			t.Fatal(err)
		}
		callState(ctx, t, events, id, "transferring")
		inc := nextEvent(ctx, t, carlEvents, "call.incoming", func(msg protocol.Message) bool { _, ok := msg.(*protocol.CallIncoming); return ok }).(*protocol.CallIncoming)
		if inc.Call.Phone != "+15557654321" || inc.Call.From != "" {
			t.Errorf("carl is rung with %+v", inc.Call)
		}
		return inc
	}
	inc := ringCarl()
	if _, err := cm.Request(ctx, &protocol.CallAction{Action: "decline", Call: inc.Call.ID}); err != nil {
		t.Fatal(err)
	}
	if st := callState(ctx, t, events, id, "active"); st.Reason != "transfer_failed" {
		t.Errorf("after carl declined: %+v", st)
	}
	audioBothWays(t, "ann and the number after carl declined", provider, ann)

	// The lobby phone is busy: the call goes on.
	if _, err := m.Request(ctx, &protocol.CallTransfer{Call: id, Target: "300"}); err != nil {
		t.Fatal(err)
	}
	lobby.answer(486, nil)
	if st := callState(ctx, t, events, id, "active"); st.Reason != "transfer_failed" {
		t.Errorf("after the lobby phone refused: %+v", st)
	}
	audioBothWays(t, "ann and the number after the lobby phone refused", provider, ann)

	inc = ringCarl()
	carlID := inc.Call.ID
	if _, err := cm.Request(ctx, &protocol.CallAction{Action: "answer", Call: carlID}); err != nil {
		t.Fatal(err)
	}
	carl := joinCallRoom(ctx, t, a, callState(ctx, t, carlEvents, carlID, "accepted"))
	if st := callState(ctx, t, events, id, "ended"); st.Reason != "transferred" {
		t.Errorf("ann's call ended as %q", st.Reason)
	}
	audioBothWays(t, "carl and the number", provider, carl)
	select {
	case <-provider.byes:
		t.Fatal("the provider was hung up on")
	default:
	}

	// Carl has the controls now: on to the lobby phone.
	if _, err := cm.Request(ctx, &protocol.CallTransfer{Call: carlID, Target: "300"}); err != nil {
		t.Fatal(err)
	}
	inv := lobby.answer(200, nil)
	if u := inv.From().Address.User; u != "+15557654321" {
		t.Errorf("the lobby phone sees the call from %q", u)
	}
	if st := callState(ctx, t, carlEvents, carlID, "ended"); st.Reason != "transferred" {
		t.Errorf("carl's call ended as %q", st.Reason)
	}
	phonesHear(t, "the number and the lobby phone", provider, lobby)
	if res := lobby.inDialog("BYE"); res.StatusCode != 200 {
		t.Fatalf("the lobby phone's BYE: %d", res.StatusCode)
	}
	select {
	case <-provider.byes:
	case <-time.After(5 * time.Second):
		t.Fatal("the provider got no BYE when the lobby phone hung up")
	}
	deadline := time.Now().Add(5 * time.Second)
	for a.sip.srv.TrunkStatus(tr.ID).ActiveCalls != 0 || len(a.registry.Live()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("trunk calls %d, rooms %d", a.sip.srv.TrunkStatus(tr.ID).ActiveCalls, len(a.registry.Live()))
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Call records: the provider's leg is one record throughout (answered,
	// hung up by us when the lobby phone did), the lobby phone's legs have
	// their own (busy, then answered).
	a.waitCallRecords()
	recs := decodeJSON[recordsPage](t, jsonRequest(t, "GET", a.URL()+"/api/v1/sip/calls", root, "")).Calls
	var trunkLegs, lobbyAnswered, lobbyBusy int
	for _, r := range recs {
		switch {
		case r.To == "+15557654321" && r.Trunk == tr.ID:
			trunkLegs++
			if r.Outcome != sbsip.OutcomeAnswered || r.PacketsReceived < 200 {
				t.Errorf("the provider's record: %+v", r)
			}
		case r.To == "300" && r.Outcome == sbsip.OutcomeAnswered:
			lobbyAnswered++
		case r.To == "300" && r.Outcome == sbsip.OutcomeBusy:
			lobbyBusy++
		}
	}
	if trunkLegs != 1 || lobbyAnswered != 1 || lobbyBusy != 1 {
		t.Errorf("records: %d of the provider's leg, %d answered and %d busy at 300, want one each: %+v", trunkLegs, lobbyAnswered, lobbyBusy, recs)
	}
}

// A call from a number, answered by ann, is transferred by the server to
// carl's browsers: carl hears the caller and the caller carl, and the
// caller's hang-up ends carl's call and the room.
func TestSIPTransferCallFromNumber(t *testing.T) {
	a := startSIPServer(t, func(c *config.Config) { c.SIP.DefaultCountryCode = "1" })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	root := admin(t, a, "root")
	annToken := member(t, a, "ann")
	carlToken := member(t, a, "carl")
	tr := decodeJSON[sipTrunkJSON](t, jsonRequest(t, "POST", a.URL()+"/api/v1/sip/trunks", root,
		`{"name":"Peer","host":"127.0.0.1:5999","inboundIPs":["127.0.0.1"]}`))
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/numbers", root, `{"number":"+15551234567","trunk":"`+tr.ID+`","target":{"kind":"user","value":"ann"}}`)
	m, events := messenger(ctx, t, a, annToken)
	cm, carlEvents := messenger(ctx, t, a, carlToken)
	peer := newTrunkPeer(t, a)

	type answer struct {
		inv *sip.Request
		res *sip.Response
	}
	answered := make(chan answer, 1)
	go func() {
		inv, res, err := peer.invite(ctx, "+15551234567", "+15557654321", "Jane Caller")
		if err != nil {
			t.Error(err)
		}
		answered <- answer{inv, res}
	}()
	inc := nextEvent(ctx, t, events, "call.incoming", func(msg protocol.Message) bool { _, ok := msg.(*protocol.CallIncoming); return ok }).(*protocol.CallIncoming)
	id := inc.Call.ID
	if _, err := m.Request(ctx, &protocol.CallAction{Action: "answer", Call: id}); err != nil {
		t.Fatal(err)
	}
	ann := joinCallRoom(ctx, t, a, callState(ctx, t, events, id, "accepted"))
	ans := <-answered
	if ans.res == nil || ans.res.StatusCode != 200 {
		t.Fatalf("the provider's INVITE: %v", ans.res)
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
			peer.media.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := peer.media.Read(buf); err != nil {
				return
			}
			toPeer.Add(1)
		}
	}()
	var seq atomic.Int64
	// talk checks that the caller and u hear each other.
	talk := func(what string, u *roomUser) {
		t.Helper()
		p0, u0 := toPeer.Load(), u.heard.Load()
		for range 75 {
			i := seq.Add(1)
			p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 9},
				Payload: make([]byte, 160)}
			raw, _ := p.Marshal()
			peer.media.WriteToUDPAddrPort(raw, sdp.Addr)
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		toP, toU := toPeer.Load()-p0, u.heard.Load()-u0
		t.Logf("%s: the caller heard %d packets, the browser %d", what, toP, toU)
		if toP < 50 || toU < 50 {
			t.Errorf("%s: the caller heard %d packets, the browser %d (want 50 each)", what, toP, toU)
		}
	}
	talk("ann and the caller", ann)

	if _, err := m.Request(ctx, &protocol.CallTransfer{Call: id, Target: "carl"}); err != nil {
		t.Fatal(err)
	}
	cinc := nextEvent(ctx, t, carlEvents, "call.incoming", func(msg protocol.Message) bool { _, ok := msg.(*protocol.CallIncoming); return ok }).(*protocol.CallIncoming)
	if cinc.Call.Phone != "+15557654321" || cinc.Call.PhoneName != "Jane Caller" {
		t.Errorf("carl is rung with %+v", cinc.Call)
	}
	carlID := cinc.Call.ID
	if _, err := cm.Request(ctx, &protocol.CallAction{Action: "answer", Call: carlID}); err != nil {
		t.Fatal(err)
	}
	carl := joinCallRoom(ctx, t, a, callState(ctx, t, carlEvents, carlID, "accepted"))
	if st := callState(ctx, t, events, id, "ended"); st.Reason != "transferred" {
		t.Errorf("ann's call ended as %q", st.Reason)
	}
	talk("carl and the caller", carl)

	// The caller hangs up: carl's call ends, and its room.
	bye := sip.NewRequest(sip.BYE, ans.res.Contact().Address)
	bye.AppendHeader(ans.inv.From())
	bye.AppendHeader(ans.res.To())
	bye.AppendHeader(ans.res.CallID())
	bye.AppendHeader(&sip.CSeqHeader{SeqNo: ans.res.CSeq().SeqNo + 1, MethodName: sip.BYE})
	bye.SetDestination(peer.srv.String())
	if res, err := peer.client.Do(ctx, bye); err != nil || res.StatusCode != 200 {
		t.Fatalf("the caller's BYE: %v %v", res, err)
	}
	if st := callState(ctx, t, carlEvents, carlID, "ended"); st.Reason != "hangup" {
		t.Errorf("carl's call ended as %q", st.Reason)
	}
	deadline := time.Now().Add(5 * time.Second)
	for a.sip.srv.TrunkStatus(tr.ID).ActiveCalls != 0 || len(a.registry.Live()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("trunk calls %d, rooms %d", a.sip.srv.TrunkStatus(tr.ID).ActiveCalls, len(a.registry.Live()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Ann calls a number through a trunk whose provider is sipp (digest,
// echoing RTP) and transfers the call to carl by the server: carl hears
// his own voice back from the provider, and his hang-up sends the
// provider its BYE.
func TestSIPTransferSippCallToColleague(t *testing.T) {
	port, wait := sippProvider(t)
	a := startSIPServer(t, func(c *config.Config) { c.SIP.DefaultCountryCode = "44" })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	root := admin(t, a, "root")
	annToken := member(t, a, "ann")
	carlToken := member(t, a, "carl")
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/trunks", root, `{"name":"Provider","host":"127.0.0.1:`+strconv.Itoa(port)+`",
		"username":"trunkuser","password":"trunk secret","fromDomain":"provider.test","outboundPrefixes":["+44"],"numberFormat":"national"}`)
	m, events := messenger(ctx, t, a, annToken)
	cm, carlEvents := messenger(ctx, t, a, carlToken)
	res, err := m.Request(ctx, &protocol.StartCall{Phone: "02079460000"})
	if err != nil {
		t.Fatal(err)
	}
	id := res.(*protocol.Calling).Call.ID
	if heard := talkInRoom(ctx, t, a, callState(ctx, t, events, id, "accepted"), webrtc.MimeTypePCMA, nil); heard < 50 {
		t.Fatalf("ann heard %d packets of her own echo from the provider", heard)
	}
	if _, err := m.Request(ctx, &protocol.CallTransfer{Call: id, Target: "carl"}); err != nil {
		t.Fatal(err)
	}
	inc := nextEvent(ctx, t, carlEvents, "call.incoming", func(msg protocol.Message) bool { _, ok := msg.(*protocol.CallIncoming); return ok }).(*protocol.CallIncoming)
	if inc.Call.Phone != "+442079460000" {
		t.Errorf("carl is rung with %+v", inc.Call)
	}
	if _, err := cm.Request(ctx, &protocol.CallAction{Action: "answer", Call: inc.Call.ID}); err != nil {
		t.Fatal(err)
	}
	acc := callState(ctx, t, carlEvents, inc.Call.ID, "accepted")
	if st := callState(ctx, t, events, id, "ended"); st.Reason != "transferred" {
		t.Errorf("ann's call ended as %q", st.Reason)
	}
	if heard := talkInRoom(ctx, t, a, acc, webrtc.MimeTypePCMA, nil); heard < 50 {
		t.Fatalf("carl heard %d packets of his own echo from the provider", heard)
	}
	if _, err := cm.Request(ctx, &protocol.CallAction{Action: "hangup", Call: inc.Call.ID}); err != nil {
		t.Fatal(err)
	}
	if ok, out := wait(); !ok {
		t.Fatalf("sipp (the provider) did not finish its scenario:\n%s", out)
	}
}

// Ann hangs up while carl's browsers ring for her transfer: carl's call
// is cancelled, the provider gets its BYE, and the room goes.
func TestSIPTransferCallerGoneWhileRinging(t *testing.T) {
	a := startSIPServer(t, func(c *config.Config) { c.SIP.DefaultCountryCode = "1" })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	root := admin(t, a, "root")
	annToken := member(t, a, "ann")
	carlToken := member(t, a, "carl")
	provider := newRawPhone(t, a, "provider", "", false)
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/trunks", root, `{"name":"Provider","host":"`+provider.conn.LocalAddr().String()+`","outboundPrefixes":["+1"]}`)
	m, events := messenger(ctx, t, a, annToken)
	_, carlEvents := messenger(ctx, t, a, carlToken)
	res, err := m.Request(ctx, &protocol.StartCall{Phone: "+15557654321"})
	if err != nil {
		t.Fatal(err)
	}
	id := res.(*protocol.Calling).Call.ID
	provider.answer(200, nil)
	joinCallRoom(ctx, t, a, callState(ctx, t, events, id, "accepted"))
	if _, err := m.Request(ctx, &protocol.CallTransfer{Call: id, Target: "carl"}); err != nil {
		t.Fatal(err)
	}
	inc := nextEvent(ctx, t, carlEvents, "call.incoming", func(msg protocol.Message) bool { _, ok := msg.(*protocol.CallIncoming); return ok }).(*protocol.CallIncoming)
	if _, err := m.Request(ctx, &protocol.CallAction{Action: "hangup", Call: id}); err != nil {
		t.Fatal(err)
	}
	if st := callState(ctx, t, carlEvents, inc.Call.ID, "ended"); st.Reason != "cancelled" {
		t.Errorf("carl's call ended as %q", st.Reason)
	}
	select {
	case <-provider.byes:
	case <-time.After(5 * time.Second):
		t.Fatal("the provider got no BYE")
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(a.registry.Live()) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the call's room was not deleted")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
