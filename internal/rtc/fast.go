package rtc

import (
	"encoding/binary"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// The fast path encrypts and decrypts RTP on the media socket itself, below pion, once pion's DTLS
// handshake has finished: pion's per-packet layers (SRTP session, DTLS/SRTP mux, ICE conn, candidate
// pair, UDP mux, and their goroutine hand-offs) cost more than the encryption and the system call.
// pion still does ICE, DTLS, RTCP and negotiation, and carries every packet the fast path does not
// take. See "The fast path" in docs/architecture.md.

// fastBufLen bounds the packets the fast path handles: pion sends and receives at most its MTU
// (1500, SetReceiveMTU); anything larger goes through pion.
const fastBufLen = 1500 + 64

// addrPortConn is the media socket seen through its allocation-free methods.
type addrPortConn interface {
	ReadFromAddrPort(p []byte) (int, netip.AddrPort, error)
	WriteToAddrPort(p []byte, to netip.AddrPort) (int, error)
}

type udpAddrPort struct{ *net.UDPConn }

func (u udpAddrPort) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	return u.ReadFromUDPAddrPort(p)
}

func (u udpAddrPort) WriteToAddrPort(p []byte, to netip.AddrPort) (int, error) {
	return u.WriteToUDPAddrPort(p, to)
}

// fastConn wraps the media socket for pion's ICE UDP mux. Reads take out the SRTP packets of the
// connections that asked for them (Fast.Receive) and sniff DTLS hellos; writes sniff DTLS hellos.
// Everything else passes through untouched. Like batchConn it implements ice.AddrPortReaderWriter,
// so the mux keeps its allocation-free paths.
type fastConn struct {
	net.PacketConn // the media socket (or its batching wrapper): LocalAddr, Close, deadlines
	io             addrPortConn
	keys           *dtlsKeys
	log            *slog.Logger

	mu    sync.Mutex                               // serialises changes of peers and ssrcs
	peers atomic.Pointer[map[netip.AddrPort]*Fast] // immutable, replaced on change
	// ssrcs finds the connection of an RTP packet that comes from another address than its selected
	// pair's: a browser with two working pairs (loopback and LAN, IPv4 and IPv6) may send media on
	// one while ICE selected the other. The packet must still decrypt under that connection's keys,
	// so a peer that picks another's SSRC only sends that other's packets to pion.
	ssrcs atomic.Pointer[map[uint32]*Fast] // immutable, replaced on change

	in       atomic.Uint64
	_        [56]byte // keep the counters on their own cache lines: readers and writers differ
	out      atomic.Uint64
	_        [56]byte
	fallback atomic.Uint64
	dropped  atomic.Uint64
	rtcpIn   atomic.Uint64
}

func newFastConn(c net.PacketConn, log *slog.Logger) *fastConn {
	fc := &fastConn{PacketConn: c, keys: newDTLSKeys(), log: log}
	if u, ok := c.(*net.UDPConn); ok {
		fc.io = udpAddrPort{u}
	} else {
		fc.io = c.(addrPortConn)
	}
	return fc
}

// isRTCP says whether a datagram whose first byte is 128..191 is RTCP rather than RTP (RFC 5761:
// RTCP packet types 192..223 fall on payload types 64..95 once the marker bit is masked).
func isRTCP(p []byte) bool { pt := p[1] & 0x7f; return pt >= 64 && pt <= 95 }

// ReadFromAddrPort reads the next datagram that is for pion.
func (c *fastConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	for {
		n, from, err := c.io.ReadFromAddrPort(p)
		if err != nil || n == 0 {
			return n, from, err
		}
		b := p[:n]
		if b[0] >= 128 && b[0] <= 191 {
			if n >= 12 && !isRTCP(b) && c.receive(b, from) {
				continue
			}
			if n >= 8 && isRTCP(b) {
				if f := c.peer(from); f != nil {
					if !f.verified.Load() {
						f.verifyRTCP(b)
					} else if f.receiveRTCP(b) {
						continue
					}
				}
			}
		} else if isDTLS(b) {
			c.keys.observe(b, from, false)
		}
		return n, from, nil
	}
}

