//go:build !libopus

package bridge

import (
	"errors"
	"net/netip"
	"testing"

	"switchboard/internal/audio"
	"switchboard/internal/sip"
)

// Without libopus a phone cannot join an Opus meeting, and says why.
func TestConferenceNeedsOpus(t *testing.T) {
	rs, err := sip.ListenRTP("127.0.0.1:0", netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	if _, err := NewConference(rs, sip.PCMU, -1, ConferenceOptions{}); !errors.Is(err, audio.ErrNoOpus) {
		t.Fatalf("NewConference: %v, want audio.ErrNoOpus", err)
	}
}
