package routing

import (
	"maps"
	"time"
)

// Snapshot is everything routing looks at: queue configuration, agents,
// contacts not answered yet, and the little memory routing keeps. Decide
// reads a Snapshot and never changes it.
type Snapshot struct {
	Queues   []Queue
	Agents   []Agent
	Contacts []Contact // waiting or offered
	// LastAgent is the agent each returning visitor last talked to, for
	// sticky routing.
	LastAgent map[VisitorID]AgentID
	// RoundRobin is the agent each queue offered to last.
	RoundRobin map[QueueID]AgentID
	// Stats are today's figures per queue, for the wait estimator.
	Stats map[QueueID]QueueStats
	// Seed drives WeightedRandom: the same snapshot and seed give the same
	// choice. The engine draws a new seed for every decision.
	Seed uint64
}

// QueueStats are a queue's figures for today.
type QueueStats struct {
	Ended      int           // contacts ended
	HandleTime time.Duration // their total handle time
}

// AverageHandle is the mean handle time, or fallback before any contact
// ended.
func (st QueueStats) AverageHandle(fallback time.Duration) time.Duration {
	if st.Ended == 0 {
		return fallback
	}
	return st.HandleTime / time.Duration(st.Ended)
}

// Clone is a deep copy of s.
func (s Snapshot) Clone() Snapshot {
	c := Snapshot{
		Queues:     make([]Queue, len(s.Queues)),
		Agents:     make([]Agent, len(s.Agents)),
		Contacts:   make([]Contact, len(s.Contacts)),
		LastAgent:  maps.Clone(s.LastAgent),
		RoundRobin: maps.Clone(s.RoundRobin),
		Stats:      maps.Clone(s.Stats),
		Seed:       s.Seed,
	}
	for i, q := range s.Queues {
		c.Queues[i] = q.clone()
	}
	for i, a := range s.Agents {
		c.Agents[i] = a.clone()
	}
	for i, x := range s.Contacts {
		c.Contacts[i] = x.clone()
	}
	return c
}
