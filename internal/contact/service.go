// Package contact is customer contact: website visitors reaching the
// organisation's agents by chat, voice or video through queues (issue 5).
//
// Routing decisions are internal/contact/routing's, a pure engine; this
// package runs one engine for the server and connects it to the rest:
//
//   - settings (queues, widgets, agent profiles) stored as documents and
//     edited by admins over the REST API;
//   - visitors: people on a website, not accounts, who get a short-lived
//     bearer token scoped to one widget and talk in an ordinary conversation
//     of the messaging service (internal/chat), which the answering agent
//     joins;
//   - agents: their state (set in the console, and offline when their last
//     device has been gone a while) and offers, pushed to their devices on
//     the messaging socket;
//   - records: one row per contact from arrival to wrap-up, for returning
//     visitors and the supervisor's statistics; webhooks for each step.
//
// One mutex guards the engine and the live contacts. What the engine says
// happened (routing.Event) is applied in order under it: records saved,
// conversations joined, devices told. The engine's clock is the service's
// Now, advanced by a ticker every second.
package contact

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"switchboard/internal/chat"
	"switchboard/internal/contact/routing"
	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// Config wires the service. Zero durations take the defaults in brackets.
type Config struct {
	Store *store.Store
	Chat  *chat.Service
	// Publish sends a contact event to the webhooks (nil: none).
	Publish func(eventType string, data any)
	Logger  *slog.Logger
	Now     func() time.Time
	// VisitorTTL is how long a visitor's token lasts after its last use [2h].
	VisitorTTL time.Duration
	// VisitorGrace is how long a visitor whose contact is open may be
	// without a connected device (a page reload, a train tunnel) before
	// they count as gone [60s].
	VisitorGrace time.Duration
	// AgentGrace is the same for an agent who is not offline [60s].
	AgentGrace time.Duration
	// VisitorsPerMinute bounds new visitor sessions per client address [10].
	VisitorsPerMinute int
	// CanCall tells whether a widget's click-to-call phone can be called
	// now (the gateway is on and it resolves); nil: never.
	CanCall func(target string) bool
	// CheckPhone reads a number a visitor gives to be called back on: the
	// E.164 number the gateway would call, or why it cannot (the error's
	// text is for the visitor); nil: visitors cannot be called back by phone.
	CheckPhone func(number string) (string, error)
	// CanCallBack tells whether visitors may give a number now (the
	// gateway is on, a trunk and sip.callback_prefixes are set): only
	// then does the widget show the phone field; nil: never.
	CanCallBack func() bool
	// Phones hangs up and releases the telephone callers of queues
	// (phone.go); nil: there are none.
	Phones Phones
	// Seed seeds weighted random routing.
	Seed uint64

	// manualClock: no ticker; tests call tick with their own Now.
	manualClock bool
}

// Webhook event types (docs/contact.md, "Events out").
const (
	EventQueued     = "contact.queued"
	EventOffered    = "contact.offered"
	EventAnswered   = "contact.answered"
	EventAbandoned  = "contact.abandoned"
	EventOverflowed = "contact.overflowed"
	EventEnded      = "contact.ended"
	EventWrapUp     = "contact.wrapup"
)

// EventTypes lists the webhook event types this package publishes.
var EventTypes = []string{EventQueued, EventOffered, EventAnswered, EventAbandoned, EventOverflowed, EventEnded, EventWrapUp}

// Contact statuses beyond the engine's (store.Contact.Status).
const (
	statusWaiting    = "waiting"
	statusOffered    = "offered"
	statusInProgress = "in_progress"
	statusEnded      = "ended"
	statusAbandoned  = "abandoned"
	statusOverflowed = "overflowed" // moved to another queue (still open)
	statusClosed     = "closed"     // the queue was closed
	statusMessage    = "message"    // overflowed to "leave a message"
	statusCallback   = "callback"   // waiting as a callback request
)

