package sfu

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// unitRig drives a Track by calling handle directly with a fake clock.
type unitRig struct {
	t       *testing.T
	tr      *Track
	clock   atomic.Int64
	srcs    [MaxLayers]*source
	readers [MaxLayers]*layerReader
	mu      sync.Mutex
	plis    []uint32
	metrics *Metrics
}

func newUnitRig(t *testing.T, layers int, sizes ...int) *unitRig {
	r := &unitRig{t: t, metrics: &Metrics{}}
	r.clock.Store(int64(time.Second))
	r.tr = NewTrack(TrackOptions{
		ID: "v", Kind: webrtc.RTPCodecTypeVideo, Codec: vp8Cap, Metrics: r.metrics,
		RequestKeyframe: func(ssrc uint32) {
			r.mu.Lock()
			r.plis = append(r.plis, ssrc)
			r.mu.Unlock()
		},
	})
	r.tr.clock = r.clock.Load
	for l := 0; l < layers; l++ {
		r.srcs[l] = newSource(l, sizes[l])
		r.readers[l] = newLayerReader()
		if err := r.tr.startLayer(l, r.srcs[l].ssrc); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func (r *unitRig) takePLIs() []uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.plis
	r.plis = nil
	return p
}

// round sends one packet on every layer; keyLayer (-1 none) sends a keyframe.
// The clock advances by 33 ms.
func (r *unitRig) round(keyLayer int) {
	now := r.clock.Add(33 * ms)
	for l, s := range r.srcs {
		if s == nil {
			continue
		}
		r.tr.handle(l, r.readers[l], s.next(l == keyLayer), now)
	}
}

func checkContinuity(t *testing.T, pkts []rtp.Packet, ssrc uint32) {
	t.Helper()
	for i := 1; i < len(pkts); i++ {
		a, b := pkts[i-1], pkts[i]
		if b.SSRC != ssrc || b.PayloadType != 100 {
			t.Fatalf("packet %d: ssrc %d pt %d", i, b.SSRC, b.PayloadType)
		}
		if b.SequenceNumber != a.SequenceNumber+1 {
			t.Fatalf("packet %d: seq %d after %d", i, b.SequenceNumber, a.SequenceNumber)
		}
		if d := b.Timestamp - a.Timestamp; d == 0 || d > 1<<30 {
			t.Fatalf("packet %d: timestamp %d after %d", i, b.Timestamp, a.Timestamp)
		}
		pa, pb := parsePicDesc(codecVP8, a.Payload), parsePicDesc(codecVP8, b.Payload)
		if pb.pic != (pa.pic+1)&0x7fff || pb.tl0 != pa.tl0+1 {
			t.Fatalf("packet %d: picture id %d/%d after %d/%d", i, pb.pic, pb.tl0, pa.pic, pa.tl0)
		}
	}
}

func TestDownTrackSimulcastSwitchAndNACK(t *testing.T) {
	r := newUnitRig(t, 3, 100, 400, 1000)
	r.round(-1) // the publisher is already sending
	d := r.tr.Subscribe("s1")
	w := &recordWriter{}
	bindFake(d, 4242, w)

	// Start: aim at the top layer and ask for a keyframe.
	if got := r.takePLIs(); len(got) == 0 || got[0] != 1002 {
		t.Fatalf("keyframe requests at bind: %v, want [1002]", got)
	}
	r.round(-1)
	if len(w.take()) != 0 || d.Layer() != -1 {
		t.Fatal("forwarded before a keyframe")
	}
	r.round(2)
	if d.Layer() != 2 {
		t.Fatalf("layer %d after keyframe on f, want 2", d.Layer())
	}
	for i := 0; i < 40; i++ { // > 1 s: layer bitrates get measured
		r.round(-1)
	}
	before := w.take()
	if len(before) != 41 {
		t.Fatalf("forwarded %d packets on f, want 41", len(before))
	}
	r.takePLIs()

	// Congestion: REMB far below f's bitrate -> switch to q at q's next keyframe.
	d.handleRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 60_000, SSRCs: []uint32{4242}}})
	if got := r.takePLIs(); len(got) != 1 || got[0] != 1000 {
		t.Fatalf("keyframe requests after REMB: %v, want [1000]", got)
	}
	r.round(-1) // still f until q has a keyframe
	if d.Layer() != 2 {
		t.Fatal("switched before a keyframe")
	}
	r.round(0)
	if d.Layer() != 0 {
		t.Fatalf("layer %d after keyframe on q, want 0", d.Layer())
	}
	for i := 0; i < 5; i++ {
		r.round(-1)
	}
	after := w.take()
	all := append(append([]rtp.Packet{}, before...), after...)
	checkContinuity(t, all, 4242)
	for i, p := range after {
		want := 2
		if i >= 1 {
			want = 0
		}
		if l, _, ok := payloadID(p.Payload); !ok || l != want {
			t.Fatalf("after REMB packet %d from layer %d, want %d", i, l, want)
		}
	}

	// NACK one packet from before the switch (f) and one after (q): both are
	// rebuilt from the shared caches exactly as first sent.
	fPkt, qPkt := before[30], after[3]
	d.handleRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: 4242, Nacks: rtcp.NackPairsFromSequenceNumbers(
		[]uint16{fPkt.SequenceNumber, qPkt.SequenceNumber})}})
	re := w.take()
	if len(re) != 2 {
		t.Fatalf("retransmitted %d packets, want 2", len(re))
	}
	for i, want := range []rtp.Packet{fPkt, qPkt} {
		got := re[i]
		if got.SequenceNumber != want.SequenceNumber || got.Timestamp != want.Timestamp ||
			got.SSRC != want.SSRC || !bytes.Equal(got.Payload, want.Payload) {
			t.Errorf("retransmission %d differs:\n got %v %x\nwant %v %x", i, got.Header, got.Payload, want.Header, want.Payload)
		}
	}
	// A NACK for another SSRC and one for a packet never sent are ignored.
	d.handleRTCP([]rtcp.Packet{
		&rtcp.TransportLayerNack{MediaSSRC: 1, Nacks: []rtcp.NackPair{{PacketID: fPkt.SequenceNumber}}},
		&rtcp.TransportLayerNack{MediaSSRC: 4242, Nacks: []rtcp.NackPair{{PacketID: qPkt.SequenceNumber + 1000}}},
	})
	if n := len(w.take()); n != 0 {
		t.Fatalf("%d unexpected retransmissions", n)
	}
	if r.metrics.NACKsReceived.Load() != 3 || r.metrics.Retransmitted.Load() != 2 || r.metrics.CacheMisses.Load() != 1 {
		t.Errorf("metrics: nacks %d retransmitted %d misses %d", r.metrics.NACKsReceived.Load(),
			r.metrics.Retransmitted.Load(), r.metrics.CacheMisses.Load())
	}
	if r.metrics.ForwardedPackets.Load() != uint64(len(all)) {
		t.Errorf("forwarded metric %d, want %d", r.metrics.ForwardedPackets.Load(), len(all))
	}

	// Plenty of bandwidth again: back to f.
	d.handleRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 50_000_000, SSRCs: []uint32{4242}}})
	r.round(-1)
	r.round(2)
	r.round(-1)
	if d.Layer() != 2 {
		t.Fatalf("layer %d after high REMB, want 2", d.Layer())
	}
	checkContinuity(t, append(after, w.take()...), 4242)
}

