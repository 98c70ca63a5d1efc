package routing

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// benchSnapshot has agents agents in 10 queues (each agent serves 3), half
// of them with a chat in hand, and waiting contacts spread over the queues,
// a fifth of them calls, some needing a language.
func benchSnapshot(agents, waiting int, seed uint64) Snapshot {
	rng := rand.New(rand.NewPCG(seed, 1))
	strategies := []Strategy{LongestIdle, FewestContacts, LeastTalkTime, RoundRobin, WeightedRandom}
	s := Snapshot{LastAgent: map[VisitorID]AgentID{}, RoundRobin: map[QueueID]AgentID{}, Seed: seed}
	for i := range 10 {
		q := newQueue(QueueID(fmt.Sprintf("q%d", i)), strategies[i%len(strategies)])
		q.Priority = i % 3
		q.StickyWait = 20 * time.Second
		s.Queues = append(s.Queues, q)
	}
	langs := []string{"en", "de", "fr"}
	for i := range agents {
		id := AgentID(fmt.Sprintf("agent%03d", i))
		a := newAgent(id, idle(time.Duration(rng.IntN(3600))*time.Second), today(rng.IntN(40), time.Duration(rng.IntN(7200))*time.Second),
			skills(Skills{langs[i%3]: 1 + rng.IntN(3)}))
		if i%2 == 0 {
			a = newAgent(id, idle(time.Duration(rng.IntN(3600))*time.Second), handling(Chat), skills(Skills{langs[i%3]: 2}))
		}
		s.Agents = append(s.Agents, a)
		for k := range 3 {
			q := &s.Queues[(i+k*3)%10]
			q.Members = append(q.Members, Member{Agent: id, Weight: 1 + rng.IntN(3)})
		}
	}
	for i := range waiting {
		m := Chat
		if i%5 == 0 {
			m = Voice
		}
		c := waitingFor(ContactID(fmt.Sprintf("c%04d", i)), QueueID(fmt.Sprintf("q%d", rng.IntN(10))), m,
			time.Duration(rng.IntN(600))*time.Second, prio(rng.IntN(2)), visitor(VisitorID(fmt.Sprintf("v%d", i))))
		if i%7 == 0 {
			c.Skills = Skills{langs[rng.IntN(3)]: 2}
		}
		if i%11 == 0 {
			s.LastAgent[c.Visitor] = s.Agents[rng.IntN(agents)].ID
		}
		s.Contacts = append(s.Contacts, c)
	}
	return s
}

// BenchmarkDecide routes 1000 waiting contacts over 200 agents.
func BenchmarkDecide(b *testing.B) {
	s := benchSnapshot(200, 1000, 7)
	b.Logf("%d offers", len(offers(Decide(s, t0))))
	b.ReportAllocs()
	for b.Loop() {
		Decide(s, t0)
	}
}

// BenchmarkDecideFull is the steady state of a busy centre: 1000 waiting,
// every agent's slots taken, nothing to offer.
func BenchmarkDecideFull(b *testing.B) {
	s := benchSnapshot(200, 1000, 7)
	for i := range s.Agents {
		s.Agents[i].ChatSlots = len(s.Agents[i].Active)
		s.Agents[i].Active = append(s.Agents[i].Active, Assignment{Contact: "call", Media: Voice})
	}
	if n := len(Decide(s, t0)); n != 0 {
		b.Fatalf("%d decisions, want none", n)
	}
	b.ReportAllocs()
	for b.Loop() {
		Decide(s, t0)
	}
}
