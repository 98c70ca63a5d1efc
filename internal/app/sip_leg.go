package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"switchboard/internal/chat"
	"switchboard/internal/room"
	"switchboard/internal/sip"
	"switchboard/internal/sip/bridge"
)

// phoneSide is the telephone side of a call between a browser user and a
// phone (connectSIPCall for calls from phones, DialPhone for calls to
// them): the phone's current SIP leg, its participant in the call's room,
// and the room. The phone's own blind transfer (REFER, sip_refer.go)
// swaps the leg in place: the messaging call, its room and the browser
// stay, and only the leg and its participant change. Everything that acts
// on "the phone" (hanging up, controls, the wait for its end) asks the
// side for the current leg.
type phoneSide struct {
	a      *App
	room   *room.Room
	callID *atomicString // the messaging call (known once it rings)
	user   chat.Identity // the browser user: the transfer target is rung in their name
	codec  sip.Codec     // the room's: a new leg must speak it too

	mu       sync.Mutex
	settled  *sync.Cond // broadcast when a transfer ends (on mu)
	cur      phoneLeg
	transfer *phoneTransfer // the phone's transfer under way, nil when none
	// referring: we asked the phone to transfer (our REFER, from the
	// browser's call.transfer) and wait for the outcome; the phone's own
	// REFER meanwhile is refused, as ours is during the phone's.
	referring bool
	ended     bool // the call ended: no more swaps
	held      bool // the browser side holds the phone (sipControl.Hold)
	// owner is the messaging call that owns the side's end: 0 the one that
	// set it up (connectPhoneCall, DialPhone), then the number of each
	// server-side transfer that handed the phone over (sip_transfer.go).
	// Only the owner's end hangs the phone up and deletes the room.
	owner, transfers int
}

// phoneLeg is one phone's SIP leg in the call.
type phoneLeg struct {
	leg   sipDialog
	part  *bridge.Participant // nil until it is in the room
	trunk string              // the trunk it runs over, "" for a registered phone
	owner string              // the user the phone belongs to ("" none): whose right to call numbers its transfers use
	ext   string              // the extension (or number) it answers on
	name  string              // how it shows
}

// phoneTransfer is the phone's transfer under way.
type phoneTransfer struct {
	cancel context.CancelFunc // stops ringing the target
}

func (a *App) newPhoneSide(r *room.Room, callID *atomicString, user chat.Identity, codec sip.Codec, first phoneLeg) *phoneSide {
	s := &phoneSide{a: a, room: r, callID: callID, user: user, codec: codec, cur: first}
	s.settled = sync.NewCond(&s.mu)
	return s
}

// answered puts the first leg's participant in place once the phone is in
// the room and gives the call its controls: hold and transfer from the
// browser, the phone's holds, keys and transfers.
func (s *phoneSide) answered(part *bridge.Participant) {
	s.mu.Lock()
	s.cur.part = part
	l := s.cur
	s.mu.Unlock()
	s.wire(l)
	id := s.callID.Load()
	s.a.chat.SetPhoneControl(id, s.control(id, l))
}

// control is leg l's controls for messaging call id: a leg over a trunk is
// transferred by the server (sip_transfer.go), so it needs the side.
func (s *phoneSide) control(id string, l phoneLeg) sipControl {
	c := s.a.phoneControl(id, l.leg, l.part, l.trunk)
	c.side = s
	return c
}

// wire hears leg l's keys and transfers (its holds: phoneControl).
func (s *phoneSide) wire(l phoneLeg) {
	if l.part != nil {
		l.part.OnKey(func(e sip.DTMFEvent) { go s.a.chat.PhoneKey(s.callID.Load(), e.Digit) })
	}
	if r, ok := l.leg.(interface {
		OnRefer(func(target string, result func(error)) error)
	}); ok {
		r.OnRefer(s.referHandler(l))
	}
}

// current is the leg now in the call.
func (s *phoneSide) current() phoneLeg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// wait returns once the phone side of the call has ended: the current leg
// ended, with no transfer under way that could still replace it. A leg
// that ends after it was swapped out (the transferring phone's BYE) does
// not end the call. It returns the last leg, whose end reason tells why.
func (s *phoneSide) wait() sipDialog {
	for {
		leg := s.current().leg
		<-leg.Done()
		s.mu.Lock()
		for s.transfer != nil {
			s.settled.Wait()
		}
		same := s.cur.leg == leg
		s.mu.Unlock()
		if same {
			return leg
		}
	}
}

