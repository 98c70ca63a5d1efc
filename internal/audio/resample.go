package audio

import (
	"fmt"
	"math"
)

// The resampler is a polyphase FIR: one windowed-sinc low-pass filter
// (Blackman window, cut-off 3.6 kHz, so G.711's band passes and what would
// alias above 4 kHz is attenuated), applied at 48 kHz. Going up, the 8 kHz
// input is zero-stuffed by 6 and filtered: only one tap in six meets a
// non-zero sample, so each output sample costs taps/6 multiplications.
// Going down, the filter runs only at the output samples we keep.
const (
	resampleTaps   = 192 // 32 per phase
	resampleCutoff = 3600.0
)

// lowpass is the prototype filter, normalised to unit gain at DC.
var lowpass = func() []float32 {
	h := make([]float64, resampleTaps)
	var sum float64
	mid := float64(resampleTaps-1) / 2
	fc := resampleCutoff / Rate
	for i := range h {
		x := float64(i) - mid
		sinc := 2 * fc
		if x != 0 {
			sinc = math.Sin(2*math.Pi*fc*x) / (math.Pi * x)
		}
		w := 0.42 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(resampleTaps-1)) +
			0.08*math.Cos(4*math.Pi*float64(i)/float64(resampleTaps-1))
		h[i] = sinc * w
		sum += h[i]
	}
	out := make([]float32, resampleTaps)
	for i := range h {
		out[i] = float32(h[i] / sum)
	}
	return out
}()

// Upsampler converts 8 kHz to 48 kHz, keeping the filter's history from
// one call to the next so that a stream of frames is one signal.
type Upsampler struct {
	hist []float32 // the last taps/6 - 1 input samples, then the new ones
	// phases[p][k] is tap p + 6k, times 6 (zero-stuffing lost that gain).
	phases [ratio][resampleTaps / ratio]float32
}

// NewUpsampler returns an 8 kHz to 48 kHz resampler.
func NewUpsampler() *Upsampler {
	u := &Upsampler{hist: make([]float32, resampleTaps/ratio-1, 2*PhoneFrameSamples)}
	for p := range ratio {
		for k := range resampleTaps / ratio {
			u.phases[p][k] = ratio * lowpass[p+ratio*k]
		}
	}
	return u
}

// Process appends six output samples per input sample to dst.
func (u *Upsampler) Process(dst []int16, src []int16) []int16 {
	const k = resampleTaps / ratio
	for _, s := range src {
		u.hist = append(u.hist, float32(s))
	}
	buf := u.hist
	for n := k - 1; n < len(buf); n++ {
		for p := range ratio {
			h := &u.phases[p]
			var acc float32
			for j := range k {
				acc += h[j] * buf[n-j]
			}
			dst = append(dst, clamp16(acc))
		}
	}
	u.hist = append(u.hist[:0], buf[len(buf)-(k-1):]...)
	return dst
}

// Downsampler converts 48 kHz to 8 kHz.
type Downsampler struct {
	hist []float32 // the last taps - 1 input samples, then the new ones
}

// NewDownsampler returns a 48 kHz to 8 kHz resampler.
func NewDownsampler() *Downsampler {
	return &Downsampler{hist: make([]float32, resampleTaps-1, resampleTaps+2*FrameSamples)}
}

// Process appends one output sample per six input samples to dst; len(src)
// must be a multiple of 6 (a 20 ms frame is).
func (d *Downsampler) Process(dst []int16, src []int16) ([]int16, error) {
	if len(src)%ratio != 0 {
		return dst, fmt.Errorf("audio: downsampling needs a multiple of %d samples, got %d", ratio, len(src))
	}
	for _, s := range src {
		d.hist = append(d.hist, float32(s))
	}
	buf := d.hist
	for n := resampleTaps - 1; n < len(buf); n += ratio {
		var acc float32
		x := buf[n-resampleTaps+1 : n+1]
		// lowpass is symmetric, so it need not be reversed.
		for j, h := range lowpass {
			acc += h * x[j]
		}
		dst = append(dst, clamp16(acc))
	}
	d.hist = append(d.hist[:0], buf[len(buf)-(resampleTaps-1):]...)
	return dst, nil
}

func clamp16(v float32) int16 {
	switch {
	case v > 32767:
		return 32767
	case v < -32768:
		return -32768
	}
	return int16(math.Round(float64(v)))
}
