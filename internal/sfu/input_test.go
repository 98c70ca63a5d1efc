package sfu

import (
	"sync"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// switchWriter is a Writer that accepts packets only while open.
type switchWriter struct {
	rec  recordWriter
	mu   sync.Mutex
	open bool
}

func (w *switchWriter) TryWriteRTP(h *rtp.Header, payload []byte) (int, bool) {
	w.mu.Lock()
	open := w.open
	w.mu.Unlock()
	if !open {
		return 0, false
	}
	n, _ := w.rec.WriteRTP(h, payload)
	return n, true
}

func (w *switchWriter) set(open bool) {
	w.mu.Lock()
	w.open = open
	w.mu.Unlock()
}

// A subscriber's packets go by its own Writer while it can send and through
// pion otherwise, as one continuous stream.
func TestDownTrackUseWriter(t *testing.T) {
	tr := NewTrack(TrackOptions{ID: "a", Kind: webrtc.RTPCodecTypeAudio, Codec: opusCap})
	if err := tr.startLayer(0, 7); err != nil {
		t.Fatal(err)
	}
	d := tr.Subscribe("s")
	var pion recordWriter
	direct := &switchWriter{}
	d.UseWriter(direct)
	bindFake(d, 42, &pion)
	in := tr.Input("")
	send := func(from, to uint16) {
		for seq := from; seq < to; seq++ {
			h := rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq, Timestamp: uint32(seq) * 960, SSRC: 7}
			raw, _ := (&rtp.Packet{Header: h, Payload: []byte{byte(seq), 1, 2, 3}}).Marshal()
			in(raw)
		}
	}
	send(100, 110) // not open yet: pion
	direct.set(true)
	send(110, 130)
	direct.set(false)
	send(130, 135)
	viaPion, viaDirect := pion.take(), direct.rec.take()
	if len(viaPion) != 15 || len(viaDirect) != 20 {
		t.Fatalf("pion got %d packets (want 15), the writer %d (want 20)", len(viaPion), len(viaDirect))
	}
	all := append(append(append([]rtp.Packet{}, viaPion[:10]...), viaDirect...), viaPion[10:]...)
	for i, p := range all {
		if p.Payload[0] != byte(100+i) || p.SSRC != 42 || (i > 0 && p.SequenceNumber != all[i-1].SequenceNumber+1) {
			t.Fatalf("packet %d: payload %d ssrc %d seq %d: not one continuous stream", i, p.Payload[0], p.SSRC, p.SequenceNumber)
		}
	}
}

// Packets of one layer that arrive by the read loop's path and by Input at
// the same time are all forwarded, each once (run with -race: the layer's
// scratch is shared by both paths).
func TestTrackInputConcurrent(t *testing.T) {
	tr := NewTrack(TrackOptions{ID: "a", Kind: webrtc.RTPCodecTypeAudio, Codec: opusCap})
	if err := tr.startLayer(0, 7); err != nil {
		t.Fatal(err)
	}
	d := tr.Subscribe("s")
	var w recordWriter
	bindFake(d, 42, &w)
	in := tr.Input("")
	packet := func(seq uint16) []byte {
		h := rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq, Timestamp: uint32(seq) * 960, SSRC: 7}
		raw, _ := (&rtp.Packet{Header: h, Payload: []byte{1, 2, 3}}).Marshal()
		return raw
	}
	in(packet(0)) // the stream starts here; the two paths then interleave
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 60 { // both within the audio ring (128): late packets further back are dropped
				raw := packet(uint16(1 + 2*i + g))
				if g == 0 {
					tr.input(0, raw) // what the read loop calls
				} else {
					in(raw)
				}
			}
		}()
	}
	wg.Wait()
	if got := len(w.take()); got != 121 {
		t.Fatalf("forwarded %d packets, want 121", got)
	}
	if tr.Input("x") != nil {
		t.Fatal("Input accepted an unknown rid")
	}
}
