// Package bench is the SFU load generator behind `switchboard bench sfu`: synthetic pion publishers
// and subscribers on loopback against a real server running as a child process, measuring what
// each forwarded packet costs the server in CPU, with loss and latency, against a plain pion
// forwarder measured the same way in the same run.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// Scenarios are the load shapes, in the order they run.
var Scenarios = []string{"broadcast", "rooms", "audio"}

// Targets are the servers measured: Switchboard, Switchboard with its batched media writes or its
// SRTP fast path turned off (to measure what each brings), and the plain pion forwarder.
var Targets = []string{"switchboard", "switchboard-nobatch", "switchboard-nofast", "baseline"}

// Options describe a bench run.
type Options struct {
	Scenarios []string // subset of Scenarios
	Targets   []string // subset of Targets

	Subscribers       int // broadcast: subscribers of the one publisher
	Rooms             int // rooms: number of rooms ...
	RoomSize          int // ... of this many participants, each publishing video and audio
	AudioParticipants int // audio: participants in one audio-only room

	Warmup   time.Duration // after everyone receives media, before measuring
	Duration time.Duration // measurement window
	Runs     int           // repetitions; the summary reports medians

	VideoFPS        int
	PacketsPerFrame int
	VideoPayload    int // bytes of RTP payload per video packet
	AudioPayload    int
	KeyframeSeconds int

	ProfileDir string   // if set, the servers write CPU profiles of the window here
	ServerEnv  []string // extra environment for the server children (KEY=VALUE)

	Launch   Launcher  `json:"-"`
	Progress io.Writer `json:"-"` // one line per second; nil for none
}

// DefaultOptions are the defaults of `switchboard bench sfu`.
func DefaultOptions() Options {
	return Options{
		Scenarios: Scenarios, Targets: []string{"switchboard", "baseline"},
		Subscribers: 100, Rooms: 3, RoomSize: 8, AudioParticipants: 30,
		Warmup: 3 * time.Second, Duration: 20 * time.Second, Runs: 1,
		VideoFPS: 30, PacketsPerFrame: 8, VideoPayload: 1100, AudioPayload: 100, KeyframeSeconds: 2,
	}
}

// Result is one scenario against one server in one run.
type Result struct {
	Scenario string `json:"scenario"`
	Target   string `json:"target"`
	Run      int    `json:"run"`

	Participants int     `json:"participants"`
	Publishers   int     `json:"publishers"`
	Streams      int     `json:"subscribed_tracks"` // remote tracks received, summed over participants
	Seconds      float64 `json:"window_seconds"`

	SentPPS            float64 `json:"sent_pps"`             // by the publishers
	ForwardedPPS       float64 `json:"forwarded_pps"`        // received by the subscribers
	ServerForwardedPPS float64 `json:"server_forwarded_pps"` // the server's own counter
	Loss               float64 `json:"loss"`                 // fraction, from counter gaps at the subscribers
	LatencyP50Ms       float64 `json:"latency_p50_ms"`       // one-way, publisher send to subscriber read
	LatencyP99Ms       float64 `json:"latency_p99_ms"`
	JoinP50Ms          float64 `json:"join_p50_ms"` // socket open to first RTP at a joining subscriber
	JoinP99Ms          float64 `json:"join_p99_ms"`
	Joins              int     `json:"joins"`

	ServerCPUSeconds  float64 `json:"server_cpu_seconds"`
	ServerCores       float64 `json:"server_cores"` // CPU seconds per second
	CPUPerPacketUs    float64 `json:"server_cpu_us_per_packet"`
	PacketsPerCoreSec float64 `json:"packets_per_core_second"` // forwarded packets per second of server CPU
	LoadGenCores      float64 `json:"loadgen_cores"`
	MachineBusy       float64 `json:"machine_busy"` // fraction of all CPUs busy during the window
	OtherBusy         float64 `json:"other_busy"`   // ... by processes other than the server and the bench
	Error             string  `json:"error,omitempty"`
}

// Report is the whole run.
type Report struct {
	Options Options   `json:"options"`
	Results []*Result `json:"results"`
	Summary []Summary `json:"summary"`
}

// Summary holds medians over runs of one scenario and target, and the ratio of Switchboard's packets
// per CPU-second to the baseline's (median of the per-run ratios).
type Summary struct {
	Scenario string `json:"scenario"`
	Target   string `json:"target"`
	Runs     int    `json:"runs"`
	Result
	RatioToBaseline float64 `json:"ratio_to_baseline,omitempty"`
}

