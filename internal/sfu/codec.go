package sfu

import (
	"encoding/binary"
	"strings"

	"github.com/pion/webrtc/v4"
)

// This file holds the codec-specific parsers. They read untrusted input (RTP
// payloads from publishers), are pure, never allocate, and have fuzz targets in
// codec_test.go.

// codecKind selects the per-codec parsing.
type codecKind uint8

const (
	codecOther codecKind = iota
	codecOpus
	codecVP8
	codecVP9
	codecH264
	codecAV1
)

func codecKindOf(mime string) codecKind {
	switch {
	case strings.EqualFold(mime, webrtc.MimeTypeOpus):
		return codecOpus
	case strings.EqualFold(mime, webrtc.MimeTypeVP8):
		return codecVP8
	case strings.EqualFold(mime, webrtc.MimeTypeVP9):
		return codecVP9
	case strings.EqualFold(mime, webrtc.MimeTypeH264):
		return codecH264
	case strings.EqualFold(mime, webrtc.MimeTypeAV1):
		return codecAV1
	}
	return codecOther
}

// isKeyframe reports whether payload is the FIRST packet of a keyframe (a point
// where a receiver can start decoding) for the given codec.
func isKeyframe(kind codecKind, payload []byte) bool {
	switch kind {
	case codecVP8:
		return IsVP8Keyframe(payload)
	case codecVP9:
		return IsVP9Keyframe(payload)
	case codecH264:
		return IsH264Keyframe(payload)
	case codecAV1:
		return IsAV1Keyframe(payload)
	}
	return false
}

// picDesc locates the picture ID and TL0PICIDX inside a VP8 or VP9 payload
// descriptor so a DownTrack can rewrite them for continuity across simulcast
// switches. Offsets are -1 when the field is absent.
type picDesc struct {
	picOff int    // byte offset of the picture ID, -1 if absent
	pic15  bool   // picture ID is 15 bits (M bit set), else 7 bits
	pic    uint16 // picture ID value
	tl0Off int    // byte offset of TL0PICIDX, -1 if absent
	tl0    uint8  // TL0PICIDX value
}

var noPicDesc = picDesc{picOff: -1, tl0Off: -1}

func (d picDesc) picMask() uint16 {
	if d.pic15 {
		return 0x7fff
	}
	return 0x7f
}

// write stores picture ID and TL0PICIDX into buf, which holds a copy of the
// payload d was parsed from.
func (d picDesc) write(buf []byte, pic uint16, tl0 uint8) {
	if d.picOff >= 0 {
		if d.pic15 {
			buf[d.picOff] = 0x80 | byte(pic>>8)&0x7f
			buf[d.picOff+1] = byte(pic)
		} else {
			buf[d.picOff] = byte(pic) & 0x7f
		}
	}
	if d.tl0Off >= 0 {
		buf[d.tl0Off] = tl0
	}
}

// parsePicDesc parses the payload descriptor of VP8 and VP9 packets.
func parsePicDesc(kind codecKind, p []byte) picDesc {
	switch kind {
	case codecVP8:
		d, _ := parseVP8Desc(p)
		return d
	case codecVP9:
		return parseVP9Desc(p)
	}
	return noPicDesc
}

// parseVP8Desc parses the RFC 7741 payload descriptor. It returns the
// descriptor and its length (0 if the payload is malformed).
//
//	 0 1 2 3 4 5 6 7
//	|X|R|N|S|R| PID |
//	|I|L|T|K| RSV   |  (if X)
//	|M| PictureID   |  (if I; 15 bits if M)
//	|  TL0PICIDX    |  (if L)
//	|TID|Y| KEYIDX  |  (if T or K)
func parseVP8Desc(p []byte) (picDesc, int) {
	d := noPicDesc
	if len(p) < 1 {
		return d, 0
	}
	n := 1
	if p[0]&0x80 == 0 {
		return d, n
	}
	if len(p) < 2 {
		return noPicDesc, 0
	}
	x := p[1]
	n = 2
	if x&0x80 != 0 { // I
		if len(p) < n+1 {
			return noPicDesc, 0
		}
		var ok bool
		if n, ok = readPictureID(p, n, &d); !ok {
			return noPicDesc, 0
		}
	}
	if x&0x40 != 0 { // L
		if len(p) < n+1 {
			return noPicDesc, 0
		}
		d.tl0Off = n
		d.tl0 = p[n]
		n++
	}
	if x&0x30 != 0 { // T or K
		if len(p) < n+1 {
			return noPicDesc, 0
		}
		n++
	}
	return d, n
}

