package contact

import (
	"context"
	"errors"
	"fmt"
	"time"

	"switchboard/internal/chat"
)

// Click-to-call: a widget with a phone (WidgetDoc.Phone) offers visitors a
// "Call us by phone" button. Each call costs the organisation a line (and,
// over a trunk, money), so a visitor may place a few calls within a window,
// while the widget's queue is open, and only to that one destination.
const (
	maxCallsPerVisitor = 3
	callWindow         = 10 * time.Minute
	maxCallers         = 10_000 // visitors remembered; beyond it stale ones are swept
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
	var recent []time.Time
	for _, t := range s.calls[v.ID] {
		if now.Sub(t) < callWindow {
			recent = append(recent, t)
		}
	}
	if len(recent) >= maxCallsPerVisitor {
		return "", fmt.Errorf("%w: %d calls within %v; try again later", chat.ErrTooManyCalls, maxCallsPerVisitor, callWindow)
	}
	s.calls[v.ID] = append(recent, now)
	s.log.Info("contact: click-to-call", "visitor", v.ID, "widget", w.ID)
	return w.Phone, nil
}
