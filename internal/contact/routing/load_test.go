package routing

import (
	"container/heap"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestEngineLoad sends 500 visitors within a simulated minute to a queue of
// 20 simulated agents with random handle times, and checks that every
// visitor is served or overflowed according to the queue's rules, none lost
// and none offered twice at once.
//
// The agents have 3 chat slots and the call slot; they answer an offer
// after 1 to 8 s, decline 5% and let 5% time out (3 misses in a row pause
// them; they come back 30 s later); a contact lasts 20 s to 4 min.
func TestEngineLoad(t *testing.T) {
	const (
		visitors  = 500
		agents    = 20
		maxWait   = 3 * time.Minute
		maxLength = 150
		timeout   = 15 * time.Second
	)
	q := Queue{
		ID: "support", Strategy: LongestIdle, OfferTimeout: timeout, WrapUp: 10 * time.Second,
		MaxWait: maxWait, MaxLength: maxLength, Overflow: Overflow{To: ToMessage},
	}
	for i := range agents {
		q.Members = append(q.Members, Member{Agent: AgentID(fmt.Sprintf("agent%02d", i))})
	}
	e, err := NewEngine(Config{AutoPauseAfter: 3, Seed: 1}, []Queue{q})
	if err != nil {
		t.Fatal(err)
	}
	sim := &simulation{t: t, e: e, rng: rand.New(rand.NewPCG(5, 5)), contacts: map[ContactID]*simContact{}}
	for _, m := range q.Members {
		sim.handle(e.SetAgent(Profile{ID: m.Agent, ChatSlots: 3}, t0))
		sim.handle(e.SetAgentState(m.Agent, Available, t0))
	}
	for i := range visitors {
		id := ContactID(fmt.Sprintf("v%03d", i))
		media := Chat
		if i%5 == 0 {
			media = Voice
		}
		sim.at(t0.Add(time.Duration(sim.rng.Int64N(int64(time.Minute)))), func() {
			sim.contacts[id] = &simContact{arrived: sim.now}
			sim.handle(e.Arrive(Arrival{ID: id, Queue: "support", Media: media}, sim.now))
		})
	}
	for s := time.Duration(0); s < 2*time.Hour; s += time.Second {
		sim.at(t0.Add(s), func() { sim.handle(e.Tick(sim.now), nil) })
	}
	sim.run(func() bool { return len(sim.contacts) == visitors && sim.done == visitors })

	// Every visitor was served or overflowed by the rules.
	var served, full, late int
	var waits []time.Duration
	for id, c := range sim.contacts {
		switch {
		case c.answered && c.overflow == "":
			served++
			waits = append(waits, c.wait)
			if c.wait > maxWait+timeout {
				t.Errorf("%s answered after %v, past max wait and an offer", id, c.wait)
			}
		case c.overflow == ReasonQueueFull:
			full++
			if c.wait != 0 || c.lineAhead < maxLength {
				t.Errorf("%s put out as queue full after %v with %d in line", id, c.wait, c.lineAhead)
			}
		case c.overflow == ReasonMaxWait:
			late++
			if c.wait < maxWait || c.wait > maxWait+timeout+time.Second {
				t.Errorf("%s overflowed for max wait after %v", id, c.wait)
			}
		default:
			t.Errorf("%s neither served nor overflowed: %+v", id, c)
		}
	}
	if served+full+late != visitors {
		t.Errorf("served %d + overflowed %d + %d = %d, want %d", served, full, late, served+full+late, visitors)
	}
	if served == 0 || full == 0 || late == 0 {
		t.Errorf("served %d, overflowed full %d, late %d: want some of each, or the test proves little", served, full, late)
	}
	slices.Sort(waits)
	var total time.Duration
	for _, w := range waits {
		total += w
	}
	t.Logf("%d visitors in a minute, %d agents: served %d, overflowed %d (queue full %d, max wait %d); "+
		"wait of those served: avg %v, median %v, max %v; offers %d (declined %d, missed %d), auto-pauses %d; all done after %v",
		visitors, agents, served, full+late, full, late,
		(total / time.Duration(len(waits))).Round(time.Millisecond), waits[len(waits)/2].Round(time.Millisecond),
		waits[len(waits)-1].Round(time.Millisecond), sim.offers, sim.declined, sim.missed, sim.pauses, sim.now.Sub(t0).Round(time.Second))
}

// simulation runs an Engine against simulated visitors and agents, in the
// order of a simulated clock.
type simulation struct {
	t                                *testing.T
	e                                *Engine
	rng                              *rand.Rand
	now                              time.Time
	queue                            actions
	seq                              int
	contacts                         map[ContactID]*simContact
	done                             int // contacts ended or overflowed
	offers, declined, missed, pauses int
}

type simContact struct {
	arrived   time.Time
	ringing   bool
	answered  bool
	ended     bool
	overflow  Reason
	wait      time.Duration
	lineAhead int // waiting in the queue when it overflowed
}

type action struct {
	at  time.Time
	seq int
	do  func()
}

type actions []action

func (a actions) Len() int { return len(a) }
func (a actions) Less(i, j int) bool {
	if !a[i].at.Equal(a[j].at) {
		return a[i].at.Before(a[j].at)
	}
	return a[i].seq < a[j].seq
}
func (a actions) Swap(i, j int) { a[i], a[j] = a[j], a[i] }
func (a *actions) Push(x any)   { *a = append(*a, x.(action)) }
func (a *actions) Pop() any {
	old := *a
	x := old[len(old)-1]
	*a = old[:len(old)-1]
	return x
}

func (s *simulation) at(t time.Time, do func()) {
	s.seq++
	heap.Push(&s.queue, action{at: t, seq: s.seq, do: do})
}

func (s *simulation) run(finished func() bool) {
	for s.queue.Len() > 0 && !finished() {
		a := heap.Pop(&s.queue).(action)
		s.now = a.at
		a.do()
	}
	if !finished() {
		s.t.Fatalf("simulation ran out of time: %d contacts done", s.done)
	}
}

func (s *simulation) after(lo, hi time.Duration) time.Time {
	return s.now.Add(lo + time.Duration(s.rng.Int64N(int64(hi-lo))))
}

// handle plays the agents' part in what the engine did.
func (s *simulation) handle(evs []Event, err error) {
	s.t.Helper()
	if err != nil && !errors.Is(err, ErrNotOffered) {
		s.t.Fatal(err)
	}
	for _, ev := range evs {
		c := s.contacts[ev.Contact]
		switch ev.Kind {
		case EventOffered:
			if c.ringing || c.answered || len(ev.Agents) != 1 {
				s.t.Fatalf("%s offered to %v while ringing %v, answered %v", ev.Contact, ev.Agents, c.ringing, c.answered)
			}
			c.ringing = true
			s.offers++
			agent, id := ev.Agent, ev.Contact
			switch r := s.rng.IntN(100); {
			case r < 90:
				s.at(s.after(time.Second, 8*time.Second), func() { s.handle(s.e.Accept(id, agent, s.now)) })
			case r < 95:
				s.at(s.after(time.Second, 8*time.Second), func() { s.handle(s.e.Decline(id, agent, s.now)) })
			}
		case EventDeclined:
			c.ringing = false
			s.declined++
		case EventMissed, EventWithdrawn:
			c.ringing = false
			s.missed++
		case EventAnswered:
			c.ringing, c.answered, c.wait = false, true, ev.Wait
			id := ev.Contact
			s.at(s.after(20*time.Second, 4*time.Minute), func() { s.handle(s.e.End(id, s.now)) })
		case EventEnded:
			c.ended = true
			s.done++
		case EventOverflowed:
			if c.ringing || c.answered {
				s.t.Fatalf("%s overflowed while ringing or answered", ev.Contact)
			}
			c.overflow, c.wait = ev.Reason, ev.Wait
			for _, w := range s.e.s.Contacts {
				if w.Waiting() && !w.Callback {
					c.lineAhead++
				}
			}
			s.done++
		case EventAgentState:
			if ev.Reason == ReasonMissed {
				s.pauses++
				agent := ev.Agent
				s.at(s.now.Add(30*time.Second), func() { s.handle(s.e.SetAgentState(agent, Available, s.now)) })
			}
		case EventAbandoned, EventClosed, EventRequeued:
			s.t.Fatalf("unexpected %s", ev.Kind)
		}
	}
}
