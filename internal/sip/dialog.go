package sip

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// The dialog is what a call from a phone (Call) and a call to a phone
// (OutCall) share once it exists: ending it once (BYE, the call detail
// record), requests inside it in both directions (hold and resume by
// re-INVITE, REFER and NOTIFY, INFO, session refreshes), and the media
// watchdog. Each feature is written here once; Call and OutCall only set
// up the dialog's identity (who is local, who remote) when they start it.

// More call end reasons (see the End constants in call.go).
const (
	EndSessionExpired = "session-expired" // the refresher did not refresh the session (RFC 4028)
	EndMediaTimeout   = "media-timeout"   // no RTP or RTCP from the phone for Config.MediaTimeout
	EndTransferred    = "transferred"     // the phone took a blind transfer (REFER) and we left
	EndFailed         = "failed"          // the call could not be set up (no answer, a bad answer)
	EndNoSRTP         = "no-srtp"         // our SDES-SRTP offer was answered without a key (media_encryption sdes)
)

// ErrRequestPending is returned by Hold, Resume and Transfer when the
// phone is itself changing the session (491 Request Pending, or a re-INVITE
// of ours still under way): try again in a few seconds.
var ErrRequestPending = errors.New("sip: a session change is already in progress (491 Request Pending); try again")

// ErrCallEnded is returned by the call control methods once the call has
// ended, or before it is answered.
var ErrCallEnded = errors.New("sip: the call is not in progress")

// RequestError is the phone's refusal of a request inside the call.
type RequestError struct {
	Method string
	Status int
	Reason string
}

func (e *RequestError) Error() string {
	return fmt.Sprintf("sip: the phone answered %s with %d %s", e.Method, e.Status, e.Reason)
}

type dialog struct {
	s      *Server
	callID string
	// forget removes the call from the server's table (Call or OutCall).
	forget func()

	// The dialog's identity for requests we send, set when it starts.
	local, remote       sip.Uri
	localTag, remoteTag string
	target              sip.Uri // the phone's Contact: our Request-URI
	dest, transport     string  // where our requests go, and how
	// routes is the dialog's route set (RFC 3261 12.1), our Route headers
	// in order: the proxies that Record-Routed the INVITE. When set, our
	// requests go to the first one instead of dest.
	routes  []sip.Uri
	contact sip.Uri // our Contact
	// byeReady is closed once a BYE may be sent (the phone's ACK of our
	// 200, for calls from phones).
	byeReady chan struct{}

	mu         sync.Mutex
	ended      bool
	reason     string
	cseq       uint32      // our last CSeq
	peerCSeq   uint32      // the phone's last CSeq (requests must grow it)
	rtp        *RTPSession // nil for a call whose media is the app's (WebRTC)
	up         bool        // answered: a 200 was sent or received
	codec      Codec
	dtmf       int // the phone's telephone-event payload type, -1 none
	sdpID      uint64
	sdpVer     uint64
	heldByUs   bool
	heldByPeer bool
	changing   bool      // one of our re-INVITEs is under way (glare: the phone's get 491)
	mediaSince time.Time // when media was last expected to start (answer, resume)
	reAck      chan struct{}
	reAckSeq   uint32
	refer      chan int // statuses from NOTIFYs about our REFER
	onHold     func(bool)
	onRefer    func(target string, result func(error)) error
	onInfoKey  func(DTMFEvent)
	sdes       *SDES // our SRTP key when the call's media is SDES-SRTP (the same in every answer)
	peerSDES   *SDES // the phone's SRTP key, to see a new one in its offers
	peerAllow  bool  // the phone's Allow lists UPDATE: our session refreshes use it (timer.go)
	timer      sessionTimer
	rec        CallRecord
	done       chan struct{}
}

func newDialog(s *Server, callID, direction string) dialog {
	var sid [8]byte
	rand.Read(sid[:])
	return dialog{s: s, callID: callID, done: make(chan struct{}), byeReady: make(chan struct{}), dtmf: -1,
		sdpID: binary.BigEndian.Uint64(sid[:]) >> 2, sdpVer: 1, // positive when printed as int64
		rec: CallRecord{CallID: callID, Direction: direction, Started: s.cfg.Now()}}
}

