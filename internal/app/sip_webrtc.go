package app

import (
	"switchboard/internal/sip"
	"switchboard/internal/sip/bridge"
)

// answerSIP answers a call from a phone and returns its media: the call's
// RTP socket, or, for a browser SIP client (JsSIP, SIP.js: ICE and
// DTLS-SRTP), a peer connection on the SFU's own sockets, so that such a
// client needs no port of its own and reaches us wherever a browser does.
func (a *App) answerSIP(c *sip.Call) (bridge.Media, error) {
	if !c.Offer.WebRTC {
		rs, err := c.Answer()
		if err != nil {
			return nil, err
		}
		return rs, nil
	}
	m, answer, err := bridge.NewWebRTCMedia(a.engine.Publish, c.OfferSDP(), c.Codec, c.Hangup)
	if err != nil {
		c.Reject(488, "Not Acceptable Here")
		return nil, err
	}
	c.OnInfoKey(m.SignalledKey) // JsSIP sends keys by SIP INFO
	if err := c.AnswerSDP(answer); err != nil {
		m.Close()
		return nil, err
	}
	go func() {
		<-c.Done()
		m.Close()
	}()
	return m, nil
}
