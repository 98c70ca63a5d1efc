package app

import (
	"strings"
	"sync/atomic"

	"switchboard/internal/sip"
	"switchboard/internal/sip/bridge"
)

// A call to an extension rings every phone registered on it at once
// (sip.Server.Dial forks): a desk phone, a softphone, a browser SIP client.
// Desk phones and softphones get our RTP offer; browser SIP clients (bound
// over WebSocket) get one WebRTC offer from a peer connection of ours, the
// same for all of them, and the winner's answer completes it. phoneFork is
// the app's side of that: it builds the DialRequest and, once the call is
// answered, says which media won.

// phoneFork is the WebRTC offer of a call to an extension, when any of its
// phones is a browser SIP client. A nil *phoneFork (a trunk call) is fine.
type phoneFork struct {
	webrtc   *bridge.WebRTCMedia
	released atomic.Bool
}

// offerBrowsers adds a WebRTC offer in codec to req when a browser SIP
// client is registered on req.Username; every call to an extension goes
// through it, so all of the account's phones ring, whatever they are. Every
// branch then offers codec alone (so whoever answers fits the room), and
// early media is not used: it could come from a desk phone while a browser
// answers.
func (a *App) offerBrowsers(req *sip.DialRequest, codec sip.Codec, onMediaEnd func()) (*phoneFork, error) {
	f := &phoneFork{}
	for _, b := range a.sip.srv.Bindings(req.Username) {
		if !strings.HasPrefix(strings.ToUpper(b.Transport), "WS") {
			continue
		}
		m, offer, err := bridge.NewWebRTCOffer(a.engine.Publish, codec, onMediaEnd)
		if err != nil {
			return nil, err
		}
		f.webrtc = m
		req.WebRTCOffer, req.OnWebRTCAnswer = offer, m.SetAnswer
		req.Codecs, req.OnEarly = []sip.Codec{codec}, nil
		break
	}
	return f, nil
}

// media is what the answered call carries, for bridge.Join: the browser's
// peer connection when a browser SIP client answered (its keys come by SIP
// INFO), else the call's RTP socket; and the telephone-event payload type
// (-1: none). The WebRTC offer nobody took is released here.
func (f *phoneFork) media(oc *sip.OutCall) (bridge.Media, int) {
	if f != nil && f.webrtc != nil && oc.WebRTC {
		oc.OnInfoKey(f.webrtc.SignalledKey)
		return f.webrtc, -1
	}
	f.close()
	dtmf := -1
	if oc.Answer.HasDTMF {
		dtmf = int(oc.Answer.DTMF)
	}
	return oc.RTP(), dtmf
}

// close releases the WebRTC offer: when the call failed, and when it
// ends. It may be called more than once.
func (f *phoneFork) close() {
	if f != nil && f.webrtc != nil {
		f.webrtc.Close()
		f.released.Store(true)
	}
}
