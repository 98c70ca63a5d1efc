package chat

import (
	"context"
	"testing"

	"switchboard/internal/protocol"
)

// Alice's desk phone calls bob and then transfers the call to another
// telephone (the gateway swaps its leg): bob's devices hear who the call
// is with now, alice is out of it (her devices see it end as
// transferred), the new telephone's controls take over, and its hang-up
// ends the call.
func TestPhoneReplaced(t *testing.T) {
	h := newHarness(t, options{})
	alice, bob := h.user("alice", "member"), h.user("bob", "member")
	a, b := h.connect(alice), h.connect(bob)
	ended := make(chan string, 1)
	id, err := h.svc.CallFromPhone(context.Background(), PhoneCall{
		Caller: Identity{UserID: alice.ID, Username: alice.Username, DisplayName: alice.DisplayName, Role: alice.Role},
		Callee: bob.ID, Room: "room-1", Extension: "100", Name: "Desk",
		OnAnswer: func() {}, OnEnd: func(reason string) { ended <- reason }})
	if err != nil {
		t.Fatal(err)
	}
	b.wait(t, "ringing", func(m protocol.Message) bool { _, ok := m.(*protocol.CallIncoming); return ok })
	b.req(t, &protocol.CallAction{Action: "answer", Call: id})
	old, next := &fakeControl{s: h.svc, call: id}, &fakeControl{s: h.svc, call: id}
	h.svc.SetPhoneControl(id, old)
	if h.svc.PhoneReplaced("nope", "300", "Carl", next) {
		t.Fatal("replaced the phone of an unknown call")
	}
	if !h.svc.PhoneReplaced(id, "300", "Carl", next) {
		t.Fatal("the phone was not replaced")
	}
	st := b.wait(t, "told of the new phone", stateBy("active", ByPhone)).(*protocol.CallState)
	if st.Reason != "phone_transferred" || st.Phone != "300" || st.PhoneName != "Carl" {
		t.Fatalf("bob was told %+v", st)
	}
	a.wait(t, "alice out", callState("ended", "transferred"))
	if h.inCall(t, alice.ID) {
		t.Error("alice is still counted in the call")
	}
	if code := a.reqErr(t, &protocol.CallAction{Action: "hold", Call: id}); code != protocol.CodeNotFound {
		t.Errorf("alice held the call she left: %s", code)
	}
	b.req(t, &protocol.CallAction{Action: "hold", Call: id})
	if holds, _ := next.seen(); len(holds) != 1 || !holds[0] {
		t.Errorf("the new phone was told %v", holds)
	}
	if holds, _ := old.seen(); len(holds) != 0 {
		t.Errorf("the old phone was told %v", holds)
	}
	h.svc.EndPhoneCall(id)
	b.wait(t, "the end", callState("ended", "hangup"))
	if r := <-ended; r != "hangup" {
		t.Errorf("OnEnd %q", r)
	}
}
