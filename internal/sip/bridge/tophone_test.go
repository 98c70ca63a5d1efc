package bridge

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"

	"switchboard/internal/sip"
)

// readPhone reads the next RTP packet the phone gets.
func readPhone(t *testing.T, phone *net.UDPConn) rtp.Packet {
	t.Helper()
	buf := make([]byte, 1500)
	phone.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := phone.Read(buf)
	if err != nil {
		t.Fatalf("the phone got nothing: %v", err)
	}
	var p rtp.Packet
	if err := p.Unmarshal(buf[:n]); err != nil {
		t.Fatal(err)
	}
	p.Payload = append([]byte(nil), p.Payload...)
	return p
}

// While the browser sends nothing the phone gets 20 ms frames of µ-law
// silence continuing the stream; when audio resumes, its sequence numbers
// continue and its timestamps have advanced by the real time.
func TestSilenceWhileBrowserQuiet(t *testing.T) {
	phone, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer phone.Close()
	rs, err := sip.ListenRTP("127.0.0.1:0", netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	rs.SetRemote(phone.LocalAddr().(*net.UDPAddr).AddrPort(), 0)
	b, _ := New(rs, sip.PCMU, "a", "b")
	send := func(seq uint16, ts uint32) {
		b.toPhone(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 7, SequenceNumber: seq, Timestamp: ts}, Payload: frame(1)})
	}
	send(500, 8000)
	first := readPhone(t, phone)
	b.Start()
	defer rs.Close()
	start := time.Now()
	var silence []rtp.Packet
	for len(silence) < 10 {
		p := readPhone(t, phone)
		if !isSilence(p.Payload) || p.Payload[0] != 0xFF {
			t.Fatalf("not µ-law silence: %v", p.Payload[:4])
		}
		silence = append(silence, p)
	}
	// The first silence frame comes after the 60 ms pause, its timestamp
	// by the real time since the audio.
	if d := silence[0].Timestamp - first.Timestamp; d < 3*160 || d > 8*160 {
		t.Fatalf("first silence %d samples after the audio", d)
	}
	for i, p := range silence {
		if p.SSRC != first.SSRC || p.SequenceNumber != first.SequenceNumber+1+uint16(i) || p.PayloadType != 0 {
			t.Fatalf("silence %d: %v after %v", i, p.Header, first.Header)
		}
		if i == 0 {
			continue
		}
		if d := p.Timestamp - silence[i-1].Timestamp; d == 0 || d%160 != 0 || d > 160*10 {
			t.Fatalf("silence %d: timestamp step %d", i, d)
		}
	}
	// The browser speaks again after a pause, with a jump of its own.
	time.Sleep(100 * time.Millisecond)
	send(9000, 123456)
	var back rtp.Packet
	for {
		back = readPhone(t, phone)
		if !isSilence(back.Payload) {
			break
		}
		silence = append(silence, back)
	}
	last := silence[len(silence)-1]
	if back.SequenceNumber != last.SequenceNumber+1 || back.SSRC != first.SSRC {
		t.Fatalf("audio resumed at seq %d after silence %d", back.SequenceNumber, last.SequenceNumber)
	}
	if d := back.Timestamp - last.Timestamp; d < 160 || d > 10*160 {
		t.Fatalf("audio resumed %d samples after the last silence", d)
	}
	// Timestamps followed the clock over the whole pause (within 100 ms).
	elapsed := uint32(time.Since(start)/time.Millisecond) * 8
	if got := back.Timestamp - first.Timestamp; got+800 < elapsed || got > elapsed+800 {
		t.Fatalf("%d samples of stream for %d samples of time", got, elapsed)
	}
	if b.out.silenceFrames() < 10 {
		t.Fatalf("silence frames %d", b.out.silenceFrames())
	}
}

