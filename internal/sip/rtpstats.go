package sip

import (
	"time"

	"github.com/pion/rtp"
)

// rtpStats counts what one call received, the way RFC 3550 appendix A does:
// packets expected from the sequence numbers (extended by wrap-arounds)
// against packets received, and the interarrival jitter (A.8) of the audio
// payload type. A new SSRC (the phone restarted its stream) starts a new
// count that adds to the old one.
type rtpStats struct {
	started  bool
	ssrc     uint32
	baseSeq  uint16
	maxSeq   uint16
	cycles   uint64 // 65536 per wrap-around
	received uint64

	// Totals of earlier SSRCs.
	prevExpected, prevReceived uint64

	transit int64   // of the previous audio packet, in timestamp units
	jitter  float64 // in timestamp units
	haveTr  bool
}

// update takes one accepted packet that arrived at; audio says whether it
// is the call's codec (telephone-events carry the event's start timestamp,
// so they do not measure jitter).
func (st *rtpStats) update(h *rtp.Header, arrival time.Duration, clockRate uint32, audio bool) {
	if !st.started || h.SSRC != st.ssrc {
		if st.started {
			st.prevExpected += st.expectedNow()
			st.prevReceived += st.received
		}
		*st = rtpStats{started: true, ssrc: h.SSRC, baseSeq: h.SequenceNumber, maxSeq: h.SequenceNumber,
			prevExpected: st.prevExpected, prevReceived: st.prevReceived}
	} else if d := h.SequenceNumber - st.maxSeq; d != 0 && d < 0x8000 {
		if h.SequenceNumber < st.maxSeq {
			st.cycles += 1 << 16
		}
		st.maxSeq = h.SequenceNumber
	}
	st.received++
	if !audio || clockRate == 0 {
		return
	}
	// arrival in timestamp units, relative to the session's start.
	arr := int64(arrival) * int64(clockRate) / int64(time.Second)
	transit := arr - int64(h.Timestamp)
	if st.haveTr {
		d := transit - st.transit
		if d < 0 {
			d = -d
		}
		st.jitter += (float64(d) - st.jitter) / 16
	}
	st.transit, st.haveTr = transit, true
}

func (st *rtpStats) expectedNow() uint64 {
	if !st.started {
		return 0
	}
	return st.cycles + uint64(st.maxSeq) - uint64(st.baseSeq) + 1
}

// RTPStats are a call's media statistics so far.
type RTPStats struct {
	PacketsSent     uint64
	PacketsReceived uint64
	PacketsLost     uint64  // expected by sequence numbers minus received (never negative)
	JitterMillis    float64 // RFC 3550 interarrival jitter of the audio
}

func (st *rtpStats) snapshot(clockRate uint32) (received, lost uint64, jitterMs float64) {
	expected := st.prevExpected + st.expectedNow()
	received = st.prevReceived + st.received
	if expected > received {
		lost = expected - received
	}
	if clockRate > 0 {
		jitterMs = st.jitter * 1000 / float64(clockRate)
	}
	return received, lost, jitterMs
}
