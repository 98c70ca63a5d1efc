package room

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"switchboard/internal/protocol"
)

type fakeParticipant struct {
	id     string
	mu     sync.Mutex
	got    []protocol.Message
	subs   map[string]bool
	closed string
}

func newFake(id string) *fakeParticipant { return &fakeParticipant{id: id, subs: map[string]bool{}} }

func (f *fakeParticipant) ID() string { return f.id }
func (f *fakeParticipant) Send(m protocol.Message) {
	f.mu.Lock()
	f.got = append(f.got, m)
	f.mu.Unlock()
}
func (f *fakeParticipant) Subscribe(t *Track)   { f.mu.Lock(); f.subs[t.ID()] = true; f.mu.Unlock() }
func (f *fakeParticipant) Unsubscribe(t *Track) { f.mu.Lock(); delete(f.subs, t.ID()); f.mu.Unlock() }
func (f *fakeParticipant) Close(reason string)  { f.mu.Lock(); f.closed = reason; f.mu.Unlock() }

func (f *fakeParticipant) last(typ string) protocol.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.got) - 1; i >= 0; i-- {
		if f.got[i].TypeName() == typ {
			return f.got[i]
		}
	}
	return nil
}

type memChat struct{}

func (memChat) AppendChat(_ context.Context, _ string, m protocol.ChatMessage) (protocol.ChatMessage, error) {
	return m, nil
}
func (memChat) ChatHistory(context.Context, string) ([]protocol.ChatMessage, error) { return nil, nil }
func (memChat) FileInfo(context.Context, string, string) (protocol.FileInfo, error) {
	return protocol.FileInfo{}, errors.New("none")
}

type memRooms struct{}

func (memRooms) SaveRoom(context.Context, string, Settings) error { return nil }
func (memRooms) LoadRoom(context.Context, string) (Settings, error) {
	return Settings{}, ErrNotFound
}
func (memRooms) DeleteRoom(context.Context, string) error { return nil }

func newRegistry(empty time.Duration) *Registry {
	return NewRegistry(Config{OpenCreation: true, MaxParticipants: 10, EmptyTimeout: empty}, memChat{}, memRooms{}, Metrics{},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
}

var all = protocol.Permissions{Publish: true, Subscribe: true}

type level float64

func (l level) AudioLevel() float64 { return float64(l) }
func (level) Close()                {}

func TestHostHandsOverWhenLeaving(t *testing.T) {
	r, _, _ := newRegistry(time.Minute).Open(context.Background(), "r", false)
	a, b, c := newFake("a"), newFake("b"), newFake("c")
	for _, p := range []*fakeParticipant{a, b, c} {
		if _, _, err := r.Join(JoinRequest{Participant: p, Name: p.id, Perms: all}); err != nil {
			t.Fatal(err)
		}
	}
	if s, _ := r.Snapshot("a"); !s.Self.Host {
		t.Fatal("the first participant should be host")
	}
	r.Leave("a", "left")
	u, ok := c.last("participant-updated").(*protocol.ParticipantUpdated)
	if !ok || u.Participant.ID != "b" || !u.Participant.Host {
		t.Fatalf("b (longest present) should become host; c saw %+v", u)
	}
	if err := r.Host("b", "lock", ""); err != nil {
		t.Errorf("the new host cannot lock: %v", err)
	}
}

func TestTracksReachSubscribersOnly(t *testing.T) {
	r, _, _ := newRegistry(time.Minute).Open(context.Background(), "r", false)
	pub, sub, viewerless := newFake("pub"), newFake("sub"), newFake("nosub")
	r.Join(JoinRequest{Participant: pub, Name: "p", Perms: all})
	r.Join(JoinRequest{Participant: sub, Name: "s", Perms: all})
	r.Join(JoinRequest{Participant: viewerless, Name: "n", Perms: protocol.Permissions{Publish: true}})
	tr := NewTrack(protocol.TrackInfo{ID: "t1", Participant: "pub", Kind: "audio", Source: "microphone"}, level(0.5))
	if err := r.Publish(tr); err != nil {
		t.Fatal(err)
	}
	if !sub.subs["t1"] || viewerless.subs["t1"] || pub.subs["t1"] {
		t.Errorf("subscriptions: sub=%v nosub=%v pub=%v", sub.subs, viewerless.subs, pub.subs)
	}
	if err := r.Unpublish("sub", "t1"); !errors.Is(err, ErrNoTrack) {
		t.Errorf("unpublishing someone else's track: %v", err)
	}
	r.updateSpeakers()
	if s, ok := sub.last("speakers").(*protocol.Speakers); !ok || len(s.Participants) != 1 || s.Participants[0] != "pub" {
		t.Errorf("speakers = %+v", sub.last("speakers"))
	}
	r.Leave("pub", "left")
	if sub.subs["t1"] {
		t.Error("a leaving publisher's tracks must be unsubscribed")
	}
}

func TestLobbyDenyAndEmptyTimeout(t *testing.T) {
	reg := newRegistry(50 * time.Millisecond)
	r, _, _ := reg.Open(context.Background(), "r", false)
	host, guest := newFake("h"), newFake("g")
	r.Join(JoinRequest{Participant: host, Name: "h", Perms: all})
	r.Host("h", "lobby-on", "")
	_, wait, err := r.Join(JoinRequest{Participant: guest, Name: "g", Perms: all})
	if err != nil || wait == nil {
		t.Fatalf("guest should wait in the lobby: %v", err)
	}
	r.Host("h", "deny", "g")
	if <-wait {
		t.Fatal("denied guest was admitted")
	}
	r.Leave("h", "left")
	deadline := time.Now().Add(2 * time.Second)
	for {
		if _, ok := reg.Get("r"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an empty room should close after its timeout")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNewIDIsUnguessable(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := NewID()
		if len(id) != 20 || !protocol.RoomIDPattern.MatchString(id) || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
}
