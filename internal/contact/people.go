package contact

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"switchboard/internal/chat"
	"switchboard/internal/contact/routing"
	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// Contact links: every person's page, /c/<username>, a business card for
// an e-mail signature. A visitor there talks with that person directly, not
// through a queue: their conversation has the person in it from the start,
// the person's devices notify them as for any message, and the visitor may
// call them in it. Such a contact is "personal": its widget is "@username"
// and its queue is too, in the records and the statistics.

const personalPrefix = "@"

func personal(widget string) bool { return strings.HasPrefix(widget, personalPrefix) }

// Person is what a contact link shows of someone.
type Person struct {
	Handle string `json:"handle"`
	Name   string `json:"name"`
	// Status is their presence (available, away, busy, dnd, in_call,
	// offline), or "" when the server hides presence.
	Status string `json:"status,omitempty"`
}

// person finds the account behind a contact link.
func (s *Service) person(ctx context.Context, handle string) (store.User, error) {
	u, err := s.st.UserByUsername(ctx, strings.ToLower(strings.TrimPrefix(handle, personalPrefix)))
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
		return store.User{}, fmt.Errorf("%w: nobody is reachable at %q", errNotFound, handle)
	}
	return u, err
}

// PersonCard is someone's contact link, for the page.
func (s *Service) PersonCard(ctx context.Context, handle string) (Person, error) {
	u, err := s.person(ctx, handle)
	if err != nil {
		return Person{}, err
	}
	return Person{Handle: u.Username, Name: u.DisplayName, Status: s.chat.PresenceOf(u.ID)}, nil
}

// personStatus is a contact link's widget status: always open (a message
// waits for them); calls when they are available.
func (s *Service) personStatus(ctx context.Context, handle string) (Status, error) {
	p, err := s.PersonCard(ctx, handle)
	if err != nil {
		return Status{}, err
	}
	reachable := p.Status == protocol.StatusAvailable || p.Status == ""
	return Status{ID: personalPrefix + p.Handle, Title: p.Name, Queue: p.Name, Open: true,
		Media:     []string{"chat", "voice", "video"},
		Available: map[string]bool{"chat": true, "voice": reachable, "video": reachable}}, nil
}

// arrivePersonal starts a visitor's conversation with the person of their
// contact link. s.mu is held.
func (s *Service) arrivePersonal(ctx context.Context, v store.Visitor, media routing.Media, req ArriveRequest) (protocol.ContactView, error) {
	u, err := s.person(ctx, v.Widget)
	if err != nil {
		return protocol.ContactView{}, err
	}
	conv, err := s.chat.OpenContact(ctx, visitorIdentity(v, nil), cleanText(v.DisplayName+" · "+u.DisplayName, protocol.MaxConvName))
	if err != nil {
		return protocol.ContactView{}, err
	}
	me := chat.Identity{UserID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Role: u.Role}
	if err := s.chat.JoinContact(ctx, conv.ID, me); err != nil {
		return protocol.ContactView{}, err
	}
	now := s.cfg.Now()
	queue := personalPrefix + u.Username
	lc := &liveContact{visitor: v, rec: store.Contact{
		ID: newID(), Queue: queue, FirstQueue: queue, Widget: v.Widget, VisitorID: v.ID, Conversation: conv.ID,
		Media: string(media), Status: statusInProgress, AgentID: u.ID, ArrivedAt: now, AnsweredAt: now,
		Page: cleanText(req.Page, 2000), Referrer: cleanText(req.Referrer, 2000),
	}}
	s.names[u.ID] = u.DisplayName
	s.live[lc.rec.ID] = lc
	s.open[v.ID] = lc.rec.ID
	s.save(ctx, lc)
	s.publish(EventAnswered, lc, routing.Event{At: now})
	return s.visitorView(lc), nil
}

// Portal is what the contact portal lists: the queues of listed widgets and
// the agents, with their availability.
type Portal struct {
	Queues []PortalQueue `json:"queues"`
	People []Person      `json:"people"`
}

// PortalQueue is a listed widget.
type PortalQueue struct {
	Widget    string          `json:"widget"`
	Title     string          `json:"title"`
	Open      bool            `json:"open"`
	Available map[string]bool `json:"available"`
}

// Portal lists the widgets marked listed and the people who serve queues.
func (s *Service) Portal(ctx context.Context) Portal {
	out := Portal{Queues: []PortalQueue{}, People: []Person{}}
	var members []string
	s.mu.Lock()
	var listed []WidgetDoc
	for _, w := range s.widgets {
		if w.Listed {
			listed = append(listed, w)
		}
	}
	seen := map[string]bool{}
	for _, q := range s.sortedQueues() {
		for _, m := range q.Members {
			if !seen[m.User] {
				seen[m.User] = true
				members = append(members, m.User)
			}
		}
	}
	s.mu.Unlock()
	for _, w := range listed {
		st := s.status(w)
		out.Queues = append(out.Queues, PortalQueue{Widget: w.ID, Title: firstNonEmpty(w.Title, st.Queue), Open: st.Open, Available: st.Available})
	}
	for _, id := range members {
		u, err := s.st.User(ctx, id)
		if err != nil || u.Disabled {
			continue
		}
		out.People = append(out.People, Person{Handle: u.Username, Name: u.DisplayName, Status: s.chat.PresenceOf(u.ID)})
	}
	return out
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// endPersonal ends a personal contact (it is not in routing). s.mu is held.
func (s *Service) endPersonal(ctx context.Context, lc *liveContact, now time.Time) {
	lc.rec.Handle = now.Sub(lc.rec.AnsweredAt)
	s.finish(ctx, lc, statusEnded, now)
	s.awaitWrapUp(lc)
	s.publish(EventEnded, lc, routing.Event{At: now})
}
