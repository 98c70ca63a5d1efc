package sip

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Session timers (RFC 4028): a call whose endpoints support them is
// refreshed every interval by a re-INVITE (or UPDATE) from the side named
// the refresher; the other side hangs up when a refresh does not come, so
// a call whose other end vanished without a BYE does not last forever. We
// refresh at half the interval: by UPDATE (RFC 3311, no SDP) when the
// phone's Allow lists it, else by re-INVITE (every phone knows it); we
// honour the phone's UPDATE and re-INVITE refreshes.

// headerReader is a request or a response.
type headerReader interface {
	GetHeader(name string) sip.Header
	GetHeaders(name string) []sip.Header
}

type sessionTimer struct {
	interval  time.Duration // 0: no session timer
	weRefresh bool
	t         *time.Timer
}

func (t *sessionTimer) stop() {
	if t.t != nil {
		t.t.Stop()
		t.t = nil
	}
}

// arm (re)starts the timer for the current interval; d.mu is held.
func (d *dialog) arm() {
	d.timer.stop()
	iv := d.timer.interval
	if iv <= 0 || d.ended {
		return
	}
	if d.timer.weRefresh {
		d.timer.t = time.AfterFunc(iv/2, d.refresh)
		return
	}
	// RFC 4028 section 10: BYE at the interval minus a third (at most 32 s).
	d.timer.t = time.AfterFunc(iv-min(32*time.Second, iv/3), func() {
		d.s.log.Info("sip: call hung up: the phone did not refresh the session", "call", d.callID, "interval", iv)
		d.hangup(EndSessionExpired)
	})
}

// refresh sends our session refresh: UPDATE when the phone's Allow lists
// it (no offer and answer, as RFC 4028 section 7.4 recommends), else a
// re-INVITE with our current SDP.
func (d *dialog) refresh() {
	ctx, cancel := context.WithTimeout(context.Background(), 64*sip.T1)
	defer cancel()
	d.mu.Lock()
	byUpdate := d.peerAllow
	d.mu.Unlock()
	var err error
	if byUpdate {
		err = d.updateRefresh(ctx)
	} else {
		err = d.reinvite(ctx, true)
	}
	switch {
	case err == nil:
	case errors.Is(err, ErrRequestPending):
		// A change is under way; it refreshes the session too, or we try
		// again shortly.
		d.mu.Lock()
		if !d.ended && d.timer.t != nil {
			d.timer.t.Reset(2 * time.Second)
		}
		d.mu.Unlock()
	case errors.Is(err, ErrCallEnded):
	default:
		d.s.log.Info("sip: call hung up: session refresh failed", "call", d.callID, "err", err)
		d.hangup(EndSessionExpired)
	}
}

// updateRefresh refreshes the session with an UPDATE without a body. A
// phone that lists UPDATE but refuses it (405, 501) is refreshed by
// re-INVITE from then on.
func (d *dialog) updateRefresh(ctx context.Context) error {
	d.mu.Lock()
	if d.ended || !d.up {
		d.mu.Unlock()
		return ErrCallEnded
	}
	interval := d.timer.interval
	d.mu.Unlock()
	req, _ := d.newRequest(sip.UPDATE)
	req.AppendHeader(sip.NewHeader("Supported", "timer"))
	if interval > 0 {
		req.AppendHeader(sip.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=uac", int(interval/time.Second))))
	}
	res, err := d.do(ctx, req, nil)
	if err != nil {
		return err
	}
	switch {
	case res.IsSuccess():
		d.refreshed(res)
		return nil
	case res.StatusCode == 405 || res.StatusCode == 501:
		d.s.log.Info("sip: the phone refused our UPDATE: refreshing by re-INVITE", "call", d.callID, "status", res.StatusCode)
		d.mu.Lock()
		d.peerAllow = false
		d.mu.Unlock()
		return d.reinvite(ctx, true)
	case res.StatusCode == 491:
		return ErrRequestPending
	case res.StatusCode == 408 || res.StatusCode == 481:
		d.hangup(EndFailed) // the dialog is gone on the phone's side (RFC 5057)
	}
	return &RequestError{Method: "UPDATE", Status: res.StatusCode, Reason: res.Reason}
}

// sessionExpires reads Session-Expires (or its compact form x): the
// interval and the refresher parameter ("uac", "uas" or "").
func sessionExpires(m headerReader) (time.Duration, string, bool) {
	h := m.GetHeader("Session-Expires")
	if h == nil {
		h = m.GetHeader("x")
	}
	if h == nil {
		return 0, "", false
	}
	v, params, _ := strings.Cut(h.Value(), ";")
	var n int
	if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d", &n); err != nil || n <= 0 || n > 86400*7 {
		return 0, "", false
	}
	refresher := ""
	for p := range strings.SplitSeq(params, ";") {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "refresher") {
			refresher = strings.ToLower(strings.TrimSpace(val))
		}
	}
	return time.Duration(n) * time.Second, refresher, true
}

