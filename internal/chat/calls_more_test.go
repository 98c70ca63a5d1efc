package chat

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"switchboard/internal/protocol"
)

// ofCall matches the call.state frames of one call.
func ofCall(id, state, reason string) func(protocol.Message) bool {
	return func(m protocol.Message) bool {
		s, ok := m.(*protocol.CallState)
		return ok && s.Call == id && s.State == state && s.Reason == reason
	}
}

func ringsFor(id string) func(protocol.Message) bool {
	return func(m protocol.Message) bool {
		in, ok := m.(*protocol.CallIncoming)
		return ok && in.Call.ID == id
	}
}

// count is how many received messages match accepts.
func (d *device_) count(match func(protocol.Message) bool) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, m := range d.got {
		if match(m) {
			n++
		}
	}
	return n
}

// waitCount waits until n received messages match accepts.
func (d *device_) waitCount(t *testing.T, what string, n int, match func(protocol.Message) bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); d.count(match) < n; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s never received %s", d.user.Username, what)
		}
	}
}

func (h *harness) inCall(t *testing.T, u string) bool {
	t.Helper()
	return h.svc.pres.status(u) == protocol.StatusInCall
}

// callEntryData returns the call entries written into conv, with their senders.
func callEntryData(t *testing.T, d *device_, conv string) (out []callEntry, senders []string) {
	t.Helper()
	for _, e := range d.req(t, &protocol.Sync{Conversation: conv}).(*protocol.Events).Entries {
		if e.Kind == "call" {
			var c callEntry
			json.Unmarshal(e.Data, &c)
			out, senders = append(out, c), append(senders, e.Sender)
		}
	}
	return out, senders
}

// Someone who leaves a group call that goes on is no longer in a call, and
// can be called again.
func TestCallLeaverNotStuckInCall(t *testing.T) {
	h := newHarness(t, options{})
	alice, bob, carol, dave := h.user("alice", "member"), h.user("bob", "member"), h.user("carol", "member"), h.user("dave", "member")
	a, b, c, d := h.connect(alice), h.connect(bob), h.connect(carol), h.connect(dave)

	g := a.req(t, &protocol.CreateConversation{Kind: "group", Name: "G", Members: []string{bob.ID, carol.ID}}).(*protocol.ConversationMsg).Conversation
	k := a.req(t, &protocol.StartCall{Conversation: g.ID}).(*protocol.Calling).Call
	b.wait(t, "ringing", ringsFor(k.ID))
	c.wait(t, "ringing", ringsFor(k.ID))
	b.req(t, &protocol.CallAction{Action: "answer", Call: k.ID})
	c.req(t, &protocol.CallAction{Action: "answer", Call: k.ID})
	if !h.inCall(t, bob.ID) || !h.inCall(t, carol.ID) {
		t.Fatal("bob and carol should be in the call")
	}

	// Bob leaves; the call goes on without him.
	b.req(t, &protocol.CallAction{Action: "hangup", Call: k.ID})
	if h.inCall(t, bob.ID) {
		t.Fatal("bob left the call but is still in_call")
	}
	if code := b.reqErr(t, &protocol.CallAction{Action: "hangup", Call: k.ID}); code != protocol.CodeNotFound {
		t.Fatalf("bob hangs up again: %s", code)
	}
	// Dave can call him: he is not busy.
	dk := d.req(t, &protocol.StartCall{User: bob.ID}).(*protocol.Calling).Call
	b.wait(t, "dave's call", ringsFor(dk.ID))
	d.req(t, &protocol.CallAction{Action: "hangup", Call: dk.ID})
	d.wait(t, "cancelled", ofCall(dk.ID, "ended", reasonCancelled))

	// The caller leaves too; carol is still in the call.
	a.req(t, &protocol.CallAction{Action: "hangup", Call: k.ID})
	if h.inCall(t, alice.ID) {
		t.Fatal("alice left the call but is still in_call")
	}
	c.never(t, "the end of the call", ofCall(k.ID, "ended", reasonHangup))
	if !h.inCall(t, carol.ID) {
		t.Fatal("carol should still be in the call")
	}
	// The last one out ends it.
	c.req(t, &protocol.CallAction{Action: "hangup", Call: k.ID})
	a.wait(t, "the end of the call", ofCall(k.ID, "ended", reasonHangup))
	for _, u := range []string{alice.ID, bob.ID, carol.ID} {
		if h.inCall(t, u) {
			t.Fatalf("%s is still in_call after the call ended", u)
		}
	}
	a.wait(t, "the call entry", isEvent(g.ID, "call"))
	if got := callEntries(t, a, g.ID); len(got) != 1 || got[0] != "answered" {
		t.Fatalf("call entries %q", got)
	}
}

