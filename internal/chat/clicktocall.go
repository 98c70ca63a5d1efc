package chat

import (
	"context"
	"errors"

	"switchboard/internal/protocol"
)

// Click-to-call. A website visitor (a widget's token, no account) may call
// one telephone: the number or extension the widget is set up with, which
// Config.ClickToCall looks up (and limits) on the server. The visitor asks
// with call {clickToCall: true} and never names the destination, so a
// visitor's token is not a dialler; the call then runs as a user's call to
// a telephone does (ringing, accepted with a room, ended), written into no
// conversation.

// ErrTooManyCalls, wrapped in ClickToCall's error, refuses a call as
// rate_limited; other errors refuse it as forbidden, with their text.
var ErrTooManyCalls = errors.New("too many calls")

// ClickToCall calls the telephone of visitor device d's widget.
func (c *calls) ClickToCall(ctx context.Context, d *device) (protocol.CallInfo, error) {
	s := c.s
	if !d.me.Visitor() {
		return protocol.CallInfo{}, errorf(protocol.CodeBadRequest, "clickToCall is for website visitors; call a phone with phone")
	}
	if s.cfg.ClickToCall == nil {
		return protocol.CallInfo{}, errorf(protocol.CodeInvalidState, "calls to telephones are not available on this server")
	}
	target, err := s.cfg.ClickToCall(ctx, d.me)
	switch {
	case errors.Is(err, ErrTooManyCalls):
		return protocol.CallInfo{}, errorf(protocol.CodeRateLimited, "%s", err.Error())
	case err != nil:
		return protocol.CallInfo{}, errorf(protocol.CodeForbidden, "%s", err.Error())
	}
	info, err := c.startPhone(ctx, d, &protocol.StartCall{Phone: target}, true)
	info.Phone = "" // the destination is the organisation's business, and so are the gateway's errors
	var pe *protocol.Error
	if errors.As(err, &pe) {
		s.log.Info("chat: click-to-call refused", "visitor", d.me.UserID, "code", pe.Code, "err", pe.Message)
		return info, errorf(protocol.CodeInvalidState, "we cannot take your call right now; please try again later")
	}
	return info, err
}
