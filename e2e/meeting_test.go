package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// mediaTimeout bounds how long a browser may take to receive a stream it should get. Browsers
// decode 20-30 frames a second, so 30 frames take one or two seconds once media flows; the rest is
// slack for a loaded 2-core CI machine running three browsers.
const mediaTimeout = 45 * time.Second

// TestMeeting drives one meeting through the web UI, step by step, as people would use it: three
// browsers join (home page → New meeting in the first; the others open the /m/<id> link, type a
// name and click Join), then share a screen, chat and share a file, see a chat message that holds
// HTML, leave and let a late joiner in, and lose and regain their signalling connection. Each
// step is a subtest, so one failing step still lets the later ones report. The meeting is shared
// between steps to keep the run short on two cores (starting browsers is most of the cost).
func TestMeeting(t *testing.T) {
	chromiumPath(t) // skip (or fail in CI) before starting anything
	srv := startServer(t, nil)

	alice := newBrowser(t, "Alice")
	link := alice.startMeetingFromHome(srv.URL)
	t.Logf("meeting link: %s", link)
	alice.joinFromPrejoin()
	bob := newBrowser(t, "Bob")
	bob.joinViaLink(link)
	carol := newBrowser(t, "Carol")
	carol.joinViaLink(link)
	people := []*browser{alice, bob, carol}

	t.Run("ThreeWayMedia", func(t *testing.T) {
		for _, b := range people {
			b.t = t
			st := b.waitMediaFrom(mediaTimeout, 30, names(others(people, b)...)...)
			t.Logf("%s receives: %s", b.name, describeStats(st))
		}
		// Bob and Carol joined a room where others already published: the time from the click on
		// Join to the first decoded remote video frame (target < 1 s; docs/performance.md).
		for _, b := range []*browser{bob, carol} {
			ms := mustEval[float64](b, `window.__e2e.firstFrameAt === null || window.__e2e.joinClickAt === null ? -1 : window.__e2e.firstFrameAt - window.__e2e.joinClickAt`)
			if ms < 0 {
				t.Errorf("%s: join-to-first-frame was not measured", b.name)
				continue
			}
			t.Logf("join-to-first-frame %s: %.0f ms (%s)", b.name, ms, mustEval[string](b, `window.__e2e.timeline()`))
		}
		// How many subscribers started from a keyframe the SFU had cached rather than one asked for.
		t.Logf("subscribers started from a cached keyframe: %.0f; keyframe requests sent to publishers: %.0f",
			metric(t, srv, "switchboard_keyframes_replayed_total"), metric(t, srv, "switchboard_plis_total"))
		// Chromium's media took the SRTP fast path both ways (its DTLS keys were learned), and no
		// packet failed to decrypt there.
		in, out := metric(t, srv, "switchboard_fast_path_in_packets_total"), metric(t, srv, "switchboard_fast_path_out_packets_total")
		fallback := metric(t, srv, "switchboard_fast_path_fallback_packets_total")
		rtcpIn := metric(t, srv, "switchboard_fast_path_rtcp_in_packets_total")
		t.Logf("fast path: %.0f packets in, %.0f out, %.0f fell back to pion, %.0f RTCP packets from subscribers", in, out, fallback, rtcpIn)
		if in < 500 || out < 500 || fallback > 0 || rtcpIn == 0 {
			t.Errorf("the browsers' media did not take the fast path: %.0f packets in, %.0f out, %.0f fell back, %.0f RTCP in", in, out, fallback, rtcpIn)
		}
		// The UI shows a camera tile per participant, playing, and lists everyone.
		for _, b := range people {
			b.waitJS(15*time.Second, "three camera tiles, the remote ones playing video", `(() => {
				const tiles = [...document.querySelectorAll('[data-testid="video-tile"][data-source="camera"]')];
				return tiles.length === 3 && tiles.filter((t) => t.dataset.local === 'false')
					.every((t) => { const v = t.querySelector('video'); return v && v.videoWidth > 0 && !v.paused; });
			})()`)
		}
		alice.click("people-toggle")
		alice.waitJS(10*time.Second, "three people in the participant list",
			`document.querySelectorAll('[data-testid="participant-item"]').length === 3`)
		alice.click("people-toggle")
		if os.Getenv("E2E_SCREENSHOTS") != "" {
			alice.screenshot("/tmp/e2e-room.png")
		}
	})

	t.Run("ScreenShare", func(t *testing.T) {
		setT(t, people...)
		aliceID := alice.participantID()
		alice.click("share-screen")
		alice.waitJS(20*time.Second, "the screen share to be published",
			`window.__sb.room.sharingScreen && window.__sb.room.localTracks.screen && window.__sb.room.localTracks.screen.id`)
		for _, b := range []*browser{bob, carol} {
			var last string
			eventually(t, mediaTimeout, b.name+" to decode Alice's screen", func() (bool, string) {
				st, err := b.inboundStats()
				if err != nil {
					return false, err.Error()
				}
				s := st["Alice/screen"]
				last = describeStats(st)
				return s.Kind == "video" && s.Frames >= 20, last
			})
			t.Logf("%s receives: %s", b.name, last)
			b.waitJS(15*time.Second, "Alice's screen tile playing", fmt.Sprintf(`(() => {
				const t = document.querySelector('[data-testid="video-tile"][data-source="screen"][data-participant=%q]');
				const v = t && t.querySelector('video');
				return v && v.videoWidth > 0;
			})()`, aliceID))
		}
		if os.Getenv("E2E_SCREENSHOTS") != "" {
			bob.screenshot("/tmp/e2e-screenshare.png")
		}
		alice.click("share-screen") // stop presenting
		for _, b := range []*browser{bob, carol} {
			b.waitJS(15*time.Second, "Alice's screen tile to go away",
				`!document.querySelector('[data-testid="video-tile"][data-source="screen"]')`)
		}
	})

	t.Run("ChatAndFile", func(t *testing.T) {
		setT(t, people...)
		for _, b := range people {
			b.openChat()
		}
		alice.sendChat("hello from Alice")
		for _, b := range people {
			b.waitChat(15*time.Second, "hello from Alice")
		}

		dir := t.TempDir()
		file := filepath.Join(dir, "agenda.txt")
		content := "1. greetings\n2. numbers: " + time.Now().Format(time.RFC3339Nano) + "\n"
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		bob.do(15*time.Second, "choosing a file to share", setUploadFiles("chat-file", file))
		for _, b := range people {
			b.waitJS(20*time.Second, "the shared file in chat",
				`[...document.querySelectorAll('[data-testid="chat-file-link"]')].some((a) => a.textContent.includes('agenda.txt'))`)
		}
		got := mustEval[string](carol, `(async () => {
			const a = [...document.querySelectorAll('[data-testid="chat-file-link"]')].find((a) => a.textContent.includes('agenda.txt'));
			const res = await fetch(a.href);
			if (!res.ok) throw new Error('download answered ' + res.status);
			return await res.text();
		})()`)
		if got != content {
			t.Errorf("Carol downloaded %q, want %q", got, content)
		}
	})

	t.Run("ScriptShownAsText", func(t *testing.T) {
		setT(t, people...)
		evil := `<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2"><b>bold</b>`
		carol.sendChat(evil)
		for _, b := range people {
			b.waitChat(15*time.Second, evil)
			bad := mustEval[string](b, `(() => {
				if (window.__xss !== undefined) return 'a script ran: window.__xss = ' + window.__xss;
				const el = document.querySelector(['script', 'img', 'b'].map((t) => '[data-testid="chat-message"] ' + t).join(', '));
				return el ? 'the message became HTML: ' + el.outerHTML : '';
			})()`)
			if bad != "" {
				t.Errorf("%s: %s", b.name, bad)
			}
		}
	})

	t.Run("LateJoinerSeesHistory", func(t *testing.T) {
		setT(t, people...)
		carol.click("leave")
		carol.waitJS(15*time.Second, "the left screen", `document.querySelector('[data-testid="left-screen"]')`)
		alice.waitJS(15*time.Second, "Carol to leave",
			`document.querySelectorAll('[data-testid="video-tile"][data-source="camera"]').length === 2`)

		dave := newBrowser(t, "Dave")
		dave.joinViaLink(link)
		dave.openChat()
		dave.waitJS(15*time.Second, "the chat history",
			`document.querySelectorAll('[data-testid="chat-message"]').length >= 3`)
		type msg struct{ Text, File string }
		hist := mustEval[[]msg](dave, `[...document.querySelectorAll('[data-testid="chat-message"]')].map((m) => ({
			Text: m.textContent, File: (m.querySelector('[data-testid="chat-file-link"]') || {}).textContent || '' }))`)
		want := []string{"hello from Alice", "agenda.txt", "<script>window.__xss = 1</script>"}
		if len(hist) != len(want) {
			t.Errorf("Dave sees %d messages, want %d: %+v", len(hist), len(want), hist)
		}
		for i, w := range want {
			if i < len(hist) && !strings.Contains(hist[i].Text, w) {
				t.Errorf("Dave's message %d is %q, want it to contain %q (history %+v)", i, hist[i].Text, w, hist)
			}
		}
		if ok := mustEval[bool](dave, `window.__xss === undefined`); !ok {
			t.Errorf("Dave: a script in the chat history ran")
		}
		st := dave.waitMediaFrom(mediaTimeout, 30, "Alice", "Bob")
		t.Logf("Dave receives: %s", describeStats(st))
	})

	t.Run("ReconnectAfterSocketCut", func(t *testing.T) {
		setT(t, people...)
		bobID := bob.participantID()
		bob.waitJS(5*time.Second, "a connected room", `window.__sb.room.state === 'connected'`)
		mustEval[bool](bob, `(window.__e2e.watchBanner(), true)`)
		before := bob.framesFrom("Alice", "camera")
		aliceBefore := alice.framesFrom("Bob", "camera")
		// Cut Bob's signalling socket, as a network blip would.
		mustEval[bool](bob, `(window.__sb.room._ws.close(), true)`)
		bob.waitJS(10*time.Second, "the reconnecting banner", `window.__e2e.bannerShown > 0`)
		bob.waitJS(30*time.Second, "the banner to go away after reconnecting",
			`window.__e2e.bannerHidden > 0 && window.__sb.room.state === 'connected'`)
		if id := bob.participantID(); id != bobID {
			t.Errorf("Bob came back as %s, want the same participant %s (resume)", id, bobID)
		}
		ms := mustEval[float64](bob, `window.__e2e.bannerHidden - window.__e2e.bannerShown`)
		t.Logf("Bob was reconnecting for %.0f ms", ms)
		// Media keeps flowing both ways after the reconnection.
		eventually(t, mediaTimeout, "Bob to keep decoding Alice's video", func() (bool, string) {
			n := bob.framesFrom("Alice", "camera")
			return n >= before+30, fmt.Sprintf("%v frames (%v before the cut)", n, before)
		})
		eventually(t, mediaTimeout, "Alice to keep decoding Bob's video", func() (bool, string) {
			n := alice.framesFrom("Bob", "camera")
			return n >= aliceBefore+30, fmt.Sprintf("%v frames (%v before the cut)", n, aliceBefore)
		})
		// And signalling works again: a chat message goes through.
		bob.sendChat("back again")
		alice.waitChat(15*time.Second, "back again")
	})
}

