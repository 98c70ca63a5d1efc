package peer

import (
	"time"

	"github.com/pion/webrtc/v4"
)

// Connection quality, as shown next to each participant.
const (
	QualityGood = "good"
	QualityFair = "fair"
	QualityPoor = "poor"
)

// qualityEvery is how often a peer re-scores its connection.
const qualityEvery = 2 * time.Second

// Quality is the participant's latest connection score; safe to call from any goroutine.
func (p *Peer) Quality() string {
	if q := p.quality.Load(); q != nil {
		return *q
	}
	return QualityGood
}

// updateQuality scores the connection from what the subscriber reports losing (RTCP receiver reports
// for every track it receives) and the ICE round-trip time of both connections. Runs in the loop.
func (p *Peer) updateQuality() {
	var loss float64
	for _, s := range p.subscriptions {
		loss = max(loss, s.dt.Loss())
	}
	var rtt float64
	for _, pc := range []*webrtc.PeerConnection{p.pub, p.sub} {
		switch pc.ICEConnectionState() {
		case webrtc.ICEConnectionStateDisconnected, webrtc.ICEConnectionStateFailed:
			loss = 1
		case webrtc.ICEConnectionStateClosed, webrtc.ICEConnectionStateNew:
			continue // no pair to ask about (pion logs an error when asked)
		}
		// The selected pair's stats straight from the ICE transport: pion's
		// GetStats reads a field that a concurrent close writes without a
		// lock (a data race when the browser leaves).
		if cp, ok := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePairStats(); ok {
			rtt = max(rtt, cp.CurrentRoundTripTime)
		}
	}
	q := scoreQuality(loss, rtt)
	p.quality.Store(&q)
}

// scoreQuality maps loss (0..1) and round-trip time (seconds) to a score. Audio stays intelligible up
// to a few percent of loss; video freezes well before 10%.
func scoreQuality(loss, rtt float64) string {
	switch {
	case loss > 0.10 || rtt > 0.5:
		return QualityPoor
	case loss > 0.03 || rtt > 0.25:
		return QualityFair
	}
	return QualityGood
}
