package contact

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"switchboard/internal/chat"
	"switchboard/internal/contact/routing"
	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// VisitorTokenPrefix starts every visitor token, so that the server knows
// which kind of bearer it holds (and leaked ones are easy to recognise).
const VisitorTokenPrefix = "sbv_"

// maxContactsPerHour bounds the contacts one visitor starts.
const maxContactsPerHour = 10

// transferPriority puts a transferred contact ahead of those arriving: the
// visitor has waited once already.
const transferPriority = 1000

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// cleanText makes visitor-supplied text fit to store and show: valid UTF-8,
// no control characters, trimmed, at most max characters.
func cleanText(v string, max int) string {
	v = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(v, ""))
	v = strings.TrimSpace(v)
	if r := []rune(v); len(r) > max {
		v = string(r[:max])
	}
	return v
}

// ---- visitors ----

// VisitorRequest starts (or resumes) a visitor's session at a widget.
type VisitorRequest struct {
	Name   string `json:"name"`
	Email  string `json:"email"`
	Resume string `json:"resume"` // a token this browser held before
}

// StartVisitor gives a visitor a token for widget. A visitor coming back with
// an earlier token of the same widget keeps their id (their earlier contacts,
// and the agent they talked to) and gets a new token; the old one stops
// working.
func (s *Service) StartVisitor(ctx context.Context, widget string, req VisitorRequest, ip string) (string, store.Visitor, error) {
	if personal(widget) {
		if _, err := s.person(ctx, widget); err != nil {
			return "", store.Visitor{}, err
		}
	} else {
		s.mu.Lock()
		_, ok := s.widgets[widget]
		s.mu.Unlock()
		if !ok {
			return "", store.Visitor{}, fmt.Errorf("%w: no widget %q", errNotFound, widget)
		}
	}
	name := cleanText(req.Name, 64)
	if name == "" {
		name = "Visitor"
	}
	email := cleanText(req.Email, 254)
	if email != "" && (!strings.Contains(email, "@") || strings.ContainsAny(email, " <>")) {
		return "", store.Visitor{}, invalid("email %q does not look like an e-mail address", email)
	}
	now := s.cfg.Now()
	token := VisitorTokenPrefix + newID() + newID()
	if strings.HasPrefix(req.Resume, VisitorTokenPrefix) {
		// Only a token still valid: an old one (in a proxy's log, say) must
		// not reopen the visitor's past conversations.
		v, err := s.st.VisitorByTokenHash(ctx, hashToken(req.Resume))
		if err == nil && v.Widget == widget && now.Before(v.ExpiresAt) {
			v.TokenHash, v.LastSeenAt, v.ExpiresAt, v.IP = hashToken(token), now, now.Add(s.cfg.VisitorTTL), ip
			if req.Name != "" {
				v.DisplayName = name
			}
			if req.Email != "" {
				v.Email = email
			}
			if err := s.st.RenewVisitor(ctx, v); err != nil {
				return "", store.Visitor{}, err
			}
			return token, v, nil
		}
	}
	v := store.Visitor{ID: "v-" + newID(), Widget: widget, DisplayName: name, Email: email, TokenHash: hashToken(token),
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.cfg.VisitorTTL), IP: ip}
	if err := s.st.CreateVisitor(ctx, v); err != nil {
		return "", store.Visitor{}, err
	}
	return token, v, nil
}

// ErrBadToken is a visitor token that is unknown or expired.
var ErrBadToken = errors.New("contact: unknown or expired visitor token")

// AuthenticateVisitor checks a visitor token and returns the visitor and the
// identity their messaging socket runs as. Each use slides the expiry (at
// most once a minute is written).
func (s *Service) AuthenticateVisitor(ctx context.Context, token string) (store.Visitor, chat.Identity, error) {
	if !strings.HasPrefix(token, VisitorTokenPrefix) {
		return store.Visitor{}, chat.Identity{}, ErrBadToken
	}
	v, err := s.st.VisitorByTokenHash(ctx, hashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return store.Visitor{}, chat.Identity{}, ErrBadToken
	}
	if err != nil {
		return store.Visitor{}, chat.Identity{}, err
	}
	now := s.cfg.Now()
	if !now.Before(v.ExpiresAt) {
		return store.Visitor{}, chat.Identity{}, ErrBadToken
	}
	if now.Sub(v.LastSeenAt) >= time.Minute {
		v.LastSeenAt, v.ExpiresAt = now, now.Add(s.cfg.VisitorTTL)
		if err := s.st.TouchVisitor(ctx, v.ID, v.LastSeenAt, v.ExpiresAt); err != nil {
			return store.Visitor{}, chat.Identity{}, err
		}
	}
	s.mu.Lock()
	origins := slices.Clone(s.widgets[v.Widget].AllowedOrigins)
	s.mu.Unlock()
	return v, visitorIdentity(v, origins), nil
}

