package bridge

import (
	"bytes"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"switchboard/internal/sip"
)

// api is a pion API that speaks only codec, on loopback.
func api(t *testing.T, codec sip.Codec) *webrtc.API {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := RegisterCodec(me, codec); err != nil {
		t.Fatal(err)
	}
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))
}

func TestCodec(t *testing.T) {
	if c, err := Codec(sip.PCMA); err != nil || c.MimeType != webrtc.MimeTypePCMA || c.PayloadType != 8 || c.ClockRate != 8000 {
		t.Fatalf("%+v, %v", c, err)
	}
	if c, err := Codec(sip.G722); err != nil || c.MimeType != webrtc.MimeTypeG722 || c.PayloadType != 9 || c.ClockRate != 8000 {
		t.Fatalf("G.722: %+v, %v", c, err) // browsers play it too; its RTP clock is 8000 (RFC 3551)
	}
	if _, err := Codec(sip.Codec{Name: "GSM", PayloadType: 3, ClockRate: 8000}); err == nil {
		t.Fatal("GSM accepted for pass-through")
	}
}

// A phone (a UDP socket speaking RTP) and a browser (a pion peer that
// offers, as browsers do) exchange G.711 through the bridge: each receives
// the other's payloads untouched, in one continuous stream, with the
// payload type it negotiated.
func TestBridgeBothWays(t *testing.T) {
	for _, codec := range []sip.Codec{sip.PCMU, {Name: "PCMA", PayloadType: 98, ClockRate: 8000}} {
		t.Run(codec.Name, func(t *testing.T) { bridgeBothWays(t, codec) })
	}
}

func bridgeBothWays(t *testing.T, codec sip.Codec) {
	phone, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	rs, err := sip.ListenRTP("127.0.0.1:0", netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	// The phone's payload type may be dynamic (98 here for PCMA): the
	// browser still sees the static one.
	rs.SetRemote(phone.LocalAddr().(*net.UDPAddr).AddrPort(), codec.PayloadType)
	b, err := New(rs, codec, "phone-audio", "sip-call")
	if err != nil {
		t.Fatal(err)
	}

	server, err := api(t, codec).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	browser, err := api(t, codec).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer browser.Close()
	if _, err := server.AddTrack(b.Track()); err != nil {
		t.Fatal(err)
	}
	received := make(chan error, 1)
	server.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { received <- b.Receive(remote) })

	wc, _ := Codec(codec)
	mic, err := webrtc.NewTrackLocalStaticRTP(wc.RTPCodecCapability, "mic", "browser")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := browser.AddTrack(mic); err != nil {
		t.Fatal(err)
	}
	var fromPhone, badPayload atomic.Int64
	browser.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		go func() {
			for {
				p, _, err := remote.ReadRTP()
				if err != nil {
					return
				}
				if p.PayloadType != uint8(wc.PayloadType) || !bytes.Equal(p.Payload, frame(byte(p.SequenceNumber))) {
					badPayload.Add(1)
				}
				fromPhone.Add(1)
			}
		}()
	})
	connect(t, browser, server)

	b.Start()
	// The phone talks: 20 ms frames (faster here), its own numbering.
	phoneDone := make(chan struct{})
	go func() {
		defer close(phoneDone)
		for i := range 100 {
			p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: codec.PayloadType, SequenceNumber: uint16(1000 + i),
				Timestamp: uint32(i * 160), SSRC: 0xabcdef}, Payload: frame(byte(1000 + i))}
			raw, _ := p.Marshal()
			phone.WriteToUDPAddrPort(raw, rs.LocalAddr())
			time.Sleep(5 * time.Millisecond)
		}
	}()
	// The browser talks.
	var toPhone []rtp.Packet
	var mu sync.Mutex
	phoneRead := make(chan struct{})
	stopReading := make(chan struct{})
	go func() {
		defer close(phoneRead)
		buf := make([]byte, 1500)
		for {
			select {
			case <-stopReading:
				return
			default:
			}
			phone.SetReadDeadline(time.Now().Add(3 * time.Second))
			n, err := phone.Read(buf)
			if err != nil {
				return
			}
			var p rtp.Packet
			// The bridge fills pauses with silence: not the browser's.
			if p.Unmarshal(buf[:n]) == nil && !isSilence(p.Payload) {
				p.Payload = append([]byte(nil), p.Payload...)
				mu.Lock()
				toPhone = append(toPhone, p)
				mu.Unlock()
			}
		}
	}()
	for i := range 100 {
		if err := mic.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(50000 + i), Timestamp: uint32(777 + i*160)},
			Payload: frame(byte(i))}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-received:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server never saw the browser's track")
	}
	<-phoneDone
	time.Sleep(300 * time.Millisecond)
	close(stopReading)
	<-phoneRead
	mu.Lock()
	defer mu.Unlock()
	t.Logf("phone -> browser %d (bridge %d), browser -> phone %d (bridge %d)", fromPhone.Load(), b.ToWebRTC.Load(), len(toPhone), b.ToPhone.Load())
	if fromPhone.Load() < 90 || badPayload.Load() != 0 {
		t.Fatalf("the browser got %d of 100 packets from the phone, %d altered", fromPhone.Load(), badPayload.Load())
	}
	if len(toPhone) < 90 {
		t.Fatalf("the phone got %d of 100 packets from the browser", len(toPhone))
	}
	for i, p := range toPhone {
		if p.PayloadType != codec.PayloadType || p.SSRC != toPhone[0].SSRC || !bytes.Equal(p.Payload, frame(byte(firstIndex(p)))) {
			t.Fatalf("packet %d to the phone: %v", i, p.Header)
		}
		if i == 0 {
			continue
		}
		// Frames in order; sequence numbers growing (silence may sit
		// between two frames when the browser paused under load).
		if d := p.SequenceNumber - toPhone[i-1].SequenceNumber; d == 0 || d > 100 || firstIndex(p) <= firstIndex(toPhone[i-1]) {
			t.Fatalf("the phone's stream at %d: seq %d after %d", i, p.SequenceNumber, toPhone[i-1].SequenceNumber)
		}
	}
}

