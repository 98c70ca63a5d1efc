package sfu

import (
	"sync/atomic"
	"testing"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// A NACK for a telephone-event packet must retransmit it on the media SSRC byte for byte, with the
// telephone-event payload type it was first sent with (one SRTP index, one plaintext).
func TestDTMFRetransmittedAsSent(t *testing.T) {
	pcmu := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1}
	tr := NewTrack(TrackOptions{ID: "a", Kind: webrtc.RTPCodecTypeAudio, Codec: pcmu, DTMFPayloadType: 96, Metrics: &Metrics{}})
	var clock atomic.Int64
	tr.clock = clock.Load
	if err := tr.startLayer(0, 99); err != nil {
		t.Fatal(err)
	}
	w := &recordWriter{}
	d := tr.Subscribe("with")
	if _, err := d.Bind(&fakeContext{id: "c1", ssrc: 1, w: w, codecs: []webrtc.RTPCodecParameters{
		{RTPCodecCapability: pcmu, PayloadType: 0},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 8000}, PayloadType: 101},
	}}); err != nil {
		t.Fatal(err)
	}
	rd := newLayerReader()
	pts := []uint8{0, 96, 0}
	for i, pt := range pts {
		now := clock.Add(20 * ms)
		raw, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: uint16(1000 + i), Timestamp: uint32(i * 160), SSRC: 99},
			Payload: []byte{byte(i), 0, 0, 160}}).Marshal()
		tr.handle(0, rd, raw, now)
	}
	got := w.take()
	ev := got[1]
	d.handleRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: 1, Nacks: []rtcp.NackPair{{PacketID: ev.SequenceNumber}}}})
	re := w.take()
	if len(re) != 1 {
		t.Fatalf("%d retransmitted", len(re))
	}
	a, _ := ev.Header.Marshal()
	b, _ := re[0].Header.Marshal()
	if string(a) != string(b) {
		t.Fatalf("seq %d re-sent with another header: pt %d then %d", ev.SequenceNumber, ev.PayloadType, re[0].PayloadType)
	}
}
