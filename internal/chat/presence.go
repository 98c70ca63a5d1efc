package chat

import (
	"sync"
	"time"

	"switchboard/internal/protocol"
)

// presence keeps who is available, away, busy, in a call... in memory, and
// tells the people who share a conversation with them, batched: one frame
// per recipient per interval, however many people changed.
type presence struct {
	s  *Service
	mu sync.Mutex
	// Only people with something to remember: online, recently gone, or a
	// status they set.
	people map[string]*person
	dirty  map[string]struct{}
	// The people who see someone's presence are the members of their
	// conversations: this caches each person's conversations, and the
	// service caches each conversation's members.
	convs map[string][]string
}

type person struct {
	set, text string    // the status and text they chose; "" means available
	devices   int       // connected devices
	calls     int       // calls they are in (ringing out, or answered)
	goneAt    time.Time // when the last device left; zero while connected
	last      protocol.PresenceInfo
}

func newPresence(s *Service) *presence {
	return &presence{s: s, people: map[string]*person{}, dirty: map[string]struct{}{}, convs: map[string][]string{}}
}

func (p *presence) get(user string) *person {
	x := p.people[user]
	if x == nil {
		x = &person{last: protocol.PresenceInfo{Status: protocol.StatusOffline}}
		p.people[user] = x
	}
	return x
}

func (p *presence) update(user string, f func(*person)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p.get(user))
	p.dirty[user] = struct{}{}
}

func (p *presence) connected(user string) {
	p.update(user, func(x *person) { x.devices++; x.goneAt = time.Time{} })
}

func (p *presence) disconnected(user string) {
	p.update(user, func(x *person) {
		x.devices--
		if x.devices == 0 {
			x.goneAt = p.s.cfg.Now()
		}
	})
}

func (p *presence) set(user, status, text string) {
	p.update(user, func(x *person) { x.set, x.text = status, text })
}

func (p *presence) inCall(user string, delta int) {
	p.update(user, func(x *person) { x.calls += delta })
}

// touched marks user for a recomputation (a device went idle or active).
func (p *presence) touched(user string) { p.update(user, func(*person) {}) }

// contactsChanged forgets who is in which conversation after a membership change.
func (p *presence) contactsChanged() {
	p.mu.Lock()
	clear(p.convs)
	p.mu.Unlock()
}

// remember notes user's conversations from their inbox, at connect.
func (p *presence) remember(user string, inbox []protocol.ConversationInfo) {
	ids := make([]string, len(inbox))
	for i, c := range inbox {
		ids[i] = c.ID
	}
	p.mu.Lock()
	p.convs[user] = ids
	p.mu.Unlock()
}

// convsOf returns user's conversations.
func (p *presence) convsOf(user string) []string {
	p.mu.Lock()
	ids, ok := p.convs[user]
	p.mu.Unlock()
	if ok {
		return ids
	}
	ctx, cancel := ctxTimeout()
	defer cancel()
	ids, err := p.s.st.ConversationsOf(ctx, user)
	if err != nil {
		p.s.log.Error("chat: conversations of a user", "err", err)
		return nil
	}
	p.mu.Lock()
	p.convs[user] = ids
	p.mu.Unlock()
	return ids
}

// eachContact calls f for everyone who shares a conversation with user
// (possibly more than once).
func (p *presence) eachContact(user string, f func(string)) {
	ctx, cancel := ctxTimeout()
	defer cancel()
	for _, conv := range p.convsOf(user) {
		ids, err := p.s.memberIDs(ctx, conv)
		if err != nil {
			p.s.log.Error("chat: members", "err", err)
			continue
		}
		for _, id := range ids {
			f(id)
		}
	}
}

