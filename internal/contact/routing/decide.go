package routing

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"time"
)

// Decide is the routing decision for snapshot s at now: offers of waiting
// contacts to agents, overflows and closings. It is a pure function: it
// reads s (never changes it) and the same s and now give the same
// decisions. No decisions means nothing to do.
//
// Waiting contacts are taken in routing order (queue priority, then contact
// priority, highest first; then arrival, earliest first). First, contacts of
// closed queues close or go to the after-hours target, and contacts past
// their queue's MaxWait overflow. Then each remaining contact, in order, is
// offered to an agent chosen by its queue's strategy among those who can
// take it: members of the queue, Available, with a free slot for its media,
// the queue's and the contact's skills, and who have not refused it. A
// contact nobody can take is skipped, not blocking those behind it. Last,
// contacts entering a queue now (Enqueued equal to now) that find MaxLength
// contacts waiting there overflow.
func Decide(s Snapshot, now time.Time) []Decision {
	p := newPlan(&s, now)
	p.timeOut()
	p.offerAll()
	p.trim()
	return p.out
}

// plan is Decide's working state: slot counts that grow as offers are made,
// so that one round never gives an agent more than their slots.
type plan struct {
	s       *Snapshot
	now     time.Time
	agents  []agentPlan
	agentAt map[AgentID]int
	queues  []queuePlan
	queueAt map[QueueID]int
	order   []int  // waiting contacts (indices into s.Contacts) in routing order
	decided []bool // by contact index: got a decision this round
	free    [2]int // by slot kind: routable agents with a free slot
	rng     *rand.Rand
	cands   []int  // scratch: candidate member indices
	chosen  [1]int // scratch: the member chosen
	out     []Decision
}

type agentPlan struct {
	a             *Agent
	chats, calls  int // slots taken by contacts in progress and offered
	contactsToday int // plus offers made this round
	routable      bool
}

func (ap *agentPlan) load() int { return ap.chats + ap.calls }

func (ap *agentPlan) fits(k slot) bool {
	return ap.routable && ap.a.fits(k, ap.chats, ap.calls)
}

type queuePlan struct {
	q        *Queue
	open     bool
	members  []int           // agent index of each member; -1 if not in the snapshot
	memberAt map[AgentID]int // member index of each agent
	skilled  []bool          // by member: has the queue's skills
	cursor   int             // member offered last (round robin); -1 for none
	// dry is set, by slot kind, once no member could take a contact without
	// skills or refusals of its own: capacity only shrinks within a round,
	// so the next such contact need not look again.
	dry [2]bool
}

func newPlan(s *Snapshot, now time.Time) *plan {
	p := &plan{
		s:       s,
		now:     now,
		agents:  make([]agentPlan, len(s.Agents)),
		agentAt: make(map[AgentID]int, len(s.Agents)),
		queues:  make([]queuePlan, len(s.Queues)),
		queueAt: make(map[QueueID]int, len(s.Queues)),
		decided: make([]bool, len(s.Contacts)),
	}
	for i := range s.Agents {
		a := &s.Agents[i]
		chats, calls := a.used()
		p.agents[i] = agentPlan{a: a, chats: chats, calls: calls, contactsToday: a.ContactsToday, routable: a.State == Available}
		p.agentAt[a.ID] = i
	}
	for i := range s.Contacts {
		c := &s.Contacts[i]
		for _, id := range c.OfferedTo {
			if ai, ok := p.agentAt[id]; ok {
				p.agents[ai].take(slotOf(c.Media))
			}
		}
	}
	for i := range p.agents {
		for _, k := range []slot{chatSlot, callSlot} {
			if p.agents[i].fits(k) {
				p.free[k]++
			}
		}
	}
	for i := range s.Queues {
		p.queues[i] = p.planQueue(&s.Queues[i])
		p.queueAt[s.Queues[i].ID] = i
	}
	p.sortWaiting()
	return p
}