func TestDownTrackViewportPauseResume(t *testing.T) {
	r := newUnitRig(t, 3, 100, 400, 1000)
	r.round(-1)
	d := r.tr.Subscribe("s1")
	w := &recordWriter{}
	bindFake(d, 7, w)
	r.round(2)
	r.round(-1)
	if d.Layer() != 2 {
		t.Fatalf("layer %d, want 2", d.Layer())
	}

	d.SetViewport(160, 90) // keyframes carry 320x180 for q: q covers it
	r.round(0)
	if d.Layer() != 0 {
		t.Fatalf("layer %d after small viewport, want 0", d.Layer())
	}
	d.SetViewport(0, 0)
	if d.Layer() != -1 {
		t.Fatal("not paused")
	}
	sent := len(w.take())
	r.round(0)
	r.round(-1)
	if n := len(w.take()); n != 0 {
		t.Fatalf("%d packets sent while paused", n)
	}
	r.takePLIs()
	r.clock.Add(int64(time.Second))
	d.SetViewport(1280, 720)
	if got := r.takePLIs(); len(got) != 1 || got[0] != 1002 {
		t.Fatalf("keyframe requests on resume: %v", got)
	}
	r.round(-1)
	r.round(2)
	r.round(-1)
	out := w.take()
	if len(out) != 2 || d.Layer() != 2 {
		t.Fatalf("after resume: %d packets, layer %d", len(out), d.Layer())
	}
	if sent == 0 {
		t.Fatal("nothing sent before pause")
	}
}