// close ends the phone side (the call ended here): the transfer under way
// stops ringing its target, and the current leg is hung up and leaves the
// room. hangup ends the leg (Call.Hangup answers 480 while it rings). It
// is false, and does nothing, when a server-side transfer handed the phone
// over to another messaging call: the room and the phone live on there.
func (s *phoneSide) close(hangup func(sipDialog)) bool { return s.closeAs(0, hangup) }

// closeAs is close for the messaging call that owner numbers (see owner).
func (s *phoneSide) closeAs(owner int, hangup func(sipDialog)) bool {
	s.mu.Lock()
	if s.owner != owner {
		s.mu.Unlock()
		return false
	}
	s.ended = true
	l, t := s.cur, s.transfer
	s.mu.Unlock()
	if t != nil {
		t.cancel()
	}
	hangup(l.leg)
	if l.part != nil {
		l.part.Leave("hangup")
	}
	return true
}

// hangupLeg is close's usual hang-up.
func hangupLeg(leg sipDialog) {
	if h, ok := leg.(interface{ Hangup() }); ok {
		h.Hangup()
	}
}

// legDial is a call out to a phone or a number (DialPhone, and a phone's
// transfer target).
type legDial struct {
	ph         chat.Phone
	from       chat.Identity // in whose name (From)
	codec      *sip.Codec    // offer only this codec (a transfer target joins a room that has one); nil: the defaults
	onEarly    func(sip.EarlyMedia)
	onProgress func(status int)
	onFailed   func() // a browser SIP client's media failed
}

// dialLeg places the call and waits for the answer: to every phone
// registered on an extension (browser SIP clients among them get a WebRTC
// offer: offerBrowsers; the returned phoneFork says which media won, and
// the caller closes it when the call is over), or to a number over its
// trunk (a nil phoneFork).
func (a *App) dialLeg(ctx context.Context, d legDial) (*sip.OutCall, *phoneFork, error) {
	var codecs []sip.Codec
	if d.codec != nil {
		codecs = []sip.Codec{*d.codec}
	}
	if d.ph.Trunk != "" {
		oc, err := a.sip.srv.DialTrunk(ctx, sip.TrunkDialRequest{Trunk: d.ph.Trunk, Number: d.ph.Extension, Plan: a.numberPlan(),
			FromUser: d.from.Username, FromDisplay: d.from.DisplayName, OnEarly: d.onEarly, OnProgress: d.onProgress, Codecs: codecs})
		return oc, nil, err
	}
	req := sip.DialRequest{Username: d.ph.Extension, FromUser: d.from.Username, FromDisplay: d.from.DisplayName,
		OnEarly: d.onEarly, OnProgress: d.onProgress, Codecs: codecs}
	webCodec := sip.PassthroughCodecs[0]
	if d.codec != nil {
		webCodec = *d.codec
	}
	onFailed := d.onFailed
	if onFailed == nil {
		onFailed = func() {}
	}
	f, err := a.offerBrowsers(&req, webCodec, onFailed)
	if err != nil {
		return nil, nil, err
	}
	oc, err := a.sip.srv.Dial(ctx, req)
	if err != nil {
		f.close()
		return nil, nil, err
	}
	return oc, f, nil
}

// errOtherCodec refuses a leg that answered in a codec its room does not
// carry (a trunk's wideband one: rooms pass one codec through untouched).
var errOtherCodec = errors.New("answered with another codec")

// dialIntoRoom is dialLeg for a leg that joins a room carrying codec (a
// transfer's target): only codec is offered, a browser SIP client whose
// media fails hangs the call up, and an answer in another codec is hung
// up and refused with errOtherCodec.
func (a *App) dialIntoRoom(ctx context.Context, d legDial, codec sip.Codec) (*sip.OutCall, *phoneFork, error) {
	var answered atomic.Pointer[sip.OutCall]
	d.codec = &codec
	d.onFailed = func() {
		if oc := answered.Load(); oc != nil {
			oc.Hangup()
		}
	}
	oc, fork, err := a.dialLeg(ctx, d)
	if err != nil {
		return nil, nil, err
	}
	answered.Store(oc)
	if oc.Codec.Name != codec.Name {
		oc.Hangup()
		fork.close()
		return nil, nil, fmt.Errorf("%w (%s)", errOtherCodec, oc.Codec.Name)
	}
	return oc, fork, nil
}

// startReferring marks our REFER to the phone as under way; false when a
// transfer (ours or the phone's) already is.
func (s *phoneSide) startReferring() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.transfer != nil || s.referring {
		return false
	}
	s.referring = true
	return true
}

// doneReferring ends what startReferring began.
func (s *phoneSide) doneReferring() {
	s.mu.Lock()
	s.referring = false
	s.mu.Unlock()
}