// receive hands an RTP packet to the fast path of the connection it came from, if that connection
// takes its SSRC; false means pion gets it.
func (c *fastConn) receive(b []byte, from netip.AddrPort) bool {
	ssrc := binary.BigEndian.Uint32(b[8:12])
	f := c.peer(from)
	if f == nil || !f.takes(ssrc) {
		if m := c.ssrcs.Load(); m != nil {
			if g := (*m)[ssrc]; g != nil {
				f = g
			}
		}
	}
	if f == nil {
		return false
	}
	return f.receive(b)
}

// takeSSRC makes packets with ssrc from any address go to f (nil: to nobody, if f had them).
func (c *fastConn) takeSSRC(ssrc uint32, f, old *Fast) {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := map[uint32]*Fast{}
	if cur := c.ssrcs.Load(); cur != nil {
		for s, g := range *cur {
			next[s] = g
		}
	}
	if f != nil {
		next[ssrc] = f
	} else if next[ssrc] == old {
		delete(next, ssrc)
	}
	c.ssrcs.Store(&next)
}

// WriteToAddrPort writes a datagram from pion.
func (c *fastConn) WriteToAddrPort(p []byte, to netip.AddrPort) (int, error) {
	if len(p) >= 12 && p[0] >= 128 && p[0] <= 191 && !isRTCP(p) {
		if f := c.peer(to); f != nil {
			f.notePion(p)
		}
	} else if isDTLS(p) {
		c.keys.observe(p, to, true)
	}
	return c.io.WriteToAddrPort(p, to)
}

// peer returns the connection whose selected pair's remote address is a, if it has a fast path.
func (c *fastConn) peer(a netip.AddrPort) *Fast {
	peers := c.peers.Load()
	if peers == nil {
		return nil
	}
	return (*peers)[netip.AddrPortFrom(a.Addr().Unmap(), a.Port())]
}

// ReadFrom and WriteTo serve callers without the AddrPort methods (pion's mux has them).
func (c *fastConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, from, err := c.ReadFromAddrPort(p)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

func (c *fastConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: net.InvalidAddrError("not a UDP address")}
	}
	return c.WriteToAddrPort(p, ua.AddrPort())
}

// route makes packets from remote go to f (remote invalid: none), replacing f's previous address.
func (c *fastConn) route(f *Fast, remote netip.AddrPort) {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := map[netip.AddrPort]*Fast{}
	if cur := c.peers.Load(); cur != nil {
		for a, g := range *cur {
			if g != f {
				next[a] = g
			}
		}
	}
	if remote.IsValid() {
		next[remote] = f
	}
	c.peers.Store(&next)
}

// FastStats counts the RTP packets the fast path handled.
type FastStats struct {
	In       uint64 // decrypted and handed to a Receive function
	Out      uint64 // encrypted and sent by TryWriteRTP
	Fallback uint64 // taken for the fast path but failing to decrypt, so passed to pion
	Dropped  uint64 // failing to decrypt once the keys are verified (replays, forgeries): dropped
	RTCPIn   uint64 // RTCP packets decrypted and handed to a ReceiveRTCP function
}

// FastStats returns the fast path's counters (zero without it).
func (e *Engine) FastStats() FastStats {
	if e.fast == nil {
		return FastStats{}
	}
	return e.fast.stats()
}

func (c *fastConn) stats() FastStats {
	return FastStats{In: c.in.Load(), Out: c.out.Load(), Fallback: c.fallback.Load(), Dropped: c.dropped.Load(),
		RTCPIn: c.rtcpIn.Load()}
}

