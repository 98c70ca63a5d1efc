package rtc

import (
	"bytes"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"golang.org/x/net/ipv4"
)

// benchConn is a pion client's socket whose reads can be paused, so that the benchmark's CPU is the
// sending side's (the kernel drops what overflows the client's socket buffer), and whose outgoing
// RTP can be captured instead of sent, to be replayed later at full speed.
type benchConn struct {
	*net.UDPConn
	paused    atomic.Bool
	capturing atomic.Bool
	captured  [][]byte
	to        net.Addr
}

func (d *benchConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for d.paused.Load() {
		time.Sleep(10 * time.Millisecond)
	}
	return d.UDPConn.ReadFrom(p)
}

func (d *benchConn) WriteTo(p []byte, to net.Addr) (int, error) {
	if d.capturing.Load() && len(p) > 1 && p[0] >= 128 && p[0] <= 191 && !isRTCP(p) {
		d.captured = append(d.captured, bytes.Clone(p)) // only the capturing goroutine writes RTP
		d.to = to
		return len(p), nil
	}
	return d.UDPConn.WriteTo(p, to)
}

func newBenchCall(b *testing.B) (*fastCall, *benchConn) {
	sock := &benchConn{UDPConn: listenUDP(b, "127.0.0.1:0")}
	var se webrtc.SettingEngine
	se.SetICEUDPMux(webrtc.NewICEUDPMux(nil, sock))
	c := newFastCall(b, true, se)
	waitUntil(b, 10*time.Second, "the fast path", func() bool { return c.f.to.Load() != nil })
	return c, sock
}

// BenchmarkFastWrite compares sending one 1200-byte RTP packet on a connected PeerConnection with
// TryWriteRTP and with pion's TrackLocalStaticRTP.WriteRTP. Both go out through the batched media
// socket; cpu-ns/op is the process's CPU per packet (including the sendmmsg, which a lone write makes itself). The client
// reads nothing meanwhile (STUN included: keep runs short of ICE's 5 s disconnect timeout).
func BenchmarkFastWrite(b *testing.B) {
	c, sock := newBenchCall(b)
	sock.paused.Store(true)
	defer sock.paused.Store(false)
	ssrc := ssrcOf(b, c.srv, webrtc.RTPCodecTypeVideo)
	payload := bytes.Repeat([]byte{0x55}, 1200)
	seq := uint16(0)
	run := func(b *testing.B, write func(h *rtp.Header)) {
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		h := &rtp.Header{Version: 2, PayloadType: 96, SSRC: ssrc}
		cpu0 := processCPU()
		for b.Loop() {
			seq++
			h.SequenceNumber, h.Timestamp = seq, uint32(seq)*3000
			write(h)
		}
		c.e.Batch().Hold() // a held writer's last partial burst
		c.e.Batch().Release()
		c.e.media.(*batchConn).drain()
		b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	}
	pkt := &rtp.Packet{Payload: payload}
	viaPion := func(h *rtp.Header) {
		pkt.Header = *h
		if err := c.video.WriteRTP(pkt); err != nil {
			b.Fatal(err)
		}
	}
	fast := func(h *rtp.Header) {
		if _, ok := c.f.TryWriteRTP(h, payload); !ok { // one in pionEvery, as DownTrack does
			viaPion(h)
		}
	}
	// held: as the SFU fans a packet out, 16 writes between Hold and Release, sent with one sendmmsg
	// by the releasing writer instead of one per write.
	held := func(write func(*rtp.Header)) func(*rtp.Header) {
		n := 0
		return func(h *rtp.Header) {
			if n%16 == 0 {
				c.e.Batch().Hold()
			}
			write(h)
			if n++; n%16 == 0 {
				c.e.Batch().Release()
			}
		}
	}
	b.Run("fast", func(b *testing.B) { run(b, fast) })
	b.Run("pion", func(b *testing.B) { run(b, viaPion) })
	b.Run("fast-held", func(b *testing.B) { run(b, held(fast)) })
	b.Run("pion-held", func(b *testing.B) { run(b, held(viaPion)) })
}

// BenchmarkFastRead compares receiving one 1000-byte RTP packet through pion (TrackRemote.ReadRTP in
// a goroutine, as the SFU reads) and through Fast.Receive. The client's packets are captured from its
// pion stack first and replayed from its socket with sendmmsg, the same for both variants;
// cpu-ns/op is the process's CPU per received packet, the replaying included.
func BenchmarkFastRead(b *testing.B) {
	// Each run has its own connections: neither pion nor the fast path knows the rollover counter of
	// a stream that wrapped around while the other one decrypted it (see Fast.Receive).
	run := func(b *testing.B, fast bool) {
		c, sock := newBenchCall(b)
		received := func() int { c.mu.Lock(); defer c.mu.Unlock(); return len(c.srvAudio) }
		if fast {
			var n atomic.Int64
			c.f.Receive(ssrcOf(b, c.cli, webrtc.RTPCodecTypeAudio), func([]byte) { n.Add(1) })
			received = func() int { return int(n.Load()) }
		}
		seq := uint16(0)
		waitUntil(b, 5*time.Second, "the first packet", func() bool { // the client may still be connecting
			seq++
			check(b, c.audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq}, Payload: []byte{1}}))
			time.Sleep(5 * time.Millisecond)
			return received() > 0
		})
		sock.captured = sock.captured[:0]
		sock.capturing.Store(true)
		payload := bytes.Repeat([]byte{0x55}, 1000)
		for range b.N {
			seq++
			if err := c.audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 960}, Payload: payload}); err != nil {
				b.Fatal(err)
			}
		}
		sock.capturing.Store(false)
		start := received()
		b.ResetTimer()
		cpu0 := processCPU()
		pc, msgs := ipv4.NewPacketConn(sock.UDPConn), make([]ipv4.Message, 64)
		for i := 0; i < len(sock.captured); i += len(msgs) {
			n := min(len(msgs), len(sock.captured)-i)
			for j := range n {
				msgs[j] = ipv4.Message{Buffers: [][]byte{sock.captured[i+j]}, Addr: sock.to}
			}
			for off := 0; off < n; {
				k, err := pc.WriteBatch(msgs[off:n], 0)
				if err != nil {
					b.Fatal(err)
				}
				off += k
			}
			for received()-start < i-1024 { // stay within the socket buffer: measure CPU, not loss
				time.Sleep(100 * time.Microsecond)
			}
		}
		last, idle := received(), 0
		for last-start < b.N && idle < 100 {
			time.Sleep(time.Millisecond)
			if n := received(); n != last {
				last, idle = n, 0
			} else {
				idle++
			}
		}
		b.StopTimer()
		got := last - start
		if got == 0 {
			b.Fatal("nothing received")
		}
		b.ReportMetric(float64(processCPU()-cpu0)/float64(got), "cpu-ns/op")
		b.ReportMetric(100*float64(b.N-got)/float64(b.N), "loss%")
	}
	b.Run("pion", func(b *testing.B) { run(b, false) })
	b.Run("fast", func(b *testing.B) { run(b, true) })
}
