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
	"switchboard/internal/sip"
)

// A desk phone calls a person in their browser: sipp, registered as Ann's
// desk phone (SIP account 100), dials "ben" and streams sipp's G.711
// capture. Ben's page rings with Ann's name, he accepts, and his browser
// hears the phone (packets and audio energy) while his fake microphone
// reaches the phone (RTP counted by the server), in PCMU both ways with no
// transcoding. The phone hangs up and Ben's call screen closes.
func TestPhoneCallsBrowser(t *testing.T) {
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
	srv := startServer(t, func(c *config.Config) {
		c.SIP.Enabled = true
		c.SIP.Realm = "pbx.test"
	})
	ann := createUser(t, srv, "ann", "Ann", "member")
	createUser(t, srv, "ben", "Ben", "member")
	acct, err := sip.NewAccount("100", "", ann.ID, "pbx.test", "ann desk phone", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.app.Store().CreateSIPAccount(context.Background(), acct); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, "Ben")
	b.signIn(srv.URL, "ben")

	// sipp offers PCMA only: the call and Ben's browser then use PCMA.
	dir := t.TempDir()
	if err := os.Symlink(pcaps, filepath.Join(dir, "pcap")); err != nil {
		t.Fatal(err)
	}
	scen, _ := filepath.Abs(filepath.Join("..", "internal", "sip", "testdata", "uac_auth_call_late.xml"))
	target := srv.app.SIPAddrs().UDP.String()
	ctx, cancel := context.WithTimeout(context.Background(), scaled(60*time.Second))
	defer cancel()
	cmd := exec.CommandContext(ctx, sipp, target, "-sf", scen, "-s", "ben", "-au", "100", "-ap", "ann desk phone",
		"-key", "caller", "100", "-auth_uri", "ben@"+target,
		"-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t, "127.0.0.1")), "-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "127.0.0.1")),
		"-m", "1", "-nostdin", "-timeout", "50s", "-timeout_error")
	cmd.Dir = dir
	sippOut := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = sippOut, sippOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sippDone := make(chan error, 1)
	go func() { sippDone <- cmd.Wait() }()

	b.waitJS(15*time.Second, "the incoming call screen", `(() => {
		const s = document.querySelector('[data-testid="incoming-call"]');
		return s && s.textContent.includes('Ann'); })()`)
	b.click("call-accept")
	b.waitJS(20*time.Second, "the call screen, connected", `window.__sb && window.__sb.room && window.__sb.room.state === 'connected' && document.querySelector('[data-testid="call-layer"] [data-testid="call"]')`)

	// Ben hears the phone.
	eventually(t, scaled(15*time.Second), "Ben to hear the phone", func() (bool, string) {
		st, err := b.inboundStats()
		if err != nil {
			return false, err.Error()
		}
		a := st["Ann/microphone"]
		if debug() {
			t.Logf("Ben's stats: %s", describeStats(st))
		}
		return a.Packets >= 40 && a.AudioEnergy > 0, describeStats(st) + "; " + b.diag()
	})
	codecs := mustEval[[]string](b, `(async () => {
		const out = [];
		for (const pc of window.__sb.room.pcs) {
			const st = await pc.getStats();
			st.forEach((s) => {
				if ((s.type === 'outbound-rtp' || s.type === 'inbound-rtp') && s.kind === 'audio' && s.codecId) {
					const c = st.get(s.codecId);
					if (c) out.push(s.type + ':' + c.mimeType);
				}
			});
		}
		return out; })()`)
	t.Logf("Ben's audio codecs: %v", codecs)
	for _, c := range codecs {
		if c != "outbound-rtp:audio/PCMA" && c != "inbound-rtp:audio/PCMA" {
			t.Errorf("Ben's browser uses %s in a call with a PCMA phone", c)
		}
	}
	// The phone hears Ben.
	eventually(t, scaled(10*time.Second), "the phone to hear Ben", func() (bool, string) {
		n := metric(t, srv, "switchboard_sip_rtp_packets_out_total")
		return n >= 50, "RTP packets to the phone: " + strconv.FormatFloat(n, 'f', 0, 64)
	})

	// The phone hangs up at the end of its scenario: Ben's call screen closes.
	select {
	case err := <-sippDone:
		if err != nil {
			t.Fatalf("sipp: %v\n%s", err, tail(sippOut.String(), 4<<10))
		}
	case <-ctx.Done():
		t.Fatalf("sipp did not finish\n%s", tail(sippOut.String(), 4<<10))
	}
	b.waitJS(15*time.Second, "the call screen closed", `!document.querySelector('[data-testid="call-layer"]')`)
	t.Logf("RTP from the phone %v, to the phone %v", metric(t, srv, "switchboard_sip_rtp_packets_in_total"),
		metric(t, srv, "switchboard_sip_rtp_packets_out_total"))
}