// visitorIDRE is what newID makes, after "v-".
var visitorIDRE = regexp.MustCompile(`^v-[A-Za-z0-9_-]{22}$`)

func visitorIdentity(v store.Visitor, origins []string) chat.Identity {
	return chat.Identity{UserID: v.ID, Username: "visitor", DisplayName: v.DisplayName, Role: chat.RoleVisitor, Session: v.ID, Origins: origins}
}

// VisitorUser is a visitor as the messaging service's directory shows them
// to the agents in their conversation.
func (s *Service) VisitorUser(ctx context.Context, id string) (store.User, error) {
	if !visitorIDRE.MatchString(id) {
		return store.User{}, store.ErrNotFound
	}
	v, err := s.st.Visitor(ctx, id)
	if err != nil {
		return store.User{}, err
	}
	return store.User{ID: v.ID, Username: "visitor", DisplayName: v.DisplayName + " (visitor)", Role: chat.RoleVisitor, CreatedAt: v.CreatedAt}, nil
}

// ArriveRequest is a visitor asking for an agent.
type ArriveRequest struct {
	Media    string `json:"media"`
	Page     string `json:"page"`
	Referrer string `json:"referrer"`
	Callback bool   `json:"callback"`
	// Phone is the number a callback request is to be called back on
	// (optional; else the agent calls the visitor in the browser).
	Phone string `json:"phone"`
}

