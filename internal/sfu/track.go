package sfu

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Tunables. They are constants rather than options to keep the API small.
const (
	// KeyframeRequestInterval is the minimum time between two keyframe
	// requests sent upstream for one layer.
	KeyframeRequestInterval = 500 * time.Millisecond

	statsInterval    = 500 * time.Millisecond // layer bitrate measurement window
	layerIdleAfter   = 2 * time.Second        // a layer with no packet for this long is unavailable
	videoCacheSize   = 512                    // packets per video layer (about 2 s of a 2.5 Mbit/s layer)
	audioCacheSize   = 128                    // packets per audio track (2.5 s of 20 ms frames)
	videoSeqRingSize = 512                    // outgoing seq -> source map per video DownTrack
	audioSeqRingSize = 128

	// A subscriber that starts is sent the layer's latest keyframe and the
	// frames after it from the packet cache, instead of waiting for the
	// publisher to answer a keyframe request, if the keyframe is at most
	// replayMaxAge old and at most replayMaxPackets packets back.
	replayMaxAge     = time.Second
	replayMaxPackets = 256 // < videoCacheSize
)

// TrackOptions configure a Track.
type TrackOptions struct {
	// ID is the server-assigned track id. DownTracks use it as their track id.
	ID string
	// StreamID is the media stream id of the DownTracks (browsers lip-sync
	// tracks of one stream, so use the same StreamID for the audio and video
	// of one participant). Default: ID.
	StreamID string
	Kind     webrtc.RTPCodecType
	// Codec is the codec negotiated with the publisher; its mime type selects
	// keyframe parsing and its clock rate the timestamp arithmetic.
	Codec webrtc.RTPCodecCapability
	// AudioLevelExtID is the RFC 6464 header extension id negotiated on the
	// publisher PC (0 = none).
	AudioLevelExtID uint8
	// DTMFPayloadType is the publisher's RFC 4733 telephone-event payload
	// type (0 = none). Such packets share the audio's SSRC and numbering;
	// each DownTrack sends them with its subscriber's telephone-event
	// payload type, or leaves them out when the subscriber has none.
	DTMFPayloadType uint8
	// RequestKeyframe sends a PLI for the given publisher SSRC. The Track
	// throttles calls to one per KeyframeRequestInterval per layer. It is
	// called from read loops and RTCP loops without locks held; it must not
	// block for long.
	RequestKeyframe func(ssrc uint32)
	Logger          *slog.Logger
	Metrics         *Metrics // may be nil
	// Batch, if set, is held while one incoming packet is fanned out to the subscribers, so
	// that the copies leave in one system call sent by the read loop itself (rtc.Engine.Batch).
	Batch Batcher
}

// Batcher defers network writes between Hold and the last Release, which sends them together.
type Batcher interface {
	Hold()
	Release()
}

// Track is one published track with all its simulcast layers. It owns one
// packet cache per layer, shared by all subscribers, and fans packets out to
// its DownTracks.
type Track struct {
	opts      TrackOptions
	codec     codecKind
	clockRate uint32
	epoch     time.Time
	log       *slog.Logger
	metrics   *Metrics

	// subs is the copy-on-write subscriber list read by the read loops
	// without locking; mu serialises writers.
	subs atomic.Pointer[[]*DownTrack]
	mu   sync.Mutex

	layers [MaxLayers]layerState

	nextStats atomic.Int64 // monotonic ns of the next stats tick
	lastStats atomic.Int64

	level audioLevel

	clock func() int64 // test hook replacing now(); nil in production

	active    atomic.Int32 // running read loops
	closed    atomic.Bool
	closeOnce sync.Once
	done      chan struct{}
}

type layerState struct {
	added      atomic.Bool
	ssrc       atomic.Uint32
	cache      atomic.Pointer[packetCache]
	pli        keyframeThrottle
	lastPacket atomic.Int64  // monotonic ns
	bytes      atomic.Uint64 // received since the last stats tick
	bitrate    atomic.Int64  // smoothed bits/s
	size       atomic.Uint64 // width<<32 | height, 0 = unknown
	// in serialises the layer's packet handling: packets may come from the
	// read loop (pion) and from Input (our own SRTP path) at once. It guards
	// reader and kf, and the DownTracks' per-layer scratch.
	in     sync.Mutex
	reader *layerReader
	// kf is where the latest keyframe starts (set and read while handling
	// packets of the layer).
	kf keyframeMark
}

type keyframeMark struct {
	seq   uint16 // sequence number of the keyframe's first packet
	ts    uint32
	at    int64 // monotonic ns when it arrived
	valid bool
}

