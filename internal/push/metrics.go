package push

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics count what happened to notifications, per subscription sent to.
// Plain atomics, exported to Prometheus as counter functions.
type metrics struct {
	sent    atomic.Uint64
	failed  atomic.Uint64
	removed atomic.Uint64
	dropped atomic.Uint64
	retries atomic.Uint64
}

// register exports the counters on reg.
func (m *metrics) register(reg *prometheus.Registry) error {
	c := func(name, help string, v *atomic.Uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "switchboard_push_" + name, Help: help},
			func() float64 { return float64(v.Load()) })
	}
	for _, col := range []prometheus.Collector{
		c("sent_total", "Web Push messages accepted by a push service.", &m.sent),
		c("failed_total", "Web Push messages given up on: rejected, retries exhausted or expired.", &m.failed),
		c("subscriptions_removed_total", "Push subscriptions removed because the push service said they are gone (404/410).", &m.removed),
		c("dropped_total", "Notifications or sends dropped because the push queue was full.", &m.dropped),
		c("retries_total", "Web Push sends retried after 429, 5xx or a network error.", &m.retries),
	} {
		if err := reg.Register(col); err != nil {
			return err
		}
	}
	return nil
}
