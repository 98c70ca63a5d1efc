package rtc

import (
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// rtcpLog captures what a Feedback writes, with the time of each write.
type rtcpLog struct {
	mu    sync.Mutex
	pkts  []rtcp.Packet
	times []time.Time
}

func (l *rtcpLog) write(pkts []rtcp.Packet) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range pkts {
		l.pkts = append(l.pkts, p)
		l.times = append(l.times, time.Now())
	}
	return nil
}

// since returns the packets written at or after t.
func (l *rtcpLog) since(t time.Time) []rtcp.Packet {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []rtcp.Packet
	for i, p := range l.pkts {
		if !l.times[i].Before(t) {
			out = append(out, p)
		}
	}
	return out
}

// waitFor polls until ok accepts one of the packets written since start, or fails the test.
func (l *rtcpLog) waitFor(t *testing.T, start time.Time, within time.Duration, what string, ok func(rtcp.Packet) bool) rtcp.Packet {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		for _, p := range l.since(start) {
			if ok(p) {
				return p
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %s within %v; got %d packets", what, within, len(l.since(start)))
	return nil
}

func newTestFeedback(t *testing.T, reportInterval time.Duration) (*Feedback, *rtcpLog) {
	t.Helper()
	log := &rtcpLog{}
	f, err := newFeedback(log.write, reportInterval)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f, log
}

// feedbackPacket marshals a VP8-ish packet; tccID != 0 adds the transport-wide sequence number tseq.
func feedbackPacket(t testing.TB, ssrc uint32, seq uint16, tccID uint8, tseq uint16) []byte {
	t.Helper()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq,
		Timestamp: uint32(seq) * 3000, SSRC: ssrc}, Payload: make([]byte, 100)}
	if tccID != 0 {
		ext, err := (&rtp.TransportCCExtension{TransportSequence: tseq}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Header.SetExtension(tccID, ext); err != nil {
			t.Fatal(err)
		}
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func seqRange(from, to uint16, skip ...uint16) []uint16 {
	var out []uint16
	for s := from; s <= to; s++ {
		if !slices.Contains(skip, s) {
			out = append(out, s)
		}
	}
	return out
}

func nackedFor(p rtcp.Packet, ssrc uint32) []uint16 {
	n, ok := p.(*rtcp.TransportLayerNack)
	if !ok || n.MediaSSRC != ssrc {
		return nil
	}
	var out []uint16
	for _, pair := range n.Nacks {
		out = append(out, pair.PacketList()...)
	}
	return out
}

func reportFor(p rtcp.Packet, ssrc uint32) (rtcp.ReceptionReport, bool) {
	if rr, ok := p.(*rtcp.ReceiverReport); ok {
		for _, r := range rr.Reports {
			if r.SSRC == ssrc {
				return r, true
			}
		}
	}
	return rtcp.ReceptionReport{}, false
}

func mentions(p rtcp.Packet, ssrc uint32) bool {
	return slices.Contains(p.DestinationSSRC(), ssrc)
}

const videoSSRC = 0x1234

func videoStream(ssrc uint32, tccID uint8) StreamParams {
	return StreamParams{SSRC: ssrc, ClockRate: 90000, MimeType: "video/VP8", PayloadType: 96, NACK: true, TransportCC: tccID}
}

func TestFeedbackNACK(t *testing.T) {
	f, log := newTestFeedback(t, time.Second)
	if err := f.AddStream(videoStream(videoSSRC, 0)); err != nil {
		t.Fatal(err)
	}
	lost := []uint16{40, 41, 42, 43, 44}
	start := time.Now()
	for _, s := range seqRange(1, 100, lost...) {
		f.Received(feedbackPacket(t, videoSSRC, s, 0, 0))
	}
	p := log.waitFor(t, start, 300*time.Millisecond, "NACK", func(p rtcp.Packet) bool { return nackedFor(p, videoSSRC) != nil })
	if got := nackedFor(p, videoSSRC); !slices.Equal(got, lost) {
		t.Fatalf("NACK names %v, want %v", got, lost)
	}

	for _, s := range lost {
		f.Received(feedbackPacket(t, videoSSRC, s, 0, 0))
	}
	// A tick that began before the repairs may still NACK them; one after must not.
	time.Sleep(150 * time.Millisecond)
	after := time.Now()
	time.Sleep(300 * time.Millisecond)
	for _, p := range log.since(after) {
		if got := nackedFor(p, videoSSRC); got != nil {
			t.Fatalf("NACK %v after the lost packets arrived", got)
		}
	}
}

// rtxPacket is an RFC 4588 retransmission of seq on ssrc rtxSSRC with its own sequence number rseq;
// with osn false it is a padding-only probe.
func rtxPacket(t *testing.T, rtxSSRC uint32, rseq, seq uint16, osn bool) []byte {
	t.Helper()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 97, SequenceNumber: rseq, Timestamp: uint32(seq) * 3000, SSRC: rtxSSRC}}
	if osn {
		p.Payload = append([]byte{byte(seq >> 8), byte(seq)}, make([]byte, 100)...)
	} else {
		p.Header.Padding, p.PaddingSize = true, 200
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFeedbackRTXRepairsStopNACKs(t *testing.T) {
	f, log := newTestFeedback(t, 50*time.Millisecond)
	const rtxSSRC = 0x5678
	if err := f.AddStream(videoStream(videoSSRC, 0)); err != nil {
		t.Fatal(err)
	}
	if err := f.AddStream(StreamParams{SSRC: rtxSSRC, ClockRate: 90000, MimeType: "video/rtx", PayloadType: 97, RepairOf: videoSSRC}); err != nil {
		t.Fatal(err)
	}
	lost := []uint16{40, 41, 42, 43, 44}
	for _, s := range seqRange(1, 100, lost...) {
		f.Received(feedbackPacket(t, videoSSRC, s, 0, 0))
	}
	// Probes carry no original: they repair nothing. Two bytes of padding must not be taken for one.
	f.Received(rtxPacket(t, rtxSSRC, 1, 0, false))
	probe := rtxPacket(t, rtxSSRC, 2, 0, false)
	probe[12], probe[13] = 0, 40
	f.Received(probe)
	start := time.Now()
	p := log.waitFor(t, start, 300*time.Millisecond, "NACK", func(p rtcp.Packet) bool { return nackedFor(p, videoSSRC) != nil })
	if got := nackedFor(p, videoSSRC); !slices.Equal(got, lost) {
		t.Fatalf("NACK names %v, want %v", got, lost)
	}

	for i, s := range lost {
		f.Received(rtxPacket(t, rtxSSRC, uint16(3+i), s, true))
	}
	time.Sleep(150 * time.Millisecond)
	after := time.Now()
	time.Sleep(300 * time.Millisecond)
	sawRTXReport := false
	for _, p := range log.since(after) {
		if got := nackedFor(p, videoSSRC); got != nil {
			t.Fatalf("NACK %v after the repairs arrived", got)
		}
		if nackedFor(p, rtxSSRC) != nil {
			t.Fatalf("NACK %v for the RTX stream", p)
		}
		if r, ok := reportFor(p, rtxSSRC); ok {
			sawRTXReport = r.LastSequenceNumber == 7
		}
	}
	if !sawRTXReport {
		t.Fatal("no receiver report for the RTX stream up to its highest packet")
	}
}

func TestFeedbackNoNACKWithoutNegotiation(t *testing.T) {
	f, log := newTestFeedback(t, time.Second)
	s := videoStream(videoSSRC, 0)
	s.NACK = false
	if err := f.AddStream(s); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, s := range seqRange(1, 100, 50) {
		f.Received(feedbackPacket(t, videoSSRC, s, 0, 0))
	}
	time.Sleep(300 * time.Millisecond)
	for _, p := range log.since(start) {
		if _, ok := p.(*rtcp.TransportLayerNack); ok {
			t.Fatalf("NACK %v for a stream that did not negotiate nack", p)
		}
	}
}

func TestFeedbackReceiverReports(t *testing.T) {
	f, log := newTestFeedback(t, 50*time.Millisecond)
	if err := f.AddStream(videoStream(videoSSRC, 0)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, s := range seqRange(1, 100, 40, 41, 42, 43, 44) {
		f.Received(feedbackPacket(t, videoSSRC, s, 0, 0))
	}
	p := log.waitFor(t, start, time.Second, "RR after the packets", func(p rtcp.Packet) bool {
		r, ok := reportFor(p, videoSSRC)
		return ok && r.LastSequenceNumber == 100
	})
	r, _ := reportFor(p, videoSSRC)
	if r.TotalLost != 5 || r.LastSenderReport != 0 {
		t.Fatalf("report %+v: want 5 lost, no LSR yet", r)
	}

	ntp := uint64(0x0123456789abcdef)
	sr, err := (&rtcp.SenderReport{SSRC: videoSSRC, NTPTime: ntp, RTPTime: 300000}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	f.RTCP(sr)
	start = time.Now()
	p = log.waitFor(t, start, time.Second, "RR with LSR", func(p rtcp.Packet) bool {
		r, ok := reportFor(p, videoSSRC)
		return ok && r.LastSenderReport != 0
	})
	r, _ = reportFor(p, videoSSRC)
	if r.LastSenderReport != uint32(ntp>>16) || r.TotalLost != 5 || r.LastSequenceNumber != 100 {
		t.Fatalf("report %+v: want LSR %#x, 5 lost, highest 100", r, uint32(ntp>>16))
	}
}

// twccReceived expands transport-cc feedback into the transport sequence numbers reported received.
func twccReceived(p rtcp.Packet, ssrc uint32) []uint16 {
	cc, ok := p.(*rtcp.TransportLayerCC)
	if !ok || cc.MediaSSRC != ssrc {
		return nil
	}
	var out []uint16
	seq := cc.BaseSequenceNumber
	left := cc.PacketStatusCount
	add := func(symbol uint16) {
		if left == 0 {
			return
		}
		if symbol != rtcp.TypeTCCPacketNotReceived {
			out = append(out, seq)
		}
		seq++
		left--
	}
	for _, c := range cc.PacketChunks {
		switch c := c.(type) {
		case *rtcp.RunLengthChunk:
			for range c.RunLength {
				add(c.PacketStatusSymbol)
			}
		case *rtcp.StatusVectorChunk:
			for _, s := range c.SymbolList {
				add(s)
			}
		}
	}
	return out
}

func TestFeedbackTransportCC(t *testing.T) {
	f, log := newTestFeedback(t, time.Second)
	const tccID = 5
	if err := f.AddStream(videoStream(videoSSRC, tccID)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	want := seqRange(1000, 1029, 1007, 1008)
	for i, ts := range want {
		f.Received(feedbackPacket(t, videoSSRC, uint16(i+1), tccID, ts))
	}
	deadline := time.Now().Add(time.Second)
	var got []uint16
	for time.Now().Before(deadline) && !slices.Equal(got, want) {
		time.Sleep(20 * time.Millisecond)
		got = nil
		for _, p := range log.since(start) {
			got = append(got, twccReceived(p, videoSSRC)...)
		}
		slices.Sort(got)
		got = slices.Compact(got)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("transport-cc feedback reports %v received, want %v", got, want)
	}
}

func TestFeedbackIgnoresUnknownAndMalformed(t *testing.T) {
	f, log := newTestFeedback(t, 50*time.Millisecond)
	if err := f.AddStream(videoStream(videoSSRC, 5)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, s := range seqRange(1, 100, 40, 41) {
		f.Received(feedbackPacket(t, 0x9999, s, 5, s))
	}
	for _, b := range [][]byte{nil, {0x80}, make([]byte, 11), make([]byte, 12), {0x90, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0xbe}} {
		f.Received(b)
		f.RTCP(b)
	}
	time.Sleep(300 * time.Millisecond)
	for _, p := range log.since(start) {
		if mentions(p, 0x9999) {
			t.Fatalf("feedback %v for an SSRC never added", p)
		}
		if _, ok := p.(*rtcp.ReceiverReport); !ok {
			t.Fatalf("unexpected %T: only the known stream's (empty) receiver reports may be sent", p)
		}
	}
}

func TestFeedbackRemoveStream(t *testing.T) {
	f, log := newTestFeedback(t, 50*time.Millisecond)
	if err := f.AddStream(videoStream(videoSSRC, 0)); err != nil {
		t.Fatal(err)
	}
	if err := f.AddStream(videoStream(videoSSRC, 0)); err == nil {
		t.Fatal("adding an SSRC twice succeeded")
	}
	start := time.Now()
	for _, s := range seqRange(1, 100, 50) {
		f.Received(feedbackPacket(t, videoSSRC, s, 0, 0))
	}
	log.waitFor(t, start, time.Second, "NACK", func(p rtcp.Packet) bool { return nackedFor(p, videoSSRC) != nil })
	log.waitFor(t, start, time.Second, "RR", func(p rtcp.Packet) bool { _, ok := reportFor(p, videoSSRC); return ok })

	f.RemoveStream(videoSSRC)
	f.RemoveStream(videoSSRC) // twice is harmless
	time.Sleep(150 * time.Millisecond)
	after := time.Now()
	for _, s := range seqRange(101, 200, 150) {
		f.Received(feedbackPacket(t, videoSSRC, s, 0, 0))
	}
	time.Sleep(300 * time.Millisecond)
	if got := log.since(after); len(got) != 0 {
		t.Fatalf("%d RTCP packets after RemoveStream, e.g. %v", len(got), got[0])
	}
	if err := f.AddStream(videoStream(videoSSRC, 0)); err != nil {
		t.Fatalf("re-adding a removed SSRC: %v", err)
	}
}

func TestFeedbackCloseStopsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	log := &rtcpLog{}
	f, err := NewFeedback(log.write)
	if err != nil {
		t.Fatal(err)
	}
	for _, ssrc := range []uint32{1, 2, 3} {
		if err := f.AddStream(videoStream(ssrc, 5)); err != nil {
			t.Fatal(err)
		}
		for s := uint16(1); s < 50; s += 2 {
			f.Received(feedbackPacket(t, ssrc, s, 5, s))
		}
	}
	if n := runtime.NumGoroutine(); n <= before {
		t.Fatalf("%d goroutines with a running Feedback, %d before: the test cannot see a leak", n, before)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	f.Received(feedbackPacket(t, 1, 100, 5, 100)) // after Close: ignored, must not block
	if err := f.AddStream(videoStream(4, 0)); err == nil {
		t.Fatal("AddStream after Close succeeded")
	}
	deadline := time.Now().Add(time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after Close, %d before", n, before)
	}
}

func TestFeedbackConcurrent(t *testing.T) {
	f, log := newTestFeedback(t, 20*time.Millisecond)
	if err := f.AddStream(videoStream(videoSSRC, 5)); err != nil {
		t.Fatal(err)
	}
	sr, _ := (&rtcp.SenderReport{SSRC: videoSSRC, NTPTime: 1 << 40}).Marshal()
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := uint16(1 + g); s <= 2000; s += 2 { // one goroutine the odd, one the even packets
				f.Received(feedbackPacket(t, videoSSRC, s, 5, s))
				if s%100 == 0 {
					f.RTCP(sr)
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // streams come and go meanwhile
		defer wg.Done()
		for i := range 50 {
			_ = f.AddStream(videoStream(7, 0))
			f.Received(feedbackPacket(t, 7, uint16(i), 0, 0))
			f.RemoveStream(7)
		}
	}()
	wg.Wait()
	start := time.Now()
	log.waitFor(t, start, time.Second, "RR naming the highest packet", func(p rtcp.Packet) bool {
		r, ok := reportFor(p, videoSSRC)
		return ok && r.LastSequenceNumber == 2000
	})
}

// Received's cost per packet, with all three interceptors active (NACK, RR, transport-cc).
func BenchmarkFeedbackReceived(b *testing.B) {
	for _, tc := range []struct {
		name  string
		tccID uint8
	}{{"nack+rr", 0}, {"nack+rr+twcc", 5}} {
		b.Run(tc.name, func(b *testing.B) {
			f, err := NewFeedback(func([]rtcp.Packet) error { return nil })
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			if err := f.AddStream(videoStream(videoSSRC, tc.tccID)); err != nil {
				b.Fatal(err)
			}
			pkt := feedbackPacket(b, videoSSRC, 1, tc.tccID, 1)
			const tccOff = 12 + 4 + 1 // fixed header, extension header, one-byte element header
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				pkt[2], pkt[3] = byte(i>>8), byte(i)
				if tc.tccID != 0 {
					pkt[tccOff], pkt[tccOff+1] = byte(i>>8), byte(i)
				}
				f.Received(pkt)
			}
			b.StopTimer()
			var h rtp.Header
			if _, err := h.Unmarshal(pkt); err != nil {
				b.Fatal(err)
			}
			if tc.tccID != 0 {
				var ext rtp.TransportCCExtension
				if err := ext.Unmarshal(h.GetExtension(tc.tccID)); err != nil || ext.TransportSequence != h.SequenceNumber {
					b.Fatalf("transport sequence %d, err %v; want %d", ext.TransportSequence, err, h.SequenceNumber)
				}
			}
		})
	}
}

func TestFeedbackReceivedDoesNotAllocate(t *testing.T) {
	if rtpHeaderKey == nil {
		t.Fatal("pion no longer caches the RTP header under a key Feedback can find: every packet allocates one")
	}
	f, _ := newTestFeedback(t, time.Second)
	if err := f.AddStream(videoStream(videoSSRC, 5)); err != nil {
		t.Fatal(err)
	}
	if err := f.AddStream(StreamParams{SSRC: 0x5678, ClockRate: 90000, MimeType: "video/rtx", PayloadType: 97, RepairOf: videoSSRC}); err != nil {
		t.Fatal(err)
	}
	pkt := feedbackPacket(t, videoSSRC, 1, 5, 1)
	rtx := rtxPacket(t, 0x5678, 1, 1, true)
	seq := uint16(1)
	if n := testing.AllocsPerRun(1000, func() {
		seq++
		pkt[2], pkt[3] = byte(seq>>8), byte(seq)
		pkt[17], pkt[18] = byte(seq>>8), byte(seq) // the transport-wide sequence number
		f.Received(pkt)
		if seq%8 == 0 { // and a repair over RTX now and then
			rtx[2], rtx[3] = byte(seq>>8), byte(seq)
			rtx[12], rtx[13] = byte(seq>>8), byte(seq)
			f.Received(rtx)
		}
	}); n != 0 {
		t.Fatalf("Received allocates %v times per packet", n)
	}
}

// Received and RTCP take packets from the network (authenticated by SRTP, but the publisher is not trusted).
func FuzzFeedback(f *testing.F) {
	f.Add(feedbackPacket(f, videoSSRC, 1, 5, 1))
	f.Add(feedbackPacket(f, videoSSRC, 65535, 0, 0))
	sr, _ := (&rtcp.SenderReport{SSRC: videoSSRC, NTPTime: 1 << 40}).Marshal()
	f.Add(sr)
	f.Add([]byte{0x90, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0xbe, 0xde, 0, 9})
	f.Add([]byte{0xa0, 97, 0, 1, 0, 0, 0, 0, 0, 0, 0x56, 0x78, 0, 40, 0, 3})
	fb, err := NewFeedback(func([]rtcp.Packet) error { return nil })
	if err != nil {
		f.Fatal(err)
	}
	defer fb.Close()
	if err := fb.AddStream(videoStream(videoSSRC, 5)); err != nil {
		f.Fatal(err)
	}
	if err := fb.AddStream(StreamParams{SSRC: 0x5678, ClockRate: 90000, MimeType: "video/rtx", PayloadType: 97, TransportCC: 5, RepairOf: videoSSRC}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fb.Received(b)
		fb.RTCP(b)
	})
}

// feedbackTestAPI builds a loopback pion API with VP8 (nack) and the transport-cc header extension.
// The server side has no interceptors at all, as publish connections will; the client stamps
// transport-wide sequence numbers, as browsers do.
func feedbackTestAPI(t *testing.T, client bool) *webrtc.API {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}, {Type: webrtc.TypeRTCPFBTransportCC}},
	}, PayloadType: 96}, webrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, webrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	reg := &interceptor.Registry{}
	if client {
		tw, err := twcc.NewHeaderExtensionInterceptor()
		if err != nil {
			t.Fatal(err)
		}
		reg.Add(tw)
	}
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	// The client resends on the original SSRC (no RTX here), which SRTP replay protection would drop.
	se.DisableSRTPReplayProtection(!client)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(reg))
}

// A pion client publishes VP8 to a pion connection without interceptors; the server reads the track,
// drops a few packets before Received, and the client's RTPSender sees NACKs for exactly those, and
// transport-cc feedback.
func TestFeedbackWithPion(t *testing.T) {
	client, err := feedbackTestAPI(t, true).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := feedbackTestAPI(t, false).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	fb, err := NewFeedback(func(pkts []rtcp.Packet) error { return server.WriteRTCP(pkts) })
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()

	dropped := map[uint16]bool{100: false, 101: false, 102: false} // true once dropped
	var mu sync.Mutex
	readDone := make(chan struct{})
	server.OnTrack(func(tr *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		defer close(readDone)
		var tccID uint8
		for _, e := range recv.GetParameters().HeaderExtensions {
			if e.URI == sdp.TransportCCURI {
				tccID = uint8(e.ID)
			}
		}
		if tccID == 0 {
			t.Error("transport-cc not negotiated")
		}
		if err := fb.AddStream(StreamParams{SSRC: uint32(tr.SSRC()), ClockRate: tr.Codec().ClockRate, MimeType: tr.Codec().MimeType,
			PayloadType: uint8(tr.PayloadType()), NACK: true, TransportCC: tccID}); err != nil {
			t.Error(err)
			return
		}
		buf := make([]byte, 1500)
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			seq := uint16(buf[2])<<8 | uint16(buf[3])
			mu.Lock()
			done, drop := dropped[seq]
			if drop && !done {
				dropped[seq] = true
				mu.Unlock()
				continue // lost on the way, as far as Feedback can tell
			}
			mu.Unlock()
			fb.Received(buf[:n])
		}
	})

	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "feedback")
	if err != nil {
		t.Fatal(err)
	}
	sender, err := client.AddTrack(track)
	if err != nil {
		t.Fatal(err)
	}
	connected := make(chan struct{})
	var once sync.Once
	client.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})

	offer, err := client.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(client)
	if err := client.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := server.SetRemoteDescription(*client.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := server.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered = webrtc.GatheringCompletePromise(server)
	if err := server.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := client.SetRemoteDescription(*server.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatal("client did not connect")
	}

	// The client resends what is NACKed, as a browser would (here on the same SSRC, not RTX).
	sent := map[uint16]*rtp.Packet{}
	var sentMu sync.Mutex
	nacked := map[uint16]int{}
	var tccSeen bool
	var rtcpMu sync.Mutex
	go func() {
		for {
			pkts, _, err := sender.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				switch p := p.(type) {
				case *rtcp.TransportLayerNack:
					for _, pair := range p.Nacks {
						for _, seq := range pair.PacketList() {
							rtcpMu.Lock()
							nacked[seq]++
							rtcpMu.Unlock()
							sentMu.Lock()
							pkt := sent[seq]
							sentMu.Unlock()
							if pkt != nil {
								_ = track.WriteRTP(pkt)
							}
						}
					}
				case *rtcp.TransportLayerCC:
					rtcpMu.Lock()
					tccSeen = true
					rtcpMu.Unlock()
				}
			}
		}
	}()

	for seq := uint16(1); seq <= 300; seq++ {
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(seq) * 3000},
			Payload: make([]byte, 200)}
		sentMu.Lock()
		sent[seq] = pkt
		sentMu.Unlock()
		if err := track.WriteRTP(pkt); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)

	mu.Lock()
	for seq, done := range dropped {
		if !done {
			t.Errorf("the server never saw packet %d to drop it", seq)
		}
	}
	mu.Unlock()
	rtcpMu.Lock()
	defer rtcpMu.Unlock()
	for _, seq := range []uint16{100, 101, 102} {
		if nacked[seq] == 0 {
			t.Errorf("packet %d was dropped but never NACKed (NACKs: %v)", seq, nacked)
		}
	}
	for seq, n := range nacked {
		if _, ok := dropped[seq]; !ok {
			t.Errorf("packet %d NACKed but never dropped", seq)
		}
		// Each is resent after its first NACK; a later NACK can only come from a tick already under way.
		if n > 3 {
			t.Errorf("packet %d NACKed %d times although resent", seq, n)
		}
	}
	if !tccSeen {
		t.Error("no transport-cc feedback reached the client")
	}
}
