package rtc

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

func newTestEngine(t testing.TB, fast bool) *Engine {
	e, err := New(Config{UDPAddr: "127.0.0.1:0", Loopback: true, OnlyLoopback: true, BatchWrites: true, FastPath: fast,
		Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func testLogger() *slog.Logger {
	if os.Getenv("RTC_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// plainAPI is an ordinary pion endpoint on loopback, as a browser would be.
func plainAPI(t testing.TB, se webrtc.SettingEngine) *webrtc.API {
	var m webrtc.MediaEngine
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return webrtc.NewAPI(webrtc.WithMediaEngine(&m), webrtc.WithSettingEngine(se))
}

func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func waitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// negotiate runs a non-trickle offer/answer; answering runs on the answerer after it has the offer.
func negotiate(t testing.TB, offerer, answerer *webrtc.PeerConnection, restart bool, answering func()) {
	t.Helper()
	offer, err := offerer.CreateOffer(&webrtc.OfferOptions{ICERestart: restart})
	check(t, err)
	gathered := webrtc.GatheringCompletePromise(offerer)
	check(t, offerer.SetLocalDescription(offer))
	<-gathered
	check(t, answerer.SetRemoteDescription(*offerer.LocalDescription()))
	if answering != nil {
		answering()
	}
	answer, err := answerer.CreateAnswer(nil)
	check(t, err)
	gathered = webrtc.GatheringCompletePromise(answerer)
	check(t, answerer.SetLocalDescription(answer))
	<-gathered
	check(t, offerer.SetRemoteDescription(*answerer.LocalDescription()))
}

// fastCall is an engine-side PeerConnection with a fast path, sending video to a plain pion client
// and receiving its audio.
type fastCall struct {
	t            testing.TB
	e            *Engine
	srv, cli     *webrtc.PeerConnection
	f            *Fast
	video        *webrtc.TrackLocalStaticRTP // the engine's
	audio        *webrtc.TrackLocalStaticRTP // the client's
	engineOffers bool
	connected    chan time.Time

	mu        sync.Mutex
	cliVideo  [][]byte // extension 5 and payload of what the client's pion read
	srvAudio  []uint16 // sequence numbers the engine's pion read
	fastAudio []uint16 // sequence numbers the fast path delivered
}

func newFastCall(t testing.TB, engineOffers bool, cliSE webrtc.SettingEngine) *fastCall {
	c := &fastCall{t: t, e: newTestEngine(t, true), engineOffers: engineOffers, connected: make(chan time.Time, 1)}
	var err error
	c.srv, err = c.e.Subscribe.NewPeerConnection(webrtc.Configuration{})
	check(t, err)
	c.f = c.e.Fast(c.srv)
	if c.f == nil {
		t.Fatal("no fast path")
	}
	c.cli, err = plainAPI(t, cliSE).NewPeerConnection(webrtc.Configuration{})
	check(t, err)
	t.Cleanup(func() { c.f.Close(); c.cli.Close(); c.srv.Close() })

	c.video, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "v", "s")
	check(t, err)
	c.audio, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "a", "c")
	check(t, err)
	c.srv.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			select {
			case c.connected <- time.Now():
			default:
			}
		}
	})
	c.cli.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			c.mu.Lock()
			c.cliVideo = append(c.cliVideo, append(p.GetExtension(5), p.Payload...))
			c.mu.Unlock()
		}
	})
	c.srv.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			c.mu.Lock()
			c.srvAudio = append(c.srvAudio, p.SequenceNumber)
			c.mu.Unlock()
		}
	})
	if engineOffers {
		_, err = c.srv.AddTrack(c.video)
		check(t, err)
		_, err = c.srv.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
		check(t, err)
		negotiate(t, c.srv, c.cli, false, func() { _, err := c.cli.AddTrack(c.audio); check(t, err) })
	} else {
		_, err = c.cli.AddTrack(c.audio)
		check(t, err)
		_, err = c.cli.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
		check(t, err)
		negotiate(t, c.cli, c.srv, false, func() { _, err := c.srv.AddTrack(c.video); check(t, err) })
	}
	return c
}

func ssrcOf(t testing.TB, pc *webrtc.PeerConnection, kind webrtc.RTPCodecType) uint32 {
	for _, s := range pc.GetSenders() {
		if s.Track() != nil && s.Track().Kind() == kind {
			return uint32(s.GetParameters().Encodings[0].SSRC)
		}
	}
	t.Fatalf("no %s sender", kind)
	return 0
}

func (c *fastCall) remote() netip.AddrPort {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	return c.f.remote
}

// sendVideo writes n packets with TryWriteRTP and checks the client's pion reads exactly them.
func (c *fastCall) sendVideo(from, n int) {
	t := c.t
	ssrc := ssrcOf(t, c.srv, webrtc.RTPCodecTypeVideo)
	c.mu.Lock()
	c.cliVideo = nil
	c.mu.Unlock()
	var want [][]byte
	pion := 0
	for i := from; i < from+n; i++ {
		payload := bytes.Repeat([]byte(fmt.Sprintf("packet %6d ", i)), 60)
		want = append(want, append([]byte{byte(i)}, payload...))
		h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(i), Timestamp: uint32(i) * 3000, SSRC: ssrc}
		check(t, h.SetExtension(5, []byte{byte(i)}))    // encrypted when cryptex is negotiated
		if _, ok := c.f.TryWriteRTP(&h, payload); !ok { // handed to pion, as DownTrack does
			pion++
			check(t, c.video.WriteRTP(&rtp.Packet{Header: h, Payload: payload}))
		}
		if i%10 == 0 {
			time.Sleep(time.Millisecond) // keep within the client's socket buffer
		}
	}
	if want := min(from, 1) ^ 1; pion != want { // the first packet of the SSRC goes by pion
		t.Fatalf("%d packets handed to pion, want %d", pion, want)
	}
	waitUntil(t, 5*time.Second, "the client's video", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.cliVideo) >= n
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range want {
		if !bytes.Equal(c.cliVideo[i], want[i]) {
			t.Fatalf("client read packet %d: %.20q, want %.20q", i, c.cliVideo[i], want[i])
		}
	}
}

