package routing

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// t0 is a Monday, 10:00 UTC.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// agentOpt changes an agent built by newAgent.
type agentOpt func(*Agent)

// newAgent is an available agent with 3 chat slots, idle since an hour
// before t0.
func newAgent(id AgentID, opts ...agentOpt) Agent {
	a := Agent{Profile: Profile{ID: id, ChatSlots: 3}, State: Available, IdleSince: t0.Add(-time.Hour)}
	for _, o := range opts {
		o(&a)
	}
	return a
}

func idle(d time.Duration) agentOpt { return func(a *Agent) { a.IdleSince = t0.Add(-d) } }
func state(s AgentState) agentOpt   { return func(a *Agent) { a.State = s } }
func slots(n int) agentOpt          { return func(a *Agent) { a.ChatSlots = n } }
func exclusive() agentOpt           { return func(a *Agent) { a.ExclusiveCalls = true } }
func skills(s Skills) agentOpt      { return func(a *Agent) { a.Skills = s } }
func today(n int, talk time.Duration) agentOpt {
	return func(a *Agent) { a.ContactsToday, a.TalkToday = n, talk }
}

// handling gives the agent contacts in progress of the given media.
func handling(ms ...Media) agentOpt {
	return func(a *Agent) {
		for i, m := range ms {
			a.Active = append(a.Active, Assignment{Contact: ContactID(fmt.Sprintf("%s-busy%d", a.ID, i)), Queue: "q", Media: m})
		}
	}
}

// newQueue is a queue with the given members (weight 1).
func newQueue(id QueueID, s Strategy, members ...AgentID) Queue {
	q := Queue{ID: id, Strategy: s}
	for _, m := range members {
		q.Members = append(q.Members, Member{Agent: m})
	}
	return q
}

type contactOpt func(*Contact)

// waitingFor is a contact that arrived ago before t0.
func waitingFor(id ContactID, q QueueID, m Media, ago time.Duration, opts ...contactOpt) Contact {
	c := Contact{ID: id, Queue: q, Media: m, Arrived: t0.Add(-ago), Enqueued: t0.Add(-ago)}
	for _, o := range opts {
		o(&c)
	}
	return c
}

func prio(p int) contactOpt             { return func(c *Contact) { c.Priority = p } }
func visitor(v VisitorID) contactOpt    { return func(c *Contact) { c.Visitor = v } }
func needs(s Skills) contactOpt         { return func(c *Contact) { c.Skills = s } }
func refusedBy(a ...AgentID) contactOpt { return func(c *Contact) { c.Refused = a } }
func callback() contactOpt              { return func(c *Contact) { c.Callback, c.Media = true, Voice } }
func offeredTo(a ...AgentID) contactOpt {
	return func(c *Contact) { c.OfferedTo, c.OfferExpires = a, t0.Add(10*time.Second) }
}

// offers maps each offered contact to its agents.
func offers(ds []Decision) map[ContactID][]AgentID {
	m := make(map[ContactID][]AgentID)
	for _, d := range ds {
		if d.Kind == Offer {
			m[d.Contact] = d.Agents
		}
	}
	return m
}

// find is the decision about contact c, if any.
func find(ds []Decision, c ContactID) (Decision, bool) {
	i := slices.IndexFunc(ds, func(d Decision) bool { return d.Contact == c })
	if i < 0 {
		return Decision{}, false
	}
	return ds[i], true
}

// kinds lists the kinds of events, for comparing sequences.
func kinds(evs []Event) []string {
	var out []string
	for _, e := range evs {
		s := string(e.Kind)
		if e.Agent != "" {
			s += ":" + string(e.Agent)
		}
		out = append(out, s)
	}
	return out
}

// has reports whether evs hold an event of kind about contact c (any
// contact if empty).
func has(evs []Event, kind EventKind, c ContactID) (Event, bool) {
	for _, e := range evs {
		if e.Kind == kind && (c == "" || e.Contact == c) {
			return e, true
		}
	}
	return Event{}, false
}

func must(t *testing.T) func([]Event, error) []Event {
	t.Helper()
	return func(evs []Event, err error) []Event {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
}
