package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"switchboard/internal/sip"
)

// deskPhone is a sipp desk phone registered with the server and waiting for
// one call, which it answers with PCMA (streaming sipp's G.711 capture and
// pressing 1 by RFC 2833), then waits for the BYE (uas_answer_pcma.xml, or
// another scenario of internal/sip/testdata).
type deskPhone struct {
	done <-chan error // sipp's exit once its scenario ended
	out  *syncBuffer
}

// startDeskPhone creates the SIP account ext (in realm, with password pw,
// linked to ownerID and shown as name), registers sipp with it, then starts
// sipp answering calls on the same port, in sippPhone's dir (the captures).
func startDeskPhone(t *testing.T, ctx context.Context, srv *server, sipp, dir, realm, ext, name, pw, ownerID string) *deskPhone {
	return startDeskPhoneWith(t, ctx, srv, sipp, dir, realm, ext, name, pw, ownerID, "uas_answer_pcma.xml")
}

// startDeskPhoneWith is startDeskPhone answering with scenario.
func startDeskPhoneWith(t *testing.T, ctx context.Context, srv *server, sipp, dir, realm, ext, name, pw, ownerID, scenario string) *deskPhone {
	t.Helper()
	acct, err := sip.NewAccount(ext, name, ownerID, realm, pw, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.app.Store().CreateSIPAccount(context.Background(), acct); err != nil {
		t.Fatal(err)
	}
	target := srv.app.SIPAddrs().UDP.String()
	port := strconv.Itoa(freePort(t, "127.0.0.1"))

	// The phone registers...
	reg, _ := filepath.Abs(filepath.Join("..", "internal", "sip", "testdata", "register.xml"))
	out, err := exec.CommandContext(ctx, sipp, target, "-sf", reg, "-s", ext, "-au", ext, "-ap", pw,
		"-key", "expires", "300", "-i", "127.0.0.1", "-p", port, "-m", "1", "-nostdin", "-timeout", "10s", "-timeout_error").CombinedOutput()
	if err != nil {
		t.Fatalf("sipp register: %v\n%s", err, tail(string(out), 4<<10))
	}
	if bs := srv.app.SIPBindings(ext); len(bs) != 1 {
		t.Fatalf("bindings of %s: %+v", ext, bs)
	}
	// ...and waits for calls on the same port.
	return startSipp(t, ctx, sipp, dir, scenario, "-p", port)
}

// startSipp runs sipp with a scenario of internal/sip/testdata for one
// call, in dir (whose ./pcap holds the captures), media on loopback, with
// more arguments (the target, -p, -s, ...); it returns once sipp has had
// time to bind its port.
func startSipp(t *testing.T, ctx context.Context, sipp, dir, scenario string, args ...string) *deskPhone {
	t.Helper()
	scen, _ := filepath.Abs(filepath.Join("..", "internal", "sip", "testdata", scenario))
	args = append(args, "-sf", scen, "-i", "127.0.0.1", "-mi", "127.0.0.1", "-mp", strconv.Itoa(freePort(t, "127.0.0.1")),
		"-m", "1", "-nostdin", "-timeout", "60s", "-timeout_error")
	cmd := exec.CommandContext(ctx, sipp, args...)
	cmd.Dir = dir
	sippOut := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = sippOut, sippOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	time.Sleep(300 * time.Millisecond) // sipp binds its port
	return &deskPhone{done: done, out: sippOut}
}

// hearsPhone waits until b receives audio (packets and energy) from the
// participant named who: a phone in its call.
func hearsPhone(t *testing.T, b *browser, who string) {
	t.Helper()
	eventually(t, scaled(15*time.Second), b.name+" to hear "+who, func() (bool, string) {
		st, err := b.inboundStats()
		if err != nil {
			return false, err.Error()
		}
		a := st[who+"/microphone"]
		return a.Packets >= 40 && a.AudioEnergy > 0, describeStats(st) + "; " + b.diag()
	})
}

// phoneHears waits until the server has sent phones at least n RTP packets.
func phoneHears(t *testing.T, srv *server, n float64) {
	t.Helper()
	eventually(t, scaled(10*time.Second), "the phone to hear the browser", func() (bool, string) {
		got := metric(t, srv, "switchboard_sip_rtp_packets_out_total")
		return got >= n, "RTP packets to phones: " + strconv.FormatFloat(got, 'f', 0, 64)
	})
}

// waitBye waits until the phone's scenario ended well (it got the BYE).
func (p *deskPhone) waitBye(t *testing.T, ctx context.Context) {
	t.Helper()
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("sipp: %v\n%s", err, tail(p.out.String(), 4<<10))
		}
	case <-ctx.Done():
		t.Fatalf("sipp did not finish\n%s", tail(p.out.String(), 4<<10))
	}
}

// usesOnlyCodec checks that b's call (its meetings room) sends and receives
// audio in codec alone: G.711 passed through, nothing transcoded.
func usesOnlyCodec(t *testing.T, b *browser, codec string) {
	t.Helper()
	codecs := mustEval[[]string](b, `(async () => {
		const out = [];
		for (const pc of window.__sb.room.pcs) {
			const st = await pc.getStats();
			st.forEach((s) => {
				if ((s.type === 'outbound-rtp' || s.type === 'inbound-rtp') && s.kind === 'audio' && s.codecId) {
					const c = st.get(s.codecId);
					if (c) out.push(c.mimeType);
				}
			});
		}
		return out; })()`)
	t.Logf("%s's audio codecs: %v", b.name, codecs)
	for _, c := range codecs {
		if c != codec {
			t.Errorf("%s's browser uses %s, want %s alone", b.name, c, codec)
		}
	}
}
