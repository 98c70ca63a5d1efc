package protocol

// Customer contact (docs/contact.md): what agents and visitors are told on
// the messaging socket, and the views the REST API answers with.

// Contact events.
const (
	ContactOffer     = "offer"     // to the agents a contact rings at
	ContactWithdrawn = "withdrawn" // the offer to this agent is over (Reason)
	ContactUpdate    = "update"    // to the handling agent and the visitor
	ContactAgent     = "agent"     // to an agent: their own state changed
)

// ContactMsg is a customer-contact event, server to device.
type ContactMsg struct {
	Head
	Event   string       `json:"event"`
	Contact *ContactView `json:"contact,omitempty"`
	Agent   *AgentView   `json:"agent,omitempty"`
	Reason  string       `json:"reason,omitempty"`
}

func (*ContactMsg) TypeName() string { return "contact" }

// VisitorInfo is who a contact's visitor says they are.
type VisitorInfo struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
	// Phone is a telephone caller's number (E.164), or the number a
	// visitor asked to be called back on: shown to agents only.
	Phone string `json:"phone,omitempty"`
}

// PastContact is one of a visitor's earlier contacts, for the agent.
type PastContact struct {
	ID         string `json:"id"`
	ArrivedAt  string `json:"arrivedAt"`
	Queue      string `json:"queue"`
	AgentName  string `json:"agentName,omitempty"`
	Status     string `json:"status"`
	WrapUpCode string `json:"wrapUpCode,omitempty"`
}

// ContactView is a contact as its agent, its visitor (less the notes) and
// supervisors see it.
type ContactView struct {
	ID           string        `json:"id"`
	Queue        string        `json:"queue"`
	QueueName    string        `json:"queueName"`
	Media        string        `json:"media"`
	Status       string        `json:"status"`
	Visitor      VisitorInfo   `json:"visitor"`
	Page         string        `json:"page,omitempty"`
	Referrer     string        `json:"referrer,omitempty"`
	Conversation string        `json:"conversation,omitempty"`
	Agent        string        `json:"agent,omitempty"`
	AgentName    string        `json:"agentName,omitempty"`
	ArrivedAt    string        `json:"arrivedAt"`
	AnsweredAt   string        `json:"answeredAt,omitempty"`
	EndedAt      string        `json:"endedAt,omitempty"`
	OfferUntil   string        `json:"offerUntil,omitempty"`
	Position     int           `json:"position,omitempty"`
	WaitEstimate int           `json:"waitEstimateSeconds,omitempty"`
	WaitKnown    bool          `json:"waitKnown"`
	Previous     []PastContact `json:"previous,omitempty"`
	WrapUpCode   string        `json:"wrapUpCode,omitempty"`
	Notes        string        `json:"notes,omitempty"`
	// OnLine: a telephone caller waits on the line (agents only): the
	// console calls in to take them; a callback's number it never dials
	// by itself but on Accept.
	OnLine bool `json:"onLine,omitempty"`
}

// QueueRef names a queue, with the wrap-up codes its agents choose from.
type QueueRef struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	WrapUpCodes []string `json:"wrapUpCodes,omitempty"`
}

// Colleague is an agent another agent may transfer a contact to.
type Colleague struct {
	User  string `json:"user"`
	Name  string `json:"name"`
	State string `json:"state"`
}

// AgentView is an agent's state, contacts in hand and offers ringing.
type AgentView struct {
	User      string        `json:"user"`
	Name      string        `json:"name"`
	State     string        `json:"state"`
	ChatSlots int           `json:"chatSlots"`
	Queues    []QueueRef    `json:"queues"`
	Contacts  []ContactView `json:"contacts"`
	Offers    []ContactView `json:"offers"`
	// WrapUps are contacts the agent ended and has not wrapped up yet.
	WrapUps []ContactView `json:"wrapUps"`
}
