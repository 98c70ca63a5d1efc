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
	target, err := referTarget(h.Value())
	if err != nil {
		code, reason := 400, "Bad Request"
		if errors.Is(err, errAttended) {
			code, reason = 501, "Not Implemented"
		}
		s.log.Info("sip: REFER refused", "call", d.callID, "err", err)
		s.respond(req, tx, code, reason)
		return
	}
	d.mu.Lock()
	f := d.onRefer
	d.mu.Unlock()
	trying := make(chan struct{})
	var once sync.Once
	result := func(err error) {
		once.Do(func() {
			s.spawn(func() {
				<-trying
				frag, state := "SIP/2.0 200 OK", "terminated;reason=noresource"
				if err != nil {
					frag = "SIP/2.0 503 Service Unavailable"
				}
				d.notifyRefer(frag, state)
			})
		})
	}
	if f == nil {
		s.log.Info("sip: REFER declined: transfers are not handled", "call", d.callID)
		s.respond(req, tx, 603, "Decline")
		return
	}
	if err := f(target, result); err != nil {
		s.log.Info("sip: REFER declined", "call", d.callID, "target", truncate(target, 64), "err", err)
		s.respond(req, tx, 603, "Decline")
		return
	}
	s.log.Info("sip: transfer asked by the phone", "call", d.callID, "target", truncate(target, 64))
	s.respond(req, tx, 202, "Accepted")
	s.spawn(func() {
		d.notifyRefer("SIP/2.0 100 Trying", "active;expires=60")
		close(trying)
	})
}

var errAttended = errors.New("sip: attended transfer (Replaces) is not supported")

// referTarget reads a Refer-To value: the URI's user part, or the whole
// URI when it has none.
func referTarget(v string) (string, error) {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			return "", errors.New("sip: Refer-To without its closing >")
		}
		v = v[i+1 : i+j]
	} else if k := strings.IndexByte(v, ';'); k >= 0 {
		v = v[:k] // header parameters
	}
	if strings.Contains(strings.ToLower(v), "replaces") {
		return "", errAttended
	}
	var u sip.Uri
	if err := sip.ParseUri(v, &u); err != nil {
		return "", fmt.Errorf("sip: Refer-To %q: %w", truncate(v, 64), err)
	}
	if u.User != "" {
		return u.User, nil
	}
	if u.Host == "" {
		return "", fmt.Errorf("sip: Refer-To %q names nobody", truncate(v, 64))
	}
	return u.String(), nil
}

// notifyRefer tells the phone how its REFER goes (RFC 3515 section 2.4.4).
func (d *dialog) notifyRefer(frag, state string) {
	d.mu.Lock()
	ended := d.ended
	d.mu.Unlock()
	if ended {
		return
	}
	req, _ := d.newRequest(sip.NOTIFY)
	req.AppendHeader(sip.NewHeader("Event", "refer"))
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
