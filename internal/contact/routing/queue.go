package routing

import (
	"errors"
	"fmt"
	"time"
)

// Defaults for zero values in a Queue.
const (
	DefaultOfferTimeout = 30 * time.Second
	// DefaultHandleTime is the handle time the estimator assumes before a
	// queue has ended any contact.
	DefaultHandleTime = 3 * time.Minute
)

// Strategy chooses among the agents who can take a contact.
type Strategy string

const (
	// LongestIdle offers to the agent idle longest (oldest IdleSince).
	LongestIdle Strategy = "longest_idle"
	// FewestContacts offers to the agent who answered fewest contacts today.
	FewestContacts Strategy = "fewest_contacts"
	// LeastTalkTime offers to the agent with the least handle time today.
	LeastTalkTime Strategy = "least_talk_time"
	// RoundRobin offers to the next member, in the queue's member order,
	// after the one offered last.
	RoundRobin Strategy = "round_robin"
	// RingAll offers to every agent who can take the contact; the first to
	// accept gets it and the others' offers are withdrawn.
	RingAll Strategy = "ring_all"
	// WeightedRandom picks an agent at random, in proportion to their
	// member weight, from the snapshot's seed.
	WeightedRandom Strategy = "weighted_random"
)

// Valid reports whether s is a known strategy; "" means LongestIdle.
func (s Strategy) Valid() bool {
	switch s {
	case "", LongestIdle, FewestContacts, LeastTalkTime, RoundRobin, RingAll, WeightedRandom:
		return true
	}
	return false
}

// OverflowKind is where a contact goes when it leaves a queue unserved.
type OverflowKind string

const (
	// NoOverflow: nowhere (for AfterHours: the contact is closed: the
	// visitor sees the opening hours).
	NoOverflow OverflowKind = ""
	// ToQueue moves the contact to another queue, keeping its place (its
	// arrival time orders it there too).
	ToQueue OverflowKind = "queue"
	// ToMessage ends routing: the visitor is asked to leave a message.
	ToMessage OverflowKind = "message"
	// ToCallback turns the contact into a callback request (voice) that
	// keeps the visitor's place, in Overflow.Queue or, if empty, the same
	// queue. The visitor may leave the page.
	ToCallback OverflowKind = "callback"
)

// Overflow is a target for contacts that leave a queue unserved.
type Overflow struct {
	To    OverflowKind
	Queue QueueID // ToQueue: required; ToCallback: optional
}

// Member is an agent serving a queue.
type Member struct {
	Agent AgentID
	// Weight is the agent's share under WeightedRandom; 0 means 1.
	Weight int
}

func (m Member) weight() int {
	if m.Weight <= 0 {
		return 1
	}
	return m.Weight
}

// Queue is how one queue routes. Zero values mean: longest idle, default
// offer timeout, no wrap-up, no max wait or length, no stickiness, always
// open.
type Queue struct {
	ID QueueID
	// Priority orders queues for agents who serve several: every waiting
	// contact of a higher-priority queue is considered before any contact
	// of a lower one.
	Priority int
	// Skills are needed by every contact of the queue.
	Skills   Skills
	Members  []Member
	Strategy Strategy
	// StickyWait turns on sticky routing: a returning visitor is offered
	// to the agent they last talked to; if that agent is busy, paused or in
	// wrap-up the contact waits for them up to StickyWait after entering the
	// queue, then goes to the queue's strategy. It goes there at once when
	// the agent is offline, is not a member, lacks the skills, or refused
	// the contact.
	StickyWait time.Duration
	// OfferTimeout is how long an offer rings before it counts as missed.
	OfferTimeout time.Duration
	// WrapUp is how long an agent stays in wrap-up after a contact of this
	// queue ends.
	WrapUp time.Duration
	// MaxWait is how long a contact waits for an offer before it overflows.
	MaxWait time.Duration
	// MaxLength caps the contacts waiting for an offer (offered contacts
	// and callback requests do not count): a contact entering the queue
	// when MaxLength wait overflows. Contacts already in line are never put
	// out; one coming back from a missed offer may take the line over.
	MaxLength int
	// Overflow is where contacts go on MaxWait or MaxLength; required when
	// either is set.
	Overflow Overflow
	// Hours are the opening hours; nil means always open.
	Hours *Hours
	// AfterHours is where contacts go when the queue is closed; NoOverflow
	// closes them (the visitor sees the opening hours).
	AfterHours Overflow
	// AssumedHandleTime is what the wait estimator assumes before the queue
	// ended any contact today; 0 means DefaultHandleTime.
	AssumedHandleTime time.Duration
}