// IsVP8Keyframe reports whether p is the first packet of a VP8 keyframe:
// start of partition 0 (S=1, PID=0) and the inverse key frame bit P of the
// VP8 payload header is 0.
func IsVP8Keyframe(p []byte) bool {
	_, n := parseVP8Desc(p)
	if n == 0 || len(p) <= n {
		return false
	}
	if p[0]&0x10 == 0 || p[0]&0x07 != 0 { // S bit, partition index
		return false
	}
	return p[n]&0x01 == 0
}

// VP8KeyframeSize returns the frame size carried in the first packet of a VP8
// keyframe (RFC 6386 section 9.1: 3-byte frame tag, start code 9d 01 2a, then
// 14-bit width and height).
func VP8KeyframeSize(p []byte) (width, height int, ok bool) {
	if !IsVP8Keyframe(p) {
		return 0, 0, false
	}
	_, n := parseVP8Desc(p)
	h := p[n:]
	if len(h) < 10 || h[3] != 0x9d || h[4] != 0x01 || h[5] != 0x2a {
		return 0, 0, false
	}
	w := int(binary.LittleEndian.Uint16(h[6:]) & 0x3fff)
	ht := int(binary.LittleEndian.Uint16(h[8:]) & 0x3fff)
	if w == 0 || ht == 0 {
		return 0, 0, false
	}
	return w, ht, true
}

// vp9Desc holds the parts of the VP9 payload descriptor (RFC 9628) we use.
// readPictureID reads the 7- or 15-bit picture id (VP8 and VP9 share its layout: M bit, then 7 or 15
// bits) at p[n] into d, and returns the offset after it; ok is false when p is too short.
func readPictureID(p []byte, n int, d *picDesc) (next int, ok bool) {
	d.picOff = n
	if p[n]&0x80 == 0 {
		d.pic = uint16(p[n] & 0x7f)
		return n + 1, true
	}
	if len(p) < n+2 {
		return n, false
	}
	d.pic15 = true
	d.pic = binary.BigEndian.Uint16(p[n:]) & 0x7fff
	return n + 2, true
}

type vp9Desc struct {
	picDesc
	interPredicted bool // P
	startOfFrame   bool // B
	hasLayer       bool // L
	sid            uint8
	ssOff          int // offset of the scalability structure, -1 if absent
	ok             bool
}

//	0 1 2 3 4 5 6 7
//
// |I|P|L|F|B|E|V|Z|
// |M| PICTURE ID  |  (if I; 15 bits if M)
// |TID|U| SID |D  |  (if L)
// |   TL0PICIDX   |  (if L and not F)
// |N| P_DIFF      |  (if F and P, up to 3 times)
// |  SS           |  (if V)
func parseVP9(p []byte) vp9Desc {
	d := vp9Desc{picDesc: noPicDesc, ssOff: -1}
	if len(p) < 1 {
		return d
	}
	b := p[0]
	n := 1
	d.interPredicted = b&0x40 != 0
	d.startOfFrame = b&0x08 != 0
	flexible := b&0x10 != 0
	if b&0x80 != 0 { // I
		if len(p) < n+1 {
			return d
		}
		var ok bool
		if n, ok = readPictureID(p, n, &d.picDesc); !ok {
			return vp9Desc{picDesc: noPicDesc, ssOff: -1}
		}
	}
	if b&0x20 != 0 { // L
		if len(p) < n+1 {
			return vp9Desc{picDesc: noPicDesc, ssOff: -1}
		}
		d.hasLayer = true
		d.sid = (p[n] >> 1) & 0x07
		n++
		if !flexible {
			if len(p) < n+1 {
				return vp9Desc{picDesc: noPicDesc, ssOff: -1}
			}
			d.tl0Off = n
			d.tl0 = p[n]
			n++
		}
	}
	if flexible && d.interPredicted {
		for i := 0; i < 3; i++ {
			if len(p) < n+1 {
				return vp9Desc{picDesc: noPicDesc, ssOff: -1}
			}
			more := p[n]&0x01 != 0
			n++
			if !more {
				break
			}
		}
	}
	if b&0x02 != 0 { // V
		if len(p) < n+1 {
			return vp9Desc{picDesc: noPicDesc, ssOff: -1}
		}
		d.ssOff = n
	}
	d.ok = true
	return d
}

