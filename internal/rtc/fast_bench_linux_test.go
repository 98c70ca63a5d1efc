package rtc

import (
	"bytes"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// pausedConn is a pion client's socket whose reads can be paused, so that the benchmark's CPU is the
// sending side's: the kernel drops what overflows the client's socket buffer.
type pausedConn struct {
	*net.UDPConn
	paused atomic.Bool
}

func (d *pausedConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for d.paused.Load() {
		time.Sleep(10 * time.Millisecond)
	}
	return d.UDPConn.ReadFrom(p)
}

// BenchmarkFastWrite compares sending one 1200-byte RTP packet on a connected PeerConnection with
// TryWriteRTP and with pion's TrackLocalStaticRTP.WriteRTP. Both go out through the batched media
// socket; cpu-ns/op is the process's CPU per packet (including the flusher's sendmmsg). The client
// reads nothing meanwhile (STUN included: keep runs short of ICE's 5 s disconnect timeout).
func BenchmarkFastWrite(b *testing.B) {
	sock := &pausedConn{UDPConn: listenUDP(b, "127.0.0.1:0")}
	var se webrtc.SettingEngine
	se.SetICEUDPMux(webrtc.NewICEUDPMux(nil, sock))
	c := newFastCall(b, true, se)
	waitUntil(b, 10*time.Second, "the fast path", func() bool { return c.f.to.Load() != nil })
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
		c.e.media.(*batchConn).drain()
		b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	}
	b.Run("fast", func(b *testing.B) {
		run(b, func(h *rtp.Header) {
			if _, ok := c.f.TryWriteRTP(h, payload); !ok {
				b.Fatal("TryWriteRTP not ok")
			}
		})
	})
	b.Run("pion", func(b *testing.B) {
		pkt := &rtp.Packet{Payload: payload}
		run(b, func(h *rtp.Header) {
			pkt.Header = *h
			if err := c.video.WriteRTP(pkt); err != nil {
				b.Fatal(err)
			}
		})
	})
}
