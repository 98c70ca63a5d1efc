package sfu

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Bandwidth probing: REMB from a receiver grows only to about 1.5x what it
// receives, so after a downgrade the estimate never reaches the next layer's
// bitrate by itself. After probeInterval without congestion the DownTrack
// tries the next layer up; if the estimate falls within probeWindow the probe
// failed, it goes back down and the interval doubles (up to maxProbeInterval).
const (
	baseProbeInterval = 10 * time.Second
	maxProbeInterval  = 2 * time.Minute
	probeWindow       = 5 * time.Second
)

// DownTrack sends one Track to one subscriber. It implements webrtc.TrackLocal
// so the room can add it to the subscriber's PeerConnection with AddTrack.
type DownTrack struct {
	// lost is the fraction of packets lost the subscriber last reported (RTCP receiver report, /256).
	lost         atomic.Uint32
	track        *Track
	subscriberID string

	bind        atomic.Pointer[binding]
	direct      atomic.Pointer[writerBox] // UseWriter's
	closed      atomic.Bool
	unready     atomic.Bool // the last write was dropped by pion (transport not up)
	rtcpRunning atomic.Bool
	transport   atomic.Pointer[webrtc.DTLSTransport] // the subscriber's, from HandleRTCP
	// rtcpMu serialises the handling of the subscriber's RTCP, which comes from HandleRTCP's loop
	// (pion) and from TakeRTCP (the fast path): it owns the retransmission scratch.
	rtcpMu sync.Mutex

	// Lock-free pre-filter for the read loops: packets of layers that are
	// neither current nor target are dropped without taking mu.
	curLayer atomic.Int32
	tgtLayer atomic.Int32

	// mu guards the fields below. It is a leaf lock, held only for O(1)
	// bookkeeping: never while writing to the network, calling the keyframe
	// callback, or taking another lock.
	mu            sync.Mutex
	current       int // layer being forwarded, -1 none
	target        int // layer wanted, -1 paused
	viewportSet   bool
	viewportW     int
	viewportH     int
	estimate      int64 // bits/s, 0 unknown
	decreasing    bool  // the estimate last moved down (congestion)
	probeInterval time.Duration
	nextProbe     int64 // monotonic ns; no probe before
	probeLayer    int   // layer being probed, -1 none
	probeAt       int64
	m             munger
	ring          []seqEntry
	ringMask      uint16
	sr            srState
	rtxCredit     int // retransmissions the subscriber may still ask for (see retransmit)

	// out[l] is scratch for packets of source layer l, used only by that
	// layer's read loop (one goroutine per layer), outside mu.
	out [MaxLayers]scratch
	// rtx and rtxIn are scratch for retransmissions, used only by the
	// HandleRTCP goroutine.
	rtx    scratch
	rtxIn  rtp.Header
	rtxSeq uint16 // sequence number of the RFC 4588 RTX stream
}

// srState is what an RTCP sender report (RFC 3550 6.4.1) says about the media SSRC: packets and
// payload octets sent, and the RTP timestamp of the latest frame with the time its first packet
// left, from which the report's RTP time is extrapolated. Kept here, under the DownTrack's mutex
// that forwarding takes anyway, instead of in pion's sender-report interceptor, which takes a
// mutex of its own and reads the clock for every packet.
type srState struct {
	packets uint32
	octets  uint32
	ts      uint32
	at      int64 // monotonic ns (Track.now) when the frame with ts was first sent
	valid   bool
}

// seqEntry maps an outgoing sequence number back to the source packet and
// the offsets that were applied, so a NACKed packet is rebuilt exactly.
type seqEntry struct {
	sentAt    int64 // Track.now when it was sent: a copy on the media SSRC repeats its abs-send-time
	tsOffset  uint32
	out       uint16
	src       uint16
	picOffset uint16
	layer     int8
	tl0Offset uint8
	valid     bool
}

type scratch struct {
	hdr rtp.Header
	buf []byte // payload copy for descriptor rewriting (video only)
	abs [3]byte
	lvl [1]byte
}

// Writer sends a subscriber's RTP by a path of its own instead of pion's
// (rtc.Fast: SRTP on the media socket). ok false means the path cannot send
// right now (keys not known yet, an ICE-TCP connection); the DownTrack then
// writes through pion.
type Writer interface {
	TryWriteRTP(h *rtp.Header, payload []byte) (n int, ok bool)
}