// Done is closed when the call has ended.
func (d *dialog) Done() <-chan struct{} { return d.done }

// EndReason says why the call ended (one of the End constants); "" while it lasts.
func (d *dialog) EndReason() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reason
}

// RTP is the call's media socket once answered (nil before).
func (d *dialog) RTP() *RTPSession {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rtp
}

// Held reports whether the call is on hold: by us (Hold) or by the phone.
func (d *dialog) Held() (byUs, byPhone bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.heldByUs, d.heldByPeer
}

// OnHold sets what is told when the phone puts the call on hold (true:
// a re-INVITE with a=sendonly, a=inactive or c=0.0.0.0) or takes it off
// (false). It runs in a goroutine of the SIP server and must not block
// for long. Set it before or after answering.
func (d *dialog) OnHold(f func(held bool)) {
	d.mu.Lock()
	d.onHold = f
	d.mu.Unlock()
}

// OnRefer sets who decides on the phone's blind transfers (an incoming
// REFER asking us to connect the other party to target: the Refer-To
// URI's user part, a number, extension or username, or the whole URI
// when it has none). f is called in the SIP server's goroutine and must
// not block: an error refuses the transfer (603 Decline); nil accepts it
// (202 Accepted, then NOTIFY 100 Trying), and f (or whatever it starts)
// must later call result once, nil when the new call was answered (NOTIFY
// 200 OK), or an error (NOTIFY 503). Without OnRefer, REFERs get 603.
func (d *dialog) OnRefer(f func(target string, result func(error)) error) {
	d.mu.Lock()
	d.onRefer = f
	d.mu.Unlock()
}

// Hold puts the phone on hold: a re-INVITE with a=sendonly. Our media
// keeps flowing to the phone (silence or music); the phone stops sending.
func (d *dialog) Hold() error { return d.setHold(true) }

// Resume takes the phone off hold: a re-INVITE with a=sendrecv.
func (d *dialog) Resume() error { return d.setHold(false) }

func (d *dialog) setHold(held bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 64*sip.T1)
	defer cancel()
	d.mu.Lock()
	prev := d.heldByUs
	d.heldByUs = held
	d.mu.Unlock()
	if err := d.reinvite(ctx, false); err != nil {
		d.mu.Lock()
		d.heldByUs = prev
		d.mu.Unlock()
		return err
	}
	d.mu.Lock()
	if !held {
		d.mediaSince = time.Now()
	}
	d.mu.Unlock()
	d.s.log.Info("sip: call hold changed by us", "call", d.callID, "held", held)
	return nil
}

// localSDP is our SDP for the current state, a new version of it when
// bump (a change, RFC 3264 section 8); d.mu is held.
func (d *dialog) localSDP(bump bool, direction string) []byte {
	if bump {
		d.sdpVer++
	}
	return sessionSDP(d.rtp.LocalAddr(), d.sdpID, d.sdpVer, []Codec{d.codec}, d.dtmf, direction, d.sdes)
}

// ourDirection is what we offer: sendonly while we hold the phone.
func (d *dialog) ourDirection() string {
	if d.heldByUs {
		return SendOnly
	}
	return SendRecv
}

// reinvite sends a re-INVITE with our current state (a change, or a
// session refresh when refresh), ACKs its 2xx and takes the answer.
func (d *dialog) reinvite(ctx context.Context, refresh bool) error {
	d.mu.Lock()
	if d.ended || d.rtp == nil {
		d.mu.Unlock()
		return ErrCallEnded
	}
	if d.changing || d.reAck != nil {
		d.mu.Unlock()
		return ErrRequestPending
	}
	d.changing = true
	body := d.localSDP(!refresh, d.ourDirection())
	interval := d.timer.interval
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.changing = false
		d.mu.Unlock()
	}()
	req, cseq := d.newRequest(sip.INVITE)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(sip.NewHeader("Allow", allowed))
	req.AppendHeader(sip.NewHeader("Supported", "timer"))
	if interval > 0 {
		req.AppendHeader(sip.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=uac", int(interval/time.Second))))
	}
	req.SetBody(body)
	res, err := d.do(ctx, req, func(r *sip.Response) {
		if r.IsSuccess() {
			d.sendAck(cseq) // a retransmitted 2xx: our ACK was lost
		}
	})
	if err != nil {
		return err
	}
	if !res.IsSuccess() {
		if res.StatusCode == 491 {
			return ErrRequestPending
		}
		if res.StatusCode == 408 || res.StatusCode == 481 {
			// The dialog is gone on the phone's side (RFC 5057).
			d.hangup(EndFailed)
		}
		return &RequestError{Method: "INVITE", Status: res.StatusCode, Reason: res.Reason}
	}
	d.sendAck(cseq)
	if ans, err := ParseSDP(res.Body()); err == nil {
		d.mu.Lock()
		d.updateRemote(ans)
		d.mu.Unlock()
	}
	d.refreshed(res)
	return nil
}

