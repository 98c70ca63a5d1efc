package room

// SetMaxParticipants changes how many may be in the room at once. The SIP
// gateway lets a call's two-person room hold three while a telephone hands
// the call over to another (its transfer), then two again.
func (r *Room) SetMaxParticipants(n int) {
	r.mu.Lock()
	r.settings.MaxParticipants = n
	r.mu.Unlock()
}
