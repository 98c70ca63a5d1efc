package store

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestCallRecords(t *testing.T) { eachBackend(t, testCallRecords) }

// Records are stored with every field, listed newest first with filters and
// a cursor that neither skips nor repeats records started in the same
// millisecond, survive a restart, and old ones are swept. A link to a
// user who does not exist is dropped, not the record.
func testCallRecords(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	for _, u := range []string{"u1", "u2"} {
		if err := s.CreateUser(ctx, User{ID: u, Username: u, DisplayName: u, Role: "member"}); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	full := CallRecord{ID: "r0", CallID: "abc@host", Direction: "inbound", From: "100", FromName: "Front Desk", To: "+15551234567",
		Trunk: "t_1", FromUserID: "u1", ToUserID: "u2", Started: t0, Answered: t0.Add(2 * time.Second), Ended: t0.Add(62 * time.Second),
		Outcome: "answered", Status: 200, Cause: "remote-hangup", Codec: "PCMU", PacketsSent: 3000, PacketsReceived: 2990,
		PacketsLost: 10, JitterMillis: 4.5}
	if err := s.AddCallRecord(ctx, full); err != nil {
		t.Fatal(err)
	}
	if err := s.AddCallRecord(ctx, full); !errors.Is(err, ErrExists) {
		t.Fatalf("same id twice: %v", err)
	}
	for _, bad := range []CallRecord{{ID: "x"}, {ID: "x", Started: t0, Ended: t0, Outcome: "failed", Direction: "sideways"}} {
		if err := s.AddCallRecord(ctx, bad); err == nil {
			t.Fatalf("bad record %+v accepted", bad)
		}
	}
	// A link to a user who is gone is dropped, not the record.
	ghost := CallRecord{ID: "r1", CallID: "c1", Direction: "outbound", From: "ann", To: "200", FromUserID: "nobody",
		Started: t0.Add(time.Minute), Ended: t0.Add(time.Minute), Outcome: "no_answer", Status: 480}
	if err := s.AddCallRecord(ctx, ghost); err != nil {
		t.Fatal(err)
	}
	// Five calls in the same millisecond, then more later.
	for i := range 5 {
		r := CallRecord{ID: fmt.Sprintf("s%d", i), CallID: "c", Direction: "outbound", From: "u2", To: "300", ToUserID: "u1",
			Started: t0.Add(2 * time.Minute), Ended: t0.Add(3 * time.Minute), Outcome: "busy", Status: 486}
		if err := s.AddCallRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	s = b.open(t)
	all, err := s.CallRecords(ctx, CallRecordFilter{})
	if err != nil || len(all) != 7 {
		t.Fatalf("all: %d, %v", len(all), err)
	}
	if got := all[6]; got != full {
		t.Fatalf("stored %+v\nwant   %+v", got, full)
	}
	if all[5].FromUserID != "" || all[5].Answered != (time.Time{}) {
		t.Fatalf("ghost record %+v", all[5])
	}
	// Paging by two over the same-millisecond calls.
	var seen []string
	f := CallRecordFilter{Limit: 2}
	for {
		page, err := s.CallRecords(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			seen = append(seen, r.ID)
		}
		last := page[len(page)-1]
		f.AfterStarted, f.AfterID = last.Started, last.ID
	}
	if fmt.Sprint(seen) != "[s4 s3 s2 s1 s0 r1 r0]" {
		t.Fatalf("pages %v", seen)
	}
	count := func(f CallRecordFilter) int {
		t.Helper()
		l, err := s.CallRecords(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return len(l)
	}
	checks := []struct {
		name string
		f    CallRecordFilter
		want int
	}{
		{"number substring", CallRecordFilter{Number: "555123"}, 1},
		{"name in any case", CallRecordFilter{Number: "front desk"}, 1},
		{"LIKE characters are literal", CallRecordFilter{Number: "%"}, 0},
		{"outcome", CallRecordFilter{Outcome: "busy"}, 5},
		{"direction", CallRecordFilter{Direction: "inbound"}, 1},
		{"user on either side", CallRecordFilter{UserID: "u1"}, 6},
		{"other user", CallRecordFilter{UserID: "u2"}, 1},
		{"since", CallRecordFilter{Since: t0.Add(time.Minute)}, 6},
		{"until", CallRecordFilter{Until: t0.Add(time.Minute)}, 1},
		{"window", CallRecordFilter{Since: t0.Add(30 * time.Second), Until: t0.Add(90 * time.Second)}, 1},
	}
	for _, c := range checks {
		if got := count(c.f); got != c.want {
			t.Errorf("%s: %d records, want %d", c.name, got, c.want)
		}
	}
	n, err := s.DeleteCallRecordsBefore(ctx, t0.Add(90*time.Second))
	if err != nil || n != 2 {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	if got := count(CallRecordFilter{}); got != 5 {
		t.Fatalf("after the sweep: %d", got)
	}
}

// BenchmarkAddCallRecord is what one record costs to store on SQLite: the
// gateway's writer must keep up with call setups (two legs per bridged call).
func BenchmarkAddCallRecord(b *testing.B) {
	s, err := Open(b.Context(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	t0 := time.Now()
	r := CallRecord{CallID: "c@x", Direction: "outbound", From: "ann", To: "+15551234567", Started: t0, Answered: t0, Ended: t0,
		Outcome: "answered", Status: 200, Codec: "PCMU", PacketsSent: 3000, PacketsReceived: 3000}
	b.ResetTimer()
	for i := range b.N {
		r.ID = fmt.Sprintf("cdr_%d", i)
		if err := s.AddCallRecord(b.Context(), r); err != nil {
			b.Fatal(err)
		}
	}
}
