package routing

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// TestEngineChangeMedia checks turning chats into calls within the slots.
func TestEngineChangeMedia(t *testing.T) {
	e := newEngine(t, Config{}, []Queue{newQueue("q", LongestIdle, "a", "x")}, "a")
	must(t)(e.SetAgent(Profile{ID: "x", ChatSlots: 3, ExclusiveCalls: true}, t0))
	for _, id := range []ContactID{"c1", "c2"} {
		must(t)(e.Arrive(Arrival{ID: id, Queue: "q", Media: Chat}, t0))
		must(t)(e.Accept(id, "a", t0))
	}
	evs := must(t)(e.ChangeMedia("c1", Video, at(time.Second)))
	wantKinds(t, evs, "media_changed:a")
	if _, err := e.ChangeMedia("c2", Voice, at(time.Second)); !errors.Is(err, ErrNoSlot) {
		t.Errorf("a second call: %v, want ErrNoSlot", err)
	}
	wantKinds(t, must(t)(e.ChangeMedia("c1", Voice, at(time.Second))), "media_changed:a") // video to voice, same slot
	wantKinds(t, must(t)(e.ChangeMedia("c1", Voice, at(time.Second))))                    // no change
	if _, err := e.ChangeMedia("c1", "fax", at(time.Second)); err == nil {
		t.Error("changing to an unknown media worked")
	}

	// An exclusive agent turns their only chat into a call, but not one of two.
	must(t)(e.SetAgentState("a", Paused, at(2*time.Second)))
	must(t)(e.SetAgentState("x", Available, at(2*time.Second)))
	for _, id := range []ContactID{"x1", "x2"} {
		must(t)(e.Arrive(Arrival{ID: id, Queue: "q", Media: Chat}, at(2*time.Second)))
		must(t)(e.Accept(id, "x", at(2*time.Second)))
	}
	if _, err := e.ChangeMedia("x1", Video, at(3*time.Second)); !errors.Is(err, ErrNoSlot) {
		t.Errorf("exclusive agent with two chats: %v, want ErrNoSlot", err)
	}
	must(t)(e.End("x2", at(4*time.Second)))
	must(t)(e.ChangeMedia("x1", Video, at(5*time.Second)))
	// While on the call, the exclusive agent gets no chats.
	wantKinds(t, must(t)(e.Arrive(Arrival{ID: "x3", Queue: "q", Media: Chat}, at(6*time.Second))), "queued")
}

// TestEngineRoundRobin checks that the cursor moves across events.
func TestEngineRoundRobin(t *testing.T) {
	e := newEngine(t, Config{}, []Queue{newQueue("q", RoundRobin, "a", "b", "c")}, "a", "b", "c")
	var got []AgentID
	for i, id := range []ContactID{"1", "2", "3", "4", "5"} {
		now := at(time.Duration(i) * time.Minute)
		evs := must(t)(e.Arrive(Arrival{ID: id, Queue: "q", Media: Voice}, now))
		ev, _ := has(evs, EventOffered, id)
		got = append(got, ev.Agent)
		must(t)(e.Accept(id, ev.Agent, now))
		must(t)(e.End(id, now.Add(time.Second)))
	}
	if want := []AgentID{"a", "b", "c", "a", "b"}; !slices.Equal(got, want) {
		t.Errorf("offered to %v, want %v", got, want)
	}
}

// TestEngineQueuePriority checks that an agent in two queues serves the
// higher-priority one first, whatever the arrival order.
func TestEngineQueuePriority(t *testing.T) {
	sales, support := newQueue("sales", LongestIdle, "a"), newQueue("support", LongestIdle, "a")
	sales.Priority = 10
	e := newEngine(t, Config{}, []Queue{sales, support})
	must(t)(e.SetAgent(Profile{ID: "a"}, t0))
	must(t)(e.Arrive(Arrival{ID: "old", Queue: "support", Media: Voice}, t0))
	must(t)(e.Arrive(Arrival{ID: "new", Queue: "sales", Media: Voice}, at(time.Minute)))
	evs := must(t)(e.SetAgentState("a", Available, at(2*time.Minute)))
	if ev, _ := has(evs, EventOffered, ""); ev.Contact != "new" {
		t.Errorf("offered %s, want the sales contact", ev.Contact)
	}
}