// A two-party call escalated while it still rings moves into a meeting room
// that everyone can join, and ends like a group call.
func TestCallEscalateWhileRinging(t *testing.T) {
	h := newHarness(t, options{})
	alice, bob, carol := h.user("alice", "member"), h.user("bob", "member"), h.user("carol", "member")
	a, b, c := h.connect(alice), h.connect(bob), h.connect(carol)

	k := a.req(t, &protocol.StartCall{User: bob.ID}).(*protocol.Calling).Call
	b.wait(t, "ringing", ringsFor(k.ID))
	a.req(t, &protocol.CallAdd{Call: k.ID, Users: []string{carol.ID}})
	in := c.wait(t, "ringing", ringsFor(k.ID)).(*protocol.CallIncoming)
	if !in.Call.Group {
		t.Fatalf("the escalated call is not a group call: %+v", in.Call)
	}
	// The caller waits in the meeting room, as in any group call.
	waiting := a.wait(t, "her room", ofCall(k.ID, "accepted", "")).(*protocol.CallState)
	if waiting.P2P || waiting.Room == "" {
		t.Fatalf("caller's room %+v: want a meeting room", waiting)
	}
	b.req(t, &protocol.CallAction{Action: "answer", Call: k.ID})
	c.req(t, &protocol.CallAction{Action: "answer", Call: k.ID})
	for _, x := range []*device_{b, c} {
		acc := x.wait(t, "accepted", ofCall(k.ID, "accepted", "")).(*protocol.CallState)
		if acc.P2P || acc.Room != waiting.Room {
			t.Fatalf("%s was sent to %+v, alice waits in %s", x.user.Username, acc, waiting.Room)
		}
	}
	if a.count(ofCall(k.ID, "accepted", "")) != 1 {
		t.Fatal("alice was moved again")
	}

	// Bob leaves; the call goes on, and ends when the room empties.
	h.rooms.set(waiting.Room, 3)
	time.Sleep(2500 * time.Millisecond) // let the watch see everyone in the room
	b.req(t, &protocol.CallAction{Action: "hangup", Call: k.ID})
	if h.inCall(t, bob.ID) {
		t.Fatal("bob left the call but is still in_call")
	}
	h.rooms.set(waiting.Room, 0)
	ended := c.wait(t, "the end of the call", ofCall(k.ID, "ended", reasonHangup)).(*protocol.CallState)
	if ended.Duration < 2 {
		t.Fatalf("duration %d", ended.Duration)
	}
	a.wait(t, "the end of the call", ofCall(k.ID, "ended", reasonHangup))
	for _, u := range []string{alice.ID, bob.ID, carol.ID} {
		if h.inCall(t, u) {
			t.Fatalf("%s is still in_call after the call ended", u)
		}
	}
	a.wait(t, "the call entry", isEvent(k.Conversation, "call"))
	es, _ := callEntryData(t, a, k.Conversation)
	if len(es) != 1 || es[0].Outcome != "answered" || !es[0].Group {
		t.Fatalf("call entries %+v", es)
	}
}

