package app

import (
	"context"
	"crypto/rand"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/internal/account"
	"switchboard/internal/sip"
	"switchboard/internal/store"
)

// Call detail records (docs/architecture.md, "Call detail records: storage").
// The SIP side hands every ended call leg to saveCallRecord, which must never
// block it: records wait in a bounded queue that one goroutine writes to the
// store, started when records arrive and gone when the queue is empty. Each
// record is attributed to the users behind its parties (see recordUsers),
// counted in Prometheus, and swept after sip.record_retention.

const (
	recordQueueMax = 1000           // records waiting for the store; more are dropped (and logged)
	recordSweepGap = 24 * time.Hour // the retention sweep runs at most this often
	recordCSVMax   = 100000         // rows of one CSV export
)

// callRecorder is the queue of records to store; its zero value is ready.
type callRecorder struct {
	mu        sync.Mutex
	queue     []sip.CallRecord
	running   bool
	idle      *sync.Cond // signalled when the queue drained (tests)
	lastSweep time.Time
	sweeping  bool

	metricsOnce sync.Once
	attempts    *prometheus.CounterVec
	durations   prometheus.Histogram
}

// registerCallRecordMetrics adds the metrics drawn from call records.
func (a *App) registerCallRecordMetrics() {
	rec := &a.records
	rec.metricsOnce.Do(func() {
		rec.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_sip_call_attempts_total",
			Help: "SIP call legs that ended, by direction (inbound, outbound) and outcome (answered, busy, no_answer, rejected, cancelled, failed)."},
			[]string{"direction", "outcome"})
		rec.durations = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "switchboard_sip_call_duration_seconds",
			Help:    "How long answered SIP calls lasted, from the answer to the end.",
			Buckets: []float64{5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200}})
		a.metrics.reg.MustRegister(rec.attempts, rec.durations)
	})
}

// saveCallRecord queues r for the store. Called by the SIP side as a call
// leg ends; it returns at once.
func (a *App) saveCallRecord(r sip.CallRecord) {
	rec := &a.records
	if rec.attempts != nil {
		rec.attempts.WithLabelValues(r.Direction, r.Outcome).Inc()
		if !r.Answered.IsZero() && r.Ended.After(r.Answered) {
			rec.durations.Observe(r.Ended.Sub(r.Answered).Seconds())
		}
	}
	rec.mu.Lock()
	if len(rec.queue) >= recordQueueMax {
		rec.mu.Unlock()
		a.log.Warn("sip: call record dropped: the store is not keeping up", "call_id", r.CallID, "outcome", r.Outcome)
		return
	}
	rec.queue = append(rec.queue, r)
	start := !rec.running
	rec.running = true
	rec.mu.Unlock()
	if start {
		go a.writeCallRecords()
	}
}

// writeCallRecords stores queued records until the queue is empty.
func (a *App) writeCallRecords() {
	rec := &a.records
	swept := false
	for {
		rec.mu.Lock()
		if len(rec.queue) == 0 {
			if !swept {
				rec.mu.Unlock()
				a.sweepCallRecords()
				swept = true
				continue
			}
			rec.running = false
			if rec.idle != nil {
				rec.idle.Broadcast()
			}
			rec.mu.Unlock()
			return
		}
		r := rec.queue[0]
		rec.queue = rec.queue[1:]
		rec.mu.Unlock()

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		sr := a.recordUsers(ctx, r)
		err := a.store.AddCallRecord(ctx, sr)
		cancel()
		if err != nil {
			a.log.Error("sip: call record not stored", "call_id", r.CallID, "err", err)
		}
	}
}

// waitCallRecords waits until the queued records are written (tests, and
// stopSIP before the store closes).
func (a *App) waitCallRecords() {
	rec := &a.records
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.idle == nil {
		rec.idle = sync.NewCond(&rec.mu)
	}
	for rec.running {
		rec.idle.Wait()
	}
}

// sweepCallRecords deletes records older than the retention, at most once a
// day: after records were written, and before they are listed.
func (a *App) sweepCallRecords() {
	keep := a.cfg.SIP.RecordRetention
	if keep <= 0 {
		return
	}
	rec := &a.records
	now := time.Now()
	rec.mu.Lock()
	if rec.sweeping || now.Sub(rec.lastSweep) < recordSweepGap {
		rec.mu.Unlock()
		return
	}
	rec.sweeping = true
	rec.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	n, err := a.store.DeleteCallRecordsBefore(ctx, now.Add(-keep))
	cancel()
	rec.mu.Lock()
	rec.sweeping = false
	if err == nil {
		rec.lastSweep = now
	}
	rec.mu.Unlock()
	switch {
	case err != nil:
		a.log.Error("sip: sweeping old call records", "err", err)
	case n > 0:
		a.log.Info("sip: old call records deleted", "count", n, "retention", keep.String())
	}
}

