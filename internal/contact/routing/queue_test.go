package routing

import (
	"strings"
	"testing"
	"time"
)

func TestValidateQueues(t *testing.T) {
	ok := func(id QueueID) Queue { return Queue{ID: id} }
	with := func(q Queue, f func(*Queue)) Queue { f(&q); return q }
	tests := []struct {
		name   string
		queues []Queue
		err    string // "" for valid
	}{
		{"plain", []Queue{ok("a"), ok("b")}, ""},
		{"chain", []Queue{
			with(ok("a"), func(q *Queue) { q.MaxWait, q.Overflow = time.Minute, Overflow{To: ToQueue, Queue: "b"} }),
			with(ok("b"), func(q *Queue) { q.AfterHours = Overflow{To: ToQueue, Queue: "c"} }),
			with(ok("c"), func(q *Queue) { q.MaxLength, q.Overflow = 5, Overflow{To: ToCallback, Queue: "a"} }),
		}, ""},
		{"no id", []Queue{ok("")}, "without an id"},
		{"twice", []Queue{ok("a"), ok("a")}, "defined twice"},
		{"unknown strategy", []Queue{with(ok("a"), func(q *Queue) { q.Strategy = "random" })}, "unknown strategy"},
		{"negative wait", []Queue{with(ok("a"), func(q *Queue) { q.MaxWait = -1 })}, "negative"},
		{"member twice", []Queue{with(ok("a"), func(q *Queue) { q.Members = []Member{{Agent: "x"}, {Agent: "x"}} })}, "member twice"},
		{"negative weight", []Queue{with(ok("a"), func(q *Queue) { q.Members = []Member{{Agent: "x", Weight: -1}} })}, "weight"},
		{"max wait without target", []Queue{with(ok("a"), func(q *Queue) { q.MaxWait = time.Minute })}, "needs an overflow target"},
		{"overflow to itself", []Queue{with(ok("a"), func(q *Queue) { q.Overflow = Overflow{To: ToQueue, Queue: "a"} })}, "itself"},
		{"overflow to nowhere", []Queue{with(ok("a"), func(q *Queue) { q.Overflow = Overflow{To: ToQueue} })}, "needs the queue"},
		{"unknown target", []Queue{with(ok("a"), func(q *Queue) { q.Overflow = Overflow{To: ToQueue, Queue: "z"} })}, "unknown queue z"},
		{"unknown kind", []Queue{with(ok("a"), func(q *Queue) { q.Overflow = Overflow{To: "voicemail"} })}, "unknown target"},
		{"cycle", []Queue{
			with(ok("a"), func(q *Queue) { q.Overflow = Overflow{To: ToQueue, Queue: "b"} }),
			with(ok("b"), func(q *Queue) { q.AfterHours = Overflow{To: ToQueue, Queue: "a"} }),
		}, "comes back"},
		{"bad hours", []Queue{with(ok("a"), func(q *Queue) { q.Hours = &Hours{Week: [7][]Span{{{At(9, 0), At(8, 0)}}}} })}, "not within one day"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateQueues(tt.queues)
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("error %v, want one saying %q", err, tt.err)
			}
		})
	}
}
