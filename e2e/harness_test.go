package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"switchboard/internal/app"
	"switchboard/internal/config"
)

const defaultChromium = "/usr/bin/chromium"

// chromiumPath returns the browser to drive. When it is missing the test is skipped, or fails when
// the environment variable CI is set (CI must never pass by skipping the browser tests).
func chromiumPath(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	path := os.Getenv("E2E_CHROMIUM")
	if path == "" {
		path = defaultChromium
	}
	if _, err := exec.LookPath(path); err != nil {
		msg := fmt.Sprintf("%s not found (%v): install it with `apt-get install chromium` or run ./scripts/test.sh as root", path, err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (CI is set, so browser tests may not be skipped)")
		}
		t.Skip(msg)
	}
	return path
}

func debug() bool { return os.Getenv("E2E_DEBUG") != "" }

// timeoutScale stretches every deadline (E2E_TIMEOUT_SCALE=3 on a machine busy with other work).
var timeoutScale = func() float64 {
	if f, err := strconv.ParseFloat(os.Getenv("E2E_TIMEOUT_SCALE"), 64); err == nil && f > 0 {
		return f
	}
	return 1
}()

func scaled(d time.Duration) time.Duration { return time.Duration(float64(d) * timeoutScale) }

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail returns at most the last n bytes of s, cut at a line start.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return "…\n" + s
}

// server is a Switchboard server running in this process.
type server struct {
	app *app.App
	URL string
}

// startServer starts a whole server on loopback with free ports. Its log is printed when the test
// fails (or always with E2E_DEBUG).
func startServer(t *testing.T, edit func(*config.Config)) *server {
	t.Helper()
	return startServerWith(t, edit, true)
}

// startServerWith is startServer, optionally not limited to loopback (app.Options.LoopbackOnly).
func startServerWith(t *testing.T, edit func(*config.Config), loopbackOnly bool) *server {
	t.Helper()
	cfg := config.Local(t.TempDir())
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &syncBuffer{}
	level := slog.LevelInfo
	if os.Getenv("E2E_SERVER_DEBUG") != "" {
		// pion's debug logs format its structs unlocked: with -race this can report a data race
		// inside pion (see the report of the e2e harness).
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level}))
	ctx := context.Background()
	a, err := app.New(ctx, cfg, app.Options{LoopbackOnly: loopbackOnly, Logger: logger})
	if err != nil {
		t.Fatalf("starting the server: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- a.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Logf("server shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("server: %v", err)
		}
		if t.Failed() || debug() {
			t.Logf("server log:\n%s", tail(logs.String(), 24<<10))
		}
	})
	return &server{app: a, URL: a.URL()}
}

// createRoom makes a meeting through the REST API and returns its id.
func (s *server) createRoom(t *testing.T) string {
	t.Helper()
	res, err := http.Post(s.URL+"/api/v1/rooms", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("creating a room: %v", err)
	}
	defer res.Body.Close()
	var body struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != http.StatusCreated || body.ID == "" {
		t.Fatalf("creating a room: status %d, id %q, err %v", res.StatusCode, body.ID, err)
	}
	return body.ID
}

// browser is one headless Chromium with one tab.
type browser struct {
	t       *testing.T
	name    string
	ctx     context.Context
	console *syncBuffer
}

// browserFlags are the Chromium switches that make WebRTC work headless on loopback with fake
// devices (the design notes, "Headless Chromium and WebRTC on loopback").
func browserFlags(path, profile string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 720),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		// Media.
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		// With the two fake flags, getDisplayMedia shares a fake 800×600 "monitor" without a picker.
	}
}

var browserCount atomic.Int32

// newBrowser starts a browser for the test. It is closed when the test ends; its console is printed
// when the test fails.
func newBrowser(t *testing.T, name string) *browser {
	t.Helper()
	return newBrowserWith(t, name)
}