// recordUsers makes the stored record and finds the users behind its
// parties. Each leg has a browser side (the user who placed or took the
// call through the gateway: From of an outbound leg, To of an inbound one)
// and a phone side (the other). The browser side is a username first, else
// an extension (a SIP account's username) linked to a user; the phone side
// an extension first, else a username. Phone numbers match neither.
func (a *App) recordUsers(ctx context.Context, r sip.CallRecord) store.CallRecord {
	sr := store.CallRecord{ID: newRecordID(), CallID: r.CallID, Direction: r.Direction, From: clip(r.From, 256),
		FromName: clip(r.FromName, 256), To: clip(r.To, 256), Trunk: r.Trunk, Started: r.Started, Answered: r.Answered,
		Ended: r.Ended, Outcome: r.Outcome, Status: r.Status, Cause: clip(r.Cause, 100), Codec: r.Codec,
		PacketsSent: r.PacketsSent, PacketsReceived: r.PacketsReceived, PacketsLost: r.PacketsLost, JitterMillis: r.JitterMillis}
	if sr.Direction != sip.RecordOutbound {
		sr.Direction = sip.RecordInbound
	}
	if sr.Ended.IsZero() {
		sr.Ended = time.Now()
	}
	if sr.Started.IsZero() {
		sr.Started = sr.Ended
	}
	if sr.Outcome == "" {
		sr.Outcome = sip.OutcomeFailed
	}
	if sr.Direction == sip.RecordOutbound {
		sr.FromUserID, sr.ToUserID = a.partyUser(ctx, r.From, true), a.partyUser(ctx, r.To, false)
	} else {
		sr.FromUserID, sr.ToUserID = a.partyUser(ctx, r.From, false), a.partyUser(ctx, r.To, true)
	}
	return sr
}

// partyUser is the user id behind a party's name, "" when none.
func (a *App) partyUser(ctx context.Context, name string, usernameFirst bool) string {
	if name == "" || len(name) > 64 {
		return ""
	}
	byUsername := func() string {
		u, err := a.store.UserByUsername(ctx, strings.ToLower(name))
		if err != nil {
			return ""
		}
		return u.ID
	}
	byExtension := func() string {
		acct, err := a.store.SIPAccountByUsername(ctx, name)
		if err != nil {
			return ""
		}
		return acct.UserID
	}
	if usernameFirst {
		return firstNonEmpty(byUsername(), byExtension())
	}
	return firstNonEmpty(byExtension(), byUsername())
}

func newRecordID() string { return "cdr_" + strings.ToLower(rand.Text()[:20]) }

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// ---- REST ----

// sipRecordRoutes mounts the call records API (docs/api.md, "Call records").
//
//	GET /api/v1/sip/calls   admins: every record; ?from&to&q&outcome&direction&user&limit&cursor, &format=csv
//	GET /api/v1/me/calls    the signed-in user's phone calls; same parameters but user and format
//	GET /api/v1/me/phone    {"enabled", "extensions"}: whether this server has SIP on (the dialer)
func (a *App) sipRecordRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/sip/calls", a.adminAPI("only admins see every call record (your own calls: GET /api/v1/me/calls)")(
		func(w http.ResponseWriter, r *http.Request, _ account.Identity) { a.listCallRecords(w, r, "") }))
	mux.HandleFunc("GET /api/v1/me/calls", func(w http.ResponseWriter, r *http.Request) {
		me, ok := a.whoIs(w, r)
		if !ok {
			return
		}
		if r.URL.Query().Has("format") {
			apiError(w, http.StatusBadRequest, "bad_request", "format is for admins' exports (GET /api/v1/sip/calls?format=csv)")
			return
		}
		a.listCallRecords(w, r, me.UserID)
	})
	mux.HandleFunc("GET /api/v1/me/phone", func(w http.ResponseWriter, r *http.Request) {
		me, ok := a.whoIs(w, r)
		if !ok {
			return
		}
		a.myPhone(w, r, me)
	})
}

func (a *App) myPhone(w http.ResponseWriter, r *http.Request, me account.Identity) {
	exts := []string{}
	list, err := a.store.SIPAccounts(r.Context())
	if err != nil {
		a.log.Error("sip: my phone", "err", err)
		apiError(w, http.StatusInternalServerError, "internal", "request failed")
		return
	}
	for _, acct := range list {
		if acct.UserID == me.UserID && acct.Enabled {
			exts = append(exts, acct.Username)
		}
	}
	apiJSON(w, http.StatusOK, map[string]any{"enabled": a.sip != nil && a.sip.srv != nil, "extensions": exts})
}