// Service is customer contact. It is safe for concurrent use.
type Service struct {
	cfg  Config
	st   *store.Store
	chat *chat.Service
	log  *slog.Logger

	mu      sync.Mutex
	eng     *routing.Engine
	queues  map[string]QueueDoc
	widgets map[string]WidgetDoc
	agents  map[string]AgentDoc
	names   map[string]string       // agents' display names
	live    map[string]*liveContact // contacts not ended, by id
	open    map[string]string       // visitor id -> their open contact
	offers  map[string]map[string]time.Time
	state   map[string]agentState     // agents not offline
	away    map[string]time.Time      // visitor or agent -> since when without a device
	wraps   map[string][]*liveContact // agent -> contacts they ended and have not wrapped up
	day     int                       // day of year of the engine's figures

	limits *limiter
	// phoneLimits: callback requests with a number, per client address.
	phoneLimits *limiter
	calls       map[string][]time.Time // visitor -> their recent click-to-call calls
	stop        chan struct{}
	wg          sync.WaitGroup
}

type liveContact struct {
	rec      store.Contact
	visitor  store.Visitor
	until    time.Time // offer expiry while offered
	callback bool      // a callback request: the visitor need not stay
	line     bool      // a telephone caller waiting or talking on the line (phone.go)
}

// waiting is the status of a contact back in line.
func (lc *liveContact) waiting() string {
	if lc.callback {
		return statusCallback
	}
	return statusWaiting
}

type agentState struct {
	state routing.AgentState
	since time.Time
}

// New loads the settings, restores what a previous run left open, and
// starts the clock.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.VisitorTTL == 0 {
		cfg.VisitorTTL = 2 * time.Hour
	}
	if cfg.VisitorGrace == 0 {
		cfg.VisitorGrace = time.Minute
	}
	if cfg.AgentGrace == 0 {
		cfg.AgentGrace = time.Minute
	}
	if cfg.VisitorsPerMinute == 0 {
		cfg.VisitorsPerMinute = 10
	}
	s := &Service{
		cfg: cfg, st: cfg.Store, chat: cfg.Chat, log: cfg.Logger,
		queues: map[string]QueueDoc{}, widgets: map[string]WidgetDoc{}, agents: map[string]AgentDoc{},
		names: map[string]string{}, live: map[string]*liveContact{}, open: map[string]string{},
		offers: map[string]map[string]time.Time{}, state: map[string]agentState{}, away: map[string]time.Time{},
		wraps:  map[string][]*liveContact{},
		limits: newLimiter(cfg.VisitorsPerMinute), phoneLimits: newLimiterEvery(callbacksPerIP, time.Hour), calls: map[string][]time.Time{}, stop: make(chan struct{}),
	}
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	if !cfg.manualClock {
		s.wg.Add(1)
		go s.clock()
	}
	return s, nil
}

// Close stops the clock.
func (s *Service) Close() {
	select {
	case <-s.stop:
		return
	default:
	}
	close(s.stop)
	s.wg.Wait()
}

