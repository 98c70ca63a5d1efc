package routing

import (
	"fmt"
	"time"
)

// SetAgentState is the agent (or presence) changing their state. Any state
// but Available withdraws the offers ringing at them; Offline also puts
// their contacts in progress back in line, at their place, not to be
// offered to them again. WrapUp is the engine's to set: End does.
func (e *Engine) SetAgentState(id AgentID, state AgentState, now time.Time) ([]Event, error) {
	e.begin(now)
	a, err := e.agent(id)
	if err != nil {
		return e.finish(now), err
	}
	if !state.Valid() || state == WrapUp {
		return e.finish(now), fmt.Errorf("%w: %q", ErrState, string(state))
	}
	if a.State == state {
		return e.finish(now), nil
	}
	if state != Available {
		e.withdrawOffers(id, ReasonAgentAway, now)
	}
	if state == Offline {
		e.requeue(a, now)
	}
	if state == Available {
		a.IdleSince, a.MissedOffers = now, 0
	}
	e.setState(a, state, ReasonAgent, now)
	return e.finish(now), nil
}

// requeue puts an agent's contacts in progress back in line. A callback
// goes back as a callback request (voice), whatever it had become.
func (e *Engine) requeue(a *Agent, now time.Time) {
	for _, x := range a.Active {
		delete(e.handler, x.Contact)
		if x.Callback {
			x.Media = Voice
		}
		c := Contact{
			ID: x.Contact, Queue: x.Queue, Media: x.Media, Visitor: x.Visitor, Priority: x.Priority,
			Skills: x.Skills, Arrived: x.Arrived, Enqueued: now, Callback: x.Callback, Refused: []AgentID{a.ID},
		}
		e.addContact(c)
		ev := e.contactEvent(EventRequeued, &c, now)
		ev.Agent, ev.Reason = a.ID, ReasonAgentAway
		e.emit(ev)
	}
	a.Active = nil
}
