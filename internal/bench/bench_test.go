package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestTinyBroadcast runs the broadcast scenario with one publisher and two subscribers against both
// servers in-process, so the bench does not rot as the server changes.
func TestTinyBroadcast(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and WebRTC clients")
	}
	o := DefaultOptions()
	o.Scenarios = []string{"broadcast"}
	o.Targets = []string{"switchboard", "baseline"}
	o.Subscribers = 2
	o.Warmup = 500 * time.Millisecond
	o.Duration = 2 * time.Second
	o.Launch = InProcessLauncher(t.TempDir())
	var progress bytes.Buffer
	o.Progress = &progress
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + progress.String())
	if len(rep.Results) != 2 || len(rep.Summary) != 2 {
		t.Fatalf("want 2 results and 2 summaries, got %d and %d", len(rep.Results), len(rep.Summary))
	}
	// Per subscriber: video 30 fps x 8 packets + audio 50 packets a second.
	want := 2 * float64(30*8+50)
	for _, r := range rep.Results {
		if r.Error != "" {
			t.Fatalf("%s: %s", r.Target, r.Error)
		}
		if r.Streams != 4 || r.Publishers != 1 || r.Participants != 3 {
			t.Errorf("%s: streams %d publishers %d participants %d, want 4, 1, 3", r.Target, r.Streams, r.Publishers, r.Participants)
		}
		// The machine may be busy: ask only for a clear majority of the nominal rate.
		if r.ForwardedPPS < want/2 || r.ForwardedPPS > want*1.2 {
			t.Errorf("%s: forwarded %.0f packets/s, want about %.0f", r.Target, r.ForwardedPPS, want)
		}
		if d := r.ServerForwardedPPS - r.ForwardedPPS; d > 0.2*want || d < -0.2*want {
			t.Errorf("%s: server counted %.0f packets/s, subscribers %.0f", r.Target, r.ServerForwardedPPS, r.ForwardedPPS)
		}
		if r.Loss > 0.05 {
			t.Errorf("%s: loss %.2f%% on loopback", r.Target, 100*r.Loss)
		}
		if r.LatencyP50Ms <= 0 || r.LatencyP50Ms > r.LatencyP99Ms || r.LatencyP99Ms > 2000 {
			t.Errorf("%s: latency p50 %.2f ms p99 %.2f ms", r.Target, r.LatencyP50Ms, r.LatencyP99Ms)
		}
		if r.Joins != 2 || r.JoinP50Ms <= 0 || r.JoinP99Ms < r.JoinP50Ms {
			t.Errorf("%s: %d joins, p50 %.0f ms p99 %.0f ms", r.Target, r.Joins, r.JoinP50Ms, r.JoinP99Ms)
		}
		if r.ServerCPUSeconds <= 0 || r.PacketsPerCoreSec <= 0 {
			t.Errorf("%s: CPU %.3f s, %.0f packets per core-second", r.Target, r.ServerCPUSeconds, r.PacketsPerCoreSec)
		}
	}
	if rep.Summary[0].RatioToBaseline <= 0 {
		t.Errorf("no ratio to the baseline: %+v", rep.Summary[0])
	}
	var table bytes.Buffer
	rep.WriteTable(&table)
	if !strings.Contains(table.String(), "broadcast") || !strings.Contains(table.String(), "baseline") {
		t.Errorf("table:\n%s", table.String())
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Errorf("report does not marshal: %v", err)
	}
}

func TestHistogram(t *testing.T) {
	var h hist
	for v := uint64(1); v <= 100000; v++ {
		h.record(v)
	}
	counts := make([]uint64, histBuckets)
	h.addTo(counts)
	for _, q := range []float64{0.5, 0.99} {
		got, want := quantile(counts, q), q*100000
		if got < want*0.97 || got > want*1.03 {
			t.Errorf("q%.2f = %.0f, want about %.0f", q, got, want)
		}
	}
	if i := histIndex(1 << 62); i != histBuckets-1 {
		t.Errorf("huge values must land in the last bucket, got %d", i)
	}
}

func TestStamp(t *testing.T) {
	raw := make([]byte, 12+4+8+100)
	raw[0] = 0x90 // V=2, X=1
	raw[12], raw[13] = 0xbe, 0xde
	raw[15] = 2 // two words of extensions
	p := raw[24:]
	stamp(p, 123456789, 42)
	sent, ctr, ok := readStamp(raw)
	if !ok || sent != 123456789 || ctr != 42 {
		t.Fatalf("readStamp = %d %d %v", sent, ctr, ok)
	}
	if _, _, ok := readStamp(raw[:30]); ok {
		t.Error("a truncated packet must not yield a stamp")
	}
}

// TestTinySIP runs the SIP gateway benchmark with a few calls in-process, so
// that it keeps working as the gateway changes: every call is set up and
// bridged, and the audio arrives both through the gateway and directly.
func TestTinySIP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and SIP phones")
	}
	o := DefaultSIPOptions()
	o.Calls, o.SetupRate, o.Duration, o.LoadgenProcs = 4, 20, time.Second, 0
	o.Launch = func(ctx context.Context, dataDir, sipAddr string) (*Server, error) {
		t.Setenv(sipEnv, sipAddr)
		return InProcessLauncher(dataDir)(ctx, "switchboard", "", nil)
	}
	var progress bytes.Buffer
	o.Progress = &progress
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rs, err := RunSIP(ctx, o)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	r := rs[0]
	// 4 calls x 2 legs x 50 packets a second for 1 s.
	if r.Calls != 4 || r.Failed != 0 || r.PacketsSent < 300 || r.LossPercent > 5 || r.BaselineLossPercent > 5 || r.P50ms <= 0 {
		t.Errorf("result %+v", r)
	}
	var table bytes.Buffer
	WriteSIPTable(&table, o, rs)
	if !strings.Contains(table.String(), "setups/s") {
		t.Errorf("table:\n%s", table.String())
	}
}