// load builds the engine from the stored settings. Contacts a previous run
// left open are closed: their visitors' pages have lost the server and
// start again; routing state does not survive a restart.
func (s *Service) load(ctx context.Context) error {
	now := s.cfg.Now()
	var qs []routing.Queue
	docs, err := s.st.Settings(ctx, store.SettingQueue)
	if err != nil {
		return err
	}
	for _, st := range docs {
		var d QueueDoc
		if err := decodeDoc(st.Doc, &d); err != nil {
			return fmt.Errorf("contact: stored queue %s: %w", st.ID, err)
		}
		q, err := d.Routing()
		if err != nil {
			return fmt.Errorf("contact: stored queue %s: %w", st.ID, err)
		}
		s.queues[d.ID] = d
		qs = append(qs, q)
	}
	if s.eng, err = routing.NewEngine(routing.Config{AutoPauseAfter: 3, Seed: s.cfg.Seed}, qs); err != nil {
		return fmt.Errorf("contact: stored queues: %w", err)
	}
	if docs, err = s.st.Settings(ctx, store.SettingWidget); err != nil {
		return err
	}
	for _, st := range docs {
		var d WidgetDoc
		if err := decodeDoc(st.Doc, &d); err != nil {
			return fmt.Errorf("contact: stored widget %s: %w", st.ID, err)
		}
		s.widgets[d.ID] = d
	}
	if docs, err = s.st.Settings(ctx, store.SettingAgent); err != nil {
		return err
	}
	for _, st := range docs {
		var d AgentDoc
		if err := decodeDoc(st.Doc, &d); err != nil {
			return fmt.Errorf("contact: stored agent %s: %w", st.ID, err)
		}
		if err := s.setAgent(ctx, d, now); err != nil {
			return err
		}
	}
	open, err := s.st.OpenContacts(ctx)
	if err != nil {
		return err
	}
	for _, c := range open {
		if c.Status == statusMessage { // the message waits for its answer: the conversation stays open
			c.EndedAt = now
			if err := s.st.SaveContact(ctx, c); err != nil {
				return err
			}
			continue
		}
		c.Status, c.EndedAt = statusClosed, now
		if err := s.st.SaveContact(ctx, c); err != nil {
			return err
		}
		if c.Conversation != "" {
			if err := s.chat.CloseContact(ctx, c.Conversation, c.VisitorID); err != nil {
				s.log.Warn("contact: closing a conversation left open", "contact", c.ID, "err", err)
			}
		}
	}
	if len(open) > 0 {
		s.log.Info("contact: closed the contacts left open by the last run", "count", len(open))
	}
	s.day = now.YearDay()
	return nil
}

// setAgent gives the engine an agent's profile; s.mu held or not started.
func (s *Service) setAgent(ctx context.Context, d AgentDoc, now time.Time) error {
	p, err := d.Routing()
	if err != nil {
		return err
	}
	if u, err := s.st.User(ctx, d.User); err == nil {
		s.names[d.User] = u.DisplayName
	}
	evs, err := s.eng.SetAgent(p, now)
	if err != nil {
		return err
	}
	s.agents[d.User] = d
	s.apply(ctx, evs)
	return nil
}

// clock advances the engine every second: offers time out, wrap-ups end,
// contacts wait too long, queues close; and people without a device for
// longer than their grace are gone.
func (s *Service) clock() {
	defer s.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.tick(context.Background())
		}
	}
}

func (s *Service) tick(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	if d := now.YearDay(); d != s.day {
		s.day = d
		s.eng.ResetDay()
	}
	s.apply(ctx, s.eng.Tick(now))
	s.checkAway(ctx, now)
	s.pushWaits(now)
}

// checkAway notices visitors and agents without a connected device.
func (s *Service) checkAway(ctx context.Context, now time.Time) {
	present := func(id string, grace time.Duration) bool {
		if s.chat.Online(id) {
			delete(s.away, id)
			return true
		}
		since, ok := s.away[id]
		if !ok {
			s.away[id] = now
			return true
		}
		return now.Sub(since) < grace
	}
	for id, lc := range s.live {
		if !lc.line && s.chat.Online(lc.rec.VisitorID) && now.Sub(lc.visitor.LastSeenAt) >= time.Minute {
			// A visitor talking on their socket keeps their token alive, as
			// their requests do: the credential sweep would otherwise close
			// a long conversation when the token's first two hours are over.
			lc.visitor.LastSeenAt = now
			if err := s.st.TouchVisitor(ctx, lc.visitor.ID, now, now.Add(s.cfg.VisitorTTL)); err != nil {
				s.log.Warn("contact: keeping a visitor's token alive", "err", err)
			}
		}
		if lc.callback || lc.line || present(lc.rec.VisitorID, s.cfg.VisitorGrace) {
			continue
		}
		delete(s.away, lc.rec.VisitorID)
		s.log.Info("contact: the visitor left", "contact", id)
		s.visitorGone(ctx, lc, now)
	}
	for id, st := range s.state {
		if st.state == routing.Offline || present(id, s.cfg.AgentGrace) {
			continue
		}
		delete(s.away, id)
		s.log.Info("contact: agent offline: no device connected", "agent", id)
		evs, _ := s.eng.SetAgentState(routing.AgentID(id), routing.Offline, now)
		s.apply(ctx, evs)
	}
}