// updateRemote points the media at a new address from the phone's SDP, if
// it changed; d.mu is held. c=0.0.0.0 (old-style hold) is no address.
func (d *dialog) updateRemote(md MediaDescription) {
	if d.rtp == nil || !md.Addr.IsValid() || md.Addr.Addr().IsUnspecified() || md.Addr.Port() == 0 {
		return
	}
	pts := []uint8{d.codec.PayloadType}
	if md.HasDTMF {
		pts = append(pts, md.DTMF)
	}
	if cur := d.rtp.signalledAddr(); cur != md.Addr {
		d.s.log.Info("sip: the phone moved its media", "call", d.callID, "rtp_remote", md.Addr.String())
		d.rtp.SetRemote(md.Addr, pts...)
	}
}

// newRequest builds a request inside the dialog with the next CSeq.
func (d *dialog) newRequest(method sip.RequestMethod) (*sip.Request, uint32) {
	d.mu.Lock()
	d.cseq++
	cseq := d.cseq
	d.mu.Unlock()
	return d.requestWithCSeq(method, cseq), cseq
}

func (d *dialog) requestWithCSeq(method sip.RequestMethod, cseq uint32) *sip.Request {
	req := sip.NewRequest(method, d.target)
	from := &sip.FromHeader{Address: d.local, Params: sip.NewParams()}
	from.Params.Add("tag", d.localTag)
	req.AppendHeader(from)
	to := &sip.ToHeader{Address: d.remote, Params: sip.NewParams()}
	to.Params.Add("tag", d.remoteTag)
	req.AppendHeader(to)
	callID := sip.CallIDHeader(d.callID)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: method})
	req.AppendHeader(sip.NewHeader("Max-Forwards", "70"))
	if method != sip.BYE && method != sip.ACK {
		req.AppendHeader(&sip.ContactHeader{Address: d.contact})
	}
	req.AppendHeader(sip.NewHeader("User-Agent", d.s.cfg.UserAgent))
	d.route(req)
	return req
}

// route sends req along the dialog's route set (RFC 3261 12.2.1.1): a
// Route header per proxy, to the first proxy's address (over the transport
// its URI names, else the dialog's). A strict router (its URI without ;lr)
// takes the request with its URI as Request-URI, and the phone's Contact
// as the last Route. Without a route set, req goes to d.dest.
func (d *dialog) route(req *sip.Request) {
	req.SetTransport(d.transport)
	if len(d.routes) == 0 {
		req.SetDestination(d.dest)
		return
	}
	first, routes := d.routes[0], d.routes
	if !first.UriParams.Has("lr") {
		ruri := *first.Clone()
		ruri.Headers = nil // not allowed in a Request-URI (RFC 3261 19.1.1)
		req.Recipient = ruri
		routes = append(slices.Clone(d.routes[1:]), d.target)
	}
	for _, u := range routes {
		req.AppendHeader(&sip.RouteHeader{Address: u})
	}
	transport := d.transport
	if t, ok := first.UriParams.Get("transport"); ok && t != "" {
		transport = strings.ToUpper(t)
	}
	if first.IsEncrypted() && (transport == "UDP" || transport == "TCP") { // sips: TLS
		transport = "TLS"
	}
	port := first.Port
	if port == 0 {
		port = sip.DefaultPort(transport)
	}
	req.SetTransport(transport)
	req.SetDestination(net.JoinHostPort(first.Host, strconv.Itoa(port)))
}

