package bench

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"switchboard/internal/client"
)

// Every synthetic packet carries, at a fixed offset behind the codec header bytes the SFU reads, the
// publisher's send time on the bench process's monotonic clock, a per-track packet counter and a
// magic number. Subscribers run in the same process, so one-way latency is now - send time, and
// loss is the gaps in the counter (which survives the SFU's sequence number rewriting).
const (
	stampOff    = 12
	stampLen    = 16
	stampMagic  = 0x53424e43 // "SBNC"
	minPayload  = stampOff + stampLen
	audioPeriod = 20 * time.Millisecond
)

// clock is the bench process's monotonic clock in nanoseconds.
type clock struct{ epoch time.Time }

func (c clock) now() int64 { return int64(time.Since(c.epoch)) }

func stamp(p []byte, now int64, counter uint32) {
	binary.BigEndian.PutUint64(p[stampOff:], uint64(now))
	binary.BigEndian.PutUint32(p[stampOff+8:], counter)
	binary.BigEndian.PutUint32(p[stampOff+12:], stampMagic)
}

// readStamp finds the stamp in a raw RTP packet (header parsed by hand: no allocation).
func readStamp(raw []byte) (sent int64, counter uint32, ok bool) {
	if len(raw) < 12 || raw[0]>>6 != 2 {
		return 0, 0, false
	}
	hl := 12 + 4*int(raw[0]&0x0f)
	if raw[0]&0x10 != 0 {
		if len(raw) < hl+4 {
			return 0, 0, false
		}
		hl += 4 + 4*int(binary.BigEndian.Uint16(raw[hl+2:]))
	}
	p := raw[min(hl, len(raw)):]
	if len(p) < minPayload || binary.BigEndian.Uint32(p[stampOff+12:]) != stampMagic {
		return 0, 0, false
	}
	return int64(binary.BigEndian.Uint64(p[stampOff:])), binary.BigEndian.Uint32(p[stampOff+8:]), true
}

// clientConfig is the synthetic clients' PeerConnection configuration. They decline RTP header
// extension encryption (cryptex, RFC 9335), which pion offers by default and browsers do not:
// Chromium negotiated none in the browser tests (2026-12-07). A server then encrypts and
// authenticates what browsers get, as it would for them.
var clientConfig = webrtc.Configuration{RTPHeaderEncryptionPolicy: webrtc.RTPHeaderEncryptionPolicyDisable}

// newClientAPI is the pion API shared by every synthetic client of a run: VP8 and Opus only, no
// interceptors (no NACK, reports or congestion control: the clients should cost as little CPU as
// possible, and loss must show as loss rather than be repaired), loopback only, AES-GCM SRTP first.
func newClientAPI() (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb}, PayloadType: 96}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType: 111}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	// Browsers send the audio level with every Opus packet; the SFU reads it for active speakers.
	if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	se := client.LoopbackSettings()
	se.SetReceiveMTU(1500)
	se.LoggerFactory = quietLogs()
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se)), nil
}

// pubTrack is one synthetic published track and its sender counters.
type pubTrack struct {
	kind     webrtc.RTPCodecType
	local    *webrtc.TrackLocalStaticRTP
	sender   *webrtc.RTPSender
	sent     atomic.Uint64
	keyframe atomic.Bool // a PLI or FIR asked for one
	levelExt uint8
}

func newPubTrack(kind webrtc.RTPCodecType, id, stream string) (*pubTrack, error) {
	c := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	if kind == webrtc.RTPCodecTypeAudio {
		c = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	}
	l, err := webrtc.NewTrackLocalStaticRTP(c, id, stream)
	if err != nil {
		return nil, err
	}
	return &pubTrack{kind: kind, local: l}, nil
}

// attach remembers the sender (after negotiation) to read keyframe requests and the audio level id.
func (t *pubTrack) attach(s *webrtc.RTPSender) {
	t.sender = s
	for _, e := range s.GetParameters().HeaderExtensions {
		if e.URI == sdp.AudioLevelURI && e.ID > 0 && e.ID < 15 {
			t.levelExt = uint8(e.ID)
		}
	}
	go t.readRTCP()
}

// readRTCP watches for PLI and FIR without decoding into allocated packets.
func (t *pubTrack) readRTCP() {
	buf := make([]byte, 1500)
	for {
		n, _, err := t.sender.Read(buf)
		if err != nil {
			return
		}
		for b := buf[:n]; len(b) >= 4; {
			l := (int(binary.BigEndian.Uint16(b[2:])) + 1) * 4
			fmt, pt := b[0]&0x1f, b[1]
			if pt == 206 && (fmt == 1 || fmt == 4) {
				t.keyframe.Store(true)
			}
			if l > len(b) {
				break
			}
			b = b[l:]
		}
	}
}

