package sfu

import (
	"bytes"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// The ring remembers only the last videoSeqRingSize outgoing numbers: a duplicate of an older
// source packet of the segment must not be munged to an already-used number and sent again
// with a fresh abs-send-time.
func TestOldDuplicateNotResent(t *testing.T) {
	tr := NewTrack(TrackOptions{ID: "v", Kind: webrtc.RTPCodecTypeVideo, Codec: vp8Cap})
	if err := tr.startLayer(0, 1000); err != nil {
		t.Fatal(err)
	}
	d := tr.Subscribe("s")
	direct := &switchWriter{open: true}
	d.UseWriter(direct)
	var pion recordWriter
	bindFake(d, 42, &pion)
	in := tr.Input("")
	src := newSource(0, 200)
	var pkts [][]byte
	for i := 0; i < 600; i++ {
		pkts = append(pkts, append([]byte(nil), src.next(i == 0)...))
	}
	for _, p := range pkts {
		in(p)
	}
	time.Sleep(20 * time.Millisecond)
	in(pkts[10]) // 590 packets late: publisher RTX / payload-padding copy / deliberate
	out := direct.rec.take()
	seen := map[uint16]rtp.Packet{}
	for _, p := range out {
		if q, ok := seen[p.SequenceNumber]; ok {
			a, _ := q.Header.Marshal()
			b, _ := p.Header.Marshal()
			t.Fatalf("ssrc %d seq %d written twice (payload equal %v, header equal %v)",
				p.SSRC, p.SequenceNumber, bytes.Equal(q.Payload, p.Payload), bytes.Equal(a, b))
		}
		seen[p.SequenceNumber] = p
	}
}
