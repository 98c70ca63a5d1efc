package webhook

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics count deliveries. Plain atomics, exported to Prometheus as counter
// functions.
type metrics struct {
	delivered atomic.Uint64
	failed    atomic.Uint64
	retries   atomic.Uint64
	dropped   atomic.Uint64
}

// register exports the counters on reg.
func (m *metrics) register(reg *prometheus.Registry) error {
	c := func(name, help string, v *atomic.Uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "switchboard_webhook_" + name, Help: help},
			func() float64 { return float64(v.Load()) })
	}
	for _, col := range []prometheus.Collector{
		c("delivered_total", "Webhook deliveries answered with 2xx.", &m.delivered),
		c("failed_total", "Webhook deliveries given up on after their last attempt, or refused.", &m.failed),
		c("retries_total", "Webhook delivery attempts that failed and were scheduled again.", &m.retries),
		c("dropped_total", "Webhook deliveries dropped because the queue was full.", &m.dropped),
	} {
		if err := reg.Register(col); err != nil {
			return err
		}
	}
	return nil
}
