package routing

import (
	"slices"
	"time"
)

// Tick brings the engine up to now: offers time out, wrap-ups end, and
// routing runs again for max wait, closing time and sticky fallbacks.
func (e *Engine) Tick(now time.Time) []Event {
	e.begin(now)
	return e.finish(now)
}

// advance applies what time alone does: wrap-ups end, offers time out,
// and agents who missed too many offers are paused.
func (e *Engine) advance(now time.Time) {
	for i := range e.s.Agents {
		a := &e.s.Agents[i]
		if a.State == WrapUp && !now.Before(a.WrapUntil) {
			a.IdleSince = a.WrapUntil
			e.setState(a, Available, ReasonWrapUpOver, now)
		}
	}
	var missed []AgentID
	for i := range e.s.Contacts {
		c := &e.s.Contacts[i]
		if c.Waiting() || now.Before(c.OfferExpires) {
			continue
		}
		for _, id := range c.OfferedTo {
			ev := e.contactEvent(EventMissed, c, now)
			ev.Agent, ev.Reason = id, ReasonTimeout
			e.emit(ev)
			if a, err := e.agent(id); err == nil {
				a.MissedOffers++
				missed = append(missed, id)
			}
		}
		c.Refused = append(c.Refused, c.OfferedTo...)
		c.OfferedTo, c.OfferExpires = nil, time.Time{}
	}
	if e.cfg.AutoPauseAfter == 0 {
		return
	}
	slices.Sort(missed)
	for _, id := range slices.Compact(missed) {
		a, _ := e.agent(id)
		if a.MissedOffers >= e.cfg.AutoPauseAfter && (a.State == Available || a.State == WrapUp) {
			e.withdrawOffers(a.ID, ReasonMissed, now)
			e.setState(a, Paused, ReasonMissed, now)
		}
	}
}

// setState moves an agent to state and says so.
func (e *Engine) setState(a *Agent, state AgentState, why Reason, now time.Time) {
	from := a.State
	a.State = state
	if state != WrapUp {
		a.WrapUntil = time.Time{}
	}
	e.emit(Event{Kind: EventAgentState, At: now, Agent: a.ID, From: from, To: state, Reason: why})
}

// withdrawOffers takes back every offer ringing at agent.
func (e *Engine) withdrawOffers(agent AgentID, why Reason, now time.Time) {
	for i := range e.s.Contacts {
		c := &e.s.Contacts[i]
		if j := slices.Index(c.OfferedTo, agent); j >= 0 {
			e.withdraw(c, j, why, now)
		}
	}
}

// withdraw takes back the offer of c to c.OfferedTo[j].
func (e *Engine) withdraw(c *Contact, j int, why Reason, now time.Time) {
	ev := e.contactEvent(EventWithdrawn, c, now)
	ev.Agent, ev.Reason = c.OfferedTo[j], why
	e.emit(ev)
	c.OfferedTo = slices.Delete(slices.Clone(c.OfferedTo), j, j+1)
	if len(c.OfferedTo) == 0 {
		c.OfferedTo, c.OfferExpires = nil, time.Time{}
	}
}

// route runs Decide and applies its decisions until nothing moves: a
// contact that overflows into another queue (or becomes a callback request)
// is routed there in the next round. Overflow between queues has no cycles
// (ValidateQueues), so this ends.
func (e *Engine) route(now time.Time) {
	for range len(e.s.Queues) + 2 {
		e.s.Seed = e.rng.Uint64()
		ds := Decide(e.s, now)
		if !e.apply(ds, now) {
			return
		}
	}
}

// apply carries out decisions; true if a contact moved into a queue.
func (e *Engine) apply(ds []Decision, now time.Time) (moved bool) {
	for _, d := range ds {
		i, ok := e.contactAt[d.Contact]
		if !ok {
			continue
		}
		c := &e.s.Contacts[i]
		switch d.Kind {
		case Offer:
			c.OfferedTo, c.OfferExpires = d.Agents, d.Expires
			if !d.Sticky {
				e.s.RoundRobin[c.Queue] = d.Agents[len(d.Agents)-1]
			}
			ev := e.contactEvent(EventOffered, c, now)
			ev.Agent, ev.Agents, ev.Until, ev.Sticky = d.Agents[0], d.Agents, d.Expires, d.Sticky
			e.emit(ev)
		case Close:
			ev := e.contactEvent(EventClosed, c, now)
			ev.Reason, ev.Wait = d.Reason, now.Sub(c.Arrived)
			e.emit(ev)
			e.removeContact(c.ID)
		case OverflowContact:
			ev := e.contactEvent(EventOverflowed, c, now)
			ev.Reason, ev.Target, ev.Wait = d.Reason, d.Target, now.Sub(c.Arrived)
			e.emit(ev)
			if e.overflow(c, d.Target, now) {
				moved = true
			}
		}
	}
	return moved
}

// overflow sends c to target; true if it stays in routing.
func (e *Engine) overflow(c *Contact, target Overflow, now time.Time) bool {
	switch target.To {
	case ToQueue:
		c.Queue, c.Enqueued, c.Refused = target.Queue, now, nil
		return true
	case ToCallback:
		if target.Queue != "" && target.Queue != c.Queue {
			c.Queue, c.Refused = target.Queue, nil
		}
		c.Callback, c.Media, c.Enqueued = true, Voice, now
		return true
	default: // ToMessage
		e.removeContact(c.ID)
		return false
	}
}
