package chat

import (
	"context"
	"time"

	"switchboard/internal/protocol"
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
		started: s.cfg.Now(), onAnswer: pc.OnAnswer, onEnd: pc.OnEnd}
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
