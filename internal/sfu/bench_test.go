package sfu

import (
	"fmt"
	"testing"

	"github.com/pion/webrtc/v4"
)

// benchRig is a VP8 Track with n bound subscribers writing to discardWriters.
func benchRig(tb testing.TB, layers, subs int) (*Track, []*source, []*layerReader, []*DownTrack) {
	tr := NewTrack(TrackOptions{ID: "v", Kind: webrtc.RTPCodecTypeVideo, Codec: vp8Cap, Metrics: &Metrics{},
		RequestKeyframe: func(uint32) {}})
	var srcs []*source
	var rds []*layerReader
	for l := 0; l < layers; l++ {
		srcs = append(srcs, newSource(l, 1100))
		rds = append(rds, newLayerReader())
		if err := tr.startLayer(l, srcs[l].ssrc); err != nil {
			tb.Fatal(err)
		}
	}
	var dts []*DownTrack
	for i := 0; i < subs; i++ {
		d := tr.Subscribe(fmt.Sprint("s", i))
		bindFake(d, uint32(100+i), &discardWriter{})
		dts = append(dts, d)
	}
	// Start every subscriber on the top layer.
	now := tr.now()
	for l := range srcs {
		tr.handle(l, rds[l], srcs[l].next(true), now)
	}
	return tr, srcs, rds, dts
}

// forwardOne is the measured unit: one incoming packet per layer goes through
// cache insert, keyframe/descriptor parsing, fan-out, munging and the write.
func forwardRound(tr *Track, srcs []*source, rds []*layerReader) {
	now := tr.now()
	for l := range srcs {
		tr.handle(l, rds[l], srcs[l].next(false), now)
	}
}

func BenchmarkForward(b *testing.B) {
	for _, subs := range []int{1, 10} {
		b.Run(fmt.Sprintf("subs=%d", subs), func(b *testing.B) {
			tr, srcs, rds, _ := benchRig(b, 1, subs)
			b.ReportAllocs()
			b.SetBytes(1100)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				forwardRound(tr, srcs, rds)
			}
		})
	}
}

// BenchmarkForwardSimulcast: three layers arrive, 10 subscribers take the top
// one after a switch, so every packet's picture ID is rewritten (payload copy).
func BenchmarkForwardSimulcast(b *testing.B) {
	tr, srcs, rds, dts := benchRig(b, 3, 10)
	for _, d := range dts {
		d.SetViewport(160, 90) // go to q ...
	}
	tr.handle(0, rds[0], srcs[0].next(true), tr.now())
	for _, d := range dts {
		d.SetViewport(1280, 720) // ... and back to f: offsets now non-zero
	}
	tr.handle(2, rds[2], srcs[2].next(true), tr.now())
	for _, d := range dts {
		if d.Layer() != 2 {
			b.Fatalf("layer %d", d.Layer())
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		forwardRound(tr, srcs, rds)
	}
}

func BenchmarkCacheInsert(b *testing.B) {
	c := newPacketCache(videoCacheSize)
	s := newSource(0, 1100)
	b.ReportAllocs()
	b.SetBytes(1100)
	for i := 0; i < b.N; i++ {
		raw := s.next(false)
		c.insert(s.seq, raw)
	}
}

// TestForwardDoesNotAllocate keeps the benchmark's promise in CI.
func TestForwardDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	tr, srcs, rds, _ := benchRig(t, 3, 10)
	forwardRound(tr, srcs, rds)
	if a := testing.AllocsPerRun(200, func() { forwardRound(tr, srcs, rds) }); a != 0 {
		t.Fatalf("%.1f allocations per forwarded packet round, want 0", a)
	}
}
