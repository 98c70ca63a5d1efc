package sip

import (
	"context"
	"errors"
	"fmt"

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

// TrunkCodecs are offered on calls out through a trunk, wideband first:
// browsers play G.722 as they play G.711, so it passes through too.
var TrunkCodecs = []Codec{G722, PCMU, PCMA}

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
	// OnProgress and OnEarly: see DialRequest.
	OnProgress func(status int)
	OnEarly    func(EarlyMedia)
	// Codecs to offer, in order of preference; nil: TrunkCodecs. A caller
	// that decodes the audio itself (a meeting's mixer) offers what it
	// can decode.
	Codecs []Codec
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
	from := &sip.FromHeader{DisplayName: cleanDisplayName(r.FromDisplay), Address: sip.Uri{Scheme: "sip", User: fromUser, Host: t.domain()}}
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: t.domain()}})
	req.AppendHeader(sip.NewHeader("User-Agent", s.cfg.UserAgent))
	s.toTrunk(req, t, dest)

	codecs := r.Codecs
	if codecs == nil {
		codecs = TrunkCodecs
	}
	c, err := s.dial(ctx, DialRequest{FromUser: firstNonEmptyString(r.FromUser, fromUser), FromDisplay: r.FromDisplay,
		OnProgress: r.OnProgress, OnEarly: r.OnEarly, Codecs: codecs, SRTP: t.MediaEncryption == MediaSDES},
		r.Number, t.ID, []*branch{{req: req, o: outgoing{media: media, contact: contact, dest: dest.String(),
			transport: t.sipTransport(), auth: sipgo.AnswerOptions{Username: t.authUser(), Password: t.Password}}}})
	if err != nil {
		return nil, err
	}
	keep = true
	s.spawn(func() {
		<-c.done
		ts.release()
	})
	return c, nil
}

func firstNonEmptyString(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
