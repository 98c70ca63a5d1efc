package contact

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"switchboard/internal/chat"
	"switchboard/internal/store"
)

// Click-to-call: a widget with a phone (WidgetDoc.Phone) offers visitors a
// "Call us by phone" button. Each call costs the organisation a line (and,
// over a trunk, money), so visitors from one address (an IPv6 /64) may
// place a few calls within a window, while the widget's queue is open, and
// only to that one destination. The limit is by address, not by visitor:
// a new visitor session costs nothing.
const (
	maxCallsPerAddress = 3
	callWindow         = 10 * time.Minute
	maxCallers         = 10_000 // addresses remembered; beyond it stale ones are swept
)

// ClickToCall is messaging's Config.ClickToCall: the telephone the
// visitor's widget calls, or why the visitor may not call it now.
func (s *Service) ClickToCall(ctx context.Context, visitor chat.Identity) (string, error) {
	v, err := s.st.Visitor(ctx, visitor.UserID)
	if err != nil {
		return "", errors.New("your visit has ended; start again")
	}
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.widgets[v.Widget]
	if !ok || w.Phone == "" {
		return "", errors.New("this widget does not place phone calls")
	}
	if rq, err := s.queues[w.Queue].Routing(); err != nil || !rq.Open(now) {
		return "", errors.New("we are closed")
	}
	if len(s.calls) >= maxCallers {
		for id, ts := range s.calls {
			if now.Sub(ts[len(ts)-1]) >= callWindow {
				delete(s.calls, id)
			}
		}
	}
	key := callerKey(v)
	var recent []time.Time
	for _, t := range s.calls[key] {
		if now.Sub(t) < callWindow {
			recent = append(recent, t)
		}
	}
	if len(recent) >= maxCallsPerAddress {
		return "", fmt.Errorf("%w: %d calls from your address within %v; try again later", chat.ErrTooManyCalls, maxCallsPerAddress, callWindow)
	}
	s.calls[key] = append(recent, now)
	s.log.Info("contact: click-to-call", "visitor", v.ID, "widget", w.ID)
	return w.Phone, nil
}

// callerKey is who the click-to-call limit counts: the visitor's address,
// an IPv6 /64 as one.
func callerKey(v store.Visitor) string {
	ip, err := netip.ParseAddr(v.IP)
	if err != nil {
		return "visitor " + v.ID
	}
	if ip.Is6() && !ip.Is4In6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.Unmap().String()
}