func (p *plan) planQueue(q *Queue) queuePlan {
	qp := queuePlan{
		q:        q,
		open:     q.Open(p.now),
		members:  make([]int, len(q.Members)),
		memberAt: make(map[AgentID]int, len(q.Members)),
		skilled:  make([]bool, len(q.Members)),
		cursor:   -1,
	}
	last, hasLast := p.s.RoundRobin[q.ID]
	for mi, m := range q.Members {
		qp.memberAt[m.Agent] = mi
		ai, ok := p.agentAt[m.Agent]
		if !ok {
			qp.members[mi] = -1
			continue
		}
		qp.members[mi] = ai
		qp.skilled[mi] = p.agents[ai].a.Skills.Covers(q.Skills)
		if hasLast && m.Agent == last {
			qp.cursor = mi
		}
	}
	return qp
}

func (ap *agentPlan) take(k slot) {
	if k == chatSlot {
		ap.chats++
	} else {
		ap.calls++
	}
}

func (p *plan) sortWaiting() {
	type key struct {
		queuePrio, prio int
		arrived         time.Time
		id              ContactID
		i               int
	}
	keys := make([]key, 0, len(p.s.Contacts))
	for i := range p.s.Contacts {
		c := &p.s.Contacts[i]
		qi, ok := p.queueAt[c.Queue]
		if !ok || !c.Waiting() {
			continue
		}
		keys = append(keys, key{p.queues[qi].q.Priority, c.Priority, c.Arrived, c.ID, i})
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := cmp.Compare(b.queuePrio, a.queuePrio); c != 0 {
			return c
		}
		if c := cmp.Compare(b.prio, a.prio); c != 0 {
			return c
		}
		if c := a.arrived.Compare(b.arrived); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	p.order = make([]int, len(keys))
	for i, k := range keys {
		p.order[i] = k.i
	}
}

func (p *plan) queueOf(c *Contact) *queuePlan { return &p.queues[p.queueAt[c.Queue]] }

// timeOut closes or overflows contacts of closed queues and those past max
// wait. Callback requests are exempt: they wait for the queue to open.
func (p *plan) timeOut() {
	for _, ci := range p.order {
		c := &p.s.Contacts[ci]
		if c.Callback {
			continue
		}
		q := p.queueOf(c)
		switch {
		case !q.open && q.q.AfterHours.To == NoOverflow:
			p.decide(ci, Decision{Kind: Close, Reason: ReasonClosed})
		case !q.open:
			p.decide(ci, Decision{Kind: OverflowContact, Reason: ReasonClosed, Target: q.q.AfterHours})
		case q.q.MaxWait > 0 && p.now.Sub(c.Enqueued) >= q.q.MaxWait:
			p.decide(ci, Decision{Kind: OverflowContact, Reason: ReasonMaxWait, Target: q.q.Overflow})
		}
	}
}

func (p *plan) decide(ci int, d Decision) {
	c := &p.s.Contacts[ci]
	d.Contact, d.Queue = c.ID, c.Queue
	p.out = append(p.out, d)
	p.decided[ci] = true
}

func (p *plan) offerAll() {
	for _, ci := range p.order {
		if p.decided[ci] {
			continue
		}
		if q := p.queueOf(&p.s.Contacts[ci]); q.open {
			p.offer(ci, q)
		}
	}
}

func (p *plan) offer(ci int, q *queuePlan) {
	c := &p.s.Contacts[ci]
	k := slotOf(c.Media)
	if p.free[k] == 0 {
		return
	}
	if p.sticky(ci, q, k) {
		return
	}
	if q.dry[k] { // nobody takes a plain contact: nobody takes this one
		return
	}
	plain := len(c.Skills) == 0 && len(c.Refused) == 0
	p.cands = p.cands[:0]
	for mi := range q.members {
		if p.eligible(c, q, mi, k) {
			p.cands = append(p.cands, mi)
		}
	}
	if len(p.cands) == 0 {
		if plain {
			q.dry[k] = true
		}
		return
	}
	p.offerTo(ci, q, p.choose(q), false)
}

// sticky offers a returning visitor to their last agent, or keeps them
// waiting for that agent; false hands the contact to the queue's strategy.
func (p *plan) sticky(ci int, q *queuePlan, k slot) bool {
	c := &p.s.Contacts[ci]
	if q.q.StickyWait <= 0 || c.Visitor == "" {
		return false
	}
	last, ok := p.s.LastAgent[c.Visitor]
	if !ok {
		return false
	}
	mi, ok := q.memberAt[last]
	if !ok || q.members[mi] < 0 {
		return false
	}
	a := &p.agents[q.members[mi]]
	if a.a.State == Offline || !q.skilled[mi] || !a.a.Skills.Covers(c.Skills) || c.refused(last) {
		return false
	}
	if a.fits(k) {
		p.chosen[0] = mi
		p.offerTo(ci, q, p.chosen[:], true)
		return true
	}
	return p.now.Sub(c.Enqueued) < q.q.StickyWait
}

func (p *plan) eligible(c *Contact, q *queuePlan, mi int, k slot) bool {
	ai := q.members[mi]
	if ai < 0 || !q.skilled[mi] {
		return false
	}
	a := &p.agents[ai]
	return a.fits(k) && (len(c.Skills) == 0 || a.a.Skills.Covers(c.Skills)) &&
		(len(c.Refused) == 0 || !c.refused(a.a.ID))
}

// offerTo records an offer of contact ci to the given members.
func (p *plan) offerTo(ci int, q *queuePlan, members []int, sticky bool) {
	c := &p.s.Contacts[ci]
	k := slotOf(c.Media)
	ids := make([]AgentID, len(members))
	for i, mi := range members {
		a := &p.agents[q.members[mi]]
		ids[i] = a.a.ID
		chatBefore, callBefore := a.fits(chatSlot), a.fits(callSlot)
		a.take(k)
		a.contactsToday++
		if chatBefore && !a.fits(chatSlot) {
			p.free[chatSlot]--
		}
		if callBefore && !a.fits(callSlot) {
			p.free[callSlot]--
		}
	}
	if !sticky {
		q.cursor = members[len(members)-1]
	}
	p.decide(ci, Decision{Kind: Offer, Agents: ids, Expires: p.now.Add(q.q.offerTimeout()), Sticky: sticky})
}

// trim overflows the contacts that enter a queue now (arrivals, overflow
// from another queue, requeued contacts) when MaxLength contacts already
// wait there. Contacts already in line are never put out: one coming back
// from a missed offer can take the line over MaxLength for a while.
func (p *plan) trim() {
	var lines map[int][]int // queue index -> waiting contacts
	for _, ci := range p.order {
		c := &p.s.Contacts[ci]
		qi := p.queueAt[c.Queue]
		if p.decided[ci] || c.Callback || p.queues[qi].q.MaxLength == 0 {
			continue
		}
		if lines == nil {
			lines = make(map[int][]int)
		}
		lines[qi] = append(lines[qi], ci)
	}
	for qi := range p.queues { // in queue order, for determinism
		q := p.queues[qi].q
		line := lines[qi]
		if len(line) <= q.MaxLength {
			continue
		}
		slices.SortFunc(line, func(a, b int) int {
			x, y := &p.s.Contacts[a], &p.s.Contacts[b]
			if c := x.Enqueued.Compare(y.Enqueued); c != 0 {
				return c
			}
			if c := x.Arrived.Compare(y.Arrived); c != 0 {
				return c
			}
			return cmp.Compare(x.ID, y.ID)
		})
		for _, ci := range line[q.MaxLength:] {
			if p.s.Contacts[ci].Enqueued.Equal(p.now) {
				p.decide(ci, Decision{Kind: OverflowContact, Reason: ReasonQueueFull, Target: q.Overflow})
			}
		}
	}
}
