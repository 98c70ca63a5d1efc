package routing

import "fmt"

// Media is how a visitor and an agent talk.
type Media string

const (
	Chat  Media = "chat"
	Voice Media = "voice"
	Video Media = "video"
)

// Valid reports whether m is one of the known media.
func (m Media) Valid() bool { return m == Chat || m == Voice || m == Video }

func (m Media) check() error {
	if !m.Valid() {
		return fmt.Errorf("routing: unknown media %q (want chat, voice or video)", string(m))
	}
	return nil
}

// slot is the kind of agent slot a contact takes: voice and video share the
// agent's one call slot.
type slot int

const (
	chatSlot slot = iota
	callSlot
)

func slotOf(m Media) slot {
	if m == Chat {
		return chatSlot
	}
	return callSlot
}
