//go:build libopus

package audio

import (
	"fmt"
	"slices"

	"gopkg.in/hraban/opus.v2"
)

// OpusAvailable reports whether this build can transcode Opus.
const OpusAvailable = true

// OpusEncoder encodes 20 ms frames of mono speech for WebRTC: VoIP mode,
// in-band FEC on (receivers recover a lost packet from the next), tuned
// for some loss.
type OpusEncoder struct {
	enc   *opus.Encoder
	frame int
}

// OpusBitrate is the encoder's target bitrate: a phone's narrowband voice
// needs little.
const OpusBitrate = 24000

// NewOpusEncoder returns an encoder of PCM at rate (PhoneRate or Rate;
// the Opus stream and its RTP clock are the same either way: a phone's
// 8 kHz voice is encoded as it is, without resampling it first).
func NewOpusEncoder(rate int) (*OpusEncoder, error) {
	if err := checkRate(rate); err != nil {
		return nil, err
	}
	e, err := opus.NewEncoder(rate, 1, opus.AppVoIP)
	if err != nil {
		return nil, fmt.Errorf("audio: opus encoder: %w", err)
	}
	for _, set := range []func() error{
		func() error { return e.SetInBandFEC(true) },
		func() error { return e.SetPacketLossPerc(10) },
		func() error { return e.SetBitrate(OpusBitrate) },
		// Phone audio has nothing above 4 kHz: wideband is plenty, and cheaper.
		func() error { return e.SetMaxBandwidth(opus.Wideband) },
		func() error { return e.SetComplexity(5) },
	} {
		if err := set(); err != nil {
			return nil, fmt.Errorf("audio: opus encoder: %w", err)
		}
	}
	return &OpusEncoder{enc: e, frame: rate / 50}, nil
}

// Encode appends the Opus packet of one 20 ms frame to dst.
func (e *OpusEncoder) Encode(dst []byte, pcm []int16) ([]byte, error) {
	if len(pcm) != e.frame {
		return dst, fmt.Errorf("audio: opus frames are %d samples here, got %d", e.frame, len(pcm))
	}
	n := len(dst)
	dst = slices.Grow(dst, OpusPayloadMax)[:n+OpusPayloadMax]
	w, err := e.enc.Encode(pcm, dst[n:])
	if err != nil {
		return dst[:n], fmt.Errorf("audio: opus encode: %w", err)
	}
	return dst[:n+w], nil
}

// OpusDecoder decodes Opus to mono PCM.
type OpusDecoder struct {
	dec   *opus.Decoder
	frame int
	pcm   []int16 // one packet's worth, at most 120 ms
}

// NewOpusDecoder returns a decoder to PCM at rate (PhoneRate or Rate:
// libopus decodes straight to 8 kHz for a phone).
func NewOpusDecoder(rate int) (*OpusDecoder, error) {
	if err := checkRate(rate); err != nil {
		return nil, err
	}
	d, err := opus.NewDecoder(rate, 1)
	if err != nil {
		return nil, fmt.Errorf("audio: opus decoder: %w", err)
	}
	return &OpusDecoder{dec: d, frame: rate / 50, pcm: make([]int16, 6*rate/50)}, nil
}

// Decode appends the samples of one packet to dst.
func (d *OpusDecoder) Decode(payload []byte, dst []int16) ([]int16, error) {
	n, err := d.dec.Decode(payload, d.pcm)
	if err != nil {
		return dst, fmt.Errorf("audio: opus decode: %w", err)
	}
	return append(dst, d.pcm[:n]...), nil
}

// DecodeFEC appends the frame before payload, recovered from payload's
// in-band FEC (or concealed when it has none), to dst.
func (d *OpusDecoder) DecodeFEC(payload []byte, dst []int16) ([]int16, error) {
	pcm := d.pcm[:d.frame]
	if err := d.dec.DecodeFEC(payload, pcm); err != nil {
		return dst, fmt.Errorf("audio: opus fec: %w", err)
	}
	return append(dst, pcm...), nil
}

// Conceal appends one frame of packet loss concealment to dst.
func (d *OpusDecoder) Conceal(dst []int16) ([]int16, error) {
	pcm := d.pcm[:d.frame]
	if err := d.dec.DecodePLC(pcm); err != nil {
		return dst, fmt.Errorf("audio: opus plc: %w", err)
	}
	return append(dst, pcm...), nil
}
