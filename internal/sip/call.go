package sip

import (
	"context"
	"crypto/rand"
	"encoding/binary"
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
// goroutine.
type Call struct {
	s      *Server
	req    *sip.Request
	tx     sip.ServerTransaction
	callID string

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

	toTag string
	local sip.Uri // our Contact

	mu       sync.Mutex
	answered bool // Answer or Reject has begun: the final response is theirs
	acked    bool
	ended    bool
	reason   string
	cseq     uint32
	up       bool        // the 200 is sent (or being sent): the call is answered
	rtp      *RTPSession // nil for a WebRTC call (its media is the app's)
	done     chan struct{}
	ackCh    chan struct{}
	final    chan struct{} // closed when a final response has been sent
	finalSet sync.Once
}

// Done is closed when the call has ended.
func (c *Call) Done() <-chan struct{} { return c.done }

// EndReason says why the call ended (one of the End constants); "" while it lasts.
func (c *Call) EndReason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// RTP is the call's media socket once answered (nil before).
func (c *Call) RTP() *RTPSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rtp
}

// Ringing tells the phone the callee is being alerted (180).
func (c *Call) Ringing() {
	c.mu.Lock()
	ended := c.ended || c.answered
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
	rs.totals = c.s.m
	rs.SetRemote(c.Offer.Addr, c.rtpPayloadTypes()...)
	dtmf := -1
	if c.Offer.HasDTMF {
		dtmf = int(c.Offer.DTMF)
	}
	var sid [8]byte
	rand.Read(sid[:])
	id := binary.BigEndian.Uint64(sid[:]) >> 2 // positive when printed as int64
	body := SessionSDP(rs.LocalAddr(), id, 1, []Codec{c.Codec}, dtmf, AnswerDirection(c.Offer.Direction))
	if err := c.sendAnswer(body, rs); err != nil {
		return nil, err
	}
	c.s.log.Info("sip: call answered", "call", c.callID, "from", c.From.Username, "to", c.Target, "codec", c.Codec.Name,
		"rtp_local", rs.LocalAddr().String(), "rtp_remote", c.Offer.Addr.String())
	return rs, nil
}

// sendAnswer sends the 200 with body, the call's media being rs (nil for a
// WebRTC call, whose media is the app's peer connection), and keeps
// sending it until the ACK. The call must be claimed (c.answered) already.
func (c *Call) sendAnswer(body []byte, rs *RTPSession) error {
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
	c.rtp, c.up = rs, true
	c.mu.Unlock()
	res := c.response(200, "OK", body)
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	err := c.tx.Respond(res)
	c.finalSet.Do(func() { close(c.final) })
	if err != nil {
		c.end(EndHangup)
		return fmt.Errorf("sip: answer: %w", err)
	}
	c.s.m.CallsAnswered.Add(1)
	c.s.wg.Go(func() { c.retransmit2xx(res) })
	return nil
}

func (c *Call) rtpPayloadTypes() []uint8 {
	pts := []uint8{c.Codec.PayloadType}
	if c.Offer.HasDTMF {
		pts = append(pts, c.Offer.DTMF)
	}
	return pts
}

// retransmit2xx resends the 200 until the ACK comes (RFC 3261 13.3.1.4):
// over UDP the transaction layer does not do it for a 2xx. Without an ACK
// after 64*T1 the call is hung up.
func (c *Call) retransmit2xx(res *sip.Response) {
	interval := sip.T1
	deadline := time.NewTimer(64 * sip.T1)
	defer deadline.Stop()
	reliable := c.req.Transport() != "UDP"
	for {
		t := time.NewTimer(interval)
		select {
		case <-c.ackCh:
			t.Stop()
			return
		case <-c.s.stop:
			t.Stop()
			return
		case <-deadline.C:
			t.Stop()
			c.s.log.Info("sip: call hung up: the phone never acknowledged the answer", "call", c.callID)
			c.Hangup()
			c.setReason(EndNoAck)
			return
		case <-t.C:
			if !reliable {
				c.s.writeResponse(c.req, res)
			}
			interval = min(2*interval, sip.T2)
		}
	}
}

// Reject refuses a call that is not answered yet with a final response,
// e.g. 486 Busy Here, 480 Temporarily Unavailable, 404 Not Found, 603 Decline.
// Once Answer has begun, the final response is its.
func (c *Call) Reject(code int, reason string) {
	c.mu.Lock()
	if c.ended || c.answered {
		c.mu.Unlock()
		return
	}
	c.answered = true // holds the final response, as Answer does
	c.mu.Unlock()
	c.respond(code, reason, nil)
	c.end(EndRejected)
}

// Hangup ends the call: BYE when answered, 480 when still ringing.
func (c *Call) Hangup() {
	c.mu.Lock()
	ended, answering := c.ended, c.answered
	c.mu.Unlock()
	switch {
	case ended:
	case !answering:
		c.Reject(480, "Temporarily Unavailable")
	case c.end(EndHangup):
		// An answer under way either sent its 200 before this (up) or sees
		// the call ended and answers 480 instead: up is settled once ended
		// is set, because sendAnswer checks one and sets the other together.
		c.mu.Lock()
		up := c.up
		c.mu.Unlock()
		if up {
			c.s.wg.Go(c.sendBye)
		}
	}
}