func (q *Queue) strategy() Strategy {
	if q.Strategy == "" {
		return LongestIdle
	}
	return q.Strategy
}

func (q *Queue) offerTimeout() time.Duration {
	if q.OfferTimeout <= 0 {
		return DefaultOfferTimeout
	}
	return q.OfferTimeout
}

// Open reports whether the queue takes contacts at t.
func (q *Queue) Open(t time.Time) bool { return q.Hours.Open(t) }

// Validate checks one queue on its own; ValidateQueues also checks the
// references between queues.
func (q *Queue) Validate() error {
	if q.ID == "" {
		return errors.New("routing: queue without an id")
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("routing: queue %s: %s", q.ID, fmt.Sprintf(format, args...))
	}
	if !q.Strategy.Valid() {
		return fail("unknown strategy %q", string(q.Strategy))
	}
	for name, d := range map[string]time.Duration{
		"sticky wait": q.StickyWait, "offer timeout": q.OfferTimeout, "wrap-up": q.WrapUp,
		"max wait": q.MaxWait, "assumed handle time": q.AssumedHandleTime,
	} {
		if d < 0 {
			return fail("%s %v is negative", name, d)
		}
	}
	if q.MaxLength < 0 {
		return fail("max length %d is negative", q.MaxLength)
	}
	seen := make(map[AgentID]bool, len(q.Members))
	for _, m := range q.Members {
		if m.Agent == "" {
			return fail("member without an agent id")
		}
		if seen[m.Agent] {
			return fail("agent %s is a member twice", m.Agent)
		}
		seen[m.Agent] = true
		if m.Weight < 0 {
			return fail("agent %s has weight %d, want 0 or more", m.Agent, m.Weight)
		}
	}
	if (q.MaxWait > 0 || q.MaxLength > 0) && q.Overflow.To == NoOverflow {
		return fail("max wait or max length needs an overflow target")
	}
	if err := q.Overflow.check(q.ID); err != nil {
		return fail("overflow: %v", err)
	}
	if err := q.AfterHours.check(q.ID); err != nil {
		return fail("after hours: %v", err)
	}
	if err := q.Hours.Validate(); err != nil {
		return fail("%v", err)
	}
	return nil
}

func (o Overflow) check(self QueueID) error {
	switch o.To {
	case NoOverflow, ToMessage:
		if o.Queue != "" {
			return fmt.Errorf("target %q takes no queue", string(o.To))
		}
	case ToQueue:
		if o.Queue == "" {
			return errors.New("overflow to a queue needs the queue")
		}
		if o.Queue == self {
			return errors.New("overflow to itself")
		}
	case ToCallback:
	default:
		return fmt.Errorf("unknown target %q (want queue, message or callback)", string(o.To))
	}
	return nil
}

// ValidateQueues checks every queue, that ids are unique, that overflow
// targets exist, and that overflow to queues never comes back round (a
// contact could bounce for ever).
func ValidateQueues(queues []Queue) error {
	byID := make(map[QueueID]*Queue, len(queues))
	for i := range queues {
		q := &queues[i]
		if err := q.Validate(); err != nil {
			return err
		}
		if byID[q.ID] != nil {
			return fmt.Errorf("routing: queue %s is defined twice", q.ID)
		}
		byID[q.ID] = q
	}
	for _, q := range queues {
		for _, o := range []Overflow{q.Overflow, q.AfterHours} {
			if o.Queue != "" && byID[o.Queue] == nil {
				return fmt.Errorf("routing: queue %s overflows to unknown queue %s", q.ID, o.Queue)
			}
		}
	}
	// Depth-first search for a cycle over ToQueue edges.
	const (
		unvisited = iota
		onPath
		finished
	)
	mark := make(map[QueueID]int, len(queues))
	var visit func(id QueueID) error
	visit = func(id QueueID) error {
		switch mark[id] {
		case onPath:
			return fmt.Errorf("routing: overflow from queue %s comes back to it", id)
		case finished:
			return nil
		}
		mark[id] = onPath
		q := byID[id]
		for _, o := range []Overflow{q.Overflow, q.AfterHours} {
			if o.To == ToQueue {
				if err := visit(o.Queue); err != nil {
					return err
				}
			}
		}
		mark[id] = finished
		return nil
	}
	for _, q := range queues {
		if err := visit(q.ID); err != nil {
			return err
		}
	}
	return nil
}

func (q Queue) clone() Queue {
	q.Skills = q.Skills.clone()
	q.Members = append([]Member(nil), q.Members...)
	if q.Hours != nil {
		h := q.Hours.clone()
		q.Hours = &h
	}
	return q
}
