package contact

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkContactCycle is one visitor's whole contact through the service
// on SQLite: a visitor session, arrival (a conversation is created and the
// contact offered), the agent's answer (they join the conversation) and
// the end (the conversation is archived), with its records and events.
// Routing alone is BenchmarkDecide in ./routing.
func BenchmarkContactCycle(b *testing.B) {
	e := newEnv(b, nil)
	ctx := b.Context()
	var members []MemberDoc
	for i := range 20 {
		id := fmt.Sprintf("agent%02d", i)
		e.user(id, "agent")
		members = append(members, MemberDoc{User: id})
	}
	if _, err := e.svc.PutQueue(ctx, QueueDoc{ID: "sales", Name: "Sales", Members: members}); err != nil {
		b.Fatal(err)
	}
	if _, err := e.svc.PutWidget(ctx, WidgetDoc{ID: "site", Queue: "sales"}); err != nil {
		b.Fatal(err)
	}
	for _, m := range members {
		if _, err := e.svc.SetState(ctx, e.identity(m.User), "available"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		v := e.visitor("site", "Visitor")
		c, err := e.svc.Arrive(ctx, v, ArriveRequest{Media: "chat"})
		if err != nil {
			b.Fatal(err)
		}
		agent := ""
		for _, m := range members {
			if a := e.svc.Agent(m.User); len(a.Offers) > 0 && a.Offers[0].ID == c.ID {
				agent = m.User
			}
		}
		if agent == "" {
			b.Fatalf("contact %d not offered", i)
		}
		e.clock.Advance(time.Second)
		if _, err := e.svc.Accept(ctx, agent, c.ID); err != nil {
			b.Fatal(err)
		}
		e.clock.Advance(time.Second)
		if _, err := e.svc.End(ctx, agent, c.ID); err != nil {
			b.Fatal(err)
		}
	}
}
