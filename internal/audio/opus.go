package audio

import (
	"errors"
	"fmt"
)

// ErrNoOpus is what the Opus constructors return in a build without
// libopus.
var ErrNoOpus = errors.New("this build has no Opus transcoding: build with -tags libopus (needs libopus-dev)")

// OpusPayloadMax is the largest Opus payload the encoder writes.
const OpusPayloadMax = 1275

// OpusReceiver turns one source's Opus packets, in order of arrival, into
// PCM frames, concealing losses: a packet that follows a gap first
// recovers the frame just before it from its in-band FEC, and libopus's
// packet loss concealment fills a few more. Longer gaps (the sender was
// muted or used DTX) are not filled: the mixer plays silence meanwhile.
// Late packets (older than one already decoded) are dropped.
type OpusReceiver struct {
	dec     *OpusDecoder
	started bool
	last    uint16
	buf     []int16

	Lost, Recovered uint64 // frames missing; of those, filled by FEC or PLC
}

// maxConceal is the longest gap (in packets) that is concealed.
const maxConceal = 5

// NewOpusReceiver returns a receiver with its own decoder to PCM at rate
// (ErrNoOpus without libopus).
func NewOpusReceiver(rate int) (*OpusReceiver, error) {
	d, err := NewOpusDecoder(rate)
	if err != nil {
		return nil, err
	}
	return &OpusReceiver{dec: d, buf: make([]int16, 0, 6*rate/50)}, nil
}

// checkRate accepts the two rates this package works at.
func checkRate(rate int) error {
	if rate != PhoneRate && rate != Rate {
		return fmt.Errorf("audio: opus at %d Hz: use %d or %d", rate, PhoneRate, Rate)
	}
	return nil
}

// Packet decodes the packet with sequence number seq and returns the PCM it
// yields (concealed frames first), valid until the next call. A packet that
// does not decode yields nothing and an error.
func (r *OpusReceiver) Packet(seq uint16, payload []byte) ([]int16, error) {
	out := r.buf[:0]
	if r.started {
		gap := int16(seq - r.last - 1)
		switch {
		case gap < 0:
			return nil, nil // late or repeated
		case gap > 0:
			r.Lost += uint64(gap)
			if gap <= maxConceal {
				for range gap - 1 {
					var err error
					if out, err = r.dec.Conceal(out); err != nil {
						break
					}
					r.Recovered++
				}
				if o, err := r.dec.DecodeFEC(payload, out); err == nil {
					out = o
					r.Recovered++
				}
			}
		}
	}
	r.started, r.last = true, seq
	out, err := r.dec.Decode(payload, out)
	r.buf = out[:0]
	return out, err
}
