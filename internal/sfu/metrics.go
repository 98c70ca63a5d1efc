package sfu

import (
	"sync/atomic"
	"time"
)

// Metrics are counters the application exports (for example as Prometheus
// CounterFuncs reading Load()). One Metrics is normally shared by all tracks
// of a server. The read loops add once per incoming packet, not per
// subscriber, so sharing it costs little.
type Metrics struct {
	ForwardedPackets atomic.Uint64 // RTP packets written to subscribers (not counting retransmissions)
	ForwardedBytes   atomic.Uint64 // payload + header bytes of those packets
	NACKsReceived    atomic.Uint64 // sequence numbers subscribers asked to retransmit
	Retransmitted    atomic.Uint64 // packets resent from the packet cache
	CacheMisses      atomic.Uint64 // NACKed packets no longer (or never) in the cache
	PLIsSent         atomic.Uint64 // keyframe requests sent to publishers (after throttling)
	// KeyframesReplayed counts subscribers started from a cached keyframe
	// instead of a keyframe request.
	KeyframesReplayed atomic.Uint64
}

// keyframeThrottle lets at most one keyframe request through per interval.
// It is lock-free: the read loops and RTCP loops of many subscribers call it.
type keyframeThrottle struct {
	last atomic.Int64 // monotonic ns of the last request let through, 0 = never
}

// allow reports whether a request at time now (monotonic ns, > 0) may go out,
// and records it if so.
func (k *keyframeThrottle) allow(now int64, interval time.Duration) bool {
	for {
		last := k.last.Load()
		if last != 0 && now-last < int64(interval) {
			return false
		}
		if k.last.CompareAndSwap(last, now) {
			return true
		}
	}
}