// sendBye sends BYE to the phone, to where its INVITE came from, once
// the phone has acknowledged our 200 (RFC 3261 section 15: not before the
// ACK, or the end of the 2xx retransmissions).
func (c *Call) sendBye() {
	select {
	case <-c.ackCh:
	case <-time.After(64 * sip.T1):
	case <-c.s.stop:
		c.s.calls.CompareAndDelete(c.callID, c)
		return
	}
	c.s.calls.CompareAndDelete(c.callID, c)
	c.mu.Lock()
	c.cseq++
	cseq := c.cseq
	c.mu.Unlock()
	target := c.req.Recipient
	if ct := c.req.Contact(); ct != nil {
		target = ct.Address
	}
	bye := sip.NewRequest(sip.BYE, target)
	from := &sip.FromHeader{Address: c.req.To().Address}
	from.Params.Add("tag", c.toTag)
	bye.AppendHeader(from)
	to := &sip.ToHeader{Address: c.req.From().Address, Params: c.req.From().Params.Clone()}
	bye.AppendHeader(to)
	callID := sip.CallIDHeader(c.callID)
	bye.AppendHeader(&callID)
	bye.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: sip.BYE})
	bye.AppendHeader(sip.NewHeader("Max-Forwards", "70"))
	bye.SetTransport(c.req.Transport())
	bye.SetDestination(c.req.Source())
	bye.AppendHeader(sip.NewHeader("User-Agent", c.s.cfg.UserAgent))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.s.client.Do(ctx, bye)
	switch {
	case err != nil || res == nil: // sipgo returns neither when the server closes
		c.s.log.Info("sip: BYE to the phone got no answer", "call", c.callID, "err", err)
	case res.StatusCode >= 300:
		c.s.log.Info("sip: BYE to the phone refused", "call", c.callID, "status", res.StatusCode)
	}
}

func (c *Call) response(code int, reason string, body []byte) *sip.Response {
	res := sip.NewResponseFromRequest(c.req, code, reason, body)
	if to := res.To(); to != nil {
		if _, ok := to.Params.Get("tag"); !ok {
			to.Params.Add("tag", c.toTag)
		}
	}
	res.AppendHeader(sip.NewHeader("Server", c.s.cfg.UserAgent))
	if code >= 180 && code < 300 {
		res.AppendHeader(&sip.ContactHeader{Address: c.local})
		res.AppendHeader(sip.NewHeader("Allow", allowed))
	}
	return res
}

func (c *Call) respond(code int, reason string, body []byte) {
	if err := c.tx.Respond(c.response(code, reason, body)); err != nil {
		c.s.log.Debug("sip: call response failed", "call", c.callID, "code", code, "err", err)
	}
	if code >= 200 {
		c.finalSet.Do(func() { close(c.final) })
	}
}

func (c *Call) setReason(r string) {
	c.mu.Lock()
	c.reason = r
	c.mu.Unlock()
}

// end marks the call ended once, closes its media and forgets it.
func (c *Call) end(reason string) bool {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return false
	}
	c.ended, c.reason = true, reason
	rs, up := c.rtp, c.up
	c.mu.Unlock()
	close(c.done)
	if rs != nil {
		rs.Close()
	}
	select {
	case <-c.ackCh:
		c.s.calls.CompareAndDelete(c.callID, c)
	default:
		if !up {
			c.s.calls.CompareAndDelete(c.callID, c)
		}
		// else: answered but not acknowledged yet: the ACK must still find
		// the call, before sendBye (which forgets it) may send the BYE.
	}
	c.s.activeCalls.Add(-1)
	c.s.log.Info("sip: call ended", "call", c.callID, "from", c.From.Username, "to", c.Target, "reason", reason)
	return true
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
			// A re-INVITE (hold, a new address): not handled yet. 488 keeps
			// the current session as it is (RFC 3261 14.2).
			s.log.Info("sip: re-INVITE refused: not supported yet", "call", callID(req), "source", req.Source())
			s.respond(req, tx, 488, "Not Acceptable Here")
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
	if err != nil {
		s.log.Info("sip: call refused: no usable media offer", "from", acct.Username, "to", truncate(target, 64),
			"source", req.Source(), "err", err)
		s.respond(req, tx, 488, "Not Acceptable Here")
		return
	}
	if offer.Addr.Port() == 0 {
		s.respond(req, tx, 488, "Not Acceptable Here")
		return
	}
	if int(s.activeCalls.Load()) >= s.cfg.MaxCalls {
		s.log.Warn("sip: call refused: at capacity", "from", acct.Username, "max_calls", s.cfg.MaxCalls)
		s.respond(req, tx, 503, "Service Unavailable", sip.NewHeader("Retry-After", "30"))
		return
	}
	c := &Call{s: s, req: req, tx: tx, callID: callID(req), From: acct, Target: target, Trunk: trunk, Codec: codec, Offer: offer,
		toTag: sip.GenerateTagN(16), cseq: 1, done: make(chan struct{}), ackCh: make(chan struct{}),
		final: make(chan struct{})}
	c.local = s.localContact(req, target)
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
	s.wg.Go(func() { s.cfg.OnCall(c) })
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

// onAck confirms an answered call.
func (s *Server) onAck(req *sip.Request, _ sip.ServerTransaction) {
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
	c.mu.Unlock()
	if first {
		close(c.ackCh)
	}
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
	if f, t := req.From(), c.req.From(); f == nil || t == nil || !sameTag(f, t) {
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	s.respond(req, tx, 200, "OK")
	c.end(EndRemoteBye)
}

func sameTag(a *sip.FromHeader, b *sip.FromHeader) bool {
	ta, _ := a.Params.Get("tag")
	tb, _ := b.Params.Get("tag")
	return ta != "" && ta == tb
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
