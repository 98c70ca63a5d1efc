package routing

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// newEngine is an engine with the queues and, available since t0, the
// agents (3 chat slots each).
func newEngine(t *testing.T, cfg Config, queues []Queue, agents ...AgentID) *Engine {
	t.Helper()
	e, err := NewEngine(cfg, queues)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range agents {
		must(t)(e.SetAgent(Profile{ID: id, ChatSlots: 3}, t0))
		must(t)(e.SetAgentState(id, Available, t0))
	}
	return e
}

func at(d time.Duration) time.Time { return t0.Add(d) }

func agentOf(t *testing.T, e *Engine, id AgentID) Agent {
	t.Helper()
	for _, a := range e.Snapshot().Agents {
		if a.ID == id {
			return a
		}
	}
	t.Fatalf("no agent %s", id)
	return Agent{}
}

func contactOf(t *testing.T, e *Engine, id ContactID) Contact {
	t.Helper()
	for _, c := range e.Snapshot().Contacts {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("contact %s not waiting or offered", id)
	return Contact{}
}

func wantKinds(t *testing.T, evs []Event, want ...string) {
	t.Helper()
	if got := kinds(evs); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

// TestEngineContactLifecycle follows one contact from arrival to wrap-up.
func TestEngineContactLifecycle(t *testing.T) {
	q := newQueue("q", LongestIdle, "a")
	q.OfferTimeout, q.WrapUp = 20*time.Second, 30*time.Second
	e := newEngine(t, Config{}, []Queue{q}, "a")

	evs := must(t)(e.Arrive(Arrival{ID: "c1", Queue: "q", Media: Chat, Visitor: "v1"}, t0))
	wantKinds(t, evs, "queued", "offered:a")
	if off := evs[1]; !off.Until.Equal(at(20*time.Second)) || off.Visitor != "v1" || off.Media != Chat {
		t.Errorf("offered event %+v", off)
	}
	if st := e.Status("c1"); st != StatusOffered {
		t.Errorf("status %q, want offered", st)
	}

	evs = must(t)(e.Accept("c1", "a", at(5*time.Second)))
	wantKinds(t, evs, "answered:a")
	if evs[0].Wait != 5*time.Second {
		t.Errorf("answered after %v, want 5s", evs[0].Wait)
	}

	evs = must(t)(e.End("c1", at(65*time.Second)))
	wantKinds(t, evs, "ended:a", "wrap_up:a")
	if evs[0].Handle != time.Minute || !evs[1].Until.Equal(at(95*time.Second)) {
		t.Errorf("ended %+v, wrap-up %+v", evs[0], evs[1])
	}
	if st := e.Status("c1"); st != "" {
		t.Errorf("status %q after the end, want none", st)
	}

	// No offer during wrap-up; at its end the agent is available and gets it.
	wantKinds(t, must(t)(e.Arrive(Arrival{ID: "c2", Queue: "q", Media: Chat}, at(70*time.Second))), "queued")
	wantKinds(t, e.Tick(at(94*time.Second)))
	evs = e.Tick(at(96 * time.Second))
	wantKinds(t, evs, "agent_state:a", "offered:a")
	if evs[0].From != WrapUp || evs[0].To != Available || evs[0].Reason != ReasonWrapUpOver {
		t.Errorf("state event %+v", evs[0])
	}
	a := agentOf(t, e, "a")
	if !a.IdleSince.Equal(at(95*time.Second)) || a.TalkToday != time.Minute || a.ContactsToday != 1 {
		t.Errorf("agent %+v: want idle since the end of wrap-up, 1 min talk, 1 contact", a)
	}
	if st := e.Snapshot().Stats["q"]; st != (QueueStats{Ended: 1, HandleTime: time.Minute}) {
		t.Errorf("queue stats %+v", st)
	}
	e.ResetDay()
	if a := agentOf(t, e, "a"); a.TalkToday != 0 || a.ContactsToday != 0 || len(e.Snapshot().Stats) != 0 {
		t.Errorf("after ResetDay: %+v", a)
	}
}

// TestEngineOfferTimeout checks that an unanswered offer goes to the next
// agent and is not offered to the first again.
func TestEngineOfferTimeout(t *testing.T) {
	q := newQueue("q", LongestIdle, "a", "b")
	q.OfferTimeout = 15 * time.Second
	e := newEngine(t, Config{}, []Queue{q}, "a")
	must(t)(e.SetAgent(Profile{ID: "b", ChatSlots: 1}, at(time.Second)))
	must(t)(e.SetAgentState("b", Available, at(time.Second))) // idle for less time than a

	wantKinds(t, must(t)(e.Arrive(Arrival{ID: "c1", Queue: "q", Media: Voice}, at(2*time.Second))), "queued", "offered:a")
	wantKinds(t, e.Tick(at(16*time.Second)))
	evs := e.Tick(at(17 * time.Second))
	wantKinds(t, evs, "missed:a", "offered:b")
	if evs[0].Reason != ReasonTimeout {
		t.Errorf("missed reason %q", evs[0].Reason)
	}
	if a := agentOf(t, e, "a"); a.MissedOffers != 1 {
		t.Errorf("a missed %d offers, want 1", a.MissedOffers)
	}
	if _, err := e.Accept("c1", "a", at(18*time.Second)); !errors.Is(err, ErrNotOffered) {
		t.Errorf("accept of a timed-out offer: %v, want ErrNotOffered", err)
	}
	// b lets it time out too: nobody is left, the contact waits.
	wantKinds(t, e.Tick(at(40*time.Second)), "missed:b")
	if st := e.Status("c1"); st != StatusWaiting {
		t.Errorf("status %q, want waiting", st)
	}
	// An accept reached after the expiry, before any tick, is too late.
	wantKinds(t, must(t)(e.Arrive(Arrival{ID: "c2", Queue: "q", Media: Voice}, at(41*time.Second))), "queued", "offered:a")
	evs, err := e.Accept("c2", "a", at(56*time.Second))
	if !errors.Is(err, ErrNotOffered) {
		t.Errorf("late accept: %v, want ErrNotOffered", err)
	}
	wantKinds(t, evs, "missed:a", "offered:b")
	if a := agentOf(t, e, "a"); a.MissedOffers != 2 {
		t.Errorf("a missed %d offers in a row, want 2", a.MissedOffers)
	}
}

// TestEngineAutoPause checks pausing after missed offers in a row.
func TestEngineAutoPause(t *testing.T) {
	tests := []struct {
		after      int
		pausedAt   int // offer missed when paused; 0 never
		answeredAt int // offer answered, which resets the count; 0 none
	}{
		{after: 0},
		{after: 1, pausedAt: 1},
		{after: 3, pausedAt: 3},
		{after: 3, answeredAt: 2, pausedAt: 5},
	}
	for _, tt := range tests {
		q := newQueue("q", LongestIdle, "a")
		q.OfferTimeout = 10 * time.Second
		e := newEngine(t, Config{AutoPauseAfter: tt.after}, []Queue{q}, "a")
		now := t0
		paused := 0
		for i := 1; i <= 6 && paused == 0; i++ {
			id := ContactID(rune('0' + i))
			evs := must(t)(e.Arrive(Arrival{ID: id, Queue: "q", Media: Voice}, now))
			if _, ok := has(evs, EventOffered, id); !ok {
				t.Fatalf("after %d: offer %d not made: %v", tt.after, i, kinds(evs))
			}
			if i == tt.answeredAt {
				must(t)(e.Accept(id, "a", now.Add(time.Second)))
				must(t)(e.End(id, now.Add(2*time.Second)))
				now = now.Add(time.Minute)
				continue
			}
			now = now.Add(10 * time.Second)
			evs = e.Tick(now)
			if ev, ok := has(evs, EventAgentState, ""); ok {
				if ev.To != Paused || ev.Reason != ReasonMissed {
					t.Errorf("after %d: state event %+v", tt.after, ev)
				}
				paused = i
			}
			if _, err := e.Leave(id, now); err != nil {
				t.Fatal(err)
			}
			now = now.Add(time.Minute)
		}
		if paused != tt.pausedAt {
			t.Errorf("AutoPauseAfter %d: paused at offer %d, want %d", tt.after, paused, tt.pausedAt)
		}
		if paused > 0 {
			wantKinds(t, must(t)(e.Arrive(Arrival{ID: "late", Queue: "q", Media: Voice}, now)), "queued")
			wantKinds(t, must(t)(e.SetAgentState("a", Available, now)), "agent_state:a", "offered:a")
			if a := agentOf(t, e, "a"); a.MissedOffers != 0 {
				t.Errorf("missed offers %d after becoming available, want 0", a.MissedOffers)
			}
		}
	}
}

// TestEngineWrapUp checks wrap-up: no new offers, pending offers stand,
// overlapping wrap-ups extend it, and the agent can end it early.
func TestEngineWrapUp(t *testing.T) {
	q := newQueue("q", LongestIdle, "a")
	q.WrapUp, q.OfferTimeout = time.Minute, time.Hour
	e := newEngine(t, Config{}, []Queue{q}, "a")
	for _, id := range []ContactID{"c1", "c2", "c3"} {
		must(t)(e.Arrive(Arrival{ID: id, Queue: "q", Media: Chat}, t0))
	}
	must(t)(e.Accept("c1", "a", t0))
	must(t)(e.Accept("c2", "a", t0))
	wantKinds(t, must(t)(e.End("c1", at(10*time.Second))), "ended:a", "wrap_up:a")
	evs := must(t)(e.End("c2", at(20*time.Second)))
	wantKinds(t, evs, "ended:a", "wrap_up:a")
	if !evs[1].Until.Equal(at(80 * time.Second)) {
		t.Errorf("wrap-up until %v, want extended to t0+80s", evs[1].Until)
	}
	// c3's offer, made before, still rings and can be answered.
	wantKinds(t, must(t)(e.Accept("c3", "a", at(30*time.Second))), "answered:a")
	wantKinds(t, must(t)(e.Arrive(Arrival{ID: "c4", Queue: "q", Media: Chat}, at(31*time.Second))), "queued")
	evs = must(t)(e.SetAgentState("a", Available, at(40*time.Second)))
	wantKinds(t, evs, "agent_state:a", "offered:a")
	if a := agentOf(t, e, "a"); !a.WrapUntil.IsZero() {
		t.Errorf("wrap-up until %v after ending it early", a.WrapUntil)
	}
	if _, err := e.SetAgentState("a", WrapUp, at(41*time.Second)); !errors.Is(err, ErrState) {
		t.Errorf("setting wrap-up by hand: %v, want ErrState", err)
	}
}

// TestEngineRingAll checks that a declined ring-all offer keeps ringing at
// the others and an accepted one is withdrawn from them.
func TestEngineRingAll(t *testing.T) {
	e := newEngine(t, Config{}, []Queue{newQueue("q", RingAll, "a", "b", "c")}, "a", "b", "c")
	evs := must(t)(e.Arrive(Arrival{ID: "c1", Queue: "q", Media: Video}, t0))
	if ev, _ := has(evs, EventOffered, "c1"); !slices.Equal(ev.Agents, []AgentID{"a", "b", "c"}) {
		t.Fatalf("offered to %v, want a, b, c", ev.Agents)
	}
	wantKinds(t, must(t)(e.Decline("c1", "b", at(time.Second))), "declined:b")
	if c := contactOf(t, e, "c1"); !slices.Equal(c.OfferedTo, []AgentID{"a", "c"}) {
		t.Errorf("still offered to %v, want a and c", c.OfferedTo)
	}
	evs = must(t)(e.Accept("c1", "c", at(2*time.Second)))
	wantKinds(t, evs, "withdrawn:a", "answered:c")
	if evs[0].Reason != ReasonAnswered {
		t.Errorf("withdrawn because %q", evs[0].Reason)
	}
	if _, err := e.Accept("c1", "a", at(3*time.Second)); !errors.Is(err, ErrNotOffered) {
		t.Errorf("second accept: %v, want ErrNotOffered", err)
	}
	holders := 0
	for _, a := range e.Snapshot().Agents {
		for _, x := range a.Active {
			if x.Contact == "c1" {
				holders++
			}
		}
	}
	if holders != 1 {
		t.Errorf("%d agents hold c1, want 1", holders)
	}
}

// TestEngineOverflow checks max wait overflow to each target through the
// engine.
func TestEngineOverflow(t *testing.T) {
	main, backup := newQueue("main", LongestIdle), newQueue("backup", LongestIdle, "b")
	main.MaxWait = 2 * time.Minute
	main.Members = []Member{{Agent: "a"}}

	t.Run("to a queue", func(t *testing.T) {
		main := main
		main.Overflow = Overflow{To: ToQueue, Queue: "backup"}
		e := newEngine(t, Config{}, []Queue{main, backup}, "b")
		must(t)(e.Arrive(Arrival{ID: "c1", Queue: "main", Media: Chat}, t0))
		evs := e.Tick(at(2 * time.Minute))
		wantKinds(t, evs, "overflowed", "offered:b")
		if evs[0].Queue != "main" || evs[0].Target.Queue != "backup" || evs[0].Reason != ReasonMaxWait || evs[0].Wait != 2*time.Minute {
			t.Errorf("overflow event %+v", evs[0])
		}
		if evs[1].Queue != "backup" {
			t.Errorf("offered in %q, want backup", evs[1].Queue)
		}
	})
	t.Run("to a message", func(t *testing.T) {
		main := main
		main.Overflow = Overflow{To: ToMessage}
		e := newEngine(t, Config{}, []Queue{main, backup})
		must(t)(e.Arrive(Arrival{ID: "c1", Queue: "main", Media: Chat}, t0))
		wantKinds(t, e.Tick(at(119*time.Second)))
		wantKinds(t, e.Tick(at(121*time.Second)), "overflowed")
		if st := e.Status("c1"); st != "" {
			t.Errorf("status %q, want gone", st)
		}
	})
	t.Run("to a callback keeping the place", func(t *testing.T) {
		main := main
		main.Overflow = Overflow{To: ToCallback}
		e := newEngine(t, Config{}, []Queue{main, backup})
		must(t)(e.SetAgent(Profile{ID: "a"}, t0))
		must(t)(e.Arrive(Arrival{ID: "c1", Queue: "main", Media: Chat}, t0))
		must(t)(e.Arrive(Arrival{ID: "c2", Queue: "main", Media: Voice}, at(time.Minute)))
		wantKinds(t, e.Tick(at(2*time.Minute)), "overflowed")
		c := contactOf(t, e, "c1")
		if !c.Callback || c.Media != Voice || c.Queue != "main" || !c.Arrived.Equal(t0) {
			t.Errorf("callback request %+v", c)
		}
		// c2 overflows later; the callback request does not time out again.
		wantKinds(t, e.Tick(at(3*time.Minute)), "overflowed")
		wantKinds(t, e.Tick(at(time.Hour)))
		// An agent comes: c1, first in line, is offered first.
		evs := must(t)(e.SetAgentState("a", Available, at(time.Hour)))
		wantKinds(t, evs, "agent_state:a", "offered:a")
		if evs[1].Contact != "c1" {
			t.Errorf("offered %s first, want c1", evs[1].Contact)
		}
	})
}

// TestEngineMaxLength checks that an arrival to a full queue overflows at
// once.
func TestEngineMaxLength(t *testing.T) {
	q := newQueue("q", LongestIdle)
	q.MaxLength, q.Overflow = 2, Overflow{To: ToMessage}
	e := newEngine(t, Config{}, []Queue{q})
	wantKinds(t, must(t)(e.Arrive(Arrival{ID: "c1", Queue: "q", Media: Chat}, t0)), "queued")
	wantKinds(t, must(t)(e.Arrive(Arrival{ID: "c2", Queue: "q", Media: Chat}, t0)), "queued")
	evs := must(t)(e.Arrive(Arrival{ID: "c3", Queue: "q", Media: Chat}, t0))
	wantKinds(t, evs, "queued", "overflowed")
	if evs[1].Contact != "c3" || evs[1].Reason != ReasonQueueFull {
		t.Errorf("overflow %+v, want c3 for a full queue", evs[1])
	}
	must(t)(e.Leave("c1", at(time.Second)))
	wantKinds(t, must(t)(e.Arrive(Arrival{ID: "c4", Queue: "q", Media: Chat}, at(time.Second))), "queued")
}

// TestEngineBusinessHours checks closing time in the queue's time zone,
// arrivals while closed, and a callback request kept overnight.
func TestEngineBusinessHours(t *testing.T) {
	newYork := load(t, "America/New_York")
	local := func(day, h, m int) time.Time { return time.Date(2026, 1, day, h, m, 0, 0, newYork) }
	q := newQueue("q", LongestIdle, "a")
	q.Hours = officeHours(newYork)

	t.Run("closing", func(t *testing.T) {
		e := newEngine(t, Config{}, []Queue{q})
		must(t)(e.SetAgent(Profile{ID: "a"}, t0))
		must(t)(e.Arrive(Arrival{ID: "c1", Queue: "q", Media: Voice}, local(5, 16, 58)))
		wantKinds(t, e.Tick(local(5, 16, 59)))
		evs := e.Tick(local(5, 17, 0)) // 22:00 UTC
		wantKinds(t, evs, "closed")
		if evs[0].Reason != ReasonClosed || evs[0].Wait != 2*time.Minute {
			t.Errorf("closed event %+v", evs[0])
		}
		wantKinds(t, must(t)(e.Arrive(Arrival{ID: "c2", Queue: "q", Media: Voice}, local(5, 17, 30))), "queued", "closed")
	})
	t.Run("callback overnight", func(t *testing.T) {
		q := q
		q.AfterHours = Overflow{To: ToCallback}
		e := newEngine(t, Config{}, []Queue{q})
		must(t)(e.SetAgent(Profile{ID: "a"}, t0))
		must(t)(e.SetAgentState("a", Available, local(5, 20, 0)))
		evs := must(t)(e.Arrive(Arrival{ID: "c1", Queue: "q", Media: Chat}, local(5, 20, 0)))
		wantKinds(t, evs, "queued", "overflowed")
		wantKinds(t, e.Tick(local(6, 8, 59)))
		wantKinds(t, e.Tick(local(6, 9, 0)), "offered:a")
	})
}

// TestEngineLeave checks abandoning while waiting and offered, and leaving
// during the contact.
func TestEngineLeave(t *testing.T) {
	e := newEngine(t, Config{}, []Queue{newQueue("ring", RingAll, "a", "b"), newQueue("none", LongestIdle)}, "a", "b")
	must(t)(e.Arrive(Arrival{ID: "w", Queue: "none", Media: Chat}, t0))
	evs := must(t)(e.Leave("w", at(time.Minute)))
	wantKinds(t, evs, "abandoned")
	if evs[0].Wait != time.Minute {
		t.Errorf("abandoned after %v, want 1m", evs[0].Wait)
	}
	must(t)(e.Arrive(Arrival{ID: "o", Queue: "ring", Media: Chat}, t0))
	wantKinds(t, must(t)(e.Leave("o", at(time.Second))), "withdrawn:a", "withdrawn:b", "abandoned")
	must(t)(e.Arrive(Arrival{ID: "p", Queue: "ring", Media: Chat}, t0))
	must(t)(e.Accept("p", "a", t0))
	evs = must(t)(e.Leave("p", at(time.Minute)))
	wantKinds(t, evs, "ended:a")
	if evs[0].Reason != ReasonVisitorLeft {
		t.Errorf("ended because %q", evs[0].Reason)
	}
	if _, err := e.Leave("p", at(time.Minute)); !errors.Is(err, ErrUnknownContact) {
		t.Errorf("leaving twice: %v, want ErrUnknownContact", err)
	}
}

// TestEngineAgentAway checks that pausing withdraws offers and going
// offline puts contacts in progress back in line, for another agent.
func TestEngineAgentAway(t *testing.T) {
	q := newQueue("q", LongestIdle, "a", "b")
	e := newEngine(t, Config{}, []Queue{q}, "a")
	must(t)(e.SetAgent(Profile{ID: "b", ChatSlots: 3}, t0))
	must(t)(e.Arrive(Arrival{ID: "c1", Queue: "q", Media: Voice, Priority: 2, Skills: Skills{"x": 0}}, t0))
	must(t)(e.Arrive(Arrival{ID: "c2", Queue: "q", Media: Chat}, t0))
	// c1 needs a skill nobody has: it waits. c2 rings at a.
	evs := must(t)(e.SetAgentState("a", Paused, at(time.Second)))
	wantKinds(t, evs, "withdrawn:a", "agent_state:a")
	if evs[0].Reason != ReasonAgentAway {
		t.Errorf("withdrawn because %q", evs[0].Reason)
	}
	must(t)(e.SetAgentState("a", Available, at(2*time.Second)))
	must(t)(e.Accept("c2", "a", at(3*time.Second)))
	must(t)(e.SetAgentState("b", Available, at(4*time.Second)))
	evs = must(t)(e.SetAgentState("a", Offline, at(5*time.Second)))
	wantKinds(t, evs, "requeued:a", "agent_state:a", "offered:b")
	c := contactOf(t, e, "c2")
	if !c.Arrived.Equal(t0) || !slices.Equal(c.Refused, []AgentID{"a"}) || !slices.Equal(c.OfferedTo, []AgentID{"b"}) {
		t.Errorf("requeued contact %+v", c)
	}
	if c1 := contactOf(t, e, "c1"); c1.Priority != 2 || c1.Skills == nil {
		t.Errorf("c1 %+v lost its priority or skills", c1)
	}
}

// TestEngineSticky checks that a returning visitor is offered to their last
// agent, waits for them while busy, and falls back after StickyWait.
func TestEngineSticky(t *testing.T) {
	q := newQueue("q", LongestIdle, "a", "b")
	q.StickyWait = 30 * time.Second
	e := newEngine(t, Config{}, []Queue{q}, "a", "b")
	// First visit goes to a (longest idle by id), who later takes a call.
	must(t)(e.Arrive(Arrival{ID: "first", Queue: "q", Media: Voice, Visitor: "v1"}, t0))
	must(t)(e.Accept("first", "a", t0))
	must(t)(e.End("first", at(time.Minute)))
	// Back again: b has been idle longer, but a is the last agent.
	evs := must(t)(e.Arrive(Arrival{ID: "second", Queue: "q", Media: Voice, Visitor: "v1"}, at(2*time.Minute)))
	if ev, _ := has(evs, EventOffered, "second"); ev.Agent != "a" || !ev.Sticky {
		t.Fatalf("offer %+v, want sticky to a", ev)
	}
	must(t)(e.Accept("second", "a", at(2*time.Minute)))
	must(t)(e.End("second", at(3*time.Minute)))
	// a goes busy for a while: the visitor waits for them, then gets b.
	must(t)(e.SetAgentState("a", Busy, at(3*time.Minute)))
	wantKinds(t, must(t)(e.Arrive(Arrival{ID: "third", Queue: "q", Media: Voice, Visitor: "v1"}, at(4*time.Minute))), "queued")
	wantKinds(t, e.Tick(at(4*time.Minute+29*time.Second)))
	evs = e.Tick(at(4*time.Minute + 30*time.Second))
	if ev, _ := has(evs, EventOffered, "third"); ev.Agent != "b" || ev.Sticky {
		t.Errorf("offer %+v, want b after the sticky wait", ev)
	}
}
