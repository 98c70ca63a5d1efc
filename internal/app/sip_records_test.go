package app

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"switchboard/internal/config"
	"switchboard/internal/sip"
	"switchboard/internal/store"
)

type recordsPage struct {
	Calls []callRecordJSON `json:"calls"`
	Next  string           `json:"next"`
}

// Records handed to OnRecord are stored, attributed to the users behind
// their parties, listed for admins with filters, paging and CSV, shown to
// each user for their own calls only, and counted in the metrics. Bad
// parameters and non-admins are refused.
func TestCallRecordsAPI(t *testing.T) {
	a := startSIPServer(t, nil)
	root := admin(t, a, "root")
	bob := member(t, a, "bob")
	carol := member(t, a, "carol")
	ctx := context.Background()
	// Extension 101 is bob's desk phone; 300 belongs to nobody.
	for _, acct := range []store.SIPAccount{
		{ID: "s1", Username: "101", UserID: "bob", Realm: "pbx.test", HA1MD5: "m", HA1SHA256: "s", Enabled: true},
		{ID: "s2", Username: "300", Realm: "pbx.test", HA1MD5: "m", HA1SHA256: "s", Enabled: true},
	} {
		if _, err := a.store.CreateSIPAccount(ctx, acct); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	recs := []sip.CallRecord{
		// carol (browser) called bob's desk phone 101, answered for 90 s.
		{CallID: "c1", Direction: sip.RecordOutbound, From: "carol", FromName: "Carol", To: "101", Started: t0,
			Answered: t0.Add(5 * time.Second), Ended: t0.Add(95 * time.Second), Outcome: sip.OutcomeAnswered, Status: 200,
			Cause: "local-hangup", Codec: "PCMU", PacketsSent: 4500, PacketsReceived: 4400, PacketsLost: 100, JitterMillis: 3.5},
		// the phone 300 called carol: nobody answered.
		{CallID: "c2", Direction: sip.RecordInbound, From: "300", FromName: "=HYPERLINK(\"x\")", To: "carol", Started: t0.Add(time.Minute),
			Ended: t0.Add(2 * time.Minute), Outcome: sip.OutcomeNoAnswer, Status: 480},
		// a trunk call from a number to bob's extension, busy.
		{CallID: "c3", Direction: sip.RecordInbound, From: "+15551234567", To: "101", Trunk: "t_1", Started: t0.Add(3 * time.Minute),
			Ended: t0.Add(3 * time.Minute), Outcome: sip.OutcomeBusy, Status: 486},
	}
	for i := range 4 {
		recs = append(recs, sip.CallRecord{CallID: fmt.Sprintf("f%d", i), Direction: sip.RecordOutbound, From: "root", To: "+4420",
			Started: t0.Add(10 * time.Minute), Ended: t0.Add(10 * time.Minute), Outcome: sip.OutcomeFailed, Status: 503})
	}
	for _, r := range recs {
		a.saveCallRecord(r)
	}
	a.waitCallRecords()

	api := a.URL() + "/api/v1/sip/calls"
	list := func(token, rawURL string) recordsPage {
		t.Helper()
		resp := jsonRequest(t, "GET", rawURL, token, "")
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("GET %s: %d %s", rawURL, resp.StatusCode, b)
		}
		return decodeJSON[recordsPage](t, resp)
	}
	all := list(root, api)
	if len(all.Calls) != 7 || all.Next != "" {
		t.Fatalf("all: %d records, next %q", len(all.Calls), all.Next)
	}
	c1 := all.Calls[6]
	if c1.CallID != "c1" || c1.FromUser != "carol" || c1.ToUser != "bob" || c1.Duration != 90 || c1.Codec != "PCMU" ||
		c1.Loss < 0.0222 || c1.Loss > 0.0223 || c1.JitterMs != 3.5 || c1.AnsweredAt == nil || c1.Mine != "" {
		t.Fatalf("c1 %+v", c1)
	}
	if c2 := all.Calls[5]; c2.FromUser != "" || c2.ToUser != "carol" || c2.AnsweredAt != nil {
		t.Fatalf("c2 %+v", c2)
	}
	if c3 := all.Calls[4]; c3.FromUser != "" || c3.ToUser != "bob" || c3.Trunk != "t_1" {
		t.Fatalf("c3 %+v", c3)
	}

	// Filters and paging.
	q := func(params string) int { return len(list(root, api+"?"+params).Calls) }
	for params, want := range map[string]int{
		"q=555":             1,
		"q=carol":           2,
		"outcome=busy":      1,
		"direction=inbound": 2,
		"user=bob":          2,
		"from=" + url.QueryEscape(t0.Add(time.Minute).Format(time.RFC3339)): 6,
		"to=" + url.QueryEscape(t0.Add(time.Minute).Format(time.RFC3339)):   1,
	} {
		if got := q(params); got != want {
			t.Errorf("%s: %d records, want %d", params, got, want)
		}
	}
	var ids []string
	next := api + "?limit=3"
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		p := list(root, next)
		for _, c := range p.Calls {
			ids = append(ids, c.CallID)
		}
		next = ""
		if p.Next != "" {
			next = api + "?limit=3&cursor=" + url.QueryEscape(p.Next)
		}
	}
	if len(ids) != 7 || ids[6] != "c1" {
		t.Fatalf("paged %v", ids)
	}

	// CSV: every record, a header, formulas defused, numbers kept.
	resp := jsonRequest(t, "GET", api+"?format=csv", root, "")
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/csv") {
		t.Fatalf("csv: %d %s", resp.StatusCode, ct)
	}
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || len(rows) != 8 || rows[0][0] != "started_at" {
		t.Fatalf("csv rows %d, %v", len(rows), err)
	}
	body := fmt.Sprint(rows)
	if !strings.Contains(body, `'=HYPERLINK`) || !strings.Contains(body, " +15551234567 ") {
		t.Fatalf("csv cells: %v", rows)
	}

	// Each user sees their own calls, from their side.
	mine := list(bob, a.URL()+"/api/v1/me/calls")
	if len(mine.Calls) != 2 || mine.Calls[0].Mine != "incoming" || mine.Calls[0].Peer != "+15551234567" ||
		mine.Calls[1].Mine != "incoming" || mine.Calls[1].Peer != "carol" {
		t.Fatalf("bob's calls %+v", mine.Calls)
	}
	cm := list(carol, a.URL()+"/api/v1/me/calls")
	if len(cm.Calls) != 2 || cm.Calls[1].Mine != "outgoing" || cm.Calls[1].Peer != "101" || cm.Calls[0].Peer != "300" {
		t.Fatalf("carol's calls %+v", cm.Calls)
	}

	// Refusals.
	if resp := jsonRequest(t, "GET", api, bob, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a member listed every record: %d", resp.StatusCode)
	}
	if resp := send(t, "GET", api, nil, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous: %d", resp.StatusCode)
	}
	if resp := send(t, "GET", a.URL()+"/api/v1/me/calls", nil, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous own calls: %d", resp.StatusCode)
	}
	for _, bad := range []string{"from=yesterday", "to=2026-13-01T00:00:00Z", "outcome=great", "direction=up", "limit=0",
		"limit=1001", "limit=x", "cursor=abc", "cursor=1.cdr_'--", "format=xml", "sort=asc", "q=" + strings.Repeat("9", 65),
		"from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z"} {
		if resp := jsonRequest(t, "GET", api+"?"+bad, root, ""); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, resp.StatusCode)
		} else if e := decodeJSON[map[string]string](t, resp); e["code"] != "bad_request" || e["message"] == "" {
			t.Errorf("%s: error %v", bad, e)
		}
	}
	for _, bad := range []string{"format=csv", "user=carol"} {
		if resp := jsonRequest(t, "GET", a.URL()+"/api/v1/me/calls?"+bad, bob, ""); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("own calls with %s: %d, want 400", bad, resp.StatusCode)
		}
	}

	// The dialer's feature check.
	ph := decodeJSON[map[string]any](t, jsonRequest(t, "GET", a.URL()+"/api/v1/me/phone", bob, ""))
	if ph["enabled"] != true || fmt.Sprint(ph["extensions"]) != "[101]" {
		t.Fatalf("me/phone %v", ph)
	}

	// Metrics from the records.
	metrics := send(t, "GET", a.URL()+"/metrics", nil, "")
	mb, _ := io.ReadAll(metrics.Body)
	for _, want := range []string{`switchboard_sip_call_attempts_total{direction="outbound",outcome="failed"} 4`,
		`switchboard_sip_call_attempts_total{direction="inbound",outcome="busy"} 1`,
		`switchboard_sip_call_duration_seconds_bucket{le="120"} 1`, `switchboard_sip_call_duration_seconds_count 1`} {
		if !strings.Contains(string(mb), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// Old records are swept; with SIP off the dialer's check says so.
func TestCallRecordsRetention(t *testing.T) {
	a := startSIPServer(t, func(c *config.Config) { c.SIP.RecordRetention = 48 * time.Hour })
	root := admin(t, a, "root")
	now := time.Now()
	a.saveCallRecord(sip.CallRecord{CallID: "old", Direction: sip.RecordInbound, From: "1", To: "2", Started: now.Add(-72 * time.Hour),
		Ended: now.Add(-72 * time.Hour), Outcome: sip.OutcomeFailed})
	a.saveCallRecord(sip.CallRecord{CallID: "new", Direction: sip.RecordInbound, From: "1", To: "2", Started: now, Ended: now,
		Outcome: sip.OutcomeFailed})
	a.waitCallRecords()
	// The first sweep ran when the queue drained: only the new one is left.
	p := decodeJSON[recordsPage](t, jsonRequest(t, "GET", a.URL()+"/api/v1/sip/calls", root, ""))
	if len(p.Calls) != 1 || p.Calls[0].CallID != "new" {
		t.Fatalf("after the sweep: %+v", p.Calls)
	}

	off := startServer(t, nil)
	m := member(t, off, "bob")
	ph := decodeJSON[map[string]any](t, jsonRequest(t, "GET", off.URL()+"/api/v1/me/phone", m, ""))
	if ph["enabled"] != false {
		t.Fatalf("me/phone with SIP off: %v", ph)
	}
}

// The records API's query parsing never panics, and what it accepts is in
// range: a page of 1 to 1000, a known outcome and direction, ordered times.
func FuzzParseRecordFilter(f *testing.F) {
	for _, s := range []string{"", "limit=10&cursor=1700000000000.cdr_abc", "from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
		"q=%2B1555&outcome=busy&direction=inbound&format=csv", "cursor=9999999999999999.cdr_x", "limit=-1", "user=bob&q=%00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		r, err := http.NewRequest("GET", "/api/v1/sip/calls?"+query, nil)
		if err != nil {
			return
		}
		fl, _, err := parseRecordFilter(r)
		if err != nil {
			return
		}
		if fl.Limit < 1 || fl.Limit > store.MaxCallRecordPage {
			t.Fatalf("limit %d", fl.Limit)
		}
		if fl.Outcome != "" && !slicesContains(recordOutcomes, fl.Outcome) || fl.Direction != "" && fl.Direction != sip.RecordInbound && fl.Direction != sip.RecordOutbound {
			t.Fatalf("filter %+v", fl)
		}
		if !fl.Since.IsZero() && !fl.Until.IsZero() && !fl.Until.After(fl.Since) {
			t.Fatalf("times %v %v", fl.Since, fl.Until)
		}
		if len(fl.Number) > 64 {
			t.Fatalf("q of %d bytes", len(fl.Number))
		}
	})
}

// The calls a shutdown ends are recorded: their records reach the store
// before it closes.
func TestCallRecordsStoredAtShutdown(t *testing.T) {
	dir := t.TempDir()
	a := startSIPServer(t, func(c *config.Config) { c.DataDir = dir })
	t0 := time.Now().UTC().Truncate(time.Second)
	const n = 300
	for i := range n {
		a.saveCallRecord(sip.CallRecord{CallID: fmt.Sprintf("s%d", i), Direction: sip.RecordInbound, From: "300", To: "101",
			Started: t0, Ended: t0, Outcome: sip.OutcomeCancelled, Status: 487})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got := 0
	f := store.CallRecordFilter{Limit: store.MaxCallRecordPage}
	for {
		page, err := st.CallRecords(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		got += len(page)
		if len(page) < f.Limit {
			break
		}
		last := page[len(page)-1]
		f.AfterStarted, f.AfterID = last.Started, last.ID
	}
	if got != n {
		t.Fatalf("%d of %d records stored before the server stopped", got, n)
	}
}
