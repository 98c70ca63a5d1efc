package app

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/internal/audio"
	"switchboard/internal/config"
	"switchboard/internal/room"
	"switchboard/internal/sip"
	"switchboard/internal/sip/bridge"
)

// Phones in meetings (docs/architecture.md, "Phones in meetings"): a phone
// dials the conference extension and keys a meeting's PIN, or a host rings
// a phone from the meeting. Either way the phone is a bridge.Conference in
// the room, transcoding between its G.711 and the meeting's Opus.

// phoneStats is the state of phones in meetings: counters for the metrics,
// and the wrong-PIN guard.
type phoneStats struct {
	bridge.ConferenceStats
	pins    pinGuard
	dialing dialOutLimit // phones hosts called into meetings (sip_conference_dialout.go)
}

// pinGuard limits wrong PINs per caller: a PIN is a short secret, and three
// tries per call would otherwise allow guessing by calling again and again.
// Callers are told apart by their SIP account (calls without one share a
// bucket).
type pinGuard struct {
	mu    sync.Mutex
	fails map[string][]time.Time // wrong PINs within pinFailWindow, oldest first
	now   func() time.Time       // nil: time.Now
}

const (
	pinFailLimit  = 10 // wrong PINs ...
	pinFailWindow = 15 * time.Minute
)

func (g *pinGuard) clock() time.Time {
	if g.now != nil {
		return g.now()
	}
	return time.Now()
}

// recent drops failures older than the window and returns the rest; mu held.
func (g *pinGuard) recentLocked(who string) []time.Time {
	cut := g.clock().Add(-pinFailWindow)
	list := g.fails[who]
	for len(list) > 0 && list[0].Before(cut) {
		list = list[1:]
	}
	if len(list) == 0 {
		delete(g.fails, who)
		return nil
	}
	g.fails[who] = list
	return list
}

// blocked reports whether who got the PIN wrong too often lately.
func (g *pinGuard) blocked(who string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.recentLocked(who)) >= pinFailLimit
}

// failed notes a wrong PIN from who and reports whether who is now blocked.
func (g *pinGuard) failed(who string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fails == nil {
		g.fails = map[string][]time.Time{}
	}
	list := append(g.recentLocked(who), g.clock())
	g.fails[who] = list
	return len(list) >= pinFailLimit
}

// Dial-in prompt limits.
const (
	pinTries      = 3
	pinDigitWait  = 10 * time.Second
	dialOutRingTO = 60 * time.Second
)

// dialInExtension is the extension meetings show for dial-in: set when SIP
// is on with a conference extension in a build with Opus ("" hides the
// PINs: they could not work).
func dialInExtension(cfg config.Config) string {
	if !cfg.SIP.Enabled || !audio.OpusAvailable {
		return ""
	}
	return cfg.SIP.ConferenceExtension
}

// routeConference answers a call to the conference extension, asks for a
// meeting PIN by keypad (RFC 4733 telephone-events; '#' ends it, '*'
// starts over), and puts the phone into that meeting.
func (a *App) routeConference(c *sip.Call) {
	log := a.log.With("call_from", c.From.Username, "to", c.Target)
	if !audio.OpusAvailable {
		log.Error("sip: conference call refused: meetings speak Opus and " + audio.ErrNoOpus.Error())
		c.Reject(503, "Service Unavailable")
		return
	}
	caller := "account:" + c.From.Username
	if c.Trunk != "" { // callers over a trunk are told apart by their number
		caller = "number:" + c.Trunk + ":" + c.CallerNumber
	}
	if a.phones.pins.blocked(caller) {
		log.Info("sip: conference call refused: too many wrong meeting PINs from this caller lately", "window", pinFailWindow)
		c.Reject(403, "Forbidden")
		return
	}
	if !c.Offer.HasDTMF && !c.Offer.WebRTC {
		// Without telephone-events the caller cannot key a PIN (browser
		// SIP clients key it by SIP INFO).
		log.Info("sip: conference call refused: the phone offers no RFC 4733 telephone-event for keying the PIN")
		c.Reject(488, "Not Acceptable Here")
		return
	}
	media, err := a.answerSIP(c) // a browser SIP client's media is a peer connection of ours
	if err != nil {
		log.Info("sip: conference call could not be answered", "err", err)
		return
	}
	dtmf := int(c.Offer.DTMF)
	if c.Offer.WebRTC {
		dtmf = -1 // its answer carries the codec alone; keys come by SIP INFO
	}
	conf, err := bridge.NewConference(media, c.Codec, dtmf, bridge.ConferenceOptions{
		Metrics: a.media, Stats: &a.phones.ConferenceStats, Logger: a.log, OnClose: func(string) { c.Hangup() }})
	if err != nil {
		log.Error("sip: conference call", "err", err)
		c.Hangup()
		return
	}
	defer conf.Leave("hangup")
	keys := make(chan byte, 32)
	conf.OnKey(func(e sip.DTMFEvent) {
		select {
		case keys <- e.Digit:
		default: // a flood of keys: the PIN will be wrong anyway
		}
	})
	r, ok := a.collectPIN(conf, keys, c.Done(), caller, log)
	if !ok {
		c.Hangup()
		return
	}
	name := firstNonEmpty(c.From.DisplayName, c.From.Username, "Phone")
	if c.Trunk != "" {
		name = firstNonEmpty(c.CallerName, c.CallerNumber, "Phone")
	}
	if err := conf.Join(r, name, false); err != nil { // a locked meeting refuses, a lobby waits
		log.Info("sip: the phone could not join the meeting", "room", r.ID(), "err", err)
		wait(conf.Play(bridge.ErrorTone), c.Done())
		c.Hangup()
		return
	}
	conf.Play(bridge.JoinTone)
	log.Info("sip: phone dialled into a meeting", "room", r.ID(), "participant", conf.ID())
	<-c.Done()
}

