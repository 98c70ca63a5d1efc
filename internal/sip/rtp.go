package sip

import (
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// RTPSession is the SIP side's media socket for one call: plain RTP over
// UDP. It does symmetric RTP (RFC 4961 practice): a phone behind NAT puts a
// private address in its SDP, so we send to wherever its packets really come
// from once we have seen them. To keep a stranger who sprays our port from
// taking the stream over ("RTP bleed"), a source is learned only when it is
// the signalled IP (any port: NATs keep the IP more often than the port), or
// after probation: several packets in sequence from it (RFC 3550's
// MIN_SEQUENTIAL idea). Once learned, packets from anyone else are dropped
// until SetRemote (a re-INVITE) starts learning again.
type RTPSession struct {
	conn     *net.UDPConn
	external atomic.Pointer[netip.Addr] // announced in SDP when set (NAT, or a forked call's winning route)

	mu        sync.Mutex
	signalled netip.AddrPort // from SDP
	peer      netip.AddrPort // where we send; learned or signalled
	learned   bool
	candidate netip.AddrPort // a source on probation
	candSeq   uint16
	candCount int
	payloads  map[uint8]bool // accepted payload types; nil accepts all
	audioPT   int            // the codec's payload type (the first given to SetRemote), -1 when unknown
	stats     rtpStats

	created time.Time    // for arrival times (monotonic)
	lastIn  atomic.Int64 // when the peer last sent RTP or RTCP, as time since created
	paused  atomic.Bool  // the peer does not want our media (it put the call on hold): WriteRTP drops
	onKey   atomic.Pointer[func(DTMFEvent)]

	PacketsIn  atomic.Uint64 // accepted RTP packets
	PacketsOut atomic.Uint64
	totals     *Metrics      // also counted here when set (RTPIn, RTPOut)
	Dropped    atomic.Uint64 // not RTP, unexpected payload type, or from a stranger

	done   chan struct{}
	wg     sync.WaitGroup
	closed bool                     // under mu: Start after Close reads nothing (and does not race Close's Wait)
	srtp   atomic.Pointer[srtpPair] // SDES-SRTP keys, when the call's media is encrypted
}

// probation is how many packets in sequence a source not named in the SDP
// must send before we answer it.
const probation = 3

// ListenRTP opens an RTP socket on addr (e.g. "0.0.0.0:0"). external, when
// valid, is the address put in SDP instead of the socket's: the public IP of
// a server behind 1:1 NAT.
func ListenRTP(addr string, external netip.Addr) (*RTPSession, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("sip: rtp address %q: %w", addr, err)
	}
	c, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("sip: listen rtp: %w", err)
	}
	rs := &RTPSession{conn: c, done: make(chan struct{}), audioPT: -1, created: time.Now()}
	rs.external.Store(&external)
	return rs, nil
}

// ListenRTPIn opens an RTP socket on host at a free even port (RFC 3550
// section 11) between min and max, trying them from a random start; min 0
// picks any free port. It is how calls get ports a firewall can allow.
func ListenRTPIn(host string, min, max int, external netip.Addr) (*RTPSession, error) {
	if min == 0 {
		return ListenRTP(net.JoinHostPort(host, "0"), external)
	}
	first := min + min%2
	n := (max-first)/2 + 1
	if n < 1 {
		return nil, fmt.Errorf("sip: no even port in the RTP range %d-%d", min, max)
	}
	start := mrand.IntN(n)
	for i := range n {
		port := first + 2*((start+i)%n)
		if s, err := ListenRTP(net.JoinHostPort(host, strconv.Itoa(port)), external); err == nil {
			return s, nil
		}
	}
	return nil, fmt.Errorf("sip: every RTP port in %d-%d is taken (widen sip.rtp_ports)", min, max)
}

// LocalAddr is the address to put in SDP.
func (s *RTPSession) LocalAddr() netip.AddrPort {
	ap := s.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	if ext := s.external.Load(); ext != nil && ext.IsValid() {
		return netip.AddrPortFrom(*ext, ap.Port())
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// SetRemote sets the peer's signalled address and the payload types it may
// send (its codec and telephone-event), and starts learning its real source
// again.
func (s *RTPSession) SetRemote(addr netip.AddrPort, payloadTypes ...uint8) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signalled, s.peer, s.learned = addr, addr, false
	s.candidate, s.candCount = netip.AddrPort{}, 0
	s.payloads = nil
	s.audioPT = -1
	if len(payloadTypes) > 0 {
		s.audioPT = int(payloadTypes[0])
		s.payloads = map[uint8]bool{}
		for _, pt := range payloadTypes {
			s.payloads[pt] = true
		}
	}
}

func (s *RTPSession) signalledAddr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signalled
}

// Peer returns where packets are sent, and whether it was learned from
// received packets rather than taken from SDP.
func (s *RTPSession) Peer() (netip.AddrPort, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peer, s.learned
}

// Start reads packets until Close, calling onPacket (from one goroutine) for
// each accepted one. The packet's payload is only valid during the call.
func (s *RTPSession) Start(onPacket func(*rtp.Packet)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.wg.Go(func() {
		buf := make([]byte, 1500)
		plain := make([]byte, 1500) // decrypted SRTP
		var p rtp.Packet
		for {
			n, from, err := s.conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
			pkt := buf[:n]
			if isRTCP(pkt) {
				// RTCP multiplexed on the RTP port (RFC 5761): not
				// media, but it shows the peer is alive.
				if s.fromPeerIP(from) {
					s.lastIn.Store(int64(time.Since(s.created)))
				}
				s.Dropped.Add(1)
				continue
			}
			if sp := s.srtp.Load(); sp != nil {
				// Authenticated first: a forged or replayed packet goes no further.
				dec, err := sp.in.DecryptRTP(plain[:0], pkt, nil)
				if err != nil {
					s.Dropped.Add(1)
					continue
				}
				pkt = dec
			}
			if err := p.Unmarshal(pkt); err != nil || p.Version != 2 {
				s.Dropped.Add(1)
				continue
			}
			if !s.accept(from, &p) {
				s.Dropped.Add(1)
				continue
			}
			s.PacketsIn.Add(1)
			if s.totals != nil {
				s.totals.RTPIn.Add(1)
			}
			if onPacket != nil {
				onPacket(&p)
			}
		}
	})
}

