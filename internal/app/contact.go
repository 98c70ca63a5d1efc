package app

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/internal/contact"
	"switchboard/internal/webhook"
)

// contactEvents counts customer-contact events (queued, offered, answered,
// abandoned, overflowed, ended, wrapup), and passes them on to the webhooks.
func (a *App) contactEvents() func(typ string, data any) {
	events := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_contact_events_total",
		Help: "Customer-contact events, by type (queued, offered, answered, abandoned, overflowed, ended, wrapup)."}, []string{"type"})
	for _, t := range contact.EventTypes {
		events.WithLabelValues(strings.TrimPrefix(t, "contact."))
	}
	a.metrics.reg.MustRegister(events, contactLive{a})
	return func(typ string, data any) {
		events.WithLabelValues(strings.TrimPrefix(typ, "contact.")).Inc()
		a.hooks.Publish(webhook.Event{Type: typ, Data: data})
	}
}

// contactLive exports the supervisor's live view: contacts per queue and
// state, agents per state.
type contactLive struct{ a *App }

var (
	contactQueueDesc = prometheus.NewDesc("switchboard_contact_contacts", "Open customer contacts, by queue and state.", []string{"queue", "state"}, nil)
	contactAgentDesc = prometheus.NewDesc("switchboard_contact_agents", "Agents of customer contact, by state.", []string{"state"}, nil)
)

func (c contactLive) Describe(ch chan<- *prometheus.Desc) {
	ch <- contactQueueDesc
	ch <- contactAgentDesc
}

func (c contactLive) Collect(ch chan<- prometheus.Metric) {
	if c.a.contact == nil {
		return
	}
	live := c.a.contact.Live()
	for _, q := range live.Queues {
		for state, n := range map[string]int{"waiting": q.Waiting, "offered": q.Offered, "in_progress": q.InProgress, "callback": q.Callbacks} {
			ch <- prometheus.MustNewConstMetric(contactQueueDesc, prometheus.GaugeValue, float64(n), q.ID, state)
		}
	}
	agents := map[string]int{"available": 0, "busy": 0, "paused": 0, "wrap_up": 0, "offline": 0}
	for _, ag := range live.Agents {
		agents[ag.State]++
	}
	for state, n := range agents {
		ch <- prometheus.MustNewConstMetric(contactAgentDesc, prometheus.GaugeValue, float64(n), state)
	}
}
