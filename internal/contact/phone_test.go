package contact

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/internal/protocol"
)

// phonesSpy records what the service asks of the gateway.
type phonesSpy struct {
	mu    sync.Mutex
	calls []string
}

func (p *phonesSpy) Release(id string) { p.add("release " + id) }
func (p *phonesSpy) Hangup(id string, tone bool) {
	if tone {
		p.add("hangup+tone " + id)
	} else {
		p.add("hangup " + id)
	}
}

// Dialable: numbers, not "" (anonymous), not +1555999…
func (p *phonesSpy) Dialable(n string) bool { return n != "" && !strings.HasPrefix(n, "+1555999") }
func (p *phonesSpy) add(s string) {
	p.mu.Lock()
	p.calls = append(p.calls, s)
	p.mu.Unlock()
}
func (p *phonesSpy) has(s string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Contains(p.calls, s)
}

// Telephone callers in routing: a closed queue and a full line are
// refused before the call is answered; a number already in line is busy;
// a caller stays through the visitor grace (no socket); the contact
// reaching an agent is the agent's to connect (PhoneFor), a transfer to a
// queue or the agent going offline releases the line, the end hangs it
// up; a caller hanging up while waiting abandons. A name the trunk does not send keeps the one known.
func TestArrivePhone(t *testing.T) {
	spy := &phonesSpy{}
	e := newEnv(t, func(c *Config) { c.Phones = spy; c.VisitorGrace = time.Second })
	ctx := t.Context()
	ann := e.user("ann", "agent")
	for _, q := range []QueueDoc{
		{ID: "sales", Name: "Sales", Members: []MemberDoc{{User: "ann"}}, Media: []string{"voice"}},
		{ID: "full", Name: "Full", Media: []string{"voice"}, MaxLength: 1, Overflow: OverflowDoc{To: "message"}},
		{ID: "night", Name: "Night", Media: []string{"voice"}, Hours: &HoursDoc{Timezone: "UTC", Days: map[string][][2]string{}}},
		{ID: "chat", Name: "Chat", Media: []string{"chat"}},
	} {
		if _, err := e.svc.PutQueue(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, out, err := e.svc.ArrivePhone(ctx, PhoneArrival{Queue: "night", Number: "+15550000001"}); err != nil || out != PhoneClosed {
		t.Fatalf("closed queue: %s %v", out, err)
	}
	if _, _, err := e.svc.ArrivePhone(ctx, PhoneArrival{Queue: "chat", Number: "+15550000001"}); err == nil {
		t.Fatal("a chat-only queue took a call")
	}
	if _, _, err := e.svc.ArrivePhone(ctx, PhoneArrival{Queue: "nope", Number: "+15550000001"}); err == nil {
		t.Fatal("an unknown queue took a call")
	}
	if _, out, _ := e.svc.ArrivePhone(ctx, PhoneArrival{Queue: "full", Number: "+15550000002"}); out != PhoneQueued {
		t.Fatalf("first in the full queue: %s", out)
	}
	e.clock.Advance(time.Second)
	if _, out, _ := e.svc.ArrivePhone(ctx, PhoneArrival{Queue: "full", Number: "+15550000003"}); out != PhoneBusy {
		t.Fatalf("past the line's length: %s", out)
	}

	id, out, err := e.svc.ArrivePhone(ctx, PhoneArrival{Queue: "sales", Number: "+15557654321", Name: "Jane"})
	if err != nil || out != PhoneQueued {
		t.Fatalf("arrive: %s %v", out, err)
	}
	if _, out, _ := e.svc.ArrivePhone(ctx, PhoneArrival{Queue: "sales", Number: "+15557654321"}); out != PhoneBusy {
		t.Fatalf("the same number again while in line: %s", out)
	}
	e.clock.Advance(5 * time.Second) // past the visitor grace: a caller has no socket, and stays
	e.tick()
	if _, err := e.svc.SetState(ctx, ann, "available"); err != nil {
		t.Fatal(err)
	}
	v, err := e.svc.Accept(ctx, "ann", id)
	if err != nil || v.Visitor.Phone != "+15557654321" || v.Visitor.Name != "Jane" || !v.OnLine {
		t.Fatalf("accept: %+v %v", v, err)
	}
	pc, ok := e.svc.PhoneFor("ann", v.Conversation)
	if !ok || !pc.OnLine || pc.ID != id || pc.Number != "+15557654321" {
		t.Fatalf("phone for ann: %+v %v", pc, ok)
	}
	if _, ok := e.svc.PhoneFor("bob", v.Conversation); ok {
		t.Fatal("the phone of a contact is another agent's")
	}
	if err := e.svc.Transfer(ctx, "ann", id, "sales"); err != nil || !spy.has("release "+id) {
		t.Fatalf("transfer: %v %v", err, spy.calls)
	}
	if _, err := e.svc.Accept(ctx, "ann", id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.End(ctx, "ann", id); err != nil || !spy.has("hangup "+id) {
		t.Fatalf("end: %v %v", err, spy.calls)
	}
	e.svc.PhoneGone(ctx, id) // the BYE's echo: nothing more
	if c, _ := e.st.Contact(ctx, id); c.Status != statusEnded {
		t.Fatalf("ended contact: %+v", c)
	}

	// The same number, no name this time: the same visitor, the same name.
	if _, err := e.svc.WrapUp(ctx, "ann", id, "resolved", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetState(ctx, ann, "paused"); err != nil {
		t.Fatal(err)
	}
	id2, out, _ := e.svc.ArrivePhone(ctx, PhoneArrival{Queue: "sales", Number: "+15557654321"})
	if out != PhoneQueued {
		t.Fatalf("again: %s", out)
	}
	c1, _ := e.st.Contact(ctx, id)
	c2, _ := e.st.Contact(ctx, id2)
	if vis, _ := e.st.Visitor(ctx, c2.VisitorID); c1.VisitorID != c2.VisitorID || vis.DisplayName != "Jane" {
		t.Fatalf("visitors %s, %s (%q)", c1.VisitorID, c2.VisitorID, vis.DisplayName)
	}
	// A third call sending another name: shown with this contact, and the
	// stored visitor keeps theirs (a display name is anyone's to send).
	if _, out, _ := e.svc.ArrivePhone(ctx, PhoneArrival{Queue: "sales", Number: "+15557654321", Name: "Mallory"}); out != PhoneBusy {
		t.Fatalf("a third call while in line: %s", out) // (busy: only the name matters here)
	}
	if vis, _ := e.st.Visitor(ctx, c2.VisitorID); vis.DisplayName != "Jane" {
		t.Fatalf("a caller's display name renamed the stored visitor: %q", vis.DisplayName)
	}
	// Answered, then the agent goes offline: the caller waits again.
	if _, err := e.svc.SetState(ctx, ann, "available"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Accept(ctx, "ann", id2); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetState(ctx, ann, "offline"); err != nil || !spy.has("release "+id2) {
		t.Fatalf("agent offline: %v %v", err, spy.calls)
	}
	if c, _ := e.st.Contact(ctx, id2); c.Status != statusWaiting {
		t.Fatalf("requeued: %+v", c)
	}
	e.svc.PhoneGone(ctx, id2)
	if c, _ := e.st.Contact(ctx, id2); c.Status != statusAbandoned {
		t.Fatalf("hung up while waiting: %+v", c)
	}
}

// A callback with a number leaving its agent (transfer) releases it: the
// gateway ends the agent's call to the number; the colleague's console
// is told the caller is not on the line (it does not dial by itself).
func TestCallbackPhoneTransfer(t *testing.T) {
	spy := &phonesSpy{}
	e := newEnv(t, func(c *Config) {
		c.Phones = spy
		c.CheckPhone = func(n string) (string, error) { return n, nil }
	})
	ctx := t.Context()
	ann := e.user("ann", "agent")
	e.user("bob", "agent")
	if _, err := e.svc.PutQueue(ctx, QueueDoc{ID: "sales", Name: "Sales", Members: []MemberDoc{{User: "ann"}, {User: "bob"}}, Media: []string{"voice"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.PutWidget(ctx, WidgetDoc{ID: "site", Queue: "sales", Title: "Sales"}); err != nil {
		t.Fatal(err)
	}
	v := e.visitor("site", "Vera")
	c, err := e.svc.Arrive(ctx, v, ArriveRequest{Media: "voice", Callback: true, Phone: "+442079460000"})
	if err != nil || c.Status != statusCallback {
		t.Fatalf("arrive: %+v %v", c, err)
	}
	if _, err := e.svc.SetState(ctx, ann, "available"); err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.Accept(ctx, "ann", c.ID)
	if err != nil || got.OnLine {
		t.Fatalf("accept: %+v %v", got, err)
	}
	if err := e.svc.Transfer(ctx, "ann", c.ID, "sales"); err != nil || !spy.has("release "+c.ID) {
		t.Fatalf("transfer: %v %v", err, spy.calls)
	}
}

// A caller nobody could call back (anonymous, or a number no trunk may
// call) is never told a callback is booked: refused at once when the
// queue books callbacks now (480), hung up on without the tone when their
// wait overflows to one; either way the contact ends, and nothing is left
// waiting to be called.
func TestPhoneNoCallback(t *testing.T) {
	spy := &phonesSpy{}
	e := newEnv(t, func(c *Config) { c.Phones = spy })
	ctx := t.Context()
	for _, q := range []QueueDoc{
		{ID: "night", Name: "Night", Media: []string{"voice"}, Hours: &HoursDoc{Timezone: "UTC", Days: map[string][][2]string{}}, AfterHours: OverflowDoc{To: "callback"}},
		{ID: "short", Name: "Short", Media: []string{"voice"}, MaxWaitSeconds: 1, Overflow: OverflowDoc{To: "callback"}},
	} {
		if _, err := e.svc.PutQueue(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, out, err := e.svc.ArrivePhone(ctx, PhoneArrival{Queue: "night", Number: "+15557654321"}); err != nil || out != PhoneCallback {
		t.Fatalf("a number, closed queue booking callbacks: %s %v", out, err)
	}
	for _, n := range []string{"anonymous", "+15559990000"} {
		id, out, err := e.svc.ArrivePhone(ctx, PhoneArrival{Queue: "night", Number: n})
		if err != nil || out != PhoneNoCallback {
			t.Fatalf("%s, closed queue booking callbacks: %s %v", n, out, err)
		}
		if c, _ := e.st.Contact(ctx, id); c.Status == statusCallback || c.EndedAt.IsZero() {
			t.Fatalf("%s: the contact is %+v, want ended", n, c)
		}
	}
	id, out, err := e.svc.ArrivePhone(ctx, PhoneArrival{Queue: "short", Number: "anonymous"})
	if err != nil || out != PhoneQueued {
		t.Fatalf("anonymous in line: %s %v", out, err)
	}
	e.clock.Advance(2 * time.Second)
	e.tick()
	if !spy.has("hangup "+id) || spy.has("hangup+tone "+id) {
		t.Fatalf("overflow to a callback of an anonymous caller: %v", spy.calls)
	}
	e.svc.PhoneGone(ctx, id) // the BYE
	if c, _ := e.st.Contact(ctx, id); c.Status == statusCallback || c.EndedAt.IsZero() {
		t.Fatalf("the anonymous caller's contact is %+v, want ended", c)
	}
}

// A caller whose callback is booked calls again: they wait on the line
// for it, as that contact (not busy, not a second contact); the agent who
// accepts it talks to them on the line.
func TestPhoneCallbackCallsAgain(t *testing.T) {
	spy := &phonesSpy{}
	e := newEnv(t, func(c *Config) { c.Phones = spy })
	ctx := t.Context()
	ann := e.user("ann", "agent")
	if _, err := e.svc.PutQueue(ctx, QueueDoc{ID: "short", Name: "Short", Members: []MemberDoc{{User: "ann"}}, Media: []string{"voice"},
		MaxWaitSeconds: 1, Overflow: OverflowDoc{To: "callback"}}); err != nil {
		t.Fatal(err)
	}
	id, out, err := e.svc.ArrivePhone(ctx, PhoneArrival{Queue: "short", Number: "+15557654321"})
	if err != nil || out != PhoneQueued {
		t.Fatalf("arrive: %s %v", out, err)
	}
	e.clock.Advance(2 * time.Second)
	e.tick()
	if !spy.has("hangup+tone " + id) {
		t.Fatalf("overflow to a callback: %v", spy.calls)
	}
	e.svc.PhoneGone(ctx, id) // the BYE after the tone
	again, out, err := e.svc.ArrivePhone(ctx, PhoneArrival{Queue: "short", Number: "+15557654321"})
	if err != nil || out != PhoneQueued || again != id {
		t.Fatalf("calling again with a callback booked: %s %s %v, want queued as %s", again, out, err, id)
	}
	if _, err := e.svc.SetState(ctx, ann, "available"); err != nil {
		t.Fatal(err)
	}
	v, err := e.svc.Accept(ctx, "ann", id)
	if err != nil || !v.OnLine {
		t.Fatalf("accept: %+v %v", v, err)
	}
	if pc, ok := e.svc.PhoneFor("ann", v.Conversation); !ok || !pc.OnLine {
		t.Fatalf("phone for ann: %+v %v", pc, ok)
	}
}

// A caller whose wait becomes a message: its conversation's name carries
// the number even when the trunk sent a name (the agents call it back);
// webhooks never carry the number (agents only).
func TestPhoneMessageNameAndHooks(t *testing.T) {
	var mu sync.Mutex
	var hooked []protocol.ContactView
	e := newEnv(t, func(c *Config) {
		c.Phones = &phonesSpy{}
		c.Publish = func(_ string, data any) {
			if v, ok := data.(map[string]any)["contact"].(protocol.ContactView); ok {
				mu.Lock()
				hooked = append(hooked, v)
				mu.Unlock()
			}
		}
	})
	ctx := t.Context()
	if _, err := e.svc.PutQueue(ctx, QueueDoc{ID: "full", Name: "Full", Media: []string{"voice"}, MaxLength: 1, Overflow: OverflowDoc{To: "message"}}); err != nil {
		t.Fatal(err)
	}
	if _, out, _ := e.svc.ArrivePhone(ctx, PhoneArrival{Queue: "full", Number: "+15550000002"}); out != PhoneQueued {
		t.Fatalf("first: %s", out)
	}
	e.clock.Advance(time.Second)
	id, _, err := e.svc.ArrivePhone(ctx, PhoneArrival{Queue: "full", Number: "+15557654321", Name: "Jane"})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := e.st.Contact(ctx, id)
	if c.Status != statusMessage {
		t.Fatalf("past the line's length: %+v", c)
	}
	if conv, err := e.st.Conversation(ctx, c.Conversation); err != nil || !strings.Contains(conv.Name, "+15557654321") || !strings.Contains(conv.Name, "Jane") {
		t.Fatalf("the message's conversation: %q %v", conv.Name, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hooked) == 0 {
		t.Fatal("no webhook events")
	}
	for _, v := range hooked {
		if v.Visitor.Phone != "" {
			t.Fatalf("a webhook carries the caller's number: %+v", v)
		}
	}
}

// The widget asks for a number only when callbacks by phone can be placed
// now (CanCallBack: gateway, trunk, sip.callback_prefixes), not merely
// because the server can check numbers.
func TestStatusCallbackPhone(t *testing.T) {
	can := false
	e := newEnv(t, func(c *Config) {
		c.CheckPhone = func(n string) (string, error) { return n, nil }
		c.CanCallBack = func() bool { return can }
	})
	ctx := t.Context()
	if _, err := e.svc.PutQueue(ctx, QueueDoc{ID: "sales", Name: "Sales", Media: []string{"voice"}}); err != nil {
		t.Fatal(err)
	}
	wd, err := e.svc.PutWidget(ctx, WidgetDoc{ID: "site", Queue: "sales", Title: "Sales"})
	if err != nil {
		t.Fatal(err)
	}
	if e.svc.status(wd).CallbackPhone {
		t.Fatal("the phone field is offered while callbacks by phone cannot be placed")
	}
	can = true
	if !e.svc.status(wd).CallbackPhone {
		t.Fatal("the phone field is not offered while callbacks by phone can be placed")
	}
}
