package sip

import (
	"slices"
	"sync"
	"time"
)

// Binding is one registered contact of an account: where to send a request
// for that account. Bindings live in memory only; phones re-register every
// few minutes, so after a restart the table fills again by itself.
type Binding struct {
	Username string // the account (user part of the address of record)
	// Contact is the URI the phone registered (e.g. sip:100@192.168.1.20:5060).
	// Behind NAT it names an address nobody can reach; use Source instead.
	Contact string
	// Transport is how the REGISTER arrived: UDP, TCP, TLS or WS. Requests to
	// the phone go back the same way, over the same connection when the
	// transport has connections (a phone behind NAT or a browser cannot
	// accept new ones).
	Transport string
	// Source is the address the REGISTER came from, host:port: the NAT's
	// public side for a phone behind one.
	Source string
	// Local is our address the REGISTER arrived at.
	Local     string
	CallID    string
	CSeq      uint32
	UserAgent string
	Expires   time.Time
	Updated   time.Time
}

// location is the registrar's table: account -> bindings.
type location struct {
	mu       sync.Mutex
	bindings map[string][]Binding
}

func newLocation() *location { return &location{bindings: map[string][]Binding{}} }

// live returns the unexpired bindings of username, dropping expired ones.
// Called with mu held.
func (l *location) liveLocked(username string, now time.Time) []Binding {
	bs := slices.DeleteFunc(l.bindings[username], func(b Binding) bool { return !b.Expires.After(now) })
	if len(bs) == 0 {
		delete(l.bindings, username)
		return nil
	}
	l.bindings[username] = bs
	return bs
}

// lookup returns a copy of username's live bindings, newest first.
func (l *location) lookup(username string, now time.Time) []Binding {
	l.mu.Lock()
	defer l.mu.Unlock()
	bs := slices.Clone(l.liveLocked(username, now))
	slices.SortStableFunc(bs, func(a, b Binding) int { return b.Updated.Compare(a.Updated) })
	return bs
}

// count returns the number of live bindings of every account.
func (l *location) count(now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for u := range l.bindings {
		n += len(l.liveLocked(u, now))
	}
	return n
}

// usernames lists the accounts with live bindings.
func (l *location) usernames(now time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for u := range l.bindings {
		if len(l.liveLocked(u, now)) > 0 {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out
}

// sweep drops expired bindings of every account.
func (l *location) sweep(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for u := range l.bindings {
		l.liveLocked(u, now)
	}
}

// remove drops every binding of username.
func (l *location) remove(username string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.bindings[username])
	delete(l.bindings, username)
	return n
}

// update is one REGISTER's change to an account's bindings.
type update struct {
	username string
	callID   string
	cseq     uint32
	wildcard bool      // Contact: * (remove all)
	contacts []Binding // with Expires zero to remove that contact
	max      int
}

type updateResult int

const (
	updated updateResult = iota
	outOfOrder
	tooMany
)

// apply applies u atomically, following RFC 3261 section 10.3 steps 6-8: a
// request older than what was applied for the same Call-ID is refused (a
// retransmission reordered by the network must not undo a newer one).
func (l *location) apply(u update, now time.Time) ([]Binding, updateResult) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := l.liveLocked(u.username, now)
	if u.wildcard {
		for _, b := range cur {
			if b.CallID == u.callID && u.cseq <= b.CSeq {
				return slices.Clone(cur), outOfOrder
			}
		}
		delete(l.bindings, u.username)
		return nil, updated
	}
	next := slices.Clone(cur)
	for _, c := range u.contacts {
		i := slices.IndexFunc(next, func(b Binding) bool { return sameContact(b.Contact, c.Contact) })
		if i >= 0 && next[i].CallID == u.callID && u.cseq <= next[i].CSeq {
			return slices.Clone(cur), outOfOrder
		}
		switch {
		case c.Expires.IsZero() && i >= 0:
			next = slices.Delete(next, i, i+1)
		case c.Expires.IsZero():
		case i >= 0:
			next[i] = c
		default:
			next = append(next, c)
		}
	}
	if len(next) > u.max {
		return slices.Clone(cur), tooMany
	}
	if len(next) == 0 {
		delete(l.bindings, u.username)
	} else {
		l.bindings[u.username] = next
	}
	return slices.Clone(next), updated
}
