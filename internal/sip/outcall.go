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

	"switchboard/internal/store"
)

// Calls to registered phones (the UAC side of RFC 3261 dialogs).
//
// Dial sends an INVITE to every live binding of a SIP account at once
// (fork.go), each the way its REGISTER came (to the source address, over
// the same connection for TCP, TLS and WebSocket: see Qualify), offering
// PassthroughCodecs and telephone-event (SRTP too when asked). It blocks
// until a phone answers (200: we ACK, and the call's RTP socket is set to
// the phone's answer) or all refuse (a DialError with the best status), or
// until its context ends: then every phone gets CANCEL (after a
// provisional response, as RFC 3261 section 9.1 wants) and Dial returns
// ErrDialCancelled. sipgo's client transactions do the retransmissions;
// the dialog work (ACK, CANCEL, BYE) is ours.

// ErrNotRegistered is returned by Dial when the account has no live binding.
var ErrNotRegistered = errors.New("sip: the phone is not registered")

// ErrDialCancelled is returned by Dial when its context ended before an answer.
var ErrDialCancelled = errors.New("sip: call cancelled before an answer")

// DialError is a phone's refusal: a final response other than 2xx, or 408
// when the phone never answered the INVITE.
type DialError struct {
	Status int
	Reason string
	// Cause, when set, is the call record's cause (an End constant):
	// EndNoSRTP for an answer that would have left the media in clear.
	Cause string
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
	// WebRTCOffer, when set, is sent only to the bindings registered over
	// WebSocket (browser SIP clients), while the others get our RTP offer:
	// a call to an account with a desk phone and a browser rings both.
	// OnWebRTCAnswer takes the answer when such a binding wins (then
	// OutCall.WebRTC is true and the call has no RTP session of ours).
	// Without either offer, bindings over WebSocket are not rung.
	WebRTCOffer    []byte
	OnWebRTCAnswer func(answer []byte) error
	// SRTP offers RTP/SAVP with an SDES key (a=crypto) and refuses an
	// answer without one (488, the call ends). Dial also sets it when the
	// account's MediaEncryption is "sdes".
	SRTP bool
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
	// WebRTC is true when the answer is to the WebRTC offer (WebRTCOffer,
	// on a binding over WebSocket): the media is the app's
	// peer connection and RTP() is nil.
	WebRTC bool
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
// at the top of this file. Every live binding of the account rings
// (fork.go); cancelling ctx before the answer cancels them all.
func (s *Server) Dial(ctx context.Context, r DialRequest) (*OutCall, error) {
	bs := s.loc.lookup(r.Username, s.cfg.Now())
	var branches []*branch
	for _, b := range bs {
		ws := strings.HasPrefix(b.Transport, "WS")
		if ws && r.WebRTCOffer == nil {
			// A browser SIP client has no plain RTP: without a WebRTC
			// offer it cannot take this call.
			s.log.Info("sip: call out skips a binding over WebSocket: no WebRTC offer", "to", r.Username, "source", b.Source)
			continue
		}
		var target sip.Uri
		if err := sip.ParseUri(b.Contact, &target); err != nil {
			s.log.Warn("sip: call out skips a binding with a bad Contact", "to", r.Username, "err", err)
			continue
		}
		media := s.mediaIPFor(b.Source)
		contact := s.contactFor(b.Transport, media, r.FromUser)
		req := sip.NewRequest(sip.INVITE, target)
		from := &sip.FromHeader{DisplayName: cleanDisplayName(r.FromDisplay), Address: sip.Uri{Scheme: "sip", User: r.FromUser, Host: s.cfg.Realm}}
		req.AppendHeader(from)
		req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: r.Username, Host: s.cfg.Realm}})
		s.toBinding(req, b)
		branches = append(branches, &branch{req: req, webrtc: ws,
			o: outgoing{binding: b, media: media, contact: contact, dest: b.Source, transport: b.Transport}})
	}
	if len(branches) == 0 {
		s.emitRecord(failedDial(s.dialRecord(r.FromUser, r.FromDisplay, r.Username, ""), ErrNotRegistered, s.cfg.Now()))
		return nil, ErrNotRegistered
	}
	if !r.SRTP && s.cfg.Accounts != nil {
		// The account may ask for encrypted media (media_encryption). When
		// that cannot be read, the call is not placed: it might go in clear.
		acct, err := s.cfg.Accounts.SIPAccountByUsername(ctx, r.Username)
		switch {
		case err == nil:
			r.SRTP = acct.MediaEncryption == MediaSDES
		case !errors.Is(err, store.ErrNotFound):
			s.log.Error("sip: call out refused: the account's media encryption could not be read", "to", r.Username, "err", err)
			de := &DialError{Status: 500, Reason: "Server Internal Error"}
			s.emitRecord(failedDial(s.dialRecord(r.FromUser, r.FromDisplay, r.Username, ""), de, s.cfg.Now()))
			return nil, de
		}
	}
	return s.dial(ctx, r, r.Username, "", branches)
}

