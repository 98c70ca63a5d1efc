package routing

import (
	"fmt"
	"slices"
	"time"
)

// Arrival is a visitor asking for an agent.
type Arrival struct {
	ID       ContactID
	Queue    QueueID
	Media    Media
	Visitor  VisitorID // empty for anonymous visitors
	Priority int
	Skills   Skills // needed beyond the queue's own
	// Callback is a "call me back" request made up front: it is routed as
	// voice, keeps its place and is exempt from max wait, max length and
	// closing.
	Callback bool
}

// Arrive puts a visitor in line.
func (e *Engine) Arrive(a Arrival, now time.Time) ([]Event, error) {
	e.begin(now)
	if a.Callback {
		a.Media = Voice
	}
	switch {
	case a.ID == "":
		return e.finish(now), fmt.Errorf("%w: empty id", ErrUnknownContact)
	case e.Status(a.ID) != "":
		return e.finish(now), fmt.Errorf("%w: %s", ErrDuplicate, a.ID)
	case e.queue(a.Queue) == nil:
		return e.finish(now), fmt.Errorf("%w: %s", ErrUnknownQueue, a.Queue)
	}
	if err := a.Media.check(); err != nil {
		return e.finish(now), err
	}
	c := Contact{
		ID: a.ID, Queue: a.Queue, Media: a.Media, Visitor: a.Visitor, Priority: a.Priority,
		Skills: a.Skills.clone(), Arrived: now, Enqueued: now, Callback: a.Callback,
	}
	e.addContact(c)
	e.emit(e.contactEvent(EventQueued, &c, now))
	return e.finish(now), nil
}

// Leave is the visitor going away: a contact not answered yet is abandoned
// (its offers withdrawn); one in progress ends. The widget should not call
// it for a callback request when the page closes: the visitor expects the
// call.
func (e *Engine) Leave(id ContactID, now time.Time) ([]Event, error) {
	e.begin(now)
	if _, ok := e.handler[id]; ok {
		e.end(id, ReasonVisitorLeft, now)
		return e.finish(now), nil
	}
	i, ok := e.contactAt[id]
	if !ok {
		return e.finish(now), fmt.Errorf("%w: %s", ErrUnknownContact, id)
	}
	c := &e.s.Contacts[i]
	for len(c.OfferedTo) > 0 {
		e.withdraw(c, 0, ReasonVisitorLeft, now)
	}
	ev := e.contactEvent(EventAbandoned, c, now)
	ev.Wait = now.Sub(c.Arrived)
	e.emit(ev)
	e.removeContact(id)
	return e.finish(now), nil
}

// offered finds contact id offered to agent.
func (e *Engine) offered(id ContactID, agent AgentID) (*Contact, int, error) {
	if i, ok := e.contactAt[id]; ok {
		c := &e.s.Contacts[i]
		if j := slices.Index(c.OfferedTo, agent); j >= 0 {
			return c, j, nil
		}
	}
	return nil, 0, fmt.Errorf("%w: %s to %s", ErrNotOffered, id, agent)
}

// Accept gives the contact to the agent who accepted its offer; under ring
// all, the offers to the others are withdrawn.
func (e *Engine) Accept(id ContactID, agent AgentID, now time.Time) ([]Event, error) {
	e.begin(now)
	c, j, err := e.offered(id, agent)
	if err != nil {
		return e.finish(now), err
	}
	for k := len(c.OfferedTo) - 1; k >= 0; k-- {
		if k != j {
			e.withdraw(c, k, ReasonAnswered, now)
		}
	}
	a, _ := e.agent(agent)
	a.Active = append(a.Active, Assignment{
		Contact: c.ID, Queue: c.Queue, Media: c.Media, Visitor: c.Visitor, Priority: c.Priority,
		Skills: c.Skills, Callback: c.Callback, Arrived: c.Arrived, Answered: now,
	})
	a.ContactsToday++
	a.MissedOffers = 0
	e.handler[c.ID] = agent
	if c.Visitor != "" {
		e.s.LastAgent[c.Visitor] = agent
	}
	ev := e.contactEvent(EventAnswered, c, now)
	ev.Agent, ev.Wait = agent, now.Sub(c.Arrived)
	e.emit(ev)
	e.removeContact(id)
	return e.finish(now), nil
}

// Decline is the agent turning the offer down. The contact is not offered
// to them again; under ring all it keeps ringing at the others.
func (e *Engine) Decline(id ContactID, agent AgentID, now time.Time) ([]Event, error) {
	e.begin(now)
	c, j, err := e.offered(id, agent)
	if err != nil {
		return e.finish(now), err
	}
	ev := e.contactEvent(EventDeclined, c, now)
	ev.Agent, ev.Reason = agent, ReasonDeclined
	e.emit(ev)
	c.Refused = append(c.Refused, agent)
	c.OfferedTo = slices.Delete(slices.Clone(c.OfferedTo), j, j+1)
	if len(c.OfferedTo) == 0 {
		c.OfferedTo, c.OfferExpires = nil, time.Time{}
	}
	return e.finish(now), nil
}

