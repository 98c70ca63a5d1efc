package routing

import "time"

// DecisionKind is what Decide wants done with a contact.
type DecisionKind string

const (
	// Offer the contact to Agents (one, or several under ring all) until
	// Expires.
	Offer DecisionKind = "offer"
	// OverflowContact sends the contact to Target, for Reason.
	OverflowContact DecisionKind = "overflow"
	// Close ends the contact because its queue is closed and has no
	// after-hours target: the visitor sees the opening hours.
	Close DecisionKind = "close"
)

// Reason says why something happened to a contact or an agent.
type Reason string

const (
	ReasonMaxWait     Reason = "max_wait"      // waited MaxWait without an offer
	ReasonQueueFull   Reason = "queue_full"    // came when MaxLength were waiting
	ReasonClosed      Reason = "closed"        // the queue is closed
	ReasonDeclined    Reason = "declined"      // the agent declined
	ReasonTimeout     Reason = "timeout"       // the offer timed out
	ReasonAnswered    Reason = "answered"      // another agent answered (ring all)
	ReasonVisitorLeft Reason = "visitor_left"  // the visitor left
	ReasonAgentAway   Reason = "agent_away"    // the agent paused, went busy or offline
	ReasonMissed      Reason = "missed_offers" // paused after too many missed offers
	ReasonWrapUpOver  Reason = "wrap_up_over"  // wrap-up time is over
	ReasonAgent       Reason = "agent"         // the agent chose it
)

// Decision is one thing Decide wants done. No decisions means no change.
type Decision struct {
	Kind    DecisionKind
	Contact ContactID
	Queue   QueueID
	// Offer: the agents to offer to, when the offer expires, and whether it
	// went to the visitor's last agent.
	Agents  []AgentID
	Expires time.Time
	Sticky  bool
	// Overflow and Close: why, and (overflow) where to.
	Reason Reason
	Target Overflow
}
