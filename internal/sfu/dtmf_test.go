package sfu

import (
	"sync/atomic"
	"testing"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

var pcmu = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1}

// pcmuRig is a G.711 track (with keypad tones on payload type dtmf, 0 none) fed directly, with a fake
// clock advancing 20 ms a packet.
type pcmuRig struct {
	t     *testing.T
	tr    *Track
	clock atomic.Int64
	rd    *layerReader
}

func newPCMURig(t *testing.T, dtmf uint8) *pcmuRig {
	r := &pcmuRig{t: t, rd: newLayerReader()}
	r.tr = NewTrack(TrackOptions{ID: "a", Kind: webrtc.RTPCodecTypeAudio, Codec: pcmu, DTMFPayloadType: dtmf, Metrics: &Metrics{}})
	r.tr.clock = r.clock.Load
	if err := r.tr.startLayer(0, 99); err != nil {
		t.Fatal(err)
	}
	return r
}

// subscribe binds a subscriber with SSRC ssrc that negotiated PCMU (0) and, with events,
// telephone-event (101).
func (r *pcmuRig) subscribe(ssrc uint32, events bool) *recordWriter {
	_, w := r.subscribeDT(ssrc, events)
	return w
}

func (r *pcmuRig) subscribeDT(ssrc uint32, events bool) (*DownTrack, *recordWriter) {
	codecs := []webrtc.RTPCodecParameters{{RTPCodecCapability: pcmu, PayloadType: 0}}
	if events {
		codecs = append(codecs, webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 8000}, PayloadType: 101})
	}
	w := &recordWriter{}
	d := r.tr.Subscribe("s")
	if _, err := d.Bind(&fakeContext{id: "c", ssrc: ssrc, w: w, codecs: codecs}); err != nil {
		r.t.Fatal(err)
	}
	return d, w
}

// send hands the track one packet of the publisher (SSRC 99).
func (r *pcmuRig) send(pt uint8, seq uint16, ts uint32, payload []byte) {
	raw, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: 99},
		Payload: payload}).Marshal()
	r.tr.handle(0, r.rd, raw, r.clock.Add(20*ms))
}

// Telephone-events published on a track (payload type 96) reach a
// subscriber that negotiated telephone-event/8000 with its own payload type
// (101), in the audio's numbering; a subscriber without it gets the audio
// only, with no gap in its sequence numbers.
func TestTrackTelephoneEvents(t *testing.T) {
	r := newPCMURig(t, 96)
	withEvents, without := r.subscribe(1, true), r.subscribe(2, false)
	pts := []uint8{0, 0, 96, 96, 96, 0, 0}
	for i, pt := range pts {
		ts := uint32(i * 160)
		if pt == 96 {
			ts = 2 * 160 // one event: one timestamp
		}
		r.send(pt, uint16(1000+i), ts, []byte{byte(i), 0, 0, 160})
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

// A NACK for a telephone-event packet must retransmit it on the media SSRC byte for byte, with the
// telephone-event payload type it was first sent with (one SRTP index, one plaintext).
func TestDTMFRetransmittedAsSent(t *testing.T) {
	r := newPCMURig(t, 96)
	d, w := r.subscribeDT(1, true)
	for i, pt := range []uint8{0, 96, 0} {
		r.send(pt, uint16(1000+i), uint32(i*160), []byte{byte(i), 0, 0, 160})
	}
	ev := w.take()[1]
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
