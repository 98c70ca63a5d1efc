package app

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"switchboard/internal/chat"
	"switchboard/internal/sip"
	"switchboard/internal/sip/bridge"
	"switchboard/internal/store"
)

// A browser user transferring a call whose phone leg runs over a trunk
// (blind transfer, done by the server): user U, in a messaging call with
// phone leg P in room R, hands P over to target T. A REFER would make the
// provider place the new call itself, so instead we ring T on P's behalf
// (T sees P's number and name) while U and P go on talking. When T
// answers, U is taken out of R and T takes U's place there: P now hears
// T (a phone in a room hears the first audio track that is there, and U's
// went), and U's call ends as transferred. When T does not answer, U's
// call with P goes on (PhoneTransferFailed).
//
// T is a colleague (by username: a new messaging call from P's number
// rings their browsers, and whoever answers gets the controls: hold,
// keypad, transfer again) or an extension (all its phones ring: dialLeg;
// then P and T are two phones in one room, and either hanging up ends the
// other). Numbers are refused: the caller's transfer would make the
// server call out on an outside caller's behalf.
//
// The phone side (sip_leg.go) stays P's: P's leg keeps its record, T's
// leg (a phone) gets its own. The side's owner says which messaging call
// ends it: after the handover, U's call ending deletes nothing.

// errTransferTo refuses a target that is neither a colleague nor an extension.
var errTransferTo = errors.New("transfer to a colleague or an extension")

// transferByServer starts the transfer of the phone to target (a
// username or an extension) and returns once it rings.
func (s *phoneSide) transferByServer(target string) error {
	a := s.a
	target = strings.TrimSpace(target)
	if !transferTarget.MatchString(target) {
		return errTransferTo
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var user *store.User
	var ph chat.Phone
	u, err := a.store.UserByUsername(ctx, strings.ToLower(target))
	switch {
	case err == nil && u.Disabled:
		return errors.New("that colleague's account is disabled")
	case err == nil:
		user = &u
	case !errors.Is(err, store.ErrNotFound):
		return err
	default:
		acct, err := a.store.SIPAccountByUsername(ctx, target)
		if errors.Is(err, store.ErrNotFound) || (err == nil && !acct.Enabled) {
			return errTransferTo
		} else if err != nil {
			return err
		}
		ph = chat.Phone{Extension: acct.Username, User: acct.UserID, Name: firstNonEmpty(acct.DisplayName, acct.Username)}
	}

	rctx, rcancel := context.WithTimeout(context.Background(), transferRingTimeout)
	s.mu.Lock()
	switch {
	case s.ended:
		s.mu.Unlock()
		rcancel()
		return errors.New("the call has ended")
	case s.transfer != nil:
		s.mu.Unlock()
		rcancel()
		return errors.New("the call is being transferred already")
	}
	s.transfers++
	x := &serverTransfer{s: s, gen: s.transfers, from: s.callID.Load(), p: s.cur, ctx: rctx, cancel: rcancel}
	s.transfer = &phoneTransfer{cancel: rcancel}
	s.mu.Unlock()
	x.number, x.name = s.legCaller(x.p)
	x.log = a.log.With("chat_call", x.from, "phone", x.number, "trunk", x.p.trunk, "target", target)
	// P hanging up stops the ringing: there is nobody left to transfer.
	go func() {
		select {
		case <-x.p.leg.Done():
			rcancel()
		case <-rctx.Done():
		}
	}()
	if user != nil {
		x.log.Info("sip: transferring the call to a colleague's browsers")
		return x.toUser(*user)
	}
	x.log.Info("sip: transferring the call to an extension")
	go x.toPhone(ph)
	return nil
}

// setHeld records that the browser side held the phone or took it off.
func (s *phoneSide) setHeld(held bool) {
	s.mu.Lock()
	s.held = held
	s.mu.Unlock()
}

// legCaller is how phone leg l shows to a transfer target: a caller over
// a trunk by its number (E.164 when it reads as one) and name.
func (s *phoneSide) legCaller(l phoneLeg) (number, name string) {
	c, ok := l.leg.(*sip.Call)
	if !ok || c.Trunk == "" {
		return firstNonEmpty(l.ext, "anonymous"), l.name
	}
	number = firstNonEmpty(c.CallerNumber, "anonymous")
	if tr, ok := s.a.sip.srv.Trunk(c.Trunk); ok {
		if e164, err := s.a.numberPlan().ParseAs(number, tr.NumberFormat); err == nil {
			number = e164
		}
	}
	return number, c.CallerName
}

// serverTransfer is one transfer under way.
type serverTransfer struct {
	s            *phoneSide
	gen          int      // the side's owner once handed over
	from         string   // the transferring messaging call
	p            phoneLeg // the phone being transferred
	number, name string   // how it shows to the target
	ctx          context.Context
	cancel       context.CancelFunc
	log          *slog.Logger
}

// fail ends the transfer without a handover: the call from goes on.
func (x *serverTransfer) fail(why string, err error) {
	x.log.Info("sip: the transfer failed: "+why, "err", err)
	x.cancel()
	x.s.settle()
	x.s.a.chat.PhoneTransferFailed(x.from)
}

// handover makes the transfer's messaging call the side's owner and takes
// everyone but the phone out of the room, so the target can join it in
// their place; false when the call ended meanwhile. The caller settles.
func (x *serverTransfer) handover() bool {
	s := x.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || s.cur.leg != x.p.leg || x.ctx.Err() != nil {
		return false
	}
	s.owner = x.gen
	if s.held {
		// The new party starts off hold; the provider takes the resume
		// in its own time.
		s.held = false
		if x.p.part != nil {
			x.p.part.SetHeld(false)
		}
		go func() {
			if err := x.p.leg.Resume(); err != nil {
				x.log.Info("sip: the phone did not take the resume", "err", err)
			}
		}()
	}
	if x.p.part != nil {
		if snap, err := s.room.Snapshot(x.p.part.ID()); err == nil {
			for _, o := range snap.Participants {
				s.room.Leave(o.ID, "transferred")
			}
		}
	}
	return true
}

// deleteRoom ends the call's room.
func (x *serverTransfer) deleteRoom() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	x.s.a.registry.Delete(ctx, x.s.room.ID())
}

