package protocol

import (
	"fmt"
	"unicode"
)

// DialOut asks the server to ring a telephone and bring it into the
// meeting (hosts only). Target is a SIP extension (a SIP account), or a
// telephone number, which only a host signed in with an account allowed to
// call numbers may dial (the server knows the account from the connection,
// not from this message). The reply is ok once the phone is being called;
// dial-progress events follow.
type DialOut struct {
	Head
	Target string `json:"target"`
}

// DialProgress tells the host who dialled out how it goes: State is
// "ringing", "answered" (Participant is the phone's id in the room),
// "failed" (Reason says why: busy, declined, no-answer, not-registered,
// no-such-number, lines-busy, codec, failed) or "ended" (the phone left).
type DialProgress struct {
	Head
	Target      string `json:"target"`
	State       string `json:"state"`
	Participant string `json:"participant,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// Dial progress states.
const (
	DialRinging  = "ringing"
	DialAnswered = "answered"
	DialFailed   = "failed"
	DialEnded    = "ended"
)

// MaxDialTarget is the longest dial-out target.
const MaxDialTarget = 64

func (*DialOut) TypeName() string      { return "dialOut" }
func (*DialProgress) TypeName() string { return "dial-progress" }

func (m *DialOut) validate() error {
	if m.Target == "" || len(m.Target) > MaxDialTarget {
		return fmt.Errorf("target must be 1 to %d characters", MaxDialTarget)
	}
	for _, r := range m.Target {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) || r == ' ' {
			return fmt.Errorf("target must be printable ASCII without spaces (an extension or number)")
		}
	}
	return nil
}
