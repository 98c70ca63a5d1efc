package routing

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

// TestDecideSkills checks queue and contact skills and their levels.
func TestDecideSkills(t *testing.T) {
	tests := []struct {
		name       string
		queue      Skills
		contact    Skills
		agentSkill Skills
		offered    bool
	}{
		{"no skills needed", nil, nil, nil, true},
		{"queue skill held", Skills{"billing": 0}, nil, Skills{"billing": 1}, true},
		{"queue skill missing", Skills{"billing": 0}, nil, Skills{"sales": 5}, false},
		{"level high enough", Skills{"billing": 2}, nil, Skills{"billing": 2}, true},
		{"level too low", Skills{"billing": 3}, nil, Skills{"billing": 2}, false},
		{"contact skill held", nil, Skills{"german": 1}, Skills{"german": 4}, true},
		{"contact skill missing", Skills{"billing": 0}, Skills{"german": 1}, Skills{"billing": 4}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newQueue("q", LongestIdle, "a")
			q.Skills = tt.queue
			s := Snapshot{
				Queues:   []Queue{q},
				Agents:   []Agent{newAgent("a", skills(tt.agentSkill))},
				Contacts: []Contact{waitingFor("c1", "q", Chat, time.Minute, needs(tt.contact))},
			}
			if _, got := offers(Decide(s, t0))["c1"]; got != tt.offered {
				t.Errorf("offered %v, want %v", got, tt.offered)
			}
		})
	}
}

// TestDecideSlots checks that offers never exceed an agent's chat slots and
// one call slot, counting contacts in progress and offers ringing.
func TestDecideSlots(t *testing.T) {
	tests := []struct {
		name    string
		agent   Agent
		ringing []Media // offers already ringing at the agent
		waiting []Media // waiting contacts, in arrival order
		want    int     // offers made
	}{
		{"chats up to the free slots", newAgent("a", slots(2), handling(Chat)), nil, []Media{Chat, Chat, Chat}, 1},
		{"ringing offers take slots", newAgent("a", slots(3)), []Media{Chat, Chat}, []Media{Chat, Chat}, 1},
		{"no chat slots", newAgent("a", slots(0)), nil, []Media{Chat}, 0},
		{"one call at a time", newAgent("a"), nil, []Media{Voice, Video}, 1},
		{"a ringing call takes the call slot", newAgent("a"), []Media{Video}, []Media{Voice}, 0},
		{"on a call, chats still come", newAgent("a", slots(2), handling(Voice)), nil, []Media{Voice, Chat, Chat, Chat}, 2},
		{"with chats, a call still comes", newAgent("a", slots(2), handling(Chat, Chat)), nil, []Media{Chat, Video}, 1},
		{"exclusive: no chats on a call", newAgent("a", exclusive(), handling(Voice)), nil, []Media{Chat}, 0},
		{"exclusive: no call with chats", newAgent("a", exclusive(), handling(Chat)), nil, []Media{Voice}, 0},
		{"exclusive: a call when free", newAgent("a", exclusive()), nil, []Media{Voice, Chat}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Snapshot{Queues: []Queue{newQueue("q", LongestIdle, "a")}, Agents: []Agent{tt.agent}}
			for i, m := range tt.ringing {
				s.Contacts = append(s.Contacts, waitingFor(ContactID("r"+string(rune('0'+i))), "q", m, time.Hour, offeredTo("a")))
			}
			for i, m := range tt.waiting {
				s.Contacts = append(s.Contacts, waitingFor(ContactID("w"+string(rune('0'+i))), "q", m, time.Duration(10-i)*time.Minute))
			}
			if got := len(offers(Decide(s, t0))); got != tt.want {
				t.Errorf("%d offers, want %d", got, tt.want)
			}
		})
	}
}

// TestDecideAgentStates checks that only available agents get offers.
func TestDecideAgentStates(t *testing.T) {
	for _, st := range []AgentState{Available, Busy, Paused, WrapUp, Offline} {
		s := Snapshot{
			Queues:   []Queue{newQueue("q", LongestIdle, "a")},
			Agents:   []Agent{newAgent("a", state(st))},
			Contacts: []Contact{waitingFor("c1", "q", Chat, time.Minute)},
		}
		if _, got := offers(Decide(s, t0))["c1"]; got != (st == Available) {
			t.Errorf("state %s: offered %v", st, got)
		}
	}
}

