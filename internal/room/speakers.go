package room

import (
	"slices"
	"time"

	"switchboard/internal/protocol"
)

// speakingLevel is the smoothed audio level above which a participant counts as speaking. The level
// is linear in amplitude (0..1); 0.05 is about -26 dBov, above room noise and below normal speech.
const speakingLevel = 0.05

// speakerLoop announces who is speaking, loudest first, at most twice a second and only on change.
func (r *Room) speakerLoop() {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-r.done:
			return
		case <-tick.C:
			r.updateSpeakers()
		}
	}
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
