package sfu

import (
	"math"
	"sync/atomic"
	"time"
)

// audioLevelTau is the time constant of the audio level smoothing.
const audioLevelTau = 300 * time.Millisecond

// audioLevel smooths RFC 6464 levels (0..127 -dBov) into a linear amplitude
// 0..1 (10^(-dBov/20): 0 dBov is 1, -20 dBov is 0.1, silence about 0). The
// read loop of the audio layer is the only writer; AudioLevel readers decay
// the last value by the time since it was written, so a publisher that stops
// sending fades to 0.
type audioLevel struct {
	bits atomic.Uint64 // math.Float64bits of the smoothed level
	at   atomic.Int64  // monotonic ns of the last update, 0 = never

	// owned by the writer
	value float64
	last  int64
}

// update feeds one packet's level at time now.
func (a *audioLevel) update(dBov uint8, now int64) {
	amp := math.Pow(10, -float64(dBov&0x7f)/20)
	if a.last == 0 {
		a.value = amp
	} else {
		dt := float64(now - a.last)
		if dt < 0 {
			dt = 0
		}
		alpha := 1 - math.Exp(-dt/float64(audioLevelTau))
		a.value += alpha * (amp - a.value)
	}
	a.last = now
	a.bits.Store(math.Float64bits(a.value))
	a.at.Store(now)
}

// level returns the smoothed level at time now.
func (a *audioLevel) level(now int64) float64 {
	at := a.at.Load()
	if at == 0 {
		return 0
	}
	v := math.Float64frombits(a.bits.Load())
	if dt := now - at; dt > 0 {
		v *= math.Exp(-float64(dt) / float64(audioLevelTau))
	}
	return v
}
