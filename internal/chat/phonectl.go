package chat

import (
	"context"

	"switchboard/internal/protocol"
)

// Hold, resume and transfer in calls with a telephone (docs/protocol.md,
// "Calls with telephones"). The gateway gives a call its PhoneControl once
// the phone answered; a party's device asks with call.hold, call.resume or
// call.transfer, and every party's devices hear the outcome as call.state
// held, active or transferring (By: the user, or "phone" when the phone did
// it). The gateway reports what the phone does with PhoneEarly, PhoneHeld
// and PhoneTransferred.

// PhoneControl is what the gateway can do with a telephone in a call besides
// hanging up. Both are called from a device's request (which waits for them),
// so they must return within seconds: Hold once the re-INVITE is answered,
// Transfer once the REFER is accepted (202); a transfer that fails after that
// is reported with PhoneTransferFailed.
type PhoneControl interface {
	Hold(held bool) error         // re-INVITE sendonly/sendrecv to the phone
	Transfer(target string) error // blind transfer of the phone to target; returns once started
}

// reasonTransferred ends a call whose telephone was transferred elsewhere.
const reasonTransferred = "transferred"

// PhoneTransferredReason is the reason PhoneCall.OnEnd and DialPhone's
// hang-up function get when the phone was transferred: the gateway ends its
// leg as a transferor does after the REFER succeeded (BYE, unless the phone
// already hung up), and leaves the phone's new call alone.
const PhoneTransferredReason = reasonTransferred

// ByPhone is CallState.By when the telephone itself held or resumed.
const ByPhone = "phone"

// phoneCtl is a call's telephone control state, guarded by calls.mu.
type phoneCtl struct {
	pc           PhoneControl
	held         bool // we (a party) hold the phone
	heldByPhone  bool // the phone holds us
	transferring bool
	changing     bool // a hold or resume is under way (one request at a time)
	phones       int  // how many times the telephone was replaced (PhoneReplaced)
}

// SetPhoneControl gives the call its telephone's controls (the gateway, once
// the phone answered). Ignored when the call is gone.
func (s *Service) SetPhoneControl(callID string, pc PhoneControl) {
	c := s.calls
	c.mu.Lock()
	defer c.mu.Unlock()
	if k := c.m[callID]; k != nil && !k.ended {
		k.ctl.pc = pc
	}
}

// PhoneEarly tells the caller's devices, while a telephone they call still
// rings, to join room to hear its early media (ringback, announcements).
// False when the call has ended or is not a ringing call to a phone.
func (s *Service) PhoneEarly(callID, room string) bool {
	c := s.calls
	c.mu.Lock()
	k := c.m[callID]
	if k == nil || k.ended || k.phone == "" || !k.connected.IsZero() || room == "" {
		c.mu.Unlock()
		return false
	}
	k.room = room
	devs := make(map[string]bool, len(k.devices))
	for id := range k.devices {
		devs[id] = true
	}
	caller := k.caller
	c.mu.Unlock()
	token, err := s.cfg.Rooms.JoinToken(room, caller)
	if err != nil {
		s.log.Error("chat: early media token", "err", err)
		return false
	}
	frame := protocol.Encode(&protocol.CallState{Call: callID, State: "early", Room: room, Token: token, By: ByPhone})
	s.hub.toDevices(caller.UserID, frame, func(x *device) bool { return devs[x.id] })
	return true
}

// PhoneHeld tells the parties that the telephone put the call on hold
// (held) or took it off.
func (s *Service) PhoneHeld(callID string, held bool) {
	c := s.calls
	c.mu.Lock()
	k := c.m[callID]
	if k == nil || k.ended || k.ctl.heldByPhone == held {
		c.mu.Unlock()
		return
	}
	k.ctl.heldByPhone = held
	either := held || k.ctl.held
	c.mu.Unlock()
	s.phoneState(k, holdState(either), ByPhone)
}