// run sends until ctx ends: video as bursts of packetsPerFrame packets every frame (as an encoder
// does), audio every 20 ms. Buffers are reused; nothing is allocated per packet.
func (t *pubTrack) run(ctx context.Context, clk clock, o *Options) {
	period := audioPeriod
	size, ppf := o.AudioPayload, 1
	if t.kind == webrtc.RTPCodecTypeVideo {
		period = time.Second / time.Duration(o.VideoFPS)
		size, ppf = o.VideoPayload, o.PacketsPerFrame
	}
	size = max(size, minPayload)
	// Publishers start at random phases, as independent encoders do.
	select {
	case <-time.After(rand.N(period)):
	case <-ctx.Done():
		return
	}
	tick := time.NewTicker(period)
	defer tick.Stop()
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(i)
	}
	level := []byte{0x1e} // -30 dBov, voice activity
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(rand.Uint32()), Timestamp: rand.Uint32()}}
	if t.levelExt != 0 {
		_ = pkt.Header.SetExtension(t.levelExt, level) // set once, reused for every packet
	}
	var counter uint32
	for frame := 0; ; frame++ {
		key := false
		if t.kind == webrtc.RTPCodecTypeVideo {
			key = frame%(o.VideoFPS*o.KeyframeSeconds) == 0 || t.keyframe.Swap(false)
			pkt.PayloadType = 96
		} else {
			pkt.PayloadType = 111
		}
		for i := 0; i < ppf; i++ {
			if t.kind == webrtc.RTPCodecTypeVideo {
				vp8Header(payload, i == 0, key)
			} else {
				payload[0] = 0x78 // Opus TOC: SILK+CELT hybrid, 20 ms, stereo=0
			}
			stamp(payload, clk.now(), counter)
			counter++
			pkt.Marker = i == ppf-1
			pkt.Payload = payload
			if err := t.local.WriteRTP(&pkt); err != nil {
				return
			}
			pkt.SequenceNumber++
			t.sent.Add(1)
		}
		if t.kind == webrtc.RTPCodecTypeVideo {
			pkt.Timestamp += 90000 / uint32(o.VideoFPS)
		} else {
			pkt.Timestamp += 960
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// vp8Header writes a one-byte VP8 payload descriptor and, on the first packet of a keyframe, the
// frame tag and start code of a 640x360 keyframe (what the SFU parses for layer sizes).
func vp8Header(p []byte, first, key bool) {
	p[0] = 0x00
	if first {
		p[0] = 0x10 // S: start of partition 0
	}
	p[1] = 0x01 // frame tag, bit 0 = 1: interframe
	if first && key {
		p[1] = 0x00
		p[4], p[5], p[6] = 0x9d, 0x01, 0x2a
		binary.LittleEndian.PutUint16(p[7:], 640)
		binary.LittleEndian.PutUint16(p[9:], 360)
	}
}

// receiver is one participant's receiving side: it counts and timestamps every packet of every
// track it gets.
type receiver struct {
	clk      clock
	window   *atomic.Bool // latency is recorded only inside the measurement window
	joinAt   atomic.Int64 // when the participant opened its socket (clock ns), 0 = not measured
	firstRTP atomic.Int64 // first packet after joinAt
	tracks   atomic.Int32
	lat      hist
	stats    []*trackStats // guarded by the runner's lock (appended from OnTrack)
}

type trackStats struct {
	received atomic.Uint64
	highest  atomic.Int64 // highest counter seen, -1 none
}

// read runs one goroutine per remote track: read, find the stamp, count.
func (r *receiver) read(remote *webrtc.TrackRemote, st *trackStats) {
	buf := make([]byte, 1500)
	for {
		n, _, err := remote.Read(buf)
		if err != nil {
			return
		}
		sent, ctr, ok := readStamp(buf[:n])
		if !ok {
			continue
		}
		now := r.clk.now()
		if r.firstRTP.Load() == 0 && r.joinAt.Load() != 0 {
			r.firstRTP.CompareAndSwap(0, now)
		}
		st.received.Add(1)
		if c := int64(ctr); c > st.highest.Load() {
			st.highest.Store(c)
		}
		if r.window.Load() && now > sent {
			r.lat.record(uint64(now-sent) / 1000)
		}
	}
}

// quietLogs keeps pion to errors: connections closing at the end of a scenario are expected.
func quietLogs() logging.LoggerFactory {
	f := logging.NewDefaultLoggerFactory()
	f.DefaultLogLevel = logging.LogLevelError
	return f
}

// reportReception sends an RTCP receiver report on a subscriber's connection once a second until it
// closes, as every real receiver does (RFC 3550 6.2; browsers send them with REMB). The synthetic
// clients have no interceptors, so without this a server would never hear from its subscribers.
// Switchboard's fast path, for one, sends with its own SRTP keys only once a packet from the
// receiver has proved them.
func reportReception(pc *webrtc.PeerConnection) {
	rr := []rtcp.Packet{&rtcp.ReceiverReport{SSRC: rand.Uint32()}} // #nosec G404: an SSRC
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for range tick.C {
		if pc.ConnectionState() == webrtc.PeerConnectionStateClosed {
			return
		}
		_ = pc.WriteRTCP(rr) // fails until DTLS is up
	}
}