func parseVP9Desc(p []byte) picDesc {
	d := parseVP9(p)
	if !d.ok {
		return noPicDesc
	}
	return d.picDesc
}

// IsVP9Keyframe reports whether p starts a VP9 keyframe: start of a frame
// (B=1) that is not inter-picture predicted (P=0), on the base spatial layer.
func IsVP9Keyframe(p []byte) bool {
	d := parseVP9(p)
	if !d.ok || !d.startOfFrame || d.interPredicted {
		return false
	}
	return !d.hasLayer || d.sid == 0
}

// VP9KeyframeSize returns the largest spatial layer resolution from the
// scalability structure that keyframes carry (V=1, Y=1).
func VP9KeyframeSize(p []byte) (width, height int, ok bool) {
	d := parseVP9(p)
	if !d.ok || d.ssOff < 0 {
		return 0, 0, false
	}
	ss := p[d.ssOff:]
	nS := int(ss[0]>>5) + 1
	if ss[0]&0x10 == 0 { // Y: no resolutions present
		return 0, 0, false
	}
	if len(ss) < 1+4*nS {
		return 0, 0, false
	}
	for i := 0; i < nS; i++ {
		w := int(binary.BigEndian.Uint16(ss[1+4*i:]))
		h := int(binary.BigEndian.Uint16(ss[3+4*i:]))
		if w*h > width*height {
			width, height = w, h
		}
	}
	return width, height, width > 0 && height > 0
}

// H.264 NAL unit types (RFC 6184).
const (
	h264NALIDR   = 5
	h264NALSPS   = 7
	h264NALSTAPA = 24
	h264NALFUA   = 28
)

// IsH264Keyframe reports whether p starts an H.264 keyframe: a single NAL
// unit that is an SPS or IDR slice, a STAP-A aggregating one, or the first
// fragment (S bit) of an FU-A carrying an IDR slice.
func IsH264Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	switch t := p[0] & 0x1f; t {
	case h264NALSPS, h264NALIDR:
		return true
	case h264NALSTAPA:
		for i := 1; i+2 < len(p); {
			size := int(binary.BigEndian.Uint16(p[i:]))
			i += 2
			if size == 0 || i+size > len(p) {
				return false
			}
			if nt := p[i] & 0x1f; nt == h264NALSPS || nt == h264NALIDR {
				return true
			}
			i += size
		}
	case h264NALFUA:
		if len(p) < 2 {
			return false
		}
		fuHeader := p[1]
		nt := fuHeader & 0x1f
		return fuHeader&0x80 != 0 && (nt == h264NALIDR || nt == h264NALSPS)
	}
	return false
}

// AV1 OBU types (AV1 bitstream spec 6.2.2).
const av1OBUSequenceHeader = 1

// IsAV1Keyframe reports whether p starts an AV1 keyframe. The RTP
// aggregation header (AV1 RTP spec 4.4) is |Z|Y|W W|N|-|-|-|: N=1 marks the
// first packet of a coded video sequence. As a fallback any OBU element that
// starts in this packet and is a sequence header also counts.
func IsAV1Keyframe(p []byte) bool {
	if len(p) < 2 {
		return false
	}
	agg := p[0]
	if agg&0x08 != 0 { // N
		return true
	}
	z := agg&0x80 != 0
	w := int(agg>>4) & 0x03
	i := 1
	for elem := 0; i < len(p); elem++ {
		last := w != 0 && elem == w-1
		size := len(p) - i
		if !last {
			v, n := leb128(p[i:])
			if n == 0 {
				return false
			}
			i += n
			if v > uint64(len(p)-i) {
				return false
			}
			size = int(v)
		}
		if size > 0 && !(elem == 0 && z) {
			if (p[i]>>3)&0x0f == av1OBUSequenceHeader {
				return true
			}
		}
		i += size
		if last {
			break
		}
	}
	return false
}

// leb128 decodes an unsigned LEB128 value (at most 8 bytes). n is 0 if the
// input is truncated or too long.
func leb128(p []byte) (v uint64, n int) {
	for i := 0; i < 8 && i < len(p); i++ {
		v |= uint64(p[i]&0x7f) << (7 * i)
		if p[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, 0
}