func TestDownTrackPLIThrottledUpstream(t *testing.T) {
	r := newUnitRig(t, 1, 500)
	a, b := r.tr.Subscribe("a"), r.tr.Subscribe("b")
	bindFake(a, 1, &discardWriter{})
	bindFake(b, 2, &discardWriter{})
	if got := r.takePLIs(); len(got) != 1 {
		t.Fatalf("two subscribers starting together sent %d PLIs, want 1", len(got))
	}
	r.round(0)
	for i := 0; i < 5; i++ {
		a.handleRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: 1}})
		b.handleRTCP([]rtcp.Packet{&rtcp.FullIntraRequest{FIR: []rtcp.FIREntry{{SSRC: 2}}}})
	}
	if got := r.takePLIs(); len(got) != 0 {
		t.Fatalf("PLIs within the throttle interval: %v", got)
	}
	r.clock.Add(int64(KeyframeRequestInterval))
	a.handleRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: 99}}) // not ours
	if got := r.takePLIs(); len(got) != 0 {
		t.Fatalf("PLI for another SSRC forwarded: %v", got)
	}
	b.handleRTCP([]rtcp.Packet{&rtcp.FullIntraRequest{FIR: []rtcp.FIREntry{{SSRC: 2}}}})
	if got := r.takePLIs(); len(got) != 1 || got[0] != 1000 {
		t.Fatalf("FIR after the interval: %v", got)
	}
	if r.metrics.PLIsSent.Load() != 2 {
		t.Errorf("PLIsSent %d, want 2", r.metrics.PLIsSent.Load())
	}
}

func TestTrackAudioForwardAndLevel(t *testing.T) {
	m := &Metrics{}
	tr := NewTrack(TrackOptions{ID: "a", Kind: webrtc.RTPCodecTypeAudio, Codec: opusCap, AudioLevelExtID: 5, Metrics: m})
	var clock atomic.Int64
	tr.clock = clock.Load
	if err := tr.startLayer(0, 99); err != nil {
		t.Fatal(err)
	}
	d := tr.Subscribe("s")
	w := &recordWriter{}
	bindFake(d, 55, w)
	rd := newLayerReader()
	for i := 0; i < 50; i++ {
		now := clock.Add(20 * ms)
		h := rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: uint16(65500 + i), Timestamp: uint32(i * 960), SSRC: 99}
		_ = h.SetExtension(5, []byte{0x80 | 20})
		raw, _ := (&rtp.Packet{Header: h, Payload: []byte{0xfc, byte(i)}}).Marshal()
		tr.handle(0, rd, raw, now)
	}
	pkts := w.take()
	if len(pkts) != 50 {
		t.Fatalf("forwarded %d, want 50", len(pkts))
	}
	for i, p := range pkts {
		if p.SequenceNumber != uint16(65500+i) || p.SSRC != 55 || p.PayloadType != 111 || p.Payload[1] != byte(i) {
			t.Fatalf("packet %d: %v %x", i, p.Header, p.Payload)
		}
		if lvl := p.GetExtension(1); len(lvl) != 1 || lvl[0] != 0x80|20 {
			t.Fatalf("audio level not passed through: %x", lvl)
		}
		if len(p.GetExtension(3)) != 3 {
			t.Fatal("abs-send-time missing")
		}
	}
	if l := tr.AudioLevel(); l < 0.09 || l > 0.11 {
		t.Fatalf("AudioLevel %.3f, want about 0.1 (-20 dBov)", l)
	}
	tr.Close()
	<-tr.Done()
	if !d.closed.Load() {
		t.Fatal("DownTrack not closed with its Track")
	}
}