// newBrowserWith is newBrowser with more allocator options.
func newBrowserWith(t *testing.T, name string, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	path := chromiumPath(t)
	opts := append(browserFlags(path, t.TempDir()), extra...)
	if os.Getenv("E2E_FAKE_CAMERA") != "builtin" {
		clip := writeCameraClip(t, t.TempDir(), int(browserCount.Add(1)-1))
		opts = append(opts, chromedp.Flag("use-file-for-fake-video-capture", clip))
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{t: t, name: name, ctx: ctx, console: &syncBuffer{}}
	t.Cleanup(func() {
		cancel()
		acancel()
		if t.Failed() || debug() {
			t.Logf("%s's console:\n%s", name, tail(b.console.String(), 16<<10))
		}
	})
	start := time.Now()
	sctx, scancel := context.WithTimeout(ctx, scaled(60*time.Second))
	defer scancel()
	// The first action starts the browser; it must run on the browser's own context, not the
	// timeout child, or the browser would die with the child.
	errc := make(chan error, 1)
	go func() {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument,
			page.AddScriptToEvaluateOnNewDocumentParams{Source: pageHelpers})
		errc <- err
	}()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("%s: starting Chromium: %v", name, err)
		}
	case <-sctx.Done():
		t.Fatalf("%s: Chromium did not start within %v", name, scaled(60*time.Second))
	}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			fmt.Fprintf(b.console, "%s %s\n", m.Time.Format("15:04:05.000"), m.String())
		}
	}()
	if debug() {
		t.Logf("%s: browser started in %v", name, time.Since(start).Round(time.Millisecond))
	}
	return b
}

// do runs actions with a deadline.
func (b *browser) do(timeout time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if debug() {
		defer b.logStep(what, time.Now())
	}
	ctx, cancel := context.WithTimeout(b.ctx, scaled(timeout))
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %s: %v", b.name, what, err)
	}
}

// eval evaluates JavaScript (awaiting a returned promise) and decodes its result into T.
func eval[T any](b *browser, js string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, scaled(20*time.Second))
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
}

// mustEval is eval that fails the test on error.
func mustEval[T any](b *browser, js string) T {
	b.t.Helper()
	v, err := eval[T](b, js)
	if err != nil {
		b.t.Fatalf("%s: evaluating %s: %v", b.name, shorten(js), err)
	}
	return v
}

func shorten(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		return s[:117] + "..."
	}
	return s
}

// eventually polls check until it reports done or the timeout passes; then it fails the test with
// the last state check described.
func eventually(t *testing.T, timeout time.Duration, what string, check func() (done bool, state string)) {
	t.Helper()
	deadline := time.Now().Add(scaled(timeout))
	for {
		done, state := check()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last state: %s", scaled(timeout), what, state)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// waitJS waits until a JavaScript expression is truthy.
func (b *browser) waitJS(timeout time.Duration, what, js string) {
	b.t.Helper()
	if debug() {
		defer b.logStep("waiting for "+what, time.Now())
	}
	eventually(b.t, timeout, b.name+": "+what, func() (bool, string) {
		ok, err := eval[bool](b, "!!("+js+")")
		if err != nil {
			return false, err.Error()
		}
		return ok, "false"
	})
}

func (b *browser) logStep(what string, start time.Time) {
	b.t.Logf("%s %s: %s took %v", time.Now().Format("15:04:05.000"), b.name, what, time.Since(start).Round(time.Millisecond))
}

func tid(id string) chromedp.CSS { return chromedp.CSS(`[data-testid="` + id + `"]`) }

func (b *browser) navigate(url string) {
	b.t.Helper()
	b.do(30*time.Second, "opening "+url, chromedp.Navigate(url))
}

func (b *browser) click(testid string) {
	b.t.Helper()
	b.do(15*time.Second, "clicking "+testid, chromedp.Click(tid(testid)))
}

func (b *browser) typeInto(testid, text string) {
	b.t.Helper()
	// A panel that re-renders (someone joins, a track is published) moves
	// its nodes, and DevTools then forgets the node it was about to type
	// into ("Could not find node with given id"): empty it and type again.
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(b.ctx, scaled(15*time.Second))
		err := chromedp.Do(ctx, chromedp.SendKeys(tid(testid), text))
		cancel()
		if err == nil {
			return
		}
		if attempt == 3 || !strings.Contains(err.Error(), "Could not find node") {
			b.t.Fatalf("%s: typing into %s: %v", b.name, testid, err)
		}
		mustEval[bool](b, `(() => { const e = document.querySelector('[data-testid="`+testid+`"]'); if (e) e.value = ''; return true; })()`)
	}
}

func (b *browser) screenshot(path string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, scaled(20*time.Second))
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Errorf("%s: screenshot: %v", b.name, err)
		return
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Errorf("writing %s: %v", path, err)
		return
	}
	b.t.Logf("screenshot of %s's view saved to %s", b.name, path)
}

