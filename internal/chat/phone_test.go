package chat

import (
	"context"
	"sync"
	"testing"

	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// fakePhones is a gateway with one registered phone, extension 200,
// belonging to user (may be ""). It records dials and hang-ups.
type fakePhones struct {
	user string
	mu   sync.Mutex
	dial chan string // chat call ids dialled
	hung chan string // reasons the chat side ended them for
}

func (f *fakePhones) FindPhone(_ context.Context, _ Identity, target string, _ bool) (Phone, error) {
	if target != "200" {
		return Phone{}, store.ErrNotFound
	}
	return Phone{Extension: "200", User: f.user, Name: "Desk"}, nil
}

func (f *fakePhones) DialPhone(call string, _ Identity, _ Phone) func(string) {
	f.dial <- call
	return func(reason string) { f.hung <- reason }
}

func newPhones(user string) *fakePhones {
	return &fakePhones{user: user, dial: make(chan string, 4), hung: make(chan string, 4)}
}

// A user calls a desk phone: nobody's browser rings; when the gateway
// reports the answer the caller is sent to the phone's room; hanging up
// reaches the gateway; the call is written into the conversation with the
// phone's owner. Unknown extensions are not found, a ring timeout or the
// caller cancelling hang the phone up, and a refusal from the phone ends
// the call with its reason.
func TestCallToPhone(t *testing.T) {
	phones := newPhones("")
	h := newHarness(t, options{mutate: func(c *Config) { c.Phones = phones }})
	alice, bob := h.user("alice", "member"), h.user("bob", "member")
	phones.user = bob.ID
	a, b := h.connect(alice), h.connect(bob)

	if code := a.reqErr(t, &protocol.StartCall{Phone: "999"}); code != protocol.CodeNotFound {
		t.Fatalf("unknown phone: %s", code)
	}

	// Answered, then the caller hangs up.
	k := a.req(t, &protocol.StartCall{Phone: "200"}).(*protocol.Calling).Call
	if k.Phone != "200" || k.Conversation == "" || len(k.Invited) != 0 {
		t.Fatalf("call info %+v", k)
	}
	if id := <-phones.dial; id != k.ID {
		t.Fatalf("dialled %s", id)
	}
	b.never(t, "bob's browser to ring", isIncoming)
	if !h.svc.PhoneAnswered(k.ID, "room-1") {
		t.Fatal("PhoneAnswered refused a ringing call")
	}
	acc := a.wait(t, "accepted", callState("accepted", "")).(*protocol.CallState)
	if acc.Room != "room-1" || acc.P2P || acc.Token == "" {
		t.Fatalf("accepted %+v", acc)
	}
	a.req(t, &protocol.CallAction{Action: "hangup", Call: k.ID})
	if r := <-phones.hung; r != reasonHangup {
		t.Fatalf("gateway told %q", r)
	}
	a.wait(t, "ended", callState("ended", reasonHangup))
	if h.svc.PhoneAnswered(k.ID, "room-2") {
		t.Fatal("PhoneAnswered accepted an ended call")
	}

	// The caller cancels while it rings.
	k = a.req(t, &protocol.StartCall{Phone: "200"}).(*protocol.Calling).Call
	<-phones.dial
	a.req(t, &protocol.CallAction{Action: "hangup", Call: k.ID})
	if r := <-phones.hung; r != reasonCancelled {
		t.Fatalf("cancel: gateway told %q", r)
	}

	// Nobody answers within the ring timeout.
	k = a.req(t, &protocol.StartCall{Phone: "200"}).(*protocol.Calling).Call
	<-phones.dial
	if r := <-phones.hung; r != reasonNoAnswer {
		t.Fatalf("ring timeout: gateway told %q", r)
	}
	a.wait(t, "missed", callState("ended", reasonNoAnswer))

	// The phone is busy.
	k = a.req(t, &protocol.StartCall{Phone: "200"}).(*protocol.Calling).Call
	<-phones.dial
	h.svc.EndPhoneCallWith(k.ID, PhoneBusy)
	a.wait(t, "busy", callState("ended", reasonBusy))

	if got := callEntries(t, a, k.Conversation); len(got) != 4 || got[0] != "answered" || got[3] != "busy" {
		t.Fatalf("call entries %q", got)
	}
}

// A phone that belongs to nobody is called without a conversation.
func TestCallToUnownedPhone(t *testing.T) {
	phones := newPhones("")
	h := newHarness(t, options{mutate: func(c *Config) { c.Phones = phones }})
	a := h.connect(h.user("alice", "member"))
	k := a.req(t, &protocol.StartCall{Phone: "200"}).(*protocol.Calling).Call
	if k.Conversation != "" {
		t.Fatalf("conversation %q", k.Conversation)
	}
	<-phones.dial
	h.svc.PhoneAnswered(k.ID, "room-1")
	a.wait(t, "accepted", callState("accepted", ""))
	h.svc.EndPhoneCall(k.ID)
	a.wait(t, "ended", callState("ended", reasonHangup))
}

// A call from a telephone number over a trunk rings the callee with no
// caller user and no conversation: the number and its name in call info.
// Answering tells the gateway and sends the callee to the gateway's room;
// the caller hanging up ends it; declining reaches the gateway too.
func TestCallFromNumber(t *testing.T) {
	h := newHarness(t, options{})
	bob := h.user("bob", "member")
	b := h.connect(bob)
	answered, ended := make(chan bool, 2), make(chan string, 2)
	start := func() string {
		id, err := h.svc.CallFromNumber(t.Context(), NumberCall{Number: "+15551234567", Name: "Reception", Callee: bob.ID,
			Room: "room-9", OnAnswer: func() { answered <- true }, OnEnd: func(r string) { ended <- r }})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	id := start()
	in := b.wait(t, "incoming", isIncoming).(*protocol.CallIncoming).Call
	if in.ID != id || in.From != "" || in.Phone != "+15551234567" || in.PhoneName != "Reception" || in.Conversation != "" {
		t.Fatalf("incoming %+v", in)
	}
	b.req(t, &protocol.CallAction{Action: "answer", Call: id})
	acc := b.wait(t, "accepted", callState("accepted", "")).(*protocol.CallState)
	if acc.Room != "room-9" || acc.Token == "" {
		t.Fatalf("accepted %+v", acc)
	}
	<-answered
	h.svc.EndPhoneCall(id)
	b.wait(t, "ended", callState("ended", reasonHangup))
	if r := <-ended; r != reasonHangup {
		t.Fatalf("gateway told %q", r)
	}

	id = start()
	b.wait(t, "incoming", isIncoming)
	b.req(t, &protocol.CallAction{Action: "decline", Call: id})
	if r := <-ended; r != reasonDeclined {
		t.Fatalf("declined: gateway told %q", r)
	}
	if _, err := h.svc.CallFromNumber(t.Context(), NumberCall{Callee: bob.ID, Room: "r"}); err == nil {
		t.Fatal("a call without a number accepted")
	}
}