// TestDecideOrder checks queue priority, contact priority and arrival.
func TestDecideOrder(t *testing.T) {
	low, high := newQueue("low", LongestIdle, "a"), newQueue("high", LongestIdle, "a")
	high.Priority = 5
	tests := []struct {
		name     string
		contacts []Contact
		want     ContactID
	}{
		{"first come first served",
			[]Contact{waitingFor("late", "low", Voice, time.Minute), waitingFor("early", "low", Voice, 2*time.Minute)}, "early"},
		{"contact priority before arrival",
			[]Contact{waitingFor("early", "low", Voice, 9*time.Minute), waitingFor("vip", "low", Voice, time.Minute, prio(1))}, "vip"},
		{"queue priority before all",
			[]Contact{waitingFor("vip", "low", Voice, 9*time.Minute, prio(9)), waitingFor("h", "high", Voice, time.Minute)}, "h"},
		{"same arrival: lower id",
			[]Contact{waitingFor("y", "low", Voice, time.Minute), waitingFor("x", "low", Voice, time.Minute)}, "x"},
		{"nobody can take the first: the next is not held up",
			[]Contact{waitingFor("german", "low", Voice, 9*time.Minute, needs(Skills{"german": 1})), waitingFor("next", "low", Voice, time.Minute)}, "next"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Snapshot{Queues: []Queue{low, high}, Agents: []Agent{newAgent("a")}, Contacts: tt.contacts}
			got := offers(Decide(s, t0))
			if len(got) != 1 || got[tt.want] == nil {
				t.Errorf("offers %v, want only %s", got, tt.want)
			}
		})
	}
}

// TestDecideRefused checks that a contact is not offered again to an agent
// who declined or missed it.
func TestDecideRefused(t *testing.T) {
	s := Snapshot{
		Queues:   []Queue{newQueue("q", LongestIdle, "a", "b")},
		Agents:   []Agent{newAgent("a", idle(time.Hour)), newAgent("b", idle(time.Minute))},
		Contacts: []Contact{waitingFor("c1", "q", Voice, time.Minute, refusedBy("a"))},
	}
	if got := offers(Decide(s, t0))["c1"]; !slices.Equal(got, []AgentID{"b"}) {
		t.Errorf("offered to %v, want b", got)
	}
	s.Contacts[0].Refused = []AgentID{"a", "b"}
	if ds := Decide(s, t0); len(ds) != 0 {
		t.Errorf("decisions %v, want none", ds)
	}
}

// TestDecideSticky checks routing to a returning visitor's last agent and
// the fallback to the strategy.
func TestDecideSticky(t *testing.T) {
	const wait = 30 * time.Second
	tests := []struct {
		name      string
		last      Agent
		waited    time.Duration
		refused   bool
		member    bool
		want      []AgentID // nil: no offer yet
		wantStick bool
	}{
		{"last agent free", newAgent("last", idle(time.Second)), time.Second, false, true, []AgentID{"last"}, true},
		{"last agent busy: wait for them", newAgent("last", handling(Voice)), 10 * time.Second, false, true, nil, false},
		{"last agent paused: wait for them", newAgent("last", state(Paused)), 10 * time.Second, false, true, nil, false},
		{"last agent busy past the wait: fall back", newAgent("last", handling(Voice)), wait, false, true, []AgentID{"other"}, false},
		{"last agent offline: fall back at once", newAgent("last", state(Offline)), time.Second, false, true, []AgentID{"other"}, false},
		{"last agent refused it: fall back at once", newAgent("last", idle(time.Second)), time.Second, true, true, []AgentID{"other"}, false},
		{"last agent not a member: fall back at once", newAgent("last", idle(time.Second)), time.Second, false, false, []AgentID{"other"}, false},
		{"last agent lacks the skill: fall back at once", newAgent("last", handling(Voice), skills(Skills{})), time.Second, false, true, []AgentID{"other"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newQueue("q", LongestIdle, "other")
			q.StickyWait = wait
			if tt.member {
				q.Members = append(q.Members, Member{Agent: "last"})
			}
			c := waitingFor("c1", "q", Voice, tt.waited, visitor("v1"))
			if tt.refused {
				c.Refused = []AgentID{"last"}
			}
			if tt.name == "last agent lacks the skill: fall back at once" {
				c.Skills = Skills{"german": 1}
			}
			other := newAgent("other", idle(time.Hour), skills(Skills{"german": 1}))
			s := Snapshot{
				Queues: []Queue{q}, Agents: []Agent{other, tt.last}, Contacts: []Contact{c},
				LastAgent: map[VisitorID]AgentID{"v1": "last"},
			}
			ds := Decide(s, t0)
			d, _ := find(ds, "c1")
			if !slices.Equal(d.Agents, tt.want) || d.Sticky != tt.wantStick {
				t.Errorf("decision %+v, want offer to %v (sticky %v)", d, tt.want, tt.wantStick)
			}
		})
	}
}

// TestDecideMaxWait checks overflow after max wait to each target, and
// that offered contacts and callback requests do not overflow.
func TestDecideMaxWait(t *testing.T) {
	for _, target := range []Overflow{{To: ToQueue, Queue: "other"}, {To: ToMessage}, {To: ToCallback}} {
		t.Run(string(target.To), func(t *testing.T) {
			q := newQueue("q", LongestIdle)
			q.MaxWait, q.Overflow = 2*time.Minute, target
			s := Snapshot{
				Queues: []Queue{q, newQueue("other", LongestIdle)},
				Contacts: []Contact{
					waitingFor("due", "q", Chat, 2*time.Minute),
					waitingFor("young", "q", Chat, 119*time.Second),
					waitingFor("ringing", "q", Chat, time.Hour, offeredTo("a")),
					waitingFor("cb", "q", Voice, time.Hour, callback()),
				},
			}
			ds := Decide(s, t0)
			want := []Decision{{Kind: OverflowContact, Contact: "due", Queue: "q", Reason: ReasonMaxWait, Target: target}}
			if !reflect.DeepEqual(ds, want) {
				t.Errorf("decisions %+v, want %+v", ds, want)
			}
		})
	}
}

