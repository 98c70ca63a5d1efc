package rtc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

// Feedback produces a publish connection's receive-side RTCP (NACKs for lost packets, receiver reports,
// transport-wide congestion control feedback) from the RTP packets it is given, by whichever path
// received them: the fast path that decrypts on the media socket, or pion's TrackRemote. It runs pion's
// own NACK generator and receiver report interceptors on packets pushed into it, and pion's transport-cc
// Recorder, so the RTCP is what pion sent before. Safe for concurrent use.
//
// Transport-cc does not go through pion's twcc.SenderInterceptor: that one hands every packet to its
// goroutine over an unbuffered channel, a goroutine rendezvous per packet (about 0.9 µs of the caller's
// time, and a wake-up on another core), which is the kind of per-packet hand-off the fast path removes.
// Here Received records into the Recorder under a mutex and a ticker goroutine builds the feedback.
//
// Retransmissions: an RTX stream is added with RepairOf set. Its packets count for its own receiver
// report and for transport-cc, and the original sequence number they carry counts as received for the
// repaired stream's NACKs, so that a repaired packet is no longer NACKed. (pion's NACK generator never
// saw repairs that came over RTX: it NACKed such a packet every 100 ms until 512 newer ones arrived.) A
// repair that pion's TrackRemote already turned back into an original packet is simply given to
// Received as a packet of the original stream.
type Feedback struct {
	nack, rr interceptor.Interceptor // pion's NACK generator and receiver report interceptors
	rtcpIn   interceptor.RTCPReader
	write    func([]rtcp.Packet) error

	twccMu    sync.Mutex
	twcc      *twcc.Recorder
	twccStart time.Time // arrival times are microseconds since then
	done      chan struct{}
	loopDone  chan struct{}

	mu      sync.Mutex // serializes AddStream, RemoveStream and Close
	closed  atomic.Bool
	streams atomic.Pointer[map[uint32]*feedbackStream] // copied on change: Received takes no lock to find a stream
}

// StreamParams describes one incoming RTP stream: a track, one simulcast layer, or an RTX stream.
type StreamParams struct {
	SSRC        uint32
	ClockRate   uint32
	MimeType    string // e.g. video/VP8, or video/rtx for a repair stream
	PayloadType uint8
	NACK        bool  // the codec negotiated "nack" feedback (never for RTX: RFC 4588 NACKs the original stream)
	TransportCC uint8 // negotiated transport-wide-cc header extension id, 0 = none
	// RepairOf is, for an RTX stream (RFC 4588), the SSRC of the stream it repairs; 0 otherwise.
	RepairOf uint32
}

type feedbackStream struct {
	info     *interceptor.StreamInfo
	nack, rr interceptor.RTPReader // the interceptors' readers, ending in passThrough
	tccID    uint8
	repairOf uint32

	mu          sync.Mutex // serializes packets of this stream: the headers and attributes are reused
	hdr         rtp.Header
	attrs       interceptor.Attributes
	repairHdr   rtp.Header // an RTX packet's original sequence number, for the repaired stream's NACKs
	repairAttrs interceptor.Attributes
	removed     bool
}

// rtpHeaderKey is the key under which pion's interceptors cache a packet's parsed header in its
// Attributes (Attributes.GetRTPHeader). Its type is unexported, so let pion store one header and take
// the key from the map. With it Received hands the chain a header it parsed into reused memory, instead
// of each packet allocating one; without it (a pion that caches differently) the chain parses again.
var rtpHeaderKey = func() any {
	a := interceptor.Attributes{}
	if _, err := a.GetRTPHeader([]byte{0x80, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3}); err != nil || len(a) != 1 {
		return nil
	}
	for k, v := range a {
		if h, ok := v.(*rtp.Header); ok && h.SSRC == 3 {
			return k
		}
	}
	return nil
}()

var errFeedbackClosed = errors.New("rtc: feedback closed")