// Fast is the fast path of one PeerConnection: RTP encrypted and sent, or received and decrypted,
// directly on the media socket with the connection's SRTP keys.
type Fast struct {
	c   *fastConn
	pc  *webrtc.PeerConnection
	ice *webrtc.ICETransport
	log *slog.Logger
	up  atomic.Bool // DTLS connected
	// verified: the keys decrypted a packet from the remote. Until then nothing is encrypted with
	// them: keys matched across addresses (dtlsKeys.take) are a guess, and a wrong guess must not
	// turn into a subscriber's black video.
	verified atomic.Bool
	to       atomic.Pointer[netip.AddrPort] // where TryWriteRTP sends; nil: not available now
	// held: the fast path sends, but ICE has no pair selected (an ICE restart): packets are encrypted
	// and lost, as on the network, rather than handed to pion, whose context would count them where
	// ours could not; ours keeps following the stream's rollover counter.
	held atomic.Bool
	rxFn atomic.Pointer[map[uint32]func([]byte)]
	// rtcpFn takes the remote's RTCP once the keys are verified (ReceiveRTCP); nil: pion does.
	rtcpFn atomic.Pointer[func([]byte)]

	mu     sync.Mutex // the state below, and changes of rxFn
	keyed  bool       // tx and rx are set (they never change afterwards)
	failed bool       // keys not found or not usable: this connection stays on the slow path
	// txOff: pion may have sent RTP where the fast path cannot see it (the selected pair was ICE-TCP
	// or relayed while DTLS was up), so the fast context's view of the rollover counters may be
	// stale: sending stays with pion for good.
	txOff  bool
	closed bool
	remote netip.AddrPort   // where packets are routed from (invalid: none)
	seen   []netip.AddrPort // the remote addresses of the pairs ICE selected, latest last
	fns    map[uint32]func([]byte)

	txMu   sync.Mutex // the encrypting context and buffer: several goroutines write
	tx     *srtp.Context
	gcm    *gcmSealer // encrypts instead of tx with AES-GCM and no header encryption (the usual case)
	txBuf  [fastBufLen]byte
	txHdr  rtp.Header
	pionTx seqIndex               // what pion sent
	txHot  [txHotStreams]txStream // the first streams sent, found by a scan (see stream)
	txHotN int
	txS    map[uint32]*txStream // the streams sent after those, by SSRC

	rxMu   sync.Mutex // the decrypting context and buffer
	rx     *srtp.Context
	rxBuf  [fastBufLen]byte
	rxHdr  rtp.Header
	pionRx seqIndex // what pion received
}

// seqIndex follows the extended sequence numbers (rollover counter and sequence number, RFC 3711
// 3.3.1) of the RTP streams that pion encrypts or decrypts on a connection, per SSRC. An SRTP context
// learns a stream's rollover counter from the packets it sees; when the fast path takes over a stream
// pion has carried, possibly across a wrap of its sequence numbers (they start at random), its
// context starts from pion's counter instead of 0, or every packet would fail authentication.
type seqIndex map[uint32]uint64

const (
	rxStreamsMax = 64   // received streams followed: the remote chooses their SSRCs
	txStreamsMax = 1024 // sent streams followed: the SFU chooses their SSRCs, DownTracks come and go
)

// rocFor is the rollover counter of seq in a stream whose highest extended sequence number is idx.
func rocFor(idx uint64, seq uint16) uint32 {
	roc, last := uint32(idx>>16), uint16(idx)
	switch {
	case seq < last && last-seq > 0x8000: // wrapped since
		roc++
	case seq > last && seq-last > 0x8000 && roc > 0: // from before the last wrap
		roc--
	}
	return roc
}

// note records a packet pion carries, following at most max streams. pion's context, like any,
// starts a stream at counter 0.
func (m seqIndex) note(p []byte, max int) {
	ssrc, seq := binary.BigEndian.Uint32(p[8:12]), binary.BigEndian.Uint16(p[2:4])
	idx, ok := m[ssrc]
	if !ok {
		if len(m) < max {
			m[ssrc] = uint64(seq)
		}
		return
	}
	if n := uint64(rocFor(idx, seq))<<16 | uint64(seq); n > idx {
		m[ssrc] = n
	}
}

// startFrom makes ctx, which has not seen ssrc yet, continue pion's stream at seq.
func (m seqIndex) startFrom(ctx *srtp.Context, ssrc uint32, seq uint16) {
	if len(m) == 0 {
		return
	}
	if idx, ok := m[ssrc]; ok {
		if _, seen := ctx.ROC(ssrc); !seen {
			ctx.SetROC(ssrc, rocFor(idx, seq))
		}
	}
}

