package sip

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Calls to registered phones (the UAC side of RFC 3261 dialogs).
//
// Dial sends an INVITE to the newest live binding of a SIP account, the way
// its REGISTER came (to the source address, over the same connection for
// TCP, TLS and WebSocket: see Qualify), offering PassthroughCodecs and
// telephone-event. It blocks until the phone answers (200: we ACK, and the
// call's RTP socket is set to the phone's answer) or refuses (a DialError
// with the status), or until its context ends: then a CANCEL is sent (after
// a provisional response, as RFC 3261 section 9.1 wants) and Dial returns
// ErrDialCancelled. sipgo's dialog client does the transaction work
// (CANCEL matching, ACK retransmission on a repeated 200); the rest is ours.

// ErrNotRegistered is returned by Dial when the account has no live binding.
var ErrNotRegistered = errors.New("sip: the phone is not registered")

// ErrDialCancelled is returned by Dial when its context ended before an answer.
var ErrDialCancelled = errors.New("sip: call cancelled before an answer")

// DialError is a phone's refusal: a final response other than 2xx, or 408
// when the phone never answered the INVITE.
type DialError struct {
	Status int
	Reason string
}

func (e *DialError) Error() string {
	return fmt.Sprintf("sip: the phone answered %d %s", e.Status, e.Reason)
}

// DialRequest says whom to call and on whose behalf.
type DialRequest struct {
	Username    string // the SIP account to ring (its newest binding)
	FromUser    string // user part of our From (the calling user's name)
	FromDisplay string // display name in From
	// Codecs are offered, in order; nil offers PassthroughCodecs. A call
	// bridged to another phone offers only that phone's codec, so the
	// audio passes through untouched.
	Codecs []Codec
	// OnProgress, when set, is called for each provisional response above
	// 100 (180 Ringing, 183 Session Progress). It must not block.
	OnProgress func(status int)
}

// OutCall is an answered call to a phone. Its methods may be called from
// any goroutine.
type OutCall struct {
	s      *Server
	sess   *sipgo.DialogClientSession
	callID string

	// To is the account called; Binding the registration used.
	To      string
	Binding Binding
	// Trunk is the id of the trunk a call went out on ("" to a phone); To
	// is then the E.164 number (trunk_dial.go).
	Trunk string
	// Codec is the G.711 codec of the phone's answer, with its payload type;
	// Answer is the answer as parsed.
	Codec  Codec
	Answer MediaDescription

	mu     sync.Mutex
	rtp    *RTPSession
	ended  bool
	reason string
	done   chan struct{}
}

// Done is closed when the call has ended.
func (c *OutCall) Done() <-chan struct{} { return c.done }

// RTP is the call's media socket.
func (c *OutCall) RTP() *RTPSession { return c.rtp }

// EndReason says why the call ended (one of the End constants); "" while it lasts.
func (c *OutCall) EndReason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// Hangup sends BYE and ends the call.
func (c *OutCall) Hangup() {
	if !c.end(EndHangup) {
		return
	}
	c.s.wg.Go(c.sendBye)
}

func (c *OutCall) sendBye() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.sess.Bye(ctx); err != nil {
		c.s.log.Info("sip: BYE to the phone failed", "call", c.callID, "err", err)
	}
}

// end marks the call ended once and closes its media.
func (c *OutCall) end(reason string) bool {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return false
	}
	c.ended, c.reason = true, reason
	rs := c.rtp
	c.mu.Unlock()
	close(c.done)
	if rs != nil {
		rs.Close()
	}
	c.s.outCalls.CompareAndDelete(c.callID, c)
	c.s.activeCalls.Add(-1)
	c.s.log.Info("sip: call to phone ended", "call", c.callID, "to", c.To, "reason", reason)
	return true
}

// remoteBye ends the call the phone hung up, if req is that phone's BYE.
func (c *OutCall) remoteBye(req *sip.Request) bool {
	res := c.sess.InviteResponse
	if res == nil {
		return false
	}
	to, from := res.To(), req.From()
	if to == nil || from == nil {
		return false
	}
	want, _ := to.Params.Get("tag")
	got, _ := from.Params.Get("tag")
	if want == "" || want != got {
		return false
	}
	c.end(EndRemoteBye)
	return true
}