// PhoneTransferred ends a call whose telephone was transferred (by us, or by
// a REFER from the phone): reason transferred.
func (s *Service) PhoneTransferred(callID string) {
	c := s.calls
	c.mu.Lock()
	k := c.m[callID]
	c.mu.Unlock()
	if k != nil {
		c.end(k, reasonTransferred)
	}
}

// PhoneTransferFailed tells the parties that a transfer that had started
// did not complete (the NOTIFY reported a failure): the call goes on as it
// was, told as its state again with reason transfer_failed.
func (s *Service) PhoneTransferFailed(callID string) {
	c := s.calls
	c.mu.Lock()
	k := c.m[callID]
	if k == nil || k.ended || !k.ctl.transferring {
		c.mu.Unlock()
		return
	}
	k.ctl.transferring = false
	held := k.ctl.held || k.ctl.heldByPhone
	c.mu.Unlock()
	s.phoneStateWhy(k, holdState(held), ByPhone, reasonTransferFailed)
}

// reasonTransferFailed goes with the state a call returns to after a failed transfer.
const reasonTransferFailed = "transfer_failed"

func holdState(held bool) string {
	if held {
		return "held"
	}
	return "active"
}

// phoneParty finds a call with a telephone that me is in, for a request,
// and marks the telephone busy with it (transfer: transferring; else
// changing), so that two requests never reach the phone at once; release
// clears changing.
func (c *calls) phoneParty(id string, me Identity, transfer bool) (*call, PhoneControl, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := c.m[id]
	if k == nil || k.ended || me.UserID == "" {
		return nil, nil, errorf(protocol.CodeNotFound, "no call %s that you are in", id)
	}
	if _, in := k.in[me.UserID]; !in {
		return nil, nil, errorf(protocol.CodeNotFound, "no call %s that you are in", id)
	}
	if k.ctl.pc == nil {
		if (k.phone != "" || k.onEnd != nil) && k.connected.IsZero() {
			return nil, nil, errorf(protocol.CodeInvalidState, "the telephone has not answered yet")
		}
		if k.phone != "" || k.onEnd != nil {
			return nil, nil, errorf(protocol.CodeInvalidState, "this call's telephone cannot be held or transferred")
		}
		return nil, nil, errorf(protocol.CodeInvalidState, "only calls with a telephone can be held or transferred")
	}
	if k.ctl.transferring {
		return nil, nil, errorf(protocol.CodeInvalidState, "the call is being transferred")
	}
	if k.ctl.changing {
		return nil, nil, errorf(protocol.CodeInvalidState, "the telephone is being put on hold or taken off; try again")
	}
	if transfer {
		k.ctl.transferring = true
	} else {
		k.ctl.changing = true
	}
	return k, k.ctl.pc, nil
}

// Hold puts the telephone in call id on hold (held) or resumes it, for device d.
func (c *calls) Hold(_ context.Context, d *device, id string, held bool) error {
	k, pc, err := c.phoneParty(id, d.me, false)
	if err != nil {
		return err
	}
	c.mu.Lock()
	same, phone := k.ctl.held == held, k.ctl.phones
	c.mu.Unlock()
	if same {
		c.mu.Lock()
		k.ctl.changing = false
		c.mu.Unlock()
		return nil // already so: nothing to tell the phone
	}
	err = pc.Hold(held)
	c.mu.Lock()
	k.ctl.changing = false
	if err == nil && k.ctl.phones != phone {
		// The telephone was replaced meanwhile (it transferred the call):
		// the hold was the old one's, and the new one is not held.
		c.mu.Unlock()
		return errorf(protocol.CodeInvalidState, "the telephone changed meanwhile (it transferred the call); try again")
	}
	if err == nil {
		k.ctl.held = held
	}
	either := k.ctl.held || k.ctl.heldByPhone // the phone may hold us still
	c.mu.Unlock()
	if err != nil {
		c.s.log.Info("chat: the telephone did not take the hold or resume", "call", id, "held", held, "err", err)
		return errorf(protocol.CodeInvalidState, "the telephone refused: %v", err)
	}
	c.s.phoneState(k, holdState(either), d.me.UserID)
	return nil
}

