package routing

// Identifiers. They are opaque strings chosen by the caller (the contact
// layer uses UUIDs for contacts, account IDs for agents, the widget's queue
// name for queues, and the widget's visitor id for visitors).
type (
	QueueID   string
	AgentID   string
	ContactID string
	VisitorID string
)

// Skills maps a skill name ("english", "billing") to a level. On an agent
// it is what they can do; on a queue or a contact it is what is needed: an
// agent qualifies when they have every needed skill at least at the level
// needed. A level of 0 only requires the skill to be listed.
type Skills map[string]int

// Covers reports whether s has every skill in need, each at least at the
// level needed.
func (s Skills) Covers(need Skills) bool {
	for name, level := range need {
		have, ok := s[name]
		if !ok || have < level {
			return false
		}
	}
	return true
}

func (s Skills) clone() Skills {
	if s == nil {
		return nil
	}
	c := make(Skills, len(s))
	for k, v := range s {
		c[k] = v
	}
	return c
}