// pushWaits tells waiting visitors their place in line when it changed.
func (s *Service) pushWaits(now time.Time) {
	for _, w := range s.eng.Waits(now) {
		lc := s.live[string(w.Contact)]
		if lc == nil {
			continue
		}
		v := s.view(lc, false)
		v.Position, v.WaitKnown = w.Position, w.Known
		if w.Known {
			v.WaitEstimate = int(w.Estimate.Round(time.Second) / time.Second)
		}
		s.chat.Push(lc.rec.VisitorID, protocol.Encode(&protocol.ContactMsg{Event: protocol.ContactUpdate, Contact: &v}))
	}
}

// apply carries out what the engine says happened, in order. s.mu is held.
func (s *Service) apply(ctx context.Context, evs []routing.Event) {
	for _, ev := range evs {
		s.applyOne(ctx, ev)
	}
}

func (s *Service) applyOne(ctx context.Context, ev routing.Event) {
	id := string(ev.Contact)
	lc := s.live[id]
	agent := string(ev.Agent)
	switch ev.Kind {
	case routing.EventAgentState, routing.EventWrapUp:
		if ev.To == routing.Offline {
			delete(s.state, agent)
		} else {
			s.state[agent] = agentState{state: ev.To, since: ev.At}
		}
		s.pushAgent(agent)
		return
	}
	if lc == nil {
		return
	}
	switch ev.Kind {
	case routing.EventQueued:
		s.save(ctx, lc)
		s.publish(EventQueued, lc, ev)
	case routing.EventOffered:
		lc.rec.Status, lc.until = statusOffered, ev.Until
		ring := map[string]time.Time{}
		for _, a := range ev.Agents {
			ring[string(a)] = ev.Until
		}
		s.offers[id] = ring
		v := s.view(lc, true)
		for a := range ring {
			s.chat.Push(a, protocol.Encode(&protocol.ContactMsg{Event: protocol.ContactOffer, Contact: &v}))
			s.pushAgent(a)
		}
		s.pushVisitor(lc)
		s.publish(EventOffered, lc, ev)
	case routing.EventDeclined, routing.EventMissed, routing.EventWithdrawn:
		delete(s.offers[id], agent)
		if len(s.offers[id]) == 0 {
			delete(s.offers, id)
			// Under ring all, the others' offers are withdrawn just before
			// the answer, which says the rest.
			if lc.rec.Status == statusOffered && ev.Reason != routing.ReasonAnswered {
				lc.rec.Status, lc.until = lc.waiting(), time.Time{}
				s.pushVisitor(lc)
			}
		}
		reason := string(ev.Reason)
		if ev.Kind == routing.EventMissed {
			reason = string(routing.ReasonTimeout)
		} else if ev.Kind == routing.EventDeclined {
			reason = string(routing.ReasonDeclined)
		}
		v := s.view(lc, true)
		s.chat.Push(agent, protocol.Encode(&protocol.ContactMsg{Event: protocol.ContactWithdrawn, Contact: &v, Reason: reason}))
		s.pushAgent(agent)
	case routing.EventAnswered:
		delete(s.offers, id)
		lc.rec.Status, lc.rec.AgentID = statusInProgress, agent
		if lc.rec.AnsweredAt.IsZero() { // a transferred contact keeps its first answer
			lc.rec.AnsweredAt, lc.rec.Wait = ev.At, ev.Wait
		}
		lc.until = time.Time{}
		s.save(ctx, lc)
		if err := s.chat.JoinContact(ctx, lc.rec.Conversation, s.agentIdentity(agent)); err != nil {
			s.log.Error("contact: the agent could not join the conversation", "contact", id, "err", err)
		}
		s.pushBoth(lc)
		s.pushAgent(agent)
		s.publish(EventAnswered, lc, ev)
	case routing.EventRequeued:
		// The agent went offline: the contact goes back in line, and the
		// agent out of its conversation. It keeps its first answer.
		from := lc.rec.AgentID
		lc.rec.Status, lc.rec.AgentID = lc.waiting(), ""
		s.save(ctx, lc)
		s.lineRelease(lc)
		if from != "" {
			if err := s.chat.LeaveContact(ctx, lc.rec.Conversation, from); err != nil {
				s.log.Warn("contact: requeue: leaving the conversation", "contact", id, "err", err)
			}
		}
		s.pushVisitor(lc)
	case routing.EventReassigned:
		from := string(ev.Agents[0])
		lc.rec.AgentID = agent
		s.save(ctx, lc)
		s.lineRelease(lc) // the colleague's console calls the caller anew
		if err := s.chat.JoinContact(ctx, lc.rec.Conversation, s.agentIdentity(agent)); err != nil {
			s.log.Error("contact: the colleague could not join the conversation", "contact", id, "err", err)
		}
		if err := s.chat.LeaveContact(ctx, lc.rec.Conversation, from); err != nil {
			s.log.Warn("contact: transfer: leaving the conversation", "contact", id, "err", err)
		}
		s.pushBoth(lc)
		s.pushAgent(from)
		s.pushAgent(agent)
	case routing.EventMediaChanged:
		lc.rec.Media = string(ev.Media)
		s.save(ctx, lc)
		s.pushBoth(lc)
		s.pushAgent(lc.rec.AgentID)
	case routing.EventOverflowed:
		switch ev.Target.To {
		case routing.ToQueue:
			lc.rec.Queue, lc.rec.Status = string(ev.Target.Queue), statusWaiting
			s.save(ctx, lc)
			s.pushVisitor(lc)
		case routing.ToCallback:
			if ev.Target.Queue != "" {
				lc.rec.Queue = string(ev.Target.Queue)
			}
			lc.rec.Status, lc.rec.Media, lc.callback = statusCallback, string(routing.Voice), true
			if lc.line && !s.phoneDialable(lc.rec.Phone) {
				// A caller nobody could call back (anonymous): no callback is
				// booked. Hung up on without the tone; the gateway's PhoneGone
				// then ends the contact (abandoned).
				lc.callback = false
				s.log.Info("contact: a waiting caller who cannot be called back is hung up on", "contact", id)
				if s.cfg.Phones != nil {
					s.cfg.Phones.Hangup(id, false)
				}
				break
			}
			s.save(ctx, lc)
			s.lineHangup(lc, true) // a telephone caller is told by a tone; we call them back
			s.pushVisitor(lc)
		case routing.ToMessage:
			// Out of routing. The conversation stays open for the message,
			// and the queue's agents join it: it is in their inbox to answer
			// when they can (the visitor left an e-mail address, or comes
			// back with their token).
			lc.rec.Status = statusMessage
			s.save(ctx, lc)
			s.lineHangup(lc, true) // the agents find the caller's number in their inbox
			s.pushVisitor(lc)
			var agents []string
			for _, m := range s.queues[lc.rec.Queue].Members {
				agents = append(agents, m.User)
			}
			if err := s.chat.AddToContact(ctx, lc.rec.Conversation, lc.rec.VisitorID, agents); err != nil {
				s.log.Warn("contact: adding the agents to a message", "contact", id, "err", err)
			}
		}
		s.publish(EventOverflowed, lc, ev)
	case routing.EventAbandoned:
		lc.rec.Wait = ev.Wait
		s.finish(ctx, lc, statusAbandoned, ev.At)
		s.publish(EventAbandoned, lc, ev)
	case routing.EventClosed:
		lc.rec.Wait = ev.Wait
		s.finish(ctx, lc, statusClosed, ev.At)
	case routing.EventEnded:
		lc.rec.Handle += ev.Handle
		s.finish(ctx, lc, statusEnded, ev.At)
		s.awaitWrapUp(lc)
		s.pushAgent(agent)
		s.publish(EventEnded, lc, ev)
	}
}

