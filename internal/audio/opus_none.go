//go:build !libopus

package audio

// OpusAvailable reports whether this build can transcode Opus.
const OpusAvailable = false

// OpusEncoder is unavailable in this build (no libopus).
type OpusEncoder struct{}

// NewOpusEncoder returns ErrNoOpus: this build has no libopus.
func NewOpusEncoder(rate int) (*OpusEncoder, error) { return nil, ErrNoOpus }

// Encode returns ErrNoOpus.
func (e *OpusEncoder) Encode(dst []byte, pcm []int16) ([]byte, error) { return dst, ErrNoOpus }

// OpusDecoder is unavailable in this build (no libopus).
type OpusDecoder struct{}

// NewOpusDecoder returns ErrNoOpus: this build has no libopus.
func NewOpusDecoder(rate int) (*OpusDecoder, error) { return nil, ErrNoOpus }

// Decode returns ErrNoOpus.
func (d *OpusDecoder) Decode(payload []byte, dst []int16) ([]int16, error) { return dst, ErrNoOpus }

// DecodeFEC returns ErrNoOpus.
func (d *OpusDecoder) DecodeFEC(payload []byte, dst []int16) ([]int16, error) { return dst, ErrNoOpus }

// Conceal returns ErrNoOpus.
func (d *OpusDecoder) Conceal(dst []int16) ([]int16, error) { return dst, ErrNoOpus }
