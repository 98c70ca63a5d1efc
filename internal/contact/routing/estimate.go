package routing

import "time"

// Wait is a contact's place in line and expected wait, for the visitor.
type Wait struct {
	Contact ContactID
	Queue   QueueID
	// Position is 1 for the next contact to be offered; 0 while the
	// contact is being offered.
	Position int
	// Estimate is the expected time until an offer; meaningful only when
	// Known.
	Estimate time.Duration
	// Known is false when no agent serving the queue can take the contact's
	// media now or soon (none available or in wrap-up), or the queue is
	// closed: the widget says so instead of showing a number.
	Known bool
}

// EstimateWait is the wait estimator: with position contacts in line up to
// and including this one, free slots that could take a contact right now,
// serving slots in all (free or not) and the queue's average handle time,
// the expected wait is
//
//	max(0, position - free) * averageHandle / serving
//
// Each of the serving slots frees on average every averageHandle, so the
// line moves by serving/averageHandle contacts per unit of time; the first
// free contacts in line are offered at once. False when serving is 0.
func EstimateWait(position, free, serving int, averageHandle time.Duration) (time.Duration, bool) {
	if serving <= 0 {
		return 0, false
	}
	ahead := position - free
	if ahead <= 0 {
		return 0, true
	}
	return averageHandle * time.Duration(ahead) / time.Duration(serving), true
}

// Waits gives every contact of s its place in line and expected wait at now.
//
// A contact's position counts the waiting contacts of its queue that take
// the same kind of slot (chats, or calls: voice and video) and come first
// in routing order (priority, then arrival), itself included. The slots
// are those of the queue's members with its skills: serving slots belong
// to agents who are available or in wrap-up, free slots to available
// agents with room now. The handle time is the queue's average today,
// or its AssumedHandleTime (DefaultHandleTime) before any contact ended.
// Contacts' own skills, other queues competing for the same agents and
// agents who will come back from a pause are not counted: it is an
// estimate.
func Waits(s Snapshot, now time.Time) []Wait {
	p := newPlan(&s, now)
	type line struct{ free, serving, waiting int }
	lines := make(map[[2]int]*line) // by queue index and slot kind
	out := make([]Wait, 0, len(s.Contacts))
	for _, ci := range p.order {
		c := &s.Contacts[ci]
		qi := p.queueAt[c.Queue]
		q := &p.queues[qi]
		k := slotOf(c.Media)
		l := lines[[2]int{qi, int(k)}]
		if l == nil {
			l = &line{}
			l.free, l.serving = p.slots(q, k)
			lines[[2]int{qi, int(k)}] = l
		}
		l.waiting++
		w := Wait{Contact: c.ID, Queue: c.Queue, Position: l.waiting}
		if q.open {
			fallback := q.q.AssumedHandleTime
			if fallback <= 0 {
				fallback = DefaultHandleTime
			}
			w.Estimate, w.Known = EstimateWait(l.waiting, l.free, l.serving, s.Stats[c.Queue].AverageHandle(fallback))
		}
		out = append(out, w)
	}
	for i := range s.Contacts {
		if c := &s.Contacts[i]; !c.Waiting() {
			out = append(out, Wait{Contact: c.ID, Queue: c.Queue, Known: true})
		}
	}
	return out
}

// slots counts the free and serving slots of kind k among q's skilled
// members.
func (p *plan) slots(q *queuePlan, k slot) (free, serving int) {
	for mi, ai := range q.members {
		if ai < 0 || !q.skilled[mi] {
			continue
		}
		a := &p.agents[ai]
		if a.a.State != Available && a.a.State != WrapUp {
			continue
		}
		capacity, taken := 1, a.calls
		if k == chatSlot {
			capacity, taken = a.a.ChatSlots, a.chats
		}
		serving += capacity
		if a.fits(k) {
			free += capacity - taken
		}
	}
	return free, serving
}
