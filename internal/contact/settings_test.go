package contact

import (
	"errors"
	"strings"
	"testing"
	"time"

	"switchboard/internal/contact/routing"
)

// What an admin writes is accepted, or refused with words that say what to
// change.
func TestQueueDoc(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want string // "" accepts
	}{
		{`{"id":"sales","name":"Sales"}`, ""},
		{`{"id":"sales","name":"Sales","strategy":"ring_all","hours":{"timezone":"Europe/Paris","days":{"mon":[["09:00","17:30"]]},"holidays":["2026-12-25"]}}`, ""},
		{`{"id":"Sales","name":"Sales"}`, "lowercase"},
		{`{"id":"sales","name":""}`, "name is required"},
		{`{"id":"sales","name":"S","strategy":"loudest"}`, `unknown strategy "loudest"`},
		{`{"id":"sales","name":"S","media":["fax"]}`, `media "fax"`},
		{`{"id":"sales","name":"S","maxWaitSeconds":60}`, "needs an overflow target"},
		{`{"id":"sales","name":"S","overflow":{"to":"queue","queue":"sales"}}`, "overflow to itself"},
		{`{"id":"sales","name":"S","offerTimeoutSeconds":-1}`, "offerTimeoutSeconds"},
		{`{"id":"sales","name":"S","hours":{"timezone":"Mars/Olympus","days":{}}}`, "unknown time zone"},
		{`{"id":"sales","name":"S","hours":{"timezone":"UTC","days":{"monday":[["09:00","17:00"]]}}}`, `day "monday"`},
		{`{"id":"sales","name":"S","hours":{"timezone":"UTC","days":{"mon":[["9am","17:00"]]}}}`, `time "9am"`},
		{`{"id":"sales","name":"S","hours":{"timezone":"UTC","days":{"mon":[["09:00","24:30"]]}}}`, `time "24:30"`},
		{`{"id":"sales","name":"S","hours":{"timezone":"UTC","holidays":["25/12"]}}`, `holiday "25/12"`},
		{`{"id":"sales","name":"S","colour":"red"}`, `unknown field "colour"`},
	} {
		var d QueueDoc
		err := decodeDoc([]byte(tc.doc), &d)
		if err == nil {
			_, err = d.Routing()
		}
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.doc, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one saying %q", tc.doc, err, tc.want)
		}
		var inv *InvalidError
		if err != nil && !errors.As(err, &inv) {
			t.Errorf("%s: %T is not an InvalidError (it would be answered 500)", tc.doc, err)
		}
	}
}

// Opening hours are read on the queue's wall clock.
func TestQueueHours(t *testing.T) {
	var d QueueDoc
	if err := decodeDoc([]byte(`{"id":"q","name":"Q","hours":{"timezone":"Europe/Paris","days":{"mon":[["09:00","17:00"]]},"holidays":["2026-12-14"]}}`), &d); err != nil {
		t.Fatal(err)
	}
	q, err := d.Routing()
	if err != nil {
		t.Fatal(err)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	for _, tc := range []struct {
		at   time.Time
		open bool
	}{
		{time.Date(2026, 12, 7, 9, 0, 0, 0, paris), true},     // a Monday, 09:00 in Paris
		{time.Date(2026, 12, 7, 8, 30, 0, 0, time.UTC), true}, // 09:30 in Paris
		{time.Date(2026, 12, 7, 16, 30, 0, 0, time.UTC), false},
		{time.Date(2026, 12, 8, 10, 0, 0, 0, paris), false},  // Tuesday
		{time.Date(2026, 12, 14, 10, 0, 0, 0, paris), false}, // a Monday, but a holiday
	} {
		if got := q.Open(tc.at); got != tc.open {
			t.Errorf("open at %v = %v, want %v", tc.at, got, tc.open)
		}
	}
}

func TestWidgetDoc(t *testing.T) {
	queues := map[string]QueueDoc{"sales": {ID: "sales"}}
	for _, tc := range []struct {
		w    WidgetDoc
		want string
	}{
		{WidgetDoc{ID: "site", Queue: "sales", AllowedOrigins: []string{"https://www.example.com", "http://localhost:3000"}}, ""},
		{WidgetDoc{ID: "site", Queue: "support"}, `queue "support" does not exist`},
		{WidgetDoc{ID: "site", Queue: "sales", AllowedOrigins: []string{"https://www.example.com/shop"}}, "scheme and host"},
		{WidgetDoc{ID: "site", Queue: "sales", AllowedOrigins: []string{"*"}}, "scheme and host"},
		{WidgetDoc{ID: "site", Queue: "sales", AllowedOrigins: []string{"ftp://example.com"}}, "scheme and host"},
		{WidgetDoc{ID: "site", Queue: "sales", Consent: strings.Repeat("x", 1001)}, "consent"},
	} {
		err := tc.w.check(queues)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.w, err, tc.want)
		}
	}
}

// FuzzQueueDoc: whatever an admin (or an attacker with an admin's token)
// sends as a queue is refused with an InvalidError or becomes a queue the
// routing engine accepts; nothing panics.
func FuzzQueueDoc(f *testing.F) {
	f.Add([]byte(`{"id":"sales","name":"Sales","members":[{"user":"a","weight":2}],"maxWaitSeconds":30,"overflow":{"to":"message"}}`))
	f.Add([]byte(`{"id":"q","name":"Q","hours":{"timezone":"Europe/Paris","days":{"mon":[["09:00","24:00"]]},"holidays":["2026-12-25"]}}`))
	f.Add([]byte(`{"id":"q","name":"Q","overflow":{"to":"queue","queue":"other"},"afterHours":{"to":"callback"}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var d QueueDoc
		if err := decodeDoc(b, &d); err != nil {
			var inv *InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("decode error %T", err)
			}
			return
		}
		q, err := d.Routing()
		if err != nil {
			var inv *InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("routing error %T: %v", err, err)
			}
			return
		}
		if d.Overflow.To == "queue" || d.AfterHours.To == "queue" {
			return // the other queue does not exist here
		}
		if _, err := routing.NewEngine(routing.Config{}, []routing.Queue{q}); err != nil {
			t.Fatalf("a queue that passed validation is refused by the engine: %v", err)
		}
	})
}
