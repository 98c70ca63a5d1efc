package routing

import "time"

// EventKind names what happened, for webhooks, statistics and the consoles.
type EventKind string

const (
	EventQueued       EventKind = "queued"        // a visitor arrived in a queue
	EventOffered      EventKind = "offered"       // offered to Agents until Until
	EventDeclined     EventKind = "declined"      // Agent declined the offer
	EventMissed       EventKind = "missed"        // Agent let the offer time out
	EventWithdrawn    EventKind = "withdrawn"     // Agent's offer was taken back (Reason)
	EventAnswered     EventKind = "answered"      // Agent accepted; Wait since arrival
	EventAbandoned    EventKind = "abandoned"     // the visitor left before an answer
	EventOverflowed   EventKind = "overflowed"    // left Queue for Target (Reason)
	EventClosed       EventKind = "closed"        // the queue is closed (no after-hours target)
	EventRequeued     EventKind = "requeued"      // back in line: Agent went offline during it
	EventMediaChanged EventKind = "media_changed" // a contact in progress changed Media
	EventReassigned   EventKind = "reassigned"    // a contact in progress went to Agent from Agents[0] (a transfer)
	EventEnded        EventKind = "ended"         // a contact in progress ended; Handle time
	EventWrapUp       EventKind = "wrap_up"       // Agent is in wrap-up until Until
	EventAgentState   EventKind = "agent_state"   // Agent went From To (Reason)
)

// Event is something the engine did or saw. Fields not used by a kind are
// zero.
type Event struct {
	Kind    EventKind
	At      time.Time
	Contact ContactID
	Queue   QueueID // for overflowed, the queue the contact left
	Visitor VisitorID
	Media   Media
	Agent   AgentID
	Agents  []AgentID // offered: every agent the contact rings
	Sticky  bool      // offered to the visitor's last agent
	Reason  Reason
	Target  Overflow      // overflowed: where to
	Wait    time.Duration // answered, abandoned, overflowed, closed: since the visitor arrived
	Handle  time.Duration // ended: since answered
	Until   time.Time     // offered: offer expiry; wrap_up: end of wrap-up
	From    AgentState    // agent_state, wrap_up
	To      AgentState
}
