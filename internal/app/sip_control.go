package app

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"time"

	"switchboard/internal/sip"
	"switchboard/internal/sip/bridge"
	"switchboard/internal/store"
)

// Hold and transfer of a telephone in a call, for messaging (chat's
// PhoneControl): the gateway's side of call.hold, call.resume and
// call.transfer. Either kind of call leg (*sip.Call from a phone,
// *sip.OutCall to one) does the SIP work.

// sipDialog is what both call legs offer for call control.
type sipDialog interface {
	Hold() error
	Resume() error
	Transfer(ctx context.Context, target string) error
	OnHold(func(held bool))
	Done() <-chan struct{}
	EndReason() string
}

// sipControl is one call's telephone, as messaging drives it.
type sipControl struct {
	a      *App
	leg    sipDialog
	part   *bridge.Participant // the phone in the call's room
	trunk  string              // the trunk the leg runs over, "" for a registered phone
	callID string              // the messaging call
	side   *phoneSide          // the call's phone side (nil: a queue's call); a leg over a trunk is transferred through it
}

// controlPhone gives messaging's call callID its telephone's controls and
// reports the phone's own holds. Call it once the phone answered and is in
// the call's room (part).
func (a *App) controlPhone(callID string, leg sipDialog, part *bridge.Participant, trunk string) {
	a.chat.SetPhoneControl(callID, a.phoneControl(callID, leg, part, trunk))
}

// phoneControl makes the controls of a call's telephone leg and reports
// the phone's own holds.
func (a *App) phoneControl(callID string, leg sipDialog, part *bridge.Participant, trunk string) sipControl {
	leg.OnHold(func(held bool) { a.chat.PhoneHeld(callID, held) })
	return sipControl{a: a, leg: leg, part: part, trunk: trunk, callID: callID}
}

// phoneEnded tells messaging that the phone's leg ended: by a transfer the
// phone took, or by a hang-up on either side.
func (a *App) phoneEnded(callID string, leg sipDialog) {
	if leg.EndReason() == sip.EndTransferred {
		a.chat.PhoneTransferred(callID)
		return
	}
	a.chat.EndPhoneCall(callID)
}

// Hold puts the phone on hold or takes it off: the re-INVITE (a=sendonly)
// asks the phone to stop sending, and the bridge stops sending it the room
// (silence instead), so a held caller hears nothing said meanwhile.
func (c sipControl) Hold(held bool) error {
	mute := func(on bool) {
		if c.part != nil {
			c.part.SetHeld(on)
		}
		if c.side != nil {
			c.side.setHeld(on)
		}
	}
	if !held {
		if err := c.leg.Resume(); err != nil {
			return err
		}
		mute(false)
		return nil
	}
	mute(true)
	if err := c.leg.Hold(); err != nil {
		mute(false)
		return err
	}
	return nil
}

// transferTarget is what a phone may be transferred to: a username or an
// extension, never a SIP URI of another host (the phone would call it on
// our behalf).
var transferTarget = regexp.MustCompile(`^[0-9A-Za-z*#._-]{1,64}$`)

// errBadTarget refuses a transfer target.
var errBadTarget = errors.New("transfer a phone to a person's username or to an extension of this server")

// Transfer asks the phone to call target instead (REFER). It returns once
// the target is checked; the REFER's outcome comes later: the call ends as
// transferred, or messaging hears PhoneTransferFailed and the call goes on.
//
// The phone's new call comes back to us as sip:target@realm and is routed
// as its own calls are (routeSIPCall): to a user's browsers or to another
// extension. So the target must be one of those; numbers are refused,
// since a desk phone's call to a number is not routed.
//
// A leg over a trunk is never sent a REFER: the provider would place the
// new call itself, past the trunk's limits and our records. The server
// transfers it instead (transferByServer, sip_transfer.go).
func (c sipControl) Transfer(target string) error {
	if c.trunk != "" {
		if c.side == nil {
			return errors.New("this call over a trunk cannot be transferred")
		}
		return c.side.transferByServer(target)
	}
	target = strings.TrimSpace(target)
	if !transferTarget.MatchString(target) {
		return errBadTarget
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.a.store.UserByUsername(ctx, strings.ToLower(target)); errors.Is(err, store.ErrNotFound) {
		acct, err := c.a.store.SIPAccountByUsername(ctx, target)
		if err != nil || !acct.Enabled {
			return errBadTarget
		}
	} else if err != nil {
		return err
	}
	if c.side != nil && !c.side.startReferring() {
		return errors.New("the phone is transferring the call already: wait for it to finish")
	}
	go func() {
		err := c.leg.Transfer(context.Background(), target)
		if c.side != nil {
			c.side.doneReferring()
		}
		if err != nil {
			c.a.log.Info("sip: transfer failed", "chat_call", c.callID, "err", err)
			c.a.chat.PhoneTransferFailed(c.callID)
		}
	}()
	return nil
}