// supports reports whether a message lists option in Supported (or k).
func supports(m headerReader, option string) bool {
	for _, name := range []string{"Supported", "k"} {
		for _, h := range m.GetHeaders(name) {
			for o := range strings.SplitSeq(h.Value(), ",") {
				if strings.EqualFold(strings.TrimSpace(o), option) {
					return true
				}
			}
		}
	}
	return false
}

// inviteTimer decides the session timer of a new call from a phone:
// the interval (0: none), whether we refresh, and whether the INVITE asks
// for less than our minimum (then it gets 422 with Min-SE).
func (s *Server) inviteTimer(req *sip.Request) (iv time.Duration, weRefresh, tooBrief bool) {
	if s.cfg.SessionExpires <= 0 {
		return 0, false, false
	}
	se, refresher, ok := sessionExpires(req)
	if !ok {
		if !supports(req, "timer") {
			return 0, false, false
		}
		return s.cfg.SessionExpires, true, false
	}
	if se < s.cfg.MinSessionExpires {
		return 0, false, true
	}
	// We may shorten the interval (RFC 4028 section 9), never below Min-SE.
	iv = min(se, s.cfg.SessionExpires)
	return iv, refresher != "uac", false
}

// sessionHeaders are the session timer headers of our 2xx to a phone's
// INVITE, UPDATE or re-INVITE; d.mu is held.
func (d *dialog) sessionHeaders(req *sip.Request, res *sip.Response) {
	if d.timer.interval <= 0 {
		return
	}
	who := "uas"
	if !d.timer.weRefresh {
		who = "uac"
	}
	res.AppendHeader(sip.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=%s", int(d.timer.interval/time.Second), who)))
	if supports(req, "timer") {
		res.AppendHeader(sip.NewHeader("Require", "timer"))
	}
}

// sessionRefreshedBy takes the phone's re-INVITE or UPDATE as a refresh
// and puts the timer headers in our 2xx to it.
func (d *dialog) sessionRefreshedBy(req *sip.Request, res *sip.Response) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if se, refresher, ok := sessionExpires(req); ok && d.s.cfg.SessionExpires > 0 {
		d.timer.interval = max(se, d.s.cfg.MinSessionExpires)
		switch refresher {
		case "uac":
			d.timer.weRefresh = false
		case "uas":
			d.timer.weRefresh = true
		}
	}
	d.sessionHeaders(req, res)
	d.arm()
}

// refreshed takes the 2xx to our re-INVITE (a refresh or a change).
func (d *dialog) refreshed(res *sip.Response) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if se, refresher, ok := sessionExpires(res); ok && d.s.cfg.SessionExpires > 0 {
		d.timer.interval = max(se, d.s.cfg.MinSessionExpires)
		d.timer.weRefresh = refresher != "uas"
	}
	d.arm()
}

// dialTimerHeaders ask the phone we call for a session timer.
func (s *Server) dialTimerHeaders(req *sip.Request) {
	req.AppendHeader(sip.NewHeader("Supported", "timer"))
	if s.cfg.SessionExpires > 0 {
		req.AppendHeader(sip.NewHeader("Session-Expires", fmt.Sprintf("%d", int(s.cfg.SessionExpires/time.Second))))
		req.AppendHeader(sip.NewHeader("Min-SE", fmt.Sprintf("%d", int(s.cfg.MinSessionExpires/time.Second))))
	}
}

// answerTimer starts the session timer of a call to a phone from its 2xx:
// without Session-Expires there the phone does not do timers, and the
// media watchdog is what catches a dead call.
func (d *dialog) answerTimer(res *sip.Response) {
	se, refresher, ok := sessionExpires(res)
	if !ok || d.s.cfg.SessionExpires <= 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.timer.interval = max(se, d.s.cfg.MinSessionExpires)
	d.timer.weRefresh = refresher != "uas"
	d.arm()
}

// allows reports whether a message's Allow header lists method.
func allows(m headerReader, method string) bool {
	for _, h := range m.GetHeaders("Allow") {
		for o := range strings.SplitSeq(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(o), method) {
				return true
			}
		}
	}
	return false
}
