package chat

import (
	"errors"
	"sync"
	"testing"

	"switchboard/internal/protocol"
)

// fakeControl is the gateway's PhoneControl of one call: it records what it
// was asked, fails when fail is set, and reports a started transfer back as
// the gateway would.
type fakeControl struct {
	s     *Service
	call  string
	mu    sync.Mutex
	holds []bool
	to    []string
	fail  error
	late  bool // the transfer starts but its outcome is left to the test
}

func (f *fakeControl) Hold(held bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.holds = append(f.holds, held)
	return nil
}

func (f *fakeControl) Transfer(target string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.to = append(f.to, target)
	if !f.late {
		go f.s.PhoneTransferred(f.call) // the REFER succeeded; the phone's leg ends
	}
	return nil
}

func (f *fakeControl) seen() ([]bool, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]bool(nil), f.holds...), append([]string(nil), f.to...)
}

func stateBy(state, by string) func(protocol.Message) bool {
	return func(m protocol.Message) bool {
		s, ok := m.(*protocol.CallState)
		return ok && s.State == state && s.By == by
	}
}

// A call to a desk phone: early media sends the caller to the ringback
// room; once answered, hold and resume reach the phone and every party's
// device hears them (also when the phone holds); others cannot; a failed
// transfer leaves the call as it was; a transfer ends it (transferred).
func TestPhoneControl(t *testing.T) {
	phones := newPhones("")
	h := newHarness(t, options{mutate: func(c *Config) { c.Phones = phones }})
	alice, bob, carol := h.user("alice", "member"), h.user("bob", "member"), h.user("carol", "member")
	phones.user = bob.ID
	a1, a2, c := h.connect(alice), h.connect(alice), h.connect(carol)

	k := a1.req(t, &protocol.StartCall{Phone: "200"}).(*protocol.Calling).Call
	<-phones.dial
	ctl := &fakeControl{s: h.svc, call: k.ID}

	// Ringing: no controls yet.
	if code := a1.reqErr(t, &protocol.CallAction{Action: "hold", Call: k.ID}); code != protocol.CodeInvalidState {
		t.Fatalf("hold while ringing: %s", code)
	}
	if h.svc.PhoneEarly("nope", "room-1") {
		t.Fatal("early media for an unknown call")
	}
	if !h.svc.PhoneEarly(k.ID, "room-1") {
		t.Fatal("early media refused")
	}
	early := a1.wait(t, "early", callState("early", "")).(*protocol.CallState)
	if early.Room != "room-1" || early.Token != "token-"+alice.ID+"-room-1" {
		t.Fatalf("early %+v", early)
	}
	a2.never(t, "early media on the device that did not call", callState("early", ""))

	if !h.svc.PhoneAnswered(k.ID, "room-1") {
		t.Fatal("answer refused")
	}
	a1.wait(t, "accepted", callState("accepted", ""))
	if h.svc.PhoneEarly(k.ID, "room-1") {
		t.Fatal("early media after the answer")
	}
	h.svc.SetPhoneControl(k.ID, ctl)

	// Hold from one device: the phone is told, both devices hear it.
	a1.req(t, &protocol.CallAction{Action: "hold", Call: k.ID})
	for _, d := range []*device_{a1, a2} {
		d.wait(t, "held by alice", stateBy("held", alice.ID))
	}
	a1.req(t, &protocol.CallAction{Action: "hold", Call: k.ID}) // already held: nothing more
	if code := c.reqErr(t, &protocol.CallAction{Action: "hold", Call: k.ID}); code != protocol.CodeNotFound {
		t.Fatalf("a stranger held: %s", code)
	}
	if code := c.reqErr(t, &protocol.CallTransfer{Call: k.ID, Target: "300"}); code != protocol.CodeNotFound {
		t.Fatalf("a stranger transferred: %s", code)
	}
	a2.req(t, &protocol.CallAction{Action: "resume", Call: k.ID})
	a1.wait(t, "active again", stateBy("active", alice.ID))
	if holds, _ := ctl.seen(); len(holds) != 2 || !holds[0] || holds[1] {
		t.Fatalf("the phone was told %v", holds)
	}

	// The phone holds and resumes by itself.
	h.svc.PhoneHeld(k.ID, true)
	a2.wait(t, "held by the phone", stateBy("held", ByPhone))
	h.svc.PhoneHeld(k.ID, false)
	a2.wait(t, "resumed by the phone", stateBy("active", ByPhone))

	// Both hold: each hold is the holder's own. Our hold while the phone
	// holds still reaches the phone; our resume leaves the call held (by the
	// phone), and it is active once the phone resumes too.
	h.svc.PhoneHeld(k.ID, true)
	a1.wait(t, "held by the phone again", stateBy("held", ByPhone))
	a1.req(t, &protocol.CallAction{Action: "hold", Call: k.ID})
	a1.wait(t, "held by alice too", stateBy("held", alice.ID))
	a1.req(t, &protocol.CallAction{Action: "resume", Call: k.ID})
	a1.wait(t, "still held: the phone's hold", stateBy("held", alice.ID))
	h.svc.PhoneHeld(k.ID, false)
	a1.wait(t, "active once both resumed", stateBy("active", ByPhone))
	if holds, _ := ctl.seen(); len(holds) != 4 || !holds[2] || holds[3] {
		t.Fatalf("the phone was told %v", holds)
	}

	// Bad targets, then a transfer the phone refuses: the call goes on.
	if code := a1.reqErr(t, &protocol.CallTransfer{Call: k.ID, Target: "sip:<x>"}); code != protocol.CodeBadRequest {
		t.Fatalf("bad target: %s", code)
	}
	if code := a1.reqErr(t, &protocol.CallTransfer{Call: k.ID, Target: ""}); code != protocol.CodeBadRequest {
		t.Fatalf("empty target: %s", code)
	}
	ctl.mu.Lock()
	ctl.fail = errors.New("603 Decline")
	ctl.mu.Unlock()
	if code := a1.reqErr(t, &protocol.CallTransfer{Call: k.ID, Target: "+15557654321"}); code != protocol.CodeInvalidState {
		t.Fatalf("failed transfer: %s", code)
	}
	a2.wait(t, "transferring", stateBy("transferring", alice.ID))
	a2.wait(t, "active after the failed transfer", func(m protocol.Message) bool {
		s, ok := m.(*protocol.CallState)
		return ok && s.State == "active" && s.By == alice.ID && s.Reason == reasonTransferFailed
	})
	if code := a1.reqErr(t, &protocol.CallAction{Action: "hold", Call: k.ID}); code != protocol.CodeInvalidState {
		t.Fatalf("hold refused by the phone: %s", code)
	}
	ctl.mu.Lock()
	ctl.fail = nil
	ctl.mu.Unlock()

	// A transfer that started but failed later (the gateway says so): the call goes on.
	ctl.mu.Lock()
	ctl.late = true
	ctl.mu.Unlock()
	a1.req(t, &protocol.CallTransfer{Call: k.ID, Target: "300"})
	if code := a1.reqErr(t, &protocol.CallAction{Action: "hold", Call: k.ID}); code != protocol.CodeInvalidState {
		t.Fatalf("hold while transferring: %s", code)
	}
	h.svc.PhoneTransferFailed(k.ID)
	a2.wait(t, "active after the late failure", func(m protocol.Message) bool {
		s, ok := m.(*protocol.CallState)
		return ok && s.State == "active" && s.By == ByPhone && s.Reason == reasonTransferFailed
	})
	h.svc.PhoneTransferFailed(k.ID) // twice: nothing more
	ctl.mu.Lock()
	ctl.late = false
	ctl.mu.Unlock()

	// The transfer works: the call ends for everyone, and the gateway is told why.
	a1.req(t, &protocol.CallTransfer{Call: k.ID, Target: "+15557654321"})
	for _, d := range []*device_{a1, a2} {
		d.wait(t, "ended by the transfer", callState("ended", reasonTransferred))
	}
	if r := <-phones.hung; r != PhoneTransferredReason {
		t.Fatalf("gateway told %q", r)
	}
	if _, to := ctl.seen(); len(to) != 2 || to[1] != "+15557654321" {
		t.Fatalf("transfers %v", to)
	}
	if code := a1.reqErr(t, &protocol.CallAction{Action: "resume", Call: k.ID}); code != protocol.CodeNotFound {
		t.Fatalf("resume after the end: %s", code)
	}
	if got := callEntries(t, a1, k.Conversation); len(got) != 1 || got[0] != "answered" {
		t.Fatalf("call entries %q", got)
	}
	h.svc.SetPhoneControl(k.ID, ctl) // a late gateway is ignored
	h.svc.PhoneHeld(k.ID, true)
}

// Calls between people have no telephone to hold or transfer.
func TestPhoneControlNeedsAPhone(t *testing.T) {
	h := newHarness(t, options{})
	alice, bob := h.user("alice", "member"), h.user("bob", "member")
	a, b := h.connect(alice), h.connect(bob)
	k := a.req(t, &protocol.StartCall{User: bob.ID}).(*protocol.Calling).Call
	b.wait(t, "ringing", isIncoming)
	b.req(t, &protocol.CallAction{Action: "answer", Call: k.ID})
	a.wait(t, "accepted", callState("accepted", ""))
	for _, m := range []protocol.Message{&protocol.CallAction{Action: "hold", Call: k.ID}, &protocol.CallAction{Action: "resume", Call: k.ID},
		&protocol.CallTransfer{Call: k.ID, Target: "200"}} {
		if code := a.reqErr(t, m); code != protocol.CodeInvalidState {
			t.Fatalf("%s on a call between people: %s", m.TypeName(), code)
		}
	}
	if h.svc.PhoneEarly(k.ID, "r") {
		t.Fatal("early media for a call between people")
	}
	a.req(t, &protocol.CallAction{Action: "hangup", Call: k.ID})
}
