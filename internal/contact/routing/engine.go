package routing

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// Errors returned by the Engine, wrapped with the id concerned.
var (
	ErrUnknownQueue   = errors.New("routing: unknown queue")
	ErrUnknownAgent   = errors.New("routing: unknown agent")
	ErrUnknownContact = errors.New("routing: unknown contact")
	ErrDuplicate      = errors.New("routing: contact id already in use")
	ErrNotOffered     = errors.New("routing: no such offer (withdrawn, timed out or answered)")
	ErrNotInProgress  = errors.New("routing: contact not in progress")
	ErrNoSlot         = errors.New("routing: the agent has no free slot for that media")
	ErrState          = errors.New("routing: state not allowed")
)

// Config configures an Engine.
type Config struct {
	// AutoPauseAfter pauses an agent after this many offers in a row timed
	// out; 0 never does.
	AutoPauseAfter int
	// Seed seeds the weighted random strategy.
	Seed uint64
}

// Engine owns routing state and applies events to it: visitors arriving
// and leaving, agents changing state, offers answered, declined or timing
// out, contacts ending. After each it calls Decide and applies the
// decisions, and returns what happened as Events.
//
// Every method takes the current time and first brings the engine up to it
// (offers that timed out, wrap-ups that are over); Tick does only that and
// the routing after, for max wait and closing time: call it every second or
// so. Time must not go backwards. An Engine starts no goroutines and is not
// safe for concurrent use: one loop owns it. When a method returns an error
// the event was not applied, but the events of the time that passed are
// still returned.
type Engine struct {
	cfg       Config
	rng       *rand.Rand
	s         Snapshot
	queueAt   map[QueueID]int
	agentAt   map[AgentID]int
	contactAt map[ContactID]int     // waiting or offered: index in s.Contacts
	handler   map[ContactID]AgentID // in progress
	events    []Event
}

// NewEngine is an engine routing queues, with no agents and no contacts.
func NewEngine(cfg Config, queues []Queue) (*Engine, error) {
	if cfg.AutoPauseAfter < 0 {
		return nil, fmt.Errorf("routing: AutoPauseAfter %d is negative", cfg.AutoPauseAfter)
	}
	if err := ValidateQueues(queues); err != nil {
		return nil, err
	}
	e := &Engine{
		cfg: cfg,
		rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5851f42d4c957f2d)),
		s: Snapshot{
			LastAgent:  make(map[VisitorID]AgentID),
			RoundRobin: make(map[QueueID]AgentID),
			Stats:      make(map[QueueID]QueueStats),
		},
		queueAt:   make(map[QueueID]int),
		agentAt:   make(map[AgentID]int),
		contactAt: make(map[ContactID]int),
		handler:   make(map[ContactID]AgentID),
	}
	for _, q := range queues {
		e.queueAt[q.ID] = len(e.s.Queues)
		e.s.Queues = append(e.s.Queues, q.clone())
	}
	return e, nil
}

// SetQueue adds a queue or replaces its configuration. Contacts in the
// queue stay; offers made stand.
func (e *Engine) SetQueue(q Queue, now time.Time) ([]Event, error) {
	e.begin(now)
	queues := slices.Clone(e.s.Queues)
	i, ok := e.queueAt[q.ID]
	if ok {
		queues[i] = q
	} else {
		queues = append(queues, q)
	}
	if err := ValidateQueues(queues); err != nil {
		return e.finish(now), err
	}
	if !ok {
		i = len(e.s.Queues)
		e.queueAt[q.ID] = i
		e.s.Queues = append(e.s.Queues, Queue{})
	}
	e.s.Queues[i] = q.clone()
	return e.finish(now), nil
}

// SetAgent adds an agent (offline) or changes their profile. Taking slots
// or skills away ends no contact in hand: it applies to new offers.
func (e *Engine) SetAgent(p Profile, now time.Time) ([]Event, error) {
	e.begin(now)
	if err := p.validate(); err != nil {
		return e.finish(now), err
	}
	p.Skills = p.Skills.clone()
	if i, ok := e.agentAt[p.ID]; ok {
		e.s.Agents[i].Profile = p
	} else {
		e.agentAt[p.ID] = len(e.s.Agents)
		e.s.Agents = append(e.s.Agents, Agent{Profile: p, State: Offline})
	}
	return e.finish(now), nil
}

// ResetDay zeroes today's figures (talk time, contacts, queue statistics);
// call it at midnight.
func (e *Engine) ResetDay() {
	for i := range e.s.Agents {
		e.s.Agents[i].TalkToday, e.s.Agents[i].ContactsToday = 0, 0
	}
	clear(e.s.Stats)
}

// Snapshot is a copy of the engine's state.
func (e *Engine) Snapshot() Snapshot { return e.s.Clone() }

// Waits are every contact's place in line and expected wait at now.
func (e *Engine) Waits(now time.Time) []Wait { return Waits(e.s, now) }

// Status is where a contact is: waiting, offered, in progress; "" once it
// has left routing (ended, abandoned, overflowed to a message, closed) or
// was never known.
type Status string

const (
	StatusWaiting    Status = "waiting"
	StatusOffered    Status = "offered"
	StatusInProgress Status = "in_progress"
)

// Status is where contact id is.
func (e *Engine) Status(id ContactID) Status {
	if i, ok := e.contactAt[id]; ok {
		if e.s.Contacts[i].Waiting() {
			return StatusWaiting
		}
		return StatusOffered
	}
	if _, ok := e.handler[id]; ok {
		return StatusInProgress
	}
	return ""
}

func (e *Engine) begin(now time.Time) {
	e.events = nil
	e.advance(now)
}

// finish routes and hands over the events of this call.
func (e *Engine) finish(now time.Time) []Event {
	e.route(now)
	ev := e.events
	e.events = nil
	return ev
}

func (e *Engine) emit(ev Event) { e.events = append(e.events, ev) }

func (e *Engine) contactEvent(kind EventKind, c *Contact, now time.Time) Event {
	return Event{Kind: kind, At: now, Contact: c.ID, Queue: c.Queue, Visitor: c.Visitor, Media: c.Media}
}

func (e *Engine) addContact(c Contact) {
	e.contactAt[c.ID] = len(e.s.Contacts)
	e.s.Contacts = append(e.s.Contacts, c)
}

// removeContact takes a waiting or offered contact out of the snapshot.
func (e *Engine) removeContact(id ContactID) Contact {
	i := e.contactAt[id]
	c := e.s.Contacts[i]
	last := len(e.s.Contacts) - 1
	if i != last {
		e.s.Contacts[i] = e.s.Contacts[last]
		e.contactAt[e.s.Contacts[i].ID] = i
	}
	e.s.Contacts[last] = Contact{}
	e.s.Contacts = e.s.Contacts[:last]
	delete(e.contactAt, id)
	return c
}

func (e *Engine) agent(id AgentID) (*Agent, error) {
	i, ok := e.agentAt[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownAgent, id)
	}
	return &e.s.Agents[i], nil
}

func (e *Engine) queue(id QueueID) *Queue {
	if i, ok := e.queueAt[id]; ok {
		return &e.s.Queues[i]
	}
	return nil
}