// visitorGone ends a contact whose visitor left: abandoned while waiting,
// ended in progress; a message left for later stays one.
func (s *Service) visitorGone(ctx context.Context, lc *liveContact, now time.Time) {
	if lc.rec.Status == statusMessage {
		s.finish(ctx, lc, statusMessage, now)
		return
	}
	if personal(lc.rec.Widget) {
		s.endPersonal(ctx, lc, now)
		return
	}
	evs, err := s.eng.Leave(routing.ContactID(lc.rec.ID), now)
	if err != nil { // not in routing any more
		s.finish(ctx, lc, statusEnded, now)
	}
	s.apply(ctx, evs)
}

// awaitWrapUp keeps an ended contact in its agent's view until they wrap
// it up (the last 20, for a day at most). s.mu is held.
func (s *Service) awaitWrapUp(lc *liveContact) {
	a := lc.rec.AgentID
	if a == "" {
		return
	}
	list := append(s.wraps[a], lc)
	cut := s.cfg.Now().Add(-24 * time.Hour)
	list = slices.DeleteFunc(list, func(x *liveContact) bool { return x.rec.EndedAt.Before(cut) })
	if len(list) > 20 {
		list = list[len(list)-20:]
	}
	s.wraps[a] = list
}

// finish records the end of a contact and closes its conversation.
func (s *Service) finish(ctx context.Context, lc *liveContact, status string, at time.Time) {
	lc.rec.Status, lc.rec.EndedAt = status, at
	s.lineHangup(lc, status != statusEnded)
	delete(s.live, lc.rec.ID)
	delete(s.offers, lc.rec.ID)
	delete(s.away, lc.rec.VisitorID)
	if s.open[lc.rec.VisitorID] == lc.rec.ID {
		delete(s.open, lc.rec.VisitorID)
	}
	s.save(ctx, lc)
	if lc.rec.Conversation != "" && status != statusMessage { // a message waits for its answer
		if err := s.chat.CloseContact(ctx, lc.rec.Conversation, lc.rec.VisitorID); err != nil {
			s.log.Error("contact: closing the conversation", "contact", lc.rec.ID, "err", err)
		}
	}
	s.pushBoth(lc)
}