// Fast returns the fast path for pc, or nil when the engine runs without it (Config.FastPath false, or
// writes not on a UDP socket we own). Call right after creating pc, before negotiation.
//
// It takes pc's DTLS transport's OnStateChange and ICE transport's OnSelectedCandidatePairChange
// handlers (pion has one of each); the PeerConnection's own handlers stay free.
func (e *Engine) Fast(pc *webrtc.PeerConnection) *Fast {
	if e.fast == nil || pc == nil {
		return nil
	}
	dt := pc.SCTP().Transport()
	f := &Fast{c: e.fast, pc: pc, ice: dt.ICETransport(), log: e.cfg.Logger, fns: map[uint32]func([]byte){},
		pionTx: seqIndex{}, pionRx: seqIndex{}}
	dt.OnStateChange(func(s webrtc.DTLSTransportState) {
		// Called with the DTLS transport's lock held: the work happens elsewhere.
		switch s {
		case webrtc.DTLSTransportStateConnected:
			f.up.Store(true)
			go f.update()
		case webrtc.DTLSTransportStateClosed, webrtc.DTLSTransportStateFailed:
			go f.Close()
		}
	})
	f.ice.OnSelectedCandidatePairChange(func(*webrtc.ICECandidatePair) { go f.update() })
	if dt.State() == webrtc.DTLSTransportStateConnected { // called late
		f.up.Store(true)
		go f.update()
	}
	return f
}

// update follows the connection: once DTLS is up it takes the keys of the handshake that ran on the
// selected pair's remote address, and from then on it routes the fast path to whatever pair ICE
// selects (after an ICE restart the address changes, the DTLS session and its keys do not). The route
// is set as soon as a pair is selected, keys or not, so that the rollover counters of what pion
// sends and receives meanwhile are known (see notePion).
func (f *Fast) update() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || f.failed {
		return
	}
	remote, ok, none := f.selectedUDP()
	if ok && !slices.Contains(f.seen, remote) {
		if len(f.seen) == maxSeen {
			f.seen = slices.Delete(f.seen, 0, 1)
		}
		f.seen = append(f.seen, remote)
	}
	if !f.keyed && ok && f.up.Load() && !f.setKeys() {
		f.failed = true
		ok = false
	}
	if !ok {
		remote = netip.AddrPort{} // ICE-TCP: a later pair change may bring receiving back
		if f.up.Load() && !none { // with no pair selected (an ICE restart) pion sends nothing
			f.txOff = true
		}
	}
	if remote != f.remote {
		f.c.route(f, remote)
		f.remote = remote
	}
	sending := f.keyed && f.verified.Load() && !f.txOff
	if sending && ok {
		f.to.Store(&remote)
	} else {
		f.to.Store(nil)
	}
	f.held.Store(sending && !ok && none)
}

// selectedUDP returns the remote address of the selected candidate pair when it runs on our UDP
// socket; none says no pair is selected (before ICE connects, during an ICE restart).
func (f *Fast) selectedUDP() (remote netip.AddrPort, ok, none bool) {
	if f.ice == nil { // tests that route a Fast by hand
		return f.remote, f.remote.IsValid(), false
	}
	pair, err := f.ice.GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local == nil || pair.Remote == nil {
		return netip.AddrPort{}, false, true
	}
	if pair.Local.Protocol != webrtc.ICEProtocolUDP || pair.Remote.Protocol != webrtc.ICEProtocolUDP ||
		pair.Local.Typ == webrtc.ICECandidateTypeRelay {
		return netip.AddrPort{}, false, false
	}
	ip, err := netip.ParseAddr(pair.Remote.Address)
	if err != nil {
		return netip.AddrPort{}, false, false
	}
	return netip.AddrPortFrom(ip.Unmap(), pair.Remote.Port), true, false
}

// maxSeen bounds the remote addresses a connection remembers for finding its handshake.
const maxSeen = 8

