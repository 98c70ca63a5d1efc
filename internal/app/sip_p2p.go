package app

import (
	"context"
	"errors"
	"sync"
	"time"

	"switchboard/internal/room"
	"switchboard/internal/sip"
	"switchboard/internal/sip/bridge"
	"switchboard/internal/store"
)

// Calls between two desk phones. A phone that dials the extension of a SIP
// account linked to nobody (a lobby phone, a meeting room's speakerphone, a
// fax line) reaches that phone directly: the gateway rings its binding
// offering only the caller's codec, and when it answers both calls join a
// two-party G.711 room, so the audio (and RFC 4733 keys) pass through the
// SFU untouched, as for a browser. Either phone may be a browser SIP client
// (JsSIP, SIP.js registered over WebSocket): its side of the call is then a
// peer connection of ours carrying the same G.711 (answerSIP for a caller,
// a WebRTC offer for a callee). Extensions of accounts linked to a user
// ring that user's browsers instead (routeSIPCall).

// routePhoneToPhone handles c when its target is such an account; false
// when it is not, for the caller to route the call otherwise.
func (a *App) routePhoneToPhone(c *sip.Call) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	acct, err := a.store.SIPAccountByUsername(ctx, c.Target)
	cancel()
	if err != nil || !acct.Enabled || acct.UserID != "" {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			a.log.Error("sip: call routing: extension lookup", "err", err)
		}
		return false
	}
	log := a.log.With("call_from", c.From.Username, "to", acct.Username, "matched", "phone")
	switch {
	case acct.Username == c.From.Username:
		log.Info("sip: call refused: a phone calling itself")
		c.Reject(486, "Busy Here")
		return true
	case len(a.sip.srv.Bindings(acct.Username)) == 0:
		log.Info("sip: call refused: the called phone is not registered")
		c.Reject(480, "Temporarily Unavailable")
		return true
	}
	c.Ringing()

	// The caller hanging up before the answer cancels the call to the phone.
	dctx, dcancel := context.WithCancel(context.Background())
	defer dcancel()
	go func() {
		select {
		case <-c.Done():
			dcancel()
		case <-dctx.Done():
		}
	}()
	req := sip.DialRequest{Username: acct.Username, FromUser: c.From.Username,
		FromDisplay: c.From.DisplayName, Codecs: []sip.Codec{c.Codec}}
	// A browser SIP client (a binding over WebSocket) takes WebRTC only: it
	// is offered a peer connection of ours, in the caller's codec alone.
	rtcFailed := make(chan struct{}) // the callee's peer connection failed
	var once sync.Once
	fork, err := a.offerBrowsers(&req, c.Codec, func() { once.Do(func() { close(rtcFailed) }) })
	if err != nil {
		log.Error("sip: call refused: WebRTC offer for the called browser phone", "err", err)
		c.Reject(500, "Server Internal Error")
		return true
	}
	defer fork.close()
	out, err := a.sip.srv.Dial(dctx, req)
	if err != nil {
		status, reason := 480, "Temporarily Unavailable"
		var de *sip.DialError
		switch {
		case errors.Is(err, sip.ErrDialCancelled):
			log.Info("sip: the caller hung up before the phone answered")
			return true
		case errors.As(err, &de) && de.Status >= 400 && de.Status != 487:
			status, reason = de.Status, de.Reason
			if status == 488 { // no common codec: the callee refused the caller's
				status, reason = 488, "Not Acceptable Here"
			}
		}
		log.Info("sip: the called phone did not answer", "status", status, "err", err)
		c.Reject(status, reason)
		return true
	}

	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	r, err := a.registry.Create(rctx, room.Settings{AudioCodec: roomCodec(c.Codec), MaxParticipants: 2})
	rcancel()
	if err != nil {
		log.Error("sip: call room", "err", err)
		out.Hangup()
		c.Reject(500, "Server Internal Error")
		return true
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		a.registry.Delete(dctx, r.ID())
		cancel()
	}()
	rs, err := a.answerSIP(c)
	if err != nil {
		log.Info("sip: call could not be answered", "err", err)
		out.Hangup()
		return true
	}
	hangBoth := func(string) { c.Hangup(); out.Hangup() }
	from, err := bridge.Join(r, rs, c.Codec, dtmfType(c.Offer), firstNonEmpty(c.From.DisplayName, c.From.Username),
		a.media, a.log, hangBoth)
	if err != nil {
		log.Error("sip: the caller could not join the call's room", "err", err)
		hangBoth("")
		return true
	}
	defer from.Leave("hangup")
	toMedia, toDTMF := fork.media(out)
	to, err := bridge.Join(r, toMedia, out.Codec, toDTMF, firstNonEmpty(acct.DisplayName, acct.Username),
		a.media, a.log, hangBoth)
	if err != nil {
		log.Error("sip: the called phone could not join the call's room", "err", err)
		hangBoth("")
		return true
	}
	defer to.Leave("hangup")
	log.Info("sip: phones connected", "room", r.ID(), "codec", c.Codec.Name)
	select {
	case <-c.Done():
	case <-out.Done():
	case <-rtcFailed:
		log.Info("sip: the called browser phone's media failed")
	}
	hangBoth("")
	return true
}

// roomCodec is the room codec that carries c untouched.
func roomCodec(c sip.Codec) string {
	switch c.Name {
	case sip.PCMA.Name:
		return "audio/PCMA"
	case sip.G722.Name:
		return "audio/G722"
	}
	return "audio/PCMU"
}

// dtmfType is the telephone-event payload type negotiated in md, -1 for none.
func dtmfType(md sip.MediaDescription) int {
	if md.HasDTMF {
		return int(md.DTMF)
	}
	return -1
}
