package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"switchboard/internal/config"
)

// sippPhone checks that sipp and its pcaps are installed and returns sipp's
// path and a directory whose ./pcap holds the captures.
func sippPhone(t *testing.T) (string, string) {
	t.Helper()
	sipp, err := exec.LookPath("sipp")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("sipp is not installed (apt-get install sip-tester)")
		}
		t.Skip("sipp is not installed (apt-get install sip-tester)")
	}
	const pcaps = "/usr/share/sip-tester"
	if _, err := os.Stat(filepath.Join(pcaps, "g711a.pcap")); err != nil {
		t.Skip("sipp's pcaps are not installed")
	}
	dir := t.TempDir()
	if err := os.Symlink(pcaps, filepath.Join(dir, "pcap")); err != nil {
		t.Fatal(err)
	}
	return sipp, dir
}

// A browser calls a desk phone: sipp registers as the front desk's phone
// (SIP account 200, linked to Ben) and then, from the same port, waits for
// calls (a UAS scenario answering with PCMA and streaming sipp's G.711
// capture). Ann, signed in, calls "200": the phone rings and answers, Ann's
// browser hears it (packets and audio energy, in PCMA) and the phone hears
// Ann (RTP counted by the server). Keypad tones pass both ways: the phone's
// "1" (sipp's RFC 2833 capture) and Ann's "1", "5" (the SDK's sendDTMF) are
// counted as key presses by the bridge. Ann hangs up; sipp gets the BYE and
// finishes its scenario.
func TestBrowserCallsPhone(t *testing.T) {
	sipp, dir := sippPhone(t)
	srv := startServer(t, func(c *config.Config) {
		c.SIP.Enabled = true
		c.SIP.Realm = "pbx.test"
	})
	createUser(t, srv, "ann", "Ann", "member")
	ben := createUser(t, srv, "ben", "Ben", "member")
	ctx, cancel := context.WithTimeout(context.Background(), scaled(90*time.Second))
	defer cancel()
	phone := startDeskPhone(t, ctx, srv, sipp, dir, "pbx.test", "200", "Front desk", "front desk phone", ben.ID)

	b := newBrowser(t, "Ann")
	b.signIn(srv.URL, "ann")
	b.waitJS(10*time.Second, "the calls module", `!!window.__sbCalls`)
	mustEval[bool](b, `(() => { window.__sbCalls.start({ phone: '200' }, false); return true; })()`)
	b.waitJS(20*time.Second, "the call screen, connected", `window.__sb && window.__sb.room && window.__sb.room.state === 'connected' && document.querySelector('[data-testid="call-layer"] [data-testid="call"]')`)

	// Ann hears the phone.
	hearsPhone(t, b, "Front desk")
	usesOnlyCodec(t, b, "audio/PCMA")
	// The phone hears Ann.
	phoneHears(t, srv, 50)

	// Keypad tones: the phone pressed 1 (sipp's RFC 2833 capture), which
	// the bridge detected (by timestamp) and passed on; Ann presses 1 and 5
	// with RTCDTMFSender, which go to the phone as telephone-events.
	eventually(t, scaled(10*time.Second), "the phone's key press", func() (bool, string) {
		n := metric(t, srv, "switchboard_sip_dtmf_keys_in_total")
		return n >= 1, "keys from the phone: " + strconv.FormatFloat(n, 'f', 0, 64)
	})
	b.waitJS(10*time.Second, "the phone's key in the SDK", `[...window.__sbChat.calls.values()].some((c) => c.phone === '200' && c.keys === '1')`)
	sent := mustEval[string](b, `(() => {
		const call = [...window.__sbChat.calls.values()].find((c) => c.phone === '200');
		if (!call) return 'no call';
		try { call.sendDTMF('15'); return 'ok'; } catch (e) { return e.message; } })()`)
	if sent != "ok" {
		t.Fatalf("Ann's browser: %s", sent)
	}
	eventually(t, scaled(10*time.Second), "Ann's key presses at the phone", func() (bool, string) {
		n := metric(t, srv, "switchboard_sip_dtmf_keys_out_total")
		return n >= 2, "keys to the phone: " + strconv.FormatFloat(n, 'f', 0, 64)
	})

	// Ann hangs up: the phone gets BYE and its scenario ends.
	b.click("leave")
	phone.waitBye(t, ctx)
	b.waitJS(15*time.Second, "the call screen closed", `!document.querySelector('[data-testid="call-layer"]')`)
	t.Logf("RTP from the phone %v, to the phone %v", metric(t, srv, "switchboard_sip_rtp_packets_in_total"),
		metric(t, srv, "switchboard_sip_rtp_packets_out_total"))
}