// setKeys builds the SRTP contexts from the keys learned for the handshake with the connection.
func (f *Fast) setKeys() bool {
	keys, _, ok := f.c.keys.take(slices.Clone(f.seen)...)
	if !ok {
		f.log.Warn("fast path: SRTP keys not learned, staying on pion", "remotes", f.seen)
		return false
	}
	// RTP header encryption (RFC 9335, cryptex), which pion negotiates when both sides offer it:
	// encrypt header extensions as pion would when the remote declared it can receive them so, and
	// accept both forms when receiving (a receiver may get either).
	txMode := srtp.CryptexModeDisabled
	if cryptex(f.pc.CurrentRemoteDescription()) {
		txMode = srtp.CryptexModeEnabled
	}
	defer keys.clear()
	tx, err := srtp.CreateContext(keys.localKey, keys.localSalt, keys.profile, srtp.Cryptex(txMode))
	if err != nil {
		f.log.Warn("fast path: SRTP context", "err", err)
		return false
	}
	rx, err := newRxContext(keys.remoteKey, keys.remoteSalt, keys.profile)
	if err != nil {
		f.log.Warn("fast path: SRTP context", "err", err)
		return false
	}
	var gcm *gcmSealer
	if keys.profile == srtp.ProtectionProfileAeadAes128Gcm && txMode == srtp.CryptexModeDisabled {
		if gcm, err = newGCMSealer(keys.localKey, keys.localSalt); err != nil {
			f.log.Warn("fast path: SRTP sealer", "err", err)
			return false
		}
	}
	f.txMu.Lock()
	f.tx = tx
	f.gcm = gcm
	f.txMu.Unlock()
	f.rxMu.Lock()
	f.rx = rx
	f.rxMu.Unlock()
	f.keyed = true
	f.log.Debug("fast path keys", "remotes", f.seen, "profile", keys.profile, "cryptex", txMode == srtp.CryptexModeEnabled)
	return true
}

// newRxContext is the fast path's decrypting context: replay protection for RTP and RTCP (pion's
// window, 64), and both forms of header extensions (cryptex or not) accepted.
func newRxContext(key, salt []byte, profile srtp.ProtectionProfile) (*srtp.Context, error) {
	return srtp.CreateContext(key, salt, profile, srtp.SRTPReplayProtection(64), srtp.SRTCPReplayProtection(64),
		srtp.Cryptex(srtp.CryptexModeEnabled))
}

// verifiedBy notes that the keys decrypted a packet from the remote, which lets the fast path send.
// Called with rxMu held, so the route is updated elsewhere (update takes mu, which comes first).
func (f *Fast) verifiedBy() {
	if f.verified.CompareAndSwap(false, true) {
		go f.update()
	}
}

// verifyRTCP tries the keys on an SRTCP packet from the remote (pion decrypts it too, with its own
// context): a subscriber's connection carries no RTP from the remote, only RTCP.
func (f *Fast) verifyRTCP(b []byte) {
	f.rxMu.Lock()
	defer f.rxMu.Unlock()
	if f.rx == nil || f.verified.Load() || len(b) > len(f.rxBuf) {
		return
	}
	if _, err := f.rx.DecryptRTCP(f.rxBuf[:], b, nil); err == nil {
		f.verifiedBy()
	}
}

func cryptex(d *webrtc.SessionDescription) bool {
	return d != nil && strings.Contains(d.SDP, "a=cryptex")
}

// TryWriteRTP encrypts one RTP packet (header h, payload) with this connection's SRTP keys and queues it
// on the media socket to the remote address of the connection's selected ICE candidate pair. ok is false
// when the fast path is not available right now (keys not known yet, the selected pair is ICE-TCP or not on
// our UDP socket, connection closed), or when this packet is one of those pion must carry (see
// pionEvery): the caller then writes it through pion. Safe for concurrent use. Must not allocate.
func (f *Fast) TryWriteRTP(h *rtp.Header, payload []byte) (n int, ok bool) {
	to := f.to.Load()
	held := to == nil && f.held.Load()
	if to == nil && !held {
		return 0, false
	}
	f.txMu.Lock()
	defer f.txMu.Unlock()
	hl := h.MarshalSize()
	if f.tx == nil || hl+len(payload)+32 > len(f.txBuf) {
		return 0, false
	}
	if _, err := h.MarshalTo(f.txBuf[:]); err != nil {
		return 0, false
	}
	s, ok := f.share(h.SSRC)
	if !ok {
		return 0, false
	}
	copy(f.txBuf[hl:], payload)
	// Encrypted in place: the buffer has room for the tag.
	var pkt []byte
	if f.gcm != nil {
		pkt = f.gcm.seal(f.txBuf[:], hl, hl+len(payload), h.SSRC, s.roc(f.pionTx, h.SSRC, h.SequenceNumber), h.SequenceNumber)
	} else {
		if !s.fast {
			f.pionTx.startFrom(f.tx, h.SSRC, h.SequenceNumber)
		}
		var err error
		if pkt, err = f.tx.EncryptRTP(f.txBuf[:], f.txBuf[:hl+len(payload)], &f.txHdr); err != nil {
			return 0, false
		}
	}
	s.fast = true
	// Once encrypted, the packet is sent here or lost (as the network would lose it), never also
	// by pion: its length says so to the caller, which must not take it for "DTLS not up". While
	// held (no pair) it is encrypted all the same, so that the context follows the stream.
	if held {
		return len(pkt), true
	}
	if _, err := f.c.io.WriteToAddrPort(pkt, *to); err != nil {
		return len(pkt), true
	}
	f.c.out.Add(1)
	return len(pkt), true
}