func TestBindCodecMatching(t *testing.T) {
	h264 := func(fmtp string) webrtc.RTPCodecCapability {
		return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: fmtp}
	}
	have := []webrtc.RTPCodecParameters{
		{RTPCodecCapability: h264("level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f"), PayloadType: 102},
		{RTPCodecCapability: h264("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f"), PayloadType: 104},
		{RTPCodecCapability: h264("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"), PayloadType: 106},
	}
	c, err := matchCodec(h264("packetization-mode=1;profile-level-id=42e034"), have)
	if err != nil || c.PayloadType != 106 {
		t.Fatalf("matched %v %v, want pt 106", c.PayloadType, err)
	}
	if _, err := matchCodec(h264("packetization-mode=1;profile-level-id=4d001f"), have); err == nil {
		t.Fatal("main profile matched a baseline/high offer")
	}
	if _, err := matchCodec(vp8Cap, have); err == nil {
		t.Fatal("VP8 matched H.264")
	}
}

// sentTwo binds a DownTrack on SSRC 10 (RTX SSRC rtx, 0 none) to a one-layer track and has it send
// two packets, which it returns.
func sentTwo(t *testing.T, rtx uint32) (*unitRig, *DownTrack, *recordWriter, []rtp.Packet) {
	r := newUnitRig(t, 1, 300)
	r.round(-1)
	d := r.tr.Subscribe("s")
	w := &recordWriter{}
	if _, err := d.Bind(&fakeContext{id: "c", ssrc: 10, rtx: rtx, codecs: subscriberCodecs(), w: w}); err != nil {
		t.Fatal(err)
	}
	r.round(0)
	r.round(-1)
	sent := w.take()
	if len(sent) != 2 {
		t.Fatalf("sent %d", len(sent))
	}
	return r, d, w, sent
}

func TestRetransmitOnRTXStream(t *testing.T) {
	_, d, w, sent := sentTwo(t, 11)
	for i := 0; i < 2; i++ {
		d.handleRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: 10, Nacks: []rtcp.NackPair{{PacketID: sent[1].SequenceNumber}}}})
	}
	re := w.take()
	if len(re) != 2 {
		t.Fatalf("retransmitted %d, want 2", len(re))
	}
	for i, p := range re {
		osn := uint16(p.Payload[0])<<8 | uint16(p.Payload[1])
		if p.SSRC != 11 || p.PayloadType != 101 || osn != sent[1].SequenceNumber ||
			p.Timestamp != sent[1].Timestamp || !bytes.Equal(p.Payload[2:], sent[1].Payload) {
			t.Fatalf("RTX packet %d: %v osn %d", i, p.Header, osn)
		}
		if i == 1 && p.SequenceNumber != re[0].SequenceNumber+1 {
			t.Fatalf("RTX seq %d after %d", p.SequenceNumber, re[0].SequenceNumber)
		}
	}
}