// NewFeedback starts the goroutines of the NACK, receiver report and transport-cc timers; write sends
// the RTCP they produce to the publisher (it is called from those goroutines, never from Received).
func NewFeedback(write func([]rtcp.Packet) error) (*Feedback, error) {
	return newFeedback(write, time.Second)
}

// newFeedback lets tests shorten the receiver report interval (pion's default: 1 s).
func newFeedback(write func([]rtcp.Packet) error, reportInterval time.Duration) (*Feedback, error) {
	// The same interceptors and options newAPI registered on publish connections before the fast path.
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return nil, err
	}
	rr, err := report.NewReceiverInterceptor(report.ReceiverInterval(reportInterval))
	if err != nil {
		return nil, err
	}
	f := &Feedback{write: write,
		twcc: twcc.NewRecorder(rand.Uint32()), twccStart: time.Now(), // #nosec G404: an SSRC, not a secret
		done: make(chan struct{}), loopDone: make(chan struct{})}
	// Each interceptor is bound on its own rather than chained, so that a repair can reach the NACK
	// generator alone.
	if f.nack, err = gen.NewInterceptor(""); err != nil {
		return nil, err
	}
	if f.rr, err = rr.NewInterceptor(""); err != nil {
		return nil, err
	}
	w := interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, _ interceptor.Attributes) (int, error) {
		return 0, write(pkts)
	})
	f.nack.BindRTCPWriter(w) // starts its goroutine
	f.rr.BindRTCPWriter(w)   // starts its goroutine
	f.rtcpIn = f.rr.BindRTCPReader(interceptor.RTCPReaderFunc(passThrough))
	go f.twccLoop(twccInterval)
	return f, nil
}

// twccInterval is how often transport-cc feedback goes out: pion's default.
const twccInterval = 100 * time.Millisecond

func (f *Feedback) twccLoop(interval time.Duration) {
	defer close(f.loopDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-f.done:
			return
		case <-t.C:
			f.twccMu.Lock()
			pkts := f.twcc.BuildFeedbackPacket()
			f.twccMu.Unlock()
			if len(pkts) > 0 {
				if err := f.write(pkts); err != nil {
					slog.Debug("rtc: sending transport-cc feedback", "err", err)
				}
			}
		}
	}
}

// passThrough ends the interceptor chains in the pull model: the caller passes the packet being
// recorded as the read buffer, so "reading" it copies nothing.
func passThrough(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
	return len(b), a, nil
}

// AddStream starts feedback for one incoming SSRC.
func (f *Feedback) AddStream(p StreamParams) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed.Load() {
		return errFeedbackClosed
	}
	old := f.streams.Load()
	if old != nil && (*old)[p.SSRC] != nil {
		return fmt.Errorf("rtc: feedback for ssrc %d already added", p.SSRC)
	}
	info := &interceptor.StreamInfo{
		Attributes:  interceptor.Attributes{},
		SSRC:        p.SSRC,
		PayloadType: p.PayloadType,
		MimeType:    p.MimeType,
		ClockRate:   p.ClockRate,
	}
	if p.NACK {
		info.RTCPFeedback = []interceptor.RTCPFeedback{{Type: "nack"}}
	}
	if p.TransportCC != 0 {
		info.RTPHeaderExtensions = []interceptor.RTPHeaderExtension{{URI: sdp.TransportCCURI, ID: int(p.TransportCC)}}
	}
	s := &feedbackStream{
		info:        info,
		nack:        f.nack.BindRemoteStream(info, interceptor.RTPReaderFunc(passThrough)),
		rr:          f.rr.BindRemoteStream(info, interceptor.RTPReaderFunc(passThrough)),
		tccID:       p.TransportCC,
		repairOf:    p.RepairOf,
		attrs:       interceptor.Attributes{},
		repairAttrs: interceptor.Attributes{},
	}
	m := make(map[uint32]*feedbackStream, 1+lenOf(old))
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[p.SSRC] = s
	f.streams.Store(&m)
	return nil
}