// A key pressed on the phone and signalled by SIP INFO is reported like an
// RFC 4733 key and goes into the room's stream as telephone-event packets
// numbered into the phone's audio, which continues after them.
func TestSignalledKeyIntoRoom(t *testing.T) {
	rs, err := sip.ListenRTP("127.0.0.1:0", netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	p := &Participant{rs: rs, codec: sip.PCMU, dtmf: -1, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		in: &packetReader{ch: make(chan []byte, 64), done: make(chan struct{})}, out: newToPhone(rs, sip.PCMU)}
	keys := make(chan sip.DTMFEvent, 1)
	p.OnKey(func(e sip.DTMFEvent) { keys <- e })
	next := func() rtp.Packet {
		t.Helper()
		var pk rtp.Packet
		select {
		case raw := <-p.in.ch:
			pk.Unmarshal(raw)
		default:
			t.Fatal("nothing went into the room")
		}
		return pk
	}
	p.intoRoom(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 10, Timestamp: 1600, SSRC: 3}, Payload: frame(1)})
	next()
	p.signalledKey(sip.DTMFEvent{Digit: '#', Duration: 800})
	if e := <-keys; e.Digit != '#' || p.KeysFromPhone() != 1 {
		t.Fatalf("key %+v, counted %d", e, p.KeysFromPhone())
	}
	var det sip.DTMFDetector
	var got []sip.DTMFEvent
	for i := range 4 {
		pk := next()
		if pk.PayloadType != roomDTMF || pk.SequenceNumber != 11+uint16(i) || pk.SSRC != 3 || pk.Timestamp < 1600 || pk.Timestamp > 1600+800 {
			t.Fatalf("event packet %d: %v", i, pk.Header)
		}
		if (i == 0) != pk.Marker {
			t.Fatalf("event packet %d: marker %v", i, pk.Marker)
		}
		got = append(got, det.Feed(pk.Timestamp, pk.Payload)...)
	}
	if len(got) != 1 || got[0].Digit != '#' || got[0].Duration != 800 {
		t.Fatalf("the room's stream carries %+v", got)
	}
	p.intoRoom(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 11, Timestamp: 1760, SSRC: 3}, Payload: frame(2)})
	if pk := next(); pk.SequenceNumber != 15 || pk.Timestamp != 1760 {
		t.Fatalf("audio after the key: %v", pk.Header)
	}
}

// A phone we hold hears nothing of the room: real packets are dropped and
// silence frames go instead; after the resume the room's audio comes again.
func TestHeldPhoneHearsSilence(t *testing.T) {
	w := &capturedRTP{}
	out := newToPhone(w, sip.PCMU)
	audio := func(seq uint16) *rtp.Packet {
		return &rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 9, SequenceNumber: seq, Timestamp: uint32(seq) * 160}, Payload: frame(3)}
	}
	out.write(audio(1), 0)
	out.hold(true)
	out.write(audio(2), 0)
	out.tick(time.Now().Add(time.Second)) // long after the last packet: silence
	out.hold(false)
	out.write(audio(3), 0)
	got := w.payloads()
	if len(got) != 3 || got[0][0] != 3 || got[1][0] != 0xFF || got[2][0] != 3 {
		t.Fatalf("the phone got %d packets, first bytes %v; want audio, silence, audio", len(got), firstBytes(got))
	}
}

// capturedRTP keeps what a toPhone sends.
type capturedRTP struct{ pkts []rtp.Packet }

func (c *capturedRTP) WriteRTP(p *rtp.Packet) error {
	q := *p
	q.Payload = append([]byte(nil), p.Payload...)
	c.pkts = append(c.pkts, q)
	return nil
}

func (c *capturedRTP) payloads() [][]byte {
	var out [][]byte
	for _, p := range c.pkts {
		out = append(out, p.Payload)
	}
	return out
}

func firstBytes(ps [][]byte) []byte {
	var out []byte
	for _, p := range ps {
		out = append(out, p[0])
	}
	return out
}
