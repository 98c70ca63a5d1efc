package routing

import (
	"fmt"
	"time"
)

// AgentState is what an agent is doing, as far as routing cares.
type AgentState string

const (
	// Offline: not signed in to the console. Gets no offers.
	Offline AgentState = "offline"
	// Available: gets offers while they have a free slot for the media,
	// including while they handle other contacts.
	Available AgentState = "available"
	// Busy: occupied outside routing (a meeting, a colleague's call). Gets
	// no offers; contacts in hand go on.
	Busy AgentState = "busy"
	// Paused: on a break, or paused by the engine after missed offers. Gets
	// no offers; contacts in hand go on.
	Paused AgentState = "paused"
	// WrapUp: a contact just ended and the agent writes notes for the
	// queue's wrap-up time. Gets no new offers; pending offers and contacts
	// in hand go on. The engine returns the agent to Available after.
	WrapUp AgentState = "wrap_up"
)

// Valid reports whether s is one of the known states.
func (s AgentState) Valid() bool {
	switch s {
	case Offline, Available, Busy, Paused, WrapUp:
		return true
	}
	return false
}

// Profile is what an administrator sets for an agent.
type Profile struct {
	ID     AgentID
	Skills Skills
	// ChatSlots is how many chats the agent handles at once. Every agent
	// also has one call slot, shared by voice and video.
	ChatSlots int
	// ExclusiveCalls makes a call take the agent's whole attention: no
	// call is offered while they have chats, no chat while they are on a
	// call. Off by default: an agent on a call can still take chats up to
	// their chat slots, and an agent with chats can take a call (they often
	// turn one of their chats into it).
	ExclusiveCalls bool
}

func (p Profile) validate() error {
	if p.ID == "" {
		return fmt.Errorf("routing: agent without an id")
	}
	if p.ChatSlots < 0 {
		return fmt.Errorf("routing: agent %s: chat slots %d, want 0 or more", p.ID, p.ChatSlots)
	}
	return nil
}

// fits reports whether one more contact of kind k fits beside chats and
// calls already taken (in progress or offered).
func (p Profile) fits(k slot, chats, calls int) bool {
	if k == chatSlot {
		return chats < p.ChatSlots && (!p.ExclusiveCalls || calls == 0)
	}
	return calls == 0 && (!p.ExclusiveCalls || chats == 0)
}

// Agent is one agent's profile and state in a snapshot.
type Agent struct {
	Profile
	State AgentState
	// WrapUntil is when wrap-up ends (State WrapUp).
	WrapUntil time.Time
	// Active are the contacts in progress with the agent.
	Active []Assignment
	// IdleSince is the last time a contact of theirs ended or they became
	// available: "longest idle" ranks by it.
	IdleSince time.Time
	// TalkToday is the handle time of the contacts they ended today.
	TalkToday time.Duration
	// ContactsToday is how many contacts they answered today.
	ContactsToday int
	// MissedOffers counts offers in a row that timed out; an answer or
	// becoming available again resets it.
	MissedOffers int
}

// Assignment is a contact in progress with an agent. It keeps what the
// contact needs to go back in line if the agent goes offline.
type Assignment struct {
	Contact  ContactID
	Queue    QueueID
	Media    Media
	Visitor  VisitorID
	Priority int
	Skills   Skills
	Callback bool
	Arrived  time.Time
	Answered time.Time
}

// used counts the chat and call slots taken by contacts in progress.
func (a *Agent) used() (chats, calls int) {
	for _, c := range a.Active {
		if slotOf(c.Media) == chatSlot {
			chats++
		} else {
			calls++
		}
	}
	return chats, calls
}

func (a Agent) clone() Agent {
	a.Skills = a.Skills.clone()
	a.Active = append([]Assignment(nil), a.Active...)
	for i := range a.Active {
		a.Active[i].Skills = a.Active[i].Skills.clone()
	}
	return a
}