// collectPIN plays the prompt and reads a PIN, up to pinTries times; it
// returns the meeting, or false when the caller hung up or never got it
// right (they are told with the error tone).
func (a *App) collectPIN(conf *bridge.Conference, keys <-chan byte, done <-chan struct{}, caller string, log *slog.Logger) (*room.Room, bool) {
	for try := 1; try <= pinTries; try++ {
		conf.Play(bridge.PromptTone)
		pin, ok := readPIN(keys, done)
		if ok {
			if r, found := a.registry.ByPIN(pin); found {
				return r, true
			}
		}
		select {
		case <-done:
			return nil, false
		default:
		}
		// The PIN is a meeting's key: not logged.
		log.Info("sip: wrong or no meeting PIN keyed", "try", try, "digits", len(pin))
		if a.phones.pins.failed(caller) {
			log.Warn("sip: too many wrong meeting PINs from this caller: refusing its dial-in calls for a while",
				"window", pinFailWindow)
			wait(conf.Play(bridge.ErrorTone), done)
			return nil, false
		}
		wait(conf.Play(bridge.ErrorTone), done)
	}
	return nil, false
}

// readPIN reads digits until '#' ('*' starts over). It fails when a digit
// takes longer than pinDigitWait, the PIN grows too long, or the call ends.
func readPIN(keys <-chan byte, done <-chan struct{}) (string, bool) {
	var pin []byte
	timer := time.NewTimer(pinDigitWait)
	defer timer.Stop()
	for {
		select {
		case <-done:
			return string(pin), false
		case <-timer.C:
			return string(pin), false
		case k := <-keys:
			timer.Reset(pinDigitWait)
			switch {
			case k == '#':
				return string(pin), len(pin) == room.PINDigits
			case k == '*':
				pin = pin[:0]
			case k >= '0' && k <= '9':
				pin = append(pin, k)
				if len(pin) > room.PINDigits {
					return string(pin), false
				}
			}
		}
	}
}

// wait sleeps for d unless done closes first.
func wait(d time.Duration, done <-chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-done:
	}
}

// registerConferenceMetrics exports what phones in meetings do.
func (a *App) registerConferenceMetrics() {
	gauge := func(name, help string, read func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, read)
	}
	counter := func(name, help string, v *atomic.Uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
	}
	s := &a.phones.ConferenceStats
	a.metrics.reg.MustRegister(
		gauge("switchboard_sip_transcoding_sessions", "Phones in Opus meetings now (each transcodes Opus and G.711 both ways).",
			func() float64 { return float64(s.Sessions.Load()) }),
		counter("switchboard_sip_conference_frames_to_phone_total", "20 ms G.711 frames of meeting audio sent to phones.", &s.FramesToPhone),
		counter("switchboard_sip_conference_voiced_frames_to_phone_total",
			"Frames sent to phones with sound in them (louder than -60 dBov).", &s.VoicedToPhone),
		counter("switchboard_sip_conference_frames_to_room_total", "20 ms Opus frames of phones' voices published in meetings.",
			&s.FramesToRoom),
	)
}

// MeetingPIN is the dial-in PIN of a live meeting ("" when it has none or
// is not live), for tests and tools that dial in.
func (a *App) MeetingPIN(roomID string) string {
	if r, ok := a.registry.Get(roomID); ok {
		return r.PIN()
	}
	return ""
}