// routeSet reads the Record-Route headers of m, the message that set the
// dialog up: in order for the INVITE of a call we answer, reversed for
// the 2xx of ours (RFC 3261 12.1.1, 12.1.2).
func routeSet(m sip.Message, reverse bool) []sip.Uri {
	var routes []sip.Uri
	for _, h := range m.GetHeaders("Record-Route") {
		var u sip.Uri
		if _, err := sip.ParseAddressValue(h.Value(), &u, nil); err != nil || u.Host == "" {
			continue
		}
		routes = append(routes, u)
	}
	if reverse {
		slices.Reverse(routes)
	}
	return routes
}

// do sends req in a client transaction and waits for its final response.
// onRetransmit, when set, sees 2xx retransmissions after it (INVITE).
func (d *dialog) do(ctx context.Context, req *sip.Request, onRetransmit func(*sip.Response)) (*sip.Response, error) {
	tx, err := d.s.client.TransactionRequest(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("sip: %s: %w", req.Method, err)
	}
	final := false
	defer func() {
		// An INVITE's transaction outlives its final response: its Timer D
		// ACKs a resent refusal, its Timer M shows onRetransmit a resent 2xx.
		if !final || req.Method != sip.INVITE {
			tx.Terminate()
		}
	}()
	if onRetransmit != nil {
		tx.OnRetransmission(onRetransmit)
	}
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			final = true
			return res, nil
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return nil, fmt.Errorf("sip: %s got no answer: %w", req.Method, err)
			}
			return nil, fmt.Errorf("sip: %s got no answer", req.Method)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// sendAck acknowledges the 2xx of our re-INVITE with CSeq cseq.
func (d *dialog) sendAck(cseq uint32) {
	ack := d.requestWithCSeq(sip.ACK, cseq)
	if err := d.s.client.WriteRequest(ack); err != nil {
		d.s.log.Debug("sip: ACK failed", "call", d.callID, "err", err)
	}
}

// hangup ends the call and sends BYE.
func (d *dialog) hangup(reason string) {
	if d.end(reason) {
		d.s.spawn(d.sendBye)
	}
}

// sendBye sends BYE to the phone once that is allowed (RFC 3261 section
// 15: for a call from a phone, not before its ACK, or the end of the 2xx
// retransmissions).
func (d *dialog) sendBye() {
	select {
	case <-d.byeReady:
	case <-time.After(64 * sip.T1):
	case <-d.s.stop:
		d.forget()
		return
	}
	d.forget()
	bye, _ := d.newRequest(sip.BYE)
	ctx, cancel := d.s.requestContext(10 * time.Second)
	defer cancel()
	res, err := d.do(ctx, bye, nil)
	switch {
	case err != nil:
		d.s.log.Info("sip: BYE to the phone got no answer", "call", d.callID, "err", err)
	case res.StatusCode >= 300:
		d.s.log.Info("sip: BYE to the phone refused", "call", d.callID, "status", res.StatusCode)
	}
}

// end marks the call ended once: it closes the media, stops the timers,
// forgets the call unless a BYE still has to find it, and hands out the
// call detail record. It reports whether it ended the call.
func (d *dialog) end(reason string) bool {
	d.mu.Lock()
	if d.ended {
		d.mu.Unlock()
		return false
	}
	d.ended, d.reason = true, reason
	rs, up := d.rtp, d.up
	d.timer.stop()
	rec := d.rec
	d.mu.Unlock()
	close(d.done)
	if rs != nil {
		st := rs.Stats()
		rs.Close()
		rec.PacketsSent, rec.PacketsReceived, rec.PacketsLost, rec.JitterMillis = st.PacketsSent, st.PacketsReceived, st.PacketsLost, st.JitterMillis
	}
	select {
	case <-d.byeReady:
		d.forget()
	default:
		if !up || reason == EndRemoteBye { // no BYE of ours will look for it
			d.forget()
		}
		// else: answered but not acknowledged yet: the ACK must still find
		// the call, before sendBye (which forgets it) may send the BYE.
	}
	d.s.activeCalls.Add(-1)
	rec.Ended, rec.Cause = d.s.cfg.Now(), reason
	if reason == EndCancelled && rec.Status == 0 {
		rec.Status = 487
	}
	rec.Outcome = outcomeOf(!rec.Answered.IsZero(), rec.Status, reason)
	d.s.log.Info("sip: call ended", "call", d.callID, "direction", rec.Direction, "from", rec.From, "to", rec.To,
		"reason", reason, "outcome", rec.Outcome)
	d.s.emitRecord(rec)
	return true
}

