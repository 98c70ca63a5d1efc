package sip

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// SIP ports on the internet are scanned all day by tools that try usernames
// and passwords. The guard answers that in three ways, all in memory:
//
//   - every source address gets a token bucket of messages; what exceeds it
//     is dropped before parsing, so a flood from one place cannot starve the
//     others;
//   - failed authentications are counted per source; too many within the
//     window block the source for BlockTime, and a blocked source is dropped
//     without an answer (an answer would confirm there is a server here);
//   - failed authentications are also counted per username, from any source;
//     too many lock the username for UserLockTime, against guessing spread
//     over many addresses.
//
// An IPv6 source counts by its /64, which one client usually holds whole.

// maxTracked bounds the sources and the usernames remembered. Past it new
// ones are not tracked (rate limits fail open) until a sweep frees room, so
// a flood of spoofed addresses costs bounded memory.
const (
	maxSources = 100_000
	maxUsers   = 10_000
)

type guard struct {
	rps          int
	ipFailures   int
	userFailures int
	window       time.Duration
	blockTime    time.Duration
	userLockTime time.Duration
	metrics      *Metrics

	maxConns int

	mu      sync.Mutex
	conns   map[netip.Addr]int // open stream connections per source
	sources map[netip.Addr]*source
	users   map[string]*userState
	swept   time.Time
}

type source struct {
	msgs         *rate.Limiter
	fails        *rate.Limiter
	blockedUntil time.Time
	seen         time.Time
}

type userState struct {
	fails       *rate.Limiter
	lockedUntil time.Time
	seen        time.Time
}

func newGuard(c *Config) *guard {
	return &guard{
		rps:          c.RequestsPerSecond,
		ipFailures:   c.AuthFailuresPerIP,
		userFailures: c.AuthFailuresPerUser,
		window:       c.FailureWindow,
		blockTime:    c.BlockTime,
		userLockTime: c.UserLockTime,
		metrics:      c.Metrics,
		maxConns:     c.MaxConnsPerSource,
		conns:        map[netip.Addr]int{},
		sources:      map[netip.Addr]*source{},
		users:        map[string]*userState{},
	}
}

// sourceKey is the address a source's state is kept under.
func sourceKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return a
}

// addrIP returns the IP of a net.Addr from a listener or connection.
func addrIP(a net.Addr) (netip.Addr, bool) {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		return ip.Unmap(), ok
	case *net.TCPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		return ip.Unmap(), ok
	case nil:
		return netip.Addr{}, false
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// sweep forgets state that no longer matters; called with mu held.
func (g *guard) sweep(now time.Time) {
	if now.Sub(g.swept) < 30*time.Second && len(g.sources) < maxSources && len(g.users) < maxUsers {
		return
	}
	g.swept = now
	// An idle bucket is full again after this long, so forgetting it changes nothing.
	idle := max(g.window, 2*time.Second)
	for k, s := range g.sources {
		if now.Sub(s.seen) > idle && !s.blockedUntil.After(now) {
			delete(g.sources, k)
		}
	}
	for k, u := range g.users {
		if now.Sub(u.seen) > idle && !u.lockedUntil.After(now) {
			delete(g.users, k)
		}
	}
}

// sourceLocked returns the state of ip, creating it if there is room; nil
// when there is none. Called with mu held.
func (g *guard) sourceLocked(ip netip.Addr, now time.Time) *source {
	k := sourceKey(ip)
	s, ok := g.sources[k]
	if !ok {
		g.sweep(now)
		if len(g.sources) >= maxSources {
			return nil
		}
		s = &source{
			msgs:  rate.NewLimiter(rate.Limit(g.rps), 2*g.rps),
			fails: rate.NewLimiter(rate.Every(g.window/time.Duration(g.ipFailures)), g.ipFailures),
		}
		g.sources[k] = s
	}
	s.seen = now
	return s
}

// admit reports whether a message from ip may be processed: the source is
// not blocked and has a token left.
func (g *guard) admit(ip netip.Addr, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.sourceLocked(ip, now)
	if s == nil {
		return true
	}
	if s.blockedUntil.After(now) {
		return false
	}
	return s.msgs.AllowN(now, 1)
}

// blocked reports whether ip is blocked now.
func (g *guard) blocked(ip netip.Addr, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.sources[sourceKey(ip)]
	return ok && s.blockedUntil.After(now)
}

// userLocked reports whether username is locked now.
func (g *guard) userLocked(username string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	u, ok := g.users[username]
	return ok && u.lockedUntil.After(now)
}

// authFailed records a failed authentication from ip for username ("" when
// none could be read) and reports whether it blocked the source or locked
// the username just now.
func (g *guard) authFailed(ip netip.Addr, username string, now time.Time) (blockedNow, lockedNow bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s := g.sourceLocked(ip, now); s != nil && !s.blockedUntil.After(now) && !s.fails.AllowN(now, 1) {
		s.blockedUntil = now.Add(g.blockTime)
		blockedNow = true
		g.metrics.SourcesBlocked.Add(1)
	}
	if username == "" {
		return blockedNow, false
	}
	u, ok := g.users[username]
	if !ok {
		g.sweep(now)
		if len(g.users) >= maxUsers {
			return blockedNow, false
		}
		u = &userState{fails: rate.NewLimiter(rate.Every(g.window/time.Duration(g.userFailures)), g.userFailures)}
		g.users[username] = u
	}
	u.seen = now
	if !u.lockedUntil.After(now) && !u.fails.AllowN(now, 1) {
		u.lockedUntil = now.Add(g.userLockTime)
		lockedNow = true
		g.metrics.UsersLocked.Add(1)
	}
	return blockedNow, lockedNow
}

// unblock lifts a block on ip (an admin's action, or a test's).
func (g *guard) unblock(ip netip.Addr) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.sources, sourceKey(ip))
}

// connOpened counts a new stream connection from ip and reports whether it
// may stay open; every true must be matched by connClosed.
func (g *guard) connOpened(ip netip.Addr) bool {
	k := sourceKey(ip)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.conns[k] >= g.maxConns {
		return false
	}
	g.conns[k]++
	return true
}

func (g *guard) connClosed(ip netip.Addr) {
	k := sourceKey(ip)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.conns[k] <= 1 {
		delete(g.conns, k)
	} else {
		g.conns[k]--
	}
}