// TestNACKStormIsBounded: a subscriber's NACKs get it at most as many retransmissions as it was sent
// packets, however many sequence numbers they list (each listed thousands of times here), and the
// credit comes back as media flows.
func TestNACKStormIsBounded(t *testing.T) {
	r, d, w, sent := sentTwo(t, 0)
	storm := make([]rtcp.NackPair, 0, 3000)
	for i := range cap(storm) {
		storm = append(storm, rtcp.NackPair{PacketID: sent[i%2].SequenceNumber})
	}
	nack := []rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: 10, Nacks: storm}}
	d.handleRTCP(nack)
	if re := w.take(); len(re) != len(sent) {
		t.Fatalf("a NACK storm after %d packets got %d retransmissions, want %d", len(sent), len(re), len(sent))
	}
	r.round(-1) // one more packet sent: one more retransmission allowed
	w.take()
	d.handleRTCP(nack)
	if re := w.take(); len(re) != 1 {
		t.Fatalf("after one more packet the storm got %d retransmissions, want 1", len(re))
	}
}

// gateWriter drops writes the way pion does before DTLS is up: (0, nil).
type gateWriter struct {
	open atomic.Bool
	recordWriter
}

func (w *gateWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	if !w.open.Load() {
		return 0, nil
	}
	return w.recordWriter.WriteRTP(h, payload)
}

func TestDownTrackRestartsAtKeyframeWhenTransportComesUp(t *testing.T) {
	r := newUnitRig(t, 1, 300)
	r.round(-1)
	d := r.tr.Subscribe("s")
	w := &gateWriter{}
	bindFake(d, 9, w)
	r.round(0) // keyframe written into the void
	if d.Layer() != -1 {
		t.Fatalf("layer %d after a dropped keyframe, want -1 (wait for the next)", d.Layer())
	}
	w.open.Store(true)
	r.takePLIs()
	r.round(-1) // the dropped keyframe is replayed from the cache, then this packet
	r.round(-1)
	got := w.take()
	if len(got) != 3 || !IsVP8Keyframe(got[0].Payload) {
		t.Fatalf("after the transport came up: %d packets, first keyframe %v", len(got), len(got) > 0 && IsVP8Keyframe(got[0].Payload))
	}
	checkContinuity(t, got, 9)
	if p := r.takePLIs(); len(p) != 0 {
		t.Fatalf("keyframe requests %v although the cached keyframe was replayed", p)
	}
}

// TestDownTrackStartsFromCachedKeyframe: a subscriber that starts gets the layer's latest keyframe
// and the packets after it from the cache at once, as one continuous stream; a keyframe older than
// replayMaxAge is not replayed (a keyframe request goes out instead).
func TestDownTrackStartsFromCachedKeyframe(t *testing.T) {
	r := newUnitRig(t, 1, 300)
	r.round(0)
	for range 5 {
		r.round(-1)
	}
	d := r.tr.Subscribe("s")
	if p := r.takePLIs(); len(p) != 1 {
		t.Fatalf("Subscribe sent %d keyframe requests, want 1 (ahead of the answer)", len(p))
	}
	w := &recordWriter{}
	bindFake(d, 9, w)
	r.round(-1)
	got := w.take()
	if len(got) != 7 || !IsVP8Keyframe(got[0].Payload) {
		t.Fatalf("%d packets (first a keyframe: %v), want the keyframe, 5 cached packets and the new one", len(got), len(got) > 0 && IsVP8Keyframe(got[0].Payload))
	}
	checkContinuity(t, got, 9)
	for i, p := range got {
		if _, seq, _ := payloadID(p.Payload); seq != r.srcs[0].seq-uint16(6-i) {
			t.Fatalf("packet %d carries source packet %d, want %d", i, seq, r.srcs[0].seq-uint16(6-i))
		}
	}
	if r.metrics.KeyframesReplayed.Load() != 1 || r.metrics.ForwardedPackets.Load() != 7 {
		t.Fatalf("metrics: replayed %d, forwarded %d", r.metrics.KeyframesReplayed.Load(), r.metrics.ForwardedPackets.Load())
	}
	r.round(-1)
	if got := w.take(); len(got) != 1 {
		t.Fatalf("%d packets after the replay, want 1", len(got))
	}

	// Too old: nothing is replayed; the subscriber waits for a fresh keyframe.
	r2 := newUnitRig(t, 1, 300)
	r2.round(0)
	for range 35 { // 35 x 33 ms > replayMaxAge
		r2.round(-1)
	}
	d2 := r2.tr.Subscribe("s")
	w2 := &recordWriter{}
	bindFake(d2, 9, w2)
	r2.clock.Add(int64(KeyframeRequestInterval)) // past the throttle of the request at Subscribe
	r2.takePLIs()
	r2.round(-1)
	if got := w2.take(); len(got) != 0 {
		t.Fatalf("%d packets sent from a keyframe older than %v", len(got), replayMaxAge)
	}
	if p := r2.takePLIs(); len(p) != 1 {
		t.Fatalf("%d keyframe requests, want 1", len(p))
	}
	r2.round(0)
	if got := w2.take(); len(got) != 1 || !IsVP8Keyframe(got[0].Payload) {
		t.Fatalf("the fresh keyframe was not forwarded")
	}
}