// setT points the browsers' failures at a subtest.
func setT(t *testing.T, bs ...*browser) {
	for _, b := range bs {
		b.t = t
	}
}

func others(all []*browser, me *browser) []*browser {
	var out []*browser
	for _, b := range all {
		if b != me {
			out = append(out, b)
		}
	}
	return out
}

func names(bs ...*browser) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.name)
	}
	return out
}

func setUploadFiles(testid string, files ...string) chromedp.Action[chromedp.Void] {
	return chromedp.SetUploadFiles(tid(testid), files)
}

// openChat opens the chat side panel.
func (b *browser) openChat() {
	b.t.Helper()
	if ok, _ := eval[bool](b, `!!document.querySelector('[data-testid="chat-input"]')`); ok {
		return
	}
	b.click("chat-toggle")
	b.waitJS(10*time.Second, "the chat panel", `document.querySelector('[data-testid="chat-input"]')`)
}

// sendChat types a message in the chat panel and clicks Send.
func (b *browser) sendChat(text string) {
	b.t.Helper()
	b.openChat()
	b.typeInto("chat-input", text)
	b.waitJS(5*time.Second, "the send button to be enabled", `!document.querySelector('[data-testid="chat-send"]').disabled`)
	b.click("chat-send")
}

// waitChat waits until the chat panel shows a message whose text is exactly text.
func (b *browser) waitChat(timeout time.Duration, text string) {
	b.t.Helper()
	q, _ := json.Marshal(text)
	b.waitJS(timeout, fmt.Sprintf("the chat message %s", q), fmt.Sprintf(
		`[...document.querySelectorAll('[data-testid="chat-message"]')].some((m) => m.textContent.endsWith(%s))`, q))
}
