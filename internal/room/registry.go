package room

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
)

// Config holds the defaults for new rooms.
type Config struct {
	OpenCreation    bool
	MaxParticipants int
	EmptyTimeout    time.Duration
	// DialIn, when set (SIP is on), is the extension phones dial to join a meeting: every meeting
	// gets a PIN for it (pin.go).
	DialIn string
}

// RoomStore persists rooms created through the API, so their links outlive a restart.
type RoomStore interface {
	SaveRoom(ctx context.Context, id string, s Settings) error
	LoadRoom(ctx context.Context, id string) (Settings, error) // ErrNotFound when unknown
	DeleteRoom(ctx context.Context, id string) error
}

// Metrics receives room counts; the app exports them.
type Metrics struct {
	Rooms, Participants, Tracks func(delta int)
}

func (m Metrics) participants(d int) { call(m.Participants, d) }
func (m Metrics) tracks(d int)       { call(m.Tracks, d) }
func (m Metrics) rooms(d int)        { call(m.Rooms, d) }

func call(f func(int), d int) {
	if f != nil && d != 0 {
		f(d)
	}
}

// Registry holds the live rooms.
type Registry struct {
	cfg     Config
	chat    ChatLog
	store   RoomStore
	log     *slog.Logger
	metrics Metrics

	mu    sync.Mutex
	rooms map[string]*Room
	pins  map[string]*Room // dial-in PINs of live rooms
}

// NewRegistry makes an empty registry.
func NewRegistry(cfg Config, chat ChatLog, store RoomStore, metrics Metrics, log *slog.Logger) *Registry {
	return &Registry{cfg: cfg, chat: chat, store: store, log: log, metrics: metrics, rooms: map[string]*Room{}}
}

// NewID returns an unguessable room id: 100 random bits in 20 lowercase base32 characters.
func NewID() string {
	var b [13]byte
	rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))[:20]
}

// Create makes a room with a fresh id and remembers it, for "New meeting" and the REST API.
func (g *Registry) Create(ctx context.Context, s Settings) (*Room, error) {
	s = g.withDefaults(s)
	id := NewID()
	if err := g.store.SaveRoom(ctx, id, s); err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	r := newRoom(id, s, g)
	g.rooms[id] = r
	g.metrics.rooms(1)
	g.log.Info("room created", "room", id, "p2p", s.P2P, "lobby", s.Lobby)
	return r, nil
}

// Open returns the live room with this id, bringing back a saved one, or creating it when create is
// allowed. created reports whether a new room was made (its first participant becomes host).
func (g *Registry) Open(ctx context.Context, id string, create bool) (r *Room, created bool, err error) {
	g.mu.Lock()
	if r, ok := g.rooms[id]; ok {
		g.mu.Unlock()
		return r, false, nil
	}
	g.mu.Unlock()

	s, err := g.store.LoadRoom(ctx, id)
	switch {
	case err == nil:
	case errors.Is(err, ErrNotFound) && (create || g.cfg.OpenCreation):
		s, created = g.withDefaults(Settings{}), true
	case errors.Is(err, ErrNotFound):
		return nil, false, ErrNotFound
	default:
		return nil, false, err
	}
	s = g.withDefaults(s)
	g.mu.Lock()
	defer g.mu.Unlock()
	if r, ok := g.rooms[id]; ok { // someone else opened it meanwhile
		return r, false, nil
	}
	r = newRoom(id, s, g)
	g.rooms[id] = r
	g.metrics.rooms(1)
	return r, created, nil
}

// Get returns a live room.
func (g *Registry) Get(id string) (*Room, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r, ok := g.rooms[id]
	return r, ok
}

// Live lists the live rooms, by id.
func (g *Registry) Live() []*Room {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]*Room, 0, len(g.rooms))
	for _, r := range g.rooms {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// Delete ends a room and forgets it: its link stops working, its chat and files are deleted.
func (g *Registry) Delete(ctx context.Context, id string) error {
	if r, ok := g.Get(id); ok {
		g.close(r, "room-closed")
	}
	return g.store.DeleteRoom(ctx, id)
}

// Shutdown ends every room, telling participants why.
func (g *Registry) Shutdown(reason string) {
	for _, r := range g.Live() {
		g.close(r, reason)
	}
}

func (g *Registry) close(r *Room, reason string) {
	g.mu.Lock()
	if g.rooms[r.id] == r {
		delete(g.rooms, r.id)
		delete(g.pins, r.pin)
		g.metrics.rooms(-1)
	}
	g.mu.Unlock()
	r.closeWith(reason)
	g.log.Info("room closed", "room", r.id, "reason", reason)
}

func (g *Registry) withDefaults(s Settings) Settings {
	if s.MaxParticipants <= 0 || s.MaxParticipants > g.cfg.MaxParticipants {
		s.MaxParticipants = g.cfg.MaxParticipants
	}
	if s.EmptyTimeout <= 0 {
		s.EmptyTimeout = g.cfg.EmptyTimeout
	}
	return s
}
