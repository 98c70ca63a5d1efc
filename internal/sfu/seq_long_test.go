package sfu

import (
	"sync/atomic"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
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
	pcmu := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1}
	tr := NewTrack(TrackOptions{ID: "a", Kind: webrtc.RTPCodecTypeAudio, Codec: pcmu, Metrics: &Metrics{}})
	var clock atomic.Int64
	tr.clock = clock.Load
	if err := tr.startLayer(0, 99); err != nil {
		t.Fatal(err)
	}
	w := &recordWriter{}
	if _, err := tr.Subscribe("s").Bind(&fakeContext{id: "c1", ssrc: 1, w: w, codecs: []webrtc.RTPCodecParameters{
		{RTPCodecCapability: pcmu, PayloadType: 0}}}); err != nil {
		t.Fatal(err)
	}
	rd := newLayerReader()
	total := 0
	for i := 0; i < 40000; i++ {
		now := clock.Add(20 * ms)
		raw, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(1000 + i), Timestamp: uint32(i * 160), SSRC: 99},
			Payload: []byte{1, 2, 3}}).Marshal()
		tr.handle(0, rd, raw, now)
		total += len(w.take())
	}
	if total != 40000 {
		t.Fatalf("40000 packets (13 minutes of 20 ms audio) in, %d forwarded", total)
	}
}