// introduce sends each online newcomer the presence of members, and each
// online member the newcomers' presence (see Service.introduce).
func (p *presence) introduce(newcomers, members []string) {
	if p.s.cfg.PresenceOff {
		return
	}
	p.mu.Lock()
	infos := make(map[string]protocol.PresenceInfo, len(members)+len(newcomers))
	for _, list := range [][]string{members, newcomers} {
		for _, u := range list {
			infos[u] = p.infoLocked(u)
		}
	}
	p.mu.Unlock()
	isNew := make(map[string]bool, len(newcomers))
	for _, u := range newcomers {
		isNew[u] = true
	}
	for _, c := range members {
		if !p.s.hub.online(c) {
			continue
		}
		batch := map[string]protocol.PresenceInfo{}
		for u, info := range infos {
			if u != c && (isNew[c] || isNew[u]) {
				batch[u] = info
			}
		}
		if len(batch) > 0 {
			p.s.hub.toUser(c, protocol.Encode(&protocol.PresenceMsg{Users: batch}))
		}
	}
}

// status is user's current status.
func (p *presence) status(user string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.infoLocked(user).Status
}

func (p *presence) infoLocked(user string) protocol.PresenceInfo {
	x := p.people[user]
	if x == nil {
		return protocol.PresenceInfo{Status: protocol.StatusOffline}
	}
	gone := x.devices == 0 && p.s.cfg.Now().Sub(x.goneAt) >= p.s.cfg.OfflineGrace
	switch {
	case gone:
		return protocol.PresenceInfo{Status: protocol.StatusOffline}
	case x.set == protocol.StatusDND:
		return protocol.PresenceInfo{Status: protocol.StatusDND, Text: x.text}
	case x.calls > 0:
		return protocol.PresenceInfo{Status: protocol.StatusInCall, Text: x.text}
	case x.set == protocol.StatusBusy || x.set == protocol.StatusAway:
		return protocol.PresenceInfo{Status: x.set, Text: x.text}
	case p.s.hub.allIdle(user):
		return protocol.PresenceInfo{Status: protocol.StatusAway, Text: x.text}
	}
	return protocol.PresenceInfo{Status: protocol.StatusAvailable, Text: x.text}
}

// snapshot is the presence of user's contacts, for the ready message.
func (p *presence) snapshot(user string) map[string]protocol.PresenceInfo {
	out := map[string]protocol.PresenceInfo{}
	if p.s.cfg.PresenceOff {
		return out
	}
	var contacts []string
	p.eachContact(user, func(c string) { contacts = append(contacts, c) })
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range append(contacts, user) {
		if _, done := out[c]; !done {
			out[c] = p.infoLocked(c)
		}
	}
	return out
}

func (p *presence) loop() {
	t := time.NewTicker(p.s.cfg.PresenceInterval)
	defer t.Stop()
	for {
		select {
		case <-p.s.stop:
			return
		case <-t.C:
			p.flush()
		}
	}
}

// flush sends what changed since the last flush.
func (p *presence) flush() {
	p.mu.Lock()
	now := p.s.cfg.Now()
	for u, x := range p.people {
		// The grace period of someone who left ran out: they are offline now.
		if x.devices == 0 && !x.goneAt.IsZero() && now.Sub(x.goneAt) >= p.s.cfg.OfflineGrace && x.last.Status != protocol.StatusOffline {
			p.dirty[u] = struct{}{}
		}
	}
	changed := map[string]protocol.PresenceInfo{}
	for u := range p.dirty {
		x := p.people[u]
		info := p.infoLocked(u)
		if x != nil && info != x.last {
			x.last = info
			changed[u] = info
		}
		// Forget people who are offline and chose nothing.
		if x != nil && info.Status == protocol.StatusOffline && x.set == "" && x.calls == 0 {
			delete(p.people, u)
		}
	}
	clear(p.dirty)
	p.mu.Unlock()
	if len(changed) == 0 || p.s.cfg.PresenceOff {
		return
	}
	batches := map[string]map[string]protocol.PresenceInfo{}
	for u, info := range changed {
		add := func(c string) {
			if !p.s.hub.online(c) {
				return
			}
			if batches[c] == nil {
				batches[c] = map[string]protocol.PresenceInfo{}
			}
			batches[c][u] = info
		}
		p.eachContact(u, add)
		add(u)
	}
	for c, users := range batches {
		p.s.hub.toUser(c, protocol.Encode(&protocol.PresenceMsg{Users: users}))
	}
}
