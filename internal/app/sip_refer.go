package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"switchboard/internal/chat"
	"switchboard/internal/sip"
	"switchboard/internal/sip/bridge"
	"switchboard/internal/store"
)

// A phone transferring its call (blind transfer, an incoming REFER): the
// phone P, in a call with browser user U, asks us to connect U to T. We
// ring T in U's name while P and U go on talking; P hears how it goes in
// NOTIFYs (100, 180, then 200 or T's failure). When T answers, P's
// participant leaves the call's room and T's leg joins it, P gets NOTIFY
// 200 then BYE, and the call goes on between U and
// T: the same messaging call, the same room, no renegotiation for U. When
// T does not answer, the call between P and U goes on.
//
// Who may make us place a call: the phone's own account. A leg over a
// trunk (a caller from outside) may not transfer at all; a number is
// called only when the phone's account is linked to a user who may call
// numbers (FindPhone: callerMayDialNumbers and sip.dial_prefixes).

// transferRingTimeout is how long a transfer target rings.
const transferRingTimeout = 30 * time.Second

// referHandler is leg l's OnRefer: it decides on the phone's transfer (a
// *sip.ReferError refuses it with a status) and starts it.
func (s *phoneSide) referHandler(l phoneLeg) func(target string, result func(error)) error {
	return func(target string, result func(error)) error {
		a := s.a
		shown := target
		if len(shown) > 64 {
			shown = shown[:64] // the phone chose it
		}
		log := a.log.With("chat_call", s.callID.Load(), "phone", l.ext, "target", shown)
		if l.trunk != "" {
			log.Info("sip: transfer refused: a caller over a trunk may not make us place calls")
			return &sip.ReferError{Status: 403, Reason: "Forbidden"}
		}
		ctx, cancel := context.WithTimeout(context.Background(), transferRingTimeout)
		s.mu.Lock()
		switch {
		case s.ended || s.cur.leg != l.leg:
			s.mu.Unlock()
			cancel()
			return &sip.ReferError{Status: 481, Reason: "Call/Transaction Does Not Exist"}
		case s.transfer != nil || s.referring:
			s.mu.Unlock()
			cancel()
			return &sip.ReferError{Status: 491, Reason: "Request Pending"}
		}
		s.transfer = &phoneTransfer{cancel: cancel}
		s.mu.Unlock()
		ph, err := s.transferTarget(ctx, l, target)
		if err != nil {
			s.settle()
			cancel()
			log.Info("sip: transfer refused", "err", err)
			return err
		}
		log.Info("sip: the phone transfers its call", "to", ph.Extension, "trunk", ph.Trunk)
		go s.runTransfer(ctx, cancel, l, ph, result, log)
		return nil
	}
}

// transferTarget resolves what the phone transfers to, as the phone's own
// user would call it (FindPhone): an extension, a username (that user's
// live extension) or a number (when the user may call numbers).
func (s *phoneSide) transferTarget(ctx context.Context, l phoneLeg, target string) (chat.Phone, error) {
	a := s.a
	lookup, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var who chat.Identity // nobody: may call extensions only
	if l.owner != "" {
		u, err := a.store.User(lookup, l.owner)
		switch {
		case err == nil && !u.Disabled:
			who = chat.Identity{UserID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Role: u.Role}
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return chat.Phone{}, err
		}
	}
	ph, err := sipPhones{a}.FindPhone(lookup, who, target, false)
	if errors.Is(err, store.ErrNotFound) {
		// An extension that is not registered now: ringing it fails, and
		// the phone hears so in a NOTIFY (480), as for one that does not answer.
		if acct, aerr := a.store.SIPAccountByUsername(lookup, target); aerr == nil && acct.Enabled {
			ph, err = chat.Phone{Extension: acct.Username, User: acct.UserID, Name: firstNonEmpty(acct.DisplayName, acct.Username)}, nil
		}
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		if callerMayDialNumbers(who) {
			return chat.Phone{}, &sip.ReferError{Status: 404, Reason: "Not Found"}
		}
		// Perhaps a number this phone may not call: say no rather than "not found".
		return chat.Phone{}, &sip.ReferError{Status: 403, Reason: "Forbidden"}
	case err != nil:
		return chat.Phone{}, err
	case ph.Trunk == "" && ph.Extension == l.ext:
		return chat.Phone{}, &sip.ReferError{Status: 403, Reason: "Forbidden"} // to itself
	}
	return ph, nil
}

