package e2e

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
)

// TestRelayOnly: three browsers whose peer connections may only use relay candidates
// (iceTransportPolicy 'relay'), so every packet goes through the embedded TURN server. Each
// decodes video from and hears audio from the other two, and getStats shows that every selected
// candidate pair's local candidate is a relay candidate.
//
// The web app has no switch for the ICE transport policy, so the test drives the SDK the server
// serves at /sdk/switchboard.js from a page of the server, with connect()'s rtcConfig option.
func TestRelayOnly(t *testing.T) {
	chromiumPath(t) // skip (or fail in CI) before starting anything
	srv := startServer(t, nil)
	roomID := srv.createRoom(t)
	var people []*browser
	for _, n := range []string{"Ann", "Ben", "Cat"} {
		b := newBrowser(t, n)
		b.joinWithSDK(srv.URL, roomID, `{ iceTransportPolicy: 'relay' }`)
		people = append(people, b)
	}
	for _, b := range people {
		st := b.waitMediaFrom(mediaTimeout, 30, names(others(people, b)...)...)
		t.Logf("%s receives: %s", b.name, describeStats(st))
	}
	for _, b := range people {
		pairs, err := b.selectedPairs()
		if err != nil {
			t.Fatalf("%s: %v", b.name, err)
		}
		if len(pairs) != 2 {
			t.Errorf("%s has %d peer connections, want pub and sub: %+v", b.name, len(pairs), pairs)
		}
		for _, p := range pairs {
			t.Logf("%s %s: %s (%s %s, via %s) → %s %s", b.name, p.PC, p.State, p.Local, p.LocalAddress, p.RelayProtocol, p.Remote, p.RemoteAddress)
			if p.Local != "relay" {
				t.Errorf("%s: the %s connection's selected local candidate is %q (%s), want relay", b.name, p.PC, p.Local, p.LocalAddress)
			}
			if p.State != "connected" {
				t.Errorf("%s: the %s connection is %s, want connected", b.name, p.PC, p.State)
			}
		}
	}
	// The server agrees: it holds TURN allocations (two per browser: pub and sub).
	if n := metric(t, srv, "switchboard_turn_allocations"); n < 6 {
		t.Errorf("switchboard_turn_allocations = %v, want at least 6", n)
	}
}

// joinWithSDK opens a page of the server (the home page, so the origin is the server's), imports
// the SDK, joins the room with the given RTCConfiguration and publishes the fake camera and
// microphone. Remote tracks are attached to media elements as an app would.
func (b *browser) joinWithSDK(base, roomID, rtcConfig string) {
	b.t.Helper()
	b.navigate(base + "/")
	js := fmt.Sprintf(`(async () => {
		const { connect } = await import('/sdk/switchboard.js');
		const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 360 } });
		const room = await connect('', { room: %q, name: %q, rtcConfig: %s });
		window.__sb = { room };
		const box = document.createElement('div');
		document.body.prepend(box);
		room.on('track', ({ track, kind }) => {
			const el = document.createElement(kind === 'audio' ? 'audio' : 'video');
			if (kind === 'video') { el.muted = true; el.style.width = '320px'; el.style.height = '180px'; }
			box.appendChild(el);
			room.attach(track, el);
		});
		await room.publish(stream);
		return room.localParticipant.id;
	})()`, roomID, b.name, rtcConfig)
	if _, err := eval[string](b, js); err != nil {
		b.t.Fatalf("%s: joining with the SDK: %v (console: %s)", b.name, err, tail(b.console.String(), 2000))
	}
}

// metric reads a gauge or counter from the server's /metrics.
func metric(t *testing.T, srv *server, name string) float64 {
	t.Helper()
	res, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(?:\{[^}]*\})? (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("metric %s not found in /metrics (status %d)", name, res.StatusCode)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatalf("metric %s: %v", name, err)
	}
	return v
}
