package peer

import (
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"switchboard/internal/rtc"
	"switchboard/internal/sfu"
)

// fastPath is a peer's use of the engine's SRTP fast path (rtc.Fast): subscribers' media is
// encrypted and sent on the media socket directly, and publishers' media is decrypted in the
// socket's reading goroutine and handed straight to the SFU, skipping pion's per-packet layers.
// pion still runs ICE, DTLS and RTCP, and carries the media until the keys are known and on
// ICE-TCP. Since pion no longer sees most incoming packets, the receive-side RTCP its interceptors
// produced (NACKs, receiver reports, transport-wide congestion feedback) comes from feedback, fed
// by both paths.
type fastPath struct {
	pub, sub *rtc.Fast
	feedback *rtc.Feedback
	log      interface{ Warn(string, ...any) }

	mu     sync.Mutex
	owners map[uint32]*fastLayer // incoming SSRC (media or RTX) -> the layer that has it now

	// downTracks are the subscribe connection's DownTracks, which the subscriber's RTCP on the
	// fast path goes to. Replaced (never changed in place) by the peer's loop.
	downTracks atomic.Pointer[[]*sfu.DownTrack]
}

// rtxPoll bounds how long a retransmission from a publisher can wait in pion when it does not take
// the fast path (its RTX SSRC not known yet, ICE-TCP). pion hands RTX packets over only from
// TrackRemote.Read, and while the fast path carries the media that read has nothing else to
// return: a read deadline makes it come back this often.
const rtxPoll = 20 * time.Millisecond

// newFastPath returns nil when the engine runs without the fast path.
func newFastPath(e *rtc.Engine, pub, sub *webrtc.PeerConnection, log interface{ Warn(string, ...any) }) (*fastPath, error) {
	fpub := e.Fast(pub)
	if fpub == nil {
		return nil, nil
	}
	fb, err := rtc.NewFeedback(func(pkts []rtcp.Packet) error { return pub.WriteRTCP(pkts) })
	if err != nil {
		fpub.Close()
		return nil, err
	}
	f := &fastPath{pub: fpub, sub: e.Fast(sub), feedback: fb, log: log, owners: map[uint32]*fastLayer{}}
	if f.sub != nil {
		f.sub.ReceiveRTCP(f.subscriberRTCP)
	}
	return f, nil
}

// subscriberRTCP takes a compound RTCP packet from the subscriber (receiver reports, NACKs, PLIs,
// REMB) on the fast path, in the media socket's reading goroutine, and gives it to the DownTracks it
// concerns.
func (f *fastPath) subscriberRTCP(raw []byte) {
	pkts, err := rtcp.Unmarshal(raw)
	if err != nil {
		return
	}
	if dts := f.downTracks.Load(); dts != nil {
		dests := sfu.RTCPDestinations(pkts)
		for _, d := range *dts {
			d.TakeRTCP(pkts, dests)
		}
	}
}

func (f *fastPath) close() {
	f.pub.Close()
	if f.sub != nil {
		f.sub.Close()
	}
	_ = f.feedback.Close()
}

// subscribe makes a DownTrack send through the fast path when it can, and take its RTCP from it.
// Called by the peer's loop.
func (f *fastPath) subscribe(dt *sfu.DownTrack) {
	if f.sub == nil {
		return
	}
	dt.UseWriter(f.sub)
	var next []*sfu.DownTrack
	if cur := f.downTracks.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, dt)
	f.downTracks.Store(&next)
}

// unsubscribe stops giving RTCP to a DownTrack. Called by the peer's loop.
func (f *fastPath) unsubscribe(dt *sfu.DownTrack) {
	cur := f.downTracks.Load()
	if cur == nil {
		return
	}
	next := slices.DeleteFunc(slices.Clone(*cur), func(d *sfu.DownTrack) bool { return d == dt })
	f.downTracks.Store(&next)
}

// fastLayer is one published layer on the fast path.
type fastLayer struct {
	f       *fastPath
	remote  *webrtc.TrackRemote
	in      func([]byte) // the SFU layer's input
	params  rtc.StreamParams
	rtxPT   uint8         // RTX's payload type for the codec (apt), 0 if none
	rtx     atomic.Uint32 // the layer's RTX SSRC once taken on the fast path
	rtxMu   sync.Mutex    // serialises taking the RTX stream with start and stop
	live    atomic.Bool   // started and not stopped
	stopped bool          // guarded by rtxMu
}

