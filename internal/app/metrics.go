package app

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"switchboard/internal/rtc"
	"switchboard/internal/sfu"
)

// metrics are the Prometheus series the server exports, on a registry of its own (no globals, so
// tests can run many servers in one process).
type metrics struct {
	reg              *prometheus.Registry
	rooms            prometheus.Gauge
	participants     prometheus.Gauge
	tracks           prometheus.Gauge
	turnAllocations  prometheus.Gauge
	signallingErrors *prometheus.CounterVec
}

func newMetrics(media *sfu.Metrics) *metrics {
	m := &metrics{
		reg:              prometheus.NewRegistry(),
		rooms:            prometheus.NewGauge(prometheus.GaugeOpts{Name: "switchboard_rooms", Help: "Live rooms."}),
		participants:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "switchboard_participants", Help: "Participants in live rooms."}),
		tracks:           prometheus.NewGauge(prometheus.GaugeOpts{Name: "switchboard_tracks", Help: "Published tracks."}),
		turnAllocations:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "switchboard_turn_allocations", Help: "Live TURN allocations on the embedded server."}),
		signallingErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_signalling_errors_total", Help: "Error replies sent to signalling clients, by code."}, []string{"code"}),
	}
	counter := func(name, help string, read func() uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(read()) })
	}
	m.reg.MustRegister(m.rooms, m.participants, m.tracks, m.turnAllocations, m.signallingErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		counter("switchboard_forwarded_packets_total", "RTP packets forwarded to subscribers.", media.ForwardedPackets.Load),
		counter("switchboard_forwarded_bytes_total", "RTP payload bytes forwarded to subscribers.", media.ForwardedBytes.Load),
		counter("switchboard_nacks_total", "Packets subscribers asked to retransmit (NACK).", media.NACKsReceived.Load),
		counter("switchboard_retransmitted_packets_total", "Packets resent from the packet cache.", media.Retransmitted.Load),
		counter("switchboard_nack_cache_misses_total", "NACKed packets no longer in the packet cache.", media.CacheMisses.Load),
		counter("switchboard_plis_total", "Keyframe requests sent to publishers.", media.PLIsSent.Load),
		counter("switchboard_keyframes_replayed_total", "Subscribers started from a cached keyframe instead of a keyframe request.", media.KeyframesReplayed.Load),
	)
	return m
}

// fastPath exports the media socket's fast path counters (rtc.Engine.FastStats).
func (m *metrics) fastPath(stats func() rtc.FastStats) {
	counter := func(name, help string, read func(rtc.FastStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(read(stats())) })
	}
	m.reg.MustRegister(
		counter("switchboard_fast_path_in_packets_total", "RTP packets from publishers decrypted on the media socket's fast path.", func(s rtc.FastStats) uint64 { return s.In }),
		counter("switchboard_fast_path_out_packets_total", "RTP packets to subscribers encrypted and sent on the fast path.", func(s rtc.FastStats) uint64 { return s.Out }),
		counter("switchboard_fast_path_fallback_packets_total", "Packets for the fast path that failed to decrypt and were left to pion.", func(s rtc.FastStats) uint64 { return s.Fallback }),
		counter("switchboard_fast_path_rtcp_in_packets_total", "RTCP packets from subscribers decrypted on the fast path.", func(s rtc.FastStats) uint64 { return s.RTCPIn }),
		counter("switchboard_fast_path_dropped_packets_total", "Packets that failed to decrypt under proven keys (replays, forgeries), dropped.", func(s rtc.FastStats) uint64 { return s.Dropped }),
	)
}

func gaugeAdd(g prometheus.Gauge) func(int) { return func(d int) { g.Add(float64(d)) } }
