package room

import (
	"crypto/rand"
	"math/big"
)

// PINDigits is the length of a meeting's dial-in PIN.
const PINDigits = 9

// assignPINLocked gives a new room a random dial-in PIN that no live room
// has, when dial-in is on. Rooms of calls (between people, Call; with a
// telephone, AudioCodec: G.711 passed through) are no meetings and get none:
// a PIN would let anyone who learnt it into a private call.
func (g *Registry) assignPINLocked(r *Room) {
	if g.cfg.DialIn == "" || r.settings.AudioCodec != "" || r.settings.Call {
		return
	}
	if g.pins == nil {
		g.pins = map[string]*Room{}
	}
	max := big.NewInt(1_000_000_000)
	for {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(err) // crypto/rand does not fail on Linux
		}
		pin := n.Text(10)
		for len(pin) < PINDigits {
			pin = "0" + pin
		}
		if _, taken := g.pins[pin]; !taken {
			r.pin = pin
			g.pins[pin] = r
			return
		}
	}
}

// ByPIN returns the live meeting with this dial-in PIN.
func (g *Registry) ByPIN(pin string) (*Room, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r, ok := g.pins[pin]
	return r, ok
}

// PIN is the room's dial-in PIN ("" when dial-in is off).
func (r *Room) PIN() string { return r.pin }

// IsHost reports whether participant pid is one of the room's hosts.
func (r *Room) IsHost(pid string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.members[pid]
	return ok && m.info.Host
}

// Done is closed when the room has ended.
func (r *Room) Done() <-chan struct{} { return r.done }

// onlyGuestsLocked reports whether every member is a guest (also when the room is empty): then the
// next participant who is no guest leads. Rooms start empty, so the creator becomes host; a phone
// that dials in first leaves the role to the first person after it.
func (r *Room) onlyGuestsLocked() bool {
	for _, m := range r.members {
		if !m.guest {
			return false
		}
	}
	return true
}

// nextHostLocked is the longest-present member who may be host, or nil.
func (r *Room) nextHostLocked() *member {
	for _, id := range r.joinOrder {
		if m := r.members[id]; m != nil && !m.guest {
			return m
		}
	}
	return nil
}