// --------------------------------------------------------------------------------------------
// The meeting through the web UI.

// startMeetingFromHome opens the home page, clicks "New meeting" and returns the meeting link the
// app navigated to (the pre-join screen is then showing).
func (b *browser) startMeetingFromHome(base string) string {
	b.t.Helper()
	b.navigate(base + "/")
	b.click("new-meeting")
	b.waitJS(15*time.Second, "the pre-join screen after New meeting",
		`location.pathname.startsWith('/m/') && document.querySelector('[data-testid="join-name"]')`)
	return mustEval[string](b, `location.href`)
}

// joinFromPrejoin types a name on the pre-join screen (already open) and clicks Join once the camera
// preview is live. It returns when the call screen shows and the SDK room is connected.
func (b *browser) joinFromPrejoin() {
	b.t.Helper()
	b.typeInto("join-name", b.name)
	// A person sees the camera preview before clicking Join; so does the test.
	b.waitJS(15*time.Second, "the camera preview",
		`(() => { const v = document.querySelector('video.preview-video'); return v && v.srcObject && v.srcObject.getTracks().length >= 2; })()`)
	b.click("join-button")
	b.waitJS(20*time.Second, "the call screen",
		`window.__sb && window.__sb.room && window.__sb.room.state === 'connected' && document.querySelector('[data-testid="call"]')`)
}

// joinViaLink opens a meeting link and joins it through the pre-join screen.
func (b *browser) joinViaLink(link string) {
	b.t.Helper()
	b.navigate(link)
	b.waitJS(15*time.Second, "the pre-join screen", `document.querySelector('[data-testid="join-name"]')`)
	b.joinFromPrejoin()
}

// participantID is the local participant's server id.
func (b *browser) participantID() string {
	b.t.Helper()
	return mustEval[string](b, `window.__sb.room.localParticipant.id`)
}

// inbound is the receive side of one remote track, summed over its RTP streams.
type inbound struct {
	Participant string  `json:"participant"` // display name of the publisher
	PID         string  `json:"pid"`
	Source      string  `json:"source"`
	Kind        string  `json:"kind"`
	Frames      float64 `json:"framesDecoded"`
	Packets     float64 `json:"packetsReceived"`
	AudioEnergy float64 `json:"totalAudioEnergy"`
	Width       float64 `json:"frameWidth"`
}

func (i inbound) String() string {
	if i.Kind == "audio" {
		return fmt.Sprintf("%s/%s: %.0f packets, energy %.4f", i.Participant, i.Source, i.Packets, i.AudioEnergy)
	}
	return fmt.Sprintf("%s/%s: %.0f frames decoded (%.0f px wide), %.0f packets", i.Participant, i.Source, i.Frames, i.Width, i.Packets)
}

// inboundStats reads getStats of the browser's peer connections, keyed by "name/source".
func (b *browser) inboundStats() (map[string]inbound, error) {
	list, err := eval[[]inbound](b, `window.__e2e.inbound()`)
	if err != nil {
		return nil, err
	}
	return sumInbound(list), nil
}

// sumInbound adds up the streams of each "name/source" (simulcast layers, RTX).
func sumInbound(list []inbound) map[string]inbound {
	out := map[string]inbound{}
	for _, s := range list {
		key := s.Participant + "/" + s.Source
		prev := out[key]
		s.Frames += prev.Frames
		s.Packets += prev.Packets
		s.AudioEnergy += prev.AudioEnergy
		s.Width = max(s.Width, prev.Width)
		out[key] = s
	}
	return out
}

func describeStats(m map[string]inbound) string {
	if len(m) == 0 {
		return "no inbound RTP"
	}
	var parts []string
	for _, s := range m {
		parts = append(parts, s.String())
	}
	return strings.Join(parts, "; ")
}

