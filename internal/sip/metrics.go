package sip

import "sync/atomic"

// Metrics are counters the application exports (for example as Prometheus
// CounterFuncs reading Load()); Server.Bindings gives the gauge of current
// registrations. One Metrics may be shared by several servers.
type Metrics struct {
	Requests       atomic.Uint64 // requests that reached a handler
	Registrations  atomic.Uint64 // successful REGISTERs (new, refreshed or removed bindings)
	Challenges     atomic.Uint64 // 401 challenges sent (normal: every client is challenged first)
	AuthFailures   atomic.Uint64 // wrong, forged or malformed credentials, unknown or disabled accounts
	SourcesBlocked atomic.Uint64 // times a source address was blocked
	UsersLocked    atomic.Uint64 // times a username was locked after spread-out failures
	Dropped        atomic.Uint64 // messages dropped: blocked source, over the rate limit or too large
	CallAttempts   atomic.Uint64 // authenticated INVITEs from phones
	CallsAnswered  atomic.Uint64 // calls from phones answered
	RTPIn          atomic.Uint64 // RTP packets accepted from phones
	RTPOut         atomic.Uint64 // RTP packets sent to phones
	KeysIn         atomic.Uint64 // key presses (RFC 4733 events) from phones
	KeysOut        atomic.Uint64 // key presses sent to phones
}