type writerBox struct{ w Writer }

// withDTMF is the binding for the subscriber's telephone-event packets.
func (b *binding) withDTMF() *binding {
	rb := *b
	rb.pt = b.dtmfPT
	return &rb
}

// UseWriter makes the DownTrack send through w whenever w can. Call it
// before the subscriber's connection is negotiated, so that every packet of
// the stream after the first few goes one way.
func (d *DownTrack) UseWriter(w Writer) { d.direct.Store(&writerBox{w}) }

// rtxCreditMax bounds the retransmissions a subscriber may ask for at once: about half a second of
// a high-quality video layer.
const rtxCreditMax = 256

// binding is the state from Bind: where and how to write.
// mimeTelephoneEvent is RFC 4733's media type (pion has no constant for it).
const mimeTelephoneEvent = "audio/telephone-event"

type binding struct {
	id            string
	ssrc          uint32
	pt            uint8
	dtmfPT        uint8  // the subscriber's telephone-event/8000 payload type; 0: none
	rtxSSRC       uint32 // 0: retransmit on the media SSRC
	rtxPT         uint8
	writer        webrtc.TrackLocalWriter
	absSendTimeID uint8
	audioLevelID  uint8
}

func newDownTrack(t *Track, subscriberID string) *DownTrack {
	d := &DownTrack{
		track:         t,
		subscriberID:  subscriberID,
		current:       -1,
		target:        0,
		probeLayer:    -1,
		probeInterval: baseProbeInterval,
	}
	size := videoSeqRingSize
	if t.opts.Kind == webrtc.RTPCodecTypeAudio {
		size = audioSeqRingSize
	}
	d.ring = make([]seqEntry, size)
	d.ringMask = uint16(size - 1)
	rewrite := t.codec == codecVP8 || t.codec == codecVP9
	for i := range d.out {
		d.out[i].init(rewrite)
	}
	d.rtx.init(true)
	d.rtxIn.CSRC = make([]uint32, 0, 15)
	d.rtxIn.Extensions = make([]rtp.Extension, 0, 16)
	d.curLayer.Store(-1)
	d.tgtLayer.Store(0)
	return d
}

func (s *scratch) init(withBuf bool) {
	s.hdr.Extensions = make([]rtp.Extension, 0, 2)
	s.hdr.CSRC = make([]uint32, 0, 15)
	if withBuf {
		s.buf = make([]byte, slotSize)
	}
}

// ID is the track id (TrackOptions.ID).
func (d *DownTrack) ID() string { return d.track.opts.ID }

// StreamID is TrackOptions.StreamID (default: the track id).
func (d *DownTrack) StreamID() string { return d.track.opts.StreamID }

// RID is empty: a DownTrack sends a single encoding.
func (d *DownTrack) RID() string { return "" }

// Kind is the kind of the published track.
func (d *DownTrack) Kind() webrtc.RTPCodecType { return d.track.opts.Kind }

// SubscriberID is the id given to Track.Subscribe.
func (d *DownTrack) SubscriberID() string { return d.subscriberID }

// Bind is called by pion when the subscriber PC starts sending. It picks the
// publisher's codec among the negotiated ones.
func (d *DownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codec, err := matchCodec(d.track.opts.Codec, ctx.CodecParameters())
	if err != nil {
		return webrtc.RTPCodecParameters{}, err
	}
	b := &binding{
		id:     ctx.ID(),
		ssrc:   uint32(ctx.SSRC()),
		pt:     uint8(codec.PayloadType),
		writer: ctx.WriteStream(),
	}
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, mimeTelephoneEvent) && c.ClockRate == 8000 {
			b.dtmfPT = uint8(c.PayloadType)
		}
	}
	if rtx := uint32(ctx.SSRCRetransmission()); rtx != 0 {
		if pt, ok := rtxPayloadType(codec.PayloadType, ctx.CodecParameters()); ok {
			b.rtxSSRC, b.rtxPT = rtx, pt
		}
	}
	for _, e := range ctx.HeaderExtensions() {
		if e.ID < 1 || e.ID > 14 { // one-byte header form only
			continue
		}
		switch e.URI {
		case sdp.ABSSendTimeURI:
			b.absSendTimeID = uint8(e.ID)
		case sdp.AudioLevelURI:
			if d.Kind() == webrtc.RTPCodecTypeAudio {
				b.audioLevelID = uint8(e.ID)
			}
		}
	}
	d.bind.Store(b)
	// A subscriber starts: it needs a keyframe.
	d.reevaluate(d.track.now())
	d.RequestKeyframe()
	return codec, nil
}