// An answered two-party call that moves to a meeting room does not end
// because the new room is empty at first.
func TestCallEscalateConnectedKeepsGoing(t *testing.T) {
	h := newHarness(t, options{})
	alice, bob, carol := h.user("alice", "member"), h.user("bob", "member"), h.user("carol", "member")
	a, b, c := h.connect(alice), h.connect(bob), h.connect(carol)

	k := a.req(t, &protocol.StartCall{User: bob.ID}).(*protocol.Calling).Call
	b.req(t, &protocol.CallAction{Action: "answer", Call: k.ID})
	p2p := a.wait(t, "accepted", ofCall(k.ID, "accepted", "")).(*protocol.CallState)
	h.rooms.set(p2p.Room, 2)
	time.Sleep(2500 * time.Millisecond) // the watch saw both in the room
	a.req(t, &protocol.CallAdd{Call: k.ID, Users: []string{carol.ID}})
	c.wait(t, "ringing", ringsFor(k.ID))
	time.Sleep(2500 * time.Millisecond) // another look at the (new, still empty) room
	a.never(t, "the end of the call", ofCall(k.ID, "ended", reasonHangup))
	if !h.inCall(t, alice.ID) || !h.inCall(t, bob.ID) {
		t.Fatal("alice and bob should still be in the call")
	}
}

// call.add rings only members of the conversation who are not in the call.
func TestCallAddRingsOnlyNewMembers(t *testing.T) {
	h := newHarness(t, options{})
	alice, bob, carol, dave := h.user("alice", "member"), h.user("bob", "member"), h.user("carol", "member"), h.user("dave", "member")
	a, b, c, d := h.connect(alice), h.connect(bob), h.connect(carol), h.connect(dave)

	g := a.req(t, &protocol.CreateConversation{Kind: "group", Name: "G", Members: []string{bob.ID, carol.ID}}).(*protocol.ConversationMsg).Conversation
	k := a.req(t, &protocol.StartCall{Conversation: g.ID}).(*protocol.Calling).Call
	b.req(t, &protocol.CallAction{Action: "answer", Call: k.ID})
	c.wait(t, "ringing", ringsFor(k.ID))
	c.req(t, &protocol.CallAction{Action: "decline", Call: k.ID})

	// Dave is not in the group.
	if code := b.reqErr(t, &protocol.CallAdd{Call: k.ID, Users: []string{carol.ID, dave.ID}}); code != protocol.CodeForbidden {
		t.Fatalf("adding someone outside the group: %s", code)
	}
	d.never(t, "a call", ringsFor(k.ID))
	if c.count(ringsFor(k.ID)) != 1 {
		t.Fatal("a refused call.add rang carol")
	}

	// Alice and bob are in the call already: only carol rings again.
	b.req(t, &protocol.CallAdd{Call: k.ID, Users: []string{alice.ID, bob.ID, carol.ID, carol.ID}})
	c.waitCount(t, "ringing again", 2, ringsFor(k.ID))
	a.never(t, "her own call", ringsFor(k.ID))
	if n := b.count(ringsFor(k.ID)); n != 1 {
		t.Fatalf("bob rang %d times, though he was in the call", n)
	}
	if n := c.count(ringsFor(k.ID)); n != 2 {
		t.Fatalf("carol rang %d times", n)
	}
	// Ringing her once more does not ring her twice at once.
	b.req(t, &protocol.CallAdd{Call: k.ID, Users: []string{carol.ID}})
	time.Sleep(300 * time.Millisecond)
	if n := c.count(ringsFor(k.ID)); n != 2 {
		t.Fatalf("carol rang %d times", n)
	}
}

// namedRooms gives join tokens that show the name they were made for.
type namedRooms struct{ *fakeRooms }

func (r namedRooms) JoinToken(room string, me Identity) (string, error) {
	return "token-" + me.UserID + "-" + room + "-" + me.DisplayName, nil
}