// waitMediaFrom waits until this browser decodes at least minFrames video frames of each named
// participant's camera and hears each one's microphone (packets and non-zero audio energy: the
// fake microphone beeps).
func (b *browser) waitMediaFrom(timeout time.Duration, minFrames float64, names ...string) map[string]inbound {
	b.t.Helper()
	var last map[string]inbound
	eventually(b.t, timeout, fmt.Sprintf("%s to receive video (%v frames) and audio from %v", b.name, minFrames, names), func() (bool, string) {
		st, err := b.inboundStats()
		if err != nil {
			return false, err.Error()
		}
		last = st
		for _, n := range names {
			v, a := st[n+"/camera"], st[n+"/microphone"]
			if v.Frames < minFrames || a.Packets == 0 || a.AudioEnergy <= 0 {
				return false, describeStats(st) + "; " + b.diag()
			}
		}
		return true, ""
	})
	return last
}

// diag describes the SDK's connection state, for failure messages.
func (b *browser) diag() string {
	s, err := eval[string](b, `window.__e2e.diag()`)
	if err != nil {
		return "diag: " + err.Error()
	}
	return s
}

// framesFrom is the number of frames decoded from a participant's source so far.
func (b *browser) framesFrom(name, source string) float64 {
	b.t.Helper()
	st, err := b.inboundStats()
	if err != nil {
		b.t.Fatalf("%s: stats: %v", b.name, err)
	}
	return st[name+"/"+source].Frames
}

// candidatePair is the selected ICE candidate pair of one peer connection.
type candidatePair struct {
	PC            string `json:"pc"`
	State         string `json:"state"`
	Local         string `json:"local"`
	LocalProtocol string `json:"localProtocol"`
	RelayProtocol string `json:"relayProtocol"`
	LocalAddress  string `json:"localAddress"`
	Remote        string `json:"remote"`
	RemoteAddress string `json:"remoteAddress"`
}

func (b *browser) selectedPairs() ([]candidatePair, error) {
	return eval[[]candidatePair](b, `window.__e2e.selectedPairs()`)
}