// Unbind is called by pion when the sender stops or the track is replaced.
func (d *DownTrack) Unbind(ctx webrtc.TrackLocalContext) error {
	if b := d.bind.Load(); b != nil && b.id == ctx.ID() {
		d.bind.CompareAndSwap(b, nil)
	}
	return nil
}

// rtxPayloadType finds the RFC 4588 payload type associated with pt.
func rtxPayloadType(pt webrtc.PayloadType, codecs []webrtc.RTPCodecParameters) (uint8, bool) {
	for _, c := range codecs {
		if strings.EqualFold(c.MimeType, webrtc.MimeTypeRTX) && fmtpValue(c.SDPFmtpLine, "apt", "") == strconv.Itoa(int(pt)) {
			return uint8(c.PayloadType), true
		}
	}
	return 0, false
}

// matchCodec finds the negotiated codec that carries the publisher's
// bitstream: same mime type, and for H.264 the same packetization mode and
// profile, for VP9 and AV1 the same profile.
func matchCodec(want webrtc.RTPCodecCapability, have []webrtc.RTPCodecParameters) (webrtc.RTPCodecParameters, error) {
	var fallback *webrtc.RTPCodecParameters
	for i := range have {
		c := &have[i]
		if !strings.EqualFold(c.MimeType, want.MimeType) {
			continue
		}
		if c.SDPFmtpLine == want.SDPFmtpLine {
			return *c, nil
		}
		if fallback == nil && fmtpCompatible(want.MimeType, want.SDPFmtpLine, c.SDPFmtpLine) {
			fallback = c
		}
	}
	if fallback != nil {
		return *fallback, nil
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

func fmtpCompatible(mime, a, b string) bool {
	switch codecKindOf(mime) {
	case codecH264:
		pa, pb := fmtpValue(a, "profile-level-id", "42001f"), fmtpValue(b, "profile-level-id", "42001f")
		return fmtpValue(a, "packetization-mode", "0") == fmtpValue(b, "packetization-mode", "0") &&
			len(pa) >= 4 && len(pb) >= 4 && strings.EqualFold(pa[:4], pb[:4])
	case codecVP9:
		return fmtpValue(a, "profile-id", "0") == fmtpValue(b, "profile-id", "0")
	case codecAV1:
		return fmtpValue(a, "profile", "0") == fmtpValue(b, "profile", "0")
	}
	return true
}

func fmtpValue(line, key, def string) string {
	for _, kv := range strings.Split(line, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok && strings.EqualFold(k, key) {
			return v
		}
	}
	return def
}

// forward sends one packet of source layer l if this DownTrack currently
// forwards that layer, or switches to it at a keyframe. It returns the bytes
// written (0 if the packet was not sent). Called by the layer's read loop;
// never blocks on anything but the network write, and does not allocate.
func (d *DownTrack) forward(l int, p *packet, now int64) int {
	b := d.bind.Load()
	if b == nil {
		return 0
	}
	if int32(l) != d.curLayer.Load() && int32(l) != d.tgtLayer.Load() {
		return 0
	}
	seq, ts := p.hdr.SequenceNumber, p.hdr.Timestamp

	d.mu.Lock()
	if d.target == paused {
		d.mu.Unlock()
		return 0
	}
	if l != d.current {
		if l != d.target {
			d.mu.Unlock()
			return 0
		}
		if !p.keyframe {
			starting := d.current < 0
			d.mu.Unlock()
			if d.waitingForTransport() {
				return 0
			}
			if starting && p.replay != nil {
				if n, ok := d.replay(l, p, now); ok {
					return n
				}
			}
			d.track.requestKeyframe(l, now)
			return 0
		}
		d.m.begin(seq, ts, p.desc, now, d.track.clockRate)
		d.current = l
		d.curLayer.Store(int32(l))
	}
	if len(p.payload) == 0 || (p.dtmf && b.dtmfPT == 0) {
		d.m.skip(seq)
		d.mu.Unlock()
		return 0
	}
	r, ok := d.m.munge(seq, ts, p.desc, now)
	if !ok {
		d.mu.Unlock()
		return 0
	}
	// A source packet that arrives twice (a publisher's retransmission of a packet that was only
	// late, a network duplicate) maps to an outgoing sequence number already sent. Sending it again
	// would encrypt one SRTP index twice with a different header (a new abs-send-time): with AES-GCM
	// that reuses a nonce. The receiver has it already anyway.
	// A late packet further back than the ring remembers cannot be told from such a duplicate: it
	// is dropped too (the receiver has long played past it).
	if e := &d.ring[r.seq&d.ringMask]; (e.valid && e.out == r.seq && e.src == seq && e.layer == int8(l)) ||
		d.m.lastSeq-r.seq >= uint16(len(d.ring)) {
		d.mu.Unlock()
		return 0
	}
	d.ring[r.seq&d.ringMask] = seqEntry{
		sentAt:    now,
		tsOffset:  d.m.tsOffset,
		out:       r.seq,
		src:       seq,
		picOffset: d.m.picOffset,
		layer:     int8(l),
		tl0Offset: d.m.tl0Offset,
		valid:     true,
	}
	d.sr.packets++
	d.sr.octets += uint32(len(p.payload))
	if d.rtxCredit < rtxCreditMax {
		d.rtxCredit++
	}
	if r.seq == d.m.lastSeq && (r.ts != d.sr.ts || !d.sr.valid) { // in order, a new frame
		d.sr.ts, d.sr.at, d.sr.valid = r.ts, now, true
	}
	d.mu.Unlock()

	s := &d.out[l]
	payload := p.payload
	if r.rewritePic && s.buf != nil {
		n := copy(s.buf, payload)
		payload = s.buf[:n]
		p.desc.write(payload, r.pic, r.tl0)
	}
	if p.dtmf {
		b = b.withDTMF()
	}
	n, err := d.write(b, s, p.hdr.Marker, r.seq, r.ts, p.audioLevel, payload, now)
	if n == 0 {
		// Not sent: pion drops writes (0, nil) until the subscriber's DTLS
		// is up. The sender report must not count it, and for video the
		// keyframe we started with never arrived: start over at the next.
		video := err == nil && d.Kind() == webrtc.RTPCodecTypeVideo
		if video {
			d.unready.Store(true)
		}
		d.mu.Lock()
		d.sr.packets--
		d.sr.octets -= uint32(len(payload))
		if video && d.current == l {
			d.current = -1
			d.curLayer.Store(-1)
		}
		d.mu.Unlock()
	} else if d.unready.Load() {
		d.unready.Store(false)
	}
	return n
}

// replay starts a subscriber that is not receiving anything on layer l at
// the layer's latest keyframe, if it is recent (replayMaxAge,
// replayMaxPackets) and still in the cache: the keyframe and every packet
// after it up to p are sent from the cache, then p itself, all with the
// usual munging, so the subscriber sees one continuous stream that starts at
// a keyframe without waiting for the publisher to answer a keyframe request.
// Called by the layer's read loop (which owns the keyframe mark and the
// replay scratch). ok is false if nothing could be replayed.
func (d *DownTrack) replay(l int, p *packet, now int64) (int, bool) {
	ls := &d.track.layers[l]
	kf := ls.kf
	back := p.hdr.SequenceNumber - kf.seq
	if !kf.valid || now-kf.at > int64(replayMaxAge) || back == 0 || back > replayMaxPackets {
		return 0, false
	}
	c := ls.cache.Load()
	if c == nil {
		return 0, false
	}
	rs := p.replay
	total, sent := 0, 0
	for i := uint16(0); i < back; i++ {
		n := c.get(kf.seq+i, rs.buf)
		if n == 0 {
			if i == 0 {
				return 0, false // the keyframe itself is gone
			}
			continue // lost (or not yet repaired): the subscriber NACKs the gap
		}
		raw := rs.buf[:n]
		hl, err := rs.hdr.Unmarshal(raw)
		if err != nil {
			if i == 0 {
				return 0, false
			}
			continue
		}
		end := len(raw)
		if rs.hdr.Padding {
			if pad := int(raw[end-1]); pad > 0 && hl+pad <= end {
				end -= pad
			}
		}
		q := &rs.pkt
		q.hdr = &rs.hdr
		q.payload = raw[hl:end]
		q.keyframe = i == 0
		q.desc = parsePicDesc(d.track.codec, q.payload)
		q.audioLevel = -1
		q.replay = nil
		w := d.forward(l, q, now)
		if i == 0 && d.Layer() != l {
			return 0, false // the keyframe was not taken (e.g. dropped before DTLS)
		}
		if w > 0 {
			total += w
			sent++
		}
	}
	if sent > 0 {
		d.track.metrics.ForwardedPackets.Add(uint64(sent))
		d.track.metrics.ForwardedBytes.Add(uint64(total))
		d.track.metrics.KeyframesReplayed.Add(1)
	}
	// p itself follows as the next packet of the segment; the caller counts it.
	return d.forward(l, p, now), true
}

// waitingForTransport reports whether writes are being dropped because the
// subscriber's DTLS transport is not connected yet. Keyframe requests would
// be wasted then (and a subscriber whose ICE fails would make the publisher
// send keyframes until it is removed); they resume once it connects.
func (d *DownTrack) waitingForTransport() bool {
	if !d.unready.Load() {
		return false
	}
	tr := d.transport.Load()
	return tr != nil && tr.State() != webrtc.DTLSTransportStateConnected
}

// write fills the scratch header and writes one packet.
func (d *DownTrack) write(b *binding, s *scratch, marker bool, seq uint16, ts uint32, level int,
	payload []byte, now int64,
) (int, error) {
	h := &s.hdr
	h.Version = 2
	h.Padding = false
	h.PaddingSize = 0
	h.Marker = marker
	h.PayloadType = b.pt
	h.SequenceNumber = seq
	h.Timestamp = ts
	h.SSRC = b.ssrc
	h.CSRC = h.CSRC[:0]
	h.ClearExtensions()
	if b.absSendTimeID != 0 {
		putAbsSendTime(s.abs[:], now)
		_ = h.SetExtension(b.absSendTimeID, s.abs[:])
	}
	if b.audioLevelID != 0 && level >= 0 {
		s.lvl[0] = byte(level)
		_ = h.SetExtension(b.audioLevelID, s.lvl[:])
	}
	if w := d.direct.Load(); w != nil {
		if n, ok := w.w.TryWriteRTP(h, payload); ok {
			return n, nil
		}
	}
	return b.writer.WriteRTP(h, payload)
}

// putAbsSendTime writes the 24-bit 6.18 fixed-point seconds of abs-send-time.
// Only differences matter to the receiver, so the monotonic clock is used.
func putAbsSendTime(dst []byte, now int64) {
	sec := uint64(now) / uint64(time.Second)
	frac := uint64(now) % uint64(time.Second)
	v := (sec<<18 | frac<<18/uint64(time.Second)) & 0xffffff
	dst[0], dst[1], dst[2] = byte(v>>16), byte(v>>8), byte(v)
}

// reevaluate recomputes the target layer from the layer stats, the viewport
// and the bandwidth estimate. On a change it asks for a keyframe on the new
// target; the switch happens when that keyframe arrives.
func (d *DownTrack) reevaluate(now int64) {
	if d.Kind() != webrtc.RTPCodecTypeVideo {
		return
	}
	var in policyInput
	d.track.fillPolicy(&in, now)

	d.mu.Lock()
	in.viewportSet, in.viewportW, in.viewportH = d.viewportSet, d.viewportW, d.viewportH
	in.current, in.probe = -1, -1
	capLayer := selectLayer(in) // what the viewport alone allows
	in.current = d.current
	in.estimate, in.decreasing = d.estimate, d.decreasing

	// Probe lifecycle: a congestion signal ends a probe as failed (back off
	// more); a probe window without one ends it as a success.
	if d.probeLayer >= 0 {
		switch {
		case in.decreasing:
			d.probeLayer = -1
			d.probeInterval = min(2*d.probeInterval, maxProbeInterval)
			d.nextProbe = now + int64(d.probeInterval)
		case now-d.probeAt >= int64(probeWindow):
			d.probeLayer = -1
			d.probeInterval = baseProbeInterval
			d.nextProbe = now + int64(d.probeInterval)
		default:
			in.probe = d.probeLayer
		}
	}
	tgt := selectLayer(in)
	if d.probeLayer < 0 && d.estimate > 0 && d.current >= 0 && tgt == d.current && d.current < capLayer &&
		now >= d.nextProbe {
		for l := d.current + 1; l <= capLayer; l++ {
			if in.available[l] {
				d.probeLayer, d.probeAt = l, now
				d.decreasing = false // the probe needs fresh evidence of congestion to fail
				in.probe, in.decreasing = l, false
				tgt = selectLayer(in)
				break
			}
		}
	}
	if tgt >= 0 && d.current >= 0 && tgt < d.current && tgt < capLayer && d.probeLayer < 0 &&
		d.nextProbe < now+int64(d.probeInterval) {
		// Went down for bandwidth: wait before probing again.
		d.nextProbe = now + int64(d.probeInterval)
	}
	if tgt > d.current && d.current >= 0 {
		d.decreasing = false // an upgrade needs fresh evidence of congestion to undo
	}

	changed := tgt != d.target
	d.target = tgt
	d.tgtLayer.Store(int32(tgt))
	if tgt == paused {
		d.current = -1
		d.curLayer.Store(-1)
	}
	need := changed && tgt >= 0 && tgt != d.current
	d.mu.Unlock()

	if need && d.bind.Load() != nil {
		d.track.requestKeyframe(tgt, now)
	}
}

// SetViewport sets the size the subscriber renders this track at. 0x0 pauses
// the track (nothing is sent); any other size resumes it, starting at a
// keyframe. The layer chosen is the smallest that covers the size.
func (d *DownTrack) SetViewport(width, height int) {
	d.mu.Lock()
	d.viewportSet = true
	d.viewportW, d.viewportH = max(width, 0), max(height, 0)
	d.mu.Unlock()
	d.reevaluate(d.track.now())
}

// Layer returns the layer being forwarded (0 = q/lowest .. 2 = f), or -1
// while paused or waiting for a keyframe.
func (d *DownTrack) Layer() int { return int(d.curLayer.Load()) }

// RequestKeyframe asks the publisher for a keyframe on the layer this
// subscriber receives (throttled per layer).
func (d *DownTrack) RequestKeyframe() {
	d.mu.Lock()
	l := d.current
	if l < 0 {
		l = d.target
	}
	d.mu.Unlock()
	d.track.requestKeyframe(l, d.track.now())
}

// Close detaches the DownTrack from its Track; nothing more is sent. The room
// still removes the RTPSender from the subscriber PC. Idempotent.
func (d *DownTrack) Close() {
	if d.closed.CompareAndSwap(false, true) {
		d.track.unsubscribe(d)
	}
}

// HandleRTCP reads RTCP for this DownTrack from sender until the sender is
// stopped or the DownTrack closed: NACK is answered from the Track's packet
// cache, PLI/FIR become a throttled keyframe request upstream, REMB drives
// the layer choice. Run it in its own goroutine, once per DownTrack.
func (d *DownTrack) HandleRTCP(sender *webrtc.RTPSender) {
	if !d.rtcpRunning.CompareAndSwap(false, true) {
		return // one RTCP loop per DownTrack: it owns the retransmission scratch
	}
	if tr := sender.Transport(); tr != nil {
		d.transport.Store(tr)
	}
	buf := make([]byte, 1500)
	for {
		n, _, err := sender.Read(buf)
		if err != nil || d.closed.Load() {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		d.rtcpMu.Lock()
		d.handleRTCP(pkts)
		d.rtcpMu.Unlock()
	}
}

// TakeRTCP handles a compound RTCP packet from the subscriber that arrived on the fast path, if it
// concerns this DownTrack's stream: as pion's SRTCP session delivers a compound packet to every
// sender that one of its packets is addressed to. dests is RTCPDestinations(pkts), worked out once
// for all the subscriber's DownTracks. Safe to call from any goroutine.
func (d *DownTrack) TakeRTCP(pkts []rtcp.Packet, dests []uint32) {
	b := d.bind.Load()
	if b == nil || d.closed.Load() || !slices.Contains(dests, b.ssrc) {
		return
	}
	d.rtcpMu.Lock()
	d.handleRTCP(pkts)
	d.rtcpMu.Unlock()
}

// RTCPDestinations lists the SSRCs a compound RTCP packet is addressed to (each packet's
// DestinationSSRC), for TakeRTCP.
func RTCPDestinations(pkts []rtcp.Packet) []uint32 {
	var dests []uint32
	for _, p := range pkts {
		dests = append(dests, p.DestinationSSRC()...)
	}
	return dests
}

// handleRTCP acts on a compound RTCP packet from the subscriber. Called with rtcpMu held (or by a
// test that is the only caller).
func (d *DownTrack) handleRTCP(pkts []rtcp.Packet) {
	b := d.bind.Load()
	if b == nil {
		return
	}
	keyframe := false
	for _, pkt := range pkts {
		switch p := pkt.(type) {
		case *rtcp.TransportLayerNack:
			if p.MediaSSRC != b.ssrc {
				continue
			}
			for i := range p.Nacks {
				more := true
				p.Nacks[i].Range(func(seq uint16) bool {
					d.track.metrics.NACKsReceived.Add(1)
					more = d.retransmit(b, seq)
					return more
				})
				if !more {
					break
				}
			}
		case *rtcp.PictureLossIndication:
			keyframe = keyframe || p.MediaSSRC == b.ssrc
		case *rtcp.FullIntraRequest:
			for _, e := range p.FIR {
				keyframe = keyframe || e.SSRC == b.ssrc
			}
		case *rtcp.ReceiverEstimatedMaximumBitrate:
			d.onEstimate(p)
		case *rtcp.ReceiverReport:
			for _, r := range p.Reports {
				if r.SSRC == b.ssrc {
					d.lost.Store(uint32(r.FractionLost))
				}
			}
		}
	}
	if keyframe {
		d.RequestKeyframe()
	}
}

// onEstimate takes a REMB. The estimate covers every stream the subscriber
// receives over its PeerConnection; this track's share is the estimate
// divided by the number of SSRCs it lists.
func (d *DownTrack) onEstimate(p *rtcp.ReceiverEstimatedMaximumBitrate) {
	share := int64(p.Bitrate)
	if n := len(p.SSRCs); n > 1 {
		share /= int64(n)
	}
	d.mu.Lock()
	// The congestion signal is the direction of the last real change; a
	// steady estimate keeps it, so a downgrade in progress is not undone by
	// the next identical REMB.
	switch {
	case d.estimate == 0 || share < d.estimate*97/100:
		d.decreasing = true
	case share > d.estimate*103/100:
		d.decreasing = false
	}
	d.estimate = share
	d.mu.Unlock()
	d.reevaluate(d.track.now())
}

// retransmit resends the packet that went out with sequence number seq,
// rebuilt from the Track's shared cache: on the RTX stream if one was
// negotiated (RFC 4588: own SSRC and sequence numbers, the original sequence
// number prefixed to the payload), else as a copy on the media SSRC.
// Receivers drop a same-SSRC copy of a packet they already have as an SRTP
// replay, which is harmless: they only NACK what they miss.
//
// Each retransmission spends one unit of credit, and each packet forwarded earns one (up to
// rtxCreditMax): a subscriber gets at most as many retransmissions as packets, however many
// sequence numbers its NACKs list. false: the credit is spent.
func (d *DownTrack) retransmit(b *binding, seq uint16) bool {
	d.mu.Lock()
	if d.rtxCredit == 0 {
		d.mu.Unlock()
		return false
	}
	d.rtxCredit--
	e := d.ring[seq&d.ringMask]
	d.mu.Unlock()
	m := d.track.metrics
	if !e.valid || e.out != seq {
		m.CacheMisses.Add(1)
		return true
	}
	c := d.track.layers[e.layer].cache.Load()
	if c == nil {
		m.CacheMisses.Add(1)
		return true
	}
	s := &d.rtx
	n := c.get(e.src, s.buf)
	if n == 0 {
		m.CacheMisses.Add(1)
		return true
	}
	raw := s.buf[:n]
	h := &d.rtxIn
	hl, err := h.Unmarshal(raw)
	if err != nil {
		return true
	}
	end := len(raw)
	if h.Padding {
		if pad := int(raw[end-1]); pad > 0 && hl+pad <= end {
			end -= pad
		}
	}
	payload := raw[hl:end]
	desc := parsePicDesc(d.track.codec, payload)
	if desc.picOff >= 0 || desc.tl0Off >= 0 {
		desc.write(payload, (desc.pic+e.picOffset)&desc.picMask(), desc.tl0+e.tl0Offset)
	}
	level := -1
	if id := d.track.opts.AudioLevelExtID; id != 0 {
		if ext := h.GetExtension(id); len(ext) > 0 {
			level = int(ext[0])
		}
	}
	ts, now := h.Timestamp+e.tsOffset, d.track.now()
	if b.rtxSSRC != 0 {
		// The parsed header is no longer needed: put the OSN in front of the
		// payload, over the end of the cached header (at least 12 bytes).
		payload = raw[hl-2 : end]
		payload[0], payload[1] = byte(seq>>8), byte(seq)
		d.rtxSeq++
		rb := *b
		rb.ssrc, rb.pt = b.rtxSSRC, b.rtxPT
		_, err = d.write(&rb, s, h.Marker, d.rtxSeq, ts, level, payload, now)
	} else {
		// The same SRTP index again: only a byte-identical packet may be encrypted twice (AES-GCM
		// nonces), so it carries the abs-send-time it was first sent with, and a keypad tone its
		// telephone-event payload type.
		if dtmf := d.track.opts.DTMFPayloadType; dtmf != 0 && h.PayloadType == dtmf {
			if b.dtmfPT == 0 {
				return true // never sent
			}
			b = b.withDTMF()
		}
		var n int
		n, err = d.write(b, s, h.Marker, seq, ts, level, payload, e.sentAt)
		if n > 0 { // a copy on the media SSRC is one more packet sent there
			d.mu.Lock()
			d.sr.packets++
			d.sr.octets += uint32(len(payload))
			d.mu.Unlock()
		}
	}
	if err == nil {
		m.Retransmitted.Add(1)
	}
	return true
}

// SenderReport returns the RTCP sender report for the media this DownTrack
// has sent, stamped with the wall-clock time wall, and false before it has
// sent anything (RFC 3550 6.4: such a source sends no SR) or before Bind.
// The RTP time is the latest frame's timestamp advanced by the time since
// its first packet left, at the codec's clock rate; a retransmission on the
// RTX stream is not counted (it has its own SSRC). Safe from any goroutine.
func (d *DownTrack) SenderReport(wall time.Time) (rtcp.SenderReport, bool) {
	b := d.bind.Load()
	if b == nil {
		return rtcp.SenderReport{}, false
	}
	now := d.track.now()
	d.mu.Lock()
	sr := d.sr
	d.mu.Unlock()
	if !sr.valid || sr.packets == 0 {
		return rtcp.SenderReport{}, false
	}
	elapsed := max(now-sr.at, 0)
	return rtcp.SenderReport{
		SSRC:        b.ssrc,
		NTPTime:     ntpTime(wall),
		RTPTime:     sr.ts + uint32(uint64(elapsed)*uint64(d.track.clockRate)/uint64(time.Second)),
		PacketCount: sr.packets,
		OctetCount:  sr.octets,
	}, true
}

// ntpTime is wall in the 64-bit NTP format: seconds since 1900 in the high
// 32 bits, the fraction of a second in the low 32.
func ntpTime(wall time.Time) uint64 {
	const unixToNTP = 2208988800 // seconds from 1900-01-01 to 1970-01-01
	sec := uint64(wall.Unix()) + unixToNTP
	frac := uint64(wall.Nanosecond()) << 32 / uint64(time.Second)
	return sec<<32 | frac
}

// SenderReports appends the sender reports of the DownTracks that have sent
// media to pkts; write them to the subscriber's connection about once a
// second (peer does). Several fit in one compound RTCP packet.
func SenderReports(pkts []rtcp.Packet, dts []*DownTrack, wall time.Time) []rtcp.Packet {
	for _, d := range dts {
		if sr, ok := d.SenderReport(wall); ok {
			pkts = append(pkts, &sr)
		}
	}
	return pkts
}

// Loss is the fraction of packets (0..1) the subscriber last reported lost, for connection quality.
func (d *DownTrack) Loss() float64 { return float64(d.lost.Load()) / 256 }
