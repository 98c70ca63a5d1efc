package sfu

import (
	"testing"
)

// One segment of a stream (no layer switch, no pause) is never cut short: the munger keeps
// forwarding after 2^15 and 2^16 packets (audio would fall silent after 11 minutes, video freeze).
func TestLongSegment(t *testing.T) {
	var m munger
	m.begin(100, 0, noPicDesc, 0, 90000)
	for i := 0; i < 70000; i++ {
		if _, ok := m.munge(uint16(100+i), uint32(i), noPicDesc, int64(i)); !ok {
			t.Fatalf("packet %d of one segment dropped", i)
		}
	}
}

// The same through a Track and a DownTrack: every one of 40,000 packets of a call is forwarded.
func TestLongAudioStream(t *testing.T) {
	r := newPCMURig(t, 0)
	w := r.subscribe(1, false)
	total := 0
	for i := 0; i < 40000; i++ {
		r.send(0, uint16(1000+i), uint32(i*160), []byte{1, 2, 3})
		total += len(w.take())
	}
	if total != 40000 {
		t.Fatalf("40000 packets (13 minutes of 20 ms audio) in, %d forwarded", total)
	}
}