// outgoing is where one branch of a call out goes, beyond its INVITE.
type outgoing struct {
	binding   Binding             // the registration rung (Dial)
	media     netip.Addr          // our SDP address
	contact   sip.Uri             // our Contact
	dest      string              // where in-dialog requests go
	transport string              // and how
	auth      sipgo.AnswerOptions // credentials for a challenge (trunks)
}

// dialRecord starts the record of a call out.
func (s *Server) dialRecord(fromUser, fromName, to, trunk string) CallRecord {
	// Its Call-ID is the INVITE's once there is one; a call refused before
	// that (at capacity) gets one of its own, so records stay distinct.
	return CallRecord{CallID: sip.GenerateTagN(16) + "@" + s.cfg.Realm, Direction: RecordOutbound, From: fromUser,
		FromName: fromName, To: to, Trunk: trunk, Started: s.cfg.Now()}
}

// dial offers our media on every branch (each INVITE's Request-URI, From
// and To set, its destination chosen), sends them and waits for the
// answer (fork.go): the part of a call out that does not depend on where
// it goes. label is whom we call (OutCall.To, the record's To).
func (s *Server) dial(ctx context.Context, r DialRequest, label, trunk string, branches []*branch) (_ *OutCall, err error) {
	// A call that is not answered gets its record here; an answered one
	// when it ends. One record for all its branches.
	rec := s.dialRecord(r.FromUser, r.FromDisplay, label, trunk)
	callRecords := false // once the OutCall exists, its end gives the record
	defer func() {
		if err != nil && !callRecords {
			s.emitRecord(failedDial(rec, err, s.cfg.Now()))
		}
	}()
	if int(s.activeCalls.Add(1)) > s.cfg.MaxCalls {
		s.activeCalls.Add(-1)
		s.log.Warn("sip: call out refused: at capacity", "to", label, "max_calls", s.cfg.MaxCalls)
		return nil, &DialError{Status: 503, Reason: "Service Unavailable"}
	}
	counted := true
	defer func() {
		if counted {
			s.activeCalls.Add(-1)
		}
	}()
	s.m.CallAttempts.Add(1)

	// One RTP socket for the branches offered our RTP: whichever answers
	// (or sends early media first) gets it.
	var rs *RTPSession
	var ours *SDES // our SRTP key when we offer SDES
	for _, b := range branches {
		if !b.webrtc {
			if rs, err = s.openRTP(b.o.media); err != nil {
				return nil, err
			}
			if r.SRTP {
				ours = offerCrypto()
			}
			break
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
	for _, b := range branches {
		b.stop = make(chan struct{})
		from := b.req.From()
		from.Params = sip.NewParams()
		from.Params.Add("tag", sip.GenerateTagN(16))
		b.id = sip.GenerateTagN(24) + "@" + s.cfg.Realm
		cid := sip.CallIDHeader(b.id)
		b.req.AppendHeader(&cid)
		b.req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.INVITE})
		b.req.AppendHeader(sip.NewHeader("Max-Forwards", "70"))
		b.req.AppendHeader(&sip.ContactHeader{Address: b.o.contact})
		b.req.AppendHeader(sip.NewHeader("Allow", allowed))
		b.req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		switch {
		case b.webrtc:
			b.req.SetBody(r.WebRTCOffer)
		default:
			local := netip.AddrPortFrom(b.o.media, rs.LocalAddr().Port())
			if s.cfg.MediaIP.IsValid() || !b.o.media.IsValid() || b.o.media.IsUnspecified() {
				local = rs.LocalAddr()
			}
			b.req.SetBody(sessionSDP(local, binary.BigEndian.Uint64(sid[:])>>2, 1, codecs, int(offerDTMF), SendRecv, ours))
		}
		s.dialTimerHeaders(b.req)
	}
	log := s.log.With("to", label)
	if trunk != "" {
		log = log.With("trunk", trunk)
	}
	if len(branches) == 1 {
		log = log.With("call", branches[0].id)
		log.Info("sip: calling out", "from", r.FromUser, "destination", branches[0].req.Destination(),
			"transport", branches[0].req.Transport(), "srtp", ours != nil)
	} else {
		for _, b := range branches {
			log.Info("sip: calling out: ringing a binding", "from", r.FromUser, "call", b.id,
				"destination", b.req.Destination(), "transport", b.req.Transport(), "webrtc", b.webrtc, "srtp", ours != nil && !b.webrtc)
		}
	}

	f := &fork{events: make(chan forkEvent, 4*len(branches)), done: make(chan struct{}),
		check: func(b *branch, res *sip.Response) error {
			_, _, err := checkAnswer(res, codecs, ours, b.webrtc)
			return err
		}}
	defer close(f.done)
	for _, b := range branches {
		s.spawn(func() { s.runBranch(f, b) })
	}
	cancelAll := func(reason string) {
		for _, b := range branches {
			b.cancel(reason)
		}
	}

	var (
		early    *EarlyMedia
		reported = map[int]bool{}
		finals   []int
		reasons  = map[int]string{}
		pending  = len(branches)
		win      forkEvent
		done     = ctx.Done()
		stop     = s.stop
		gaveUp   bool // cancelled, but a branch had already won
		noSRTP   bool // a branch answered our SRTP offer without a usable key
	)
	for win.b == nil {
		if pending == 0 {
			st := bestStatus(finals)
			reason := reasons[st]
			if reason == "" {
				reason = "Request Timeout"
			}
			log.Info("sip: call out refused", "status", st, "branches", len(branches))
			de := &DialError{Status: st, Reason: reason}
			if st == 488 && noSRTP {
				de.Reason, de.Cause = "Not Acceptable Here (no SRTP)", EndNoSRTP
			}
			return nil, de
		}
		select {
		case ev := <-f.events:
			switch {
			case ev.bad != nil:
				// Its 2xx is acknowledged and hung up by its branch; the
				// others ring on, and count it as refused with 488.
				pending--
				finals = append(finals, 488)
				if reasons[488] == "" {
					reasons[488] = "Not Acceptable Here"
				}
				if errors.Is(ev.bad, ErrNoCrypto) {
					noSRTP = true
					log.Warn("sip: call out: a phone answered our SRTP offer without a usable a=crypto key, "+
						"and its media_encryption is sdes (it would have been sent in clear)", "call", ev.b.id)
				}
			case ev.err != nil:
				pending--
				finals = append(finals, 408)
				log.Info("sip: call out got no answer", "call", ev.b.id, "err", ev.err)
			case ev.res.IsProvisional():
				st := ev.res.StatusCode
				if early == nil && rs != nil && !ev.b.webrtc && len(ev.res.Body()) > 0 {
					// The first branch with early media has it.
					if early = s.earlyMedia(ev.b.id, rs, ev.res, codecs, ours); early != nil && r.OnEarly != nil {
						r.OnEarly(*early)
					}
				}
				if !reported[st] && r.OnProgress != nil {
					reported[st] = true
					r.OnProgress(st)
				}
			case ev.res.IsSuccess():
				win = ev
			default:
				pending--
				st := ev.res.StatusCode
				finals = append(finals, st)
				reasons[st] = ev.res.Reason
				log.Info("sip: a branch of the call out refused", "call", ev.b.id, "status", st)
				if st >= 600 && f.decide() {
					cancelAll("")
					log.Info("sip: call out refused everywhere", "status", st)
					return nil, &DialError{Status: st, Reason: ev.res.Reason}
				}
			}
		case <-done:
			done, stop = nil, nil
			if f.decide() {
				cancelAll("")
				log.Info("sip: call out cancelled")
				return nil, ErrDialCancelled
			}
			gaveUp = true // the winner's 2xx is on its way: confirm it, then end it
		case <-stop:
			done, stop = nil, nil
			if f.decide() {
				cancelAll("")
				log.Info("sip: call out cancelled: the server is closing")
				return nil, ErrDialCancelled
			}
			gaveUp = true
		}
	}
	cancelAll(reasonElsewhere)
	b, res := win.b, win.res
	if gaveUp {
		// The 200 crossed our CANCEL: confirm the dialog, then end it.
		s.spawn(func() { s.ackAndBye(b, res, win.tx) })
		log.Info("sip: call out cancelled")
		return nil, ErrDialCancelled
	}
	id := b.id
	rec.CallID = id
	log = log.With("call", id)

	ans, codec, err := checkAnswer(res, codecs, ours, b.webrtc) // checked by its branch: err is nil
	webrtcMedia := b.webrtc
	if err == nil && b.webrtc {
		err = r.OnWebRTCAnswer(res.Body())
	}
	if err == nil && ours != nil {
		err = rs.SetSRTP(ours, ans.SRTP)
	}
	if err != nil {
		// The app refused the answer (or its keys failed): confirm the
		// dialog (a 2xx must be acknowledged), then end it.
		log.Info("sip: call out: unusable answer", "err", err)
		s.ackAndBye(b, res, win.tx)
		return nil, &DialError{Status: 488, Reason: "Not Acceptable Here"}
	}
	if webrtcMedia && rs != nil {
		rs.Close() // a WebRTC branch won: the RTP branches' socket is not needed
		rs = nil
	}
	if rs != nil {
		if b.o.media.IsValid() && !b.o.media.IsUnspecified() && !s.cfg.MediaIP.IsValid() {
			rs.external.Store(&b.o.media) // the winner's route to us
		}
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
	c := &OutCall{dialog: newDialog(s, id, RecordOutbound), To: label, Binding: b.o.binding, Trunk: trunk,
		Codec: codec, Answer: ans, WebRTC: webrtcMedia}
	setBranchDialog(&c.dialog, b, res)
	inviteSeq := c.cseq // before the session timer may send requests
	c.rec = rec
	c.sdes = ours
	if ours != nil {
		c.peerSDES = ans.SRTP
	}
	c.sdpID = binary.BigEndian.Uint64(sid[:]) >> 2 // our offer's o= session: re-INVITEs keep it (RFC 3264 8)
	c.peerAllow = allows(res, "UPDATE")
	c.forget = func() { s.outCalls.CompareAndDelete(id, c) }
	close(c.byeReady) // our ACK goes right away
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
	c.sendAck(inviteSeq)
	win.tx.OnRetransmission(func(r *sip.Response) {
		if r.IsSuccess() {
			c.sendAck(inviteSeq) // our ACK was lost
		}
	})
	s.m.CallsAnswered.Add(1)
	switch {
	case rs == nil:
		log.Info("sip: call out answered", "codec", codec.Name, "media", "webrtc", "binding", b.o.binding.Source)
	default:
		log.Info("sip: call out answered", "codec", codec.Name, "rtp_local", rs.LocalAddr().String(),
			"rtp_remote", ans.Addr.String(), "srtp", ours != nil, "binding", b.o.binding.Source)
	}
	return c, nil
}

// checkAnswer reads a phone's answer (a 2xx's SDP) to our offer, which
// was WebRTC's when webrtc, our RTP with codecs (and SDES key ours, when
// set) otherwise: the codec, or why the answer is unusable.
func checkAnswer(res *sip.Response, codecs []Codec, ours *SDES, webrtc bool) (MediaDescription, Codec, error) {
	ans, err := ParseSDP(res.Body())
	if ours != nil && errors.Is(err, ErrSecureMedia) { // RTP/SAVP without a key we take
		err = ErrNoCrypto
	}
	var codec Codec
	if err == nil {
		codec, err = Negotiate(ans, codecs)
	}
	if err == nil && ans.Addr.Port() == 0 {
		err = ErrNoAudio
	}
	if err == nil && ans.WebRTC != webrtc { // the answer must be in the offer's kind
		err = ErrSecureMedia
	}
	if err == nil && !webrtc {
		err = checkAnswerCrypto(ours, ans.SRTP)
	}
	return ans, codec, err
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
func (s *Server) earlyMedia(id string, rs *RTPSession, res *sip.Response, offered []Codec, ours *SDES) *EarlyMedia {
	md, err := ParseSDP(res.Body())
	var codec Codec
	if err == nil {
		codec, err = Negotiate(md, offered)
	}
	if err == nil && md.Addr.Port() == 0 {
		err = ErrNoAudio
	}
	if err == nil && md.WebRTC { // we offered RTP
		err = ErrSecureMedia
	}
	if err == nil {
		err = checkAnswerCrypto(ours, md.SRTP)
	}
	if err == nil && ours != nil {
		err = rs.SetSRTP(ours, md.SRTP)
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
		if de.Cause != "" {
			rec.Cause = de.Cause
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
