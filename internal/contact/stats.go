package contact

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"switchboard/internal/contact/routing"
)

// Live is what a supervisor sees now.
type Live struct {
	At     string      `json:"at"`
	Queues []LiveQueue `json:"queues"`
	Agents []LiveAgent `json:"agents"`
}

// LiveQueue is a queue's state now.
type LiveQueue struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Open        bool           `json:"open"`
	Waiting     int            `json:"waiting"`
	Offered     int            `json:"offered"`
	InProgress  int            `json:"inProgress"`
	Callbacks   int            `json:"callbacks"`
	LongestWait int            `json:"longestWaitSeconds"`
	Agents      map[string]int `json:"agents"` // by state
}

// LiveAgent is an agent's state now.
type LiveAgent struct {
	User  string `json:"user"`
	Name  string `json:"name"`
	State string `json:"state"`
	Chats int    `json:"chats"`
	Calls int    `json:"calls"`
	Since string `json:"since,omitempty"`
}

// Live reports the queues and agents now.
func (s *Service) Live() Live {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	out := Live{At: timeJSON(now), Queues: []LiveQueue{}, Agents: []LiveAgent{}}
	byAgent := map[string]*LiveAgent{}
	for _, q := range s.sortedQueues() {
		rq, _ := q.Routing()
		lq := LiveQueue{ID: q.ID, Name: q.Name, Open: rq.Open(now),
			Agents: map[string]int{"available": 0, "busy": 0, "paused": 0, "wrap_up": 0, "offline": 0}}
		for _, m := range q.Members {
			st := string(routing.Offline)
			if a, ok := s.state[m.User]; ok {
				st = string(a.state)
			}
			lq.Agents[st]++
			if byAgent[m.User] == nil {
				la := &LiveAgent{User: m.User, Name: s.names[m.User], State: st}
				if a, ok := s.state[m.User]; ok {
					la.Since = timeJSON(a.since)
				}
				byAgent[m.User] = la
			}
		}
		for _, lc := range s.live {
			if lc.rec.Queue != q.ID {
				continue
			}
			switch lc.rec.Status {
			case statusWaiting:
				lq.Waiting++
				if w := int(now.Sub(lc.rec.ArrivedAt) / time.Second); w > lq.LongestWait {
					lq.LongestWait = w
				}
			case statusOffered:
				lq.Offered++
			case statusInProgress:
				lq.InProgress++
			case statusCallback:
				lq.Callbacks++
			}
		}
		out.Queues = append(out.Queues, lq)
	}
	for _, lc := range s.live {
		if a := byAgent[lc.rec.AgentID]; a != nil && lc.rec.Status == statusInProgress {
			if lc.rec.Media == string(routing.Chat) {
				a.Chats++
			} else {
				a.Calls++
			}
		}
	}
	for _, q := range s.sortedQueues() { // members in queue order, each once
		for _, m := range q.Members {
			if a := byAgent[m.User]; a != nil {
				out.Agents = append(out.Agents, *a)
				delete(byAgent, m.User)
			}
		}
	}
	return out
}

// Report is the statistics over a period, per bucket and in total.
type Report struct {
	From    string   `json:"from"`
	To      string   `json:"to"`
	Bucket  string   `json:"bucket"`
	Queue   string   `json:"queue,omitempty"`
	Buckets []Figure `json:"buckets"`
	Totals  Figure   `json:"totals"`
}

// Figure is the statistics of one bucket (or the total). Contacts count in
// the bucket and queue where they arrived.
type Figure struct {
	Start        string  `json:"start,omitempty"`
	Arrived      int     `json:"arrived"`
	Answered     int     `json:"answered"`
	Abandoned    int     `json:"abandoned"`
	Overflowed   int     `json:"overflowed"` // to a message or callback, or still waiting elsewhere
	Closed       int     `json:"closed"`
	AnswerRate   float64 `json:"answerRate"`
	AbandonRate  float64 `json:"abandonRate"`
	AvgWait      float64 `json:"avgWaitSeconds"`   // of the answered
	AvgHandle    float64 `json:"avgHandleSeconds"` // of the answered and ended
	ServiceLevel float64 `json:"serviceLevel"`     // answered within the queue's service level, of those that arrived (less closed)

	waitSum, handleSum time.Duration
	handled, inSLA     int
}

// ReportRequest selects a report.
type ReportRequest struct {
	From, To time.Time
	Bucket   string // hour or day
	Queue    string // "" for all
	Location *time.Location
}

// maxBuckets bounds a report's size.
const maxBuckets = 24 * 93

