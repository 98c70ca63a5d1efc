package sip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"switchboard/internal/store"
)

// Calls from registered phones (the UAS side of RFC 3261 dialogs).
//
// An INVITE is authenticated like a REGISTER (digest, same guard), its SDP
// offer must contain G.711 (PCMU or PCMA: the codecs a browser plays
// without transcoding), and then Config.OnCall decides where it goes. The
// handler gets a *Call and answers it (Answer), refuses it (Reject) or
// hangs it up later (Hangup); the Call's Done channel closes when it ends
// for any reason: the phone's CANCEL or BYE included. Requests to the phone
// (BYE) go where the INVITE came from, over the same connection.

// PassthroughCodecs are the codecs offered for calls bridged to browsers,
// in our order of preference: G.711 needs no transcoding there.
var PassthroughCodecs = []Codec{PCMU, PCMA}

// Call end reasons, for logs and handlers.
const (
	EndCancelled = "cancelled"      // the phone cancelled before an answer
	EndRemoteBye = "remote-hangup"  // the phone hung up
	EndHangup    = "local-hangup"   // we hung up
	EndRejected  = "rejected"       // refused with a final response
	EndNoAck     = "no-ack"         // the phone never confirmed our answer
	EndShutdown  = "server-closing" // the server is closing
)

// Call is one call from a phone. Its methods may be called from any
// goroutine; the call control methods (Hold, Resume, Transfer, OnHold,
// OnRefer, ...) are its dialog's, shared with OutCall.
type Call struct {
	dialog
	req *sip.Request
	tx  sip.ServerTransaction

	// From is the authenticated account that calls; Target the user part
	// of the Request-URI (a username, an extension or a number).
	From   store.SIPAccount
	Target string
	// Trunk is the id of the trunk a call came over ("" from a phone);
	// then CallerNumber and CallerName are the From user and display name,
	// and ToUser the To header's user (trunk.go).
	Trunk, CallerNumber, CallerName, ToUser string
	// Codec is the G.711 codec chosen from the phone's offer, with the
	// phone's payload type; Offer is the offer as parsed.
	Codec Codec
	Offer MediaDescription

	// The session timer the INVITE asked for (RFC 4028).
	seInterval  time.Duration
	seWeRefresh bool

	answering bool          // Answer or Reject has begun: the final response is theirs (under mu)
	acked     bool          // under mu
	final     chan struct{} // closed when a final response has been sent
	finalSet  sync.Once
}

// Ringing tells the phone the callee is being alerted (180).
func (c *Call) Ringing() {
	c.mu.Lock()
	ended := c.ended || c.answering
	c.mu.Unlock()
	if !ended {
		c.respond(180, "Ringing", nil)
	}
}

// Answer opens the call's RTP socket and answers 200 OK with our SDP: the
// chosen codec only, and telephone-event when the phone offered it.
func (c *Call) Answer() (*RTPSession, error) {
	if c.Offer.WebRTC {
		return nil, errors.New("sip: a WebRTC offer is answered with AnswerSDP")
	}
	if err := c.claimAnswer(); err != nil {
		return nil, err
	}

	rs, err := c.s.openRTP(c.s.mediaIP(c.req))
	if err != nil {
		c.respond(500, "Server Internal Error", nil)
		c.end(EndRejected)
		return nil, err
	}
	rs.SetRemote(c.Offer.Addr, c.rtpPayloadTypes()...)
	dtmf := -1
	if c.Offer.HasDTMF {
		dtmf = int(c.Offer.DTMF)
	}
	if c.Offer.SRTP != nil { // SDES-SRTP: our key in the answer, theirs to decrypt
		c.mu.Lock()
		c.sdes, c.peerSDES = answerCrypto(c.Offer.SRTP), c.Offer.SRTP
		c.mu.Unlock()
		if err := rs.SetSRTP(c.sdes, c.Offer.SRTP); err != nil {
			rs.Close()
			c.respond(488, "Not Acceptable Here", nil)
			c.end(EndRejected)
			return nil, err
		}
	}
	body := sessionSDP(rs.LocalAddr(), c.sdpID, c.sdpVer, []Codec{c.Codec}, dtmf, AnswerDirection(c.Offer.Direction), c.sdes)
	if err := c.sendAnswer(body, rs, dtmf); err != nil {
		return nil, err
	}
	c.s.log.Info("sip: call answered", "call", c.callID, "from", c.From.Username, "to", c.Target, "codec", c.Codec.Name,
		"rtp_local", rs.LocalAddr().String(), "rtp_remote", c.Offer.Addr.String())
	return rs, nil
}

