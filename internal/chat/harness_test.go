package chat

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/internal/client"
	"switchboard/internal/protocol"
	"switchboard/internal/store"
	"switchboard/internal/store/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// harness is a messaging server on loopback with a real store. People are
// signed in by a test header; the accounts package does this for real.
type harness struct {
	t     *testing.T
	st    *store.Store
	svc   *Service
	srv   *httptest.Server
	rooms *fakeRooms
	push  *recordedPush
}

type options struct {
	postgres bool
	mutate   func(*Config)
}

func newHarness(t *testing.T, o options) *harness {
	t.Helper()
	url := ""
	if o.postgres {
		url = pgtest.Database(t)
	}
	st, err := store.OpenDatabase(t.Context(), t.TempDir(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{t: t, st: st, rooms: &fakeRooms{people: map[string]int{}}, push: &recordedPush{}}
	cfg := Config{Store: st, Directory: st, Rooms: h.rooms, Notifier: h.push,
		OfflineGrace: 200 * time.Millisecond, PresenceInterval: 50 * time.Millisecond, RingTimeout: 2 * time.Second}
	if o.mutate != nil {
		o.mutate(&cfg)
	}
	h.svc = New(cfg)
	mux := http.NewServeMux()
	h.svc.Routes(mux, h.auth, nil)
	h.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		h.svc.Close()
		h.srv.Close()
	})
	return h
}

// auth signs requests in as the user named by X-Test-User.
func (h *harness) auth(next func(http.ResponseWriter, *http.Request, Identity)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u, err := h.st.User(r.Context(), r.Header.Get("X-Test-User"))
		if err != nil || u.Disabled {
			http.Error(w, `{"code":"unauthorized","message":"sign in"}`, http.StatusUnauthorized)
			return
		}
		role := u.Role
		if r.Header.Get("X-Test-Visitor") != "" {
			role = RoleVisitor
		}
		next(w, r, Identity{UserID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Role: role})
	}
}

func (h *harness) user(name, role string) store.User {
	h.t.Helper()
	u := store.User{ID: "u-" + name, Username: name, DisplayName: strings.ToUpper(name[:1]) + name[1:], Role: role}
	if err := h.st.CreateUser(h.t.Context(), u); err != nil {
		h.t.Fatal(err)
	}
	return u
}

// device is a connected test device that records what it receives.
type device_ struct {
	*client.Messenger
	user store.User
	mu   sync.Mutex
	got  []protocol.Message
	wake chan struct{}
}

func (h *harness) connect(u store.User) *device_ {
	h.t.Helper()
	d := &device_{user: u, wake: make(chan struct{}, 1)}
	var err error
	d.Messenger, err = h.dial(u, d.record)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(d.Close)
	return d
}

func (h *harness) dial(u store.User, onEvent func(protocol.Message)) (*client.Messenger, error) {
	return h.dialAs(u, false, onEvent)
}

// dialAs is dial, as a website visitor when visitor is set.
func (h *harness) dialAs(u store.User, visitor bool, onEvent func(protocol.Message)) (*client.Messenger, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hdr := http.Header{"X-Test-User": {u.ID}}
	if visitor {
		hdr.Set("X-Test-Visitor", "1")
	}
	return client.DialMessenger(ctx, "ws"+strings.TrimPrefix(h.srv.URL, "http")+"/api/v1/connect", hdr, onEvent)
}

func (d *device_) record(m protocol.Message) {
	d.mu.Lock()
	d.got = append(d.got, m)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// wait returns the first received message that match accepts, waiting up
// to five seconds for it.
func (d *device_) wait(t *testing.T, what string, match func(protocol.Message) bool) protocol.Message {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		d.mu.Lock()
		for _, m := range d.got {
			if match(m) {
				d.mu.Unlock()
				return m
			}
		}
		d.mu.Unlock()
		select {
		case <-d.wake:
		case <-deadline:
			t.Fatalf("%s never received %s", d.user.Username, what)
		}
	}
}

// never checks that nothing match accepts arrives within a short while.
func (d *device_) never(t *testing.T, what string, match func(protocol.Message) bool) {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range d.got {
		if match(m) {
			t.Fatalf("%s received %s: %+v", d.user.Username, what, m)
		}
	}
}

func (d *device_) req(t *testing.T, m protocol.Message) protocol.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reply, err := d.Request(ctx, m)
	if err != nil {
		t.Fatalf("%s: %s: %v", d.user.Username, m.TypeName(), err)
	}
	return reply
}

// reqErr sends m and returns the error code it fails with.
func (d *device_) reqErr(t *testing.T, m protocol.Message) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := d.Request(ctx, m)
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		t.Fatalf("%s: %s succeeded or failed oddly: %v", d.user.Username, m.TypeName(), err)
	}
	return pe.Code
}

func isEvent(conv, kind string) func(protocol.Message) bool {
	return func(m protocol.Message) bool {
		e, ok := m.(*protocol.EventMsg)
		return ok && e.Entry.Conversation == conv && e.Entry.Kind == kind
	}
}

// fakeRooms stands in for the meeting rooms of calls: this package's tests
// check ringing and outcomes; the browser tests join real rooms.
type fakeRooms struct {
	mu     sync.Mutex
	n      int
	people map[string]int
}

func (f *fakeRooms) CreateRoom(ctx context.Context, p2p bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	id := fmt.Sprintf("room%d-p2p=%v", f.n, p2p)
	f.people[id] = 0
	return id, nil
}

func (f *fakeRooms) Participants(room string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.people[room]
	if !ok {
		return -1
	}
	return n
}

func (f *fakeRooms) set(room string, n int) {
	f.mu.Lock()
	f.people[room] = n
	f.mu.Unlock()
}

func (f *fakeRooms) JoinToken(room string, me Identity) (string, error) {
	return "token-" + me.UserID + "-" + room, nil
}

// recordedPush records the push notifications that would be sent.
type recordedPush struct {
	mu   sync.Mutex
	sent []string // "user type title body"
}

func (p *recordedPush) Notify(ctx context.Context, user string, n Notification) {
	p.mu.Lock()
	p.sent = append(p.sent, strings.Join([]string{user, n.Type, n.Title, n.Body}, " | "))
	p.mu.Unlock()
}

func (p *recordedPush) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.sent...)
}