// publish prepares one published layer: feedback for its stream, and what its read loop reads
// (pion's side, which records what it delivers for feedback). The fast path takes the layer's
// packets only from start, once the layer runs.
func (f *fastPath) publish(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver, media *sfu.Track) (sfu.LayerSource, *fastLayer) {
	codec := remote.Codec()
	sp := rtc.StreamParams{SSRC: uint32(remote.SSRC()), ClockRate: codec.ClockRate, MimeType: codec.MimeType,
		PayloadType: uint8(codec.PayloadType)}
	for _, fb := range codec.RTCPFeedback {
		if fb.Type == webrtc.TypeRTCPFBNACK && fb.Parameter == "" {
			sp.NACK = true
		}
	}
	for _, e := range recv.GetParameters().HeaderExtensions {
		if e.URI == sdp.TransportCCURI && e.ID > 0 && e.ID < 256 {
			sp.TransportCC = uint8(e.ID)
		}
	}
	l := &fastLayer{f: f, remote: remote, in: media.Input(remote.RID()), params: sp}
	for _, c := range recv.GetParameters().Codecs {
		if strings.EqualFold(c.MimeType, webrtc.MimeTypeRTX) && strings.Contains(c.SDPFmtpLine, "apt="+strconv.Itoa(int(sp.PayloadType))) {
			l.rtxPT = uint8(c.PayloadType)
		}
	}
	f.own(sp, l)
	go f.readRTCP(recv, remote.RID())
	video := strings.HasPrefix(strings.ToLower(codec.MimeType), "video/")
	return &slowLayer{TrackRemote: remote, layer: l, poll: video}, l
}

// own gives SSRC sp.SSRC's feedback to layer l, taking it from a layer of a track that ended
// but has not let go yet (a renegotiation that reuses the SSRC).
func (f *fastPath) own(sp rtc.StreamParams, l *fastLayer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, taken := f.owners[sp.SSRC]; taken {
		f.feedback.RemoveStream(sp.SSRC)
	}
	if err := f.feedback.AddStream(sp); err != nil {
		f.log.Warn("no receive feedback for a published stream", "ssrc", sp.SSRC, "err", err)
	}
	f.owners[sp.SSRC] = l
}

// disown undoes own if l still has ssrc.
func (f *fastPath) disown(ssrc uint32, l *fastLayer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.owners[ssrc] != l {
		return
	}
	delete(f.owners, ssrc)
	f.feedback.RemoveStream(ssrc)
	f.pub.Unreceive(ssrc)
}

// start lets the fast path carry the layer, now that the SFU runs it.
func (l *fastLayer) start() {
	l.rtxMu.Lock()
	if l.in == nil || l.stopped || l.live.Load() {
		l.rtxMu.Unlock()
		return
	}
	l.live.Store(true)
	l.rtxMu.Unlock()
	l.f.mu.Lock()
	if l.f.owners[l.params.SSRC] == l {
		fb, in := l.f.feedback, l.in
		l.f.pub.Receive(l.params.SSRC, func(pkt []byte) {
			fb.Received(pkt)
			in(pkt)
		})
	}
	l.f.mu.Unlock()
	if rtx := uint32(l.remote.RtxSSRC()); rtx != 0 {
		l.takeRTX(rtx, 0)
	}
}

// stop takes the layer off the fast path and out of the feedback (its track ended, or the SFU
// refused it); start does nothing afterwards.
func (l *fastLayer) stop() {
	l.rtxMu.Lock()
	l.stopped = true
	l.live.Store(false)
	rtx := l.rtx.Load()
	l.rtxMu.Unlock()
	l.f.disown(l.params.SSRC, l)
	if rtx != 0 {
		l.f.disown(rtx, l)
	}
}

