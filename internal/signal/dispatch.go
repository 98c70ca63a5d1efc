package signal

import (
	"context"
	"errors"

	"switchboard/internal/peer"
	"switchboard/internal/protocol"
	"switchboard/internal/room"
)

// dispatch handles one message of a joined session.
func (c *conn) dispatch(ctx context.Context, msg protocol.Message) {
	p, r := c.peer, c.room
	id := protocol.RequestID(msg)
	ok := func(err error) {
		if err != nil {
			c.reply(id, roomError(err))
		} else if id != "" {
			c.reply(id, &protocol.OK{})
		}
	}
	switch m := msg.(type) {
	case *protocol.Offer:
		switch {
		case r.Settings().P2P:
			c.reply(id, protocol.Errorf(protocol.CodeInvalidState, "this is a peer-to-peer meeting: negotiate with relay"))
		case !c.perms.Publish:
			c.reply(id, protocol.Errorf(protocol.CodeForbidden, "you may not publish in this meeting"))
		default:
			p.HandleOffer(m, func(reply protocol.Message) { c.reply(id, reply) })
		}
	case *protocol.Answer:
		p.HandleAnswer(m, func(reply protocol.Message) {
			if reply != nil {
				c.reply(id, reply)
			} else if id != "" {
				c.reply(id, &protocol.OK{})
			}
		})
	case *protocol.CandidateMsg:
		p.HandleCandidate(m)
	case *protocol.Restart:
		p.RestartICE()
		ok(nil)
	case *protocol.View:
		p.SetView(m)
	case *protocol.Mute:
		ok(r.SetMuted(p.ID(), m.Track, m.Muted))
	case *protocol.Unpublish:
		p.Unpublish(m.Track, func(err error) { ok(err) })
	case *protocol.Chat:
		msg, err := r.Chat(ctx, p.ID(), m.Text, m.File)
		if err != nil {
			c.reply(id, roomError(err))
			return
		}
		if id != "" {
			c.reply(id, &protocol.OK{Seq: msg.Seq})
		}
	case *protocol.Hand:
		r.RaiseHand(p.ID(), m.Raised)
		ok(nil)
	case *protocol.Host:
		ok(r.Host(p.ID(), m.Action, m.Participant))
	case *protocol.DialOut:
		switch {
		case c.s.cfg.DialOut == nil:
			c.reply(id, protocol.Errorf(protocol.CodeInvalidState, "this server has no telephony (SIP is off)"))
		case !r.IsHost(p.ID()):
			c.reply(id, protocol.Errorf(protocol.CodeForbidden, "only a host may call a phone into the meeting"))
		default:
			ok(c.s.cfg.DialOut(DialOutRequest{Room: r, Host: p.ID(), Account: c.account, Target: m.Target, Progress: p.Send}))
		}
	case *protocol.Relay:
		if !r.Settings().P2P {
			c.reply(id, protocol.Errorf(protocol.CodeInvalidState, "relay is only for peer-to-peer meetings"))
			return
		}
		ok(r.Relay(p.ID(), m.To, m.Data))
	default:
		c.reply(id, protocol.Errorf(protocol.CodeInvalidState, "%s is not expected now", msg.TypeName()))
	}
}

// ErrFileNotFound is what a ChatLog returns for an unknown file id.
var ErrFileNotFound = errors.New("no such file")

func roomError(err error) *protocol.Error {
	var pe *protocol.Error
	switch {
	case errors.As(err, &pe):
		return pe
	case errors.Is(err, room.ErrNotHost):
		return protocol.Errorf(protocol.CodeForbidden, "only a host may do that")
	case errors.Is(err, room.ErrNoMember):
		return protocol.Errorf(protocol.CodeNotFound, "no such participant")
	case errors.Is(err, room.ErrNoTrack), errors.Is(err, peer.ErrNoSuch):
		return protocol.Errorf(protocol.CodeNotFound, "no such track")
	case errors.Is(err, ErrFileNotFound), errors.Is(err, room.ErrNotFound):
		return protocol.Errorf(protocol.CodeNotFound, "no such file in this meeting")
	}
	return protocol.Errorf(protocol.CodeInternal, "%v", err)
}
