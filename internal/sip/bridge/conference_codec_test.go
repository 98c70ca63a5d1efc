package bridge

import (
	"errors"
	"net/netip"
	"testing"

	"switchboard/internal/sip"
)

func TestConferenceRefusesG722(t *testing.T) {
	rs, err := sip.ListenRTP("127.0.0.1:0", netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	if _, err := NewConference(rs, sip.G722, -1, ConferenceOptions{}); !errors.Is(err, ErrConferenceCodec) {
		t.Fatalf("NewConference(G722): %v", err)
	}
}