func TestDownTrackBandwidthProbe(t *testing.T) {
	r := newUnitRig(t, 3, 100, 400, 1000)
	r.round(-1)
	d := r.tr.Subscribe("s")
	bindFake(d, 5, &discardWriter{})
	r.round(2)
	for i := 0; i < 40; i++ {
		r.round(-1)
	}
	remb := func(bps float32) {
		d.handleRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: bps, SSRCs: []uint32{5}}})
	}
	// keyframes answers pending keyframe requests like a publisher would.
	run := func(dur time.Duration) {
		for end := r.clock.Load() + int64(dur); r.clock.Load() < end; {
			key := -1
			for _, ssrc := range r.takePLIs() {
				key = int(ssrc - 1000)
			}
			r.round(key)
		}
	}
	remb(60_000) // q (27 kbit/s at 30 frames/s) fits, h (99 kbit/s) does not
	run(time.Second)
	if d.Layer() != 0 {
		t.Fatalf("layer %d after low REMB, want 0", d.Layer())
	}
	// The receiver's estimate lags at ~1.5x what it gets: no upgrade by itself,
	// but after the probe interval the DownTrack tries h.
	run(baseProbeInterval - 2*time.Second)
	remb(60_000)
	if d.Layer() != 0 {
		t.Fatalf("probed too early: layer %d", d.Layer())
	}
	run(3 * time.Second)
	if d.Layer() != 1 {
		t.Fatalf("layer %d after the probe interval, want 1", d.Layer())
	}
	// Congestion during the probe: back to q, and the interval doubles.
	remb(50_000)
	run(time.Second)
	if d.Layer() != 0 {
		t.Fatalf("layer %d after the probe failed, want 0", d.Layer())
	}
	run(baseProbeInterval + time.Second)
	if d.Layer() != 0 {
		t.Fatal("probed again before the doubled interval")
	}
	run(baseProbeInterval)
	if d.Layer() != 1 {
		t.Fatalf("layer %d after the doubled interval, want 1", d.Layer())
	}
	// No congestion within the probe window: h stays although REMB lags.
	remb(51_000)
	run(probeWindow + time.Second)
	if d.Layer() != 1 {
		t.Fatalf("successful probe undone: layer %d", d.Layer())
	}
}

