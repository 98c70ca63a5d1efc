package sip

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Calls out through a trunk. DialTrunk sends the INVITE to the trunk's host
// over its transport, with the number in the Request-URI written the way
// the trunk wants it (NumberFormat), our From as the trunk's username at
// its domain (the caller's name as display name), and answers 401/407 with
// the trunk's credentials (sipgo's dialog client does the digest). The
// answer is handled as for calls to phones (Dial): the same errors, the
// same OutCall, which also counts against the trunk's MaxCalls until it ends.

// ErrNoTrunk is returned by DialTrunk for an unknown or disabled trunk.
var ErrNoTrunk = errors.New("sip: no such trunk, or it is disabled")

// TrunkDialRequest says which number to call through which trunk.
type TrunkDialRequest struct {
	Trunk  string // the trunk's id
	Number string // E.164
	// Plan writes the number for the trunk (national format).
	Plan NumberPlan
	// FromDisplay is the display name in From (the calling user's name);
	// FromUser the user part when the trunk has no username.
	FromDisplay string
	FromUser    string
	// OnProgress, when set, is called for each provisional response above
	// 100. It must not block.
	OnProgress func(status int)
}

// DialTrunk calls a number through a trunk and waits for the answer;
// cancelling ctx before it cancels the call (see Dial). ErrTrunkBusy when
// the trunk is at its call limit.
func (s *Server) DialTrunk(ctx context.Context, r TrunkDialRequest) (*OutCall, error) {
	ts := s.trunk(r.Trunk)
	if ts == nil || !ts.Enabled {
		return nil, ErrNoTrunk
	}
	if !IsE164(r.Number) {
		return nil, fmt.Errorf("%w: %q is not in E.164 form", ErrBadNumber, r.Number)
	}
	t := ts.Trunk
	if !ts.acquire() {
		s.log.Warn("sip: call out refused: at the trunk's call limit", "trunk", t.Name, "max_calls", t.MaxCalls)
		return nil, ErrTrunkBusy
	}
	keep := false
	defer func() {
		if !keep {
			ts.release()
		}
	}()
	dest, err := resolveTrunk(ctx, t)
	if err != nil {
		return nil, &DialError{Status: 503, Reason: err.Error()}
	}

	user := r.Plan.Format(r.Number, t.NumberFormat)
	host, port, _ := t.hostPort()
	target := sip.Uri{Scheme: "sip", User: user, Host: host}
	if (t.Transport == TransportTLS && port != 5061) || (t.Transport != TransportTLS && port != 5060) {
		target.Port = port
	}
	fromUser := t.Username
	if fromUser == "" {
		fromUser = r.FromUser
	}
	media := s.mediaIPFor(dest.String())
	contact := s.contactFor(t.sipTransport(), media, fromUser)
	req := sip.NewRequest(sip.INVITE, target)
	from := &sip.FromHeader{DisplayName: r.FromDisplay, Address: sip.Uri{Scheme: "sip", User: fromUser, Host: t.domain()},
		Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: t.domain()}})
	req.AppendHeader(&sip.ContactHeader{Address: contact})
	req.AppendHeader(sip.NewHeader("Allow", allowed))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(sip.NewHeader("User-Agent", s.cfg.UserAgent))
	s.toTrunk(req, t, dest)

	c, err := s.invite(ctx, req, contact, inviteOptions{label: r.Number, trunk: t.Name, trunkID: t.ID, onProgress: r.OnProgress,
		auth: sipgo.AnswerOptions{Username: t.authUser(), Password: t.Password}})
	if err != nil {
		return nil, err
	}
	keep = true
	s.wg.Go(func() {
		<-c.done
		ts.release()
	})
	return c, nil
}

type inviteOptions struct {
	label      string // whom we call, for logs and OutCall.To
	trunk      string // the trunk's name, for logs
	trunkID    string // OutCall.Trunk
	onProgress func(int)
	auth       sipgo.AnswerOptions // credentials for a challenge
}

