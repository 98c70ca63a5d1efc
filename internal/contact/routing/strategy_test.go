package routing

import (
	"slices"
	"testing"
	"time"
)

// TestDecideStrategies offers one waiting voice contact under each strategy.
func TestDecideStrategies(t *testing.T) {
	tests := []struct {
		name     string
		strategy Strategy
		agents   []Agent
		cursor   AgentID // round-robin: the agent offered last
		want     []AgentID
	}{
		{"longest idle: oldest idle since", LongestIdle,
			[]Agent{newAgent("a", idle(time.Minute)), newAgent("b", idle(time.Hour)), newAgent("c", idle(10*time.Minute))},
			"", []AgentID{"b"}},
		{"empty strategy is longest idle", "",
			[]Agent{newAgent("a", idle(time.Minute)), newAgent("b", idle(time.Hour))},
			"", []AgentID{"b"}},
		{"longest idle: fewer contacts in hand first", LongestIdle,
			[]Agent{newAgent("a", idle(time.Hour), handling(Chat)), newAgent("b", idle(time.Minute))},
			"", []AgentID{"b"}},
		{"longest idle: tie goes to the lower id", LongestIdle,
			[]Agent{newAgent("b"), newAgent("a")},
			"", []AgentID{"a"}},
		{"fewest contacts today", FewestContacts,
			[]Agent{newAgent("a", today(5, 0), idle(time.Hour)), newAgent("b", today(2, 0), idle(time.Minute)), newAgent("c", today(3, 0))},
			"", []AgentID{"b"}},
		{"fewest contacts: tie goes to longest idle", FewestContacts,
			[]Agent{newAgent("a", today(2, 0), idle(time.Minute)), newAgent("b", today(2, 0), idle(time.Hour))},
			"", []AgentID{"b"}},
		{"least talk time today", LeastTalkTime,
			[]Agent{newAgent("a", today(1, time.Hour)), newAgent("b", today(9, 10*time.Minute)), newAgent("c", today(0, 20*time.Minute))},
			"", []AgentID{"b"}},
		{"round robin: next after the last offered", RoundRobin,
			[]Agent{newAgent("a"), newAgent("b"), newAgent("c")},
			"a", []AgentID{"b"}},
		{"round robin: wraps round", RoundRobin,
			[]Agent{newAgent("a"), newAgent("b"), newAgent("c")},
			"c", []AgentID{"a"}},
		{"round robin: starts at the first member", RoundRobin,
			[]Agent{newAgent("a"), newAgent("b")},
			"", []AgentID{"a"}},
		{"round robin: skips who cannot take it", RoundRobin,
			[]Agent{newAgent("a"), newAgent("b", state(Paused)), newAgent("c", handling(Voice))},
			"a", []AgentID{"a"}},
		{"ring all: everyone who can take it", RingAll,
			[]Agent{newAgent("a"), newAgent("b", state(Busy)), newAgent("c"), newAgent("d", handling(Video))},
			"", []AgentID{"a", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ids []AgentID
			for _, a := range tt.agents {
				ids = append(ids, a.ID)
			}
			slices.Sort(ids)
			s := Snapshot{
				Queues:     []Queue{newQueue("q", tt.strategy, ids...)},
				Agents:     tt.agents,
				Contacts:   []Contact{waitingFor("c1", "q", Voice, time.Minute)},
				RoundRobin: map[QueueID]AgentID{},
			}
			if tt.cursor != "" {
				s.RoundRobin["q"] = tt.cursor
			}
			got := offers(Decide(s, t0))["c1"]
			if !slices.Equal(got, tt.want) {
				t.Errorf("offered to %v, want %v", got, tt.want)
			}
		})
	}
}

// TestDecideWeightedRandom checks that the draw repeats with its seed and
// follows the weights.
func TestDecideWeightedRandom(t *testing.T) {
	q := newQueue("q", WeightedRandom)
	q.Members = []Member{{Agent: "a", Weight: 3}, {Agent: "b"}, {Agent: "c", Weight: 0}, {Agent: "off", Weight: 100}}
	s := Snapshot{
		Queues:   []Queue{q},
		Agents:   []Agent{newAgent("a"), newAgent("b"), newAgent("c"), newAgent("off", state(Offline))},
		Contacts: []Contact{waitingFor("c1", "q", Voice, time.Minute)},
	}
	count := map[AgentID]int{}
	const draws = 5000
	for seed := range uint64(draws) {
		s.Seed = seed
		first := offers(Decide(s, t0))["c1"]
		again := offers(Decide(s, t0))["c1"]
		if len(first) != 1 || !slices.Equal(first, again) {
			t.Fatalf("seed %d: offered to %v then %v, want one agent twice", seed, first, again)
		}
		count[first[0]]++
	}
	// Weights 3, 1 (0 means 1) and 1: 60%, 20%, 20%; the offline agent never.
	for id, want := range map[AgentID]float64{"a": 0.6, "b": 0.2, "c": 0.2, "off": 0} {
		got := float64(count[id]) / draws
		if got < want-0.03 || got > want+0.03 {
			t.Errorf("agent %s drawn %.3f of the time, want about %.2f", id, got, want)
		}
	}
}

// TestDecideSpreadsARound checks that several contacts in one round go to
// different agents rather than piling on the best ranked one.
func TestDecideSpreadsARound(t *testing.T) {
	for _, strategy := range []Strategy{LongestIdle, FewestContacts, LeastTalkTime, RoundRobin} {
		t.Run(string(strategy), func(t *testing.T) {
			s := Snapshot{
				Queues: []Queue{newQueue("q", strategy, "a", "b", "c")},
				Agents: []Agent{newAgent("a", idle(3*time.Hour)), newAgent("b", idle(2*time.Hour)), newAgent("c", idle(time.Hour))},
				Contacts: []Contact{
					waitingFor("c1", "q", Chat, 3*time.Minute), waitingFor("c2", "q", Chat, 2*time.Minute),
					waitingFor("c3", "q", Chat, time.Minute),
				},
			}
			got := offers(Decide(s, t0))
			seen := map[AgentID]bool{}
			for _, c := range []ContactID{"c1", "c2", "c3"} {
				if len(got[c]) != 1 || seen[got[c][0]] {
					t.Fatalf("offers %v: want each contact to a different agent", got)
				}
				seen[got[c][0]] = true
			}
			if strategy == LongestIdle && got["c1"][0] != "a" {
				t.Errorf("first contact went to %v, want the longest idle agent a", got["c1"])
			}
		})
	}
}
