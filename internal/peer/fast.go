package peer

import (
	"errors"
	"io"
	"strings"
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
// pion still runs ICE, DTLS and RTCP, and carries the media until the keys are known, on ICE-TCP,
// and for retransmissions (RTX) from publishers. Since pion no longer sees most incoming packets,
// the receive-side RTCP its interceptors produced (NACKs, receiver reports, transport-wide
// congestion feedback) comes from feedback, fed by both paths.
type fastPath struct {
	pub, sub *rtc.Fast
	feedback *rtc.Feedback
}

// rtxPoll bounds how long a retransmission from a publisher can wait in pion. pion hands RTX
// packets over only from TrackRemote.Read, and while the fast path carries the media that read
// has nothing else to return: a read deadline makes it come back this often.
const rtxPoll = 20 * time.Millisecond

// newFastPath returns nil when the engine runs without the fast path.
func newFastPath(e *rtc.Engine, pub, sub *webrtc.PeerConnection) (*fastPath, error) {
	fpub := e.Fast(pub)
	if fpub == nil {
		return nil, nil
	}
	fb, err := rtc.NewFeedback(func(pkts []rtcp.Packet) error { return pub.WriteRTCP(pkts) })
	if err != nil {
		fpub.Close()
		return nil, err
	}
	return &fastPath{pub: fpub, sub: e.Fast(sub), feedback: fb}, nil
}

func (f *fastPath) close() {
	f.pub.Close()
	if f.sub != nil {
		f.sub.Close()
	}
	_ = f.feedback.Close()
}

// subscribe makes a DownTrack send through the fast path when it can.
func (f *fastPath) subscribe(dt *sfu.DownTrack) {
	if f.sub != nil {
		dt.UseWriter(f.sub)
	}
}

// publish routes one published layer through the fast path and the receive-side feedback. It
// returns what the layer's read loop should read from (pion's side) and a function that undoes
// the routing when the track ends.
func (f *fastPath) publish(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver, media *sfu.Track) (sfu.LayerSource, func()) {
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
	if err := f.feedback.AddStream(sp); err != nil {
		return remote, func() {}
	}
	go f.readRTCP(recv, remote.RID())
	in, fb := media.Input(remote.RID()), f.feedback
	if in != nil {
		f.pub.Receive(sp.SSRC, func(pkt []byte) {
			fb.Received(pkt)
			in(pkt)
		})
	}
	video := strings.HasPrefix(strings.ToLower(codec.MimeType), "video/")
	return &slowLayer{TrackRemote: remote, feedback: fb, poll: video}, func() {
		f.pub.Unreceive(sp.SSRC)
		fb.RemoveStream(sp.SSRC)
	}
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
// are recorded for feedback on their way to the SFU's read loop.
type slowLayer struct {
	*webrtc.TrackRemote
	feedback *rtc.Feedback
	poll     bool
}

func (s *slowLayer) Read(b []byte) (int, interceptor.Attributes, error) {
	if s.poll {
		_ = s.TrackRemote.SetReadDeadline(time.Now().Add(rtxPoll))
	}
	n, a, err := s.TrackRemote.Read(b)
	if err == nil && n > 0 {
		s.feedback.Received(b[:n])
	}
	return n, a, err
}
