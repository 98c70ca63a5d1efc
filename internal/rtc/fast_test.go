package rtc

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// fastPair is a fastConn on a loopback socket with one Fast routed to a peer socket, the Fast's keys
// set directly, and the peer's matching SRTP contexts.
type fastPair struct {
	c          *fastConn
	f          *Fast
	peer       *net.UDPConn
	srv        netip.AddrPort
	peerTx     *srtp.Context // encrypts as the remote does
	peerRx     *srtp.Context // decrypts what the Fast sends
	remoteAddr netip.AddrPort
}

func newFastPair(t testing.TB) *fastPair {
	srv, peer := listenUDP(t, "127.0.0.1:0"), listenUDP(t, "127.0.0.1:0")
	p := &fastPair{c: newFastConn(srv, slog.Default()), peer: peer,
		srv: srv.LocalAddr().(*net.UDPAddr).AddrPort(), remoteAddr: peer.LocalAddr().(*net.UDPAddr).AddrPort()}
	p.f = &Fast{c: p.c, log: slog.Default(), fns: map[uint32]func([]byte){}, pionTx: seqIndex{}, pionRx: seqIndex{}}
	k1, s1, k2, s2 := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 12), bytes.Repeat([]byte{3}, 16), bytes.Repeat([]byte{4}, 12)
	gcm := srtp.ProtectionProfileAeadAes128Gcm
	var err error
	ctx := func(k, s []byte, opts ...srtp.ContextOption) *srtp.Context {
		c, e := srtp.CreateContext(k, s, gcm, opts...)
		if e != nil {
			err = e
		}
		return c
	}
	p.f.tx = ctx(k1, s1)
	if p.f.rx, err = newRxContext(k2, s2, gcm); err != nil {
		t.Fatal(err)
	}
	p.peerRx, p.peerTx = ctx(k1, s1), ctx(k2, s2)
	if err != nil {
		t.Fatal(err)
	}
	p.f.keyed = true
	p.f.verified.Store(true)
	p.f.remote = p.remoteAddr
	p.f.to.Store(&p.remoteAddr)
	p.c.route(p.f, p.remoteAddr)
	return p
}