// isSilence tells the bridge's silence frames (all one G.711 zero code).
func isSilence(b []byte) bool {
	return len(b) == frameSamples && (b[0] == 0xFF || b[0] == 0xD5) && bytes.Count(b, b[:1]) == len(b)
}

// firstIndex is which of the browser's frames a packet carries (frames are numbered by their first byte).
func firstIndex(p rtp.Packet) int { return int(p.Payload[0]) }

// frame is 160 bytes of G.711 tagged with n.
func frame(n byte) []byte {
	f := bytes.Repeat([]byte{0xd5}, 160)
	f[0] = n
	return f
}

// connect runs offer/answer (the browser offers) and waits for both ends.
func connect(t *testing.T, offerer, answerer *webrtc.PeerConnection) {
	t.Helper()
	up := make(chan struct{}, 2)
	for _, pc := range []*webrtc.PeerConnection{offerer, answerer} {
		pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
			if s == webrtc.PeerConnectionStateConnected {
				up <- struct{}{}
			}
		})
	}
	offer, err := offerer.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gather := webrtc.GatheringCompletePromise(offerer)
	offerer.SetLocalDescription(offer)
	<-gather
	if err := answerer.SetRemoteDescription(*offerer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := answerer.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gather = webrtc.GatheringCompletePromise(answerer)
	answerer.SetLocalDescription(answer)
	<-gather
	if err := offerer.SetRemoteDescription(*answerer.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case <-up:
		case <-time.After(10 * time.Second):
			t.Fatal("peer connections did not connect")
		}
	}
}

// A browser that starts a new stream (re-publishes, another tab answers)
// does not make the phone see a jump: numbering continues where it stopped.
func TestToPhoneContinuity(t *testing.T) {
	phone, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer phone.Close()
	rs, err := sip.ListenRTP("127.0.0.1:0", netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	rs.SetRemote(phone.LocalAddr().(*net.UDPAddr).AddrPort(), 0)
	b, _ := New(rs, sip.PCMU, "a", "b")
	send := func(ssrc uint32, seq uint16, ts uint32) {
		b.toPhone(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SSRC: ssrc, SequenceNumber: seq, Timestamp: ts}, Payload: frame(1)})
	}
	send(1, 100, 1000)
	send(1, 101, 1160)
	send(2, 60000, 5) // a new stream
	send(2, 60001, 165)
	var got []rtp.Header
	buf := make([]byte, 1500)
	for range 4 {
		phone.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := phone.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		var p rtp.Packet
		p.Unmarshal(buf[:n])
		got = append(got, p.Header)
	}
	for i, h := range got {
		if h.PayloadType != 0 || h.SSRC != got[0].SSRC || h.SequenceNumber != 100+uint16(i) || h.Timestamp != 1000+uint32(i)*160 {
			t.Fatalf("packet %d: seq %d ts %d pt %d ssrc %x", i, h.SequenceNumber, h.Timestamp, h.PayloadType, h.SSRC)
		}
	}
}
