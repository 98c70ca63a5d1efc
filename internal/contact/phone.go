package contact

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"switchboard/internal/contact/routing"
	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// Telephone callers. A call to a queue's number (the SIP gateway's trunks,
// internal/app/sip_queue.go) becomes a voice contact like a website
// visitor's: the caller is a visitor, one per calling number (so agents see
// their earlier contacts and routing can return them to the same agent; the
// number is never trusted for anything else), who waits on the line
// hearing a waiting sound. The agent who accepts calls in the contact's
// conversation as for any voice contact, and the gateway connects that
// call with the waiting caller (chat.ContactPhones). The caller hanging up
// is the visitor leaving (PhoneGone); the contact ending hangs up the line
// (Phones.Hangup).

// Phones is the gateway's side of the telephone callers waiting in queues.
// Its methods are called with the service's lock held: they must not block
// or call back into the service.
type Phones interface {
	// Release: the contact left its agent (a transfer, the agent went
	// offline): their call with the caller ends and the caller waits again
	// (a callback's: the agent's call to the number ends).
	Release(contact string)
	// Hangup: the contact no longer needs the caller on the line (it ended,
	// or became a callback request or a message): hang up, after a short
	// tone when tone is set.
	Hangup(contact string, tone bool)
	// Dialable tells whether a callback could call the E.164 number (the
	// gateway and a trunk can, sip.dial_prefixes allow it): a caller whose
	// number is not is never told a callback is booked.
	Dialable(e164 string) bool
}

// PhoneArrival is a telephone call to a queue's number.
type PhoneArrival struct {
	Queue  string
	Number string // the caller's number, E.164 when the trunk gave one
	Name   string // the caller's display name, "" when unknown
}

// Outcomes of ArrivePhone: what the gateway does with the call.
const (
	PhoneQueued   = "queued"   // in line: answer it and play the waiting sound
	PhoneCallback = "callback" // a callback request now: answer, a tone, hang up
	PhoneClosed   = "closed"   // the queue is closed: 480
	PhoneBusy     = "busy"     // the line is full, or the caller is in line already: 486
	// PhoneNoCallback: the queue would book a callback, but nobody could
	// call the caller back (anonymous, or a number no trunk may call): 480.
	PhoneNoCallback = "no_callback"
)

// callbacksPerIP: callback requests with a telephone number (typos too) one client
// address may make within an hour.
const callbacksPerIP = 5

// phoneWidget is the widget of telephone callers' visitors (no widget).
const phoneWidget = "phone"

