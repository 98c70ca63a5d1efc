package audio

import (
	"fmt"

	"github.com/zaf/g711"
)

// Law is a G.711 companding law.
type Law uint8

const (
	ULaw Law = iota // PCMU, payload type 0
	ALaw            // PCMA, payload type 8
)

// LawOf returns the law of an RTP codec name (PCMU or PCMA).
func LawOf(codec string) (Law, error) {
	switch codec {
	case "PCMU":
		return ULaw, nil
	case "PCMA":
		return ALaw, nil
	}
	return 0, fmt.Errorf("audio: %q is not G.711 (PCMU or PCMA)", codec)
}

func (l Law) String() string {
	if l == ALaw {
		return "PCMA"
	}
	return "PCMU"
}

// EncodeG711 appends pcm, companded with law, to dst: one byte a sample.
func EncodeG711(law Law, dst []byte, pcm []int16) []byte {
	if law == ALaw {
		for _, s := range pcm {
			dst = append(dst, g711.EncodeAlawFrame(s))
		}
		return dst
	}
	for _, s := range pcm {
		dst = append(dst, g711.EncodeUlawFrame(s))
	}
	return dst
}

// DecodeG711 appends the samples of a G.711 payload to dst.
func DecodeG711(law Law, dst []int16, payload []byte) []int16 {
	if law == ALaw {
		for _, b := range payload {
			dst = append(dst, g711.DecodeAlawFrame(b))
		}
		return dst
	}
	for _, b := range payload {
		dst = append(dst, g711.DecodeUlawFrame(b))
	}
	return dst
}