// outcomeOf classifies a call for its record.
func outcomeOf(answered bool, status int, cause string) string {
	switch {
	case answered:
		return OutcomeAnswered
	case cause == EndCancelled:
		return OutcomeCancelled
	case status == 486 || status == 600:
		return OutcomeBusy
	case status == 408 || status == 480:
		return OutcomeNoAnswer
	case status >= 500 && status < 600:
		return OutcomeFailed
	case status >= 300:
		return OutcomeRejected
	}
	return OutcomeFailed
}

// requestContext bounds a request of ours to timeout, and to the server's
// life: a closing server sends its BYEs once and does not wait for answers.
func (s *Server) requestContext(timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// emitRecord hands a call detail record to Config.OnRecord.
func (s *Server) emitRecord(rec CallRecord) {
	if s.cfg.OnRecord == nil {
		return
	}
	// Called in place: a record can end a call while the server closes,
	// when starting a goroutine in s.wg would race its Wait.
	s.cfg.OnRecord(rec)
}

// answered records that media started: the record's answer time, the
// codec, the watchdogs.
func (d *dialog) answered(rs *RTPSession, codec Codec, dtmf int) {
	d.mu.Lock()
	d.rtp, d.codec, d.dtmf, d.up = rs, codec, dtmf, true
	d.rec.Answered, d.rec.Status, d.rec.Codec = d.s.cfg.Now(), 200, codec.Name
	d.mediaSince = time.Now()
	d.mu.Unlock()
	if t := d.s.cfg.MediaTimeout; t > 0 && rs != nil { // a WebRTC call's peer connection watches its own
		d.s.spawn(func() { d.watchMedia(t) })
	}
}

// watchMedia hangs up an answered call whose phone sends nothing (no RTP,
// no RTCP) for timeout while it is not on hold: a phone that lost power or
// network never sends its BYE.
func (d *dialog) watchMedia(timeout time.Duration) {
	t := time.NewTicker(max(min(timeout/4, time.Second), 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-d.done:
			return
		case <-d.s.stop:
			return
		case <-t.C:
		}
		d.mu.Lock()
		quiet := !d.heldByUs && !d.heldByPeer && time.Since(d.mediaSince) > timeout && d.rtp.SinceLastPacket() > timeout
		d.mu.Unlock()
		if quiet {
			d.s.log.Info("sip: call hung up: no media from the phone", "call", d.callID, "timeout", timeout)
			d.hangup(EndMediaTimeout)
			return
		}
	}
}

// fromPeer reports whether req belongs to this dialog and comes from the
// phone: its From tag is the phone's. The To tag is not checked: some
// phones (and sipp) repeat the tag of an earlier response, e.g. a 401's.
func (d *dialog) fromPeer(req *sip.Request) bool {
	f := req.From()
	if f == nil {
		return false
	}
	ft, _ := f.Params.Get("tag")
	return ft != "" && ft == d.remoteTag
}

// checkCSeq refuses requests from the phone whose CSeq does not grow
// (RFC 3261 section 12.2.2: 500).
func (d *dialog) checkCSeq(req *sip.Request) bool {
	h := req.CSeq()
	if h == nil {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.peerCSeq != 0 && h.SeqNo <= d.peerCSeq {
		return false
	}
	d.peerCSeq = h.SeqNo
	return true
}

// dialogOf finds the call a request inside a dialog belongs to.
func (s *Server) dialogOf(req *sip.Request) *dialog {
	id := callID(req)
	var d *dialog
	if v, ok := s.calls.Load(id); ok {
		d = &v.(*Call).dialog
	} else if v, ok := s.outCalls.Load(id); ok {
		d = &v.(*OutCall).dialog
	}
	if d == nil || !d.fromPeer(req) {
		return nil
	}
	return d
}

// inDialog finds the dialog of req and checks its CSeq, answering 481 or
// 500 itself when they do not fit.
func (s *Server) inDialog(req *sip.Request, tx sip.ServerTransaction) *dialog {
	s.m.Requests.Add(1)
	d := s.dialogOf(req)
	if d == nil {
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return nil
	}
	d.mu.Lock()
	live := !d.ended && d.up // a WebRTC call is live with no RTP session of ours
	d.mu.Unlock()
	if !live {
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return nil
	}
	if !d.checkCSeq(req) {
		s.respond(req, tx, 500, "Server Internal Error", sip.NewHeader("Retry-After", "1"))
		return nil
	}
	return d
}

// onReInvite answers the phone's re-INVITE: hold and resume, a new media
// address, a session refresh. Glare (one of ours under way) gets 491.
func (s *Server) onReInvite(req *sip.Request, tx sip.ServerTransaction) {
	d := s.inDialog(req, tx)
	if d == nil {
		return
	}
	if d.busy() {
		s.respond(req, tx, 491, "Request Pending")
		return
	}
	body, code := d.takeOffer(req.Body())
	if code != 200 {
		s.respond(req, tx, code, "Not Acceptable Here")
		return
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", body)
	res.AppendHeader(sip.NewHeader("Server", s.cfg.UserAgent))
	res.AppendHeader(&sip.ContactHeader{Address: d.contact})
	res.AppendHeader(sip.NewHeader("Allow", allowed))
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	d.sessionRefreshedBy(req, res)
	ack := make(chan struct{})
	d.mu.Lock()
	d.reAck, d.reAckSeq = ack, req.CSeq().SeqNo
	d.mu.Unlock()
	if err := tx.Respond(res); err != nil {
		s.log.Debug("sip: re-INVITE answer failed", "call", d.callID, "err", err)
	}
	s.spawn(func() {
		ok := s.retransmit2xx(req, res, ack, d.done)
		d.mu.Lock()
		if d.reAck == ack {
			d.reAck = nil
		}
		d.mu.Unlock()
		if !ok {
			s.log.Info("sip: call hung up: the phone never acknowledged our answer to its re-INVITE", "call", d.callID)
			d.hangup(EndNoAck)
		}
	})
}

// busy reports whether a session change is under way: one of our
// re-INVITEs, or the phone's last one not yet acknowledged. The ACK and a
// new re-INVITE sent right after it may be handled in either order, so a
// missing ACK is waited for a moment.
func (d *dialog) busy() bool {
	d.mu.Lock()
	changing, ack := d.changing, d.reAck
	d.mu.Unlock()
	if changing {
		return true
	}
	if ack == nil {
		return false
	}
	select {
	case <-ack:
		return false
	case <-time.After(250 * time.Millisecond):
		return true
	}
}

// takeOffer answers an SDP offer inside the call: our SDP and 200, or 488
// when it is unusable (the session stays as it was, RFC 3261 14.2). An
// empty offer (the phone wants ours) gets our current SDP.
func (d *dialog) takeOffer(body []byte) ([]byte, int) {
	d.mu.Lock()
	if d.rtp == nil {
		// A WebRTC call: its peer connection was negotiated once; a new
		// offer (a browser SIP client's hold) is refused and the session
		// stays as it is (RFC 3261 14.2).
		d.mu.Unlock()
		d.s.log.Info("sip: re-INVITE refused: the call's WebRTC media cannot be renegotiated", "call", d.callID)
		return nil, 488
	}
	if len(body) == 0 {
		defer d.mu.Unlock()
		return d.localSDP(false, d.ourDirection()), 200
	}
	rs, ours, peer := d.rtp, d.sdes, d.peerSDES
	d.mu.Unlock()
	md, err := ParseSDP(body)
	if err == nil {
		_, err = Negotiate(md, []Codec{d.codec})
	}
	// The media stays as encrypted as it was: an SDES call takes only
	// offers with a key; a new key (or tag, or suite) gets a new one of
	// ours under its tag (RFC 4568 7.1.4; a new context with our old key
	// would repeat its keystream).
	var rekey *SDES
	switch {
	case err != nil:
	case ours == nil && md.SRTP != nil:
		err = errors.New("sip: an SRTP offer in a call whose media is in clear")
	case ours != nil && md.SRTP == nil:
		err = errors.New("sip: an offer without a usable a=crypto key in a call whose media is SRTP")
	case ours != nil && !sameSDES(md.SRTP, peer):
		rekey = answerCrypto(md.SRTP)
		err = rs.SetSRTP(rekey, md.SRTP)
	}
	if err != nil {
		d.s.log.Info("sip: re-INVITE refused: unusable offer", "call", d.callID, "err", err)
		return nil, 488
	}
	held := md.Direction == SendOnly || md.Direction == Inactive || (md.Addr.Addr().IsUnspecified() && md.Addr.Addr().IsValid())
	d.mu.Lock()
	if rekey != nil {
		d.sdes, d.peerSDES = rekey, md.SRTP
		d.s.log.Info("sip: the phone changed its SRTP key", "call", d.callID)
	}
	d.updateRemote(md)
	changed := held != d.heldByPeer
	d.heldByPeer = held
	if !held {
		d.mediaSince = time.Now()
	}
	d.rtp.SetPaused(held)
	dir := AnswerDirection(md.Direction)
	if held && dir == SendRecv { // c=0.0.0.0 with sendrecv: RFC 2543 hold
		dir = RecvOnly
	}
	if d.heldByUs { // we keep the phone on hold too: we only send
		switch dir {
		case SendRecv:
			dir = SendOnly
		case RecvOnly:
			dir = Inactive
		}
	}
	out := d.localSDP(true, dir)
	f := d.onHold
	d.mu.Unlock()
	if changed {
		d.s.log.Info("sip: call hold changed by the phone", "call", d.callID, "held", held)
		if f != nil {
			f(held)
		}
	}
	return out, 200
}

// retransmit2xx resends a 2xx to an INVITE until its ACK comes (RFC 3261
// 13.3.1.4): over UDP the transaction layer does not do it for a 2xx. It
// reports false when no ACK came within 64*T1.
func (s *Server) retransmit2xx(req *sip.Request, res *sip.Response, acked <-chan struct{}, done <-chan struct{}) bool {
	interval := sip.T1
	deadline := time.NewTimer(64 * sip.T1)
	defer deadline.Stop()
	reliable := req.Transport() != "UDP"
	for {
		t := time.NewTimer(interval)
		select {
		case <-acked:
			t.Stop()
			return true
		case <-s.stop:
			t.Stop()
			return true
		case <-done:
			t.Stop()
			return true
		case <-deadline.C:
			t.Stop()
			return false
		case <-t.C:
			if !reliable {
				s.writeResponse(req, res)
			}
			interval = min(2*interval, sip.T2)
		}
	}
}

// onAckInDialog takes the ACK of our 2xx to the phone's re-INVITE; it
// reports whether the ACK was one.
func (d *dialog) onAckInDialog(req *sip.Request) bool {
	h := req.CSeq()
	if h == nil {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.reAck == nil || h.SeqNo != d.reAckSeq {
		return false
	}
	close(d.reAck)
	d.reAck = nil
	return true
}

// onUpdate answers UPDATE (RFC 3311): a session refresh, with or without
// a new offer.
func (s *Server) onUpdate(req *sip.Request, tx sip.ServerTransaction) {
	d := s.inDialog(req, tx)
	if d == nil {
		return
	}
	var body []byte
	if len(req.Body()) > 0 {
		if d.busy() {
			s.respond(req, tx, 491, "Request Pending")
			return
		}
		var code int
		if body, code = d.takeOffer(req.Body()); code != 200 {
			s.respond(req, tx, code, "Not Acceptable Here")
			return
		}
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", body)
	res.AppendHeader(sip.NewHeader("Server", s.cfg.UserAgent))
	res.AppendHeader(&sip.ContactHeader{Address: d.contact})
	if body != nil {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	d.sessionRefreshedBy(req, res)
	if err := tx.Respond(res); err != nil {
		s.log.Debug("sip: UPDATE answer failed", "call", d.callID, "err", err)
	}
}

// registerDialogHandlers routes requests inside calls.
func (s *Server) registerDialogHandlers() {
	s.srv.OnInfo(s.onInfo)
	s.srv.OnRefer(s.onRefer)
	s.srv.OnNotify(s.onNotify)
	s.srv.OnUpdate(s.onUpdate)
}
