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
	"strings"
	"time"
	"unicode/utf8"

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
	// SDPOffer, when set, is sent instead of our plain RTP offer: a peer
	// connection's, for a phone registered over WebSocket (a browser SIP
	// client: its media is ICE and DTLS-SRTP). The answer's SDP then goes
	// to OnSDPAnswer (an error refuses it: ACK, BYE, 488), the call has no
	// RTP session of ours, and there is no early media.
	SDPOffer    []byte
	OnSDPAnswer func(answer []byte) error
	// OnEarly, when set, is called once (before OnProgress of the same
	// response) when a provisional response brings SDP: early media, the
	// callee's ringback or announcements. Its RTP session is the call's;
	// Dial closes it when the call is not answered. It must not block.
	OnEarly func(EarlyMedia)
}

// EarlyMedia is the media of a call to a phone before its answer: a 183
// (or 180) Session Progress with SDP. RTP is the call's RTP socket (the
// same one OutCall.RTP returns once answered), set to the phone's early
// address; DTMF is its telephone-event payload type, -1 when none.
type EarlyMedia struct {
	RTP   *RTPSession
	Codec Codec
	DTMF  int
}

// OutCall is an answered call to a phone. Its methods may be called from
// any goroutine; the call control methods (Hold, Resume, Transfer, OnHold,
// OnRefer, ...) are its dialog's, shared with Call.
type OutCall struct {
	dialog
	sess *sipgo.DialogClientSession

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
}

// Hangup sends BYE and ends the call.
func (c *OutCall) Hangup() { c.hangup(EndHangup) }

// remoteBye ends the call the phone hung up, if req is that phone's BYE.
func (c *OutCall) remoteBye(req *sip.Request) bool {
	if !c.fromPeer(req) {
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
		s.emitRecord(failedDial(s.dialRecord(r.FromUser, r.FromDisplay, r.Username, ""), ErrNotRegistered, s.cfg.Now()))
		return nil, ErrNotRegistered
	}
	b := bs[0]
	var target sip.Uri
	if err := sip.ParseUri(b.Contact, &target); err != nil {
		return nil, fmt.Errorf("sip: the binding of %s: %w", r.Username, err)
	}
	media := s.mediaIPFor(b.Source)
	contact := s.contactFor(b.Transport, media, r.FromUser)
	req := sip.NewRequest(sip.INVITE, target)
	from := &sip.FromHeader{DisplayName: cleanDisplayName(r.FromDisplay), Address: sip.Uri{Scheme: "sip", User: r.FromUser, Host: s.cfg.Realm}}
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: r.Username, Host: s.cfg.Realm}})
	s.toBinding(req, b)
	return s.dial(ctx, req, outgoing{DialRequest: r, label: r.Username, binding: b, media: media, contact: contact,
		dest: b.Source, transport: b.Transport})
}

// outgoing is where a call out goes, beyond its INVITE: what Dial and
// DialTrunk hand to dial.
type outgoing struct {
	DialRequest                     // codecs, callbacks, From for the record
	label       string              // whom we call: OutCall.To and the record's To
	binding     Binding             // the registration rung (Dial)
	trunk       string              // the trunk's id (DialTrunk)
	media       netip.Addr          // our SDP address
	contact     sip.Uri             // our Contact
	dest        string              // where in-dialog requests go
	transport   string              // and how
	auth        sipgo.AnswerOptions // credentials for a challenge (trunks)
}

// dialRecord starts the record of a call out.
func (s *Server) dialRecord(fromUser, fromName, to, trunk string) CallRecord {
	// Its Call-ID is the INVITE's once there is one; a call refused before
	// that (at capacity) gets one of its own, so records stay distinct.
	return CallRecord{CallID: sip.GenerateTagN(16) + "@" + s.cfg.Realm, Direction: RecordOutbound, From: fromUser,
		FromName: fromName, To: to, Trunk: trunk, Started: s.cfg.Now()}
}