func lenOf(m *map[uint32]*feedbackStream) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// RemoveStream stops feedback for ssrc; unknown SSRCs are ignored.
func (f *Feedback) RemoveStream(ssrc uint32) {
	f.mu.Lock()
	old := f.streams.Load()
	var s *feedbackStream
	if old != nil {
		s = (*old)[ssrc]
	}
	if s == nil {
		f.mu.Unlock()
		return
	}
	m := make(map[uint32]*feedbackStream, len(*old))
	for k, v := range *old {
		if k != ssrc {
			m[k] = v
		}
	}
	f.streams.Store(&m)
	f.mu.Unlock()

	// A Received that found s before the swap may still be inside; let it finish, then let no
	// other in, so the interceptors see no packet of the stream after they forget it.
	s.mu.Lock()
	s.removed = true
	s.mu.Unlock()
	f.nack.UnbindRemoteStream(s.info)
	f.rr.UnbindRemoteStream(s.info)
}

// Received records one plain (decrypted) RTP packet of a stream added with AddStream, arriving now.
// Packets of unknown SSRCs, and malformed ones, are ignored. pkt is not retained.
func (f *Feedback) Received(pkt []byte) {
	if len(pkt) < 12 || pkt[0]>>6 != 2 {
		return
	}
	m := f.streams.Load()
	if m == nil {
		return
	}
	s := (*m)[binary.BigEndian.Uint32(pkt[8:12])]
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		return
	}
	n, err := s.hdr.Unmarshal(pkt)
	if err != nil {
		return
	}
	clear(s.attrs)
	if rtpHeaderKey != nil {
		s.attrs[rtpHeaderKey] = &s.hdr
	}
	// The readers fail only on a header they cannot parse, which Unmarshal has already refused.
	_, _, _ = s.nack.Read(pkt, s.attrs)
	_, _, _ = s.rr.Read(pkt, s.attrs)
	if s.tccID != 0 {
		var tcc rtp.TransportCCExtension
		if ext := s.hdr.GetExtension(s.tccID); ext != nil && tcc.Unmarshal(ext) == nil {
			arrival := time.Since(f.twccStart).Microseconds()
			f.twccMu.Lock()
			f.twcc.Record(s.info.SSRC, tcc.TransportSequence, arrival)
			f.twccMu.Unlock()
		}
	}
	if s.repairOf != 0 {
		f.repaired(m, s, pkt, n)
	}
}

// repaired tells the repaired stream's NACK generator that the original of RTX packet pkt (header
// length n) has arrived. It hands the generator a parsed header carrying the original sequence
// number, so nothing is copied; without rtpHeaderKey that is impossible, and repairs go unnoticed as
// they did with pion's interceptors.
func (f *Feedback) repaired(m *map[uint32]*feedbackStream, s *feedbackStream, pkt []byte, n int) {
	end := len(pkt)
	if s.hdr.Padding {
		end -= int(pkt[end-1])
	}
	orig := (*m)[s.repairOf]
	if end-n < 2 || orig == nil || rtpHeaderKey == nil { // a padding-only probe carries no original
		return
	}
	s.repairHdr = rtp.Header{Version: 2, SSRC: s.repairOf, SequenceNumber: binary.BigEndian.Uint16(pkt[n:])}
	clear(s.repairAttrs)
	s.repairAttrs[rtpHeaderKey] = &s.repairHdr
	_, _, _ = orig.nack.Read(pkt, s.repairAttrs) // the receive log locks itself: orig.mu is not needed
}

// RTCP gives Feedback the publisher's incoming RTCP (sender reports, for the receiver reports'
// LSR/DLSR), raw (decrypted) compound packet bytes. raw is not retained.
func (f *Feedback) RTCP(raw []byte) {
	if f.closed.Load() {
		return
	}
	_, _, _ = f.rtcpIn.Read(raw, nil)
}

// Close stops the interceptors and their goroutines; Received and RTCP do nothing afterwards.
func (f *Feedback) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed.Swap(true) {
		return nil
	}
	f.streams.Store(nil)
	close(f.done)
	<-f.loopDone
	return errors.Join(f.nack.Close(), f.rr.Close())
}