// pionEvery: of each SSRC the fast path sends, one packet in pionEvery goes through pion instead
// (the first one of the SSRC included). pion's send context, which the fast path cannot update,
// then stays within pionEvery of the stream's true index, so it infers the rollover counter right
// whenever it carries the stream again (after a fall back to pion); each (SSRC, index) is still
// encrypted exactly once, by one of the two contexts, and never under a stale counter.
const pionEvery = 4096

// txStream is the fast path's state of one stream it sends.
type txStream struct {
	ssrc uint32
	n    uint16 // packets since the last one handed to pion (see pionEvery)
	fast bool   // the fast path has encrypted the stream, so it follows its rollover counter
	idx  uint64 // with gcmSealer: the highest packet index (rollover counter and sequence) sent
}

// roc returns the rollover counter of the stream's packet seq, and notes its index: on the stream's
// first packet on the fast path it continues pion's index, as startFrom does for an srtp.Context.
func (s *txStream) roc(pion seqIndex, ssrc uint32, seq uint16) uint32 {
	if !s.fast {
		s.idx = uint64(seq)
		if idx, ok := pion[ssrc]; ok {
			s.idx = uint64(rocFor(idx, seq))<<16 | uint64(seq)
		}
	}
	roc := rocFor(s.idx, seq)
	if i := uint64(roc)<<16 | uint64(seq); i > s.idx {
		s.idx = i
	}
	return roc
}

// txHotStreams streams of a connection are found without a map: a subscriber in a room of nine
// receives sixteen (camera and microphone of eight others). A forwarded packet touches a hundred
// subscribers' state in turn, so each lookup is a cache miss, and a scan of one array inside Fast
// costs fewer of them than a map.
const txHotStreams = 16

// stream returns the state of ssrc, added if new; nil when the connection follows too many.
// Called with txMu held.
func (f *Fast) stream(ssrc uint32) *txStream {
	for i := range f.txHotN {
		if f.txHot[i].ssrc == ssrc {
			return &f.txHot[i]
		}
	}
	if s := f.txS[ssrc]; s != nil {
		return s
	}
	if f.txHotN < len(f.txHot) {
		s := &f.txHot[f.txHotN]
		f.txHotN++
		*s = txStream{ssrc: ssrc}
		return s
	}
	if f.txHotN+len(f.txS) >= txStreamsMax {
		return nil
	}
	if f.txS == nil {
		f.txS = map[uint32]*txStream{}
	}
	s := &txStream{ssrc: ssrc}
	f.txS[ssrc] = s
	return s
}

// share counts a packet of ssrc that the fast path is about to send, and says false when pion must
// send it instead. Called with txMu held.
func (f *Fast) share(ssrc uint32) (*txStream, bool) {
	s := f.stream(ssrc)
	if s == nil {
		return nil, false // stay bounded: pion carries the stream
	}
	if !s.fast {
		if _, noted := f.pionTx[ssrc]; !noted {
			// pion's packet of this stream was not seen on the socket (dropped inside pion, or too
			// many streams followed): without it the fast context could start under another
			// counter than pion's, so pion gets this one too.
			s.n = 0
		}
	}
	n := s.n
	s.n = (n + 1) % pionEvery
	return s, n != 0
}