func (s *Service) save(ctx context.Context, lc *liveContact) {
	if err := s.st.SaveContact(ctx, lc.rec); err != nil {
		s.log.Error("contact: saving a contact record", "contact", lc.rec.ID, "err", err)
	}
}

func (s *Service) publish(typ string, lc *liveContact, ev routing.Event) {
	if s.cfg.Publish == nil {
		return
	}
	v := s.view(lc, true)
	v.Visitor.Phone = "" // for agents only: webhooks go to other systems
	data := map[string]any{"contact": v, "at": ev.At.UTC().Format(time.RFC3339Nano)}
	if ev.Reason != "" {
		data["reason"] = string(ev.Reason)
	}
	if len(ev.Agents) > 0 {
		data["agents"] = ev.Agents
	}
	s.cfg.Publish(typ, data)
}

func (s *Service) agentIdentity(id string) chat.Identity {
	return chat.Identity{UserID: id, DisplayName: s.names[id]}
}

func (s *Service) pushVisitor(lc *liveContact) {
	v := s.view(lc, false)
	s.chat.Push(lc.rec.VisitorID, protocol.Encode(&protocol.ContactMsg{Event: protocol.ContactUpdate, Contact: &v}))
}

func (s *Service) pushBoth(lc *liveContact) {
	s.pushVisitor(lc)
	if lc.rec.AgentID != "" {
		v := s.view(lc, true)
		s.chat.Push(lc.rec.AgentID, protocol.Encode(&protocol.ContactMsg{Event: protocol.ContactUpdate, Contact: &v}))
	}
}