// The tokens of an escalated call carry the names the server knows.
func TestCallEscalationTokensNamed(t *testing.T) {
	h := newHarness(t, options{mutate: func(c *Config) { c.Rooms = namedRooms{c.Rooms.(*fakeRooms)} }})
	alice, bob, carol := h.user("alice", "member"), h.user("bob", "member"), h.user("carol", "member")
	a, b, c := h.connect(alice), h.connect(bob), h.connect(carol)

	k := a.req(t, &protocol.StartCall{User: bob.ID}).(*protocol.Calling).Call
	b.req(t, &protocol.CallAction{Action: "answer", Call: k.ID})
	p2p := a.wait(t, "accepted", ofCall(k.ID, "accepted", "")).(*protocol.CallState)
	a.req(t, &protocol.CallAdd{Call: k.ID, Users: []string{carol.ID}})
	for _, x := range []*device_{a, b} {
		moved := x.wait(t, "moved", func(m protocol.Message) bool {
			s, ok := m.(*protocol.CallState)
			return ok && s.Call == k.ID && s.State == "accepted" && s.Room != p2p.Room
		}).(*protocol.CallState)
		if want := "token-" + x.user.ID + "-" + moved.Room + "-" + x.user.DisplayName; moved.Token != want {
			t.Fatalf("%s's token %q, want %q", x.user.Username, moved.Token, want)
		}
	}
	c.req(t, &protocol.CallAction{Action: "answer", Call: k.ID})
	if acc := c.wait(t, "accepted", ofCall(k.ID, "accepted", "")).(*protocol.CallState); !strings.HasSuffix(acc.Token, "-Carol") {
		t.Fatalf("carol's token %q", acc.Token)
	}
}

// Calling someone who is in a call ends at once with busy, told to the
// caller as call.state, and written down like any other outcome.
func TestCallBusy(t *testing.T) {
	h := newHarness(t, options{})
	alice, bob, carol := h.user("alice", "member"), h.user("bob", "member"), h.user("carol", "member")
	a, b, c := h.connect(alice), h.connect(bob), h.connect(carol)
	c2 := h.connect(carol)

	k := a.req(t, &protocol.StartCall{User: bob.ID, Video: true}).(*protocol.Calling).Call
	b.req(t, &protocol.CallAction{Action: "answer", Call: k.ID})
	a.wait(t, "accepted", ofCall(k.ID, "accepted", ""))

	busy := c.req(t, &protocol.StartCall{User: bob.ID, Video: true}).(*protocol.Calling).Call
	if len(busy.Invited) != 1 || busy.Invited[0] != bob.ID {
		t.Fatalf("the busy call %+v", busy)
	}
	for _, x := range []*device_{c, c2} {
		x.wait(t, "busy", ofCall(busy.ID, "ended", reasonBusy))
	}
	b.never(t, "carol's call", func(m protocol.Message) bool {
		if in, ok := m.(*protocol.CallIncoming); ok {
			return in.Call.ID == busy.ID
		}
		s, ok := m.(*protocol.CallState)
		return ok && s.Call == busy.ID
	})
	if h.inCall(t, carol.ID) {
		t.Fatal("carol is in_call after a busy call")
	}
	if code := c.reqErr(t, &protocol.CallAction{Action: "hangup", Call: busy.ID}); code != protocol.CodeNotFound {
		t.Fatalf("hanging up the busy call: %s", code)
	}
	c.wait(t, "the call entry", isEvent(busy.Conversation, "call"))
	es, senders := callEntryData(t, c, busy.Conversation)
	if len(es) != 1 || es[0] != (callEntry{Call: busy.ID, Outcome: "busy", Video: true}) || senders[0] != carol.ID {
		t.Fatalf("call entries %+v from %q", es, senders)
	}

	// In a call and in do not disturb is busy too.
	b.req(t, &protocol.SetStatus{Status: protocol.StatusDND})
	busy2 := c.req(t, &protocol.StartCall{User: bob.ID}).(*protocol.Calling).Call
	c.wait(t, "busy", ofCall(busy2.ID, "ended", reasonBusy))
	b.never(t, "carol's call", ringsFor(busy2.ID))
}