// End ends a contact in progress; the agent goes into the queue's wrap-up.
func (e *Engine) End(id ContactID, now time.Time) ([]Event, error) {
	e.begin(now)
	if _, ok := e.handler[id]; !ok {
		return e.finish(now), fmt.Errorf("%w: %s", ErrNotInProgress, id)
	}
	e.end(id, ReasonAgent, now)
	return e.finish(now), nil
}

// assignment finds the contact in progress id at its agent.
func (e *Engine) assignment(id ContactID) (*Agent, int) {
	a, _ := e.agent(e.handler[id])
	return a, slices.IndexFunc(a.Active, func(x Assignment) bool { return x.Contact == id })
}

func (e *Engine) end(id ContactID, why Reason, now time.Time) {
	a, i := e.assignment(id)
	x := a.Active[i]
	a.Active = slices.Delete(a.Active, i, i+1)
	delete(e.handler, id)
	handle := now.Sub(x.Answered)
	a.TalkToday += handle
	st := e.s.Stats[x.Queue]
	st.Ended++
	st.HandleTime += handle
	e.s.Stats[x.Queue] = st
	e.emit(Event{Kind: EventEnded, At: now, Contact: id, Queue: x.Queue, Visitor: x.Visitor, Media: x.Media,
		Agent: a.ID, Reason: why, Handle: handle})

	q := e.queue(x.Queue)
	if q == nil || q.WrapUp <= 0 || (a.State != Available && a.State != WrapUp) {
		if a.State == Available {
			a.IdleSince = now
		}
		return
	}
	from, until := a.State, now.Add(q.WrapUp)
	a.State = WrapUp
	if until.After(a.WrapUntil) {
		a.WrapUntil = until
	}
	e.emit(Event{Kind: EventWrapUp, At: now, Contact: id, Queue: x.Queue, Agent: a.ID, Until: a.WrapUntil, From: from, To: WrapUp})
}

// ChangeMedia turns a contact in progress into another media, such as a
// chat into a video call, if the agent has the slot for it.
func (e *Engine) ChangeMedia(id ContactID, m Media, now time.Time) ([]Event, error) {
	e.begin(now)
	if _, ok := e.handler[id]; !ok {
		return e.finish(now), fmt.Errorf("%w: %s", ErrNotInProgress, id)
	}
	if err := m.check(); err != nil {
		return e.finish(now), err
	}
	a, i := e.assignment(id)
	x := &a.Active[i]
	if x.Media == m {
		return e.finish(now), nil
	}
	chats, calls := e.taken(a)
	if slotOf(x.Media) == chatSlot {
		chats--
	} else {
		calls--
	}
	if !a.fits(slotOf(m), chats, calls) {
		return e.finish(now), fmt.Errorf("%w: %s to %s", ErrNoSlot, id, m)
	}
	x.Media = m
	e.emit(Event{Kind: EventMediaChanged, At: now, Contact: id, Queue: x.Queue, Visitor: x.Visitor, Media: m, Agent: a.ID})
	return e.finish(now), nil
}

// taken counts the slots an agent's contacts in progress and offers take.
func (e *Engine) taken(a *Agent) (chats, calls int) {
	chats, calls = a.used()
	for i := range e.s.Contacts {
		c := &e.s.Contacts[i]
		if slices.Contains(c.OfferedTo, a.ID) {
			if slotOf(c.Media) == chatSlot {
				chats++
			} else {
				calls++
			}
		}
	}
	return chats, calls
}

// Reassign hands a contact in progress to another agent (a transfer to a
// colleague): they must be signed in (not offline) and have a free slot
// for its media; routing's choice does not apply, the agent chose. The
// first agent keeps no wrap-up: the contact goes on. Answered keeps its
// time, so handle time counts from the first answer.
func (e *Engine) Reassign(id ContactID, to AgentID, now time.Time) ([]Event, error) {
	e.begin(now)
	from, ok := e.handler[id]
	if !ok {
		return e.finish(now), fmt.Errorf("%w: %s", ErrNotInProgress, id)
	}
	b, err := e.agent(to)
	if err != nil {
		return e.finish(now), err
	}
	if to == from {
		return e.finish(now), nil
	}
	if b.State == Offline {
		return e.finish(now), fmt.Errorf("%w: %s is offline", ErrState, to)
	}
	a, i := e.assignment(id)
	x := a.Active[i]
	chats, calls := e.taken(b)
	if !b.fits(slotOf(x.Media), chats, calls) {
		return e.finish(now), fmt.Errorf("%w: %s to %s", ErrNoSlot, id, to)
	}
	a.Active = slices.Delete(a.Active, i, i+1)
	b.Active = append(b.Active, x)
	b.ContactsToday++
	e.handler[id] = to
	if x.Visitor != "" {
		e.s.LastAgent[x.Visitor] = to
	}
	e.emit(Event{Kind: EventReassigned, At: now, Contact: id, Queue: x.Queue, Visitor: x.Visitor, Media: x.Media, Agent: to,
		Agents: []AgentID{from}})
	return e.finish(now), nil
}
