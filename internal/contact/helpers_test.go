package contact

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"switchboard/internal/chat"
	"switchboard/internal/store"
	"switchboard/internal/store/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// fakeClock is the service's Now in tests, moved by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time            { return c.t }
func (c *fakeClock) Advance(d time.Duration)   { c.t = c.t.Add(d) }
func (c *fakeClock) Since(t time.Time) float64 { return c.t.Sub(t).Seconds() }

// directory finds accounts in the store and visitors through the service,
// as the app's does.
type directory struct {
	st *store.Store
	cs **Service
}

func (d directory) User(ctx context.Context, id string) (store.User, error) {
	if strings.HasPrefix(id, "v-") {
		return (*d.cs).VisitorUser(ctx, id)
	}
	return d.st.User(ctx, id)
}

func (d directory) UserByUsername(ctx context.Context, name string) (store.User, error) {
	return d.st.UserByUsername(ctx, name)
}

// env is a contact service on a real store and messaging service, with a
// manual clock: tests call tick.
type env struct {
	t     testing.TB
	st    *store.Store
	chat  *chat.Service
	svc   *Service
	clock *fakeClock
	hooks []string // webhook event types published, in order
}

func newEnv(t testing.TB, mutate func(*Config)) *env {
	t.Helper()
	st, err := store.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, st: st, clock: &fakeClock{t: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}}
	var svc *Service
	e.chat = chat.New(chat.Config{Store: st, Directory: directory{st, &svc}})
	t.Cleanup(e.chat.Close)
	cfg := Config{Store: st, Chat: e.chat, Now: e.clock.Now, manualClock: true, Seed: 1,
		VisitorGrace: time.Hour, AgentGrace: time.Hour, VisitorsPerMinute: 1000,
		Publish: func(typ string, _ any) { e.hooks = append(e.hooks, typ) }}
	if mutate != nil {
		mutate(&cfg)
	}
	if svc, err = New(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	t.Cleanup(svc.Close)
	return e
}

func (e *env) user(id, role string) chat.Identity {
	e.t.Helper()
	if err := e.st.CreateUser(e.t.Context(), store.User{ID: id, Username: id, DisplayName: strings.ToUpper(id[:1]) + id[1:], Role: role}); err != nil {
		e.t.Fatal(err)
	}
	return chat.Identity{UserID: id, Username: id, DisplayName: strings.ToUpper(id[:1]) + id[1:], Role: role}
}

func (e *env) tick() { e.svc.tick(e.t.Context()) }

// visitor starts a visitor at a widget.
func (e *env) visitor(widget, name string) store.Visitor {
	e.t.Helper()
	_, v, err := e.svc.StartVisitor(e.t.Context(), widget, VisitorRequest{Name: name}, "127.0.0.1")
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *env) identity(id string) chat.Identity {
	return chat.Identity{UserID: id, Username: id, DisplayName: id, Role: "agent"}
}
