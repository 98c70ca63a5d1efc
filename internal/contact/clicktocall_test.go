package contact

import (
	"errors"
	"slices"
	"testing"
	"time"

	"switchboard/internal/chat"
)

// Click-to-call: a widget with a phone offers it to visitors (without
// saying which), gives it to the widget's visitors only, a few times per
// window, and not while its queue is closed; a malformed phone is refused.
func TestClickToCall(t *testing.T) {
	reachable := true
	e := setup(t, func(c *Config) { c.CanCall = func(string) bool { return reachable } })
	ctx := t.Context()
	vera := e.visitor("site", "Vera")
	if _, err := e.svc.ClickToCall(ctx, visitorIdentity(vera, nil)); err == nil {
		t.Fatal("a widget without a phone placed a call")
	}
	if st := e.svc.status(e.svc.widgets["site"]); slices.Contains(st.Media, "phone") || st.Available["phone"] {
		t.Fatalf("a widget without a phone offers one: %+v", st)
	}
	var inv *InvalidError
	for _, bad := range []string{"+1 555 123", "sip:x@evil.example", "12;user=phone", string(make([]byte, 65))} {
		if _, err := e.svc.PutWidget(ctx, WidgetDoc{ID: "site", Queue: "sales", Phone: bad}); !errors.As(err, &inv) {
			t.Errorf("phone %q: %v", bad, err)
		}
	}
	if _, err := e.svc.PutWidget(ctx, WidgetDoc{ID: "site", Queue: "sales", Phone: "+15551234567"}); err != nil {
		t.Fatal(err)
	}
	st := e.svc.status(e.svc.widgets["site"])
	if !slices.Contains(st.Media, "phone") || !st.Available["phone"] {
		t.Fatalf("status: %+v", st)
	}
	if q := e.svc.queues["sales"]; slices.Contains(q.Media, "phone") {
		t.Fatal("the status changed the queue's media")
	}
	// A phone the gateway cannot reach now (not registered, no trunk) is not offered.
	reachable = false
	if st := e.svc.status(e.svc.widgets["site"]); slices.Contains(st.Media, "phone") || st.Available["phone"] {
		t.Fatalf("an unreachable phone offered: %+v", st)
	}
	reachable = true
	for i := range maxCallsPerAddress {
		if got, err := e.svc.ClickToCall(ctx, visitorIdentity(vera, nil)); err != nil || got != "+15551234567" {
			t.Fatalf("call %d: %q %v", i+1, got, err)
		}
	}
	if _, err := e.svc.ClickToCall(ctx, visitorIdentity(vera, nil)); !errors.Is(err, chat.ErrTooManyCalls) {
		t.Fatalf("a call beyond the limit: %v", err)
	}
	// A new visit from the same address does not start the count again.
	if _, err := e.svc.ClickToCall(ctx, visitorIdentity(e.visitor("site", "Vera again"), nil)); !errors.Is(err, chat.ErrTooManyCalls) {
		t.Fatalf("a new visitor from the same address: %v", err)
	}
	e.clock.Advance(callWindow)
	if _, err := e.svc.ClickToCall(ctx, visitorIdentity(vera, nil)); err != nil {
		t.Fatalf("a call after the window: %v", err)
	}
	// Closed: no calls.
	if _, err := e.svc.PutQueue(ctx, QueueDoc{ID: "sales", Name: "sales", Members: []MemberDoc{{User: "ann"}},
		Hours: &HoursDoc{Timezone: "UTC", Days: map[string][][2]string{}}}); err != nil {
		t.Fatal(err)
	}
	otto := e.visitor("site", "Otto")
	if _, err := e.svc.ClickToCall(ctx, visitorIdentity(otto, nil)); err == nil || err.Error() != "we are closed" {
		t.Fatalf("a call while closed: %v", err)
	}
	// A visitor whose widget has no phone any more cannot call.
	if _, err := e.svc.PutWidget(ctx, WidgetDoc{ID: "site", Queue: "sales"}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	if _, err := e.svc.ClickToCall(ctx, visitorIdentity(vera, nil)); err == nil {
		t.Fatal("a call after the phone was removed")
	}
}
