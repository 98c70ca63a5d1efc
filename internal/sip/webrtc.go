package sip

import "errors"

// Calls from browser SIP clients. JsSIP and SIP.js in a browser offer
// WebRTC media (ICE, DTLS-SRTP, UDP/TLS/RTP/SAVPF), which no RTPSession
// can terminate: the app answers such a call with a pion peer connection
// (bridge.NewWebRTCMedia) and sends its SDP with AnswerSDP. Signalling is
// the same as for any phone; Codec is still the G.711 codec chosen from
// the offer, which the peer connection then negotiates alone.

// AnswerSDP answers a call whose offer is WebRTC (Offer.WebRTC) with the
// SDP answer of the peer connection that carries its media.
func (c *Call) AnswerSDP(body []byte) error {
	if !c.Offer.WebRTC {
		return errors.New("sip: AnswerSDP is for WebRTC offers; use Answer")
	}
	if err := c.claimAnswer(); err != nil {
		return err
	}
	if err := c.sendAnswer(body, nil, -1); err != nil {
		return err
	}
	c.s.log.Info("sip: call answered", "call", c.callID, "from", c.From.Username, "to", c.Target, "codec", c.Codec.Name,
		"media", "webrtc")
	return nil
}

// claimAnswer takes the right to the call's final response for an answer.
func (c *Call) claimAnswer() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended || c.answering {
		return errors.New("sip: call already ended or answered")
	}
	c.answering = true
	return nil
}

// OfferSDP is the INVITE's SDP body as the phone sent it.
func (c *Call) OfferSDP() []byte { return c.req.Body() }