// ArrivePhone puts a telephone caller in line at a queue and returns the
// contact's id and what to do with the call.
func (s *Service) ArrivePhone(ctx context.Context, a PhoneArrival) (string, string, error) {
	number := cleanText(a.Number, 32)
	e164 := ""
	if len(number) > 2 && number[0] == '+' && strings.Trim(number[1:], "0123456789") == "" {
		e164 = number
	}
	name := cleanText(a.Name, 64)
	s.mu.Lock()
	q, ok := s.queues[a.Queue]
	s.mu.Unlock()
	if !ok {
		return "", "", fmt.Errorf("%w: no queue %q", errNotFound, a.Queue)
	}
	if !q.offers(routing.Voice) {
		return "", "", invalid("queue %q takes no voice contacts", q.ID)
	}
	v, err := s.phoneVisitor(ctx, e164, name, firstNonEmpty(number, "Unknown caller"))
	if err != nil {
		return "", "", err
	}
	if name != "" {
		v.DisplayName = name // this call's name, for this contact only: anyone can send one
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.open[v.ID]; ok {
		if lc := s.live[id]; lc != nil && lc.callback && !lc.line && (lc.rec.Status == statusCallback || lc.rec.Status == statusOffered) {
			// Their callback is still to come: they wait on the line for it
			// instead (the agent who takes it talks to them at once).
			s.log.Info("contact: a caller with a callback booked called again: back in line for it", "contact", id)
			lc.line = true
			return id, PhoneQueued, nil
		}
		s.log.Info("contact: a caller already in line called again", "contact", id)
		return "", PhoneBusy, nil
	}
	recent, err := s.st.VisitorContacts(ctx, v.ID, maxContactsPerHour)
	if err != nil {
		return "", "", err
	}
	now := s.cfg.Now()
	if len(recent) == maxContactsPerHour && now.Sub(recent[len(recent)-1].ArrivedAt) < time.Hour {
		s.log.Info("contact: a caller called too often within the hour", "visitor", v.ID)
		return "", PhoneBusy, nil
	}
	who := v.DisplayName
	if e164 != "" && !strings.Contains(who, e164) {
		who += " (" + e164 + ")" // a message to answer: the number is how
	}
	conv, err := s.chat.OpenContact(ctx, visitorIdentity(v, nil), cleanText(who+" · "+q.Name, protocol.MaxConvName))
	if err != nil {
		return "", "", err
	}
	lc := &liveContact{visitor: v, rec: store.Contact{
		ID: newID(), Queue: q.ID, FirstQueue: q.ID, Widget: phoneWidget, VisitorID: v.ID, Conversation: conv.ID,
		Media: string(routing.Voice), Status: statusWaiting, ArrivedAt: now, Phone: e164,
	}}
	s.live[lc.rec.ID] = lc
	s.open[v.ID] = lc.rec.ID
	evs, err := s.eng.Arrive(routing.Arrival{ID: routing.ContactID(lc.rec.ID), Queue: routing.QueueID(q.ID), Media: routing.Voice,
		Visitor: routing.VisitorID(v.ID)}, now)
	if err != nil {
		delete(s.live, lc.rec.ID)
		delete(s.open, v.ID)
		return "", "", err
	}
	// Not on the line for the hooks yet: the gateway answers the call
	// only once it knows the outcome.
	s.apply(ctx, evs)
	switch lc.rec.Status {
	case statusWaiting, statusOffered:
		lc.line = true
		return lc.rec.ID, PhoneQueued, nil
	case statusCallback:
		if !s.phoneDialable(e164) {
			s.log.Info("contact: a caller who cannot be called back is refused rather than booked", "contact", lc.rec.ID)
			lc.callback = false
			s.visitorGone(ctx, lc, now)
			return lc.rec.ID, PhoneNoCallback, nil
		}
		return lc.rec.ID, PhoneCallback, nil
	case statusClosed:
		return lc.rec.ID, PhoneClosed, nil
	}
	return lc.rec.ID, PhoneBusy, nil // a message (the line is full), or over
}

// phoneVisitor is the visitor of a calling number: the one who called from
// it before (never renamed: a display name is whatever the caller's side
// sends), else a new one named name or else fallback. Anonymous callers (no E.164 number) get a new
// visitor each time. The token is random and never given out.
func (s *Service) phoneVisitor(ctx context.Context, e164, name, fallback string) (store.Visitor, error) {
	if e164 != "" {
		v, err := s.st.VisitorByPhone(ctx, e164)
		if err == nil {
			return v, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return store.Visitor{}, err
		}
	}
	now := s.cfg.Now()
	v := store.Visitor{ID: "v-" + newID(), Widget: phoneWidget, DisplayName: firstNonEmpty(name, fallback), TokenHash: hashToken(newID() + newID()),
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now, Phone: e164}
	return v, s.st.CreateVisitor(ctx, v)
}

// PhoneGone is the caller of contact id hanging up: abandoned while
// waiting, ended while talking. A callback request stays (they hung up as
// told), and so does a message.
func (s *Service) PhoneGone(ctx context.Context, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lc, ok := s.live[id]
	if !ok || !lc.line {
		return
	}
	lc.line = false
	if lc.callback || lc.rec.Status == statusMessage {
		return
	}
	s.log.Info("contact: the caller hung up", "contact", id, "status", lc.rec.Status)
	s.visitorGone(ctx, lc, s.cfg.Now())
}

// PhoneContact is the telephone side of a contact, for the gateway.
type PhoneContact struct {
	ID      string
	Visitor string
	Number  string // E.164; "" for an anonymous caller
	Name    string // the visitor's name
	OnLine  bool   // the caller is waiting on the line (else: call Number)
}

// PhoneFor is the contact with a telephone, in progress with agent, whose
// conversation is conv; false when there is none.
func (s *Service) PhoneFor(agent, conv string) (PhoneContact, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, lc := range s.live {
		if lc.rec.Conversation != conv || lc.rec.AgentID != agent || lc.rec.Status != statusInProgress {
			continue
		}
		if !lc.line && (lc.rec.Phone == "" || !lc.callback) {
			return PhoneContact{}, false
		}
		return PhoneContact{ID: lc.rec.ID, Visitor: lc.rec.VisitorID, Number: lc.rec.Phone, Name: lc.visitor.DisplayName, OnLine: lc.line}, true
	}
	return PhoneContact{}, false
}

// lineHangup hangs up a contact's caller still on the line. s.mu is held.
func (s *Service) lineHangup(lc *liveContact, tone bool) {
	if !lc.line {
		return
	}
	lc.line = false
	if s.cfg.Phones != nil {
		s.cfg.Phones.Hangup(lc.rec.ID, tone)
	}
}

// lineRelease puts a contact's caller on the line back to waiting, or
// ends the agent's call to a callback's number (the next agent calls
// again only when they choose to). s.mu is held.
func (s *Service) lineRelease(lc *liveContact) {
	if (lc.line || lc.callback && lc.rec.Phone != "") && s.cfg.Phones != nil {
		s.cfg.Phones.Release(lc.rec.ID)
	}
}

// phoneOpen tells whether an open contact has the telephone number e164
// (a caller on the line, a callback booked): one at a time per number,
// so that nobody gets a number called over and over. s.mu is held.
func (s *Service) phoneOpen(e164 string) bool {
	for _, lc := range s.live {
		if lc.rec.Phone == e164 {
			return true
		}
	}
	return false
}

// phoneDialable tells whether a callback could call e164. s.mu is held.
func (s *Service) phoneDialable(e164 string) bool {
	return e164 != "" && s.cfg.Phones != nil && s.cfg.Phones.Dialable(e164)
}
