package routing

import (
	"testing"
	"time"
)

func TestEstimateWait(t *testing.T) {
	tests := []struct {
		position, free, serving int
		aht                     time.Duration
		want                    time.Duration
		known                   bool
	}{
		{1, 0, 0, time.Minute, 0, false},    // nobody serves the queue
		{1, 1, 4, 4 * time.Minute, 0, true}, // a free slot: offered now
		{1, 0, 4, 4 * time.Minute, time.Minute, true},
		{10, 2, 4, 4 * time.Minute, 8 * time.Minute, true},
		{3, 0, 1, 90 * time.Second, 270 * time.Second, true},
	}
	for _, tt := range tests {
		got, known := EstimateWait(tt.position, tt.free, tt.serving, tt.aht)
		if got != tt.want || known != tt.known {
			t.Errorf("EstimateWait(%d, %d, %d, %v) = %v, %v; want %v, %v",
				tt.position, tt.free, tt.serving, tt.aht, got, known, tt.want, tt.known)
		}
	}
}

// TestWaits checks positions per queue and slot kind, and the estimate from
// the queue's handle time.
func TestWaits(t *testing.T) {
	sales := newQueue("sales", LongestIdle, "a", "b", "c", "off")
	closed := newQueue("closed", LongestIdle, "a")
	closed.Hours = &Hours{}
	s := Snapshot{
		Queues: []Queue{sales, closed},
		Agents: []Agent{
			newAgent("a", slots(2), handling(Chat, Voice)), // 2 chat slots, taken with the ringing offer
			newAgent("b", slots(2), state(WrapUp)),         // serves soon, not free now
			newAgent("c", slots(0), handling(Voice)),       // calls only, on a call
			newAgent("off", state(Offline)),
		},
		Contacts: []Contact{
			waitingFor("chat1", "sales", Chat, 5*time.Minute),
			waitingFor("call1", "sales", Voice, 4*time.Minute),
			waitingFor("chat2", "sales", Chat, 3*time.Minute),
			waitingFor("chatVIP", "sales", Chat, time.Minute, prio(1)),
			waitingFor("ringing", "sales", Chat, 9*time.Minute, offeredTo("a")),
			waitingFor("night", "closed", Chat, time.Minute),
		},
		Stats: map[QueueID]QueueStats{"sales": {Ended: 4, HandleTime: 16 * time.Minute}}, // 4 min average
	}
	got := map[ContactID]Wait{}
	for _, w := range Waits(s, t0) {
		got[w.Contact] = w
	}
	// Chats: 4 serving slots (a and b), none free; 4 min / 4 slots = 1 min a place.
	// Calls: 3 serving (a, b, c), none free: 4 min / 3.
	want := map[ContactID]Wait{
		"chatVIP": {Contact: "chatVIP", Queue: "sales", Position: 1, Estimate: time.Minute, Known: true},
		"chat1":   {Contact: "chat1", Queue: "sales", Position: 2, Estimate: 2 * time.Minute, Known: true},
		"chat2":   {Contact: "chat2", Queue: "sales", Position: 3, Estimate: 3 * time.Minute, Known: true},
		"call1":   {Contact: "call1", Queue: "sales", Position: 1, Estimate: 80 * time.Second, Known: true},
		"ringing": {Contact: "ringing", Queue: "sales", Position: 0, Known: true},
		"night":   {Contact: "night", Queue: "closed", Position: 1},
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: %+v, want %+v", id, got[id], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d waits, want %d", len(got), len(want))
	}

	// Before any contact ended, the queue's assumed handle time counts.
	s.Stats = nil
	s.Queues[0].AssumedHandleTime = 8 * time.Minute
	for _, w := range Waits(s, t0) {
		if w.Contact == "chatVIP" && w.Estimate != 2*time.Minute {
			t.Errorf("chatVIP estimate %v with an assumed 8 min handle time, want 2m", w.Estimate)
		}
	}
}