// Arrive puts a visitor in line at their widget's queue. A visitor with a
// contact still open gets that one back (the page was reloaded).
func (s *Service) Arrive(ctx context.Context, v store.Visitor, req ArriveRequest) (protocol.ContactView, error) {
	media := routing.Media(req.Media)
	if req.Callback {
		media = routing.Voice
	}
	if !media.Valid() {
		return protocol.ContactView{}, invalid("media %q: use chat, voice or video", req.Media)
	}
	phone := ""
	if req.Phone = strings.TrimSpace(req.Phone); req.Phone != "" {
		switch {
		case !req.Callback:
			return protocol.ContactView{}, invalid("phone: a number is only for a callback request (callback: true)")
		case s.cfg.CheckPhone == nil:
			return protocol.ContactView{}, invalid("phone: we cannot call telephones; leave the number empty to be called in your browser")
		case len(req.Phone) > 40:
			return protocol.ContactView{}, invalid("phone: too long")
		}
		var err error
		if phone, err = s.cfg.CheckPhone(req.Phone); err != nil {
			return protocol.ContactView{}, invalid("phone: %s", err.Error())
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if phone != "" && s.phoneOpen(phone) {
		return protocol.ContactView{}, invalid("phone: a callback to %s is booked already", phone)
	}
	if id, ok := s.open[v.ID]; ok {
		return s.visitorView(s.live[id]), nil
	}
	// A visitor may start 10 contacts an hour: each opens a conversation in
	// somebody's inbox (a contact link's person's, all of a queue's).
	recent, err := s.st.VisitorContacts(ctx, v.ID, maxContactsPerHour)
	if err != nil {
		return protocol.ContactView{}, err
	}
	if len(recent) == maxContactsPerHour && s.cfg.Now().Sub(recent[len(recent)-1].ArrivedAt) < time.Hour {
		return protocol.ContactView{}, fmt.Errorf("%w: you started %d conversations within the hour; try again later", errRateLimited, maxContactsPerHour)
	}
	if personal(v.Widget) {
		return s.arrivePersonal(ctx, v, media, req)
	}
	w, ok := s.widgets[v.Widget]
	if !ok {
		return protocol.ContactView{}, fmt.Errorf("%w: the widget was removed", errNotFound)
	}
	q, ok := s.queues[w.Queue]
	if !ok {
		return protocol.ContactView{}, fmt.Errorf("%w: the widget's queue was removed", errNotFound)
	}
	if !q.offers(media) {
		return protocol.ContactView{}, invalid("this queue does not take %s", media)
	}
	name := v.DisplayName + " · " + q.Name
	conv, err := s.chat.OpenContact(ctx, visitorIdentity(v, nil), cleanText(name, protocol.MaxConvName))
	if err != nil {
		return protocol.ContactView{}, err
	}
	now := s.cfg.Now()
	lc := &liveContact{visitor: v, rec: store.Contact{
		ID: newID(), Queue: q.ID, FirstQueue: q.ID, Widget: w.ID, VisitorID: v.ID, Conversation: conv.ID,
		Media: string(media), Status: statusWaiting, ArrivedAt: now,
		Page: cleanText(req.Page, 2000), Referrer: cleanText(req.Referrer, 2000), Phone: phone,
	}}
	s.live[lc.rec.ID] = lc
	s.open[v.ID] = lc.rec.ID
	evs, err := s.eng.Arrive(routing.Arrival{ID: routing.ContactID(lc.rec.ID), Queue: routing.QueueID(q.ID), Media: media,
		Visitor: routing.VisitorID(v.ID), Callback: req.Callback}, now)
	if err != nil {
		delete(s.live, lc.rec.ID)
		delete(s.open, v.ID)
		return protocol.ContactView{}, err
	}
	if req.Callback {
		lc.rec.Status, lc.callback = statusCallback, true
	}
	s.apply(ctx, evs)
	return s.visitorView(lc), nil
}

// visitorView is what the visitor sees of their contact, with their place
// in line. s.mu is held.
func (s *Service) visitorView(lc *liveContact) protocol.ContactView {
	v := s.view(lc, false)
	for _, w := range s.eng.Waits(s.cfg.Now()) {
		if string(w.Contact) == lc.rec.ID {
			v.Position, v.WaitKnown = w.Position, w.Known
			if w.Known {
				v.WaitEstimate = int(w.Estimate.Round(time.Second) / time.Second)
			}
		}
	}
	return v
}

// Current is the visitor's open contact.
func (s *Service) Current(v store.Visitor) (protocol.ContactView, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.open[v.ID]
	if !ok {
		return protocol.ContactView{}, fmt.Errorf("%w: no open contact", errNotFound)
	}
	return s.visitorView(s.live[id]), nil
}

// Leave is the visitor ending their contact (closing the chat).
func (s *Service) Leave(ctx context.Context, v store.Visitor, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	lc, ok := s.live[id]
	if !ok || lc.rec.VisitorID != v.ID {
		return fmt.Errorf("%w: no open contact %s", errNotFound, id)
	}
	s.visitorGone(ctx, lc, s.cfg.Now())
	return nil
}

// ---- agents ----

// isAgent reports whether a user serves customers: a profile or a queue
// membership. s.mu is held.
func (s *Service) isAgent(id string) bool {
	if _, ok := s.agents[id]; ok {
		return true
	}
	for _, q := range s.queues {
		for _, m := range q.Members {
			if m.User == id {
				return true
			}
		}
	}
	return false
}

// Agent is an agent's console state.
func (s *Service) Agent(id string) protocol.AgentView {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.agentView(id)
}

// SetState is an agent choosing their state in the console.
func (s *Service) SetState(ctx context.Context, me chat.Identity, state string) (protocol.AgentView, error) {
	st := routing.AgentState(state)
	if !st.Valid() || st == routing.WrapUp {
		return protocol.AgentView{}, invalid("state %q: use available, paused, busy or offline", state)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.isAgent(me.UserID) {
		return protocol.AgentView{}, fmt.Errorf("%w: you are in no queue; an admin adds agents to queues", errForbidden)
	}
	now := s.cfg.Now()
	if _, ok := s.agents[me.UserID]; !ok {
		// A queue member without a profile gets the default one.
		if err := s.setAgent(ctx, AgentDoc{User: me.UserID, ChatSlots: 3}, now); err != nil {
			return protocol.AgentView{}, err
		}
	}
	s.names[me.UserID] = me.DisplayName
	delete(s.away, me.UserID)
	evs, err := s.eng.SetAgentState(routing.AgentID(me.UserID), st, now)
	if err != nil {
		return protocol.AgentView{}, err
	}
	s.apply(ctx, evs)
	return s.agentView(me.UserID), nil
}

// Accept is an agent answering an offer.
func (s *Service) Accept(ctx context.Context, agent, id string) (protocol.ContactView, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	evs, err := s.eng.Accept(routing.ContactID(id), routing.AgentID(agent), s.cfg.Now())
	s.apply(ctx, evs)
	if err != nil {
		return protocol.ContactView{}, fmt.Errorf("%w: the offer is over (taken, withdrawn or timed out)", errConflict)
	}
	return s.view(s.live[id], true), nil
}

// Decline is an agent refusing an offer.
func (s *Service) Decline(ctx context.Context, agent, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	evs, err := s.eng.Decline(routing.ContactID(id), routing.AgentID(agent), s.cfg.Now())
	s.apply(ctx, evs)
	if err != nil {
		return fmt.Errorf("%w: the offer is over", errConflict)
	}
	return nil
}

// handled finds a contact in progress with this agent. s.mu is held.
func (s *Service) handled(agent, id string) (*liveContact, error) {
	lc, ok := s.live[id]
	if !ok || lc.rec.AgentID != agent || lc.rec.Status != statusInProgress {
		return nil, fmt.Errorf("%w: you have no contact %s in progress", errNotFound, id)
	}
	return lc, nil
}

// End is an agent ending a contact; the record is returned for the wrap-up.
func (s *Service) End(ctx context.Context, agent, id string) (protocol.ContactView, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lc, err := s.handled(agent, id)
	if err != nil {
		return protocol.ContactView{}, err
	}
	if personal(lc.rec.Widget) {
		s.endPersonal(ctx, lc, s.cfg.Now())
		return s.view(lc, true), nil
	}
	evs, err := s.eng.End(routing.ContactID(id), s.cfg.Now())
	s.apply(ctx, evs)
	if err != nil {
		return protocol.ContactView{}, err
	}
	return s.view(lc, true), nil
}

// WrapUp records an agent's wrap-up code and notes of a contact they
// handled, and ends their wrap-up time.
func (s *Service) WrapUp(ctx context.Context, agent, id, code, notes string) (protocol.ContactView, error) {
	code, notes = cleanText(code, 64), strings.ToValidUTF8(notes, "")
	if len([]rune(notes)) > 4000 {
		return protocol.ContactView{}, invalid("notes: at most 4000 characters")
	}
	// Read, change and write under the lock: the clock must not finish the
	// contact in between (its record would go back to what was read).
	s.mu.Lock()
	defer s.mu.Unlock()
	pending := slices.ContainsFunc(s.wraps[agent], func(x *liveContact) bool { return x.rec.ID == id })
	lc, live := s.live[id]
	var c store.Contact
	if live {
		c = lc.rec
	} else {
		var err error
		if c, err = s.st.Contact(ctx, id); errors.Is(err, store.ErrNotFound) {
			return protocol.ContactView{}, fmt.Errorf("%w: you handled no contact %s", errNotFound, id)
		} else if err != nil {
			return protocol.ContactView{}, err
		}
	}
	if c.AgentID != agent && !pending { // pending: they transferred it away
		return protocol.ContactView{}, fmt.Errorf("%w: you handled no contact %s", errNotFound, id)
	}
	if codes := s.queues[c.Queue].WrapUpCodes; len(codes) > 0 && !slices.Contains(codes, code) {
		return protocol.ContactView{}, invalid("wrap-up code %q: choose one of %s", code, strings.Join(codes, ", "))
	}
	c.WrapUpCode, c.Notes = code, notes
	if live {
		lc.rec = c
	}
	if err := s.st.SaveContact(ctx, c); err != nil {
		return protocol.ContactView{}, err
	}
	s.wraps[agent] = slices.DeleteFunc(s.wraps[agent], func(x *liveContact) bool { return x.rec.ID == id })
	defer s.pushAgent(agent)
	if st := s.state[agent]; st.state == routing.WrapUp {
		evs, _ := s.eng.SetAgentState(routing.AgentID(agent), routing.Available, s.cfg.Now())
		s.apply(ctx, evs)
	}
	v := recordView(c, s.queues[c.Queue].Name, s.names[c.AgentID])
	if s.cfg.Publish != nil {
		s.cfg.Publish(EventWrapUp, map[string]any{"contact": v, "at": timeJSON(s.cfg.Now())})
	}
	return v, nil
}

// Transfer hands a contact in progress to another queue: it goes back in
// line there, ahead of new arrivals, and the agent leaves its conversation.
func (s *Service) Transfer(ctx context.Context, agent, id, queue string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	lc, err := s.transferable(agent, id)
	if err != nil {
		return err
	}
	q, ok := s.queues[queue]
	if !ok {
		return invalid("no queue %q", queue)
	}
	now := s.cfg.Now()
	// The engine ends the assignment; the contact is kept out of finish by
	// taking it out of live meanwhile.
	before := s.state[agent].state
	delete(s.live, id)
	evs, err := s.eng.End(routing.ContactID(id), now)
	s.apply(ctx, evs)
	s.live[id] = lc
	for _, ev := range evs {
		if ev.Kind == routing.EventEnded && string(ev.Contact) == id {
			lc.rec.Handle += ev.Handle
		}
	}
	// Handing it over is not an end: no wrap-up time for the agent (the
	// contact goes on, and its wrap-up is its last agent's).
	if st := s.state[agent]; st.state == routing.WrapUp && before == routing.Available {
		evs, _ := s.eng.SetAgentState(routing.AgentID(agent), routing.Available, now)
		s.apply(ctx, evs)
	}
	if err != nil {
		return err
	}
	lc.rec.Queue, lc.rec.Status, lc.rec.AgentID = q.ID, statusWaiting, ""
	evs, err = s.eng.Arrive(routing.Arrival{ID: routing.ContactID(id), Queue: routing.QueueID(q.ID), Media: routing.Media(lc.rec.Media),
		Visitor: routing.VisitorID(lc.rec.VisitorID), Priority: transferPriority}, now)
	if err != nil {
		s.finish(ctx, lc, statusEnded, now)
		return err
	}
	if err := s.chat.LeaveContact(ctx, lc.rec.Conversation, agent); err != nil {
		s.log.Warn("contact: transfer: leaving the conversation", "contact", id, "err", err)
	}
	s.lineRelease(lc) // a telephone caller waits again, with the waiting sound
	s.apply(ctx, evs)
	s.pushAgent(agent)
	return nil
}

// transferable is a contact in progress with this agent that may be
// transferred: not one from their contact link. s.mu is held.
func (s *Service) transferable(agent, id string) (*liveContact, error) {
	lc, err := s.handled(agent, id)
	if err == nil && personal(lc.rec.Widget) {
		err = invalid("a conversation from your contact link is yours; invite a colleague to it instead")
	}
	return lc, err
}

// TransferToAgent hands a contact in progress to a colleague with a free
// slot for it: they join its conversation and the agent leaves it.
func (s *Service) TransferToAgent(ctx context.Context, agent, id, to string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.transferable(agent, id); err != nil {
		return err
	}
	if !s.isAgent(to) {
		return invalid("%q is not an agent of any queue", to)
	}
	if _, ok := s.agents[to]; !ok {
		if err := s.setAgent(ctx, AgentDoc{User: to, ChatSlots: 3}, s.cfg.Now()); err != nil {
			return err
		}
	}
	evs, err := s.eng.Reassign(routing.ContactID(id), routing.AgentID(to), s.cfg.Now())
	s.apply(ctx, evs)
	switch {
	case errors.Is(err, routing.ErrState):
		return fmt.Errorf("%w: %s is offline", errConflict, firstNonEmpty(s.names[to], to))
	case errors.Is(err, routing.ErrNoSlot):
		return fmt.Errorf("%w: %s has no free slot for it", errConflict, firstNonEmpty(s.names[to], to))
	}
	return err
}

// Colleagues are the queues and agents an agent may transfer a contact to:
// every queue, and the agents of any queue but themselves, with their state.
func (s *Service) Colleagues(me string) (queues []protocol.QueueRef, agents []protocol.Colleague) {
	s.mu.Lock()
	defer s.mu.Unlock()
	queues, agents = []protocol.QueueRef{}, []protocol.Colleague{}
	seen := map[string]bool{me: true}
	for _, q := range s.sortedQueues() {
		queues = append(queues, protocol.QueueRef{ID: q.ID, Name: q.Name})
		for _, m := range q.Members {
			if seen[m.User] {
				continue
			}
			seen[m.User] = true
			st := string(routing.Offline)
			if a, ok := s.state[m.User]; ok {
				st = string(a.state)
			}
			agents = append(agents, protocol.Colleague{User: m.User, Name: firstNonEmpty(s.names[m.User], m.User), State: st})
		}
	}
	slices.SortFunc(agents, func(a, b protocol.Colleague) int { return strings.Compare(a.Name, b.Name) })
	return queues, agents
}

// ChangeMedia turns a contact in progress into a voice or video contact (or
// back to chat); the call itself is a messaging call in its conversation.
func (s *Service) ChangeMedia(ctx context.Context, agent, id, media string) (protocol.ContactView, error) {
	m := routing.Media(media)
	if !m.Valid() {
		return protocol.ContactView{}, invalid("media %q: use chat, voice or video", media)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	lc, err := s.handled(agent, id)
	if err != nil {
		return protocol.ContactView{}, err
	}
	if personal(lc.rec.Widget) { // no slots to keep: not routed
		lc.rec.Media = string(m)
		s.save(ctx, lc)
		return s.view(lc, true), nil
	}
	evs, err := s.eng.ChangeMedia(routing.ContactID(id), m, s.cfg.Now())
	s.apply(ctx, evs)
	if errors.Is(err, routing.ErrNoSlot) {
		return protocol.ContactView{}, fmt.Errorf("%w: you are on another call already", errConflict)
	}
	if err != nil {
		return protocol.ContactView{}, err
	}
	return s.view(lc, true), nil
}

// ContactFor is a contact as its agent or an admin sees it, with the
// visitor's earlier contacts.
func (s *Service) ContactFor(ctx context.Context, me chat.Identity, id string) (protocol.ContactView, error) {
	s.mu.Lock()
	lc, live := s.live[id]
	var v protocol.ContactView
	if live {
		v = s.view(lc, true)
	}
	s.mu.Unlock()
	if !live {
		c, err := s.st.Contact(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return protocol.ContactView{}, fmt.Errorf("%w: no contact %s", errNotFound, id)
		}
		if err != nil {
			return protocol.ContactView{}, err
		}
		s.mu.Lock()
		v = recordView(c, s.queues[c.Queue].Name, s.names[c.AgentID])
		s.mu.Unlock()
		if vis, err := s.st.Visitor(ctx, c.VisitorID); err == nil {
			v.Visitor = protocol.VisitorInfo{ID: vis.ID, Name: vis.DisplayName, Email: vis.Email, Phone: c.Phone}
		}
	}
	s.mu.Lock()
	_, offered := s.offers[id][me.UserID]
	s.mu.Unlock()
	if !me.Admin() && v.Agent != me.UserID && !offered {
		return protocol.ContactView{}, fmt.Errorf("%w: not your contact", errNotFound)
	}
	v.Previous = s.previous(ctx, v.Visitor.ID, id)
	return v, nil
}

// previous lists a visitor's earlier contacts, newest first.
func (s *Service) previous(ctx context.Context, visitor, except string) []protocol.PastContact {
	cs, err := s.st.VisitorContacts(ctx, visitor, 11)
	if err != nil {
		s.log.Warn("contact: earlier contacts", "err", err)
		return nil
	}
	var out []protocol.PastContact
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		if c.ID == except {
			continue
		}
		out = append(out, protocol.PastContact{ID: c.ID, ArrivedAt: timeJSON(c.ArrivedAt), Queue: c.Queue,
			AgentName: s.names[c.AgentID], Status: c.Status, WrapUpCode: c.WrapUpCode})
	}
	return out
}

// ---- settings ----

// Queues lists the queues.
func (s *Service) Queues() []QueueDoc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sortedQueues()
}

// PutQueue creates or replaces a queue.
func (s *Service) PutQueue(ctx context.Context, d QueueDoc) (QueueDoc, error) {
	q, err := d.Routing()
	if err != nil {
		return QueueDoc{}, err
	}
	if d.Media == nil {
		d.Media = []string{"chat", "voice", "video"}
	}
	if d.Members == nil {
		d.Members = []MemberDoc{}
	}
	for _, m := range d.Members {
		u, err := s.st.User(ctx, m.User)
		if errors.Is(err, store.ErrNotFound) || (err == nil && u.Role != "agent" && u.Role != "admin") {
			return QueueDoc{}, invalid("member %q: not an agent's user id (make the account an agent first)", m.User)
		}
		if err != nil {
			return QueueDoc{}, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	evs, err := s.eng.SetQueue(q, now)
	if err != nil {
		return QueueDoc{}, invalid("%s", strings.TrimPrefix(err.Error(), "routing: "))
	}
	if err := s.putDoc(ctx, store.SettingQueue, d.ID, d); err != nil {
		return QueueDoc{}, err
	}
	s.queues[d.ID] = d
	for _, m := range d.Members {
		if _, ok := s.agents[m.User]; !ok {
			if u, err := s.st.User(ctx, m.User); err == nil {
				s.names[m.User] = u.DisplayName
			}
		}
	}
	s.apply(ctx, evs)
	return d, nil
}

// DeleteQueue removes a queue nothing uses any more.
func (s *Service) DeleteQueue(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.queues[id]; !ok {
		return fmt.Errorf("%w: no queue %q", errNotFound, id)
	}
	for _, w := range s.widgets {
		if w.Queue == id {
			return invalid("widget %q uses this queue; change or delete it first", w.ID)
		}
	}
	for _, q := range s.queues {
		if q.ID != id && (q.Overflow.Queue == id || q.AfterHours.Queue == id) {
			return invalid("queue %q overflows to this queue; change it first", q.ID)
		}
	}
	for _, lc := range s.live {
		if lc.rec.Queue == id {
			return fmt.Errorf("%w: contacts are open in this queue; try again when they are over", errConflict)
		}
	}
	if err := s.st.DeleteSetting(ctx, store.SettingQueue, id); err != nil {
		return err
	}
	// The engine keeps the queue's configuration, empty: nothing reaches it.
	evs, _ := s.eng.SetQueue(routing.Queue{ID: routing.QueueID(id)}, s.cfg.Now())
	s.apply(ctx, evs)
	delete(s.queues, id)
	return nil
}

// Widgets lists the widgets.
func (s *Service) Widgets() []WidgetDoc {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]WidgetDoc, 0, len(s.widgets))
	for _, w := range s.widgets {
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b WidgetDoc) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// PutWidget creates or replaces a widget.
func (s *Service) PutWidget(ctx context.Context, d WidgetDoc) (WidgetDoc, error) {
	if d.AllowedOrigins == nil {
		d.AllowedOrigins = []string{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := d.check(s.queues); err != nil {
		return WidgetDoc{}, err
	}
	if err := s.putDoc(ctx, store.SettingWidget, d.ID, d); err != nil {
		return WidgetDoc{}, err
	}
	s.widgets[d.ID] = d
	return d, nil
}

// DeleteWidget removes a widget; its visitors' tokens stop working for new
// contacts.
func (s *Service) DeleteWidget(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.widgets[id]; !ok {
		return fmt.Errorf("%w: no widget %q", errNotFound, id)
	}
	if err := s.st.DeleteSetting(ctx, store.SettingWidget, id); err != nil {
		return err
	}
	delete(s.widgets, id)
	return nil
}

// Agents lists the agent profiles.
func (s *Service) Agents() []AgentDoc {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]AgentDoc, 0, len(s.agents))
	for _, a := range s.agents {
		a.Name = s.names[a.User]
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b AgentDoc) int { return strings.Compare(a.Name+a.User, b.Name+b.User) })
	return out
}

// PutAgent sets an agent's profile.
func (s *Service) PutAgent(ctx context.Context, d AgentDoc) (AgentDoc, error) {
	u, err := s.st.User(ctx, d.User)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Role != "agent" && u.Role != "admin") {
		return AgentDoc{}, invalid("user %q is not an agent (make the account an agent first)", d.User)
	}
	if err != nil {
		return AgentDoc{}, err
	}
	d.Name = ""
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.setAgent(ctx, d, s.cfg.Now()); err != nil {
		return AgentDoc{}, err
	}
	if err := s.putDoc(ctx, store.SettingAgent, d.User, d); err != nil {
		return AgentDoc{}, err
	}
	d.Name = u.DisplayName
	return d, nil
}

func (s *Service) putDoc(ctx context.Context, kind, id string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.st.PutSetting(ctx, store.Setting{Kind: kind, ID: id, Doc: b, UpdatedAt: s.cfg.Now()})
}