// dial offers our media in req (its Request-URI, From and To set, its
// destination chosen), sends it and waits for the answer: the part of a
// call out that does not depend on where it goes.
func (s *Server) dial(ctx context.Context, req *sip.Request, o outgoing) (_ *OutCall, err error) {
	r := o.DialRequest
	// A call that is not answered gets its record here; an answered one
	// when it ends.
	rec := s.dialRecord(r.FromUser, r.FromDisplay, o.label, o.trunk)
	callRecords := false // once the OutCall exists, its end gives the record
	defer func() {
		if err != nil && !callRecords {
			s.emitRecord(failedDial(rec, err, s.cfg.Now()))
		}
	}()
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

	var rs *RTPSession // nil when the media is the caller's peer connection (SDPOffer)
	if r.SDPOffer == nil {
		if rs, err = s.openRTP(o.media); err != nil {
			return nil, err
		}
	}
	keepRTP := false
	defer func() {
		if !keepRTP && rs != nil {
			rs.Close()
		}
	}()
	var sid [8]byte
	rand.Read(sid[:])
	codecs := r.Codecs
	if len(codecs) == 0 {
		codecs = PassthroughCodecs
	}
	from := req.From()
	from.Params = sip.NewParams()
	fromTag := sip.GenerateTagN(16)
	from.Params.Add("tag", fromTag)
	req.AppendHeader(&sip.ContactHeader{Address: o.contact})
	req.AppendHeader(sip.NewHeader("Allow", allowed))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	if rs != nil {
		req.SetBody(SessionSDP(rs.LocalAddr(), binary.BigEndian.Uint64(sid[:])>>2, 1, codecs, int(offerDTMF), SendRecv))
	} else {
		req.SetBody(r.SDPOffer)
	}
	s.dialTimerHeaders(req)

	dua := sipgo.DialogUA{Client: s.client, ContactHDR: sip.ContactHeader{Address: o.contact}, RewriteContact: true}
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
	rec.CallID = id
	log := s.log.With("call", id, "to", o.label)
	if o.trunk != "" {
		log = log.With("trunk", o.trunk)
	}
	log.Info("sip: calling out", "from", r.FromUser, "destination", req.Destination(), "transport", req.Transport())

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

	var early *EarlyMedia
	opts := o.auth
	opts.OnResponse = func(res *sip.Response) error {
		if res.StatusCode > 100 && res.StatusCode < 200 && early == nil && len(res.Body()) > 0 && rs != nil {
			if early = s.earlyMedia(id, rs, res, codecs); early != nil && r.OnEarly != nil {
				r.OnEarly(*early)
			}
		}
		if res.StatusCode > 100 && res.StatusCode < 200 && r.OnProgress != nil {
			r.OnProgress(res.StatusCode)
		}
		return nil
	}
	err = sess.WaitAnswer(wctx, opts)
	answered := err == nil
	if !answered && wctx.Err() != nil && sess.InviteResponse != nil && sess.InviteResponse.IsSuccess() {
		// The 200 crossed our CANCEL: confirm the dialog, then end it.
		if sess.Ack(context.Background()) == nil {
			s.spawn(func() {
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
		codec, err = Negotiate(ans, codecs)
	}
	if err == nil && ans.Addr.Port() == 0 {
		err = ErrNoAudio
	}
	if err == nil && (ans.WebRTC != (rs == nil) || ans.SRTP != nil) { // the answer must be in the offer's kind
		err = ErrSecureMedia
	}
	if err == nil && rs == nil {
		err = r.OnSDPAnswer(res.Body())
	}
	if err != nil {
		// Confirm the dialog (a 2xx must be acknowledged), then end it.
		log.Info("sip: call out: unusable answer", "err", err)
		if sess.Ack(context.Background()) == nil {
			bctx, bcancel := context.WithTimeout(context.Background(), 10*time.Second)
			sess.Bye(bctx)
			bcancel()
		}
		return nil, &DialError{Status: 488, Reason: "Not Acceptable Here"}
	}
	if rs != nil {
		pts := []uint8{codec.PayloadType}
		if ans.HasDTMF {
			pts = append(pts, ans.DTMF)
		}
		rs.SetRemote(ans.Addr, pts...)
	}
	if early != nil && early.Codec.Name != codec.Name {
		// The bridge joined with the early codec; the answer's wins.
		log.Warn("sip: the phone answered with another codec than its early media", "early", early.Codec.Name, "codec", codec.Name)
	}
	c := &OutCall{dialog: newDialog(s, id, RecordOutbound), sess: sess, To: o.label, Binding: o.binding, Trunk: o.trunk,
		Codec: codec, Answer: ans}
	c.rec = rec
	c.forget = func() { s.outCalls.CompareAndDelete(id, c) }
	close(c.byeReady) // our ACK goes right away
	// The dialog: we are the From side; requests go to the phone's
	// Contact, sent the way the INVITE went.
	c.local, c.localTag = from.Address, fromTag
	c.remote = res.To().Address
	c.remoteTag, _ = res.To().Params.Get("tag")
	c.target = req.Recipient
	if ct := res.Contact(); ct != nil {
		c.target = ct.Address
	}
	c.dest, c.transport, c.contact = o.dest, o.transport, o.contact
	if h := req.CSeq(); h != nil {
		c.cseq = h.SeqNo
	}
	dtmf := -1
	if ans.HasDTMF {
		dtmf = int(ans.DTMF)
	}
	if (ans.Direction == SendOnly || ans.Direction == Inactive) && rs != nil {
		c.heldByPeer = true
		rs.SetPaused(true)
	}
	c.answered(rs, codec, dtmf)
	c.answerTimer(res)
	s.outCalls.Store(id, c)
	keepRTP, counted, callRecords = true, false, true // the call owns them now: its end releases them
	if err := sess.Ack(context.Background()); err != nil {
		log.Info("sip: call out: ACK failed", "err", err)
		c.end(EndFailed)
		return nil, &DialError{Status: 500, Reason: "ACK failed"}
	}
	s.m.CallsAnswered.Add(1)
	if rs == nil {
		log.Info("sip: call out answered", "codec", codec.Name, "media", "webrtc")
	} else {
		log.Info("sip: call out answered", "codec", codec.Name, "rtp_local", rs.LocalAddr().String(), "rtp_remote", ans.Addr.String())
	}
	return c, nil
}

// cleanDisplayName makes a display name safe in a quoted From: sipgo
// writes it between quotes as it is, so a quote or backslash (a visitor
// may name themselves anything) could forge another caller.
func cleanDisplayName(name string) string {
	name = strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, strings.ToValidUTF8(name, ""))
	if len(name) > 64 {
		name = name[:64]
		for !utf8.ValidString(name) {
			name = name[:len(name)-1]
		}
	}
	return name
}

// earlyMedia points rs at the SDP of a provisional response (early media);
// nil when the SDP is unusable (the call goes on without early media).
func (s *Server) earlyMedia(id string, rs *RTPSession, res *sip.Response, offered []Codec) *EarlyMedia {
	md, err := ParseSDP(res.Body())
	var codec Codec
	if err == nil {
		codec, err = Negotiate(md, offered)
	}
	if err == nil && md.Addr.Port() == 0 {
		err = ErrNoAudio
	}
	if err == nil && (md.SRTP != nil || md.WebRTC) { // we offered plain RTP
		err = ErrSecureMedia
	}
	if err != nil {
		s.log.Info("sip: early media ignored: unusable SDP", "call", id, "status", res.StatusCode, "err", err)
		return nil
	}
	pts := []uint8{codec.PayloadType}
	dtmf := -1
	if md.HasDTMF {
		pts, dtmf = append(pts, md.DTMF), int(md.DTMF)
	}
	rs.SetRemote(md.Addr, pts...)
	s.log.Info("sip: early media from the phone", "call", id, "status", res.StatusCode, "codec", codec.Name,
		"rtp_remote", md.Addr.String())
	return &EarlyMedia{RTP: rs, Codec: codec, DTMF: dtmf}
}

// failedDial is the record of a call to a phone that was not answered.
func failedDial(rec CallRecord, err error, now time.Time) CallRecord {
	rec.Ended, rec.Cause, rec.Status = now, EndFailed, 0
	var de *DialError
	switch {
	case errors.Is(err, ErrDialCancelled):
		rec.Cause, rec.Status = EndCancelled, 487
	case errors.As(err, &de):
		rec.Status = de.Status
		if de.Status >= 300 && de.Status != 408 && de.Status != 488 && de.Status < 500 || de.Status >= 600 {
			rec.Cause = EndRejected
		}
	}
	rec.Outcome = outcomeOf(false, rec.Status, rec.Cause)
	return rec
}

// offerDTMF is the telephone-event payload type in our offers.
const offerDTMF = 101

// openRTP opens a call's RTP socket in the configured range, announcing media.
func (s *Server) openRTP(media netip.Addr) (*RTPSession, error) {
	host, _, _ := net.SplitHostPort(s.cfg.RTPBindAddr)
	var rs *RTPSession
	var err error
	if s.cfg.RTPPortMin != 0 {
		rs, err = ListenRTPIn(host, s.cfg.RTPPortMin, s.cfg.RTPPortMax, media)
	} else {
		rs, err = ListenRTP(s.cfg.RTPBindAddr, media)
	}
	if err == nil {
		rs.totals = s.m // before any reader starts: early media may start one
	}
	return rs, err
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
