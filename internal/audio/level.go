package audio

import "math"

// Level is the RFC 6464 audio level of pcm: its RMS in -dBov, 0 (full
// scale) to 127 (silence, also for an empty frame).
func Level(pcm []int16) uint8 {
	if len(pcm) == 0 {
		return 127
	}
	var sum float64
	for _, s := range pcm {
		v := float64(s)
		sum += v * v
	}
	rms := math.Sqrt(sum/float64(len(pcm))) / 32768
	if rms <= 0 {
		return 127
	}
	db := -20 * math.Log10(rms)
	switch {
	case db < 0:
		return 0
	case db > 127:
		return 127
	}
	return uint8(math.Round(db))
}

// Energy is the mean square of pcm, normalised to full scale (0..1): a
// test's measure of "sound, not silence".
func Energy(pcm []int16) float64 {
	if len(pcm) == 0 {
		return 0
	}
	var sum float64
	for _, s := range pcm {
		v := float64(s) / 32768
		sum += v * v
	}
	return sum / float64(len(pcm))
}

// Tone appends n samples of a sine wave of freq Hz at rate, with peak
// amplitude amp (0..1), starting at sample offset start (so that
// consecutive calls continue one wave).
func Tone(dst []int16, freq float64, rate, start, n int, amp float64) []int16 {
	for i := range n {
		v := amp * 32767 * math.Sin(2*math.Pi*freq*float64(start+i)/float64(rate))
		dst = append(dst, int16(v))
	}
	return dst
}
