package rtc

import (
	"net"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// A connection whose selected pair is ICE-TCP (through the engine's wrapped listener) carries media
// through pion, and the fast path does not send on it, then or later.
func TestFastOffOnICETCP(t *testing.T) {
	e, err := New(Config{UDPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", Loopback: true, OnlyLoopback: true,
		FastPath: true, Logger: testLogger()})
	check(t, err)
	t.Cleanup(e.Close)
	srv, err := e.Subscribe.NewPeerConnection(webrtc.Configuration{})
	check(t, err)
	f := e.Fast(srv)
	var m webrtc.MediaEngine
	check(t, m.RegisterDefaultCodecs())
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	cli, err := webrtc.NewAPI(webrtc.WithMediaEngine(&m), webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	check(t, err)
	t.Cleanup(func() { f.Close(); cli.Close(); srv.Close() })

	video, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "v", "s")
	check(t, err)
	_, err = srv.AddTrack(video)
	check(t, err)
	got := make(chan uint16, 100)
	cli.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			got <- p.SequenceNumber
		}
	})
	negotiate(t, srv, cli, false, nil)
	waitUntil(t, 10*time.Second, "connected", func() bool { return srv.ConnectionState() == webrtc.PeerConnectionStateConnected })
	pair, err := srv.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	check(t, err)
	if pair.Local.Protocol != webrtc.ICEProtocolTCP {
		t.Fatalf("selected pair %v", pair)
	}
	ssrc := ssrcOf(t, srv, webrtc.RTPCodecTypeVideo)
	for seq := uint16(1); seq <= 20; seq++ {
		h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, SSRC: ssrc}
		if _, ok := f.TryWriteRTP(&h, []byte("payload")); ok {
			t.Fatal("fast path sent on an ICE-TCP connection")
		}
		check(t, video.WriteRTP(&rtp.Packet{Header: h, Payload: []byte("payload")}))
		select {
		case s := <-got:
			if s != seq {
				t.Fatalf("client read %d, want %d", s, seq)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("packet %d not received over ICE-TCP", seq)
		}
	}
	f.mu.Lock()
	off := f.txOff
	f.mu.Unlock()
	if !off {
		t.Fatal("fast sending not off for good after ICE-TCP")
	}
}
