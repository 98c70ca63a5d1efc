package contact

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"switchboard/internal/store"
)

// The load: 500 visitors arriving within a minute at a queue of 20
// simulated agents, through the whole service (visitor sessions, messaging
// conversations, records, webhooks) on a simulated clock. Agents answer
// after a while, some decline or let an offer ring out, some pause; some
// visitors give up. At every step of 100 ms no contact rings at two agents
// and no agent holds more than their slots; at the end every visitor is
// accounted for exactly once: answered and ended, abandoned (those who gave
// up), or overflowed to a message by the queue's rules (max wait, max
// length), and the records, the webhooks and the statistics agree.
func TestLoad500Visitors(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	e := newEnv(t, nil)
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(7, 11))
	const agents, visitors, slots = 20, 500, 2
	var members []MemberDoc
	for i := range agents {
		id := fmt.Sprintf("agent%02d", i)
		e.user(id, "agent")
		members = append(members, MemberDoc{User: id})
		if _, err := e.svc.PutAgent(ctx, AgentDoc{User: id, ChatSlots: slots}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.PutQueue(ctx, QueueDoc{ID: "sales", Name: "Sales", Members: members, OfferTimeoutSeconds: 10,
		WrapUpSeconds: 3, MaxWaitSeconds: 45, MaxLength: 60, Overflow: OverflowDoc{To: "message"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.PutWidget(ctx, WidgetDoc{ID: "site", Queue: "sales"}); err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if _, err := e.svc.SetState(ctx, e.identity(m.User), "available"); err != nil {
			t.Fatal(err)
		}
	}

	start := e.clock.Now()
	type sim struct {
		v        store.Visitor
		contact  string
		arrive   time.Time
		patience time.Duration // 0: waits as long as the queue lets them
		left     bool
	}
	sims := make([]*sim, visitors)
	for i := range sims {
		s := &sim{arrive: start.Add(time.Duration(rng.Int64N(int64(time.Minute))))}
		if rng.IntN(10) == 0 {
			s.patience = time.Duration(5+rng.IntN(30)) * time.Second
		}
		sims[i] = s
	}
	slices.SortFunc(sims, func(a, b *sim) int { return a.arrive.Compare(b.arrive) })
	// Each agent's plan for an offer: when they answer (or decline, or never),
	// and for a contact in progress, when it ends.
	type plan struct {
		at      time.Time
		decline bool
	}
	answerAt := map[string]plan{} // agent+contact
	endAt := map[string]time.Time{}
	accepted := map[string]string{} // contact -> agent
	next := 0
	for step := 0; step < 10*60*4; step++ { // 4 simulated minutes
		now := e.clock.Now()
		for next < len(sims) && !sims[next].arrive.After(now) {
			s := sims[next]
			next++
			s.v = e.visitor("site", fmt.Sprintf("Visitor %d", next))
			c, err := e.svc.Arrive(ctx, s.v, ArriveRequest{Media: "chat", Page: "https://shop.example/"})
			if err != nil {
				t.Fatalf("arrival %d: %v", next, err)
			}
			s.contact = c.ID
		}
		for _, s := range sims[:next] {
			if lc := e.svc.live[s.contact]; lc != nil && lc.rec.Status == statusMessage && !s.left {
				// Told to leave a message: they write it and close the page.
				s.left = true
				if err := e.svc.Leave(ctx, s.v, s.contact); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if s.patience > 0 && !s.left && now.Sub(s.arrive) >= s.patience {
				s.left = true
				if err := e.svc.Leave(ctx, s.v, s.contact); err != nil && accepted[s.contact] == "" {
					// Already overflowed or ended: nothing to leave.
					continue
				}
			}
		}
		for _, m := range members {
			view := e.svc.Agent(m.User)
			for _, o := range view.Offers {
				key := m.User + o.ID
				p, ok := answerAt[key]
				if !ok {
					switch r := rng.IntN(20); {
					case r == 0:
						p = plan{at: now.Add(time.Hour)} // lets it ring out
					case r == 1:
						p = plan{at: now.Add(time.Second), decline: true}
					default:
						p = plan{at: now.Add(time.Duration(500+rng.IntN(4000)) * time.Millisecond)}
					}
					answerAt[key] = p
				}
				if now.Before(p.at) {
					continue
				}
				if p.decline {
					e.svc.Decline(ctx, m.User, o.ID)
					continue
				}
				if _, err := e.svc.Accept(ctx, m.User, o.ID); err == nil {
					if prev, dup := accepted[o.ID]; dup {
						t.Fatalf("contact %s answered by %s and by %s", o.ID, prev, m.User)
					}
					accepted[o.ID] = m.User
					endAt[o.ID] = now.Add(time.Duration(5+rng.IntN(25)) * time.Second)
				}
			}
			for _, c := range view.Contacts {
				if at, ok := endAt[c.ID]; ok && !now.Before(at) {
					if _, err := e.svc.End(ctx, m.User, c.ID); err != nil {
						t.Fatalf("end %s: %v", c.ID, err)
					}
					delete(endAt, c.ID)
				}
			}
			if view.State == "available" && rng.IntN(3000) == 0 {
				e.svc.SetState(ctx, e.identity(m.User), "paused")
			} else if view.State == "paused" && rng.IntN(100) == 0 {
				e.svc.SetState(ctx, e.identity(m.User), "available")
			}
		}
		e.checkInvariants(slots)
		e.clock.Advance(100 * time.Millisecond)
		e.tick()
		if next == len(sims) && len(e.svc.live) == 0 {
			break
		}
	}
	if n := len(e.svc.live); n != 0 {
		t.Fatalf("%d contacts still open at the end", n)
	}

	// Every visitor is accounted for once, by the rules.
	records, err := e.st.ContactsArrived(ctx, "", start, e.clock.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != visitors {
		t.Fatalf("%d contact records for %d visitors", len(records), visitors)
	}
	count := map[string]int{}
	for _, c := range records {
		count[c.Status]++
		switch c.Status {
		case statusEnded:
			if accepted[c.ID] == "" || c.AgentID != accepted[c.ID] || c.AnsweredAt.IsZero() {
				t.Errorf("contact %s ended without the answer the test saw: %+v", c.ID, c)
			}
		case statusMessage:
			if c.Wait > 46*time.Second {
				t.Errorf("contact %s waited %v before overflowing (max wait 45 s)", c.ID, c.Wait)
			}
		case statusAbandoned:
		default:
			t.Errorf("contact %s ended as %q", c.ID, c.Status)
		}
	}
	gaveUp := 0
	for _, s := range sims {
		if s.patience > 0 {
			gaveUp++
		}
	}
	if count[statusAbandoned] > gaveUp {
		t.Errorf("%d abandoned, but only %d visitors gave up", count[statusAbandoned], gaveUp)
	}
	if count[statusEnded] != len(accepted) {
		t.Errorf("%d ended, %d answered", count[statusEnded], len(accepted))
	}
	hooks := map[string]int{}
	for _, h := range e.hooks {
		hooks[h]++
	}
	if hooks[EventQueued] != visitors || hooks[EventAnswered] != len(accepted) || hooks[EventEnded] != count[statusEnded] ||
		hooks[EventAbandoned] != count[statusAbandoned] || hooks[EventOverflowed] != count[statusMessage] {
		t.Errorf("webhooks %v for outcomes %v", hooks, count)
	}
	rep, err := e.svc.Report(ctx, ReportRequest{From: start, To: e.clock.Now().Add(time.Second), Bucket: "hour"})
	if err != nil {
		t.Fatal(err)
	}
	if f := rep.Totals; f.Arrived != visitors || f.Answered != count[statusEnded] || f.Abandoned != count[statusAbandoned] || f.Overflowed != count[statusMessage] {
		t.Errorf("report totals %+v for outcomes %v", f, count)
	}
	t.Logf("500 visitors in a minute, 20 agents with 2 chats each: %d answered, %d overflowed to a message, %d abandoned (of %d who gave up); %d webhooks; simulated %v",
		count[statusEnded], count[statusMessage], count[statusAbandoned], gaveUp, len(e.hooks), e.clock.Now().Sub(start))
}

// checkInvariants: no contact rings at two agents at once; no agent holds
// more contacts, answered or ringing, than their slots.
func (e *env) checkInvariants(slots int) {
	e.t.Helper()
	e.svc.mu.Lock()
	defer e.svc.mu.Unlock()
	for id, ring := range e.svc.offers {
		if len(ring) > 1 {
			e.t.Fatalf("contact %s rings at %d agents", id, len(ring))
		}
	}
	for id := range e.svc.agents {
		v := e.svc.agentView(id)
		if n := len(v.Contacts) + len(v.Offers); n > slots {
			e.t.Fatalf("agent %s holds %d contacts and offers, with %d slots", id, n, slots)
		}
	}
}
