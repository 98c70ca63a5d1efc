// Package bridge joins the SIP side of a call (plain RTP on a
// sip.RTPSession) to WebRTC (pion tracks) without transcoding: the phone
// and the browser agree on G.711 (PCMU or PCMA), and packets pass through
// with their payload untouched. Only the RTP header changes: each side sees
// one continuous stream with its own SSRC, sequence numbers and timestamps,
// and the payload type it negotiated.
//
// It is the media half of a SIP call as a room participant: Track is what
// the call publishes (the phone's voice), Receive takes what it subscribes
// to (a browser's voice). A SIP call never reaches the SFU's hot path
// differently from a browser: Track is an ordinary pion TrackLocal.
package bridge

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"switchboard/internal/sip"
)

// passThrough are the SIP codecs a browser plays as they are, with their
// WebRTC names; each has a static payload type.
var passThrough = map[string]struct {
	mime  string
	codec sip.Codec
}{
	sip.PCMU.Name: {webrtc.MimeTypePCMU, sip.PCMU},
	sip.PCMA.Name: {webrtc.MimeTypePCMA, sip.PCMA},
	sip.G722.Name: {webrtc.MimeTypeG722, sip.G722}, // RTP clock 8000 for 16 kHz audio (RFC 3551)
}

// Codec is the WebRTC codec of a SIP codec that passes through (G.711,
// G.722), with its static payload type.
func Codec(c sip.Codec) (webrtc.RTPCodecParameters, error) {
	p, ok := passThrough[c.Name]
	if !ok {
		return webrtc.RTPCodecParameters{}, fmt.Errorf("bridge: %s cannot pass through to a browser (use PCMU, PCMA or G722)", c.Name)
	}
	return webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: p.mime, ClockRate: 8000, Channels: 1},
		PayloadType:        webrtc.PayloadType(p.codec.PayloadType),
	}, nil
}

// RegisterCodec registers c as the only audio codec a media engine knows, so
// the browser negotiates exactly the phone's codec.
func RegisterCodec(me *webrtc.MediaEngine, c sip.Codec) error {
	p, err := Codec(c)
	if err != nil {
		return err
	}
	return me.RegisterCodec(p, webrtc.RTPCodecTypeAudio)
}

// Bridge passes one call's audio both ways.
type Bridge struct {
	rtp   *sip.RTPSession
	codec sip.Codec
	track *webrtc.TrackLocalStaticRTP

	// Towards the phone: one SSRC, continuous numbering across browser
	// tracks (a browser that re-publishes starts a new stream), silence
	// while the browser sends nothing.
	out *toPhone

	ToWebRTC atomic.Uint64 // packets from the phone written to Track
	ToPhone  atomic.Uint64 // packets from WebRTC sent to the phone

	wg sync.WaitGroup
}

// New returns a bridge for a call answered with codec on rs. trackID and
// streamID name Track (the msid a browser sees).
func New(rs *sip.RTPSession, codec sip.Codec, trackID, streamID string) (*Bridge, error) {
	p, err := Codec(codec)
	if err != nil {
		return nil, err
	}
	t, err := webrtc.NewTrackLocalStaticRTP(p.RTPCodecCapability, trackID, streamID)
	if err != nil {
		return nil, fmt.Errorf("bridge: %w", err)
	}
	return &Bridge{rtp: rs, codec: codec, track: t, out: newToPhone(rs, codec)}, nil
}

// Track is the phone's voice as a WebRTC track: add it to a peer connection.
func (b *Bridge) Track() *webrtc.TrackLocalStaticRTP { return b.track }

// Start forwards the phone's audio to Track until the RTP session closes,
// and keeps the phone's stream alive with silence while the browser sends
// nothing. Packets of other payload types (telephone-events) are not
// forwarded.
func (b *Bridge) Start() {
	go b.out.run(b.rtp.Done())
	b.rtp.Start(func(p *rtp.Packet) {
		if p.PayloadType != b.codec.PayloadType {
			return
		}
		// WriteRTP sets each binding's SSRC and payload type; the rest
		// (sequence, timestamp, marker) is the phone's, already continuous.
		if err := b.track.WriteRTP(p); err == nil {
			b.ToWebRTC.Add(1)
		}
	})
}

// Receive forwards a remote WebRTC track (a browser's voice) to the phone
// until the track ends. Its codec must be the call's.
func (b *Bridge) Receive(remote *webrtc.TrackRemote) error {
	want, _ := Codec(b.codec)
	if got := remote.Codec().MimeType; !strings.EqualFold(got, want.MimeType) {
		return fmt.Errorf("bridge: the browser sends %s, the call needs %s", got, want.MimeType)
	}
	b.wg.Go(func() {
		var p rtp.Packet
		buf := make([]byte, 1500)
		for {
			n, _, err := remote.Read(buf)
			if err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
					return
				}
				continue
			}
			if p.Unmarshal(buf[:n]) != nil {
				continue
			}
			b.toPhone(&p)
		}
	})
	return nil
}

// toPhone sends p (it belongs to the caller's loop; its header is
// rewritten) in the phone's stream.
func (b *Bridge) toPhone(p *rtp.Packet) {
	if b.out.write(p, b.codec.PayloadType) == nil {
		b.ToPhone.Add(1)
	}
}

// Wait returns when every Receive loop has ended (their tracks ended).
func (b *Bridge) Wait() { b.wg.Wait() }
