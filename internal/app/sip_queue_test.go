package app

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"switchboard/internal/chat"
	"switchboard/internal/client"
	"switchboard/internal/config"
	"switchboard/internal/protocol"
	sbsip "switchboard/internal/sip"
)

// bye hangs up a call the peer placed.
func (p *trunkPeer) bye(ctx context.Context, t *testing.T, inv *sip.Request, res *sip.Response) {
	t.Helper()
	target := inv.Recipient
	if c := res.Contact(); c != nil {
		target = c.Address
	}
	bye := sip.NewRequest(sip.BYE, target)
	bye.AppendHeader(inv.From())
	bye.AppendHeader(res.To())
	bye.AppendHeader(res.CallID())
	bye.AppendHeader(&sip.CSeqHeader{SeqNo: res.CSeq().SeqNo + 1, MethodName: sip.BYE})
	bye.SetDestination(p.srv.String())
	r, err := p.client.Do(ctx, bye)
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("BYE: %v %v", r, err)
	}
}

// rtpCounter counts the RTP packets the peer receives: all of them, and
// those whose payload is all b (what the agent's side sends).
type rtpCounter struct{ all, marked atomic.Int64 }

func (c *rtpCounter) run(conn *net.UDPConn, b byte) {
	buf := make([]byte, 1500)
	for {
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			return
		}
		var p rtp.Packet
		if p.Unmarshal(buf[:n]) != nil {
			continue
		}
		c.all.Add(1)
		if len(p.Payload) == 160 && bytes.Count(p.Payload, []byte{b}) == 160 {
			c.marked.Add(1)
		}
	}
}

