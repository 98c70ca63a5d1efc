package sfu

import (
	"sync/atomic"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Telephone-events published on a track (payload type 96) reach a
// subscriber that negotiated telephone-event/8000 with its own payload type
// (101), in the audio's numbering; a subscriber without it gets the audio
// only, with no gap in its sequence numbers.
func TestTrackTelephoneEvents(t *testing.T) {
	pcmu := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1}
	tr := NewTrack(TrackOptions{ID: "a", Kind: webrtc.RTPCodecTypeAudio, Codec: pcmu, DTMFPayloadType: 96, Metrics: &Metrics{}})
	var clock atomic.Int64
	tr.clock = clock.Load
	if err := tr.startLayer(0, 99); err != nil {
		t.Fatal(err)
	}
	withEvents, without := &recordWriter{}, &recordWriter{}
	if _, err := tr.Subscribe("with").Bind(&fakeContext{id: "c1", ssrc: 1, w: withEvents, codecs: []webrtc.RTPCodecParameters{
		{RTPCodecCapability: pcmu, PayloadType: 0},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 8000}, PayloadType: 101},
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Subscribe("without").Bind(&fakeContext{id: "c2", ssrc: 2, w: without,
		codecs: []webrtc.RTPCodecParameters{{RTPCodecCapability: pcmu, PayloadType: 0}}}); err != nil {
		t.Fatal(err)
	}
	rd := newLayerReader()
	pts := []uint8{0, 0, 96, 96, 96, 0, 0}
	for i, pt := range pts {
		now := clock.Add(20 * ms)
		ts := uint32(i * 160)
		if pt == 96 {
			ts = 2 * 160 // one event: one timestamp
		}
		raw, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: uint16(1000 + i), Timestamp: ts, SSRC: 99},
			Payload: []byte{byte(i), 0, 0, 160}}).Marshal()
		tr.handle(0, rd, raw, now)
	}
	got := withEvents.take()
	if len(got) != len(pts) {
		t.Fatalf("with events: %d packets, want %d", len(got), len(pts))
	}
	for i, p := range got {
		want := uint8(0)
		if pts[i] == 96 {
			want = 101
		}
		if p.PayloadType != want || p.SequenceNumber != got[0].SequenceNumber+uint16(i) || p.Payload[0] != byte(i) {
			t.Fatalf("packet %d: %v", i, p.Header)
		}
	}
	got = without.take()
	if len(got) != 4 {
		t.Fatalf("without events: %d packets, want the 4 audio ones", len(got))
	}
	for i, p := range got {
		if p.PayloadType != 0 || p.SequenceNumber != got[0].SequenceNumber+uint16(i) {
			t.Fatalf("without events, packet %d: %v (a gap or an event)", i, p.Header)
		}
	}
}
