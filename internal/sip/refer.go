package sip

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Blind transfer (RFC 3515 REFER, RFC 5589): we ask the phone to call
// someone else (Transfer), or the phone asks us to connect the other party
// of the call to someone else (OnRefer). Progress comes back in NOTIFYs
// whose body is the status line of the new call (message/sipfrag).

// TransferError is a transfer the phone accepted but could not complete:
// the status its new call ended with.
type TransferError struct {
	Status int // the status of the phone's new call, from its NOTIFY
}

func (e *TransferError) Error() string {
	return fmt.Sprintf("sip: the transfer failed: the new call got %d", e.Status)
}

// referTimeout bounds how long Transfer waits for the final NOTIFY when
// its context has no deadline.
const referTimeout = 2 * time.Minute

// Transfer asks the phone to call target instead (a blind transfer: REFER
// with Refer-To and Referred-By) and waits for the outcome in the phone's
// NOTIFYs. target is a SIP or tel URI, or a number, extension or username
// (then sip:target@realm). On success the call ends with EndTransferred
// (we send BYE if the phone has not); on failure the call goes on and the
// error says why (a *RequestError when the REFER was refused, a
// *TransferError when the new call failed).
func (d *dialog) Transfer(ctx context.Context, target string) error {
	uri, err := d.transferURI(target)
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, referTimeout)
		defer cancel()
	}
	statuses := make(chan int, 16)
	d.mu.Lock()
	switch {
	case d.ended || d.rtp == nil:
		d.mu.Unlock()
		return ErrCallEnded
	case d.refer != nil:
		d.mu.Unlock()
		return errors.New("sip: a transfer of this call is already under way")
	}
	d.refer = statuses
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.refer = nil
		d.mu.Unlock()
	}()
	req, _ := d.newRequest(sip.REFER)
	req.AppendHeader(sip.NewHeader("Refer-To", "<"+uri.String()+">"))
	req.AppendHeader(sip.NewHeader("Referred-By", "<"+d.local.String()+">"))
	res, err := d.do(ctx, req, nil)
	if err != nil {
		return err
	}
	if !res.IsSuccess() {
		if res.StatusCode == 491 {
			return ErrRequestPending
		}
		return &RequestError{Method: "REFER", Status: res.StatusCode, Reason: res.Reason}
	}
	d.s.log.Info("sip: transfer accepted by the phone", "call", d.callID, "status", res.StatusCode)
	succeeded := false
	for {
		select {
		case st := <-statuses:
			switch {
			case st < 200:
				continue
			case st < 300:
				d.s.log.Info("sip: call transferred", "call", d.callID)
				d.hangup(EndTransferred)
				return nil
			default:
				d.s.log.Info("sip: transfer failed", "call", d.callID, "status", st)
				return &TransferError{Status: st}
			}
		case <-d.done:
			// The phone may hang up as soon as its new call is answered.
			d.mu.Lock()
			succeeded = d.reason == EndRemoteBye
			d.mu.Unlock()
			if succeeded {
				return nil
			}
			return ErrCallEnded
		case <-ctx.Done():
			return fmt.Errorf("sip: no outcome of the transfer: %w", ctx.Err())
		}
	}
}

// transferURI makes a Refer-To URI of target.
func (d *dialog) transferURI(target string) (sip.Uri, error) {
	var u sip.Uri
	t := strings.TrimSpace(target)
	if t == "" || len(t) > 256 || strings.ContainsAny(t, " \t\r\n<>\"") {
		return u, fmt.Errorf("sip: bad transfer target %q", truncate(target, 64))
	}
	low := strings.ToLower(t)
	if !strings.HasPrefix(low, "sip:") && !strings.HasPrefix(low, "sips:") && !strings.HasPrefix(low, "tel:") {
		if strings.ContainsAny(t, "@:;?") {
			return u, fmt.Errorf("sip: bad transfer target %q", truncate(target, 64))
		}
		t = "sip:" + t + "@" + d.s.cfg.Realm
	}
	if strings.HasPrefix(low, "tel:") {
		// sipgo's URI parser wants sip; a tel URI is a number.
		t = "sip:" + t[4:] + "@" + d.s.cfg.Realm + ";user=phone"
	}
	if err := sip.ParseUri(t, &u); err != nil {
		return u, fmt.Errorf("sip: bad transfer target %q: %w", truncate(target, 64), err)
	}
	return u, nil
}

// onNotify takes the phone's NOTIFYs about our REFER.
func (s *Server) onNotify(req *sip.Request, tx sip.ServerTransaction) {
	d := s.inDialog(req, tx)
	if d == nil {
		return
	}
	ev := req.GetHeader("Event")
	if ev == nil {
		ev = req.GetHeader("o")
	}
	if ev == nil || !strings.EqualFold(strings.TrimSpace(strings.Split(ev.Value(), ";")[0]), "refer") {
		s.respond(req, tx, 489, "Bad Event")
		return
	}
	st, ok := parseSipfrag(req.Body())
	if !ok {
		s.respond(req, tx, 400, "Bad Request")
		return
	}
	d.mu.Lock()
	ch := d.refer
	d.mu.Unlock()
	if ch == nil {
		s.respond(req, tx, 481, "Subscription Does Not Exist")
		return
	}
	s.respond(req, tx, 200, "OK")
	select {
	case ch <- st:
	default:
	}
}