// accept applies the learning rules to a packet from from.
func (s *RTPSession) accept(from netip.AddrPort, p *rtp.Packet) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.payloads != nil && !s.payloads[p.PayloadType] {
		return false
	}
	if s.learned {
		if from != s.peer {
			return false
		}
		s.count(p)
		return true
	}
	if from.Addr() == s.signalled.Addr() {
		s.peer, s.learned = from, true
		s.count(p)
		return true
	}
	if from == s.candidate && p.SequenceNumber == s.candSeq+1 {
		s.candCount++
	} else {
		s.candidate, s.candCount = from, 1
	}
	s.candSeq = p.SequenceNumber
	if s.candCount >= probation {
		s.peer, s.learned = from, true
		s.count(p)
		return true
	}
	return false
}

// count updates the statistics and the liveness clock for an accepted
// packet; s.mu is held.
func (s *RTPSession) count(p *rtp.Packet) {
	now := time.Since(s.created)
	s.lastIn.Store(int64(now))
	s.stats.update(&p.Header, now, 8000, int(p.PayloadType) == s.audioPT)
}

// isRTCP tells RTCP from RTP on a shared port (RFC 5761 section 4):
// RTCP packet types 200-204 fall where RTP would have payload types 72-76.
func isRTCP(b []byte) bool {
	return len(b) >= 8 && b[0]>>6 == 2 && b[1] >= 200 && b[1] <= 204
}

func (s *RTPSession) fromPeerIP(from netip.AddrPort) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return from.Addr() == s.peer.Addr() || from.Addr() == s.signalled.Addr()
}

// Stats returns the call's media statistics so far. The clock rate of
// every codec we pass (G.711, G.722's RTP clock) is 8000 Hz.
func (s *RTPSession) Stats() RTPStats {
	s.mu.Lock()
	recv, lost, jitter := s.stats.snapshot(8000)
	s.mu.Unlock()
	return RTPStats{PacketsSent: s.PacketsOut.Load(), PacketsReceived: recv, PacketsLost: lost, JitterMillis: jitter}
}

// SinceLastPacket is how long ago the peer last sent RTP or RTCP (or the
// session opened, when it never did).
func (s *RTPSession) SinceLastPacket() time.Duration {
	return time.Since(s.created) - time.Duration(s.lastIn.Load())
}

// SetPaused stops (true) or resumes what WriteRTP sends: a peer that
// holds the call (a=sendonly, inactive) wants no media from us.
func (s *RTPSession) SetPaused(paused bool) { s.paused.Store(paused) }

// OnSignalledKey sets what is told of key presses that came by signalling
// (SIP INFO) rather than in the RTP stream; the media bridge sets it to
// report them like RFC 4733 keys and to relay them in band. nil: nothing.
func (s *RTPSession) OnSignalledKey(f func(DTMFEvent)) {
	if f == nil {
		s.onKey.Store(nil)
		return
	}
	s.onKey.Store(&f)
}

// signalledKey hands a key press from SIP INFO to whoever listens.
func (s *RTPSession) signalledKey(e DTMFEvent) bool {
	f := s.onKey.Load()
	if f == nil {
		return false
	}
	(*f)(e)
	return true
}

// CountKeys adds n key presses (RFC 4733 events, detected by whoever
// relays the stream) received from the peer (in) or sent to it to the
// server's metrics.
func (s *RTPSession) CountKeys(in bool, n int) {
	if s.totals == nil || n <= 0 {
		return
	}
	if in {
		s.totals.KeysIn.Add(uint64(n))
	} else {
		s.totals.KeysOut.Add(uint64(n))
	}
}

// WriteRTP sends p to the peer.
func (s *RTPSession) WriteRTP(p *rtp.Packet) error {
	if s.paused.Load() {
		return nil
	}
	peer, _ := s.Peer()
	if !peer.IsValid() || peer.Port() == 0 {
		return errors.New("sip: rtp peer unknown")
	}
	b, err := p.Marshal()
	if err != nil {
		return err
	}
	if sp := s.srtp.Load(); sp != nil {
		if b, err = sp.encrypt(b); err != nil {
			return err
		}
	}
	if _, err := s.conn.WriteToUDPAddrPort(b, peer); err != nil {
		return err
	}
	s.PacketsOut.Add(1)
	if s.totals != nil {
		s.totals.RTPOut.Add(1)
	}
	return nil
}

// Done is closed when the session is closed.
func (s *RTPSession) Done() <-chan struct{} { return s.done }

// Close closes the socket and waits for the reader.
func (s *RTPSession) Close() error {
	s.mu.Lock()
	if !s.closed {
		close(s.done)
	}
	s.closed = true
	s.mu.Unlock()
	err := s.conn.Close()
	s.wg.Wait()
	return err
}

// SetSRTP encrypts the call's media with ours and decrypts it with theirs
// (SDES, sdes.go). Call it before Start and the first WriteRTP.
func (s *RTPSession) SetSRTP(ours, theirs *SDES) error {
	pair, err := newSRTPPair(ours, theirs)
	if err != nil {
		return err
	}
	s.srtp.Store(pair)
	return nil
}