// TestDecideMaxLength checks that contacts entering a full queue overflow,
// after free agents took what they could, and that nobody already in line
// is put out.
func TestDecideMaxLength(t *testing.T) {
	q := newQueue("q", LongestIdle, "a")
	q.MaxLength, q.Overflow = 2, Overflow{To: ToMessage}
	s := Snapshot{
		Queues: []Queue{q},
		Agents: []Agent{newAgent("a", slots(1), handling(Voice))},
		Contacts: []Contact{
			waitingFor("new2", "q", Chat, 0),
			waitingFor("c1", "q", Chat, 4*time.Minute),
			waitingFor("c3", "q", Chat, 2*time.Minute),
			waitingFor("c2", "q", Chat, 3*time.Minute, prio(3)),
			waitingFor("new1", "q", Chat, 0, prio(9)), // priority does not buy a place in a full queue
			waitingFor("c0", "q", Chat, 9*time.Minute, offeredTo("x")),
			waitingFor("cb", "q", Voice, 30*time.Second, callback()),
		},
	}
	ds := Decide(s, t0)
	// new1 (priority) takes the one free slot; c1, c2 and c3 wait, over the
	// limit, and stay; new2 enters a full queue.
	if got := offers(ds); len(got) != 1 || got["new1"] == nil {
		t.Errorf("offers %v, want new1 only", got)
	}
	d, ok := find(ds, "new2")
	if !ok || d.Kind != OverflowContact || d.Reason != ReasonQueueFull || d.Target.To != ToMessage {
		t.Errorf("new2: %+v, want overflow (queue full) to a message", d)
	}
	if len(ds) != 2 {
		t.Errorf("decisions %+v, want 2", ds)
	}
	// The same line a second later: nobody enters, nobody is put out.
	if ds := Decide(s, t0.Add(time.Second)); len(offers(ds)) != len(ds) {
		t.Errorf("decisions %+v a second later, want offers only", ds)
	}
}

// TestDecideClosed checks closing and after-hours overflow.
func TestDecideClosed(t *testing.T) {
	closed := &Hours{} // no spans: always closed
	for _, target := range []Overflow{{}, {To: ToMessage}, {To: ToCallback}, {To: ToQueue, Queue: "night"}} {
		t.Run("after hours "+string(target.To), func(t *testing.T) {
			q := newQueue("q", LongestIdle, "a")
			q.Hours, q.AfterHours = closed, target
			s := Snapshot{
				Queues: []Queue{q, newQueue("night", LongestIdle)},
				Agents: []Agent{newAgent("a")},
				Contacts: []Contact{
					waitingFor("c1", "q", Chat, time.Minute),
					waitingFor("ringing", "q", Chat, time.Minute, offeredTo("a")),
					waitingFor("cb", "q", Voice, time.Minute, callback()),
				},
			}
			want := Decision{Kind: OverflowContact, Contact: "c1", Queue: "q", Reason: ReasonClosed, Target: target}
			if target.To == NoOverflow {
				want = Decision{Kind: Close, Contact: "c1", Queue: "q", Reason: ReasonClosed}
			}
			if ds := Decide(s, t0); !reflect.DeepEqual(ds, []Decision{want}) {
				t.Errorf("decisions %+v, want %+v", ds, want)
			}
		})
	}
}

// TestDecideOfferExpires checks the offer's expiry from the queue's timeout.
func TestDecideOfferExpires(t *testing.T) {
	q := newQueue("q", LongestIdle, "a")
	s := Snapshot{Queues: []Queue{q}, Agents: []Agent{newAgent("a")}, Contacts: []Contact{waitingFor("c1", "q", Chat, 0)}}
	if d, _ := find(Decide(s, t0), "c1"); !d.Expires.Equal(t0.Add(DefaultOfferTimeout)) {
		t.Errorf("default expiry %v, want %v", d.Expires, t0.Add(DefaultOfferTimeout))
	}
	s.Queues[0].OfferTimeout = 12 * time.Second
	if d, _ := find(Decide(s, t0), "c1"); !d.Expires.Equal(t0.Add(12 * time.Second)) {
		t.Errorf("expiry %v, want t0+12s", d.Expires)
	}
}

// TestDecideIsPure checks that Decide changes nothing in its snapshot and
// repeats itself.
func TestDecideIsPure(t *testing.T) {
	s := benchSnapshot(40, 100, 1)
	before := s.Clone()
	first := Decide(s, t0)
	if !reflect.DeepEqual(s, before) {
		t.Fatal("Decide changed its snapshot")
	}
	if len(first) == 0 {
		t.Fatal("no decisions")
	}
	if again := Decide(s, t0); !reflect.DeepEqual(first, again) {
		t.Fatal("Decide gave different decisions for the same snapshot")
	}
}
