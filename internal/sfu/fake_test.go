package sfu

import (
	"encoding/binary"
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// fakeContext is a TrackLocalContext for binding DownTracks without pion.
type fakeContext struct {
	id     string
	ssrc   uint32
	rtx    uint32
	codecs []webrtc.RTPCodecParameters
	exts   []webrtc.RTPHeaderExtensionParameter
	w      webrtc.TrackLocalWriter
}

func (c *fakeContext) CodecParameters() []webrtc.RTPCodecParameters { return c.codecs }
func (c *fakeContext) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter {
	return c.exts
}
func (c *fakeContext) SSRC() webrtc.SSRC                       { return webrtc.SSRC(c.ssrc) }
func (c *fakeContext) SSRCRetransmission() webrtc.SSRC         { return webrtc.SSRC(c.rtx) }
func (c *fakeContext) SSRCForwardErrorCorrection() webrtc.SSRC { return 0 }
func (c *fakeContext) WriteStream() webrtc.TrackLocalWriter    { return c.w }
func (c *fakeContext) ID() string                              { return c.id }
func (c *fakeContext) RTCPReader() interceptor.RTCPReader      { return nil }

var (
	vp8Cap  = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	opusCap = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
)

func subscriberCodecs() []webrtc.RTPCodecParameters {
	return []webrtc.RTPCodecParameters{
		{RTPCodecCapability: opusCap, PayloadType: 111},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "video/rtx", ClockRate: 90000, SDPFmtpLine: "apt=100"}, PayloadType: 101},
		{RTPCodecCapability: vp8Cap, PayloadType: 100},
	}
}

// discardWriter counts writes; it is what benchmarks write to.
type discardWriter struct{ n int }

func (w *discardWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.n++
	return 12 + len(payload), nil
}
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// recordWriter keeps copies of everything written.
type recordWriter struct {
	mu   sync.Mutex
	pkts []rtp.Packet
}

func (w *recordWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pkts = append(w.pkts, rtp.Packet{Header: h.Clone(), Payload: append([]byte(nil), payload...)})
	return 12 + len(payload), nil
}
func (w *recordWriter) Write(b []byte) (int, error) { return len(b), nil }

func (w *recordWriter) take() []rtp.Packet {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.pkts
	w.pkts = nil
	return p
}

func bindFake(d *DownTrack, ssrc uint32, w webrtc.TrackLocalWriter) {
	_, err := d.Bind(&fakeContext{
		id: "ctx", ssrc: ssrc, codecs: subscriberCodecs(), w: w,
		exts: []webrtc.RTPHeaderExtensionParameter{{URI: sdp.ABSSendTimeURI, ID: 3}, {URI: sdp.AudioLevelURI, ID: 1}},
	})
	if err != nil {
		panic(err)
	}
}

// vp8Payload is a one-packet VP8 frame with a 15-bit picture ID and
// TL0PICIDX; the bytes after the descriptor name (layer, seq).
func vp8Payload(buf []byte, layer int, seq, pic uint16, tl0 uint8, key bool, size int) []byte {
	p := buf[:0]
	p = append(p, 0x90, 0xc0, 0x80|byte(pic>>8)&0x7f, byte(pic), tl0)
	if key {
		w, h := 320<<layer, 180<<layer
		p = append(p, vp8KeyHeader(w, h)...)
	} else {
		p = append(p, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	}
	p = append(p, 'L', byte(layer), byte(seq>>8), byte(seq))
	if len(p) < size {
		p = append(p, fillPattern[len(p):size]...)
	}
	return p
}

var fillPattern = func() []byte {
	b := make([]byte, slotSize)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()

// payloadID returns the (layer, source seq) a vp8Payload carries.
func payloadID(p []byte) (layer int, seq uint16, ok bool) {
	if len(p) < 19 || p[15] != 'L' {
		return 0, 0, false
	}
	return int(p[16]), binary.BigEndian.Uint16(p[17:]), true
}

// source generates the raw RTP packets of one simulcast layer.
type source struct {
	layer int
	ssrc  uint32
	seq   uint16
	ts    uint32
	pic   uint16
	tl0   uint8
	size  int
	pay   []byte
	raw   []byte
	delta bool // raw holds a delta frame that next can patch in place
}

func newSource(layer int, size int) *source {
	return &source{layer: layer, ssrc: 1000 + uint32(layer), seq: uint16(layer * 20000), ts: uint32(layer) * 77777,
		pic: uint16(layer * 1000), tl0: uint8(layer * 50), size: size,
		pay: make([]byte, 0, slotSize), raw: make([]byte, 0, slotSize)}
}

// next returns the next packet (one frame per packet, 33 ms apart).
func (s *source) next(key bool) []byte {
	s.seq++
	s.ts += 3000
	s.pic = (s.pic + 1) & 0x7fff
	s.tl0++
	if !key && s.delta {
		// Patch the previous delta packet: header seq/ts, picture ID, TL0PICIDX, payload id.
		r := s.raw
		binary.BigEndian.PutUint16(r[2:], s.seq)
		binary.BigEndian.PutUint32(r[4:], s.ts)
		binary.BigEndian.PutUint16(r[14:], 0x8000|s.pic)
		r[16] = s.tl0
		binary.BigEndian.PutUint16(r[12+17:], s.seq)
		return r
	}
	s.delta = !key
	pay := vp8Payload(s.pay, s.layer, s.seq, s.pic, s.tl0, key, s.size)
	h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: s.seq, Timestamp: s.ts, SSRC: s.ssrc, Marker: true}
	n, _ := h.MarshalTo(s.raw[:cap(s.raw)])
	s.raw = append(s.raw[:n], pay...)
	return s.raw
}
