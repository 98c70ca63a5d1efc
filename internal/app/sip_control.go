package app

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"time"

	"switchboard/internal/chat"
	"switchboard/internal/sip"
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
	callID string        // the messaging call
	caller chat.Identity // who may transfer the phone, and to where
}

// controlPhone gives messaging's call callID its telephone's controls and
// reports the phone's own holds. Call it once the phone answered.
func (a *App) controlPhone(callID string, leg sipDialog, caller chat.Identity) {
	leg.OnHold(func(held bool) { a.chat.PhoneHeld(callID, held) })
	a.chat.SetPhoneControl(callID, sipControl{a: a, leg: leg, callID: callID, caller: caller})
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

// Hold puts the phone on hold (re-INVITE a=sendonly) or takes it off.
func (c sipControl) Hold(held bool) error {
	if held {
		return c.leg.Hold()
	}
	return c.leg.Resume()
}

// transferTarget is what a user may transfer a phone to: a username, an
// extension or a number, never a SIP URI of another host (the phone would
// call it on our behalf).
var transferTarget = regexp.MustCompile(`^\+?[0-9A-Za-z*#._-]{1,64}$`)

// errBadTarget refuses a transfer target.
var errBadTarget = errors.New("transfer to a person's username, an extension or a phone number this server can call")

// Transfer asks the phone to call target instead (REFER). It returns once
// the target is checked; the REFER's outcome comes later: the call ends as
// transferred, or messaging hears PhoneTransferFailed and the call goes on.
func (c sipControl) Transfer(target string) error {
	target = strings.TrimSpace(target)
	if !transferTarget.MatchString(target) {
		return errBadTarget
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The phone's new call comes back to us (sip:target@realm), where it is
	// routed like any other: the target must be one we can reach, and a
	// number one the transferring user may call.
	if _, err := c.a.store.UserByUsername(ctx, strings.ToLower(target)); errors.Is(err, store.ErrNotFound) {
		if _, err := (sipPhones{c.a}).FindPhone(ctx, c.caller, target, false); err != nil {
			return errBadTarget
		}
	} else if err != nil {
		return err
	}
	go func() {
		if err := c.leg.Transfer(context.Background(), target); err != nil {
			c.a.log.Info("sip: transfer failed", "chat_call", c.callID, "err", err)
			c.a.chat.PhoneTransferFailed(c.callID)
		}
	}()
	return nil
}