// toUser rings the colleague's browsers with a call from the phone's
// number, in the phone's room.
func (x *serverTransfer) toUser(u store.User) error {
	s, a := x.s, x.s.a
	var (
		mu     sync.Mutex
		handed bool
		id     string
		idSet  = make(chan struct{})
	)
	onAnswer := func() {
		// From the answering device's request, before it is sent to the
		// room: the room must have a place for it by then.
		mu.Lock()
		handed = x.handover()
		mu.Unlock()
		go func() {
			<-idSet
			if !handed {
				a.chat.EndPhoneCallWith(id, chat.PhoneHangup) // the call ended meanwhile
				return
			}
			x.cancel()
			s.callID.Store(id) // the phone's keys and holds go to the new call
			s.settle()
			a.chat.SetPhoneControl(id, s.control(id, s.current()))
			a.chat.PhoneTransferred(x.from)
			x.log.Info("sip: transferred: the colleague answered", "to_call", id)
			// The phone hanging up ends the colleague's call.
			a.phoneEnded(id, s.wait())
		}()
	}
	onEnd := func(reason string) {
		mu.Lock()
		was := handed
		mu.Unlock()
		if !was {
			<-idSet
			if id != "" { // else CallFromNumber failed, and said so
				x.fail("the colleague did not answer", errors.New(reason))
			}
			return
		}
		if s.closeAs(x.gen, hangupLeg) {
			x.deleteRoom()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	newID, err := a.chat.CallFromNumber(ctx, chat.NumberCall{Number: x.number, Name: x.name, Callee: u.ID, Room: s.room.ID(),
		OnAnswer: onAnswer, OnEnd: func(reason string) { go onEnd(reason) }})
	if err != nil {
		close(idSet) // an OnEnd waiting for the id: there is none
		x.cancel()
		s.settle()
		return err
	}
	id = newID
	close(idSet)
	go func() {
		// Ringing too long, or the call ended here, or the phone hung up.
		<-x.ctx.Done()
		mu.Lock()
		was := handed
		mu.Unlock()
		if !was {
			reason := chat.PhoneCancelled // the call ended here, or the phone hung up
			if errors.Is(x.ctx.Err(), context.DeadlineExceeded) {
				reason = chat.PhoneNoAnswer
			}
			a.chat.EndPhoneCallWith(id, reason)
		}
	}()
	return nil
}

// toPhone rings the extension's phones and, when one answers, puts it in
// the room in the transferring user's place: two phones in one room.
func (x *serverTransfer) toPhone(ph chat.Phone) {
	s, a := x.s, x.s.a
	oc, fork, err := a.dialIntoRoom(x.ctx, legDial{ph: ph, from: chat.Identity{Username: x.number, DisplayName: x.name}}, s.codec)
	if err != nil {
		x.fail("the extension did not answer", err)
		return
	}
	if !x.handover() {
		oc.Hangup()
		fork.close()
		x.fail("the call ended meanwhile", nil)
		return
	}
	media, dtmf := fork.media(oc)
	part, err := bridge.Join(s.room, media, oc.Codec, dtmf, ph.Name, a.media, a.log, func(string) { oc.Hangup() })
	x.cancel()
	s.callID.Store("") // no messaging call any more: the phones' keys go nowhere
	s.settle()
	a.chat.PhoneTransferred(x.from)
	if err != nil {
		x.log.Error("sip: the extension could not join the room", "err", err)
		oc.Hangup()
	} else {
		x.log.Info("sip: transferred: the extension answered", "codec", oc.Codec.Name)
	}
	// Either phone hanging up ends the other, and the room.
	pEnded := make(chan struct{})
	go func() {
		s.wait()
		close(pEnded)
	}()
	select {
	case <-oc.Done():
	case <-pEnded:
	}
	s.closeAs(x.gen, hangupLeg)
	oc.Hangup()
	if part != nil {
		part.Leave("hangup")
	}
	fork.close()
	x.deleteRoom()
}