// TestEngineErrors checks refusals of events that do not apply.
func TestEngineErrors(t *testing.T) {
	if _, err := NewEngine(Config{AutoPauseAfter: -1}, nil); err == nil {
		t.Error("negative AutoPauseAfter accepted")
	}
	if _, err := NewEngine(Config{}, []Queue{{ID: "q", Strategy: "nope"}}); err == nil {
		t.Error("bad queue accepted")
	}
	e := newEngine(t, Config{}, []Queue{newQueue("q", LongestIdle, "a")}, "a")
	must(t)(e.Arrive(Arrival{ID: "c1", Queue: "q", Media: Chat}, t0))
	tests := []struct {
		name string
		err  error
		do   func() ([]Event, error)
	}{
		{"duplicate arrival", ErrDuplicate, func() ([]Event, error) { return e.Arrive(Arrival{ID: "c1", Queue: "q", Media: Chat}, t0) }},
		{"no id", ErrUnknownContact, func() ([]Event, error) { return e.Arrive(Arrival{Queue: "q", Media: Chat}, t0) }},
		{"unknown queue", ErrUnknownQueue, func() ([]Event, error) { return e.Arrive(Arrival{ID: "c2", Queue: "z", Media: Chat}, t0) }},
		{"unknown agent", ErrUnknownAgent, func() ([]Event, error) { return e.SetAgentState("z", Available, t0) }},
		{"unknown state", ErrState, func() ([]Event, error) { return e.SetAgentState("a", "lunch", t0) }},
		{"accept by another agent", ErrNotOffered, func() ([]Event, error) { return e.Accept("c1", "z", t0) }},
		{"decline unknown", ErrNotOffered, func() ([]Event, error) { return e.Decline("zz", "a", t0) }},
		{"end a waiting contact", ErrNotInProgress, func() ([]Event, error) { return e.End("c1", t0) }},
		{"change media of a waiting contact", ErrNotInProgress, func() ([]Event, error) { return e.ChangeMedia("c1", Video, t0) }},
		{"leave unknown", ErrUnknownContact, func() ([]Event, error) { return e.Leave("zz", t0) }},
	}
	for _, tt := range tests {
		if _, err := tt.do(); !errors.Is(err, tt.err) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.err)
		}
	}
	if _, err := e.Arrive(Arrival{ID: "c3", Queue: "q", Media: "fax"}, t0); err == nil {
		t.Error("unknown media accepted")
	}
	if _, err := e.SetAgent(Profile{ID: "b", ChatSlots: -1}, t0); err == nil {
		t.Error("negative chat slots accepted")
	}
	if _, err := e.SetQueue(Queue{ID: "q2", Overflow: Overflow{To: ToQueue, Queue: "nowhere"}}, t0); err == nil {
		t.Error("queue overflowing to an unknown queue accepted")
	}
	// SetQueue adds and replaces.
	must(t)(e.SetQueue(newQueue("q2", RingAll, "a"), t0))
	q := newQueue("q", LongestIdle)
	q.MaxLength, q.Overflow = 1, Overflow{To: ToMessage}
	must(t)(e.SetQueue(q, t0))
	if s := e.Snapshot(); len(s.Queues) != 2 || s.Queues[0].MaxLength != 1 {
		t.Errorf("queues after SetQueue: %+v", s.Queues)
	}
	if e.Status("c1") != StatusOffered {
		t.Errorf("c1 %q after its queue changed, want still offered", e.Status("c1"))
	}
}

// Reassign hands a contact in progress to a colleague with a free slot,
// not to one who is offline or full; the contact's visitor then sticks to
// the new agent.
func TestEngineReassign(t *testing.T) {
	q := Queue{ID: "q", Members: []Member{{Agent: "a"}, {Agent: "b"}, {Agent: "c"}}}
	e := newEngine(t, Config{}, []Queue{q}, "a", "b", "c")
	must(t)(e.SetAgentState("c", Offline, t0))
	must(t)(e.Arrive(Arrival{ID: "x", Queue: "q", Media: Voice, Visitor: "v"}, t0))
	var offered AgentID
	for _, a := range []AgentID{"a", "b"} {
		if _, err := e.Accept("x", a, at(time.Second)); err == nil {
			offered = a
		}
	}
	if offered == "" {
		t.Fatal("nobody got the offer")
	}
	other := AgentID("b")
	if offered == "b" {
		other = "a"
	}
	if _, err := e.Reassign("x", "c", at(time.Minute)); !errors.Is(err, ErrState) {
		t.Fatalf("to an offline agent: %v", err)
	}
	// The other agent's call slot is taken: the contact cannot come.
	must(t)(e.Arrive(Arrival{ID: "y", Queue: "q", Media: Video}, at(time.Minute)))
	must(t)(e.Accept("y", other, at(time.Minute)))
	if _, err := e.Reassign("x", other, at(time.Minute)); !errors.Is(err, ErrNoSlot) {
		t.Fatalf("to an agent on a call: %v", err)
	}
	must(t)(e.End("y", at(2*time.Minute)))
	evs, err := e.Reassign("x", other, at(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	wantKinds(t, evs, "reassigned:"+string(other))
	if evs[0].Agent != other || evs[0].Agents[0] != offered {
		t.Fatalf("event %+v", evs[0])
	}
	if got := agentOf(t, e, other).Active; len(got) != 1 || got[0].Contact != "x" || !got[0].Answered.Equal(at(time.Second)) {
		t.Fatalf("%s holds %+v", other, got)
	}
	if got := agentOf(t, e, offered).Active; len(got) != 0 {
		t.Fatalf("%s still holds %+v", offered, got)
	}
	if e.Snapshot().LastAgent["v"] != other {
		t.Fatal("the visitor does not stick to their new agent")
	}
	if _, err := e.End("x", at(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
}