// callRecordJSON is a record as the API shows it. For a user's own list,
// Mine says which way the call went for them and Peer who was on the other
// end (what to call back).
type callRecordJSON struct {
	ID              string     `json:"id"`
	CallID          string     `json:"callId"`
	Direction       string     `json:"direction"`
	From            string     `json:"from"`
	FromName        string     `json:"fromName"`
	To              string     `json:"to"`
	Trunk           string     `json:"trunk"`
	FromUser        string     `json:"fromUser"`
	ToUser          string     `json:"toUser"`
	StartedAt       time.Time  `json:"startedAt"`
	AnsweredAt      *time.Time `json:"answeredAt"`
	EndedAt         time.Time  `json:"endedAt"`
	Duration        float64    `json:"duration"` // seconds answered
	Outcome         string     `json:"outcome"`
	Status          int        `json:"status"`
	Cause           string     `json:"cause"`
	Codec           string     `json:"codec"`
	PacketsSent     uint64     `json:"packetsSent"`
	PacketsReceived uint64     `json:"packetsReceived"`
	PacketsLost     uint64     `json:"packetsLost"`
	Loss            float64    `json:"loss"` // lost / expected, 0..1
	JitterMs        float64    `json:"jitterMs"`
	Mine            string     `json:"mine,omitempty"` // outgoing | incoming
	Peer            string     `json:"peer,omitempty"`
	PeerName        string     `json:"peerName,omitempty"`
}

func recordJSON(r store.CallRecord, me string) callRecordJSON {
	out := callRecordJSON{ID: r.ID, CallID: r.CallID, Direction: r.Direction, From: r.From, FromName: r.FromName, To: r.To,
		Trunk: r.Trunk, FromUser: r.FromUserID, ToUser: r.ToUserID, StartedAt: r.Started, EndedAt: r.Ended, Outcome: r.Outcome,
		Status: r.Status, Cause: r.Cause, Codec: r.Codec, PacketsSent: r.PacketsSent, PacketsReceived: r.PacketsReceived,
		PacketsLost: r.PacketsLost, JitterMs: r.JitterMillis}
	if !r.Answered.IsZero() {
		at := r.Answered
		out.AnsweredAt = &at
		out.Duration = max(0, r.Ended.Sub(r.Answered).Seconds())
	}
	if expected := r.PacketsReceived + r.PacketsLost; expected > 0 {
		out.Loss = float64(r.PacketsLost) / float64(expected)
	}
	if me != "" {
		if r.FromUserID == me {
			out.Mine, out.Peer = "outgoing", r.To
		} else {
			out.Mine, out.Peer, out.PeerName = "incoming", r.From, r.FromName
		}
	}
	return out
}

var recordOutcomes = []string{sip.OutcomeAnswered, sip.OutcomeBusy, sip.OutcomeNoAnswer, sip.OutcomeRejected,
	sip.OutcomeCancelled, sip.OutcomeFailed}

var cursorPattern = regexp.MustCompile(`^([0-9]{1,15})\.(cdr_[a-z0-9]{1,40})$`)

// parseRecordFilter reads the query's filters; the error is for the client.
func parseRecordFilter(r *http.Request) (store.CallRecordFilter, bool, error) {
	q := r.URL.Query()
	var f store.CallRecordFilter
	csvOut := false
	for key := range q {
		switch key {
		case "from", "to", "q", "outcome", "direction", "limit", "cursor", "format", "user":
		default:
			return f, false, fmt.Errorf("unknown parameter %q (from, to, q, outcome, direction, limit, cursor, format, user)", key)
		}
	}
	when := func(key string) (time.Time, error) {
		v := q.Get(key)
		if v == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return t, fmt.Errorf("%s must be a time such as 2026-12-07T09:00:00Z", key)
		}
		return t, nil
	}
	var err error
	if f.Since, err = when("from"); err != nil {
		return f, false, err
	}
	if f.Until, err = when("to"); err != nil {
		return f, false, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return f, false, errors.New("to must be after from")
	}
	f.Number = strings.TrimSpace(q.Get("q"))
	if len(f.Number) > 64 {
		return f, false, errors.New("q is at most 64 characters")
	}
	if o := q.Get("outcome"); o != "" {
		if !slicesContains(recordOutcomes, o) {
			return f, false, fmt.Errorf("outcome must be one of %s", strings.Join(recordOutcomes, ", "))
		}
		f.Outcome = o
	}
	if d := q.Get("direction"); d != "" {
		if d != sip.RecordInbound && d != sip.RecordOutbound {
			return f, false, errors.New("direction must be inbound or outbound")
		}
		f.Direction = d
	}
	f.Limit = 50
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > store.MaxCallRecordPage {
			return f, false, fmt.Errorf("limit must be a number from 1 to %d", store.MaxCallRecordPage)
		}
		f.Limit = n
	}
	if c := q.Get("cursor"); c != "" {
		m := cursorPattern.FindStringSubmatch(c)
		if m == nil {
			return f, false, errors.New("cursor must be the next value of a previous answer")
		}
		ms, _ := strconv.ParseInt(m[1], 10, 64)
		f.AfterStarted, f.AfterID = time.UnixMilli(ms).UTC(), m[2]
	}
	switch q.Get("format") {
	case "", "json":
	case "csv":
		csvOut = true
	default:
		return f, false, errors.New("format must be json or csv")
	}
	return f, csvOut, nil
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func recordCursor(r store.CallRecord) string {
	return strconv.FormatInt(r.Started.UnixMilli(), 10) + "." + r.ID
}