// invite offers our media in req, sends it, and waits for the answer: the
// part of a call out that does not depend on where it goes. It follows
// Dial's handling of answers, refusals and cancellation.
func (s *Server) invite(ctx context.Context, req *sip.Request, contact sip.Uri, o inviteOptions) (*OutCall, error) {
	if int(s.activeCalls.Add(1)) > s.cfg.MaxCalls {
		s.activeCalls.Add(-1)
		s.log.Warn("sip: call out refused: at capacity", "to", o.label, "max_calls", s.cfg.MaxCalls)
		return nil, &DialError{Status: 503, Reason: "Service Unavailable"}
	}
	counted := true
	defer func() {
		if counted {
			s.activeCalls.Add(-1)
		}
	}()
	s.m.CallAttempts.Add(1)
	rs, err := s.openRTP(s.mediaIPFor(req.Destination()))
	if err != nil {
		return nil, err
	}
	keepRTP := false
	defer func() {
		if !keepRTP {
			rs.Close()
		}
	}()
	var sid [8]byte
	rand.Read(sid[:])
	req.SetBody(SessionSDP(rs.LocalAddr(), binary.BigEndian.Uint64(sid[:])>>2, 1, PassthroughCodecs, int(offerDTMF), SendRecv))

	dua := sipgo.DialogUA{Client: s.client, ContactHDR: sip.ContactHeader{Address: contact}, RewriteContact: true}
	sess, err := dua.WriteInvite(context.Background(), req)
	if err != nil {
		return nil, fmt.Errorf("sip: invite %s: %w", o.label, err)
	}
	defer func() {
		if !keepRTP {
			sess.Close()
		}
	}()
	id := callID(req)
	log := s.log.With("call", id, "to", o.label, "trunk", o.trunk)
	log.Info("sip: calling out", "destination", req.Destination(), "transport", req.Transport())

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-wctx.Done():
		}
	}()
	opts := o.auth
	opts.OnResponse = func(res *sip.Response) error {
		if res.StatusCode > 100 && res.StatusCode < 200 && o.onProgress != nil {
			o.onProgress(res.StatusCode)
		}
		return nil
	}
	err = sess.WaitAnswer(wctx, opts)
	if err != nil {
		if wctx.Err() != nil && sess.InviteResponse != nil && sess.InviteResponse.IsSuccess() {
			// The 200 crossed our CANCEL: confirm the dialog, then end it.
			if sess.Ack(context.Background()) == nil {
				s.wg.Go(func() {
					bctx, bcancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer bcancel()
					sess.Bye(bctx)
				})
			}
		}
		var dr *sipgo.ErrDialogResponse
		switch {
		case wctx.Err() != nil:
			log.Info("sip: call out cancelled")
			return nil, ErrDialCancelled
		case errors.As(err, &dr):
			log.Info("sip: call out refused", "status", dr.Res.StatusCode)
			return nil, &DialError{Status: dr.Res.StatusCode, Reason: dr.Res.Reason}
		default:
			log.Info("sip: call out got no answer", "err", err)
			return nil, &DialError{Status: 408, Reason: "Request Timeout"}
		}
	}
	res := sess.InviteResponse
	ans, err := ParseSDP(res.Body())
	var codec Codec
	if err == nil {
		codec, err = Negotiate(ans, PassthroughCodecs)
	}
	if err == nil && ans.Addr.Port() == 0 {
		err = ErrNoAudio
	}
	if err != nil {
		log.Info("sip: call out: unusable answer", "err", err)
		if sess.Ack(context.Background()) == nil {
			bctx, bcancel := context.WithTimeout(context.Background(), 10*time.Second)
			sess.Bye(bctx)
			bcancel()
		}
		return nil, &DialError{Status: 488, Reason: "Not Acceptable Here"}
	}
	rs.totals = s.m
	pts := []uint8{codec.PayloadType}
	if ans.HasDTMF {
		pts = append(pts, ans.DTMF)
	}
	rs.SetRemote(ans.Addr, pts...)
	c := &OutCall{s: s, sess: sess, callID: id, To: o.label, Trunk: o.trunkID, Codec: codec, Answer: ans, rtp: rs, done: make(chan struct{})}
	s.outCalls.Store(id, c)
	if err := sess.Ack(context.Background()); err != nil {
		s.outCalls.Delete(id)
		log.Info("sip: call out: ACK failed", "err", err)
		return nil, &DialError{Status: 500, Reason: "ACK failed"}
	}
	keepRTP, counted = true, false
	s.m.CallsAnswered.Add(1)
	log.Info("sip: call out answered", "codec", codec.Name, "rtp_local", rs.LocalAddr().String(), "rtp_remote", ans.Addr.String())
	return c, nil
}