func (s *Service) pushAgent(id string) {
	if id == "" {
		return
	}
	v := s.agentView(id)
	s.chat.Push(id, protocol.Encode(&protocol.ContactMsg{Event: protocol.ContactAgent, Agent: &v}))
}

// view is a live contact as its visitor (forAgent false) or agent sees it.
func (s *Service) view(lc *liveContact, forAgent bool) protocol.ContactView {
	v := recordView(lc.rec, s.queues[lc.rec.Queue].Name, s.names[lc.rec.AgentID])
	v.Visitor = protocol.VisitorInfo{ID: lc.visitor.ID, Name: lc.visitor.DisplayName, Phone: lc.rec.Phone} // their own number
	if !lc.until.IsZero() && forAgent {
		v.OfferUntil = timeJSON(lc.until)
	}
	v.OnLine = lc.line && forAgent
	if forAgent {
		v.Visitor.Email = lc.visitor.Email
	} else {
		v.Page, v.Referrer, v.Notes, v.WrapUpCode = "", "", "", ""
	}
	return v
}

func recordView(c store.Contact, queueName, agentName string) protocol.ContactView {
	return protocol.ContactView{
		ID: c.ID, Queue: c.Queue, QueueName: queueName, Media: c.Media, Status: c.Status,
		Visitor: protocol.VisitorInfo{ID: c.VisitorID}, Page: c.Page, Referrer: c.Referrer,
		Conversation: c.Conversation, Agent: c.AgentID, AgentName: agentName,
		ArrivedAt: timeJSON(c.ArrivedAt), AnsweredAt: timeJSON(c.AnsweredAt), EndedAt: timeJSON(c.EndedAt),
		WrapUpCode: c.WrapUpCode, Notes: c.Notes,
	}
}

// agentView is an agent's console state. s.mu is held.
func (s *Service) agentView(id string) protocol.AgentView {
	v := protocol.AgentView{User: id, Name: s.names[id], State: string(routing.Offline), Queues: []protocol.QueueRef{},
		Contacts: []protocol.ContactView{}, Offers: []protocol.ContactView{}}
	if st, ok := s.state[id]; ok {
		v.State = string(st.state)
	}
	v.ChatSlots = s.agents[id].ChatSlots
	for _, q := range s.sortedQueues() {
		for _, m := range q.Members {
			if m.User == id {
				v.Queues = append(v.Queues, protocol.QueueRef{ID: q.ID, Name: q.Name, WrapUpCodes: q.WrapUpCodes})
			}
		}
	}
	v.WrapUps = []protocol.ContactView{}
	for _, lc := range s.wraps[id] {
		v.WrapUps = append(v.WrapUps, s.view(lc, true))
	}
	for _, lc := range s.sortedLive() {
		if lc.rec.AgentID == id && lc.rec.Status == statusInProgress {
			v.Contacts = append(v.Contacts, s.view(lc, true))
		} else if _, ringing := s.offers[lc.rec.ID][id]; ringing {
			v.Offers = append(v.Offers, s.view(lc, true))
		}
	}
	return v
}

func (s *Service) sortedQueues() []QueueDoc {
	out := make([]QueueDoc, 0, len(s.queues))
	for _, q := range s.queues {
		out = append(out, q)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (s *Service) sortedLive() []*liveContact {
	out := make([]*liveContact, 0, len(s.live))
	for _, lc := range s.live {
		out = append(out, lc)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].rec, out[j].rec
		if !a.ArrivedAt.Equal(b.ArrivedAt) {
			return a.ArrivedAt.Before(b.ArrivedAt)
		}
		return a.ID < b.ID
	})
	return out
}

func timeJSON(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// Errors of the service's operations, mapped to HTTP statuses in http.go.
var (
	errNotFound    = errors.New("not found")
	errConflict    = errors.New("conflict")
	errForbidden   = errors.New("forbidden")
	errRateLimited = errors.New("rate limited")
)