// sendAnswer sends the 200 with body, the call's media being rs (nil for a
// WebRTC call, whose media is the app's peer connection), and keeps
// sending it until the ACK. The call must be claimed (claimAnswer) already.
func (c *Call) sendAnswer(body []byte, rs *RTPSession, dtmf int) error {
	// The phone may answer our offer held already (a=sendonly): it wants
	// no media from us until it resumes.
	held := c.Offer.Direction == SendOnly || c.Offer.Direction == Inactive
	c.mu.Lock()
	if c.ended { // cancelled or hung up meanwhile
		c.mu.Unlock()
		if rs != nil {
			rs.Close()
		}
		// This answer holds the right to the final response (a CANCEL
		// has had its 487 already; then this one is not sent).
		c.respond(480, "Temporarily Unavailable", nil)
		return errors.New("sip: call ended before the answer")
	}
	// From here on the call's end closes rs, and a hang-up sends BYE (up is
	// set together with the check above: see Hangup).
	c.rtp, c.up = rs, true
	c.heldByPeer = held
	if rs != nil {
		rs.SetPaused(held)
	}
	if rs != nil { // a WebRTC call cannot be refreshed by re-INVITE: no session timer of ours
		c.timer.interval, c.timer.weRefresh = c.seInterval, c.seWeRefresh
	}
	res := c.response(200, "OK", body)
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	c.sessionHeaders(c.req, res)
	c.mu.Unlock()
	err := c.tx.Respond(res)
	c.finalSet.Do(func() { close(c.final) })
	if err != nil { // cancelled meanwhile: no answer went, and no BYE is due
		c.mu.Lock()
		c.up = false
		c.mu.Unlock()
		c.end(EndHangup)
		return fmt.Errorf("sip: answer: %w", err)
	}
	c.answered(rs, c.Codec, dtmf)
	c.mu.Lock()
	c.arm()
	c.mu.Unlock()
	c.s.m.CallsAnswered.Add(1)
	c.s.spawn(func() {
		if !c.s.retransmit2xx(c.req, res, c.byeReady, c.done) {
			c.s.log.Info("sip: call hung up: the phone never acknowledged the answer", "call", c.callID)
			c.hangup(EndNoAck) // the record's cause too
		}
	})
	return nil
}

func (c *Call) rtpPayloadTypes() []uint8 {
	pts := []uint8{c.Codec.PayloadType}
	if c.Offer.HasDTMF {
		pts = append(pts, c.Offer.DTMF)
	}
	return pts
}

// Reject refuses a call that is not answered yet with a final response,
// e.g. 486 Busy Here, 480 Temporarily Unavailable, 404 Not Found, 603 Decline.
// Once Answer has begun, the final response is its.
func (c *Call) Reject(code int, reason string) {
	if c.claimAnswer() == nil { // holds the final response, as Answer does
		c.refuse(code, reason)
	}
}

// refuse sends the final response of a claimed call and ends it.
func (c *Call) refuse(code int, reason string) {
	c.respond(code, reason, nil)
	c.end(EndRejected)
}

// Hangup ends the call: BYE when answered, 480 when still ringing.
func (c *Call) Hangup() {
	c.mu.Lock()
	switch {
	case c.ended:
		c.mu.Unlock()
	case !c.answering:
		c.answering = true // claimed here, so that no Answer slips in
		c.mu.Unlock()
		c.refuse(480, "Temporarily Unavailable")
	default:
		c.mu.Unlock()
		// An answer under way either sent its 200 before this (up) or sees
		// the call ended and answers 480 instead: up is settled once ended
		// is set, because sendAnswer checks one and sets the other together.
		if c.end(EndHangup) {
			c.mu.Lock()
			up := c.up
			c.mu.Unlock()
			if up {
				c.s.spawn(c.sendBye)
			}
		}
	}
}

func (c *Call) response(code int, reason string, body []byte) *sip.Response {
	res := sip.NewResponseFromRequest(c.req, code, reason, body)
	if to := res.To(); to != nil {
		if _, ok := to.Params.Get("tag"); !ok {
			to.Params.Add("tag", c.localTag)
		}
	}
	res.AppendHeader(sip.NewHeader("Server", c.s.cfg.UserAgent))
	if code >= 180 && code < 300 {
		res.AppendHeader(&sip.ContactHeader{Address: c.contact})
		res.AppendHeader(sip.NewHeader("Allow", allowed))
	}
	return res
}