// Transfer hands the telephone in call id over to target, for device d. The
// call ends (transferred) when the gateway reports PhoneTransferred; when the
// transfer cannot start the call goes on as it was.
func (c *calls) Transfer(_ context.Context, d *device, id, target string) error {
	k, pc, err := c.phoneParty(id, d.me, true)
	if err != nil {
		return err
	}
	c.mu.Lock()
	held := k.ctl.held || k.ctl.heldByPhone
	c.mu.Unlock()
	c.s.phoneState(k, "transferring", d.me.UserID)
	if err := pc.Transfer(target); err != nil {
		c.mu.Lock()
		k.ctl.transferring = false
		ended := k.ended
		c.mu.Unlock()
		if !ended {
			c.s.phoneStateWhy(k, holdState(held), d.me.UserID, reasonTransferFailed)
		}
		c.s.log.Info("chat: transfer failed", "call", id, "err", err)
		return errorf(protocol.CodeInvalidState, "the transfer to %s failed: %v", target, err)
	}
	return nil
}

// phoneState tells every party's devices the call's new state.
func (s *Service) phoneState(k *call, state, by string) { s.phoneStateWhy(k, state, by, "") }

// phoneStateWhy is phoneState with a reason.
func (s *Service) phoneStateWhy(k *call, state, by, reason string) {
	c := s.calls
	c.mu.Lock()
	if k.ended {
		c.mu.Unlock()
		return
	}
	users := make([]string, 0, len(k.in)+1)
	for u := range k.in {
		users = append(users, u)
	}
	c.mu.Unlock()
	frame := protocol.Encode(&protocol.CallState{Call: k.id, State: state, By: by, Reason: reason})
	for _, u := range users {
		if u != "" {
			s.hub.toUser(u, frame)
		}
	}
}

// reasonPhoneTransferred goes with the state active of a call whose
// telephone transferred it to another telephone (PhoneReplaced).
const reasonPhoneTransferred = "phone_transferred"

// PhoneReplaced tells the parties that the call's telephone transferred it
// to another telephone, which answered and now is in the call's room in its
// place (the gateway swapped the legs: the call and its room stay). ext and
// name are the new telephone's (CallInfo.phone and phoneName); pc its
// controls. The parties' devices get call.state active with reason
// phone_transferred, phone and phoneName. When the call came from the old
// telephone on behalf of its user, that user is no longer in the call: their
// devices get ended with reason transferred. False when the call is gone.
func (s *Service) PhoneReplaced(callID, ext, name string, pc PhoneControl) bool {
	c := s.calls
	c.mu.Lock()
	k := c.m[callID]
	if k == nil || k.ended {
		c.mu.Unlock()
		return false
	}
	k.phone, k.phoneName = ext, name
	// A new telephone: nobody holds it. A hold under way was the old one's.
	k.ctl = phoneCtl{pc: pc, changing: k.ctl.changing, phones: k.ctl.phones + 1}
	left := ""
	if k.onAnswer != nil && k.caller.UserID != "" { // a call from a desk phone in its user's name (CallFromPhone)
		if _, in := k.in[k.caller.UserID]; in {
			left = k.caller.UserID
			delete(k.in, left)
		}
	}
	users := make([]string, 0, len(k.in))
	for u := range k.in {
		users = append(users, u)
	}
	c.mu.Unlock()
	if left != "" {
		s.pres.inCall(left, -1)
		s.hub.toUser(left, protocol.Encode(&protocol.CallState{Call: callID, State: "ended", Reason: reasonTransferred}))
	}
	frame := protocol.Encode(&protocol.CallState{Call: callID, State: "active", By: ByPhone, Reason: reasonPhoneTransferred,
		Phone: ext, PhoneName: name})
	for _, u := range users {
		if u != "" {
			s.hub.toUser(u, frame)
		}
	}
	return true
}