// NewTrack returns a Track with no layers; add them with AddLayer.
func NewTrack(opts TrackOptions) *Track {
	if opts.StreamID == "" {
		opts.StreamID = opts.ID
	}
	t := &Track{
		opts:      opts,
		codec:     codecKindOf(opts.Codec.MimeType),
		clockRate: opts.Codec.ClockRate,
		epoch:     time.Now(),
		log:       opts.Logger,
		metrics:   opts.Metrics,
		done:      make(chan struct{}),
	}
	if t.clockRate == 0 {
		t.clockRate = 90000
		if opts.Kind == webrtc.RTPCodecTypeAudio {
			t.clockRate = 48000
		}
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	t.log = t.log.With("track", opts.ID)
	if t.metrics == nil {
		t.metrics = &Metrics{}
	}
	empty := []*DownTrack{}
	t.subs.Store(&empty)
	return t
}

// ID returns the track id given in TrackOptions.
func (t *Track) ID() string { return t.opts.ID }

// Kind returns audio or video.
func (t *Track) Kind() webrtc.RTPCodecType { return t.opts.Kind }

// now returns monotonic nanoseconds since the Track was created (always > 0).
func (t *Track) now() int64 {
	if t.clock != nil {
		return t.clock()
	}
	return int64(time.Since(t.epoch)) + 1
}

// LayerSource is where one layer's packets come from: a *webrtc.TrackRemote,
// or a wrapper of one that looks at the packets as they pass.
type LayerSource interface {
	RTPReader
	RID() string
	SSRC() webrtc.SSRC
}

// AddLayer starts the read loop for one layer of the track: RID "" for a
// non-simulcast track, or "q", "h", "f" (low to high). The loop ends when the
// remote track ends (EOF) or the Track is closed; when the last loop ends the
// Track closes itself.
func (t *Track) AddLayer(remote LayerSource) error {
	l, ok := layerForRID(remote.RID())
	if !ok {
		return fmt.Errorf("sfu: track %s: unknown simulcast rid %q", t.opts.ID, remote.RID())
	}
	if err := t.startLayer(l, uint32(remote.SSRC())); err != nil {
		return err
	}
	go t.readLoop(l, remote)
	return nil
}

// RTPReader is where a layer's raw RTP packets come from: a
// *webrtc.TrackRemote, or a reader fed by a publisher that is not a WebRTC
// peer (a SIP call's plain RTP).
type RTPReader interface {
	Read(b []byte) (int, interceptor.Attributes, error)
}

// AddReader starts the only layer of a non-simulcast track, reading raw RTP
// packets from r until it returns io.EOF. ssrc is the publisher's SSRC.
func (t *Track) AddReader(ssrc uint32, r RTPReader) error {
	if err := t.startLayer(0, ssrc); err != nil {
		return err
	}
	go t.readLoop(0, r)
	return nil
}

// startLayer prepares layer l; the caller then runs its read loop.
func (t *Track) startLayer(l int, ssrc uint32) error {
	if t.closed.Load() {
		return errors.New("sfu: track closed")
	}
	ls := &t.layers[l]
	if !ls.added.CompareAndSwap(false, true) {
		return fmt.Errorf("sfu: track %s: layer %d added twice", t.opts.ID, l)
	}
	size := videoCacheSize
	if t.opts.Kind == webrtc.RTPCodecTypeAudio {
		size = audioCacheSize
	}
	ls.ssrc.Store(ssrc)
	ls.cache.Store(newPacketCache(size))
	// The reader last: a packet handled once it is set is cached too.
	ls.in.Lock()
	ls.reader = newLayerReader()
	ls.in.Unlock()
	t.active.Add(1)
	return nil
}

// layerReader is the state one read loop reuses for every packet.
type layerReader struct {
	hdr    rtp.Header
	pkt    packet
	replay replayScratch
}

// replayScratch is what a read loop reuses to replay cached packets to a
// subscriber that starts (DownTrack.replay).
type replayScratch struct {
	hdr rtp.Header
	buf []byte
	pkt packet
}

func newLayerReader() *layerReader {
	r := &layerReader{}
	r.hdr.CSRC = make([]uint32, 0, 15)
	r.hdr.Extensions = make([]rtp.Extension, 0, 16)
	r.replay.hdr.CSRC = make([]uint32, 0, 15)
	r.replay.hdr.Extensions = make([]rtp.Extension, 0, 16)
	r.replay.buf = make([]byte, slotSize)
	r.pkt.replay = &r.replay
	return r
}

// packet is one incoming packet as seen by the DownTracks. It is reused.
type packet struct {
	hdr        *rtp.Header
	payload    []byte
	keyframe   bool    // a subscriber may start (or switch) here
	desc       picDesc // VP8/VP9 picture ID location
	audioLevel int     // raw RFC 6464 byte, -1 if absent
	dtmf       bool    // an RFC 4733 telephone-event (TrackOptions.DTMFPayloadType)
	// replay is the read loop's scratch for replaying cached packets; nil
	// for a packet that is itself being replayed.
	replay *replayScratch
}

func (t *Track) readLoop(l int, remote RTPReader) {
	defer func() {
		if t.active.Add(-1) == 0 {
			t.Close()
		}
	}()
	buf := make([]byte, slotSize)
	loggedErr := false
	for {
		n, _, err := remote.Read(buf)
		if t.closed.Load() {
			return
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
				return
			}
			if !loggedErr {
				t.log.Debug("sfu: read error", "layer", l, "err", err)
				loggedErr = true
			}
			continue
		}
		t.input(l, buf[:n])
	}
}

