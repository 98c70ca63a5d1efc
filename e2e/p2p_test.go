package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPeerToPeerRoom: a room created with {"p2p": true} through the REST API. Two browsers join it
// with the SDK and publish the fake camera and microphone; each decodes the other's video and hears
// the other's audio on the SDK's one peer-to-peer RTCPeerConnection (room._p2p). The media goes
// directly between the browsers: the server forwarded no RTP packet and holds no track, and each
// browser's selected candidate pair is host or srflx, never relay. A third participant is refused
// with room_full, and the call goes on undisturbed.
func TestPeerToPeerRoom(t *testing.T) {
	chromiumPath(t) // skip (or fail in CI) before starting anything
	start := time.Now()
	srv := startServer(t, nil)
	roomID := srv.createP2PRoom(t)

	ann := newBrowser(t, "Ann")
	ann.joinWithSDK(srv.URL, roomID, `{}`)
	ben := newBrowser(t, "Ben")
	ben.joinWithSDK(srv.URL, roomID, `{}`)
	joined := time.Now()
	people := []*browser{ann, ben}

	for _, b := range people {
		// The SDK knows it is in a peer-to-peer room and uses only the p2p connection.
		got := mustEval[string](b, `(() => {
			const r = window.__sb.room;
			return [r.p2p, r.info.maxParticipants, Object.keys(r.peerConnections()).join('+'), !!r._pub, !!r._sub].join(' ');
		})()`)
		if got != "true 2 p2p false false" {
			t.Errorf("%s: room.p2p, info.maxParticipants, peerConnections(), _pub, _sub = %q, want %q", b.name, got, "true 2 p2p false false")
		}
	}

	// 1. Each decodes the other's camera and hears the other's microphone, on room._p2p.
	for _, b := range people {
		other := others(people, b)[0].name
		st := b.waitMediaFrom(mediaTimeout, 30, other)
		t.Logf("%s receives on p2p: %s", b.name, describeStats(st))
	}
	media := time.Now()

	// 2. Directly between the browsers: selected pairs are host/srflx on both ends, and the SFU saw
	// nothing.
	for _, b := range people {
		pairs, err := b.selectedPairs()
		if err != nil {
			t.Fatalf("%s: %v", b.name, err)
		}
		if len(pairs) != 1 || pairs[0].PC != "p2p" {
			t.Fatalf("%s has peer connections %+v, want exactly one named p2p", b.name, pairs)
		}
		p := pairs[0]
		t.Logf("%s %s: %s (%s %s %s) → %s %s", b.name, p.PC, p.State, p.Local, p.LocalProtocol, p.LocalAddress, p.Remote, p.RemoteAddress)
		direct := func(typ string) bool { return typ == "host" || typ == "srflx" }
		if !direct(p.Local) || !direct(p.Remote) || p.RelayProtocol != "" {
			t.Errorf("%s: selected pair %s → %s (relay protocol %q), want host or srflx on both ends", b.name, p.Local, p.Remote, p.RelayProtocol)
		}
		if p.State != "connected" {
			t.Errorf("%s: the p2p connection is %s, want connected", b.name, p.State)
		}
	}
	if n := metric(t, srv, "switchboard_forwarded_packets_total"); n != 0 {
		t.Errorf("switchboard_forwarded_packets_total = %v, want 0 (the SFU forwarded media in a peer-to-peer room)", n)
	}
	if n := metric(t, srv, "switchboard_forwarded_bytes_total"); n != 0 {
		t.Errorf("switchboard_forwarded_bytes_total = %v, want 0", n)
	}
	if n := metric(t, srv, "switchboard_tracks"); n != 0 {
		t.Errorf("switchboard_tracks = %v, want 0 (nothing is published to the server in a peer-to-peer room)", n)
	}
	if n := metric(t, srv, "switchboard_participants"); n != 2 {
		t.Errorf("switchboard_participants = %v, want 2", n)
	}

	// 3. A third participant is refused with room_full.
	cat := newBrowser(t, "Cat")
	cat.navigate(srv.URL + "/")
	res := mustEval[map[string]string](cat, fmt.Sprintf(`(async () => {
		const { connect } = await import('/sdk/switchboard.js');
		try {
			const room = await connect('', { room: %q, name: 'Cat' });
			window.__sb = { room };
			return { outcome: 'joined', id: room.localParticipant.id };
		} catch (err) {
			return { outcome: 'rejected', code: String(err && err.code), message: String(err && err.message), name: String(err && err.name) };
		}
	})()`, roomID))
	t.Logf("Cat's connect(): %v", res)
	if res["outcome"] != "rejected" || res["code"] != "room_full" {
		t.Errorf("Cat's connect() = %v, want a rejection with code room_full", res)
	}

	if n := labelledMetric(t, srv, `switchboard_signalling_errors_total{code="room_full"}`); n != 1 {
		t.Errorf(`switchboard_signalling_errors_total{code="room_full"} = %v, want 1`, n)
	}

	// The refusal did not disturb the call: each still sees only the other, and frames keep coming.
	for _, b := range people {
		other := others(people, b)[0].name
		if got := mustEval[string](b, `[...window.__sb.room.participants.values()].map((p) => p.name).join(',')`); got != other {
			t.Errorf("%s's participants = %q, want %q", b.name, got, other)
		}
		before := b.framesFrom(other, "camera")
		eventually(t, 15*time.Second, b.name+" to keep decoding "+other+"'s video after the refusal", func() (bool, string) {
			now := b.framesFrom(other, "camera")
			return now >= before+10, fmt.Sprintf("%.0f frames (was %.0f)", now, before)
		})
	}
	if n := metric(t, srv, "switchboard_participants"); n != 2 {
		t.Errorf("switchboard_participants = %v after the refusal, want 2", n)
	}
	if n := metric(t, srv, "switchboard_forwarded_packets_total"); n != 0 {
		t.Errorf("switchboard_forwarded_packets_total = %v at the end, want 0", n)
	}
	if debug() {
		for _, b := range people {
			t.Logf("%s's signalling: %s", b.name, mustEval[string](b, `window.__e2e.signal.join(', ')`))
		}
	}
	t.Logf("timings: both joined %v after start, media both ways %v after that, total %v",
		joined.Sub(start).Round(time.Millisecond), media.Sub(joined).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// labelledMetric reads one series, named with its labels exactly as /metrics prints them; a series
// not (yet) exported reads as 0.
func labelledMetric(t *testing.T, srv *server, series string) float64 {
	t.Helper()
	res, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", series, err)
			}
			return f
		}
	}
	return 0
}

// createP2PRoom makes a peer-to-peer meeting through the REST API and returns its id.
func (s *server) createP2PRoom(t *testing.T) string {
	t.Helper()
	res, err := http.Post(s.URL+"/api/v1/rooms", "application/json", strings.NewReader(`{"p2p": true}`))
	if err != nil {
		t.Fatalf("creating a p2p room: %v", err)
	}
	defer res.Body.Close()
	var body struct {
		ID              string `json:"id"`
		P2P             bool   `json:"p2p"`
		MaxParticipants int    `json:"maxParticipants"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != http.StatusCreated || body.ID == "" {
		t.Fatalf("creating a p2p room: status %d, id %q, err %v", res.StatusCode, body.ID, err)
	}
	if !body.P2P {
		t.Fatalf("creating a p2p room: the answer says p2p false: %+v", body)
	}
	t.Logf("p2p room %s (maxParticipants %d in the REST answer)", body.ID, body.MaxParticipants)
	return body.ID
}
