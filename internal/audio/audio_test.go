package audio

import (
	"math"
	"testing"
)

// toneEnergy is the mean square of a full-scale-amp sine: amp²/2.
func toneEnergy(amp float64) float64 { return amp * amp / 2 }

func TestG711RoundTrip(t *testing.T) {
	for _, law := range []Law{ULaw, ALaw} {
		t.Run(law.String(), func(t *testing.T) {
			pcm := Tone(nil, 1000, PhoneRate, 0, PhoneFrameSamples, 0.5)
			enc := EncodeG711(law, nil, pcm)
			if len(enc) != len(pcm) {
				t.Fatalf("encoded %d bytes for %d samples", len(enc), len(pcm))
			}
			dec := DecodeG711(law, nil, enc)
			for i := range pcm {
				// G.711 keeps about 12 bits: the error is a few percent of the value at most.
				if d := math.Abs(float64(dec[i]) - float64(pcm[i])); d > 32+math.Abs(float64(pcm[i]))/16 {
					t.Fatalf("sample %d: %d became %d", i, pcm[i], dec[i])
				}
			}
			// Silence stays (near) silence, full scale stays full scale.
			for _, v := range []int16{0, 32767, -32768} {
				got := DecodeG711(law, nil, EncodeG711(law, nil, []int16{v}))[0]
				if math.Abs(float64(got)-float64(v)) > 1100 {
					t.Errorf("%d became %d", v, got)
				}
			}
		})
	}
	if _, err := LawOf("G722"); err == nil {
		t.Error("LawOf(G722) succeeded")
	}
}