// Report computes the statistics of the contacts that arrived in [From, To).
func (s *Service) Report(ctx context.Context, req ReportRequest) (Report, error) {
	step := 24 * time.Hour
	switch req.Bucket {
	case "hour":
		step = time.Hour
	case "day", "":
		req.Bucket = "day"
	default:
		return Report{}, invalid("bucket %q: use hour or day", req.Bucket)
	}
	if req.Location == nil {
		req.Location = time.UTC
	}
	if !req.From.Before(req.To) {
		return Report{}, invalid("the period is empty: from must be before to")
	}
	// Buckets start at local midnights (days) or hours, across DST changes.
	var starts []time.Time
	for t := req.From; t.Before(req.To); {
		starts = append(starts, t)
		if len(starts) > maxBuckets {
			return Report{}, invalid("too many buckets: at most %d (use days for long periods)", maxBuckets)
		}
		if step == time.Hour {
			t = t.Add(time.Hour)
		} else {
			y, m, d := t.In(req.Location).Date()
			t = time.Date(y, m, d+1, 0, 0, 0, 0, req.Location)
		}
	}
	cs, err := s.st.ContactsArrived(ctx, req.Queue, req.From, req.To)
	if err != nil {
		return Report{}, err
	}
	s.mu.Lock()
	sla := map[string]time.Duration{}
	for id, q := range s.queues {
		sla[id] = q.serviceLevel()
	}
	s.mu.Unlock()
	rep := Report{From: timeJSON(req.From), To: timeJSON(req.To), Bucket: req.Bucket, Queue: req.Queue, Buckets: make([]Figure, len(starts))}
	for i, t := range starts {
		rep.Buckets[i].Start = timeJSON(t)
	}
	i := 0
	for _, c := range cs {
		for i+1 < len(starts) && !c.ArrivedAt.Before(starts[i+1]) {
			i++
		}
		level, ok := sla[c.FirstQueue]
		if !ok {
			level = defaultSLA * time.Second
		}
		rep.Buckets[i].add(c.Status, !c.AnsweredAt.IsZero(), c.Wait, c.Handle, level)
		rep.Totals.add(c.Status, !c.AnsweredAt.IsZero(), c.Wait, c.Handle, level)
	}
	for i := range rep.Buckets {
		rep.Buckets[i].finish()
	}
	rep.Totals.finish()
	return rep, nil
}

func (f *Figure) add(status string, answered bool, wait, handle, level time.Duration) {
	f.Arrived++
	switch {
	case answered:
		f.Answered++
		f.waitSum += wait
		if wait <= level {
			f.inSLA++
		}
		if status == statusEnded {
			f.handled++
			f.handleSum += handle
		}
	case status == statusAbandoned:
		f.Abandoned++
	case status == statusClosed:
		f.Closed++
	case status == statusMessage || status == statusCallback || status == statusOverflowed:
		f.Overflowed++
	}
}

func (f *Figure) finish() {
	if n := f.Arrived - f.Closed; n > 0 {
		f.AnswerRate = ratio(f.Answered, n)
		f.AbandonRate = ratio(f.Abandoned, n)
		f.ServiceLevel = ratio(f.inSLA, n)
	}
	if f.Answered > 0 {
		f.AvgWait = round1(f.waitSum.Seconds() / float64(f.Answered))
	}
	if f.handled > 0 {
		f.AvgHandle = round1(f.handleSum.Seconds() / float64(f.handled))
	}
}

func ratio(a, b int) float64   { return float64(int(float64(a)/float64(b)*10000+0.5)) / 10000 }
func round1(x float64) float64 { return float64(int(x*10+0.5)) / 10 }

// CSV writes the report's buckets as comma-separated lines with a header.
func (r Report) CSV() [][]string {
	rows := [][]string{{"start", "arrived", "answered", "abandoned", "overflowed", "closed", "answer_rate", "abandon_rate",
		"avg_wait_seconds", "avg_handle_seconds", "service_level"}}
	for _, f := range append(r.Buckets, r.Totals) {
		start := f.Start
		if start == "" {
			start = "total"
		}
		rows = append(rows, []string{start, fmt.Sprint(f.Arrived), fmt.Sprint(f.Answered), fmt.Sprint(f.Abandoned),
			fmt.Sprint(f.Overflowed), fmt.Sprint(f.Closed), fmt.Sprint(f.AnswerRate), fmt.Sprint(f.AbandonRate),
			fmt.Sprint(f.AvgWait), fmt.Sprint(f.AvgHandle), fmt.Sprint(f.ServiceLevel)})
	}
	return rows
}

// limiter bounds new visitor sessions (or callbacks by phone) per client
// address: perMin within a minute, or within every when set.
type limiter struct {
	mu      sync.Mutex
	perMin  int
	every   time.Duration
	clients map[netip.Addr]*rate.Limiter
	swept   time.Time
}

func newLimiter(perMinute int) *limiter {
	return &limiter{perMin: perMinute, clients: map[netip.Addr]*rate.Limiter{}}
}

// newLimiterEvery allows n within every.
func newLimiterEvery(n int, every time.Duration) *limiter {
	return &limiter{perMin: n, every: every, clients: map[netip.Addr]*rate.Limiter{}}
}

func (l *limiter) allow(ip string, now time.Time) bool {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	if addr.Is6() && !addr.Is4In6() { // one person's IPv6 addresses share a /64
		p, _ := addr.Prefix(64)
		addr = p.Addr()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > 10*time.Minute {
		for a, lim := range l.clients {
			if lim.TokensAt(now) >= float64(l.perMin) { // (full again: forgotten)
				delete(l.clients, a)
			}
		}
		l.swept = now
	}
	lim := l.clients[addr]
	if lim == nil {
		every := l.every
		if every == 0 {
			every = time.Minute
		}
		lim = rate.NewLimiter(rate.Limit(float64(l.perMin)/every.Seconds()), l.perMin)
		l.clients[addr] = lim
	}
	return lim.AllowN(now, 1)
}
