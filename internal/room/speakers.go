package room

import (
	"maps"
	"slices"
	"time"

	"switchboard/internal/protocol"
)

// speakingLevel is the smoothed audio level above which a participant counts as speaking. The level
// is linear in amplitude (0..1); 0.05 is about -26 dBov, above room noise and below normal speech.
const speakingLevel = 0.05

// speakerLoop announces who is speaking, loudest first, at most twice a second and only on change,
// and everyone's connection quality every few seconds, also only on change.
func (r *Room) speakerLoop() {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-r.done:
			return
		case <-tick.C:
			r.updateSpeakers()
			if n%6 == 0 {
				r.updateQuality()
			}
		}
	}
}

// qualityReporter is implemented by participants that can score their connection.
type qualityReporter interface{ Quality() string }

func (r *Room) updateQuality() {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := make(map[string]string, len(r.members))
	for id, m := range r.members {
		if qr, ok := m.p.(qualityReporter); ok {
			q[id] = qr.Quality()
		}
	}
	if maps.Equal(q, r.quality) {
		return
	}
	r.quality = q
	r.broadcastLocked(&protocol.Quality{Participants: q}, "")
}

func (r *Room) updateSpeakers() {
	r.mu.Lock()
	defer r.mu.Unlock()
	type level struct {
		pid string
		lvl float64
	}
	var levels []level
	for _, t := range r.tracks {
		if t.info.Kind != "audio" || t.info.Muted || t.Media == nil {
			continue
		}
		if l := t.Media.AudioLevel(); l >= speakingLevel {
			levels = append(levels, level{t.info.Participant, l})
		}
	}
	slices.SortFunc(levels, func(a, b level) int {
		switch {
		case a.lvl > b.lvl:
			return -1
		case a.lvl < b.lvl:
			return 1
		}
		return compareStrings(a.pid, b.pid)
	})
	ids := make([]string, 0, len(levels))
	for _, l := range levels {
		if !slices.Contains(ids, l.pid) {
			ids = append(ids, l.pid)
		}
	}
	if slices.Equal(ids, r.speakers) {
		return
	}
	r.speakers = ids
	r.broadcastLocked(&protocol.Speakers{Participants: ids}, "")
}
