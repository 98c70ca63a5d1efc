package sip

import (
	"math"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// Loss comes from the extended sequence numbers (across a wrap and an
// SSRC change); jitter follows RFC 3550 A.8: zero for packets that arrive
// exactly on time, J += (|D| - J)/16 otherwise.
func TestRTPStats(t *testing.T) {
	var st rtpStats
	feed := func(ssrc uint32, seq uint16, ts uint32, at time.Duration) {
		st.update(&rtp.Header{SSRC: ssrc, SequenceNumber: seq, Timestamp: ts}, at, 8000, true)
	}
	// 65534, 65535, (0 lost), 1, 2: a wrap and one loss, all on time.
	for _, seq := range []uint16{65534, 65535, 1, 2} {
		n := uint32(seq - 65534)
		feed(1, seq, n*160, time.Duration(n)*20*time.Millisecond)
	}
	recv, lost, jitter := st.snapshot(8000)
	if recv != 4 || lost != 1 || jitter != 0 {
		t.Fatalf("received %d lost %d jitter %v", recv, lost, jitter)
	}
	// One packet 10 ms late: D = 80 samples, J = 80/16 = 5 samples.
	feed(1, 3, 5*160, 5*20*time.Millisecond+10*time.Millisecond)
	_, _, jitter = st.snapshot(8000)
	if math.Abs(jitter-5.0/8) > 1e-9 { // 5 samples at 8 kHz = 0.625 ms
		t.Fatalf("jitter %v ms", jitter)
	}
	// A new SSRC: counts add up; a duplicate is received but not expected.
	feed(2, 100, 0, time.Second)
	feed(2, 102, 320, time.Second+40*time.Millisecond)
	feed(2, 102, 320, time.Second+40*time.Millisecond)
	recv, lost, _ = st.snapshot(8000)
	if recv != 8 || lost != 1 {
		t.Fatalf("after a new SSRC: received %d lost %d", recv, lost)
	}
}
