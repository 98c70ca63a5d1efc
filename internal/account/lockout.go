package account

import (
	"math"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Two defences against password guessing work together: a token bucket per
// client address limits how fast one machine can try, and a lock per account
// (kept in the store, so it survives restarts) limits how many guesses any
// number of machines can make against one person.

// lockFor is how long the n-th lockout (from 0) since the last successful
// sign-in lasts: LockTime, doubling each time, at most MaxLockTime.
func (s *Service) lockFor(n int) time.Duration {
	d := s.cfg.LockTime
	for i := 0; i < n && d < s.cfg.MaxLockTime && d <= math.MaxInt64/2; i++ {
		d *= 2
	}
	return min(d, s.cfg.MaxLockTime)
}

// ipLimiter keeps a token bucket per client address, forgetting idle ones.
type ipLimiter struct {
	perMinute int

	mu      sync.Mutex
	buckets map[string]*ipBucket
	swept   time.Time
}

type ipBucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newIPLimiter(perMinute int) *ipLimiter {
	return &ipLimiter{perMinute: perMinute, buckets: map[string]*ipBucket{}}
}

// limitKey is the address a bucket belongs to. An IPv6 client usually has a
// whole /64 to itself, so the /64 counts as one client; otherwise each of its
// 2^64 addresses would get a fresh bucket.
func limitKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Is4() || a.Is4In6() {
		return ip
	}
	p, err := a.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

// allow takes a token for ip at now. When there is none it returns false and
// how long until there will be.
func (l *ipLimiter) allow(ip string, now time.Time) (bool, time.Duration) {
	key := limitKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		for k, b := range l.buckets {
			// A bucket idle this long is full again: forgetting it changes nothing.
			if now.Sub(b.seen) > 2*time.Minute {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &ipBucket{lim: rate.NewLimiter(rate.Limit(float64(l.perMinute)/60), l.perMinute)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// ghostLocks applies the account lock policy to usernames that do not exist,
// in memory. Without it the sixth wrong guess would answer "locked" for real
// accounts and "wrong password" for made-up ones, telling an attacker which
// usernames exist.
type ghostLocks struct {
	mu    sync.Mutex
	names map[string]*ghost
}

type ghost struct {
	failed, lockouts int
	lockedUntil      time.Time
	seen             time.Time
}

// maxGhosts bounds memory. Past it, new unknown names are not tracked: an
// attacker spraying that many names learns little from the difference, and
// the per-address limit slows the spraying anyway.
const maxGhosts = 10000

func newGhostLocks() *ghostLocks { return &ghostLocks{names: map[string]*ghost{}} }

// locked returns until when name is locked, or zero.
func (g *ghostLocks) locked(name string, now time.Time) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e, ok := g.names[name]; ok && e.lockedUntil.After(now) {
		return e.lockedUntil
	}
	return time.Time{}
}

// fail counts a failure for name as the store does for real users, and
// returns the new lock time, or zero.
func (g *ghostLocks) fail(name string, now time.Time, maxFailures int, lockFor func(int) time.Duration) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	e, ok := g.names[name]
	if !ok {
		if len(g.names) >= maxGhosts {
			g.sweep(now)
		}
		if len(g.names) >= maxGhosts {
			return time.Time{}
		}
		e = &ghost{}
		g.names[name] = e
	}
	e.seen = now
	e.failed++
	if e.failed >= maxFailures {
		e.lockedUntil = now.Add(lockFor(e.lockouts))
		e.failed = 0
		e.lockouts++
		return e.lockedUntil
	}
	return time.Time{}
}

// sweep forgets names that are not locked and were not tried for a day (the
// store keeps a real user's lockout count until a successful sign-in, which
// a made-up name never has; a day is as long as the longest lock).
func (g *ghostLocks) sweep(now time.Time) {
	for k, e := range g.names {
		if !e.lockedUntil.After(now) && now.Sub(e.seen) > 24*time.Hour {
			delete(g.names, k)
		}
	}
}