// listCallRecords answers a listing: user's own records, or all when user is "".
func (a *App) listCallRecords(w http.ResponseWriter, r *http.Request, user string) {
	f, csvOut, err := parseRecordFilter(r)
	if err != nil {
		apiError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if user != "" {
		if r.URL.Query().Has("user") {
			apiError(w, http.StatusBadRequest, "bad_request", "user is for admins (GET /api/v1/sip/calls?user=...)")
			return
		}
		f.UserID = user
	} else {
		f.UserID = r.URL.Query().Get("user") // an admin looking at one person's calls
	}
	a.sweepCallRecords()
	if csvOut {
		a.exportCallRecords(w, r, f)
		return
	}
	list, err := a.store.CallRecords(r.Context(), f)
	if err != nil {
		a.log.Error("sip: call records", "err", err)
		apiError(w, http.StatusInternalServerError, "internal", "request failed")
		return
	}
	out := make([]callRecordJSON, 0, len(list))
	for _, rec := range list {
		out = append(out, recordJSON(rec, user))
	}
	next := ""
	if len(list) == f.Limit {
		next = recordCursor(list[len(list)-1])
	}
	apiJSON(w, http.StatusOK, map[string]any{"calls": out, "next": next})
}

// exportCallRecords writes every matching record (up to recordCSVMax) as CSV.
func (a *App) exportCallRecords(w http.ResponseWriter, r *http.Request, f store.CallRecordFilter) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="call-records.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	cw.Write([]string{"started_at", "answered_at", "ended_at", "duration_s", "direction", "from", "from_name", "to", "trunk",
		"outcome", "status", "cause", "codec", "packets_sent", "packets_received", "packets_lost", "loss", "jitter_ms", "call_id"})
	f.Limit = store.MaxCallRecordPage
	for written := 0; written < recordCSVMax; {
		list, err := a.store.CallRecords(r.Context(), f)
		if err != nil {
			a.log.Error("sip: call records export", "err", err)
			cw.Write([]string{"# export stopped by an error; see the server log"})
			break
		}
		for _, rec := range list {
			j := recordJSON(rec, "")
			answered := ""
			if j.AnsweredAt != nil {
				answered = j.AnsweredAt.Format(time.RFC3339Nano)
			}
			cw.Write([]string{j.StartedAt.Format(time.RFC3339Nano), answered, j.EndedAt.Format(time.RFC3339Nano),
				strconv.FormatFloat(j.Duration, 'f', 1, 64), j.Direction, csvCell(j.From), csvCell(j.FromName), csvCell(j.To),
				csvCell(j.Trunk), j.Outcome, strconv.Itoa(j.Status), csvCell(j.Cause), j.Codec,
				strconv.FormatUint(j.PacketsSent, 10), strconv.FormatUint(j.PacketsReceived, 10), strconv.FormatUint(j.PacketsLost, 10),
				strconv.FormatFloat(j.Loss, 'f', 4, 64), strconv.FormatFloat(j.JitterMs, 'f', 2, 64), csvCell(j.CallID)})
		}
		written += len(list)
		if len(list) < f.Limit {
			break
		}
		last := list[len(list)-1]
		f.AfterStarted, f.AfterID = last.Started, last.ID
	}
	cw.Flush()
}

var plainNumber = regexp.MustCompile(`^[+-]?[0-9]+$`)

// csvCell defuses spreadsheet formulas in text that phones chose (a display
// name "=HYPERLINK(...)"); phone numbers such as +15551234567 stay as they are.
func csvCell(s string) string {
	if s == "" || plainNumber.MatchString(s) {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}
