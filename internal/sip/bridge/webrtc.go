package bridge

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"switchboard/internal/sip"
)

// Media is what a call's audio travels on: a desk phone's RTP socket
// (*sip.RTPSession), or a peer connection for a browser SIP client
// (WebRTCMedia). The Participant reads the caller's packets through Start
// and sends what the call hears with WriteRTP.
type Media interface {
	Start(onPacket func(*rtp.Packet))
	WriteRTP(*rtp.Packet) error
	CountKeys(in bool, n int)
	// OnSignalledKey sets who hears keys that came by signalling (SIP INFO).
	OnSignalledKey(func(sip.DTMFEvent))
}

var _ Media = (*sip.RTPSession)(nil)

// WebRTCMedia is the media of a call from a browser SIP client (JsSIP,
// SIP.js): a pion peer connection on the SFU's sockets that answered the
// client's offer with the call's G.711 codec alone. It carries audio both
// ways like a phone's RTP socket, so the call joins a room as any phone
// does and nothing is transcoded; the SFU's ICE and DTLS do the rest.
type WebRTCMedia struct {
	keys   atomic.Pointer[func(sip.DTMFEvent)]
	pc     *webrtc.PeerConnection
	local  *webrtc.TrackLocalStaticRTP
	remote chan *webrtc.TrackRemote
	done   chan struct{}
	once   sync.Once
}

// gatherTimeout bounds the wait for our ICE candidates before answering:
// SIP has no trickle ICE, so the answer must carry them.
const gatherTimeout = 2 * time.Second

// NewWebRTCMedia answers offer (the INVITE's SDP) with a peer connection of
// api that sends and receives codec. onFailed runs once if the connection
// fails or closes from the network side (the call should then end). It
// returns the SDP answer for the 200.
func NewWebRTCMedia(api *webrtc.API, offer []byte, codec sip.Codec, onFailed func()) (*WebRTCMedia, []byte, error) {
	m, err := newWebRTCMedia(api, onFailed)
	if err != nil {
		return nil, nil, err
	}
	if err := m.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(offer)}); err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("bridge: the WebRTC offer: %w", err)
	}
	// AddTrack takes over the offer's audio transceiver (sendrecv).
	if err := m.addTrack(codec); err != nil {
		m.Close()
		return nil, nil, err
	}
	answer, err := m.pc.CreateAnswer(nil)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("bridge: WebRTC answer: %w", err)
	}
	sdp, err := m.describe(answer)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return m, sdp, nil
}

// NewWebRTCOffer is NewWebRTCMedia for a call we place to a browser SIP
// client: it returns the offer for the INVITE; SetAnswer takes the answer.
func NewWebRTCOffer(api *webrtc.API, codec sip.Codec, onFailed func()) (*WebRTCMedia, []byte, error) {
	m, err := newWebRTCMedia(api, onFailed)
	if err != nil {
		return nil, nil, err
	}
	if err := m.addTrack(codec); err != nil {
		m.Close()
		return nil, nil, err
	}
	offer, err := m.pc.CreateOffer(nil)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("bridge: WebRTC offer: %w", err)
	}
	sdp, err := m.describe(offer)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return m, sdp, nil
}

// SetAnswer takes the client's answer to NewWebRTCOffer's offer.
func (m *WebRTCMedia) SetAnswer(answer []byte) error {
	if err := m.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		return fmt.Errorf("bridge: the WebRTC answer: %w", err)
	}
	return nil
}

// newWebRTCMedia makes the peer connection and watches it.
func newWebRTCMedia(api *webrtc.API, onFailed func()) (*WebRTCMedia, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	m := &WebRTCMedia{pc: pc, remote: make(chan *webrtc.TrackRemote, 1), done: make(chan struct{})}
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if t.Kind() == webrtc.RTPCodecTypeAudio {
			select {
			case m.remote <- t:
			default:
			}
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
			select {
			case <-m.done: // closed by us
			default:
				if onFailed != nil {
					go onFailed()
				}
			}
		}
	})
	return m, nil
}

// addTrack adds what the call hears, in codec alone (so the client sends
// what the room carries), and keeps reading the client's RTCP.
func (m *WebRTCMedia) addTrack(codec sip.Codec) error {
	wc, err := Codec(codec)
	if err != nil {
		return err
	}
	if m.local, err = webrtc.NewTrackLocalStaticRTP(wc.RTPCodecCapability, "audio", "sip"); err != nil {
		return err
	}
	sender, err := m.pc.AddTrack(m.local)
	if err != nil {
		return err
	}
	for _, t := range m.pc.GetTransceivers() {
		if t.Sender() == sender {
			if err := t.SetCodecPreferences([]webrtc.RTPCodecParameters{wc}); err != nil {
				return err
			}
		}
	}
	go func() { // RTCP from the client keeps pion's interceptors going
		for {
			if _, _, err := sender.ReadRTCP(); err != nil {
				return
			}
		}
	}()
	return nil
}

// describe sets our description and waits (a little) for our ICE
// candidates, which SIP carries in the SDP: there is no trickle ICE.
func (m *WebRTCMedia) describe(d webrtc.SessionDescription) ([]byte, error) {
	gathered := webrtc.GatheringCompletePromise(m.pc)
	if err := m.pc.SetLocalDescription(d); err != nil {
		return nil, err
	}
	select {
	case <-gathered:
	case <-time.After(gatherTimeout):
	}
	ld := m.pc.LocalDescription()
	if ld == nil {
		return nil, errors.New("bridge: no local description")
	}
	return []byte(ld.SDP), nil
}

// Start reads the client's audio once its track arrives.
func (m *WebRTCMedia) Start(onPacket func(*rtp.Packet)) {
	go func() {
		var t *webrtc.TrackRemote
		select {
		case t = <-m.remote:
		case <-m.done:
			return
		}
		for {
			pkt, _, err := t.ReadRTP()
			if err != nil {
				return
			}
			onPacket(pkt)
		}
	}()
}

// WriteRTP sends audio to the client (pion sets its SSRC and payload type).
func (m *WebRTCMedia) WriteRTP(p *rtp.Packet) error { return m.local.WriteRTP(p) }

// CountKeys: browser SIP clients send keys by SIP INFO (SignalledKey).
func (m *WebRTCMedia) CountKeys(bool, int) {}

// OnSignalledKey sets who hears the client's keys (nil: nobody).
func (m *WebRTCMedia) OnSignalledKey(f func(sip.DTMFEvent)) {
	if f == nil {
		m.keys.Store(nil)
		return
	}
	m.keys.Store(&f)
}

// SignalledKey passes on a key the client sent by SIP INFO
// (Call.OnInfoKey).
func (m *WebRTCMedia) SignalledKey(e sip.DTMFEvent) {
	if f := m.keys.Load(); f != nil {
		(*f)(e)
	}
}

// Close ends the peer connection.
func (m *WebRTCMedia) Close() error {
	var err error
	m.once.Do(func() {
		close(m.done)
		err = m.pc.Close()
	})
	return err
}