// A provider calls a queue's number: the caller is answered and hears the
// waiting sound; the queue's agent is offered a voice contact showing the
// caller's number and name, accepts, and calls in its conversation (what
// the console does on accept); the call is with the caller, audio goes
// both ways, and the agent's hang-up sends the provider a BYE and ends the
// contact. The same number calls again: the same visitor, with the first
// contact among the earlier ones; hanging up while waiting abandons it. A
// closed queue answers 480.
func TestSIPTrunkCallsQueue(t *testing.T) {
	a := startSIPServer(t, func(c *config.Config) { c.SIP.DefaultCountryCode = "1" })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	api := a.URL() + "/api/v1/contact"
	root := admin(t, a, "root2")
	alex := staff(t, a, "alex", "agent")
	if code := call(t, "PUT", api+"/queues/sales", root, "", `{"name":"Sales","members":[{"user":"alex"}],"media":["voice"]}`, nil); code != 200 {
		t.Fatalf("create queue: %d", code)
	}
	if code := call(t, "PUT", api+"/queues/night", root, "", `{"name":"Night","media":["voice"],"hours":{"timezone":"UTC","days":{}}}`, nil); code != 200 {
		t.Fatalf("create closed queue: %d", code)
	}
	tr := decodeJSON[sipTrunkJSON](t, jsonRequest(t, "POST", a.URL()+"/api/v1/sip/trunks", root,
		`{"name":"Peer","host":"127.0.0.1:5999","inboundIPs":["127.0.0.1"]}`))
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/numbers", root, `{"number":"+15551239999","trunk":"`+tr.ID+`","target":{"kind":"queue","value":"sales"}}`)
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/numbers", root, `{"number":"+15551238888","target":{"kind":"queue","value":"night"}}`)
	peer := newTrunkPeer(t, a)

	if _, res, err := peer.invite(ctx, "5551238888", "+15557654321", ""); err != nil || res.StatusCode != 480 {
		t.Fatalf("a closed queue's number: %v %v, want 480", res, err)
	}

	box := &inbox{}
	m, err := client.DialMessenger(ctx, "ws"+strings.TrimPrefix(a.URL(), "http")+"/api/v1/connect",
		http.Header{"Authorization": {"Bearer " + alex}, "Origin": {a.URL()}}, box.add)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Drop)
	if code := call(t, "PUT", api+"/agent/state", alex, "", `{"state":"available"}`, nil); code != 200 {
		t.Fatalf("agent available: %d", code)
	}

	// The caller is answered at once and hears the waiting sound.
	inv, res, err := peer.invite(ctx, "5551239999", "555-765-4321", "Jane Caller")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("the queue's number: %v %v", res, err)
	}
	peer.ack(t, inv, res)
	sdp, err := sbsip.ParseSDP(res.Body())
	if err != nil {
		t.Fatal(err)
	}
	var got rtpCounter
	go got.run(peer.media, 0xd5)
	waitFor(t, "the waiting sound", func() bool { return got.all.Load() >= 25 })

	offer := box.wait(t, "the offer", contactEvent("offer", "")).(*protocol.ContactMsg).Contact
	if offer.Media != "voice" || offer.Visitor.Phone != "+15557654321" || offer.Visitor.Name != "Jane Caller" || offer.Queue != "sales" {
		t.Fatalf("offer %+v", offer)
	}
	var c protocol.ContactView
	if code := call(t, "POST", api+"/contacts/"+offer.ID+"/accept", alex, "", "", &c); code != 200 || c.Status != "in_progress" {
		t.Fatalf("accept: %d %+v", code, c)
	}
	// The console calls in the contact's conversation: the call is with the caller.
	reply, err := m.Request(ctx, &protocol.StartCall{Conversation: c.Conversation})
	if err != nil {
		t.Fatal(err)
	}
	info := reply.(*protocol.Calling).Call
	if info.Phone != "+15557654321" || info.PhoneName != "Jane Caller" {
		t.Fatalf("call %+v", info)
	}
	acc := box.wait(t, "accepted", func(msg protocol.Message) bool {
		s, ok := msg.(*protocol.CallState)
		return ok && s.Call == info.ID && s.State == "accepted"
	}).(*protocol.CallState)
	// (A second call meanwhile, a double click or another tab: TestSIPQueueTwoCallsAtOnce.)
	heard := talkInRoom(ctx, t, a, acc, webrtc.MimeTypePCMU, func(i int) {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 9},
			Payload: make([]byte, 160)}
		raw, _ := p.Marshal()
		peer.media.WriteToUDPAddrPort(raw, sdp.Addr)
	})
	if heard < 80 || got.marked.Load() < 80 {
		t.Fatalf("the agent heard %d packets from the caller, the caller %d from the agent", heard, got.marked.Load())
	}
	if _, err := m.Request(ctx, &protocol.CallAction{Action: "hangup", Call: info.ID}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-peer.byes:
	case <-ctx.Done():
		t.Fatal("the provider got no BYE")
	}
	waitFor(t, "the contact ended", func() bool {
		rec, err := a.store.Contact(ctx, offer.ID)
		return err == nil && rec.Status == "ended" && rec.Phone == "+15557654321"
	})
	waitFor(t, "the call written into the conversation", func() bool {
		entries, _ := a.store.History(ctx, c.Conversation, 0, 50)
		for _, e := range entries {
			if e.Kind == "call" && strings.Contains(string(e.Data), `"outcome":"answered"`) {
				return true
			}
		}
		return false
	})

	// The same number again: the same visitor, who hangs up while waiting.
	if code := call(t, "POST", api+"/contacts/"+offer.ID+"/wrapup", alex, "", `{"code":"resolved"}`, nil); code != 200 {
		t.Fatalf("wrap-up: %d", code)
	}
	inv, res, err = peer.invite(ctx, "+15551239999", "+15557654321", "")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("calling again: %v %v", res, err)
	}
	peer.ack(t, inv, res)
	second := box.wait(t, "the second offer", func(msg protocol.Message) bool {
		cm, ok := msg.(*protocol.ContactMsg)
		return ok && cm.Event == "offer" && cm.Contact.ID != offer.ID
	}).(*protocol.ContactMsg).Contact
	// (No name sent this time: the stored one, from the number's first
	// call, to the closed queue; a name sent once is never stored over it.)
	if second.Visitor.ID != offer.Visitor.ID || second.Visitor.Name != "+15557654321" {
		t.Fatalf("a second call from the number is another visitor: %s %q, %s", second.Visitor.ID, second.Visitor.Name, offer.Visitor.ID)
	}
	// Earlier: the call answered, and the one to the closed queue.
	var full protocol.ContactView
	if code := call(t, "GET", api+"/contacts/"+second.ID, alex, "", "", &full); code != 200 || len(full.Previous) != 2 || full.Previous[0].ID != offer.ID || full.Previous[1].Status != "closed" {
		t.Fatalf("earlier contacts: %d %+v", code, full.Previous)
	}
	peer.bye(ctx, t, inv, res)
	waitFor(t, "the contact abandoned", func() bool {
		rec, err := a.store.Contact(ctx, second.ID)
		return err == nil && rec.Status == "abandoned"
	})
}