// sendAudio makes the client send audio until stop is closed.
func (c *fastCall) sendAudio(stop chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for seq := uint16(0); ; seq++ {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 960},
				Payload: bytes.Repeat([]byte{byte(seq)}, 100)}
			_ = p.Header.SetExtension(5, []byte{byte(seq), 1})
			_ = c.audio.WriteRTP(p)
		}
	}()
	return &wg
}

func (c *fastCall) fastCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.fastAudio)
}

// checkAudio checks that every audio packet went to one side only, in order on each: pion until the
// fast path took over, then the fast path. With restarted, a packet may be lost, or reach pion from
// the new address before the fast path follows the new pair.
func (c *fastCall) checkAudio(restarted bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range [][]uint16{c.srvAudio, c.fastAudio} {
		for i := 1; i < len(s); i++ {
			if s[i] != s[i-1]+1 && (!restarted || int16(s[i]-s[i-1]) <= 0) {
				c.t.Fatalf("audio out of order or lost: %d after %d", s[i], s[i-1])
			}
		}
	}
	seen := map[uint16]bool{}
	for _, q := range c.fastAudio {
		seen[q] = true
	}
	for _, q := range c.srvAudio {
		if seen[q] {
			c.t.Fatalf("audio packet %d reached both pion and the fast path", q)
		}
		if !restarted && len(c.fastAudio) > 0 && q >= c.fastAudio[0] {
			c.t.Fatalf("pion read %d after the fast path took over at %d", q, c.fastAudio[0])
		}
	}
}

func TestFastPeerConnection(t *testing.T) {
	for _, engineOffers := range []bool{true, false} {
		t.Run(fmt.Sprintf("engineOffers=%v", engineOffers), func(t *testing.T) {
			c := newFastCall(t, engineOffers, webrtc.SettingEngine{})
			stop := make(chan struct{})
			wg := c.sendAudio(stop)
			defer func() { close(stop); wg.Wait() }()
			c.f.Receive(ssrcOf(t, c.cli, webrtc.RTPCodecTypeAudio), func(pkt []byte) {
				var h rtp.Header
				if _, err := h.Unmarshal(pkt); err != nil || !bytes.Equal(h.GetExtension(5), []byte{byte(h.SequenceNumber), 1}) ||
					!bytes.Equal(pkt[len(pkt)-100:], bytes.Repeat([]byte{byte(h.SequenceNumber)}, 100)) {
					t.Errorf("fast path delivered a bad packet: %v", err)
					return
				}
				c.mu.Lock()
				c.fastAudio = append(c.fastAudio, h.SequenceNumber)
				c.mu.Unlock()
			})

			var connectedAt time.Time
			select {
			case connectedAt = <-c.connected:
			case <-time.After(10 * time.Second):
				t.Fatal("not connected")
			}
			waitUntil(t, time.Second, "the fast path", func() bool { return c.f.to.Load() != nil })
			if d := time.Since(connectedAt); d > 100*time.Millisecond {
				t.Errorf("fast path active %v after connecting", d)
			}

			// (a) Writes: the client's pion reads exactly what TryWriteRTP sent.
			c.sendVideo(0, 300)
			// (b) Reads: the client's audio reaches the Receive function, no longer pion.
			waitUntil(t, 5*time.Second, "audio on the fast path", func() bool { return c.fastCount() >= 100 })
			c.checkAudio(false)

			// (c) An ICE restart moves the fast path to the new pair; keys stay.
			before := c.remote()
			if engineOffers {
				negotiate(t, c.srv, c.cli, true, nil)
			} else {
				negotiate(t, c.cli, c.srv, true, nil)
			}
			c.f.update() // likely while no pair is selected: that must not turn fast sending off
			waitUntil(t, 10*time.Second, "a new selected pair", func() bool { return c.remote() != before && c.remote().IsValid() })
			c.sendVideo(300, 300)
			n := c.fastCount()
			waitUntil(t, 5*time.Second, "audio after the restart", func() bool { return c.fastCount() >= n+100 })
			c.checkAudio(true)

			s := c.e.FastStats()
			if s.Out < 599 || s.In < 200 || s.Fallback != 0 {
				t.Fatalf("stats %+v", s)
			}

			// (e) Through the engine's batched socket, TryWriteRTP allocates nothing.
			h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 600, SSRC: ssrcOf(t, c.srv, webrtc.RTPCodecTypeVideo)}
			payload := make([]byte, 1000)
			if allocs := testing.AllocsPerRun(100, func() {
				h.SequenceNumber++
				if _, ok := c.f.TryWriteRTP(&h, payload); !ok {
					t.Fatal("TryWriteRTP not ok")
				}
			}); allocs != 0 {
				t.Fatalf("%v allocations per TryWriteRTP", allocs)
			}
		})
	}
}

func TestFastOff(t *testing.T) {
	e := newTestEngine(t, false)
	pc, err := e.Subscribe.NewPeerConnection(webrtc.Configuration{})
	check(t, err)
	defer pc.Close()
	if f := e.Fast(pc); f != nil {
		t.Fatal("fast path without Config.FastPath")
	}
	if e.FastStats() != (FastStats{}) {
		t.Fatal("stats without a fast path")
	}
}