// pageHelpers is evaluated in every document before its scripts: it gives tests getStats summaries
// and measures the time from the click on Join to the first decoded remote video frame.
const pageHelpers = `(() => {
  if (window.__e2e) return;
  const e2e = window.__e2e = { joinClickAt: null, firstFrameAt: null, bannerShown: 0, bannerHidden: 0 };
  const room = () => (window.__sb && window.__sb.room) || null;

  // A log of signalling message types (no SDP) and peer connection states, for failure messages
  // and the join timeline.
  const signal = e2e.signal = [];
  const firsts = e2e.firsts = {};
  const mark = (what) => {
    const t = performance.now();
    if (!(what in firsts)) firsts[what] = t;
    signal.push((t / 1000).toFixed(2) + ' ' + what);
    if (signal.length > 60) signal.shift();
  };
  const note = (dir, data) => {
    try {
      const m = JSON.parse(data);
      if (m.type === 'ping' || m.type === 'pong' || m.type === 'speakers' || m.type === 'quality' || m.type === 'view') return;
      mark(dir + m.type + (m.pc ? ':' + m.pc : '') + (m.code ? ' ' + m.code + ' ' + m.message : '') +
        (m.track && m.track.source ? ' ' + m.track.source : ''));
    } catch (err) { /* not JSON */ }
  };
  const NativeWebSocket = window.WebSocket;
  window.WebSocket = class extends NativeWebSocket {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (ev) => note('<', ev.data));
    }
    send(data) {
      note('>', data);
      return super.send(data);
    }
  };
  let pcCount = 0;
  const NativePC = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends NativePC {
    constructor(...args) {
      super(...args);
      const n = 'pc' + (++pcCount);
      this.addEventListener('connectionstatechange', () => mark(n + ' ' + this.connectionState));
    }
  };

  e2e.inbound = async () => {
    const r = room();
    if (!r) return [];
    const meta = new Map();
    for (const t of r.tracks) if (t.track) meta.set(t.track.id, t);
    const out = [];
    for (const pc of r.pcs) {
      const stats = await pc.getStats();
      stats.forEach((s) => {
        if (s.type !== 'inbound-rtp') return;
        const m = meta.get(s.trackIdentifier);
        out.push({
          participant: (m && m.participant && m.participant.name) || '', pid: (m && m.participant && m.participant.id) || '',
          source: (m && m.source) || '', kind: s.kind,
          framesDecoded: s.framesDecoded || 0, packetsReceived: s.packetsReceived || 0,
          totalAudioEnergy: s.totalAudioEnergy || 0, frameWidth: s.frameWidth || 0,
        });
      });
    }
    return out;
  };

  e2e.selectedPairs = async () => {
    const r = room();
    if (!r) return [];
    const out = [];
    for (const [name, pc] of Object.entries(r.peerConnections())) {
      if (!pc) continue;
      const stats = await pc.getStats();
      let pairId = '';
      stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId; });
      const pair = pairId ? stats.get(pairId) : null;
      const l = pair ? stats.get(pair.localCandidateId) : null;
      const rc = pair ? stats.get(pair.remoteCandidateId) : null;
      out.push({
        pc: name, state: pc.connectionState,
        local: (l && l.candidateType) || '', localProtocol: (l && l.protocol) || '', relayProtocol: (l && l.relayProtocol) || '',
        localAddress: l ? l.address + ':' + l.port : '',
        remote: (rc && rc.candidateType) || '', remoteAddress: rc ? rc.address + ':' + rc.port : '',
      });
    }
    return out;
  };

  // The join timeline: milliseconds from the click on Join to each first event.
  e2e.timeline = () => {
    if (e2e.joinClickAt === null) return '';
    const steps = [['>join', 'join sent'], ['<joined', 'joined'], ['<offer:sub', 'subscribe offer'], ['>answer:sub', 'answer sent'],
      ['pc2 connected', 'subscribe connected'], ['first remote video frame', 'first frame decoded']];
    return steps.map(([k, label]) => label + ' ' + (k in firsts ? Math.round(firsts[k] - e2e.joinClickAt) + ' ms' : '-')).join(', ');
  };

  e2e.diag = () => {
    const r = room();
    if (!r) return 'no window.__sb.room (not in a call)';
    const pcs = Object.entries(r.peerConnections()).map(([n, pc]) => n + ': ' + (pc ? pc.connectionState + '/' + pc.iceConnectionState + '/' + pc.signalingState : 'none'));
    const tracks = r.tracks.map((t) => (t.participant ? t.participant.name : '?') + '/' + t.source + (t.track ? '' : ' (no media yet)') + (t.muted ? ' (muted)' : ''));
    return 'room ' + r.state + ', pcs [' + pcs.join(', ') + '], tracks [' + tracks.join(', ') + '], signalling [' + signal.join(', ') + ']';
  };

  // Join-to-first-frame: the click on Join starts the clock; getStats is sampled every 20 ms until
  // a remote video frame is decoded.
  const watchFirstFrame = () => {
    const timer = setInterval(async () => {
      const r = room();
      if (!r || e2e.firstFrameAt !== null) return;
      for (const pc of r.pcs) {
        const stats = await pc.getStats();
        let decoded = false;
        stats.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video' && s.framesDecoded > 0) decoded = true; });
        if (decoded && e2e.firstFrameAt === null) {
          e2e.firstFrameAt = performance.now();
          mark('first remote video frame');
          clearInterval(timer);
        }
      }
    }, 20);
    setTimeout(() => clearInterval(timer), 30000);
  };
  document.addEventListener('click', (ev) => {
    const t = ev.target && ev.target.closest && ev.target.closest('[data-testid="join-button"]');
    if (t && e2e.joinClickAt === null) {
      e2e.joinClickAt = performance.now();
      mark('click on Join');
      watchFirstFrame();
    }
  }, true);

  // Records whether the reconnecting banner was shown and hidden again.
  e2e.watchBanner = () => {
    e2e.bannerShown = 0;
    e2e.bannerHidden = 0;
    const check = () => {
      const el = document.querySelector('[data-testid="reconnecting-banner"]');
      const visible = !!el && !el.hidden && el.getClientRects().length > 0;
      if (visible && !e2e.bannerShown) e2e.bannerShown = performance.now();
      if (!visible && e2e.bannerShown && !e2e.bannerHidden) e2e.bannerHidden = performance.now();
    };
    const mo = new MutationObserver(check);
    mo.observe(document.body, { subtree: true, attributes: true, childList: true });
    e2e.stopBanner = () => mo.disconnect();
    check();
  };
})();`