// A website visitor asks to be called back on a telephone number: a
// number that does not read as one, or that no trunk can call, is refused
// at once with a message; a good one is kept with the callback request.
// The agent who accepts it calls in its conversation (what the console
// does on accept) and the server dials the number through the trunk
// (sipp, demanding digest, echoing audio): the agent hears the echo and
// transfers the contact back to the queue: their call ends (the provider
// gets the BYE), and nothing dials the number again by itself.
//
// Numbers come from anyone, so: one open callback per number, and few
// callback requests with a number per client address.
func TestCallbackByPhone(t *testing.T) {
	port, wait := sippProvider(t)
	a := startSIPServer(t, func(c *config.Config) {
		c.SIP.DefaultCountryCode = "44"
		c.SIP.CallbackPrefixes = []string{"+4420"}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	api := a.URL() + "/api/v1/contact"
	const shop = "https://shop.example"
	root := admin(t, a, "root")
	alex := staff(t, a, "alex", "agent")
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/trunks", root, `{"name":"Provider","host":"127.0.0.1:`+strconv.Itoa(port)+`",
		"username":"trunkuser","password":"trunk secret","fromDomain":"provider.test","outboundPrefixes":["+44"],"numberFormat":"national"}`)
	if code := call(t, "PUT", api+"/queues/sales", root, "", `{"name":"Sales","members":[{"user":"alex"}]}`, nil); code != 200 {
		t.Fatalf("create queue: %d", code)
	}
	if code := call(t, "PUT", api+"/widgets/site", root, "", `{"queue":"sales","title":"Sales","allowedOrigins":["`+shop+`"]}`, nil); code != 200 {
		t.Fatalf("create widget: %d", code)
	}
	var st struct {
		CallbackPhone bool `json:"callbackPhone"`
	}
	if call(t, "GET", api+"/widgets/site/status", "", shop, "", &st); !st.CallbackPhone {
		t.Fatal("the widget's status does not offer callbacks by phone")
	}
	var started struct{ Token string }
	if code := call(t, "POST", api+"/widgets/site/visitors", "", shop, `{"name":"Vera"}`, &started); code != 201 {
		t.Fatalf("start visitor: %d", code)
	}
	for _, bad := range []string{`{"media":"voice","callback":true,"phone":"call me maybe"}`, `{"media":"voice","callback":true,"phone":"+15551234567"}`,
		`{"media":"voice","callback":true,"phone":"+441632960000"}`} { // (a trunk takes +44, but callback_prefixes is +4420)
		if code := call(t, "POST", api+"/visitor/contacts", started.Token, shop, bad, nil); code != 400 {
			t.Fatalf("%s: %d, want 400", bad, code)
		}
	}
	var c protocol.ContactView
	if code := call(t, "POST", api+"/visitor/contacts", started.Token, shop, `{"media":"voice","callback":true,"phone":"020 7946 0000"}`, &c); code != 201 ||
		c.Status != "callback" || c.Visitor.Phone != "+442079460000" {
		t.Fatalf("callback request: %d %+v", code, c)
	}
	var other struct{ Token string }
	if code := call(t, "POST", api+"/widgets/site/visitors", "", shop, `{"name":"Mallory"}`, &other); code != 201 {
		t.Fatalf("start visitor: %d", code)
	}
	if code := call(t, "POST", api+"/visitor/contacts", other.Token, shop, `{"media":"voice","callback":true,"phone":"+442079460000"}`, nil); code != 400 {
		t.Fatalf("a second callback to a booked number: %d, want 400", code)
	}
	if code := call(t, "POST", api+"/visitor/contacts", other.Token, shop, `{"media":"voice","callback":true,"phone":"+442079460001"}`, nil); code != 429 {
		t.Fatalf("a 6th callback request by phone from one address within the hour: %d, want 429", code)
	}

	box := &inbox{}
	m, err := client.DialMessenger(ctx, "ws"+strings.TrimPrefix(a.URL(), "http")+"/api/v1/connect",
		http.Header{"Authorization": {"Bearer " + alex}, "Origin": {a.URL()}}, box.add)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Drop)
	if code := call(t, "PUT", api+"/agent/state", alex, "", `{"state":"available"}`, nil); code != 200 {
		t.Fatalf("agent available: %d", code)
	}
	offer := box.wait(t, "the offer", contactEvent("offer", "")).(*protocol.ContactMsg).Contact
	if offer.ID != c.ID || offer.Visitor.Phone != "+442079460000" {
		t.Fatalf("offer %+v", offer)
	}
	if code := call(t, "POST", api+"/contacts/"+c.ID+"/accept", alex, "", "", &c); code != 200 {
		t.Fatalf("accept: %d", code)
	}
	reply, err := m.Request(ctx, &protocol.StartCall{Conversation: c.Conversation})
	if err != nil {
		t.Fatal(err)
	}
	info := reply.(*protocol.Calling).Call
	if info.Phone != "+442079460000" {
		t.Fatalf("call %+v", info)
	}
	acc := box.wait(t, "accepted", func(msg protocol.Message) bool {
		s, ok := msg.(*protocol.CallState)
		return ok && s.Call == info.ID && s.State == "accepted"
	}).(*protocol.CallState)
	// (A second call meanwhile, a double click or another tab: TestSIPQueueTwoCallsAtOnce.)
	if heard := talkInRoom(ctx, t, a, acc, webrtc.MimeTypePCMA, nil); heard < 50 {
		t.Fatalf("the agent heard %d packets of their echo from the called-back phone", heard)
	}
	// Transferred (back to the queue): the agent's call with the number
	// ends, and the provider gets the BYE; nobody dials it again by itself.
	if code := call(t, "POST", api+"/contacts/"+c.ID+"/transfer", alex, "", `{"queue":"sales"}`, nil); code != 204 && code != 200 {
		t.Fatalf("transfer: %d", code)
	}
	box.wait(t, "the agent's call ended by the transfer", func(msg protocol.Message) bool {
		s, ok := msg.(*protocol.CallState)
		return ok && s.Call == info.ID && s.State == "ended"
	})
	if ok, out := wait(); !ok {
		t.Fatalf("sipp (the provider) did not finish its scenario (digest, answer, BYE):\n%s", out)
	}
}

// agentSocket opens an agent's messaging socket and makes them available.
func agentSocket(ctx context.Context, t *testing.T, a *App, token string) (*client.Messenger, *inbox) {
	t.Helper()
	box := &inbox{}
	m, err := client.DialMessenger(ctx, "ws"+strings.TrimPrefix(a.URL(), "http")+"/api/v1/connect",
		http.Header{"Authorization": {"Bearer " + token}, "Origin": {a.URL()}}, box.add)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Drop)
	if code := call(t, "PUT", a.URL()+"/api/v1/contact/agent/state", token, "", `{"state":"available"}`, nil); code != 200 {
		t.Fatalf("agent available: %d", code)
	}
	return m, box
}

// callInContact is what the console does with a voice contact it holds:
// a call in its conversation; it returns the call once accepted.
func callInContact(ctx context.Context, t *testing.T, m *client.Messenger, box *inbox, conv string) *protocol.CallState {
	t.Helper()
	reply, err := m.Request(ctx, &protocol.StartCall{Conversation: conv})
	if err != nil {
		t.Fatal(err)
	}
	id := reply.(*protocol.Calling).Call.ID
	return box.wait(t, "the call accepted", func(msg protocol.Message) bool {
		s, ok := msg.(*protocol.CallState)
		return ok && s.Call == id && s.State == "accepted"
	}).(*protocol.CallState)
}

// A caller on the line follows the contact: transferred to a colleague,
// the first agent's call ends and the line stays up for the colleague's
// call, which carries the caller's audio; the colleague ending the contact
// hangs up the phone. A caller whose wait runs past the queue's maximum,
// which overflows to a callback, is told by a tone and hung up on, and
// the callback keeps their number.
func TestSIPQueueCallerTransferAndOverflow(t *testing.T) {
	a := startSIPServer(t, func(c *config.Config) { c.SIP.DefaultCountryCode = "1" })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	api := a.URL() + "/api/v1/contact"
	root := admin(t, a, "root2")
	alex, bea := staff(t, a, "alex", "agent"), staff(t, a, "bea", "agent")
	if code := call(t, "PUT", api+"/queues/sales", root, "", `{"name":"Sales","members":[{"user":"alex"},{"user":"bea"}],"media":["voice"]}`, nil); code != 200 {
		t.Fatalf("create queue: %d", code)
	}
	if code := call(t, "PUT", api+"/queues/short", root, "", `{"name":"Short","media":["voice"],"maxWaitSeconds":1,"overflow":{"to":"callback"}}`, nil); code != 200 {
		t.Fatalf("create queue: %d", code)
	}
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/trunks", root, `{"name":"Peer","host":"127.0.0.1:5999","inboundIPs":["127.0.0.1"]}`)
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/numbers", root, `{"number":"+15551239999","target":{"kind":"queue","value":"sales"}}`)
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/numbers", root, `{"number":"+15551237777","target":{"kind":"queue","value":"short"}}`)
	peer := newTrunkPeer(t, a)
	am, abox := agentSocket(ctx, t, a, alex)

	inv, res, err := peer.invite(ctx, "+15551239999", "+15557654321", "Jane Caller")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("the queue's number: %v %v", res, err)
	}
	peer.ack(t, inv, res)
	sdp, _ := sbsip.ParseSDP(res.Body())
	offer := abox.wait(t, "the offer", contactEvent("offer", "")).(*protocol.ContactMsg).Contact
	var c protocol.ContactView
	if code := call(t, "POST", api+"/contacts/"+offer.ID+"/accept", alex, "", "", &c); code != 200 {
		t.Fatalf("accept: %d", code)
	}
	first := callInContact(ctx, t, am, abox, c.Conversation)

	bm, bbox := agentSocket(ctx, t, a, bea)
	if code := call(t, "POST", api+"/contacts/"+c.ID+"/transfer", alex, "", `{"agent":"bea"}`, nil); code != 204 && code != 200 {
		t.Fatalf("transfer: %d", code)
	}
	abox.wait(t, "alex's call ended", func(msg protocol.Message) bool {
		s, ok := msg.(*protocol.CallState)
		return ok && s.Call == first.Call && s.State == "ended"
	})
	bbox.wait(t, "the contact at bea", contactEvent("update", "in_progress"))
	second := callInContact(ctx, t, bm, bbox, c.Conversation)
	heard := talkInRoom(ctx, t, a, second, webrtc.MimeTypePCMU, func(i int) {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 9},
			Payload: make([]byte, 160)}
		raw, _ := p.Marshal()
		peer.media.WriteToUDPAddrPort(raw, sdp.Addr)
	})
	if heard < 80 {
		t.Fatalf("bea heard %d packets from the caller", heard)
	}
	select {
	case <-peer.byes:
		t.Fatal("the transfer hung up on the caller")
	default:
	}
	if code := call(t, "POST", api+"/contacts/"+c.ID+"/end", bea, "", "", nil); code != 200 {
		t.Fatalf("end: %d", code)
	}
	select {
	case <-peer.byes:
	case <-ctx.Done():
		t.Fatal("ending the contact did not hang up the phone")
	}

	// Nobody in the short queue: past its maximum wait, a callback.
	inv, res, err = peer.invite(ctx, "+15551237777", "+15557654321", "")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("the short queue's number: %v %v", res, err)
	}
	peer.ack(t, inv, res)
	select {
	case <-peer.byes:
	case <-ctx.Done():
		t.Fatal("the overflow to a callback did not hang up")
	}
	waitFor(t, "the callback", func() bool {
		open, _ := a.store.OpenContacts(ctx)
		for _, oc := range open {
			if oc.Queue == "short" && oc.Status == "callback" && oc.Phone == "+15557654321" {
				return true
			}
		}
		return false
	})
}

// Callbacks by phone cost money: one number is called at most 3 times
// within 10 minutes, whoever asked and whoever accepts, and the server
// places at most callbackBudget within an hour.
func TestCallbackDialLimit(t *testing.T) {
	var ls queueLines
	now := time.Now()
	for i := range maxCallbackDials {
		if err := ls.dial("+15550000001", now.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
	}
	if !ls.dialledRecently("+15550000001", now.Add(5*time.Minute)) || ls.dialledRecently("+15550000002", now) {
		t.Fatal("dialledRecently")
	}
	if err := ls.dial("+15550000001", now.Add(5*time.Minute)); !errors.Is(err, chat.ErrTooManyCalls) {
		t.Fatalf("a 4th dial within the window: %v", err)
	}
	if err := ls.dial("+15550000002", now.Add(5*time.Minute)); err != nil {
		t.Fatalf("another number: %v", err)
	}
	if err := ls.dial("+15550000001", now.Add(callbackWindow+time.Minute)); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	var all queueLines
	for i := range callbackBudget {
		if err := all.dial("+1555100"+strconv.Itoa(1000+i), now); err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
	}
	if err := all.dial("+15559999999", now.Add(30*time.Minute)); !errors.Is(err, chat.ErrTooManyCalls) {
		t.Fatalf("past the hourly budget: %v", err)
	}
	if err := all.dial("+15559999999", now.Add(time.Hour)); err != nil {
		t.Fatalf("an hour later: %v", err)
	}
}

// Without sip.callback_prefixes visitors cannot give a number (anyone can
// type one): the widget does not offer it and a request with one is
// refused, though a trunk could call it.
func TestCallbackPhoneNeedsPrefixes(t *testing.T) {
	a := startSIPServer(t, func(c *config.Config) { c.SIP.DefaultCountryCode = "44" })
	api := a.URL() + "/api/v1/contact"
	const shop = "https://shop.example"
	root := admin(t, a, "root")
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/trunks", root, `{"name":"Provider","host":"127.0.0.1:5999","outboundPrefixes":["+44"]}`)
	if code := call(t, "PUT", api+"/queues/sales", root, "", `{"name":"Sales"}`, nil); code != 200 {
		t.Fatalf("create queue: %d", code)
	}
	if code := call(t, "PUT", api+"/widgets/site", root, "", `{"queue":"sales","title":"Sales","allowedOrigins":["`+shop+`"]}`, nil); code != 200 {
		t.Fatalf("create widget: %d", code)
	}
	var st struct {
		CallbackPhone bool `json:"callbackPhone"`
	}
	if call(t, "GET", api+"/widgets/site/status", "", shop, "", &st); st.CallbackPhone {
		t.Fatal("the widget offers callbacks by phone without sip.callback_prefixes")
	}
	var started struct{ Token string }
	if code := call(t, "POST", api+"/widgets/site/visitors", "", shop, `{"name":"Vera"}`, &started); code != 201 {
		t.Fatalf("start visitor: %d", code)
	}
	if code := call(t, "POST", api+"/visitor/contacts", started.Token, shop, `{"media":"voice","callback":true,"phone":"+442079460000"}`, nil); code != 400 {
		t.Fatalf("a callback by phone without sip.callback_prefixes: %d, want 400", code)
	}
}

// queueCall sets up a voice queue "sales" with alex, a trunk peer and a
// caller on the line whose contact alex accepted (the console's accept).
// prepare, when set, sees the peer before it calls (handlers go there).
func queueCall(ctx context.Context, t *testing.T, prepare func(*trunkPeer)) (a *App, peer *trunkPeer, alex string, m *client.Messenger, box *inbox, c protocol.ContactView, inv *sip.Request, res *sip.Response) {
	t.Helper()
	a = startSIPServer(t, func(c *config.Config) { c.SIP.DefaultCountryCode = "1" })
	api := a.URL() + "/api/v1/contact"
	root := admin(t, a, "root2")
	alex = staff(t, a, "alex", "agent")
	if code := call(t, "PUT", api+"/queues/sales", root, "", `{"name":"Sales","members":[{"user":"alex"}],"media":["voice"]}`, nil); code != 200 {
		t.Fatalf("create queue: %d", code)
	}
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/trunks", root, `{"name":"Peer","host":"127.0.0.1:5999","inboundIPs":["127.0.0.1"]}`)
	jsonRequest(t, "POST", a.URL()+"/api/v1/sip/numbers", root, `{"number":"+15551239999","target":{"kind":"queue","value":"sales"}}`)
	peer = newTrunkPeer(t, a)
	if prepare != nil {
		prepare(peer)
	}
	m, box = agentSocket(ctx, t, a, alex)
	inv, res, err := peer.invite(ctx, "+15551239999", "+15557654321", "Jane Caller")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("the queue's number: %v %v", res, err)
	}
	peer.ack(t, inv, res)
	offer := box.wait(t, "the offer", contactEvent("offer", "")).(*protocol.ContactMsg).Contact
	if code := call(t, "POST", api+"/contacts/"+offer.ID+"/accept", alex, "", "", &c); code != 200 {
		t.Fatalf("accept: %d", code)
	}
	return a, peer, alex, m, box, c, inv, res
}

// Two calls in one contact at once (a double click, two console tabs):
// one connects, the other is refused or ends, and no room is left behind;
// the agent's hang-up hangs up the caller and closes the last room.
func TestSIPQueueTwoCallsAtOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, peer, _, m, box, c, _, _ := queueCall(ctx, t, nil)
	ids := make(chan string, 2)
	for range 2 {
		go func() {
			reply, err := m.Request(ctx, &protocol.StartCall{Conversation: c.Conversation})
			if err != nil {
				ids <- ""
				return
			}
			ids <- reply.(*protocol.Calling).Call.ID
		}()
	}
	var started []string
	for range 2 {
		if id := <-ids; id != "" {
			started = append(started, id)
		}
	}
	if len(started) == 0 {
		t.Fatal("neither call started")
	}
	// Settled: one call accepted and up, every other one ended.
	var accepted *protocol.CallState
	waitFor(t, "one call up, the other ended", func() bool {
		box.mu.Lock()
		defer box.mu.Unlock()
		up, ended := map[string]*protocol.CallState{}, map[string]bool{}
		for _, msg := range box.msgs {
			if s, ok := msg.(*protocol.CallState); ok && slices.Contains(started, s.Call) {
				switch s.State {
				case "accepted":
					up[s.Call] = s
				case "ended":
					ended[s.Call] = true
				}
			}
		}
		accepted = nil
		for id, s := range up {
			if !ended[id] {
				if accepted != nil {
					return false // two up
				}
				accepted = s
			}
		}
		return accepted != nil && len(ended) == len(started)-1
	})
	waitFor(t, "one room, the accepted call's", func() bool { return len(a.registry.Live()) == 1 })
	if r := a.registry.Live()[0]; r.ID() != accepted.Room {
		t.Fatalf("the room left is %s, the call's is %s", r.ID(), accepted.Room)
	}
	if _, err := m.Request(ctx, &protocol.CallAction{Action: "hangup", Call: accepted.Call}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-peer.byes:
	case <-ctx.Done():
		t.Fatal("the agent's hang-up did not hang up the caller")
	}
	waitFor(t, "no room left", func() bool { return len(a.registry.Live()) == 0 })
}

// The agent holds the caller (a re-INVITE, sendonly) and then transfers
// the contact: the caller is taken off hold (sendrecv) as they go back to
// waiting, or the next agent would talk to a phone that does not send.
func TestSIPQueueHoldThenTransfer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dirs := make(chan string, 4)
	a, _, alex, m, box, c, _, _ := queueCall(ctx, t, func(peer *trunkPeer) { answerReinvites(peer, dirs) })
	first := callInContact(ctx, t, m, box, c.Conversation)
	if _, err := m.Request(ctx, &protocol.CallAction{Action: "hold", Call: first.Call}); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-dirs:
		if d != "sendonly" {
			t.Fatalf("hold sent %s", d)
		}
	case <-ctx.Done():
		t.Fatal("no re-INVITE for the hold")
	}
	if code := call(t, "POST", a.URL()+"/api/v1/contact/contacts/"+c.ID+"/transfer", alex, "", `{"queue":"sales"}`, nil); code != 204 && code != 200 {
		t.Fatalf("transfer: %d", code)
	}
	select {
	case d := <-dirs:
		if d != "sendrecv" {
			t.Fatalf("the transfer sent %s", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the caller stayed on hold after the transfer")
	}
}

// answerReinvites answers the peer's re-INVITEs (200 with its SDP) and
// sends each one's direction to dirs.
func answerReinvites(peer *trunkPeer, dirs chan<- string) {
	peer.server.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		body := string(req.Body())
		dir := "sendrecv"
		for _, d := range []string{"sendonly", "inactive", "recvonly"} {
			if strings.Contains(body, "a="+d) {
				dir = d
			}
		}
		sdp := "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio " +
			strconv.Itoa(peer.media.LocalAddr().(*net.UDPAddr).Port) + " RTP/AVP 0\r\n"
		if dir == "sendonly" {
			sdp += "a=recvonly\r\n"
		}
		res := sip.NewResponseFromRequest(req, 200, "OK", []byte(sdp))
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res.AppendHeader(sip.NewHeader("Contact", "<sip:peer@127.0.0.1>"))
		tx.Respond(res)
		dirs <- dir
	})
	peer.server.OnAck(func(*sip.Request, sip.ServerTransaction) {})
}

// Calls to queues over one trunk are limited (callers' numbers are theirs
// to send, anonymous ones have none): past queueCallsPerTrunk at once the
// trunk's calls are refused, another trunk's are not.
func TestQueueCallsPerTrunk(t *testing.T) {
	var ls queueLines
	for i := range queueCallsPerTrunk {
		if !ls.allowArrival("t1") {
			t.Fatalf("call %d refused", i)
		}
	}
	if ls.allowArrival("t1") {
		t.Fatal("a flood over one trunk was not limited")
	}
	if !ls.allowArrival("t2") {
		t.Fatal("another trunk's call was refused")
	}
}