// TestDownTrackSenderReport: the report counts what reached the network (not what pion dropped
// before DTLS was up), maps RTP time to wall-clock time from the latest frame, extrapolating at the
// clock rate, and counts a retransmission on the media SSRC (none on an RTX stream).
func TestDownTrackSenderReport(t *testing.T) {
	r := newUnitRig(t, 1, 300)
	d := r.tr.Subscribe("s")
	if _, ok := d.SenderReport(time.Now()); ok {
		t.Fatal("a report before Bind")
	}
	w := &gateWriter{}
	bindFake(d, 9, w)
	r.round(0) // dropped: transport not up
	if _, ok := d.SenderReport(time.Now()); ok {
		t.Fatal("a report before anything was sent")
	}
	w.open.Store(true)
	r.round(0)
	for range 9 {
		r.round(-1)
	}
	got := w.take()
	if len(got) != 10 {
		t.Fatalf("sent %d packets, want 10", len(got))
	}
	var octets uint32
	for _, p := range got {
		octets += uint32(len(p.Payload))
	}
	last := got[len(got)-1]
	r.clock.Add(500 * ms) // half a second after the last frame left
	wall := time.Date(2026, 12, 7, 9, 0, 0, 250_000_000, time.UTC)
	sr, ok := d.SenderReport(wall)
	if !ok {
		t.Fatal("no report after sending")
	}
	if sr.SSRC != 9 || sr.PacketCount != 10 || sr.OctetCount != octets {
		t.Fatalf("report ssrc %d packets %d octets %d, want 9, 10, %d", sr.SSRC, sr.PacketCount, sr.OctetCount, octets)
	}
	if want := last.Timestamp + 45000; sr.RTPTime != want { // 0.5 s at 90 kHz
		t.Fatalf("RTP time %d, want %d (last frame %d + 0.5 s)", sr.RTPTime, want, last.Timestamp)
	}
	if want := uint64(wall.Unix()+2208988800)<<32 | 1<<30; sr.NTPTime != want { // .25 s = 2^30/2^32
		t.Fatalf("NTP time %x, want %x", sr.NTPTime, want)
	}

	// A NACKed packet resent on the media SSRC counts; the compound helper includes the report.
	d.handleRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: 9, Nacks: []rtcp.NackPair{{PacketID: last.SequenceNumber}}}})
	if n := len(w.take()); n != 1 {
		t.Fatalf("%d retransmissions, want 1", n)
	}
	pkts := SenderReports(nil, []*DownTrack{d, r.tr.Subscribe("unbound")}, wall)
	if len(pkts) != 1 {
		t.Fatalf("%d reports, want 1 (the unbound DownTrack has none)", len(pkts))
	}
	if sr2 := pkts[0].(*rtcp.SenderReport); sr2.PacketCount != 11 || sr2.OctetCount != octets+uint32(len(last.Payload)) {
		t.Fatalf("after a retransmission: packets %d octets %d", sr2.PacketCount, sr2.OctetCount)
	}
}

// One SRTP index is never encrypted twice with different bytes (AES-GCM nonce reuse): a source
// packet that arrives again (a publisher's needless repair, a network duplicate) is not forwarded
// again, and a retransmission on the media SSRC (no RTX negotiated) repeats the original packet
// byte for byte, abs-send-time included.
func TestDownTrackNeverReencryptsAnIndexDifferently(t *testing.T) {
	r := newUnitRig(t, 1, 300)
	r.round(-1)
	d := r.tr.Subscribe("s")
	w := &recordWriter{}
	bindFake(d, 10, w)
	r.round(0)
	var dup []byte
	for i := 0; i < 4; i++ {
		r.round(-1)
		if i == 1 {
			dup = bytes.Clone(r.srcs[0].raw)
		}
	}
	now := r.clock.Add(33 * ms)
	r.tr.handle(0, r.readers[0], dup, now) // an old packet again
	sent := w.take()
	seen := map[uint16]bool{}
	for _, p := range sent {
		if seen[p.SequenceNumber] {
			t.Fatalf("seq %d sent twice", p.SequenceNumber)
		}
		seen[p.SequenceNumber] = true
	}
	if len(sent) != 5 {
		t.Fatalf("sent %d packets, want 5", len(sent))
	}
	r.clock.Add(500 * ms) // a later abs-send-time, if it were taken anew
	d.handleRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: 10, Nacks: []rtcp.NackPair{{PacketID: sent[2].SequenceNumber}}}})
	re := w.take()
	if len(re) != 1 {
		t.Fatalf("retransmitted %d packets, want 1", len(re))
	}
	a, _ := (&rtp.Packet{Header: sent[2].Header, Payload: sent[2].Payload}).Marshal()
	b, _ := (&rtp.Packet{Header: re[0].Header, Payload: re[0].Payload}).Marshal()
	if !bytes.Equal(a, b) {
		t.Fatalf("the retransmission on the media SSRC differs from the original:\n%x\n%x", a, b)
	}
}
