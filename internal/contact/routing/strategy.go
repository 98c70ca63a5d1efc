package routing

import (
	"cmp"
	"math/rand/v2"
)

// choose picks, by the queue's strategy, the members to offer to among the
// candidates in p.cands (member indices in member order, not empty). The
// result is valid until the next call.
func (p *plan) choose(q *queuePlan) []int {
	switch q.q.strategy() {
	case RingAll:
		return p.cands
	case RoundRobin:
		p.chosen[0] = p.nextInTurn(q)
	case WeightedRandom:
		p.chosen[0] = p.weighted(q)
	default:
		p.chosen[0] = p.best(q)
	}
	return p.chosen[:]
}

// nextInTurn is the first candidate after the member offered last, wrapping
// round.
func (p *plan) nextInTurn(q *queuePlan) int {
	for _, mi := range p.cands {
		if mi > q.cursor {
			return mi
		}
	}
	return p.cands[0]
}

// weighted draws a candidate with probability proportional to its weight.
func (p *plan) weighted(q *queuePlan) int {
	if p.rng == nil {
		p.rng = rand.New(rand.NewPCG(p.s.Seed, 0x9e3779b97f4a7c15))
	}
	total := 0
	for _, mi := range p.cands {
		total += q.q.Members[mi].weight()
	}
	r := p.rng.IntN(total)
	for _, mi := range p.cands {
		r -= q.q.Members[mi].weight()
		if r < 0 {
			return mi
		}
	}
	return p.cands[len(p.cands)-1]
}

// best is the candidate ranked first by the queue's strategy.
func (p *plan) best(q *queuePlan) int {
	s := q.q.strategy()
	best := p.cands[0]
	for _, mi := range p.cands[1:] {
		if rank(s, &p.agents[q.members[mi]], &p.agents[q.members[best]]) < 0 {
			best = mi
		}
	}
	return best
}

// rank orders agents for the ranking strategies: fewer contacts in hand
// first (in progress and offered, so a round spreads work and chat agents
// are filled evenly), then the strategy's own measure, then longest idle,
// then id.
func rank(s Strategy, x, y *agentPlan) int {
	if c := cmp.Compare(x.load(), y.load()); c != 0 {
		return c
	}
	switch s {
	case FewestContacts:
		if c := cmp.Compare(x.contactsToday, y.contactsToday); c != 0 {
			return c
		}
	case LeastTalkTime:
		if c := cmp.Compare(x.a.TalkToday, y.a.TalkToday); c != 0 {
			return c
		}
	}
	if c := x.a.IdleSince.Compare(y.a.IdleSince); c != 0 {
		return c
	}
	return cmp.Compare(x.a.ID, y.a.ID)
}