func (c *Call) respond(code int, reason string, body []byte) {
	if err := c.tx.Respond(c.response(code, reason, body)); err != nil {
		c.s.log.Debug("sip: call response failed", "call", c.callID, "code", code, "err", err)
	}
	if code >= 200 {
		c.mu.Lock()
		if c.rec.Status == 0 {
			c.rec.Status = code
		}
		c.mu.Unlock()
		c.finalSet.Do(func() { close(c.final) })
	}
}

// onInvite handles a new call from a phone. Without Config.OnCall, calls
// are refused with 480.
func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	s.m.Requests.Add(1)
	if s.checkRequire(req, tx) {
		return
	}
	from := ""
	if f := req.From(); f != nil {
		from = truncate(f.Address.String(), 128)
	}
	if to := req.To(); to != nil {
		if _, inDialog := to.Params.Get("tag"); inDialog {
			// A re-INVITE: hold, resume, a new address, a refresh.
			s.onReInvite(req, tx)
			return
		}
	}
	if s.cfg.OnCall == nil {
		s.log.Info("sip: call refused: calls are not routed", "from", from,
			"to", truncate(req.Recipient.String(), 128), "source", req.Source())
		s.respond(req, tx, 480, "Temporarily Unavailable")
		return
	}
	now := s.cfg.Now()
	ip, ok := sourceIP(req)
	if !ok {
		s.respond(req, tx, 400, "Bad Request")
		return
	}
	if s.guard.blocked(ip, now) {
		return
	}
	acct, trunk, ok := s.authenticateCall(req, tx, ip, now) // trunks need no challenge (trunk.go)
	if !ok {
		return
	}
	s.m.CallAttempts.Add(1)
	target := req.Recipient.User
	offer, err := ParseSDP(req.Body())
	var codec Codec
	if err == nil {
		codec, err = Negotiate(offer, PassthroughCodecs)
	}
	// refused records an authenticated call refused before it began.
	refused := func(code int) {
		now := s.cfg.Now()
		s.emitRecord(CallRecord{CallID: callID(req), Direction: RecordInbound, From: acct.Username, FromName: fromName(req),
			To: target, Started: now, Ended: now, Outcome: outcomeOf(false, code, EndRejected), Status: code, Cause: EndRejected})
	}
	if err != nil {
		s.log.Info("sip: call refused: no usable media offer", "from", acct.Username, "to", truncate(target, 64),
			"source", req.Source(), "err", err)
		s.respond(req, tx, 488, "Not Acceptable Here")
		refused(488)
		return
	}
	if offer.Addr.Port() == 0 {
		s.respond(req, tx, 488, "Not Acceptable Here")
		refused(488)
		return
	}
	seInterval, seWeRefresh, tooBrief := s.inviteTimer(req)
	if tooBrief {
		s.respond(req, tx, 422, "Session Interval Too Small",
			sip.NewHeader("Min-SE", fmt.Sprintf("%d", int(s.cfg.MinSessionExpires/time.Second))))
		return // the phone retries with a longer interval: the same call
	}
	if int(s.activeCalls.Load()) >= s.cfg.MaxCalls {
		s.log.Warn("sip: call refused: at capacity", "from", acct.Username, "max_calls", s.cfg.MaxCalls)
		s.respond(req, tx, 503, "Service Unavailable", sip.NewHeader("Retry-After", "30"))
		refused(503)
		return
	}
	c := &Call{dialog: newDialog(s, callID(req), RecordInbound), req: req, tx: tx, From: acct, Target: target, Trunk: trunk,
		Codec: codec, Offer: offer, seInterval: seInterval, seWeRefresh: seWeRefresh, final: make(chan struct{})}
	c.forget = func() { s.calls.CompareAndDelete(c.callID, c) }
	c.peerAllow = allows(req, "UPDATE")
	// The dialog: we are the To side; requests go to the phone's Contact,
	// sent where its INVITE came from, over the same connection, or
	// through the proxies that Record-Routed it.
	c.local, c.localTag = req.To().Address, sip.GenerateTagN(16)
	c.remote = req.From().Address
	c.remoteTag, _ = req.From().Params.Get("tag")
	c.target = req.Recipient
	if ct := req.Contact(); ct != nil {
		c.target = ct.Address
	}
	c.dest, c.transport = req.Source(), req.Transport()
	c.routes = routeSet(req, false) // our 200 repeats its Record-Route (sipgo copies it)
	c.contact = s.localContact(req, target)
	c.cseq = 1
	if h := req.CSeq(); h != nil {
		c.peerCSeq = h.SeqNo
	}
	c.rec.From, c.rec.FromName, c.rec.To = acct.Username, fromName(req), target
	if _, dup := s.calls.LoadOrStore(c.callID, c); dup {
		// A retransmission would have been absorbed by the transaction
		// layer; this is a second INVITE with the same Call-ID.
		s.respond(req, tx, 482, "Loop Detected")
		return
	}
	s.activeCalls.Add(1)
	if !s.startTrunkCall(c) { // the trunk's call limit (trunk.go)
		return
	}
	s.log.Info("sip: incoming call", "call", c.callID, "from", acct.Username, "to", truncate(target, 64),
		"source", req.Source(), "transport", req.Transport(), "codec", codec.Name)
	cancelled := make(chan struct{})
	var cancelOnce sync.Once
	tx.OnCancel(func(*sip.Request) { cancelOnce.Do(func() { close(cancelled) }) })
	c.respond(100, "Trying", nil)
	s.spawn(func() { s.cfg.OnCall(c) })
	// sipgo ends the INVITE transaction when this handler returns, so it
	// waits for the final response. A CANCEL (answered 200 and 487 by the
	// transaction layer) ends the transaction before it.
	select {
	case <-c.final:
	case <-c.done:
	case <-cancelled:
		if c.end(EndCancelled) {
			s.log.Info("sip: call cancelled by the phone", "call", c.callID)
		}
	case <-tx.Done():
		if c.end(EndCancelled) {
			s.log.Info("sip: call cancelled by the phone", "call", c.callID)
		}
	case <-s.stop:
		c.end(EndShutdown)
	}
}