// Validate checks the options before anything starts.
func (o *Options) Validate() error {
	var errs []error
	for _, s := range o.Scenarios {
		if !slices.Contains(Scenarios, s) {
			errs = append(errs, fmt.Errorf("unknown scenario %q (have %v)", s, Scenarios))
		}
	}
	for _, t := range o.Targets {
		if !slices.Contains(Targets, t) {
			errs = append(errs, fmt.Errorf("unknown target %q (have %v)", t, Targets))
		}
	}
	pos := map[string]int{"subscribers": o.Subscribers, "rooms": o.Rooms, "video-fps": o.VideoFPS,
		"packets-per-frame": o.PacketsPerFrame, "runs": o.Runs, "keyframe-seconds": o.KeyframeSeconds}
	for k, v := range pos {
		if v < 1 {
			errs = append(errs, fmt.Errorf("--%s must be at least 1", k))
		}
	}
	if o.RoomSize < 2 || o.AudioParticipants < 2 {
		errs = append(errs, errors.New("--room-size and --audio-participants must be at least 2"))
	}
	if o.VideoPayload < minPayload || o.AudioPayload < minPayload || o.VideoPayload > 1200 || o.AudioPayload > 1200 {
		errs = append(errs, fmt.Errorf("payload sizes must be between %d and 1200 bytes", minPayload))
	}
	if o.Duration < time.Second {
		errs = append(errs, errors.New("--duration must be at least 1s"))
	}
	if o.Launch == nil {
		errs = append(errs, errors.New("no launcher"))
	}
	return errors.Join(errs...)
}

// Run runs every scenario against every target, Runs times, interleaved so that the servers compared
// share the machine's conditions.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.ProfileDir != "" {
		if err := os.MkdirAll(o.ProfileDir, 0o755); err != nil {
			return nil, err
		}
	}
	if o.Progress != nil {
		// Progress lines come from each scenario's ticker and from the run itself.
		o.Progress = &lockedWriter{w: o.Progress}
	}
	rep := &Report{Options: o}
	for run := 1; run <= o.Runs; run++ {
		for _, sc := range o.Scenarios {
			for _, tg := range o.Targets {
				if err := ctx.Err(); err != nil {
					return rep, err
				}
				r, err := runOne(ctx, &o, sc, tg, run)
				if err != nil {
					r = &Result{Scenario: sc, Target: tg, Run: run, Error: err.Error()}
					o.progressf("%s/%s: %v\n", sc, tg, err)
				}
				rep.Results = append(rep.Results, r)
			}
		}
	}
	rep.Summary = summarize(rep.Results, o.Scenarios, o.Targets)
	return rep, nil
}

func (o *Options) progressf(format string, a ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format, a...)
	}
}

// plan builds the participants of a scenario in join order.
func plan(o *Options, scenario string) []*participant {
	var ps []*participant
	mk := func(room, name string, video, audio bool, expV, expA int, measure bool) {
		p := &participant{room: room, name: name, expectVideo: expV, expectAudio: expA, measureJoin: measure}
		if video {
			t, _ := newPubTrack(webrtc.RTPCodecTypeVideo, "cam-"+name, name)
			p.tracks = append(p.tracks, t)
		}
		if audio {
			t, _ := newPubTrack(webrtc.RTPCodecTypeAudio, "mic-"+name, name)
			p.tracks = append(p.tracks, t)
		}
		ps = append(ps, p)
	}
	switch scenario {
	case "broadcast":
		mk("broadcast", "pub", true, true, 0, 0, false)
		for i := range o.Subscribers {
			mk("broadcast", fmt.Sprintf("sub%d", i), false, false, 1, 1, true)
		}
	case "rooms":
		for r := range o.Rooms {
			for i := range o.RoomSize {
				mk(fmt.Sprintf("room%d", r), fmt.Sprintf("r%dp%d", r, i), true, true, o.RoomSize-1, o.RoomSize-1, i > 0)
			}
		}
	case "audio":
		for i := range o.AudioParticipants {
			mk("audio", fmt.Sprintf("a%d", i), false, true, 0, o.AudioParticipants-1, i > 0)
		}
	}
	return ps
}

type snapshot struct {
	at        time.Time
	serverCPU float64
	selfCPU   float64
	fwd       uint64
	fwdErr    error
	received  uint64
	highest   int64
	sent      uint64
	busy      uint64
	total     uint64
}

