package room

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

func TestDialInPINs(t *testing.T) {
	g := NewRegistry(Config{OpenCreation: true, MaxParticipants: 10, EmptyTimeout: time.Minute, DialIn: "meet"},
		memChat{}, memRooms{}, Metrics{}, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	seen := map[string]bool{}
	var rooms []*Room
	for range 200 {
		r, err := g.Create(ctx, Settings{})
		if err != nil {
			t.Fatal(err)
		}
		pin := r.PIN()
		if len(pin) != PINDigits || seen[pin] {
			t.Fatalf("PIN %q (seen before: %v)", pin, seen[pin])
		}
		for _, c := range pin {
			if c < '0' || c > '9' {
				t.Fatalf("PIN %q is not digits", pin)
			}
		}
		seen[pin] = true
		if got, ok := g.ByPIN(pin); !ok || got != r {
			t.Fatalf("ByPIN(%s) = %v, %v", pin, got, ok)
		}
		rooms = append(rooms, r)
	}
	r := rooms[0]
	if info := r.Info(); info.PIN != r.PIN() || info.DialIn != "meet" {
		t.Fatalf("room info %+v", info)
	}
	opened, _, err := g.Open(ctx, "some-link-room", true)
	if err != nil || opened.PIN() == "" {
		t.Fatalf("a room opened by link has no PIN (%v)", err)
	}
	// A closed room's PIN stops working.
	g.Delete(ctx, r.ID())
	if _, ok := g.ByPIN(r.PIN()); ok {
		t.Fatal("a deleted room is still found by its PIN")
	}
	// Phone call rooms are no meetings.
	call, _ := g.Create(ctx, Settings{AudioCodec: "audio/PCMU", MaxParticipants: 2})
	if call.PIN() != "" {
		t.Fatalf("a phone call's room has PIN %q", call.PIN())
	}
	if _, ok := g.ByPIN(""); ok {
		t.Fatal(`ByPIN("") found a room`)
	}

	// Dial-in off: no PINs, nothing in the room info.
	off := newRegistry(time.Minute)
	r2, _ := off.Create(ctx, Settings{})
	if r2.PIN() != "" || r2.Info().PIN != "" || r2.Info().DialIn != "" {
		t.Fatalf("dial-in off, yet PIN %q", r2.PIN())
	}
}

func TestIsHost(t *testing.T) {
	g := newRegistry(time.Minute)
	r, _ := g.Create(context.Background(), Settings{})
	a, b := newFake("a"), newFake("b")
	r.Join(JoinRequest{Participant: a, Name: "A"})
	r.Join(JoinRequest{Participant: b, Name: "B"})
	if !r.IsHost("a") || r.IsHost("b") || r.IsHost("nobody") {
		t.Fatalf("hosts: a %v b %v", r.IsHost("a"), r.IsHost("b"))
	}
}

// A guest (a phone) never becomes host: one that is first in a meeting
// leaves the role to the first person after it, and a host who leaves
// hands over to the longest-present person, not to a guest.
func TestGuestsAreNeverHosts(t *testing.T) {
	g := newRegistry(time.Minute)
	r, _ := g.Create(context.Background(), Settings{})
	phone, a, b := newFake("phone"), newFake("a"), newFake("b")
	r.Join(JoinRequest{Participant: phone, Name: "Phone", Guest: true})
	if r.IsHost("phone") {
		t.Fatal("a phone first in the room became host")
	}
	r.Join(JoinRequest{Participant: a, Name: "A"})
	r.Join(JoinRequest{Participant: b, Name: "B"})
	if !r.IsHost("a") || r.IsHost("b") {
		t.Fatalf("hosts after the phone: a %v, b %v", r.IsHost("a"), r.IsHost("b"))
	}
	r.Leave("a", "left")
	if !r.IsHost("b") || r.IsHost("phone") {
		t.Fatalf("after the host left: b %v, phone %v", r.IsHost("b"), r.IsHost("phone"))
	}
	r.Leave("b", "left")
	if r.IsHost("phone") {
		t.Fatal("the phone took over as host")
	}
	c := newFake("c")
	r.Join(JoinRequest{Participant: c, Name: "C"})
	if !r.IsHost("c") {
		t.Fatal("the first person after the phone alone is not host")
	}
}
