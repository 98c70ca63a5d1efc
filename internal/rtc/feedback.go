package rtc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
)

// Feedback produces a publish connection's receive-side RTCP (NACKs for lost packets, receiver reports,
// transport-wide congestion control feedback) from the RTP packets it is given, by whichever path
// received them: the fast path that decrypts on the media socket, or pion's TrackRemote. It runs pion's
// own interceptors (the ones the publish API used to register) on packets pushed into it, so the RTCP is
// what pion sent before. Safe for concurrent use.
type Feedback struct {
	chain  interceptor.Interceptor
	rtcpIn interceptor.RTCPReader

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
}

type feedbackStream struct {
	info   *interceptor.StreamInfo
	reader interceptor.RTPReader // the chain, ending in passThrough

	mu      sync.Mutex // serializes packets of this stream: attrs is reused
	attrs   interceptor.Attributes
	removed bool
}

var errFeedbackClosed = errors.New("rtc: feedback closed")

// NewFeedback starts the interceptors' goroutines (NACK, receiver report and transport-cc timers);
// write sends the RTCP they produce to the publisher.
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
	tw, err := twcc.NewSenderInterceptor()
	if err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	reg.Add(gen)
	reg.Add(rr)
	reg.Add(tw)
	chain, err := reg.Build("")
	if err != nil {
		return nil, err
	}
	f := &Feedback{chain: chain}
	chain.BindRTCPWriter(interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, _ interceptor.Attributes) (int, error) {
		return 0, write(pkts)
	}))
	f.rtcpIn = chain.BindRTCPReader(interceptor.RTCPReaderFunc(passThrough))
	return f, nil
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
		info:   info,
		reader: f.chain.BindRemoteStream(info, interceptor.RTPReaderFunc(passThrough)),
		attrs:  interceptor.Attributes{},
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
	f.chain.UnbindRemoteStream(s.info)
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
	if !s.removed {
		// The interceptors cache the parsed header in the attributes: start each packet empty.
		clear(s.attrs)
		_, _, _ = s.reader.Read(pkt, s.attrs) // a malformed packet is an error here, and simply not counted
	}
	s.mu.Unlock()
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
	return f.chain.Close()
}
