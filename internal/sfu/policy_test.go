package sfu

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSelectLayer(t *testing.T) {
	all := [MaxLayers]bool{true, true, true}
	rates := [MaxLayers]int64{150_000, 500_000, 1_500_000}
	sized := func(in policyInput) policyInput {
		in.width = [MaxLayers]int{320, 640, 1280}
		in.height = [MaxLayers]int{180, 360, 720}
		return in
	}
	tests := []struct {
		name string
		in   policyInput
		want int
	}{
		{"nothing known", policyInput{current: -1, probe: -1}, 2},
		{"no estimate, no viewport", policyInput{available: all, bitrate: rates, current: -1}, 2},
		{"paused", policyInput{available: all, viewportSet: true, current: 2}, paused},
		{"tiny viewport", sized(policyInput{available: all, viewportSet: true, viewportW: 160, viewportH: 90, current: -1}), 0},
		{"medium viewport", sized(policyInput{available: all, viewportSet: true, viewportW: 480, viewportH: 270, current: -1}), 1},
		{"large viewport", sized(policyInput{available: all, viewportSet: true, viewportW: 1920, viewportH: 1080, current: -1}), 2},
		{"portrait viewport", sized(policyInput{available: all, viewportSet: true, viewportW: 180, viewportH: 320, current: -1}), 0},
		{"unknown sizes assume 1280x720 top", policyInput{available: all, viewportSet: true, viewportW: 600, viewportH: 340, current: -1}, 1},
		{"plenty of bandwidth", policyInput{available: all, bitrate: rates, estimate: 5_000_000, current: 0}, 2},
		{"bandwidth for h", policyInput{available: all, bitrate: rates, estimate: 800_000, current: -1}, 1},
		{"bandwidth for nothing", policyInput{available: all, bitrate: rates, estimate: 50_000, current: -1}, 0},
		{"viewport caps bandwidth", sized(policyInput{available: all, bitrate: rates, estimate: 5_000_000, viewportSet: true, viewportW: 160, viewportH: 90, current: 2}), 0},
		{"bandwidth caps viewport", sized(policyInput{available: all, bitrate: rates, estimate: 600_000, decreasing: true, viewportSet: true, viewportW: 1280, viewportH: 720, current: 2}), 1},
		{"lagging estimate without congestion keeps layer", policyInput{available: all, bitrate: rates, estimate: 1_000_000, current: 2}, 2},
		{"congestion drops layer", policyInput{available: all, bitrate: rates, estimate: 1_000_000, decreasing: true, current: 2}, 1},
		{"estimate far below current without congestion keeps layer", policyInput{available: all, bitrate: rates, estimate: 230_000, current: 1}, 1},
		{"congestion far below current drops to q", policyInput{available: all, bitrate: rates, estimate: 400_000, decreasing: true, current: 2}, 0},
		{"probe lifts to the probed layer", policyInput{available: all, bitrate: rates, estimate: 200_000, current: 0, probe: 1}, 1},
		{"probe ends on congestion", policyInput{available: all, bitrate: rates, estimate: 200_000, decreasing: true, current: 1, probe: 1}, 0},
		{"probe respects viewport", sized(policyInput{available: all, bitrate: rates, estimate: 200_000, current: 0, probe: 1, viewportSet: true, viewportW: 100, viewportH: 100}), 0},
		{"probe of a stopped layer ignored", policyInput{available: [MaxLayers]bool{true, false, true}, bitrate: rates, estimate: 200_000, current: 0, probe: 1}, 0},
		{"top layer stopped", policyInput{available: [MaxLayers]bool{true, true, false}, bitrate: rates, current: 2}, 1},
		{"only q published", policyInput{available: [MaxLayers]bool{true}, bitrate: rates, estimate: 10_000, current: -1}, 0},
		{"unknown bitrate fits", policyInput{available: all, estimate: 10_000, current: -1}, 2},
	}
	for _, tt := range tests {
		if got := selectLayer(tt.in); got != tt.want {
			t.Errorf("%s: selectLayer = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestLayerForRID(t *testing.T) {
	for rid, want := range map[string]int{"": 0, "q": 0, "h": 1, "f": 2} {
		if got, ok := layerForRID(rid); !ok || got != want {
			t.Errorf("layerForRID(%q) = %d %v", rid, got, ok)
		}
	}
	if _, ok := layerForRID("x"); ok {
		t.Error("unknown rid accepted")
	}
}

func TestKeyframeThrottle(t *testing.T) {
	var k keyframeThrottle
	iv := 500 * time.Millisecond
	steps := []struct {
		at   int64
		want bool
	}{{1, true}, {1 + 100*ms, false}, {1 + 499*ms, false}, {1 + 500*ms, true}, {1 + 600*ms, false}, {1 + 2000*ms, true}}
	for _, s := range steps {
		if got := k.allow(s.at, iv); got != s.want {
			t.Errorf("allow(%d ms) = %v, want %v", s.at/ms, got, s.want)
		}
	}

	// Concurrent requests at the same instant: exactly one goes through.
	var k2 keyframeThrottle
	var n atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if k2.allow(5*ms, iv) {
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if n.Load() != 1 {
		t.Errorf("%d concurrent requests allowed, want 1", n.Load())
	}
}

func TestAudioLevelSmoothing(t *testing.T) {
	var a audioLevel
	if a.level(1) != 0 {
		t.Fatal("level before any packet")
	}
	now := int64(1)
	for i := 0; i < 100; i++ { // 2 s of -20 dBov
		now += 20 * ms
		a.update(20, now)
	}
	if l := a.level(now); l < 0.09 || l > 0.11 {
		t.Fatalf("steady -20 dBov: level %.3f, want 0.1", l)
	}
	now += 20 * ms
	a.update(127, now) // one silent packet only dents it
	if l := a.level(now); l < 0.05 {
		t.Fatalf("single silent packet dropped level to %.3f", l)
	}
	if l := a.level(now + int64(3*time.Second)); l > 0.001 {
		t.Fatalf("level after 3 s without packets: %.4f", l)
	}
}