// onAck confirms an answered call, or our answer to a re-INVITE.
func (s *Server) onAck(req *sip.Request, _ sip.ServerTransaction) {
	if d := s.dialogOf(req); d != nil && d.onAckInDialog(req) {
		return
	}
	v, ok := s.calls.Load(callID(req))
	if !ok {
		return
	}
	c := v.(*Call)
	c.mu.Lock()
	first := !c.acked && c.up
	if first {
		c.acked = true
	}
	ended := c.ended
	c.mu.Unlock()
	if first {
		close(c.byeReady)
	}
	if ended { // it ended while our 200 waited for this ACK
		c.forget()
	}
}

// fromName is the display name of a request's From.
func fromName(req *sip.Request) string {
	if f := req.From(); f != nil {
		return truncate(f.DisplayName, 128)
	}
	return ""
}

// onBye ends a call the phone hangs up.
func (s *Server) onBye(req *sip.Request, tx sip.ServerTransaction) {
	s.m.Requests.Add(1)
	if v, ok := s.outCalls.Load(callID(req)); ok {
		// A phone we called hangs up.
		if v.(*OutCall).remoteBye(req) {
			s.respond(req, tx, 200, "OK")
		} else {
			s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		}
		return
	}
	v, ok := s.calls.Load(callID(req))
	if !ok {
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	c := v.(*Call)
	// Only the phone of the dialog may end it: its tag is the INVITE's From tag.
	if !c.fromPeer(req) {
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	s.respond(req, tx, 200, "OK")
	c.end(EndRemoteBye)
}

func callID(req *sip.Request) string {
	if h := req.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

// writeResponse sends a response outside its transaction (2xx retransmissions).
func (s *Server) writeResponse(req *sip.Request, res *sip.Response) {
	res.SetDestination(req.Source())
	if err := s.srv.WriteResponse(res); err != nil {
		s.log.Debug("sip: retransmit failed", "err", err)
	}
}

// localContact is our Contact for a dialog the request starts: the
// transport's listening address, or the address the phone reached.
func (s *Server) localContact(req *sip.Request, user string) sip.Uri {
	return s.contactFor(req.Transport(), s.mediaIP(req), user)
}

// mediaIP is the address put in SDP and Contact: Config.MediaIP, or the
// local address the system routes to the request's source through.
func (s *Server) mediaIP(req *sip.Request) netip.Addr { return s.mediaIPFor(req.Source()) }

// mediaIPFor is mediaIP for a peer at source (host:port).
func (s *Server) mediaIPFor(source string) netip.Addr {
	if s.cfg.MediaIP.IsValid() {
		return s.cfg.MediaIP
	}
	if src, err := netip.ParseAddrPort(source); err == nil {
		// No packet is sent: a UDP "connection" only asks the routing table.
		if c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(src)); err == nil {
			defer c.Close()
			return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
		}
	}
	return netip.IPv4Unspecified()
}

// endCalls hangs up every call (the server is closing).
func (s *Server) endCalls() {
	s.calls.Range(func(_, v any) bool {
		v.(*Call).Hangup()
		return true
	})
	s.outCalls.Range(func(_, v any) bool {
		v.(*OutCall).Hangup()
		return true
	})
}
