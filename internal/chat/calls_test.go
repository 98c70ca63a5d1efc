package chat

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"switchboard/internal/protocol"
)

func callState(state, reason string) func(protocol.Message) bool {
	return func(m protocol.Message) bool {
		s, ok := m.(*protocol.CallState)
		return ok && s.State == state && s.Reason == reason
	}
}

func isIncoming(m protocol.Message) bool { _, ok := m.(*protocol.CallIncoming); return ok }

// callEntries returns the outcomes of the call entries written into conv.
func callEntries(t *testing.T, d *device_, conv string) []string {
	t.Helper()
	var out []string
	for _, e := range d.req(t, &protocol.Sync{Conversation: conv}).(*protocol.Events).Entries {
		if e.Kind == "call" {
			var c callEntry
			json.Unmarshal(e.Data, &c)
			out = append(out, c.Outcome)
		}
	}
	return out
}

func TestCallAnsweredOnOneDevice(t *testing.T) {
	h := newHarness(t, options{})
	alice, bob := h.user("alice", "member"), h.user("bob", "member")
	a, b1, b2 := h.connect(alice), h.connect(bob), h.connect(bob)

	call := a.req(t, &protocol.StartCall{User: bob.ID, Video: true}).(*protocol.Calling).Call
	for _, d := range []*device_{b1, b2} {
		in := d.wait(t, "the incoming call", isIncoming).(*protocol.CallIncoming)
		if in.Call.ID != call.ID || in.Call.From != alice.ID || !in.Call.Video {
			t.Fatalf("incoming %+v", in.Call)
		}
	}
	b2.req(t, &protocol.CallAction{Action: "answer", Call: call.ID})
	acc := a.wait(t, "accepted", callState("accepted", "")).(*protocol.CallState)
	if !acc.P2P || acc.Room == "" || acc.Token != "token-"+alice.ID+"-"+acc.Room {
		t.Fatalf("caller's accepted state %+v: want a peer-to-peer room and her own token", acc)
	}
	b2.wait(t, "accepted", callState("accepted", ""))
	b1.wait(t, "answered elsewhere", callState("ended", reasonAnswered))
	if code := b1.reqErr(t, &protocol.CallAction{Action: "answer", Call: call.ID}); code != protocol.CodeInvalidState {
		t.Fatalf("second answer: %s", code)
	}
	// Both show "in a call".
	a.wait(t, "bob in a call", func(m protocol.Message) bool {
		p, ok := m.(*protocol.PresenceMsg)
		return ok && p.Users[bob.ID].Status == protocol.StatusInCall
	})
	h.rooms.set(acc.Room, 2)
	time.Sleep(2500 * time.Millisecond) // let the watch see both in the room
	b2.req(t, &protocol.CallAction{Action: "hangup", Call: call.ID})
	ended := a.wait(t, "hangup", callState("ended", reasonHangup)).(*protocol.CallState)
	if ended.Duration < 2 {
		t.Fatalf("duration %d s", ended.Duration)
	}
	if got := callEntries(t, a, call.Conversation); len(got) != 1 || got[0] != "answered" {
		t.Fatalf("call entries %q", got)
	}
}

