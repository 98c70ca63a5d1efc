package peer

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

// randomID is 64 random bits in 13 lowercase base32 characters.
func randomID() string {
	var b [8]byte
	rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// NewParticipantID returns a fresh participant id.
func NewParticipantID() string { return "p_" + randomID() }
