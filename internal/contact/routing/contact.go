package routing

import (
	"slices"
	"time"
)

// Contact is a visitor waiting for an agent: not offered yet, or offered
// and not answered yet. Contacts in progress are Assignments of an agent.
type Contact struct {
	ID       ContactID
	Queue    QueueID
	Media    Media
	Visitor  VisitorID // empty for anonymous visitors: no sticky routing
	Priority int       // higher goes first within the queue
	// Skills are needed beyond the queue's own (a language, a product).
	Skills Skills
	// Arrived is when the visitor first came: their place in line, kept
	// across overflow to another queue and into a callback request.
	Arrived time.Time
	// Enqueued is when the contact entered its current queue: max wait and
	// the sticky wait count from here.
	Enqueued time.Time
	// Callback marks a callback request: the visitor is called back when
	// their turn comes (Media is Voice). Callback requests keep their place
	// but are exempt from max wait, max length and closing.
	Callback bool
	// OfferedTo are the agents the contact is offered to right now: one, or
	// several under ring all. Empty while waiting.
	OfferedTo []AgentID
	// OfferExpires is when the current offer times out.
	OfferExpires time.Time
	// Refused are agents who declined or missed this contact, or dropped it
	// by going offline: it is not offered to them again.
	Refused []AgentID
}

// Waiting reports whether the contact waits for an offer.
func (c *Contact) Waiting() bool { return len(c.OfferedTo) == 0 }

func (c *Contact) refused(a AgentID) bool { return slices.Contains(c.Refused, a) }

func (c Contact) clone() Contact {
	c.Skills = c.Skills.clone()
	c.OfferedTo = slices.Clone(c.OfferedTo)
	c.Refused = slices.Clone(c.Refused)
	return c
}