func TestCallOutcomes(t *testing.T) {
	h := newHarness(t, options{})
	alice, bob, carol := h.user("alice", "member"), h.user("bob", "member"), h.user("carol", "member")
	a, b, c := h.connect(alice), h.connect(bob), h.connect(carol)

	// Declined.
	k := a.req(t, &protocol.StartCall{User: bob.ID}).(*protocol.Calling).Call
	b.wait(t, "ringing", isIncoming)
	b.req(t, &protocol.CallAction{Action: "decline", Call: k.ID})
	a.wait(t, "declined", callState("ended", reasonDeclined))

	// Cancelled by the caller.
	k2 := a.req(t, &protocol.StartCall{User: bob.ID}).(*protocol.Calling).Call
	a.req(t, &protocol.CallAction{Action: "hangup", Call: k2.ID})
	b.wait(t, "cancelled", callState("ended", reasonCancelled))

	// Not answered (the harness rings for two seconds).
	a.req(t, &protocol.StartCall{User: bob.ID})
	a.wait(t, "no answer", callState("ended", reasonNoAnswer))

	// Busy: carol calls bob while he is in a call with alice.
	k4 := a.req(t, &protocol.StartCall{User: bob.ID}).(*protocol.Calling).Call
	b.req(t, &protocol.CallAction{Action: "answer", Call: k4.ID})
	a.wait(t, "accepted", callState("accepted", ""))
	busy := c.req(t, &protocol.StartCall{User: bob.ID}).(*protocol.Calling).Call
	c.wait(t, "busy", func(m protocol.Message) bool {
		s, ok := m.(*protocol.CallState)
		return ok && s.Call == busy.ID && s.State == "ended" && s.Reason == reasonBusy
	})
	a.req(t, &protocol.CallAction{Action: "hangup", Call: k4.ID})

	got := strings.Join(callEntries(t, a, k.Conversation), ",")
	if got != "declined,cancelled,missed,answered" {
		t.Fatalf("alice and bob's call entries: %s", got)
	}
	if got := callEntries(t, c, mustDirect(t, c, bob.ID)); len(got) != 1 || got[0] != "busy" {
		t.Fatalf("carol and bob's call entries: %q", got)
	}

	// A stranger cannot act on someone else's call.
	k5 := a.req(t, &protocol.StartCall{User: bob.ID}).(*protocol.Calling).Call
	if code := c.reqErr(t, &protocol.CallAction{Action: "answer", Call: k5.ID}); code != protocol.CodeNotFound {
		t.Fatalf("carol answered alice's call to bob: %s", code)
	}

	// The caller's page vanishes while ringing: the call is cancelled.
	a.Drop()
	b.wait(t, "cancelled when the caller vanished", func(m protocol.Message) bool {
		s, ok := m.(*protocol.CallState)
		return ok && s.Call == k5.ID && s.Reason == reasonCancelled
	})
}

func mustDirect(t *testing.T, d *device_, user string) string {
	return d.req(t, &protocol.Direct{User: user}).(*protocol.ConversationMsg).Conversation.ID
}

func TestGroupCallAndEscalation(t *testing.T) {
	h := newHarness(t, options{})
	alice, bob, carol, dave := h.user("alice", "member"), h.user("bob", "member"), h.user("carol", "member"), h.user("dave", "member")
	a, b, c, d := h.connect(alice), h.connect(bob), h.connect(carol), h.connect(dave)

	// A two-party call escalated: everyone moves to a meeting room.
	k := a.req(t, &protocol.StartCall{User: bob.ID}).(*protocol.Calling).Call
	b.req(t, &protocol.CallAction{Action: "answer", Call: k.ID})
	p2p := a.wait(t, "accepted", callState("accepted", "")).(*protocol.CallState)
	a.req(t, &protocol.CallAdd{Call: k.ID, Users: []string{carol.ID}})
	moved := b.wait(t, "moved to a meeting room", func(m protocol.Message) bool {
		s, ok := m.(*protocol.CallState)
		return ok && s.State == "accepted" && s.Room != p2p.Room
	}).(*protocol.CallState)
	if moved.P2P {
		t.Fatal("the escalated call is still peer-to-peer")
	}
	c.wait(t, "ringing", isIncoming)
	c.req(t, &protocol.CallAction{Action: "answer", Call: k.ID})
	joined := c.wait(t, "accepted", callState("accepted", "")).(*protocol.CallState)
	if joined.Room != moved.Room {
		t.Fatalf("carol joined %s, the others %s", joined.Room, moved.Room)
	}

	// A group conversation's call rings everyone and opens a room at once.
	g := a.req(t, &protocol.CreateConversation{Kind: "group", Name: "G", Members: []string{carol.ID, dave.ID}}).(*protocol.ConversationMsg).Conversation
	gk := c.req(t, &protocol.StartCall{Conversation: g.ID}).(*protocol.Calling).Call
	if !gk.Group {
		t.Fatal("a group conversation's call is not a group call")
	}
	c.wait(t, "her own room", func(m protocol.Message) bool {
		s, ok := m.(*protocol.CallState)
		return ok && s.Call == gk.ID && s.State == "accepted"
	})
	d.wait(t, "ringing", func(m protocol.Message) bool { in, ok := m.(*protocol.CallIncoming); return ok && in.Call.ID == gk.ID })
}