// takeRTX puts the layer's retransmission stream (RFC 4588) on the fast path too, so that repairs
// and the publisher's bandwidth probes (padding-only RTX) are recorded for feedback when they
// arrive, not when pion's TrackRemote gets round to them (it drops probes). Its SSRC is in the
// SDP for single-encoding tracks, and shows on the first repair pion delivers for simulcast.
func (l *fastLayer) takeRTX(ssrc uint32, pt uint8) {
	l.rtxMu.Lock()
	defer l.rtxMu.Unlock()
	if !l.live.Load() || l.rtx.Load() != 0 || ssrc == l.params.SSRC {
		return
	}
	if pt == 0 {
		pt = l.rtxPT
	}
	sp := rtc.StreamParams{SSRC: ssrc, ClockRate: l.params.ClockRate, MimeType: webrtc.MimeTypeRTX,
		PayloadType: pt, TransportCC: l.params.TransportCC, RepairOf: l.params.SSRC}
	l.f.own(sp, l)
	l.rtx.Store(ssrc)
	fb, in, media, mediaPT := l.f.feedback, l.in, l.params.SSRC, l.params.PayloadType
	l.f.mu.Lock()
	if l.f.owners[ssrc] == l {
		l.f.pub.Receive(ssrc, func(pkt []byte) {
			fb.Received(pkt)
			if orig := unwrapRTX(pkt, media, mediaPT); orig != nil {
				in(orig)
			}
		})
	}
	l.f.mu.Unlock()
}

// unwrapRTX turns an RFC 4588 retransmission into the original packet, in place: the original
// sequence number (the payload's first two bytes) replaces the RTX one, the media SSRC and payload
// type replace RTX's, and the header moves two bytes on over the OSN. It returns nil for a
// padding-only probe or a malformed packet.
func unwrapRTX(pkt []byte, ssrc uint32, pt uint8) []byte {
	if len(pkt) < 12 {
		return nil
	}
	hl := 12 + 4*int(pkt[0]&0x0f)
	if pkt[0]&0x10 != 0 {
		if len(pkt) < hl+4 {
			return nil
		}
		hl += 4 + 4*int(binary.BigEndian.Uint16(pkt[hl+2:]))
	}
	end := len(pkt)
	if pkt[0]&0x20 != 0 {
		end -= int(pkt[end-1])
	}
	if end-hl <= 2 {
		return nil // padding only: a bandwidth probe
	}
	osn := binary.BigEndian.Uint16(pkt[hl:])
	copy(pkt[2:2+hl], pkt[:hl])
	out := pkt[2:]
	out[1] = out[1]&0x80 | pt&0x7f
	binary.BigEndian.PutUint16(out[2:], osn)
	binary.BigEndian.PutUint32(out[8:], ssrc)
	return out
}

// readRTCP gives the RTCP of one published layer (sender reports) to the feedback, until the
// receiver stops.
func (f *fastPath) readRTCP(recv *webrtc.RTPReceiver, rid string) {
	buf := make([]byte, 1500)
	for {
		n, _, err := recv.ReadSimulcast(buf, rid)
		if errors.Is(err, io.ErrShortBuffer) {
			continue
		}
		if err != nil {
			return // closed
		}
		f.feedback.RTCP(buf[:n])
	}
}

// slowLayer is a published layer as pion delivers it: the packets that did not take the fast path
// are recorded for feedback on their way to the SFU's read loop, and a repair that came by RTX
// makes the layer take its RTX stream on the fast path from then on.
type slowLayer struct {
	*webrtc.TrackRemote
	layer *fastLayer
	poll  bool
}

func (s *slowLayer) Read(b []byte) (int, interceptor.Attributes, error) {
	if s.poll {
		// Poll only while a negotiated RTX stream is not on the fast path yet: then pion has
		// nothing for this read but what it gets by itself (packets before the switch, ICE-TCP).
		if s.layer.rtxPT == 0 || s.layer.rtx.Load() != 0 {
			s.poll = false
			_ = s.TrackRemote.SetReadDeadline(time.Time{})
		} else {
			_ = s.TrackRemote.SetReadDeadline(time.Now().Add(rtxPoll))
		}
	}
	n, a, err := s.TrackRemote.Read(b)
	if err == nil && n > 0 {
		s.layer.f.feedback.Received(b[:n])
	}
	if s.layer.rtx.Load() == 0 {
		// pion learns a simulcast layer's RTX SSRC from the first packet on it (its repaired-rid
		// header extension); a read that returns (a packet, or the poll's deadline) looks.
		if ssrc, ok := a.Get(webrtc.AttributeRtxSsrc).(uint32); ok {
			pt, _ := a.Get(webrtc.AttributeRtxPayloadType).(uint8)
			s.layer.takeRTX(ssrc, pt)
		} else if ssrc := uint32(s.TrackRemote.RtxSSRC()); ssrc != 0 {
			s.layer.takeRTX(ssrc, 0)
		}
	}
	return n, a, err
}