// settle ends the transfer under way (it failed, or it swapped the legs).
func (s *phoneSide) settle() {
	s.mu.Lock()
	s.transfer = nil
	s.mu.Unlock()
	s.settled.Broadcast()
}

// runTransfer rings the target and, when it answers, swaps it in for leg
// from. result reports to the transferring phone.
func (s *phoneSide) runTransfer(ctx context.Context, cancel context.CancelFunc, from phoneLeg, ph chat.Phone,
	result func(error), log *slog.Logger) {
	defer cancel()
	a := s.a
	var oc *sip.OutCall
	var fork *phoneFork
	fail := func(status int, why string, err error) {
		log.Info("sip: the transfer failed: "+why, "status", status, "err", err)
		if oc != nil {
			oc.Hangup()
		}
		fork.close()
		s.settle()
		result(&sip.TransferError{Status: status})
	}
	oc, fork, err := a.dialIntoRoom(ctx, legDial{ph: ph, from: s.user,
		onProgress: func(status int) { result(&sip.TransferError{Status: status}) }, // 180, 183: never blocks
	}, s.codec)
	if errors.Is(err, errOtherCodec) {
		fail(488, "the target answered with another codec", err)
		return
	}
	if err != nil {
		fail(dialStatus(ctx, err), "the target did not answer", err)
		return
	}
	media, dtmf := fork.media(oc)
	to := phoneLeg{leg: oc, trunk: oc.Trunk, owner: ph.User, ext: ph.Extension, name: ph.Name}
	// The transferring phone leaves the room before the target joins: a
	// phone in a room hears the first audio track it finds, which must be
	// the browser's. The room holds two throughout.
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		fail(487, "the call ended meanwhile", nil)
		return
	}
	if from.part != nil {
		from.part.Leave("transferred")
	}
	part, err := bridge.Join(s.room, media, oc.Codec, dtmf, ph.Name, a.media, a.log, func(string) { oc.Hangup() })
	if err != nil {
		s.mu.Unlock()
		// The phone is out of the room already: the call cannot go on. Hang
		// it up first rather than leave it in silence while the last NOTIFY
		// waits for an answer.
		hangupLeg(from.leg)
		fail(503, "the target could not join the room", err)
		return
	}
	to.part = part
	s.cur = to
	s.held = false // a new phone: nobody holds it
	s.transfer = nil
	s.mu.Unlock()
	s.settled.Broadcast()
	go func() {
		<-oc.Done()
		fork.close()
	}()
	s.wire(to)
	id := s.callID.Load()
	if !a.chat.PhoneReplaced(id, ph.Extension, ph.Name, s.control(id, to)) {
		log.Info("sip: the call ended as the transfer completed")
	}
	log.Info("sip: transferred: the target answered and replaces the phone", "codec", oc.Codec.Name)
	result(nil) // NOTIFY 200, then BYE
	if h, ok := from.leg.(interface{ HangupTransferred() }); ok {
		h.HangupTransferred()
	}
}

// dialStatus is the SIP status that tells the transferring phone why its
// target did not answer.
func dialStatus(ctx context.Context, err error) int {
	var de *sip.DialError
	switch {
	case errors.As(err, &de) && de.Status >= 300:
		return de.Status
	case errors.Is(err, sip.ErrNotRegistered):
		return 480
	case errors.Is(err, sip.ErrTrunkBusy):
		return 503
	case errors.Is(err, sip.ErrDialCancelled) && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return 480 // nobody answered in time
	case errors.Is(err, sip.ErrDialCancelled):
		return 487
	}
	return 503
}
