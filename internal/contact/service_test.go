package contact

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/internal/chat"
	"switchboard/internal/client"
	"switchboard/internal/store"
)

// setup is two queues (sales, support) with one agent each, available, and
// a widget on sales.
func setup(t *testing.T, mutate func(*Config)) *env {
	t.Helper()
	e := newEnv(t, mutate)
	ctx := t.Context()
	for _, q := range []struct{ id, agent string }{{"sales", "ann"}, {"support", "bob"}} {
		e.user(q.agent, "agent")
		if _, err := e.svc.PutQueue(ctx, QueueDoc{ID: q.id, Name: q.id, Members: []MemberDoc{{User: q.agent}}, WrapUpSeconds: 30}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.SetState(ctx, e.identity(q.agent), "available"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.PutWidget(ctx, WidgetDoc{ID: "site", Queue: "sales"}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) members(conv string) []string {
	e.t.Helper()
	ms, err := e.st.Members(e.t.Context(), conv)
	if err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.UserID)
	}
	slices.Sort(ids)
	return ids
}

// A transfer puts the contact back in line in the other queue, ahead of
// newcomers: its agent is offered it, joins the conversation the first
// agent left, and the record keeps the first queue and the first answer.
func TestTransfer(t *testing.T) {
	e := setup(t, nil)
	ctx := t.Context()
	vera := e.visitor("site", "Vera")
	c, err := e.svc.Arrive(ctx, vera, ArriveRequest{Media: "chat"})
	if err != nil || c.Status != statusOffered {
		t.Fatalf("arrive: %+v %v", c, err)
	}
	e.clock.Advance(4 * time.Second)
	if _, err := e.svc.Accept(ctx, "ann", c.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.members(c.Conversation); !slices.Equal(got, []string{"ann", vera.ID}) {
		t.Fatalf("members after the answer: %v", got)
	}
	e.clock.Advance(time.Minute)
	if err := e.svc.Transfer(ctx, "bob", c.ID, "support"); err == nil {
		t.Fatal("an agent transferred a contact that is not theirs")
	}
	if err := e.svc.Transfer(ctx, "ann", c.ID, "support"); err != nil {
		t.Fatal(err)
	}
	if v := e.svc.Agent("ann"); v.State != "available" || len(v.Contacts) != 0 || len(v.WrapUps) != 0 {
		t.Fatalf("ann after the transfer: %+v", v)
	}
	if v := e.svc.Agent("bob"); len(v.Offers) != 1 || v.Offers[0].ID != c.ID {
		t.Fatalf("bob after the transfer: %+v", v)
	}
	e.clock.Advance(2 * time.Second)
	if _, err := e.svc.Accept(ctx, "bob", c.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.members(c.Conversation); !slices.Equal(got, []string{"bob", vera.ID}) {
		t.Fatalf("members after the transfer: %v", got)
	}
	e.clock.Advance(time.Minute)
	if _, err := e.svc.End(ctx, "bob", c.ID); err != nil {
		t.Fatal(err)
	}
	rec, err := e.st.Contact(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != statusEnded || rec.FirstQueue != "sales" || rec.Queue != "support" || rec.AgentID != "bob" ||
		rec.Wait != 4*time.Second || rec.Handle != 2*time.Minute {
		t.Fatalf("record: %+v", rec)
	}
	// Bob's wrap-up waits in his view (a console reload finds it) and ends
	// when he writes it.
	if v := e.svc.Agent("bob"); len(v.WrapUps) != 1 || v.WrapUps[0].ID != c.ID {
		t.Fatalf("bob's wrap-ups: %+v", v.WrapUps)
	}
	if _, err := e.svc.PutQueue(ctx, QueueDoc{ID: "support", Name: "support", Members: []MemberDoc{{User: "bob"}}, WrapUpSeconds: 30,
		WrapUpCodes: []string{"solved", "escalated"}}); err != nil {
		t.Fatal(err)
	}
	var inv *InvalidError
	if _, err := e.svc.WrapUp(ctx, "bob", c.ID, "whatever", ""); !errors.As(err, &inv) {
		t.Fatalf("a code the queue does not have: %v", err)
	}
	if v, err := e.svc.WrapUp(ctx, "bob", c.ID, "solved", "reset the password"); err != nil || v.WrapUpCode != "solved" {
		t.Fatalf("wrap-up: %+v %v", v, err)
	}
	if v := e.svc.Agent("bob"); v.State != "available" || len(v.WrapUps) != 0 {
		t.Fatalf("bob after his wrap-up: %s %+v", v.State, v.WrapUps)
	}
	queues, colleagues := e.svc.Colleagues("ann")
	if len(queues) != 2 || len(colleagues) != 1 || colleagues[0].User != "bob" || colleagues[0].State != "available" {
		t.Fatalf("ann's transfer targets: %+v %+v", queues, colleagues)
	}
	e.user("cleo", "agent")
	if _, err := e.svc.WrapUp(ctx, "cleo", c.ID, "solved", ""); !errors.Is(err, errNotFound) {
		t.Fatalf("cleo wrapping up a contact she never had: %v", err)
	}
	// Ann, who transferred it, has nothing to wrap up: it goes on without her.
	if _, err := e.svc.WrapUp(ctx, "ann", c.ID, "escalated", ""); !errors.Is(err, errNotFound) {
		t.Fatalf("ann wrapping up what she handed over: %v", err)
	}
}

// A visitor whose page is gone longer than the grace abandons; one back
// within it (a reload) keeps their place.
func TestVisitorGrace(t *testing.T) {
	e := setup(t, func(c *Config) { c.VisitorGrace = 30 * time.Second })
	ctx := t.Context()
	if _, err := e.svc.SetState(ctx, e.identity("ann"), "paused"); err != nil {
		t.Fatal(err)
	}
	vera := e.visitor("site", "Vera")
	c, err := e.svc.Arrive(ctx, vera, ArriveRequest{Media: "chat"})
	if err != nil || c.Status != statusWaiting || c.Position != 1 {
		t.Fatalf("arrive: %+v %v", c, err)
	}
	for range 29 {
		e.clock.Advance(time.Second)
		e.tick()
	}
	if _, err := e.svc.Current(vera); err != nil {
		t.Fatalf("gone for less than the grace: %v", err)
	}
	e.clock.Advance(2 * time.Second)
	e.tick()
	if _, err := e.svc.Current(vera); !errors.Is(err, errNotFound) {
		t.Fatalf("gone for longer than the grace: %v", err)
	}
	if rec, _ := e.st.Contact(ctx, c.ID); rec.Status != statusAbandoned {
		t.Fatalf("record: %+v", rec)
	}
}

// A restart closes the contacts that were open: their visitors start again.
func TestRestartClosesOpenContacts(t *testing.T) {
	e := setup(t, nil)
	ctx := t.Context()
	vera := e.visitor("site", "Vera")
	c, err := e.svc.Arrive(ctx, vera, ArriveRequest{Media: "chat"})
	if err != nil {
		t.Fatal(err)
	}
	e.svc.Close()
	svc2, err := New(ctx, Config{Store: e.st, Chat: e.chat, Now: e.clock.Now, manualClock: true})
	if err != nil {
		t.Fatal(err)
	}
	defer svc2.Close()
	if rec, _ := e.st.Contact(ctx, c.ID); rec.Status != statusClosed || rec.EndedAt.IsZero() {
		t.Fatalf("record after the restart: %+v", rec)
	}
	if conv, _ := e.st.Conversation(ctx, c.Conversation); !conv.Archived {
		t.Fatal("the conversation is still open")
	}
	if qs := svc2.Queues(); len(qs) != 2 {
		t.Fatalf("queues after the restart: %+v", qs)
	}
}

// A visitor starting again with their token (the widget's "Start again")
// keeps their id, and the old token stops working; an expired token, or
// one of another widget, starts a new visitor: it must not reopen the
// visitor's past conversations.
func TestReturningVisitor(t *testing.T) {
	e := setup(t, nil)
	ctx := t.Context()
	tok, v, err := e.svc.StartVisitor(ctx, "site", VisitorRequest{Name: "Vera"}, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	tok2, v2, err := e.svc.StartVisitor(ctx, "site", VisitorRequest{Resume: tok}, "127.0.0.1")
	if err != nil || v2.ID != v.ID || v2.DisplayName != "Vera" {
		t.Fatalf("resume: %+v %v", v2, err)
	}
	if _, err := e.st.VisitorByTokenHash(ctx, hashToken(tok)); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("the old token still names the visitor")
	}
	if _, id, err := e.svc.AuthenticateVisitor(ctx, tok2); err != nil || id.UserID != v.ID || !id.Visitor() {
		t.Fatalf("the new token: %+v %v", id, err)
	}
	if _, err := e.svc.PutWidget(ctx, WidgetDoc{ID: "other", Queue: "support"}); err != nil {
		t.Fatal(err)
	}
	if _, v3, _ := e.svc.StartVisitor(ctx, "other", VisitorRequest{Resume: tok2}, "127.0.0.1"); v3.ID == v.ID {
		t.Fatal("a token of one widget resumed a visitor at another")
	}
	e.clock.Advance(3 * time.Hour) // the token has expired
	if _, _, err := e.svc.AuthenticateVisitor(ctx, tok2); !errors.Is(err, ErrBadToken) {
		t.Fatalf("an expired token: %v", err)
	}
	if _, v4, _ := e.svc.StartVisitor(ctx, "site", VisitorRequest{Resume: tok2}, "127.0.0.1"); v4.ID == v.ID {
		t.Fatal("an expired token resumed the visitor")
	}
}

// At a person's contact link the visitor talks with that person at once,
// outside the queues; either may end it, and an unknown or disabled person
// has no link.
func TestContactLink(t *testing.T) {
	e := setup(t, nil)
	ctx := t.Context()
	e.user("cleo", "member")
	if _, _, err := e.svc.StartVisitor(ctx, "@nobody", VisitorRequest{}, "127.0.0.1"); !errors.Is(err, errNotFound) {
		t.Fatalf("a link to nobody: %v", err)
	}
	vera := e.visitor("@cleo", "Vera")
	c, err := e.svc.Arrive(ctx, vera, ArriveRequest{Media: "video", Page: "https://mail.example/"})
	if err != nil || c.Status != statusInProgress || c.Agent != "cleo" || c.Queue != "@cleo" {
		t.Fatalf("arrive: %+v %v", c, err)
	}
	if got := e.members(c.Conversation); !slices.Equal(got, []string{"cleo", vera.ID}) {
		t.Fatalf("members: %v", got)
	}
	if err := e.svc.Transfer(ctx, "cleo", c.ID, "sales"); err == nil {
		t.Fatal("a contact-link conversation was transferred to a queue")
	}
	e.clock.Advance(90 * time.Second)
	if _, err := e.svc.End(ctx, "cleo", c.ID); err != nil {
		t.Fatal(err)
	}
	if rec, _ := e.st.Contact(ctx, c.ID); rec.Status != statusEnded || rec.Handle != 90*time.Second || rec.FirstQueue != "@cleo" {
		t.Fatalf("record: %+v", rec)
	}
	disabled := true
	if _, err := e.st.UpdateUser(ctx, "cleo", store.UserChanges{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.PersonCard(ctx, "cleo"); !errors.Is(err, errNotFound) {
		t.Fatalf("a disabled person's card: %v", err)
	}
}

// When nobody can answer in time the visitor is asked to leave a message:
// the queue's agents join the conversation to answer it later, and it stays
// open after the visitor has gone.
func TestLeaveAMessage(t *testing.T) {
	e := setup(t, nil)
	ctx := t.Context()
	if _, err := e.svc.PutQueue(ctx, QueueDoc{ID: "sales", Name: "Sales", Members: []MemberDoc{{User: "ann"}},
		MaxWaitSeconds: 60, Overflow: OverflowDoc{To: "message"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetState(ctx, e.identity("ann"), "paused"); err != nil {
		t.Fatal(err)
	}
	vera := e.visitor("site", "Vera")
	c, err := e.svc.Arrive(ctx, vera, ArriveRequest{Media: "chat"})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(61 * time.Second)
	e.tick()
	if v, _ := e.svc.Current(vera); v.Status != statusMessage {
		t.Fatalf("after max wait: %+v", v)
	}
	if got := e.members(c.Conversation); !slices.Equal(got, []string{"ann", vera.ID}) {
		t.Fatalf("members: %v", got)
	}
	if err := e.svc.Leave(ctx, vera, c.ID); err != nil {
		t.Fatal(err)
	}
	if rec, _ := e.st.Contact(ctx, c.ID); rec.Status != statusMessage || rec.EndedAt.IsZero() {
		t.Fatalf("record: %+v", rec)
	}
	if conv, _ := e.st.Conversation(ctx, c.Conversation); conv.Archived {
		t.Fatal("the message's conversation was closed before anyone answered")
	}
}

// A transfer to a colleague: they take over the contact at once (no new
// line), join the conversation, and the first agent leaves it.
func TestTransferToAgent(t *testing.T) {
	e := setup(t, nil)
	ctx := t.Context()
	vera := e.visitor("site", "Vera")
	c, _ := e.svc.Arrive(ctx, vera, ArriveRequest{Media: "chat"})
	if _, err := e.svc.Accept(ctx, "ann", c.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.TransferToAgent(ctx, "ann", c.ID, "nobody"); err == nil {
		t.Fatal("a transfer to someone who is no agent")
	}
	if _, err := e.svc.SetState(ctx, e.identity("bob"), "offline"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.TransferToAgent(ctx, "ann", c.ID, "bob"); !errors.Is(err, errConflict) {
		t.Fatalf("to an offline colleague: %v", err)
	}
	if _, err := e.svc.SetState(ctx, e.identity("bob"), "busy"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.TransferToAgent(ctx, "ann", c.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	if got := e.members(c.Conversation); !slices.Equal(got, []string{"bob", vera.ID}) {
		t.Fatalf("members: %v", got)
	}
	if v := e.svc.Agent("bob"); len(v.Contacts) != 1 || v.Contacts[0].ID != c.ID {
		t.Fatalf("bob: %+v", v)
	}
	if v := e.svc.Agent("ann"); len(v.Contacts) != 0 || v.State != "available" {
		t.Fatalf("ann: %+v", v)
	}
	if rec, _ := e.st.Contact(ctx, c.ID); rec.AgentID != "bob" || rec.Queue != "sales" {
		t.Fatalf("record: %+v", rec)
	}
}

// A visitor talking on their socket for longer than the token's lifetime
// keeps it: the credential sweep must not cut a long conversation.
func TestTalkingVisitorKeepsToken(t *testing.T) {
	e := setup(t, nil)
	ctx := t.Context()
	tok, v, err := e.svc.StartVisitor(ctx, "site", VisitorRequest{Name: "Vera"}, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Arrive(ctx, v, ArriveRequest{Media: "chat"}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	e.chat.Routes(mux, func(h func(http.ResponseWriter, *http.Request, chat.Identity)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			_, id, err := e.svc.AuthenticateVisitor(r.Context(), r.URL.Query().Get("access_token"))
			if err != nil {
				http.Error(w, "no", http.StatusUnauthorized)
				return
			}
			h(w, r, id)
		}
	}, nil)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	m, err := client.DialMessenger(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/api/v1/connect?access_token="+tok,
		http.Header{"Origin": {srv.URL}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Drop()
	for range 3 * 60 { // three hours, a minute at a time
		e.clock.Advance(time.Minute)
		e.tick()
	}
	if _, _, err := e.svc.AuthenticateVisitor(ctx, tok); err != nil {
		t.Fatalf("after three hours of talking: %v", err)
	}
}

// Fixes from a review: a callback request keeps its status and stays when
// the visitor goes; a requeued contact leaves its agent; one visitor starts
// at most 10 contacts an hour; a restart keeps a left message open.
func TestReviewFixes(t *testing.T) {
	t.Run("CallbackStays", func(t *testing.T) {
		e := setup(t, func(c *Config) { c.VisitorGrace = 30 * time.Second })
		ctx := t.Context()
		vera := e.visitor("site", "Vera")
		c, err := e.svc.Arrive(ctx, vera, ArriveRequest{Callback: true})
		if err != nil || c.Status != statusOffered {
			t.Fatalf("arrive: %+v %v", c, err)
		}
		if err := e.svc.Decline(ctx, "ann", c.ID); err != nil {
			t.Fatal(err)
		}
		for range 40 {
			e.clock.Advance(time.Second)
			e.tick()
		}
		if v, err := e.svc.Current(vera); err != nil || v.Status != statusCallback {
			t.Fatalf("a callback request after its visitor left: %+v %v", v, err)
		}
	})
	t.Run("RequeueLeavesTheAgent", func(t *testing.T) {
		e := setup(t, nil)
		ctx := t.Context()
		vera := e.visitor("site", "Vera")
		c, _ := e.svc.Arrive(ctx, vera, ArriveRequest{Media: "chat"})
		if _, err := e.svc.Accept(ctx, "ann", c.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.SetState(ctx, e.identity("ann"), "offline"); err != nil {
			t.Fatal(err)
		}
		if rec, _ := e.st.Contact(ctx, c.ID); rec.Status != statusWaiting || rec.AgentID != "" {
			t.Fatalf("record after the requeue: %+v", rec)
		}
		if got := e.members(c.Conversation); !slices.Equal(got, []string{vera.ID}) {
			t.Fatalf("members after the requeue: %v", got)
		}
	})
	t.Run("TenContactsAnHour", func(t *testing.T) {
		e := setup(t, nil)
		ctx := t.Context()
		vera := e.visitor("site", "Vera")
		for i := range 11 {
			c, err := e.svc.Arrive(ctx, vera, ArriveRequest{Media: "chat"})
			if i == 10 {
				if !errors.Is(err, errRateLimited) {
					t.Fatalf("the 11th contact within the hour: %v", err)
				}
				break
			}
			if err != nil {
				t.Fatalf("contact %d: %v", i+1, err)
			}
			if err := e.svc.Leave(ctx, vera, c.ID); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(time.Minute)
		}
		e.clock.Advance(time.Hour)
		if _, err := e.svc.Arrive(ctx, vera, ArriveRequest{Media: "chat"}); err != nil {
			t.Fatalf("an hour later: %v", err)
		}
	})
	t.Run("RestartKeepsAMessage", func(t *testing.T) {
		e := setup(t, nil)
		ctx := t.Context()
		if _, err := e.svc.PutQueue(ctx, QueueDoc{ID: "sales", Name: "Sales", Members: []MemberDoc{{User: "ann"}},
			MaxWaitSeconds: 10, Overflow: OverflowDoc{To: "message"}}); err != nil {
			t.Fatal(err)
		}
		e.svc.SetState(ctx, e.identity("ann"), "paused")
		vera := e.visitor("site", "Vera")
		c, _ := e.svc.Arrive(ctx, vera, ArriveRequest{Media: "chat"})
		e.clock.Advance(11 * time.Second)
		e.tick()
		e.svc.Close()
		svc2, err := New(ctx, Config{Store: e.st, Chat: e.chat, Now: e.clock.Now, manualClock: true})
		if err != nil {
			t.Fatal(err)
		}
		defer svc2.Close()
		if rec, _ := e.st.Contact(ctx, c.ID); rec.Status != statusMessage || rec.EndedAt.IsZero() {
			t.Fatalf("a left message after the restart: %+v", rec)
		}
		if conv, _ := e.st.Conversation(ctx, c.Conversation); conv.Archived {
			t.Fatal("a left message was closed by the restart")
		}
	})
}