// parseSipfrag reads the status of a message/sipfrag body: "SIP/2.0 200 OK".
func parseSipfrag(body []byte) (int, bool) {
	line, _, _ := strings.Cut(string(body), "\n")
	f := strings.Fields(line)
	if len(f) < 2 || !strings.HasPrefix(strings.ToUpper(f[0]), "SIP/") {
		return 0, false
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 100 || n > 699 {
		return 0, false
	}
	return n, true
}

// onRefer takes the phone's request to transfer the other party.
//
// Refusals: 400 for a Refer-To that cannot be read, 501 for an attended
// transfer (Replaces), 403 for a Refer-To naming another host (we would
// call it on the phone's behalf: an open relay), and then whatever the
// OnRefer function decides (a *ReferError's status, else 603).
func (s *Server) onRefer(req *sip.Request, tx sip.ServerTransaction) {
	d := s.inDialog(req, tx)
	if d == nil {
		return
	}
	h := req.GetHeader("Refer-To")
	if h == nil {
		h = req.GetHeader("r")
	}
	if h == nil || len(req.GetHeaders("Refer-To")) > 1 {
		s.respond(req, tx, 400, "Bad Request")
		return
	}
	target, host, err := referTarget(h.Value())
	if err != nil {
		code, reason := 400, "Bad Request"
		if errors.Is(err, errAttended) {
			code, reason = 501, "Not Implemented"
		}
		s.log.Info("sip: REFER refused", "call", d.callID, "err", err)
		s.respond(req, tx, code, reason)
		return
	}
	if host != "" && !d.ourHost(host) {
		s.log.Info("sip: REFER refused: the target is on another host", "call", d.callID, "host", truncate(host, 64))
		s.respond(req, tx, 403, "Forbidden")
		return
	}
	d.mu.Lock()
	f := d.onRefer
	d.mu.Unlock()
	if f == nil {
		s.log.Info("sip: REFER declined: transfers are not handled", "call", d.callID)
		s.respond(req, tx, 603, "Decline")
		return
	}
	notes := make(chan referNote, 4)
	sent := make(chan struct{}) // closed once the last NOTIFY went (or the call ended)
	var (
		mu    sync.Mutex
		final bool
	)
	result := func(err error) {
		n := referNoteOf(err)
		mu.Lock()
		if final {
			mu.Unlock()
			return
		}
		final = n.final
		if !n.final {
			select { // progress may be dropped when NOTIFYs are slow; the outcome never is
			case notes <- n:
			default:
			}
			mu.Unlock()
			return
		}
		mu.Unlock()
		select {
		case notes <- n:
		case <-sent:
			return
		}
		<-sent // BYE after the last NOTIFY, when the caller hangs up next
	}
	if err := f(target, result); err != nil {
		code, reason := 603, "Decline"
		var re *ReferError
		if errors.As(err, &re) {
			code, reason = re.Status, re.Reason
		}
		s.log.Info("sip: REFER refused", "call", d.callID, "target", truncate(target, 64), "status", code, "err", err)
		s.respond(req, tx, code, reason)
		close(sent)
		return
	}
	s.log.Info("sip: transfer asked by the phone", "call", d.callID, "target", truncate(target, 64))
	s.respond(req, tx, 202, "Accepted")
	// Every REFER of a dialog is its own subscription: its NOTIFYs carry
	// the REFER's CSeq number as the event's id (RFC 3515 section 2.4.6),
	// so a phone trying again after a failed transfer is told about the new
	// one.
	var id uint32
	if cs := req.CSeq(); cs != nil {
		id = cs.SeqNo
	}
	s.spawn(func() {
		defer close(sent)
		d.notifyRefer(id, "SIP/2.0 100 Trying", "active;expires=60")
		for {
			select {
			case n := <-notes:
				d.notifyRefer(id, n.frag, n.state)
				if n.final {
					return
				}
			case <-d.done:
				return
			case <-s.stop:
				return
			}
		}
	})
}

// ReferError refuses a phone's REFER with a status (an OnRefer function's
// error): 403 Forbidden, 404 Not Found, 491 Request Pending, ... Any other
// error refuses it with 603 Decline.
type ReferError struct {
	Status int
	Reason string
}

func (e *ReferError) Error() string {
	return fmt.Sprintf("sip: REFER refused: %d %s", e.Status, e.Reason)
}

// What an OnRefer result reports, as the NOTIFY that tells the phone: nil
// is the new call answered (200 OK, the subscription ends); a
// *TransferError carries the new call's status, a provisional one (180)
// as progress (the subscription goes on, and result may be called again)
// or a final failure (486, 603, 480, ...); any other error is 503.
type referNote struct {
	frag, state string
	final       bool
}

func referNoteOf(err error) referNote {
	done := "terminated;reason=noresource"
	if err == nil {
		return referNote{frag: "SIP/2.0 200 OK", state: done, final: true}
	}
	var te *TransferError
	if errors.As(err, &te) && te.Status >= 100 && te.Status <= 699 && (te.Status < 200 || te.Status >= 300) {
		frag := fmt.Sprintf("SIP/2.0 %d %s", te.Status, statusText(te.Status))
		if te.Status < 200 {
			return referNote{frag: frag, state: "active;expires=60"}
		}
		return referNote{frag: frag, state: done, final: true}
	}
	return referNote{frag: "SIP/2.0 503 Service Unavailable", state: done, final: true}
}

// statusText is the reason phrase of the statuses a new call ends with.
func statusText(code int) string {
	switch code {
	case 180:
		return "Ringing"
	case 183:
		return "Session Progress"
	case 404:
		return "Not Found"
	case 408:
		return "Request Timeout"
	case 480:
		return "Temporarily Unavailable"
	case 486:
		return "Busy Here"
	case 487:
		return "Request Terminated"
	case 600:
		return "Busy Everywhere"
	case 603:
		return "Decline"
	}
	switch {
	case code < 200:
		return "Trying"
	case code < 500:
		return "Request Failure"
	case code < 600:
		return "Server Error"
	}
	return "Global Failure"
}

// HangupTransferred ends an answered call whose phone's own transfer
// (OnRefer) completed: BYE, recorded with the cause transferred. Call it
// after result(nil), which returns once the NOTIFY 200 went.
func (d *dialog) HangupTransferred() {
	d.mu.Lock()
	up := d.up
	d.mu.Unlock()
	if up {
		d.hangup(EndTransferred)
	}
}

// ourHost tells whether host names this server in the call: the realm,
// or the host the dialog knows us by (the To the phone called, our
// Contact).
func (d *dialog) ourHost(host string) bool {
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	for _, h := range []string{d.s.cfg.Realm, d.local.Host, d.contact.Host} {
		if h != "" && strings.EqualFold(host, strings.Trim(h, "[]")) {
			return true
		}
	}
	return false
}

var errAttended = errors.New("sip: attended transfer (Replaces) is not supported")

// referTarget reads a Refer-To value: the URI's user part (a number,
// extension or username) and its host ("" for a tel: URI). A URI without
// a user part, or with Replaces (attended transfer), is refused.
func referTarget(v string) (user, host string, err error) {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			return "", "", errors.New("sip: Refer-To without its closing >")
		}
		v = v[i+1 : i+j]
	} else if k := strings.IndexByte(v, ';'); k >= 0 {
		v = v[:k] // header parameters
	}
	if strings.Contains(strings.ToLower(v), "replaces") {
		return "", "", errAttended
	}
	if len(v) > 4 && strings.EqualFold(v[:4], "tel:") {
		num, _, _ := strings.Cut(v[4:], ";")
		num = strings.TrimSpace(num)
		if num == "" || strings.Trim(num, "+0123456789-.() ") != "" {
			return "", "", fmt.Errorf("sip: Refer-To %q is not a telephone number", truncate(v, 64))
		}
		return num, "", nil
	}
	var u sip.Uri
	if err := sip.ParseUri(v, &u); err != nil {
		return "", "", fmt.Errorf("sip: Refer-To %q: %w", truncate(v, 64), err)
	}
	if u.User == "" || u.Host == "" || strings.ContainsAny(u.User, "@<>\" \t\r\n") {
		return "", "", fmt.Errorf("sip: Refer-To %q names nobody here", truncate(v, 64))
	}
	if strings.Trim(strings.ToLower(u.Host), "abcdefghijklmnopqrstuvwxyz0123456789.-:[]") != "" {
		return "", "", fmt.Errorf("sip: Refer-To %q: a bad host", truncate(v, 64))
	}
	return u.User, u.Host, nil
}

// notifyRefer tells the phone how its REFER goes (RFC 3515 section 2.4.4);
// id is the REFER's CSeq number.
func (d *dialog) notifyRefer(id uint32, frag, state string) {
	d.mu.Lock()
	ended := d.ended
	d.mu.Unlock()
	if ended {
		return
	}
	req, _ := d.newRequest(sip.NOTIFY)
	req.AppendHeader(sip.NewHeader("Event", fmt.Sprintf("refer;id=%d", id)))
	req.AppendHeader(sip.NewHeader("Subscription-State", state))
	req.AppendHeader(sip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
	req.SetBody([]byte(frag + "\r\n"))
	ctx, cancel := context.WithTimeout(context.Background(), 64*sip.T1)
	defer cancel()
	res, err := d.do(ctx, req, nil)
	switch {
	case err != nil:
		d.s.log.Info("sip: NOTIFY to the phone got no answer", "call", d.callID, "err", err)
	case res.StatusCode >= 300:
		d.s.log.Info("sip: NOTIFY to the phone refused", "call", d.callID, "status", res.StatusCode)
	}
}