// Dial calls a registered phone and waits for its answer; see the comment
// at the top of this file. Cancelling ctx before the answer cancels the call.
func (s *Server) Dial(ctx context.Context, r DialRequest) (*OutCall, error) {
	bs := s.loc.lookup(r.Username, s.cfg.Now())
	if len(bs) == 0 {
		return nil, ErrNotRegistered
	}
	b := bs[0]
	var target sip.Uri
	if err := sip.ParseUri(b.Contact, &target); err != nil {
		return nil, fmt.Errorf("sip: the binding of %s: %w", r.Username, err)
	}
	if int(s.activeCalls.Add(1)) > s.cfg.MaxCalls {
		s.activeCalls.Add(-1)
		s.log.Warn("sip: call to phone refused: at capacity", "to", r.Username, "max_calls", s.cfg.MaxCalls)
		return nil, &DialError{Status: 503, Reason: "Service Unavailable"}
	}
	counted := true
	defer func() {
		if counted {
			s.activeCalls.Add(-1)
		}
	}()
	s.m.CallAttempts.Add(1)

	media := s.mediaIPFor(b.Source)
	rs, err := s.openRTP(media)
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
	codecs := r.Codecs
	if len(codecs) == 0 {
		codecs = PassthroughCodecs
	}
	body := SessionSDP(rs.LocalAddr(), binary.BigEndian.Uint64(sid[:])>>2, 1, codecs, int(offerDTMF), SendRecv)

	contact := s.contactFor(b.Transport, media, r.FromUser)
	req := sip.NewRequest(sip.INVITE, target)
	from := &sip.FromHeader{DisplayName: r.FromDisplay, Address: sip.Uri{Scheme: "sip", User: r.FromUser, Host: s.cfg.Realm}}
	from.Params = sip.NewParams()
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: r.Username, Host: s.cfg.Realm}})
	req.AppendHeader(&sip.ContactHeader{Address: contact})
	req.AppendHeader(sip.NewHeader("Allow", allowed))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(body)
	s.toBinding(req, b)

	dua := sipgo.DialogUA{Client: s.client, ContactHDR: sip.ContactHeader{Address: contact}, RewriteContact: true}
	sess, err := dua.WriteInvite(context.Background(), req)
	if err != nil {
		return nil, fmt.Errorf("sip: invite %s: %w", r.Username, err)
	}
	defer func() {
		if !keepRTP {
			sess.Close()
		}
	}()
	id := callID(req)
	s.log.Info("sip: calling a phone", "call", id, "to", r.Username, "from", r.FromUser, "destination", b.Source,
		"transport", b.Transport)

	// The server closing cancels the call too.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-wctx.Done():
		}
	}()

	err = sess.WaitAnswer(wctx, sipgo.AnswerOptions{OnResponse: func(res *sip.Response) error {
		if res.StatusCode > 100 && res.StatusCode < 200 && r.OnProgress != nil {
			r.OnProgress(res.StatusCode)
		}
		return nil
	}})
	answered := err == nil
	if !answered && wctx.Err() != nil && sess.InviteResponse != nil && sess.InviteResponse.IsSuccess() {
		// The 200 crossed our CANCEL: confirm the dialog, then end it.
		if sess.Ack(context.Background()) == nil {
			s.wg.Go(func() {
				bctx, bcancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer bcancel()
				sess.Bye(bctx)
			})
		}
	}
	if !answered {
		var dr *sipgo.ErrDialogResponse
		switch {
		case wctx.Err() != nil:
			s.log.Info("sip: call to phone cancelled", "call", id, "to", r.Username)
			return nil, ErrDialCancelled
		case errors.As(err, &dr):
			s.log.Info("sip: call to phone refused", "call", id, "to", r.Username, "status", dr.Res.StatusCode)
			return nil, &DialError{Status: dr.Res.StatusCode, Reason: dr.Res.Reason}
		default:
			s.log.Info("sip: call to phone got no answer", "call", id, "to", r.Username, "err", err)
			return nil, &DialError{Status: 408, Reason: "Request Timeout"}
		}
	}

	res := sess.InviteResponse
	ans, err := ParseSDP(res.Body())
	var codec Codec
	if err == nil {
		codec, err = Negotiate(ans, codecs)
	}
	if err == nil && ans.Addr.Port() == 0 {
		err = ErrNoAudio
	}
	if err == nil && ans.WebRTC { // we offered plain RTP
		err = ErrSecureMedia
	}
	if err != nil {
		// Confirm the dialog (a 2xx must be acknowledged), then end it.
		s.log.Info("sip: call to phone: unusable answer", "call", id, "to", r.Username, "err", err)
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
	c := &OutCall{s: s, sess: sess, callID: id, To: r.Username, Binding: b, Codec: codec, Answer: ans, rtp: rs,
		done: make(chan struct{})}
	s.outCalls.Store(id, c)
	if err := sess.Ack(context.Background()); err != nil {
		s.outCalls.Delete(id)
		s.log.Info("sip: call to phone: ACK failed", "call", id, "err", err)
		return nil, &DialError{Status: 500, Reason: "ACK failed"}
	}
	keepRTP, counted = true, false
	s.m.CallsAnswered.Add(1)
	s.log.Info("sip: phone answered", "call", id, "to", r.Username, "codec", codec.Name,
		"rtp_local", rs.LocalAddr().String(), "rtp_remote", ans.Addr.String())
	return c, nil
}

// offerDTMF is the telephone-event payload type in our offers.
const offerDTMF = 101

// openRTP opens a call's RTP socket in the configured range, announcing media.
func (s *Server) openRTP(media netip.Addr) (*RTPSession, error) {
	host, _, _ := net.SplitHostPort(s.cfg.RTPBindAddr)
	if s.cfg.RTPPortMin != 0 {
		return ListenRTPIn(host, s.cfg.RTPPortMin, s.cfg.RTPPortMax, media)
	}
	return ListenRTP(s.cfg.RTPBindAddr, media)
}

// contactFor is our Contact for a dialog over transport with a peer that
// reaches us at host.
func (s *Server) contactFor(transport string, host netip.Addr, user string) sip.Uri {
	port := 0
	var ad net.Addr
	switch transport {
	case "UDP":
		if s.udp != nil {
			ad = s.udp.LocalAddr()
		}
	case "TCP":
		if s.tcp != nil {
			ad = s.tcp.Addr()
		}
	case "TLS":
		if s.tls != nil {
			ad = s.tls.Addr()
		}
	}
	if ad != nil {
		if _, p, err := net.SplitHostPort(ad.String()); err == nil {
			port, _ = strconv.Atoi(p)
		}
	}
	u := sip.Uri{Scheme: "sip", User: user, Host: host.String(), Port: port}
	if transport == "WS" || transport == "WSS" {
		u.Host, u.Port = s.cfg.Realm, 0
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", "ws")
	} else if transport != "UDP" {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", lower(transport))
	}
	return u
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