// Input returns the function that feeds layer rid ("" for a non-simulcast
// track) with raw RTP packets from another source than its read loop: the
// media socket's own SRTP path (rtc.Fast.Receive), which decrypts in the
// socket's reading goroutine and hands the packets over without the
// goroutine hand-offs of pion's read side. The packet is not kept after
// the call. Returns nil for an unknown rid.
func (t *Track) Input(rid string) func(pkt []byte) {
	l, ok := layerForRID(rid)
	if !ok {
		return nil
	}
	return func(pkt []byte) {
		if !t.closed.Load() {
			t.input(l, pkt)
		}
	}
}

// input handles one packet of layer l, whichever path it came by.
func (t *Track) input(l int, raw []byte) {
	ls := &t.layers[l]
	ls.in.Lock()
	if ls.reader != nil {
		t.handle(l, ls.reader, raw, t.now())
	}
	ls.in.Unlock()
}

// handle processes one raw RTP packet of layer l: cache it, update layer
// statistics and audio level, and fan it out. It must not allocate.
func (t *Track) handle(l int, r *layerReader, raw []byte, now int64) {
	hl, err := r.hdr.Unmarshal(raw)
	if err != nil || r.hdr.Version != 2 {
		return
	}
	end := len(raw)
	if r.hdr.Padding {
		pad := int(raw[end-1])
		if pad == 0 || hl+pad > end {
			return
		}
		end -= pad
	}
	ls := &t.layers[l]
	ls.lastPacket.Store(now)
	ls.bytes.Add(uint64(len(raw)))

	p := &r.pkt
	p.hdr = &r.hdr
	p.payload = raw[hl:end]
	p.audioLevel = -1
	p.dtmf = t.opts.DTMFPayloadType != 0 && r.hdr.PayloadType == t.opts.DTMFPayloadType
	p.desc = noPicDesc
	p.keyframe = false
	if len(p.payload) > 0 {
		if c := ls.cache.Load(); c != nil {
			c.insert(r.hdr.SequenceNumber, raw)
		}
		if t.opts.Kind == webrtc.RTPCodecTypeAudio {
			p.keyframe = true
		} else {
			p.keyframe = isKeyframe(t.codec, p.payload)
			p.desc = parsePicDesc(t.codec, p.payload)
			if p.keyframe {
				t.noteKeyframeSize(ls, p.payload)
				// Several packets of one H.264 keyframe may start with a
				// keyframe NAL unit; the first of them marks it.
				if !ls.kf.valid || ls.kf.ts != r.hdr.Timestamp {
					ls.kf = keyframeMark{seq: r.hdr.SequenceNumber, ts: r.hdr.Timestamp, at: now, valid: true}
				}
			}
		}
	}
	if id := t.opts.AudioLevelExtID; id != 0 {
		if ext := r.hdr.GetExtension(id); len(ext) > 0 {
			p.audioLevel = int(ext[0])
			t.level.update(ext[0], now)
		}
	}

	t.maybeStats(now)

	var pkts, bytes uint64
	subs := *t.subs.Load()
	batch := t.opts.Batch
	if batch != nil && len(subs) > 0 {
		batch.Hold()
	}
	for _, d := range subs {
		if n := d.forward(l, p, now); n > 0 {
			pkts++
			bytes += uint64(n)
		}
	}
	if batch != nil && len(subs) > 0 {
		batch.Release()
	}
	if pkts > 0 {
		t.metrics.ForwardedPackets.Add(pkts)
		t.metrics.ForwardedBytes.Add(bytes)
	}
}

