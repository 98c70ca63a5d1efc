package routing

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestEngineRandomWalks runs thousands of random event sequences (visitors
// arriving and leaving, agents changing state, offers answered, declined
// and timing out, contacts ending and changing media, time passing) over
// random queue settings, and checks after every step that:
//   - no contact is offered to two agents at once except under ring all,
//     and a ring-all contact ends up with exactly one agent;
//   - no contact is offered twice, or offered again while ringing;
//   - no agent holds more contacts (in progress and ringing) than slots;
//   - no contact is lost: every arrival is waiting, offered, in progress,
//     ended, abandoned, overflowed to a message or closed, exactly once,
//     and the engine agrees with a ledger kept from its events;
//   - the rules hold: nobody waits past max wait or in a closed queue
//     (callback requests aside), nobody enters a queue over max length,
//     offers ring only at available agents or agents in wrap-up, and Decide
//     has nothing left to do (the engine routed everything it could).
func TestEngineRandomWalks(t *testing.T) {
	walks, steps := 2000, 250
	if testing.Short() {
		walks = 200
	}
	outcomes := map[string]int{}
	for seed := range uint64(walks) {
		w := newWorld(t, seed)
		for w.step = 0; w.step < steps; w.step++ {
			w.act()
			w.check()
		}
		for k, v := range w.counts {
			outcomes[k] += v
		}
	}
	t.Logf("%d walks of %d steps: %v", walks, steps, outcomes)
	for _, k := range []string{"ended", "abandoned", "overflowed", "closed", "in_progress", "waiting"} {
		if outcomes[k] == 0 {
			t.Errorf("no walk ever reached %q: the walk does not explore enough", k)
		}
	}
}

type world struct {
	t        *testing.T
	seed     uint64
	step     int
	rng      *rand.Rand
	e        *Engine
	now      time.Time // the walk's clock
	last     time.Time // the time of the engine's last call: what it knows
	queues   map[QueueID]Queue
	agents   []AgentID
	visitors []VisitorID
	nextID   int
	ledger   map[ContactID]*entry
	counts   map[string]int // contacts by ledger status
}

// entry is what the events said about a contact.
type entry struct {
	status  string // waiting, offered, in_progress, or where it left routing
	queue   QueueID
	offered []AgentID
	agent   AgentID
}

func newWorld(t *testing.T, seed uint64) *world {
	rng := rand.New(rand.NewPCG(seed, 2))
	w := &world{
		t: t, seed: seed, rng: rng, now: t0,
		queues: map[QueueID]Queue{}, ledger: map[ContactID]*entry{}, counts: map[string]int{},
		visitors: []VisitorID{"v1", "v2", "v3", "v4", "", ""},
	}
	strategies := []Strategy{LongestIdle, FewestContacts, LeastTalkTime, RoundRobin, RingAll, WeightedRandom}
	pick := func(ds ...time.Duration) time.Duration { return ds[rng.IntN(len(ds))] }
	blink := &Hours{} // open 4 minutes in every 5
	for d := range blink.Week {
		for m := Clock(0); m < endOfDay; m += 5 {
			blink.Week[d] = append(blink.Week[d], Span{m, m + 4})
		}
	}
	afterHours := []Overflow{{}, {To: ToMessage}, {To: ToCallback}}[rng.IntN(3)]
	queues := []Queue{
		{ID: "general", Strategy: strategies[rng.IntN(6)], StickyWait: pick(0, 20*time.Second),
			OfferTimeout: pick(5*time.Second, 20*time.Second), WrapUp: pick(0, 5*time.Second, 20*time.Second),
			MaxLength: 1 + rng.IntN(5), Overflow: Overflow{To: ToCallback}},
		{ID: "ring", Strategy: RingAll, OfferTimeout: 10 * time.Second, WrapUp: pick(0, 10*time.Second),
			MaxWait: pick(time.Minute, 2*time.Minute), Overflow: Overflow{To: ToQueue, Queue: "general"}},
		{ID: "vip", Priority: 5, Skills: Skills{"vip": 1}, Strategy: strategies[rng.IntN(6)], StickyWait: pick(0, 30*time.Second),
			MaxWait: 45 * time.Second, Overflow: Overflow{To: ToQueue, Queue: "general"}},
		{ID: "day", Strategy: strategies[rng.IntN(6)], Hours: blink, AfterHours: afterHours,
			MaxWait: pick(0, 90*time.Second), Overflow: Overflow{To: ToMessage}},
	}
	n := 3 + rng.IntN(5)
	for i := range n {
		w.agents = append(w.agents, AgentID(fmt.Sprintf("a%d", i)))
	}
	for i := range queues {
		for _, a := range w.agents {
			if rng.IntN(10) < 6 {
				queues[i].Members = append(queues[i].Members, Member{Agent: a, Weight: rng.IntN(4)})
			}
		}
		w.queues[queues[i].ID] = queues[i]
	}
	e, err := NewEngine(Config{AutoPauseAfter: rng.IntN(4), Seed: seed}, queues)
	if err != nil {
		t.Fatal(err)
	}
	w.e = e
	for _, a := range w.agents {
		p := Profile{ID: a, ChatSlots: rng.IntN(4), ExclusiveCalls: rng.IntN(3) == 0}
		if rng.IntN(2) == 0 {
			p.Skills = Skills{"vip": rng.IntN(3)}
		}
		w.apply(e.SetAgent(p, w.now))
		w.apply(e.SetAgentState(a, Available, w.now))
	}
	return w
}

func (w *world) fail(format string, args ...any) {
	w.t.Helper()
	w.t.Fatalf("seed %d step %d at %v: %s", w.seed, w.step, w.now.Sub(t0), fmt.Sprintf(format, args...))
}

// live lists the ledger's contacts in one of the statuses, sorted.
func (w *world) live(statuses ...string) []ContactID {
	var ids []ContactID
	for id, en := range w.ledger {
		if slices.Contains(statuses, en.status) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func (w *world) any(ids []ContactID) (ContactID, bool) {
	if len(ids) == 0 {
		return "", false
	}
	return ids[w.rng.IntN(len(ids))], true
}

// act does one random thing.
func (w *world) act() {
	w.now = w.now.Add(time.Duration(w.rng.IntN(3000)) * time.Millisecond)
	e, r := w.e, w.rng.IntN(100)
	switch {
	case r < 28:
		w.nextID++
		a := Arrival{
			ID:       ContactID(fmt.Sprintf("c%d", w.nextID)),
			Queue:    []QueueID{"general", "ring", "vip", "day"}[w.rng.IntN(4)],
			Media:    []Media{Chat, Chat, Voice, Video}[w.rng.IntN(4)],
			Visitor:  w.visitors[w.rng.IntN(len(w.visitors))],
			Priority: w.rng.IntN(3),
			Callback: w.rng.IntN(20) == 0,
		}
		if w.rng.IntN(5) == 0 {
			a.Skills = Skills{"vip": w.rng.IntN(3)}
		}
		w.apply(e.Arrive(a, w.now))
	case r < 34:
		if id, ok := w.any(w.live("waiting", "offered", "in_progress")); ok {
			w.apply(e.Leave(id, w.now))
		}
	case r < 46:
		a := w.agents[w.rng.IntN(len(w.agents))]
		st := []AgentState{Available, Available, Available, Busy, Paused, Offline}[w.rng.IntN(6)]
		w.apply(e.SetAgentState(a, st, w.now))
	case r < 66:
		if id, ok := w.any(w.live("offered")); ok {
			agents := w.ledger[id].offered
			evs, err := e.Accept(id, agents[w.rng.IntN(len(agents))], w.now)
			w.apply(evs, err, ErrNotOffered) // may have timed out just now
		}
	case r < 72:
		if id, ok := w.any(w.live("offered")); ok {
			agents := w.ledger[id].offered
			evs, err := e.Decline(id, agents[w.rng.IntN(len(agents))], w.now)
			w.apply(evs, err, ErrNotOffered)
		}
	case r < 86:
		if id, ok := w.any(w.live("in_progress")); ok {
			w.apply(e.End(id, w.now))
		}
	case r < 90:
		if id, ok := w.any(w.live("in_progress")); ok {
			evs, err := e.ChangeMedia(id, []Media{Chat, Voice, Video}[w.rng.IntN(3)], w.now)
			w.apply(evs, err, ErrNoSlot)
		}
	case r < 92:
		if id, ok := w.any(w.live("in_progress")); ok {
			evs, err := e.Reassign(id, w.agents[w.rng.IntN(len(w.agents))], w.now)
			w.apply(evs, err, ErrNoSlot, ErrState)
		}
	default:
		w.now = w.now.Add(time.Duration(w.rng.IntN(20)) * time.Second)
		w.apply(e.Tick(w.now), nil)
	}
}

// apply records the events of one call; allowed are errors that may happen.
func (w *world) apply(evs []Event, err error, allowed ...error) {
	w.last = w.now
	w.t.Helper()
	if err != nil && !slices.ContainsFunc(allowed, func(a error) bool { return a != nil && errors.Is(err, a) }) {
		w.fail("unexpected error: %v", err)
	}
	for _, ev := range evs {
		w.record(ev)
	}
}

func (w *world) setStatus(en *entry, status string) {
	if en.status != "" {
		w.counts[en.status]--
	}
	en.status = status
	w.counts[status]++
}

// record updates the ledger from one event, checking that it may happen.
func (w *world) record(ev Event) {
	w.t.Helper()
	en := w.ledger[ev.Contact]
	need := func(statuses ...string) {
		w.t.Helper()
		if en == nil || !slices.Contains(statuses, en.status) {
			w.fail("%s event for %s in state %+v", ev.Kind, ev.Contact, en)
		}
	}
	switch ev.Kind {
	case EventQueued:
		if en != nil {
			w.fail("%s queued twice", ev.Contact)
		}
		en = &entry{queue: ev.Queue}
		w.ledger[ev.Contact] = en
		w.counts["arrived"]++
		w.setStatus(en, "waiting")
	case EventOffered:
		need("waiting") // never offered again while ringing
		if len(ev.Agents) == 0 || (len(ev.Agents) > 1 && w.queues[ev.Queue].Strategy != RingAll) {
			w.fail("%s offered to %v in queue %s", ev.Contact, ev.Agents, ev.Queue)
		}
		en.offered = slices.Clone(ev.Agents)
		w.setStatus(en, "offered")
	case EventDeclined, EventMissed, EventWithdrawn:
		need("offered")
		i := slices.Index(en.offered, ev.Agent)
		if i < 0 {
			w.fail("%s: %s was not offered to %s", ev.Kind, ev.Contact, ev.Agent)
		}
		en.offered = slices.Delete(en.offered, i, i+1)
		if len(en.offered) == 0 {
			w.setStatus(en, "waiting")
		}
	case EventAnswered:
		need("offered")
		if !slices.Equal(en.offered, []AgentID{ev.Agent}) {
			w.fail("%s answered by %s while still offered to %v", ev.Contact, ev.Agent, en.offered)
		}
		en.offered, en.agent = nil, ev.Agent
		w.setStatus(en, "in_progress")
	case EventAbandoned:
		need("waiting")
		w.setStatus(en, "abandoned")
	case EventClosed:
		need("waiting")
		w.setStatus(en, "closed")
	case EventOverflowed:
		need("waiting")
		switch ev.Target.To {
		case ToMessage:
			w.setStatus(en, "overflowed")
		case ToQueue:
			en.queue = ev.Target.Queue
		case ToCallback:
			if ev.Target.Queue != "" {
				en.queue = ev.Target.Queue
			}
		default:
			w.fail("overflow to %+v", ev.Target)
		}
	case EventRequeued:
		need("in_progress")
		if en.agent != ev.Agent {
			w.fail("%s requeued from %s, held by %s", ev.Contact, ev.Agent, en.agent)
		}
		en.agent = ""
		w.setStatus(en, "waiting")
	case EventEnded:
		need("in_progress")
		w.setStatus(en, "ended")
	case EventMediaChanged:
		need("in_progress")
	case EventReassigned:
		need("in_progress")
		if len(ev.Agents) != 1 || en.agent != ev.Agents[0] {
			w.fail("%s reassigned from %v, held by %s", ev.Contact, ev.Agents, en.agent)
		}
		en.agent = ev.Agent
	}
}

// check compares the engine with the ledger and the rules.
func (w *world) check() {
	w.t.Helper()
	s := w.e.s // read in place: a copy per step would cost most of the test's time
	seen := map[ContactID]bool{}
	agentState := map[AgentID]AgentState{}
	for _, a := range s.Agents {
		agentState[a.ID] = a.State
	}
	type use struct{ chats, calls int }
	used := map[AgentID]*use{}
	for _, a := range w.agents {
		used[a] = &use{}
	}
	take := func(a AgentID, m Media) {
		if slotOf(m) == chatSlot {
			used[a].chats++
		} else {
			used[a].calls++
		}
	}
	waitingIn, enteringIn := map[QueueID]int{}, map[QueueID]int{}
	for _, c := range s.Contacts {
		if seen[c.ID] {
			w.fail("%s twice in the snapshot", c.ID)
		}
		seen[c.ID] = true
		en := w.ledger[c.ID]
		want := "waiting"
		if !c.Waiting() {
			want = "offered"
		}
		if en == nil || en.status != want || en.queue != c.Queue || !slices.Equal(en.offered, c.OfferedTo) {
			w.fail("contact %+v, ledger %+v", c, en)
		}
		if got := w.e.Status(c.ID); string(got) != want {
			w.fail("Status(%s) = %q, want %q", c.ID, got, want)
		}
		q := w.queues[c.Queue]
		if len(c.OfferedTo) > 1 && q.Strategy != RingAll {
			w.fail("%s offered to %v in %s queue %s", c.ID, c.OfferedTo, q.Strategy, q.ID)
		}
		for i, a := range c.OfferedTo {
			if slices.Contains(c.OfferedTo[i+1:], a) {
				w.fail("%s offered to %s twice", c.ID, a)
			}
			if st := agentState[a]; st != Available && st != WrapUp {
				w.fail("%s rings at %s, who is %s", c.ID, a, st)
			}
			take(a, c.Media)
		}
		if c.Callback && c.Media != Voice {
			w.fail("callback request %s is %s", c.ID, c.Media)
		}
		if c.Waiting() && !c.Callback {
			if !q.Open(w.last) {
				w.fail("%s waits in closed queue %s", c.ID, q.ID)
			}
			if q.MaxWait > 0 && w.last.Sub(c.Enqueued) >= q.MaxWait {
				w.fail("%s waited %v in %s, past max wait %v", c.ID, w.last.Sub(c.Enqueued), q.ID, q.MaxWait)
			}
			waitingIn[q.ID]++
			if c.Enqueued.Equal(w.last) {
				enteringIn[q.ID]++
			}
		}
	}
	for id, n := range waitingIn {
		if q := w.queues[id]; q.MaxLength > 0 && n > q.MaxLength && enteringIn[id] > 0 {
			w.fail("%d waiting in %s, %d of them came in now: max length %d", n, id, enteringIn[id], q.MaxLength)
		}
	}
	for _, a := range s.Agents {
		if a.State == Offline && len(a.Active) > 0 {
			w.fail("offline agent %s holds %d contacts", a.ID, len(a.Active))
		}
		for _, x := range a.Active {
			if seen[x.Contact] {
				w.fail("%s held twice, or held and waiting", x.Contact)
			}
			seen[x.Contact] = true
			if en := w.ledger[x.Contact]; en == nil || en.status != "in_progress" || en.agent != a.ID {
				w.fail("%s held by %s, ledger %+v", x.Contact, a.ID, en)
			}
			if w.e.Status(x.Contact) != StatusInProgress {
				w.fail("Status(%s) = %q, want in progress", x.Contact, w.e.Status(x.Contact))
			}
			take(a.ID, x.Media)
		}
		u := used[a.ID]
		if u.chats > a.ChatSlots || u.calls > 1 || (a.ExclusiveCalls && u.chats > 0 && u.calls > 0) {
			w.fail("agent %s (%d chat slots, exclusive %v) holds %d chats and %d calls",
				a.ID, a.ChatSlots, a.ExclusiveCalls, u.chats, u.calls)
		}
	}
	live := w.counts["waiting"] + w.counts["offered"] + w.counts["in_progress"]
	if live != len(seen) {
		w.fail("%d contacts in the engine, %d live in the ledger", len(seen), live)
	}
	left := w.counts["ended"] + w.counts["abandoned"] + w.counts["overflowed"] + w.counts["closed"]
	if w.counts["arrived"] != live+left {
		w.fail("%d arrived, %d live and %d left: contacts lost", w.counts["arrived"], live, left)
	}
	if ds := Decide(s, w.last); len(ds) > 0 {
		w.fail("Decide still has %+v to do", ds)
	}
}