func runOne(ctx context.Context, o *Options, scenario, tgName string, run int) (res *Result, err error) {
	kind, env := tgName, o.ServerEnv
	switch tgName {
	case "switchboard-nobatch":
		kind, env = "switchboard", append(slices.Clone(env), batchOffEnv+"=false")
	case "switchboard-nofast":
		kind, env = "switchboard", append(slices.Clone(env), fastOffEnv+"=false")
	}
	profile := ""
	if o.ProfileDir != "" {
		profile = filepath.Join(o.ProfileDir, fmt.Sprintf("%s-%s-%d.pprof", scenario, tgName, run))
	}
	srv, err := o.Launch(ctx, kind, profile, env)
	if err != nil {
		return nil, err
	}
	defer func() {
		if serr := srv.Stop(); serr != nil && err == nil && kind != "baseline" {
			o.progressf("%s/%s: server exit: %v\n", scenario, tgName, serr)
		}
	}()
	api, err := newClientAPI()
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 2 * time.Minute}
	var tg target = &sbTarget{base: srv.URL, api: api, http: hc}
	if kind == "baseline" {
		tg = &baselineTarget{base: srv.URL, api: api, http: hc}
	}

	clk := clock{epoch: time.Now()}
	var window atomic.Bool
	var mu sync.Mutex // guards receivers' stats slices
	ps := plan(o, scenario)
	for _, p := range ps {
		p.recv = &receiver{clk: clk, window: &window}
	}
	defer func() {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for _, p := range ps {
			if p.close != nil {
				wg.Add(1)
				sem <- struct{}{}
				go func() { defer wg.Done(); p.close(); <-sem }()
			}
		}
		wg.Wait()
	}()
	pubCtx, stopPub := context.WithCancel(ctx)
	defer stopPub()

	onTrack := func(p *participant) func(*webrtc.TrackRemote) {
		return func(r *webrtc.TrackRemote) {
			st := &trackStats{}
			st.highest.Store(-1)
			mu.Lock()
			p.recv.stats = append(p.recv.stats, st)
			mu.Unlock()
			p.recv.tracks.Add(1)
			go p.recv.read(r, st)
		}
	}

	// Progress: one line a second from now to the end.
	label := scenario + "/" + tgName
	if o.Runs > 1 {
		label += fmt.Sprintf(" run %d", run)
	}
	start := time.Now()
	var base atomic.Pointer[snapshot]
	joined := atomic.Int32{}
	take := func() *snapshot {
		s := &snapshot{at: time.Now()}
		mu.Lock()
		for _, p := range ps {
			for _, st := range p.recv.stats {
				s.received += st.received.Load()
				if h := st.highest.Load(); h >= 0 {
					s.highest += h + 1
				}
			}
			for _, t := range p.tracks {
				s.sent += t.sent.Load()
			}
		}
		mu.Unlock()
		return s
	}
	progDone := make(chan struct{})
	defer close(progDone)
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		prev := take()
		for {
			select {
			case <-progDone:
				return
			case <-t.C:
			}
			cur := take()
			conn := 0
			for _, p := range ps[:joined.Load()] {
				if p.connected != nil && p.connected() {
					conn++
				}
			}
			lossStr := "-"
			if b := base.Load(); b != nil && cur.highest > b.highest {
				lossStr = fmt.Sprintf("%.2f%%", 100*lossOf(b, cur))
			}
			o.progressf("%-28s %5.0fs  connected %3d/%-3d  %8.0f pkt/s  loss %s\n", label,
				time.Since(start).Seconds(), conn, len(ps), float64(cur.received-prev.received)/cur.at.Sub(prev.at).Seconds(), lossStr)
			prev = cur
		}
	}()

	// Join everyone, one at a time: each join is timed alone, under the load already running.
	join := func(p *participant, publish bool) error {
		if p.measureJoin && (!publish || !tg.twoPhase()) {
			p.recv.joinAt.Store(clk.now())
		}
		var err error
		if publish {
			err = tg.publish(ctx, p, onTrack(p))
		} else {
			err = tg.subscribe(ctx, p, onTrack(p))
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		if publish {
			for _, t := range p.tracks {
				go t.run(pubCtx, clk, o)
			}
		}
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			ready := true
			if publish && len(p.tracks) > 0 && !p.pubConnected() {
				ready = false
			}
			if p.recv.joinAt.Load() != 0 && (publish != tg.twoPhase()) && p.recv.firstRTP.Load() == 0 {
				ready = false
			}
			if ready {
				return nil
			}
			time.Sleep(5 * time.Millisecond)
		}
		return fmt.Errorf("%s: not connected after 30s", p.name)
	}
	for i, p := range ps {
		if err := join(p, true); err != nil {
			return nil, err
		}
		joined.Store(int32(i + 1))
	}
	if tg.twoPhase() {
		for _, p := range ps {
			if err := join(p, false); err != nil {
				return nil, err
			}
		}
	}
	// Wait for every expected track to deliver.
	deadline := time.Now().Add(30 * time.Second)
	for {
		missing := 0
		mu.Lock()
		for _, p := range ps {
			got := 0
			for _, st := range p.recv.stats {
				if st.received.Load() > 0 {
					got++
				}
			}
			missing += max(0, p.expectAudio+p.expectVideo-got)
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d expected tracks deliver nothing after 30s", missing)
		}
		time.Sleep(50 * time.Millisecond)
	}
	flowing := take()
	base.Store(flowing)
	select {
	case <-time.After(o.Warmup):
	case <-ctx.Done():
		return nil, ctx.Err()
	}

	snap := func() *snapshot {
		s := take()
		s.serverCPU, _ = cpuSeconds(srv.PID)
		s.selfCPU, _ = cpuSeconds(os.Getpid())
		s.fwd, s.fwdErr = tg.forwarded(ctx)
		s.busy, s.total = machineBusy()
		return s
	}
	s0 := snap()
	base.Store(s0)
	window.Store(true)
	if srv.profile != nil {
		srv.profile(true)
	}
	select {
	case <-time.After(o.Duration):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	window.Store(false)
	s1 := snap()
	if srv.profile != nil {
		srv.profile(false)
	}

	res = &Result{Scenario: scenario, Target: tgName, Run: run, Participants: len(ps)}
	secs := s1.at.Sub(s0.at).Seconds()
	res.Seconds = secs
	lat := make([]uint64, histBuckets)
	var joins []float64
	for _, p := range ps {
		if len(p.tracks) > 0 {
			res.Publishers++
		}
		res.Streams += int(p.recv.tracks.Load())
		p.recv.lat.addTo(lat)
		if j0, j1 := p.recv.joinAt.Load(), p.recv.firstRTP.Load(); j0 != 0 && j1 != 0 {
			joins = append(joins, float64(j1-j0)/1e6)
		}
	}
	rx := float64(s1.received - s0.received)
	res.SentPPS = float64(s1.sent-s0.sent) / secs
	res.ForwardedPPS = rx / secs
	if s0.fwdErr == nil && s1.fwdErr == nil {
		res.ServerForwardedPPS = float64(s1.fwd-s0.fwd) / secs
	}
	res.Loss = lossOf(s0, s1)
	res.LatencyP50Ms = quantile(lat, 0.5) / 1000
	res.LatencyP99Ms = quantile(lat, 0.99) / 1000
	slices.Sort(joins)
	res.Joins = len(joins)
	res.JoinP50Ms, res.JoinP99Ms = pct(joins, 0.5), pct(joins, 0.99)
	res.ServerCPUSeconds = s1.serverCPU - s0.serverCPU
	res.ServerCores = res.ServerCPUSeconds / secs
	if rx > 0 && res.ServerCPUSeconds > 0 {
		res.CPUPerPacketUs = res.ServerCPUSeconds / rx * 1e6
		res.PacketsPerCoreSec = rx / res.ServerCPUSeconds
	}
	res.LoadGenCores = (s1.selfCPU - s0.selfCPU) / secs
	if s1.total > s0.total {
		res.MachineBusy = float64(s1.busy-s0.busy) / float64(s1.total-s0.total)
		ours := (res.ServerCPUSeconds + s1.selfCPU - s0.selfCPU) / secs / float64(runtime.NumCPU())
		res.OtherBusy = max(0, res.MachineBusy-ours)
	}
	o.progressf("%-28s done: %.0f pkt/s forwarded, loss %.2f%%, server %.2f cores, %.0f pkt/s per core\n",
		label, res.ForwardedPPS, 100*res.Loss, res.ServerCores, res.PacketsPerCoreSec)
	return res, nil
}

// lossOf is the fraction of packets missing between two snapshots: counters advanced by the
// highest-seen counter minus packets actually received.
func lossOf(a, b *snapshot) float64 {
	exp := float64(b.highest - a.highest)
	if exp <= 0 {
		return 0
	}
	return max(0, 1-float64(b.received-a.received)/exp)
}

// pct is the q-quantile of sorted values (nearest rank).
func pct(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