func TestLevel(t *testing.T) {
	for _, tc := range []struct {
		name string
		pcm  []int16
		want uint8
	}{
		{"empty", nil, 127},
		{"silence", make([]int16, 160), 127},
		{"full-scale square", []int16{32767, -32767, 32767, -32767}, 0},
		{"sine at half scale", Tone(nil, 1000, Rate, 0, FrameSamples, 0.5), 9}, // 20log10(0.5/√2) ≈ -9
		{"quiet sine", Tone(nil, 1000, Rate, 0, FrameSamples, 0.01), 43},
	} {
		if got := Level(tc.pcm); got != tc.want {
			t.Errorf("%s: level %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestResamplerFrequencyResponse sends tones through each direction: the
// voice band passes at unit gain, what lies above the phone's band (which
// would alias when going down) is suppressed, and the tone keeps its
// frequency (checked by correlating with the expected sine).
func TestResamplerFrequencyResponse(t *testing.T) {
	const frames = 25 // 0.5 s
	for _, tc := range []struct {
		freq     float64
		min, max float64 // allowed gain (output energy / input energy)
	}{
		{300, 0.9, 1.1},
		{1000, 0.9, 1.1},
		{3000, 0.8, 1.1},
	} {
		// Up: 8 kHz tone -> 48 kHz.
		u := NewUpsampler()
		var in, out []int16
		for f := range frames {
			frame := Tone(nil, tc.freq, PhoneRate, f*PhoneFrameSamples, PhoneFrameSamples, 0.5)
			in = append(in, frame...)
			out = u.Process(out, frame)
		}
		if len(out) != ratio*len(in) {
			t.Fatalf("up: %d samples from %d", len(out), len(in))
		}
		checkTone(t, "up", tc.freq, Rate, out[len(out)/2:], 0.5, tc.min, tc.max)

		// Down: 48 kHz tone -> 8 kHz.
		d := NewDownsampler()
		out = out[:0]
		for f := range frames {
			frame := Tone(nil, tc.freq, Rate, f*FrameSamples, FrameSamples, 0.5)
			var err error
			if out, err = d.Process(out, frame); err != nil {
				t.Fatal(err)
			}
		}
		if len(out) != frames*PhoneFrameSamples {
			t.Fatalf("down: %d samples", len(out))
		}
		checkTone(t, "down", tc.freq, PhoneRate, out[len(out)/2:], 0.5, tc.min, tc.max)
	}
	// Above the phone band: going down must not fold 6 kHz into 2 kHz.
	d := NewDownsampler()
	var out []int16
	for f := range frames {
		out, _ = d.Process(out, Tone(nil, 6000, Rate, f*FrameSamples, FrameSamples, 0.5))
	}
	if g := Energy(out[len(out)/2:]) / toneEnergy(0.5); g > 1e-3 {
		t.Errorf("6 kHz leaks through the downsampler with gain %.4f (want < -30 dB)", g)
	}
	if _, err := NewDownsampler().Process(nil, make([]int16, 7)); err == nil {
		t.Error("downsampling 7 samples succeeded")
	}
}

// checkTone checks pcm's energy against a sine of amp, and that it is that
// sine's frequency (projection onto sin/cos of freq carries the energy).
func checkTone(t *testing.T, dir string, freq float64, rate int, pcm []int16, amp, min, max float64) {
	t.Helper()
	g := Energy(pcm) / toneEnergy(amp)
	if g < min || g > max {
		t.Errorf("%s %.0f Hz: gain %.3f, want %.2f..%.2f", dir, freq, g, min, max)
	}
	var s, c float64
	for i, v := range pcm {
		x := float64(v) / 32768
		ph := 2 * math.Pi * freq * float64(i) / float64(rate)
		s += x * math.Sin(ph)
		c += x * math.Cos(ph)
	}
	n := float64(len(pcm))
	proj := 2 * (s*s + c*c) / (n * n) // energy of the freq component
	if proj < 0.95*Energy(pcm) {
		t.Errorf("%s %.0f Hz: only %.2f of the energy is at that frequency", dir, freq, proj/Energy(pcm))
	}
}

func TestMixerMixMinus(t *testing.T) {
	m := NewMixer(4, 3)
	m.Push("a", []int16{100, 100, 100, 100})
	m.Push("b", []int16{10, 10, 10, 10})
	m.Push("c", []int16{1, 1, 1, 1})
	m.Tick()
	for _, tc := range []struct {
		listener string
		want     int16
	}{
		{"a", 11}, {"b", 101}, {"c", 110}, {"", 111}, {"phone", 111},
	} {
		out := m.Output(nil, tc.listener)
		for _, v := range out {
			if v != tc.want {
				t.Fatalf("%q hears %v, want %d each", tc.listener, out, tc.want)
			}
		}
	}

	// b is late: silence from it this tick, and the others go on.
	m.Push("a", []int16{100, 100, 100, 100})
	m.Tick()
	if out := m.Output(nil, "c"); out[0] != 100 {
		t.Fatalf("with b late, c hears %v", out)
	}
	// An input that floods is cut to its depth (3 frames), oldest first.
	for i := range 10 {
		m.Push("b", []int16{int16(i), int16(i), int16(i), int16(i)})
	}
	m.Tick()
	if out := m.Output(nil, "a"); out[0] != 7 {
		t.Fatalf("after a flood a hears %v, want the 8th frame (7)", out)
	}
	m.Remove("b")
	if m.Inputs() != 2 {
		t.Fatalf("%d inputs after Remove", m.Inputs())
	}
}

func TestLimit(t *testing.T) {
	for _, tc := range []struct {
		in       int32
		min, max int16
	}{
		{0, 0, 0}, {1000, 1000, 1000}, {-24576, -24576, -24576},
		{40000, 30000, 32767}, {-200000, -32767, -32000}, {3 * 32767, 32000, 32767},
	} {
		if got := Limit(tc.in); got < tc.min || got > tc.max {
			t.Errorf("Limit(%d) = %d, want %d..%d", tc.in, got, tc.min, tc.max)
		}
	}
	// Monotonic: louder in, never quieter out.
	prev := Limit(0)
	for s := int32(0); s < 200000; s += 97 {
		if v := Limit(s); v < prev {
			t.Fatalf("Limit(%d) = %d < %d", s, v, prev)
		} else {
			prev = v
		}
	}
}