func (t *Track) noteKeyframeSize(ls *layerState, payload []byte) {
	var w, h int
	var ok bool
	switch t.codec {
	case codecVP8:
		w, h, ok = VP8KeyframeSize(payload)
	case codecVP9:
		w, h, ok = VP9KeyframeSize(payload)
	}
	if ok {
		ls.size.Store(uint64(w)<<32 | uint64(h))
	}
}

// maybeStats measures layer bitrates every statsInterval (one read loop wins
// the tick) and lets every subscriber re-evaluate its layer.
func (t *Track) maybeStats(now int64) {
	next := t.nextStats.Load()
	if now < next || !t.nextStats.CompareAndSwap(next, now+int64(statsInterval)) {
		return
	}
	last := t.lastStats.Swap(now)
	for l := 0; last != 0 && now > last && l < MaxLayers; l++ {
		elapsed := now - last
		ls := &t.layers[l]
		bits := int64(ls.bytes.Swap(0)) * 8
		rate := bits * int64(time.Second) / elapsed
		if old := ls.bitrate.Load(); old > 0 {
			rate = (old + rate) / 2
		}
		ls.bitrate.Store(rate)
	}
	if t.opts.Kind != webrtc.RTPCodecTypeVideo {
		return
	}
	for _, d := range *t.subs.Load() {
		d.reevaluate(now)
	}
}

// fillPolicy copies the layer state into a policy input.
func (t *Track) fillPolicy(in *policyInput, now int64) {
	for l := range t.layers {
		ls := &t.layers[l]
		lp := ls.lastPacket.Load()
		in.available[l] = ls.added.Load() && lp != 0 && now-lp < int64(layerIdleAfter)
		in.bitrate[l] = ls.bitrate.Load()
		if s := ls.size.Load(); s != 0 {
			in.width[l], in.height[l] = int(s>>32), int(s&0xffffffff)
		}
	}
	if in.available == [MaxLayers]bool{} {
		// Nothing received recently (start-up): aim at what was added.
		for l := range t.layers {
			in.available[l] = t.layers[l].added.Load()
		}
	}
}

// requestKeyframe asks the publisher for a keyframe on layer l, throttled.
func (t *Track) requestKeyframe(l int, now int64) {
	if l < 0 || l >= MaxLayers || t.opts.Kind != webrtc.RTPCodecTypeVideo {
		return
	}
	ls := &t.layers[l]
	if !ls.added.Load() || t.opts.RequestKeyframe == nil {
		return
	}
	if !ls.pli.allow(now, KeyframeRequestInterval) {
		return
	}
	t.metrics.PLIsSent.Add(1)
	t.opts.RequestKeyframe(ls.ssrc.Load())
}

// AudioLevel returns the smoothed recent loudness, 0..1 (linear amplitude
// from the RFC 6464 extension; 0.1 is -20 dBov), for active-speaker detection.
func (t *Track) AudioLevel() float64 { return t.level.level(t.now()) }

// Subscribe creates a DownTrack for one subscriber. Add it to the
// subscriber's PeerConnection with AddTrack and run HandleRTCP on the
// returned RTPSender. The DownTrack is removed by DownTrack.Close or when the
// Track closes.
func (t *Track) Subscribe(subscriberID string) *DownTrack {
	d := newDownTrack(t, subscriberID)
	t.mu.Lock()
	if t.closed.Load() {
		t.mu.Unlock()
		d.closed.Store(true)
		return d
	}
	old := *t.subs.Load()
	subs := make([]*DownTrack, len(old), len(old)+1)
	copy(subs, old)
	subs = append(subs, d)
	t.subs.Store(&subs)
	t.mu.Unlock()
	now := t.now()
	d.reevaluate(now)
	// Ask for a keyframe now rather than when the subscriber has answered
	// (Bind): by the time its transport is up, the keyframe is likely in
	// the cache and is replayed to it at once.
	d.RequestKeyframe()
	return d
}

func (t *Track) unsubscribe(d *DownTrack) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.subs.Load()
	subs := make([]*DownTrack, 0, len(old))
	for _, s := range old {
		if s != d {
			subs = append(subs, s)
		}
	}
	t.subs.Store(&subs)
}

// Close stops forwarding and closes all DownTracks. The read loops return at
// their next packet or when the publisher's receiver ends. Idempotent.
func (t *Track) Close() {
	t.closeOnce.Do(func() {
		t.mu.Lock()
		t.closed.Store(true)
		old := *t.subs.Load()
		empty := []*DownTrack{}
		t.subs.Store(&empty)
		t.mu.Unlock()
		for _, d := range old {
			d.closed.Store(true)
		}
		close(t.done)
	})
}

// Done is closed when the Track is closed, by Close or because all its
// layers ended.
func (t *Track) Done() <-chan struct{} { return t.done }