func rtpPacket(t testing.TB, ssrc uint32, seq uint16, payload []byte) []byte {
	b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq, Timestamp: uint32(seq) * 960, SSRC: ssrc},
		Payload: payload}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (p *fastPair) seal(t testing.TB, ssrc uint32, seq uint16, payload []byte) []byte {
	b, err := p.peerTx.EncryptRTP(nil, rtpPacket(t, ssrc, seq, payload), nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (p *fastPair) send(t testing.TB, b []byte) {
	if _, err := p.peer.WriteToUDPAddrPort(b, p.srv); err != nil {
		t.Fatal(err)
	}
}

// write sends one packet as a DownTrack does: by the fast path, or else encrypted by pion's context
// and written through the socket (as pion's ICE conn does). It says whether the fast path sent it.
func (p *fastPair) write(t testing.TB, pion *srtp.Context, h *rtp.Header, payload []byte) bool {
	if _, ok := p.f.TryWriteRTP(h, payload); ok {
		return true
	}
	b, err := h.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := pion.EncryptRTP(nil, append(b, payload...), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.c.WriteToAddrPort(enc, p.remoteAddr); err != nil {
		t.Fatal(err)
	}
	return false
}

// pionSender returns an SRTP context keyed like pion's for sending on the connection.
func (p *fastPair) pionSender(t testing.TB) *srtp.Context {
	ctx, err := srtp.CreateContext(bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 12), srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}

// read returns the next datagram the fast path passes on to pion.
func (p *fastPair) read(t testing.TB, buf []byte) []byte {
	p.c.PacketConn.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, from, err := p.c.ReadFromAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	if from != p.remoteAddr {
		t.Fatalf("read from %v", from)
	}
	return buf[:n]
}

func TestFastReadDemux(t *testing.T) {
	p := newFastPair(t)
	var got [][]byte
	p.f.Receive(1111, func(pkt []byte) { got = append(got, bytes.Clone(pkt)) })
	buf := make([]byte, 1500)
	marker := []byte{0, 1, 0, 0} // STUN-like: always for pion
	expectPion := func(what string, want []byte) {
		t.Helper()
		p.send(t, marker)
		if b := p.read(t, buf); !bytes.Equal(b, want) {
			t.Fatalf("%s: pion got %x, want %x", what, b, want)
		}
		if want[0] != 0 {
			if b := p.read(t, buf); !bytes.Equal(b, marker) {
				t.Fatalf("%s: then got %x", what, b)
			}
		}
	}

	first := p.seal(t, 1111, 10, []byte("hello"))
	p.send(t, first)
	expectPion("marker after fast packet", marker)
	if len(got) != 1 || !bytes.Equal(got[0], rtpPacket(t, 1111, 10, []byte("hello"))) {
		t.Fatalf("fast path got %x", got)
	}

	p.send(t, first) // a replay: dropped, the keys are verified
	expectPion("replay", marker)
	bad := p.seal(t, 1111, 11, []byte("tampered"))
	bad[len(bad)-1] ^= 1
	p.send(t, bad)
	expectPion("tampered", marker)
	other := p.seal(t, 2222, 1, []byte("other ssrc"))
	p.send(t, other)
	expectPion("other ssrc", other)
	rtcp := []byte{0x81, 200, 0, 1, 0, 0, 0x04, 0x57}
	p.send(t, rtcp)
	expectPion("rtcp", rtcp)
	if s := p.c.stats(); s.In != 1 || s.Fallback != 0 || s.Dropped != 2 {
		t.Fatalf("stats %+v", s)
	}

	p.f.Unreceive(1111)
	again := p.seal(t, 1111, 12, []byte("after unreceive"))
	p.send(t, again)
	expectPion("unreceived", again)

	p.f.Receive(1111, func([]byte) {})
	p.f.Close()
	closed := p.seal(t, 1111, 13, []byte("after close"))
	p.send(t, closed)
	expectPion("closed", closed)
	if _, ok := p.f.TryWriteRTP(&rtp.Header{Version: 2, SSRC: 1}, nil); ok {
		t.Fatal("write after close")
	}
}

func TestFastReadDoesNotAllocate(t *testing.T) {
	p := newFastPair(t)
	n := 0
	p.f.Receive(1111, func([]byte) { n++ })
	const runs = 200
	pkts := make([][]byte, runs+1)
	for i := range pkts {
		pkts[i] = p.seal(t, 1111, uint16(i), bytes.Repeat([]byte{byte(i)}, 1000))
	}
	buf, marker := make([]byte, 1500), []byte{0, 1, 0, 0}
	i := 0
	allocs := testing.AllocsPerRun(runs, func() {
		p.send(t, pkts[i])
		p.send(t, marker)
		i++
		p.c.PacketConn.SetReadDeadline(time.Time{})
		if _, _, err := p.c.ReadFromAddrPort(buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per read", allocs)
	}
	if n != runs+1 {
		t.Fatalf("fast path got %d of %d", n, runs+1)
	}
}

func TestFastWrite(t *testing.T) {
	p := newFastPair(t)
	payload := bytes.Repeat([]byte{7}, 1100)
	h := rtp.Header{Version: 2, PayloadType: 96, SSRC: 42, Timestamp: 1234, Marker: true}
	h.SetExtension(3, []byte{1, 2, 3})
	buf := make([]byte, 1500)
	check := func(seq uint16) {
		t.Helper()
		p.peer.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := p.peer.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		var got rtp.Packet
		plain, err := p.peerRx.DecryptRTP(nil, buf[:n], nil)
		if err == nil {
			err = got.Unmarshal(plain)
		}
		if err != nil || got.SequenceNumber != seq || got.SSRC != 42 || !got.Marker ||
			!bytes.Equal(got.GetExtension(3), []byte{1, 2, 3}) || !bytes.Equal(got.Payload, payload) {
			t.Fatalf("packet %d: %v %+v", seq, err, got.Header)
		}
	}
	pion, err := srtp.CreateContext(bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 12), srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	if p.write(t, pion, &h, payload) {
		t.Fatal("the first packet of an SSRC not handed to pion")
	}
	check(0)
	for seq := uint16(1); seq < 5; seq++ {
		h.SequenceNumber = seq
		if n, ok := p.f.TryWriteRTP(&h, payload); !ok || n < len(payload)+12 {
			t.Fatalf("TryWriteRTP = %d, %v", n, ok)
		}
		check(seq)
	}
	seq := uint16(5)
	allocs := testing.AllocsPerRun(200, func() {
		h.SequenceNumber = seq
		seq++
		if _, ok := p.f.TryWriteRTP(&h, payload); !ok {
			t.Fatal("TryWriteRTP failed")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per write", allocs)
	}
	if s := p.c.stats(); s.Out != 4+201 {
		t.Fatalf("stats %+v", s)
	}
	if _, ok := p.f.TryWriteRTP(&h, make([]byte, fastBufLen)); ok {
		t.Fatal("oversized packet taken")
	}
}

// A stream that pion carried across a wrap of its sequence numbers continues on the fast path with
// pion's rollover counter, in both directions.
func TestFastRolloverFromPion(t *testing.T) {
	p := newFastPair(t)
	pionTx, err := srtp.CreateContext(bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 12), srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	peerGets := func(seq uint16) {
		t.Helper()
		p.peer.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := p.peer.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		var h rtp.Header
		if _, err := p.peerRx.DecryptRTP(nil, buf[:n], &h); err != nil || h.SequenceNumber != seq {
			t.Fatalf("peer: packet %d: %v (got %d)", seq, err, h.SequenceNumber)
		}
	}
	seqs := []uint16{65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2, 3}
	for _, seq := range seqs { // pion sends through the wrapped socket
		enc, err := pionTx.EncryptRTP(nil, rtpPacket(t, 42, seq, []byte("from pion")), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.c.WriteToAddrPort(enc, p.remoteAddr); err != nil {
			t.Fatal(err)
		}
		peerGets(seq)
	}
	for seq := uint16(4); seq < 7; seq++ {
		if !p.write(t, pionTx, &rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, SSRC: 42}, []byte("fast")) && seq != 4 {
			t.Fatalf("packet %d handed to pion", seq)
		}
		peerGets(seq)
	}

	for _, seq := range seqs { // pion receives
		b := p.seal(t, 7, seq, []byte("to pion"))
		p.send(t, b)
		if got := p.read(t, buf); !bytes.Equal(got, b) {
			t.Fatalf("pion did not get packet %d", seq)
		}
	}
	var got []uint16
	p.f.Receive(7, func(pkt []byte) { got = append(got, uint16(pkt[2])<<8|uint16(pkt[3])) })
	p.send(t, p.seal(t, 7, 4, []byte("fast")))
	p.send(t, []byte{0, 1, 0, 0})
	p.read(t, buf)
	if len(got) != 1 || got[0] != 4 || p.c.stats().Fallback != 0 {
		t.Fatalf("fast path got %v, stats %+v", got, p.c.stats())
	}
}

// Keys are not used to send until they have decrypted something from the remote: on a subscriber's
// connection that is its RTCP. An RTCP packet under other keys proves nothing; one under the right
// keys turns sending on. Both still reach pion.
func TestFastSendsOnlyWithVerifiedKeys(t *testing.T) {
	p := newFastPair(t)
	p.f.verified.Store(false)
	p.f.to.Store(nil)
	p.f.up.Store(true)
	h := rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: 1, SSRC: 9}
	if _, ok := p.f.TryWriteRTP(&h, []byte("x")); ok {
		t.Fatal("sent with keys not verified")
	}
	rr, err := (&rtcp.ReceiverReport{SSRC: 5}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	other, err := srtp.CreateContext(bytes.Repeat([]byte{9}, 16), bytes.Repeat([]byte{9}, 12), srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	for i, ctx := range []*srtp.Context{other, p.peerTx} {
		enc, err := ctx.EncryptRTCP(nil, rr, nil)
		if err != nil {
			t.Fatal(err)
		}
		p.send(t, enc)
		if got := p.read(t, buf); !bytes.Equal(got, enc) {
			t.Fatal("the RTCP packet did not reach pion unchanged")
		}
		if verified := p.f.verified.Load(); verified != (i == 1) {
			t.Fatalf("packet %d: verified %v", i, verified)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for p.f.to.Load() == nil {
		if time.Now().After(deadline) {
			t.Fatal("verified keys did not turn sending on")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if p.write(t, p.pionSender(t), &h, []byte("x")) {
		t.Fatal("the first packet of an SSRC not handed to pion")
	}
	if _, ok := p.f.TryWriteRTP(&h, []byte("x")); !ok {
		t.Fatal("not sending with verified keys")
	}
}

// A browser may send its media on another working candidate pair than the one ICE selected (loopback
// and LAN addresses): packets with an SSRC the connection takes are decrypted whatever address they
// come from, and a connection that closes gives them back to pion.
func TestFastReceivesFromAnotherAddress(t *testing.T) {
	p := newFastPair(t)
	var got atomic.Int32
	p.f.Receive(1111, func([]byte) { got.Add(1) })
	other := listenUDP(t, "127.0.0.1:0")
	buf := make([]byte, 1500)
	for seq := uint16(1); seq <= 3; seq++ {
		if _, err := other.WriteToUDPAddrPort(p.seal(t, 1111, seq, []byte("media")), p.srv); err != nil {
			t.Fatal(err)
		}
	}
	// A packet for pion after them shows that the three were taken.
	if _, err := other.WriteToUDPAddrPort([]byte{0, 1, 0, 0}, p.srv); err != nil {
		t.Fatal(err)
	}
	p.c.PacketConn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, _, err := p.c.ReadFromAddrPort(buf); err != nil || n != 4 {
		t.Fatalf("read %d bytes, %v: the media reached pion", n, err)
	}
	if got.Load() != 3 {
		t.Fatalf("the fast path took %d packets from the other address, want 3", got.Load())
	}
	p.f.Close()
	sealed := p.seal(t, 1111, 4, []byte("media"))
	if _, err := other.WriteToUDPAddrPort(sealed, p.srv); err != nil {
		t.Fatal(err)
	}
	p.c.PacketConn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, _, err := p.c.ReadFromAddrPort(buf); err != nil || !bytes.Equal(buf[:n], sealed) {
		t.Fatalf("after Close the packet did not go to pion (%d bytes, %v)", n, err)
	}
}

// A stream the fast path sends goes through pion one packet in pionEvery, so pion's context, which
// cannot see the fast path's packets, keeps the stream's true rollover counter: when the stream falls
// back to pion (selected pair moved to ICE-TCP) pion encrypts under the true counter, never reusing
// an IV (SSRC, ROC, SEQ) the fast path used. Each index is encrypted once, by one of the two.
func TestFastSharesStreamWithPion(t *testing.T) {
	p := newFastPair(t)
	pion, err := srtp.CreateContext(bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 12), srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	const ssrc, n = 5, 140000 // more than two wraps
	start := uint64(60000)
	rocOf := func(fast bool) uint32 {
		ctx := pion
		if fast {
			ctx = p.f.tx
		}
		roc, _ := ctx.ROC(ssrc)
		return roc
	}
	viaPion := 0
	payload := []byte("payload")
	for i := range uint64(n + 1) {
		idx := start + i
		h := &rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(idx), Timestamp: uint32(idx) * 960, SSRC: ssrc}
		if i == n {
			p.f.to.Store(nil) // the pair moved to ICE-TCP: pion carries the stream now
		}
		fast := p.write(t, pion, h, payload)
		if !fast {
			viaPion++
		}
		if roc := rocOf(fast); roc != uint32(idx>>16) {
			t.Fatalf("packet %d (seq %d, fast %v) encrypted with ROC %d, true ROC %d", i, uint16(idx), fast, roc, idx>>16)
		}
	}
	if want := n/pionEvery + 2; viaPion != want {
		t.Fatalf("%d packets via pion, want %d", viaPion, want)
	}
}

// Once pion may have sent where the fast path cannot see it (the selected pair was ICE-TCP while DTLS
// was up), the fast path does not send on that connection again: its context's rollover counters may
// be stale.
func TestFastStaysOffAfterTCP(t *testing.T) {
	p := newFastPair(t)
	p.f.up.Store(true)
	p.f.update()
	if p.f.to.Load() == nil {
		t.Fatal("not sending on UDP")
	}
	p.f.mu.Lock()
	p.f.remote = netip.AddrPort{} // selectedUDP (no ICE transport in this test): ICE-TCP
	p.f.mu.Unlock()
	p.f.update()
	if p.f.to.Load() != nil {
		t.Fatal("sending while the pair is ICE-TCP")
	}
	p.f.mu.Lock()
	p.f.remote = p.remoteAddr // back on UDP
	p.f.mu.Unlock()
	p.f.update()
	if p.f.to.Load() != nil {
		t.Fatal("sending again after an ICE-TCP period")
	}
	h := rtp.Header{Version: 2, PayloadType: 96, SSRC: 9}
	for range 3 {
		if _, ok := p.f.TryWriteRTP(&h, []byte("x")); ok {
			t.Fatal("TryWriteRTP ok after an ICE-TCP period")
		}
	}
}

// Once the keys are verified, a packet of a taken SSRC that fails to decrypt (a replay, a forgery) is
// dropped and counted: pion's context has not seen the packets the fast path took, so it would accept
// a replay of them. Before, a failure goes to pion (the keys may be a wrong guess).
func TestFastDropsReplaysOnceVerified(t *testing.T) {
	for _, verified := range []bool{true, false} {
		p := newFastPair(t)
		p.f.verified.Store(verified)
		delivered := 0
		p.f.Receive(1111, func([]byte) { delivered++ })
		// pion's receive context, keyed like the fast path's, as pion builds it (replay window 64).
		pionRx, err := srtp.CreateContext(bytes.Repeat([]byte{3}, 16), bytes.Repeat([]byte{4}, 12),
			srtp.ProtectionProfileAeadAes128Gcm, srtp.SRTPReplayProtection(64))
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1500)
		marker := []byte{0, 1, 0, 0}
		var old []byte
		for seq := uint16(10); seq < 300; seq++ {
			b := p.seal(t, 1111, seq, []byte("media"))
			if seq == 100 {
				old = bytes.Clone(b)
			}
			p.send(t, b)
		}
		p.send(t, marker)
		if b := p.read(t, buf); !bytes.Equal(b, marker) {
			t.Fatalf("got %x", b)
		}
		if delivered != 290 {
			t.Fatalf("delivered %d", delivered)
		}
		if !verified { // a verified connection, as the first packet that decrypts makes it
			p.f.verified.Store(false)
		}
		p.send(t, old) // replay of seq 100, 200 packets old
		p.send(t, marker)
		got := bytes.Clone(p.read(t, buf))
		s := p.c.stats()
		if verified {
			if !bytes.Equal(got, marker) || s.Dropped != 1 || s.Fallback != 0 {
				t.Fatalf("replay reached pion (%x), stats %+v", got[:4], s)
			}
			if _, err := pionRx.DecryptRTP(nil, old, nil); err != nil {
				t.Fatal("the replay test is void: pion's context would not accept it", err)
			}
			continue
		}
		if !bytes.Equal(got, old) || s.Dropped != 0 || s.Fallback != 1 {
			t.Fatalf("unverified keys: failure not passed to pion, stats %+v", s)
		}
	}
}

// A socket error after encryption is a lost packet, not "DTLS not up": the caller must not take the
// write for one pion dropped (it would reset its stream state and wait for a keyframe).
func TestFastWriteErrorIsALostPacket(t *testing.T) {
	p := newFastPair(t)
	h := rtp.Header{Version: 2, PayloadType: 96, SSRC: 42}
	if p.write(t, p.pionSender(t), &h, []byte("first, by pion")) {
		t.Fatal("the first packet of an SSRC not handed to pion")
	}
	p.c.PacketConn.Close()
	h.SequenceNumber++
	if n, ok := p.f.TryWriteRTP(&h, []byte("lost")); !ok || n < 12+4 {
		t.Fatalf("TryWriteRTP on a failing socket = %d, %v", n, ok)
	}
}

// When pion's packet of a stream was not seen on the socket (pion dropped it, or too many streams),
// the fast path does not start the stream: its context could start under another rollover counter
// than pion's, so the next packet goes to pion too.
func TestFastStartsOnlyAfterPionsPacket(t *testing.T) {
	p := newFastPair(t)
	h := rtp.Header{Version: 2, PayloadType: 96, SSRC: 77, SequenceNumber: 65535}
	for range 3 {
		if _, ok := p.f.TryWriteRTP(&h, []byte("x")); ok {
			t.Fatal("sent before pion's packet of the stream was seen")
		}
	}
	if p.write(t, p.pionSender(t), &h, []byte("x")) {
		t.Fatal("sent before pion's packet of the stream was seen")
	}
	h.SequenceNumber++
	if _, ok := p.f.TryWriteRTP(&h, []byte("x")); !ok {
		t.Fatal("not sending after pion's packet")
	}
	if roc, _ := p.f.tx.ROC(77); roc != 1 {
		t.Fatalf("fast path continued pion's stream under ROC %d, want 1", roc)
	}
}

// While ICE has no pair selected (an ICE restart) on a connection the fast path sends on, packets
// are encrypted and lost, as on the network, not handed to pion (whose context would count them
// where ours cannot see): after a gap of more than half the sequence space the fast path still
// encrypts every (SSRC, rollover counter, sequence number) once.
func TestFastHeldWithoutPair(t *testing.T) {
	p := newFastPair(t)
	pion := p.pionSender(t) // the caller's fallback, as the DownTrack's pion writer
	used := map[uint64]bool{}
	use := func(who string, roc uint32, seq uint16) {
		idx := uint64(roc)<<16 | uint64(seq)
		if used[idx] {
			t.Fatalf("%s encrypted (roc %d, seq %d), an index already used", who, roc, seq)
		}
		used[idx] = true
	}
	seq := uint16(30000)
	send := func(n int, held bool) (viaPion int) {
		p.f.held.Store(held)
		if held {
			p.f.to.Store(nil)
		} else {
			p.f.to.Store(&p.remoteAddr)
		}
		for range n {
			h := rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq, SSRC: 9}
			if _, ok := p.f.TryWriteRTP(&h, []byte("media")); ok {
				roc, _ := p.f.tx.ROC(9)
				use("the fast path", roc, seq)
			} else {
				b, _ := h.Marshal()
				enc, err := pion.EncryptRTP(nil, append(b, "media"...), nil)
				if err != nil {
					t.Fatal(err)
				}
				if !held {
					p.f.notePion(enc) // seen on the socket; with no pair pion's write fails before it
				}
				roc, _ := pion.ROC(9)
				use("pion", roc, seq)
				viaPion++
			}
			seq++
		}
		return viaPion
	}
	send(30010, false) // indices (0, 30000..60009) used
	out := p.c.out.Load()
	if n := send(40000, true); n > 40000/pionEvery+1 {
		t.Fatalf("held: %d of 40000 packets handed to pion, want only its share", n)
	}
	if p.c.out.Load() != out {
		t.Fatal("held: packets were sent")
	}
	send(100, false)
}

// TestTxStreams: a connection's sent streams keep their state whether they sit in the scanned array
// or the map behind it, and past txStreamsMax new streams stay with pion.
func TestTxStreams(t *testing.T) {
	f := &Fast{pionTx: seqIndex{}}
	for ssrc := uint32(1); ssrc <= txStreamsMax; ssrc++ {
		f.pionTx[ssrc] = 0 // pion sent the stream's first packet
		if _, fast := f.share(ssrc); fast {
			t.Fatalf("stream %d: its first packet went by the fast path", ssrc)
		}
	}
	for ssrc := uint32(1); ssrc <= txStreamsMax; ssrc++ {
		s, fast := f.share(ssrc)
		if !fast || s.ssrc != ssrc || s.n != 2 {
			t.Fatalf("stream %d: second packet fast=%v, state %+v", ssrc, fast, s)
		}
	}
	if s, fast := f.share(txStreamsMax + 1); s != nil || fast {
		t.Fatalf("stream past the bound: %+v, fast=%v; want it left to pion", s, fast)
	}
	if f.txHotN != txHotStreams || len(f.txS) != txStreamsMax-txHotStreams {
		t.Fatalf("%d streams in the array, %d in the map", f.txHotN, len(f.txS))
	}
}

// TestFastRTCP: once the keys are verified, a subscriber's RTCP is decrypted on the fast path and
// handed over; a replay of it and a forgery are dropped, not passed to pion; before ReceiveRTCP,
// pion gets it.
func TestFastRTCP(t *testing.T) {
	p := newFastPair(t)
	buf := make([]byte, 1500)
	marker := []byte{0, 1, 0, 0}
	rr, err := (&rtcp.ReceiverReport{SSRC: 77, Reports: []rtcp.ReceptionReport{{SSRC: 1, FractionLost: 3}}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	seal := func() []byte {
		b, err := p.peerTx.EncryptRTCP(nil, rr, nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first := seal()
	p.send(t, first) // nobody asked for RTCP yet: pion's
	if got := p.read(t, buf); !bytes.Equal(got, first) {
		t.Fatal("RTCP did not go to pion before ReceiveRTCP")
	}
	var got [][]byte
	p.f.ReceiveRTCP(func(pkt []byte) { got = append(got, bytes.Clone(pkt)) })
	second := seal()
	p.send(t, second)
	p.send(t, second) // a replay
	forged := bytes.Clone(seal())
	forged[len(forged)-5] ^= 1
	p.send(t, forged)
	p.send(t, marker)
	if b := p.read(t, buf); !bytes.Equal(b, marker) {
		t.Fatalf("pion got %x; the fast path should have taken or dropped every RTCP packet", b)
	}
	if len(got) != 1 || !bytes.Equal(got[0], rr) {
		t.Fatalf("handed over %d packets (%x), want the one receiver report", len(got), got)
	}
	if s := p.c.stats(); s.RTCPIn != 1 || s.Dropped != 2 {
		t.Fatalf("stats %+v: want 1 RTCP packet in, the replay and the forgery dropped", s)
	}
}