// Receive makes RTP packets with SSRC ssrc that arrive from this connection's remote address be
// decrypted here and handed to fn in the media socket's reading goroutine (pkt is the plain RTP packet,
// valid only during the call), instead of going through pion. Before the keys are known, and for other
// SSRCs, packets go to pion as before. A packet that fails to decrypt (replay, forgery, wrong key) is
// passed to pion unchanged until the keys are verified (they decrypted something from the remote),
// so a wrong guess of the keys degrades to the slow path; after that it is dropped: pion's context
// has not seen the packets the fast path took, so it would accept their replays.
//
// fn runs in the media socket's reading goroutine, for every connection's packets: it must not block.
func (f *Fast) Receive(ssrc uint32, fn func(pkt []byte)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.fns[ssrc] = fn
	f.publishFns()
	f.c.takeSSRC(ssrc, f, nil)
}

// ReceiveRTCP makes the RTCP packets that arrive from this connection's remote address be decrypted
// here and handed to fn in the media socket's reading goroutine (pkt is the plain compound packet,
// valid only during the call), once the keys are verified; until then they go to pion. A packet that
// fails to decrypt after that is dropped, as RTP is (see Receive). pion's path costs a subscriber's
// every receiver report, NACK and bandwidth estimate four goroutine hand-offs, and one more for each
// track the packet concerns.
//
// fn runs in the media socket's reading goroutine, for every connection's packets: it must not block.
func (f *Fast) ReceiveRTCP(fn func(pkt []byte)) {
	f.rtcpFn.Store(&fn)
}

// receiveRTCP decrypts one RTCP packet of this connection, whose keys are verified, and hands it to
// its function; false means pion gets it.
func (f *Fast) receiveRTCP(b []byte) bool {
	fn := f.rtcpFn.Load()
	if fn == nil {
		return false
	}
	f.rxMu.Lock()
	defer f.rxMu.Unlock()
	if f.rx == nil || len(b) > len(f.rxBuf) {
		return false
	}
	pkt, err := f.rx.DecryptRTCP(f.rxBuf[:], b, nil)
	if err != nil {
		f.c.dropped.Add(1)
		return true
	}
	f.c.rtcpIn.Add(1)
	(*fn)(pkt)
	return true
}

// takes says whether the connection decrypts packets with ssrc itself.
func (f *Fast) takes(ssrc uint32) bool {
	fns := f.rxFn.Load()
	return fns != nil && (*fns)[ssrc] != nil
}

// Unreceive gives the packets with SSRC ssrc back to pion.
func (f *Fast) Unreceive(ssrc uint32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.fns, ssrc)
	f.publishFns()
	f.c.takeSSRC(ssrc, nil, f)
}

func (f *Fast) publishFns() {
	m := make(map[uint32]func([]byte), len(f.fns))
	for s, fn := range f.fns {
		m[s] = fn
	}
	f.rxFn.Store(&m)
}

// Close stops the fast path: writes report !ok and every packet goes to pion.
func (f *Fast) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.closed = true
	f.to.Store(nil)
	for ssrc := range f.fns {
		f.c.takeSSRC(ssrc, nil, f)
	}
	if f.remote.IsValid() {
		f.c.route(f, netip.AddrPort{})
		f.remote = netip.AddrPort{}
	}
}

// receive decrypts one packet of this connection (from its route, or with an SSRC it takes) and
// hands it to its function.
func (f *Fast) receive(b []byte) bool {
	ssrc := binary.BigEndian.Uint32(b[8:12])
	var fn func([]byte)
	if fns := f.rxFn.Load(); fns != nil {
		fn = (*fns)[ssrc]
	}
	f.rxMu.Lock()
	defer f.rxMu.Unlock()
	if fn == nil || f.rx == nil || len(b) > len(f.rxBuf) {
		f.pionRx.note(b, rxStreamsMax)
		return false
	}
	f.pionRx.startFrom(f.rx, ssrc, binary.BigEndian.Uint16(b[2:4]))
	pkt, err := f.rx.DecryptRTP(f.rxBuf[:], b, &f.rxHdr)
	if err != nil {
		if f.verified.Load() {
			f.c.dropped.Add(1)
			return true
		}
		f.c.fallback.Add(1)
		f.pionRx.note(b, rxStreamsMax)
		return false
	}
	f.c.in.Add(1)
	if !f.verified.Load() {
		f.verifiedBy()
	}
	fn(pkt)
	return true
}

// notePion records an RTP packet pion sends on this connection.
func (f *Fast) notePion(p []byte) {
	f.txMu.Lock()
	f.pionTx.note(p, txStreamsMax)
	f.txMu.Unlock()
}
