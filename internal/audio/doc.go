// Package audio holds what a server needs to put telephones into Opus
// meetings: G.711 (µ-law and A-law) coding, an 8 kHz <-> 48 kHz resampler,
// a mix-minus mixer of 20 ms frames, Opus coding through libopus (cgo,
// behind the build tag libopus; without it NewOpusEncoder and
// NewOpusDecoder return ErrNoOpus), and audio levels in dBov for the RFC
// 6464 header extension.
//
// Everything works on 16-bit signed mono PCM. The types are not safe for
// concurrent use unless a comment says so: one call's media loop owns them.
package audio

import "time"

const (
	// Rate is the meeting side's sample rate (Opus in WebRTC).
	Rate = 48000
	// PhoneRate is G.711's sample rate.
	PhoneRate = 8000
	// Frame is the packet duration on both sides.
	Frame = 20 * time.Millisecond
	// FrameSamples is one frame at Rate; PhoneFrameSamples at PhoneRate.
	FrameSamples      = Rate / 50
	PhoneFrameSamples = PhoneRate / 50
	// ratio is Rate / PhoneRate.
	ratio = Rate / PhoneRate
)
