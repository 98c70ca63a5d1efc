package chat

import (
	"context"
	"errors"
	"time"

	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// Calls from telephones. A desk phone whose SIP account is linked to a
// user calls another user: the callee's devices ring as for a call from
// that user (call.incoming, in their direct conversation), and the call is
// written into it. The media runs in a room the caller of CallFromPhone
// made (an SFU room carrying G.711), which the phone joins itself, so the
// answering device is only told where to go.

// Reasons a call from a phone ends, as given to PhoneCall.OnEnd.
const (
	PhoneDeclined  = reasonDeclined
	PhoneBusy      = reasonBusy
	PhoneNoAnswer  = reasonNoAnswer
	PhoneCancelled = reasonCancelled
	PhoneHangup    = reasonHangup
	PhoneFailed    = reasonFailed
)

// PhoneCall describes a call from a telephone.
type PhoneCall struct {
	Caller Identity // the user the phone belongs to
	Callee string   // user id
	Room   string   // the room the phone is in or will join
	// Extension and Name are the calling phone's (CallInfo.phone and
	// phoneName: the callee's devices see a call with a telephone).
	Extension, Name string
	// OnAnswer is called when a device answers (from that device's request:
	// it must not block); OnEnd once when the call ends, with the reason.
	OnAnswer func()
	OnEnd    func(reason string)
}

// CallFromPhone rings the callee and returns the call's id. The call ends
// by itself (declined, no answer, busy, hung up in the browser), or by
// EndPhoneCall when the phone hangs up.
func (s *Service) CallFromPhone(ctx context.Context, pc PhoneCall) (string, error) {
	info, err := s.Direct(ctx, pc.Caller, pc.Callee)
	if err != nil {
		return "", err
	}
	c := s.calls
	k := &call{id: newID(), conv: info.ID, caller: pc.Caller, invited: map[string]bool{pc.Callee: true},
		answered: map[string]bool{}, in: map[string]Identity{}, devices: map[string]bool{}, room: pc.Room,
		started: s.cfg.Now(), onAnswer: pc.OnAnswer, onEnd: pc.OnEnd, phone: pc.Extension, phoneName: pc.Name}
	c.mu.Lock()
	busy := c.busyLocked(k.invited)
	if !busy {
		c.m[k.id] = k
		k.in[pc.Caller.UserID] = pc.Caller
		k.ring = time.AfterFunc(s.cfg.RingTimeout, func() { c.ringTimeout(k) })
	}
	c.mu.Unlock()
	if busy {
		clear(k.invited)
		c.end(k, reasonBusy)
		return k.id, nil
	}
	s.pres.inCall(pc.Caller.UserID, 1)
	conv, err := s.st.Conversation(ctx, info.ID)
	if err != nil {
		c.end(k, reasonFailed)
		return "", s.internal("call", err)
	}
	s.hub.toUser(pc.Callee, protocol.Encode(&protocol.CallIncoming{Call: c.info(k)}))
	s.notifyCall(ctx, pc.Callee, k, conv)
	return k.id, nil
}

// Calls from telephone numbers. A call that comes in over a trunk has no
// user behind it: the callee's devices ring with call.incoming whose from
// is "" and phone the caller's number (phoneName its display name, when
// the trunk gave one). No conversation is involved, so nothing is written
// anywhere; otherwise it runs like a call from a desk phone: the gateway's
// room, OnAnswer and OnEnd, and EndPhoneCall when the caller hangs up.

// NumberCall describes a call from a telephone number.
type NumberCall struct {
	Number string // the caller's number (E.164 when the trunk sent one)
	Name   string // the caller's display name, "" when unknown
	Callee string // user id
	Room   string // the room the call will join
	// OnAnswer and OnEnd as for PhoneCall.
	OnAnswer func()
	OnEnd    func(reason string)
}

// CallFromNumber rings the callee for a call from a telephone number and
// returns the call's id.
func (s *Service) CallFromNumber(ctx context.Context, nc NumberCall) (string, error) {
	if nc.Number == "" || nc.Callee == "" || nc.Room == "" {
		return "", errors.New("chat: a call from a number needs the number, the callee and a room")
	}
	c := s.calls
	name := nc.Name
	if name == "" {
		name = nc.Number
	}
	k := &call{id: newID(), caller: Identity{DisplayName: name}, invited: map[string]bool{nc.Callee: true},
		answered: map[string]bool{}, in: map[string]Identity{}, devices: map[string]bool{}, room: nc.Room,
		started: s.cfg.Now(), onAnswer: nc.OnAnswer, onEnd: nc.OnEnd, phone: nc.Number, phoneName: nc.Name}
	c.mu.Lock()
	busy := c.busyLocked(k.invited)
	if !busy {
		c.m[k.id] = k
		k.ring = time.AfterFunc(s.cfg.RingTimeout, func() { c.ringTimeout(k) })
	}
	c.mu.Unlock()
	if busy {
		clear(k.invited)
		c.end(k, reasonBusy)
		return k.id, nil
	}
	s.hub.toUser(nc.Callee, protocol.Encode(&protocol.CallIncoming{Call: c.info(k)}))
	s.notifyCall(ctx, nc.Callee, k, store.Conversation{})
	return k.id, nil
}

// EndPhoneCall ends a call from a phone that hung up (before an answer:
// cancelled; after: hangup).
func (s *Service) EndPhoneCall(id string) {
	c := s.calls
	c.mu.Lock()
	k := c.m[id]
	connected := k != nil && !k.connected.IsZero()
	c.mu.Unlock()
	if k == nil {
		return
	}
	if connected {
		c.end(k, reasonHangup)
	} else {
		c.end(k, reasonCancelled)
	}
}

// Calls to telephones. A signed-in user calls a registered desk phone by
// its extension (a SIP account's username) or by the username of a user
// whose linked SIP account is registered. The gateway (Phones) rings the
// phone; nobody's browser rings. When the phone answers, the gateway puts
// it in a room (G.711) and PhoneAnswered sends the caller's devices there,
// as for any answered call. The call is written into the caller's direct
// conversation with the phone's user, or nowhere when the phone belongs to
// nobody.

// Phones reaches telephones for calls users make to them.
type Phones interface {
	// FindPhone resolves what the caller dialled; store.ErrNotFound when no
	// registered phone matches. byServer is a destination an admin set up
	// (click-to-call): the caller's own right to dial numbers does not apply.
	FindPhone(ctx context.Context, caller Identity, target string, byServer bool) (Phone, error)
	// DialPhone starts ringing the phone for the chat call id and returns
	// at once. The gateway reports back with PhoneAnswered and
	// EndPhoneCall/EndPhoneCallWith; the returned function ends the
	// telephone side when the call ends here (CANCEL or BYE).
	DialPhone(call string, caller Identity, p Phone) (hangup func(reason string))
}

// Phone is a registered telephone a user may call.
type Phone struct {
	Extension string // the SIP account's username, or the E.164 number called through Trunk
	User      string // the user it belongs to; "" for none
	Name      string // how to show it
	Trunk     string // the trunk a number is called through; "" for a registered phone
	// Label is the telephone's display name for the call (CallInfo.phoneName), "" for none.
	Label string
	// Contact is the customer contact whose waiting caller is connected
	// (ContactPhones); "" otherwise.
	Contact string
}

// StartPhone calls a telephone from device d.
func (c *calls) StartPhone(ctx context.Context, d *device, req *protocol.StartCall) (protocol.CallInfo, error) {
	return c.startPhone(ctx, d, req, false)
}

// startPhone calls req.Phone from device d; byServer: see Phones.FindPhone.
func (c *calls) startPhone(ctx context.Context, d *device, req *protocol.StartCall, byServer bool) (protocol.CallInfo, error) {
	s := c.s
	me := d.me
	if s.cfg.Phones == nil || s.cfg.Rooms == nil {
		return protocol.CallInfo{}, errorf(protocol.CodeInvalidState, "calls to phones are not available on this server")
	}
	ph, err := s.cfg.Phones.FindPhone(ctx, me, req.Phone, byServer)
	if errors.Is(err, store.ErrNotFound) {
		return protocol.CallInfo{}, errorf(protocol.CodeNotFound, "no registered phone matches %q", req.Phone)
	}
	if err != nil {
		return protocol.CallInfo{}, s.internal("call phone", err)
	}
	convID := ""
	if ph.User != "" && ph.User != me.UserID && !me.Visitor() {
		info, err := s.Direct(ctx, me, ph.User)
		if err != nil {
			return protocol.CallInfo{}, err
		}
		if _, err := s.writable(ctx, me, info.ID); err != nil {
			return protocol.CallInfo{}, err
		}
		convID = info.ID
	}
	return c.callPhone(d, convID, ph, s.cfg.Phones.DialPhone), nil
}

// callPhone starts a call from device d to the telephone ph, written into
// conversation convID ("" for none): dial reaches the phone, which reports
// back with PhoneAnswered and EndPhoneCall/EndPhoneCallWith.
func (c *calls) callPhone(d *device, convID string, ph Phone, dial func(call string, caller Identity, p Phone) func(reason string)) protocol.CallInfo {
	s := c.s
	me := d.me
	k := &call{id: newID(), conv: convID, caller: me, invited: map[string]bool{}, answered: map[string]bool{},
		in: map[string]Identity{}, devices: map[string]bool{d.id: true}, started: s.cfg.Now(), phone: ph.Extension, phoneName: ph.Label}
	info := c.info(k)
	c.mu.Lock()
	c.m[k.id] = k
	k.in[me.UserID] = me
	k.ring = time.AfterFunc(s.cfg.RingTimeout, func() { c.ringTimeout(k) })
	c.mu.Unlock()
	s.pres.inCall(me.UserID, 1)
	hangup := dial(k.id, me, ph)
	c.mu.Lock()
	ended := k.ended
	if !ended {
		k.onEnd = hangup
	}
	c.mu.Unlock()
	if ended {
		// The phone refused before we got here: the gateway ended its side.
		return info
	}
	// The caller's other devices see the call too.
	s.hub.toDevices(me.UserID, protocol.Encode(&protocol.CallState{Call: k.id, State: "ringing", By: me.UserID}),
		func(x *device) bool { return x != d })
	return info
}

// Calls with the telephone of a customer contact. An agent who calls in a
// contact's conversation whose visitor is a telephone (a caller waiting on
// a queue's number, or a number a visitor asked to be called back on)
// talks with that telephone: the gateway connects the waiting caller, or
// dials the number, and the call is written into the conversation.

// ContactPhones finds and connects the telephone behind a customer
// contact (internal/app).
type ContactPhones interface {
	// ContactPhone tells whether conv is a contact with a telephone that
	// agent handles (ok), and how to reach it. An error refuses the call
	// (its text is for the agent; wrap ErrTooManyCalls for rate_limited).
	ContactPhone(ctx context.Context, agent Identity, conv string) (p Phone, ok bool, err error)
	// ConnectPhone connects it to the call, as Phones.DialPhone does.
	ConnectPhone(call string, agent Identity, p Phone) (hangup func(reason string))
}

// contactPhone starts an agent's call with the telephone of the contact
// in conv; ok false when conv has none.
func (c *calls) contactPhone(ctx context.Context, d *device, conv string) (protocol.CallInfo, bool, error) {
	s := c.s
	ph, ok, err := s.cfg.ContactPhones.ContactPhone(ctx, d.me, conv)
	switch {
	case errors.Is(err, ErrTooManyCalls):
		return protocol.CallInfo{}, true, errorf(protocol.CodeRateLimited, "%s", err.Error())
	case err != nil:
		return protocol.CallInfo{}, true, errorf(protocol.CodeInvalidState, "%s", err.Error())
	case !ok:
		return protocol.CallInfo{}, false, nil
	}
	if _, err := s.writable(ctx, d.me, conv); err != nil {
		return protocol.CallInfo{}, true, err
	}
	return c.callPhone(d, conv, ph, s.cfg.ContactPhones.ConnectPhone), true, nil
}

// PhoneAnswered tells the caller's devices that the phone answered and
// which room to join. False when the call has ended meanwhile: the gateway
// then hangs up.
func (s *Service) PhoneAnswered(id, room string) bool {
	c := s.calls
	c.mu.Lock()
	k := c.m[id]
	if k == nil || k.ended || k.phone == "" {
		c.mu.Unlock()
		return false
	}
	k.room = room
	k.connected = s.cfg.Now()
	k.ring.Stop()
	watch := !k.watching
	k.watching = true
	c.mu.Unlock()
	c.accept(k, nil, k.caller)
	if watch {
		s.wg.Go(func() { c.watch(k) })
	}
	return true
}

// PhoneCallLive tells whether call id is still going (ringing or up).
func (s *Service) PhoneCallLive(id string) bool {
	c := s.calls
	c.mu.Lock()
	defer c.mu.Unlock()
	k := c.m[id]
	return k != nil && !k.ended
}

// EndPhoneCallWith ends a call with a telephone for reason (PhoneBusy,
// PhoneDeclined, PhoneNoAnswer, PhoneFailed, PhoneHangup, PhoneCancelled).
func (s *Service) EndPhoneCallWith(id, reason string) {
	c := s.calls
	c.mu.Lock()
	k := c.m[id]
	c.mu.Unlock()
	if k != nil {
		c.end(k, reason)
	}
}

// PhoneKey tells the parties of a call with a telephone that a key was
// pressed on it (digit: 0-9 * # A-D).
func (s *Service) PhoneKey(id string, digit byte) {
	c := s.calls
	c.mu.Lock()
	k := c.m[id]
	var users []string
	if k != nil && !k.ended {
		for u := range k.in {
			users = append(users, u)
		}
	}
	c.mu.Unlock()
	frame := protocol.Encode(&protocol.CallDTMF{Call: id, Digit: string(digit)})
	for _, u := range users {
		s.hub.toUser(u, frame)
	}
}
