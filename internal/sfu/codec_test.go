package sfu

import (
	"bytes"
	"testing"
)

// vp8KeyHeader is the start of a VP8 keyframe bitstream: frame tag (P=0,
// show_frame=1), start code, width and height (little endian).
func vp8KeyHeader(w, h int) []byte {
	return []byte{0x10, 0x00, 0x00, 0x9d, 0x01, 0x2a, byte(w), byte(w >> 8), byte(h), byte(h >> 8)}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestVP8(t *testing.T) {
	tests := []struct {
		name   string
		p      []byte
		key    bool
		w, h   int
		pic    int // -1 absent
		pic15  bool
		tl0    int // -1 absent
		picOff int
	}{
		{"empty", nil, false, 0, 0, -1, false, -1, -1},
		{"minimal keyframe", cat([]byte{0x10}, vp8KeyHeader(640, 360)), true, 640, 360, -1, false, -1, -1},
		{"delta frame", []byte{0x10, 0x11, 0, 0}, false, 0, 0, -1, false, -1, -1},
		{"not start of partition", cat([]byte{0x00}, vp8KeyHeader(640, 360)), false, 0, 0, -1, false, -1, -1},
		{"partition 1", cat([]byte{0x11}, vp8KeyHeader(640, 360)), false, 0, 0, -1, false, -1, -1},
		{"X I(M) L T", cat([]byte{0x90, 0xe0, 0x80 | 0x12, 0x34, 0x05, 0x40}, vp8KeyHeader(1280, 720)), true, 1280, 720, 0x1234, true, 5, 2},
		{"X I 7-bit", cat([]byte{0x90, 0x80, 0x25}, vp8KeyHeader(320, 180)), true, 320, 180, 0x25, false, -1, 2},
		{"X K only", []byte{0x90, 0x10, 0x00, 0x10, 0, 0}, true, 0, 0, -1, false, -1, -1},
		{"keyframe without start code", []byte{0x10, 0x10, 0, 0, 1, 2, 3, 4, 5, 6}, true, 0, 0, -1, false, -1, -1},
		{"truncated X", []byte{0x90}, false, 0, 0, -1, false, -1, -1},
		{"truncated I", []byte{0x90, 0x80}, false, 0, 0, -1, false, -1, -1},
		{"truncated M", []byte{0x90, 0x80, 0x80}, false, 0, 0, -1, false, -1, -1},
		{"descriptor only", []byte{0x90, 0x80, 0x80, 0x01}, false, 0, 0, 1, true, -1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsVP8Keyframe(tt.p); got != tt.key {
				t.Errorf("IsVP8Keyframe = %v, want %v", got, tt.key)
			}
			w, h, ok := VP8KeyframeSize(tt.p)
			if ok != (tt.w > 0) || w != tt.w || h != tt.h {
				t.Errorf("VP8KeyframeSize = %d %d %v, want %d %d", w, h, ok, tt.w, tt.h)
			}
			d := parsePicDesc(codecVP8, tt.p)
			if tt.pic >= 0 && (d.picOff != tt.picOff || int(d.pic) != tt.pic || d.pic15 != tt.pic15) {
				t.Errorf("pic = %+v, want off %d pic %d 15bit %v", d, tt.picOff, tt.pic, tt.pic15)
			}
			if tt.pic < 0 && d.picOff >= 0 {
				t.Errorf("pic = %+v, want none", d)
			}
			if (tt.tl0 < 0) != (d.tl0Off < 0) || tt.tl0 >= 0 && int(d.tl0) != tt.tl0 {
				t.Errorf("tl0 = %+v, want %d", d, tt.tl0)
			}
		})
	}
}

func TestPicDescWrite(t *testing.T) {
	p := cat([]byte{0x90, 0xe0, 0x80 | 0x12, 0x34, 0x05, 0x40}, vp8KeyHeader(1280, 720))
	d := parsePicDesc(codecVP8, p)
	d.write(p, 0x7ffe, 200)
	d2 := parsePicDesc(codecVP8, p)
	if d2.pic != 0x7ffe || d2.tl0 != 200 || !d2.pic15 || !IsVP8Keyframe(p) {
		t.Fatalf("after write: %+v", d2)
	}
	p7 := []byte{0x90, 0x80, 0x25, 0x11}
	d = parsePicDesc(codecVP8, p7)
	d.write(p7, 0x7f, 0)
	if d2 := parsePicDesc(codecVP8, p7); d2.pic != 0x7f || d2.pic15 {
		t.Fatalf("7-bit after write: %+v", d2)
	}
}

func TestVP9(t *testing.T) {
	tests := []struct {
		name string
		p    []byte
		key  bool
		w, h int
		pic  int
	}{
		{"empty", nil, false, 0, 0, -1},
		{"B, not predicted", []byte{0x08, 0xaa}, true, 0, 0, -1},
		{"predicted", []byte{0x48, 0xaa}, false, 0, 0, -1},
		{"not start of frame", []byte{0x00, 0xaa}, false, 0, 0, -1},
		{"picture id 15 bit", []byte{0x88, 0x81, 0x02, 0xaa}, true, 0, 0, 0x102},
		{"truncated picture id", []byte{0x88, 0x81}, false, 0, 0, -1},
		{"layer sid 0", []byte{0x28, 0x00, 0x07, 0xaa}, true, 0, 0, -1},
		{"layer sid 1", []byte{0x28, 0x02, 0x07, 0xaa}, false, 0, 0, -1},
		{"flexible predicted with p_diff", []byte{0x5a, 0x03, 0x02, 0xaa}, false, 0, 0, -1},
		{"scalability structure", []byte{0x0a, 0x10, 0x05, 0x00, 0x02, 0xd0, 0xaa}, true, 1280, 720, -1},
		{"two spatial layers", []byte{0x0a, 0x30, 0x01, 0x40, 0x00, 0xb4, 0x02, 0x80, 0x01, 0x68}, true, 640, 360, -1},
		{"ss without sizes", []byte{0x0a, 0x00}, true, 0, 0, -1},
		{"truncated ss", []byte{0x0a, 0x10, 0x05}, true, 0, 0, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsVP9Keyframe(tt.p); got != tt.key {
				t.Errorf("IsVP9Keyframe = %v, want %v", got, tt.key)
			}
			w, h, ok := VP9KeyframeSize(tt.p)
			if ok != (tt.w > 0) || w != tt.w || h != tt.h {
				t.Errorf("VP9KeyframeSize = %d %d %v, want %d %d", w, h, ok, tt.w, tt.h)
			}
			if d := parsePicDesc(codecVP9, tt.p); tt.pic >= 0 && int(d.pic) != tt.pic {
				t.Errorf("pic = %d, want %d", d.pic, tt.pic)
			}
		})
	}
}

func TestH264(t *testing.T) {
	tests := []struct {
		name string
		p    []byte
		key  bool
	}{
		{"empty", nil, false},
		{"IDR", []byte{0x65, 0x88}, true},
		{"SPS", []byte{0x67, 0x42}, true},
		{"PPS", []byte{0x68, 0xce}, false},
		{"non-IDR slice", []byte{0x41, 0x9a}, false},
		{"STAP-A SPS PPS", []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce}, true},
		{"STAP-A PPS then IDR", []byte{0x78, 0x00, 0x02, 0x68, 0xce, 0x00, 0x02, 0x65, 0x88}, true},
		{"STAP-A PPS only", []byte{0x78, 0x00, 0x02, 0x68, 0xce}, false},
		{"STAP-A bad size", []byte{0x78, 0x00, 0x09, 0x67, 0x42}, false},
		{"STAP-A zero size", []byte{0x78, 0x00, 0x00, 0x67, 0x42}, false},
		{"FU-A start IDR", []byte{0x7c, 0x85, 0x88}, true},
		{"FU-A middle IDR", []byte{0x7c, 0x05, 0x88}, false},
		{"FU-A start non-IDR", []byte{0x7c, 0x81, 0x9a}, false},
		{"FU-A truncated", []byte{0x7c}, false},
	}
	for _, tt := range tests {
		if got := IsH264Keyframe(tt.p); got != tt.key {
			t.Errorf("%s: IsH264Keyframe = %v, want %v", tt.name, got, tt.key)
		}
	}
}

func TestAV1(t *testing.T) {
	const seqHdr, frame = 0x08, 0x30 // OBU headers: type 1 and type 6
	tests := []struct {
		name string
		p    []byte
		key  bool
	}{
		{"empty", nil, false},
		{"N bit", []byte{0x08, 0x00}, true},
		{"W=1 sequence header", []byte{0x10, seqHdr, 0x00, 0x00}, true},
		{"W=1 frame", []byte{0x10, frame, 0x00}, false},
		{"W=0 sized sequence header", []byte{0x00, 0x02, seqHdr, 0x00}, true},
		{"W=0 frame then sequence header", []byte{0x00, 0x01, frame, 0x01, seqHdr}, true},
		{"W=2 frame, then sequence header", []byte{0x20, 0x01, frame, seqHdr, 0x00}, true},
		{"Z continuation looks like seq header", []byte{0x90, seqHdr, 0x00}, false},
		{"truncated leb128", []byte{0x00, 0x80}, false},
		{"length beyond packet", []byte{0x00, 0x05, seqHdr}, false},
		{"zero length element", []byte{0x00, 0x00, 0x00}, false},
	}
	for _, tt := range tests {
		if got := IsAV1Keyframe(tt.p); got != tt.key {
			t.Errorf("%s: IsAV1Keyframe = %v, want %v", tt.name, got, tt.key)
		}
	}
}

func TestCodecKind(t *testing.T) {
	for mime, want := range map[string]codecKind{
		"video/VP8": codecVP8, "video/vp9": codecVP9, "video/H264": codecH264,
		"video/AV1": codecAV1, "audio/opus": codecOpus, "audio/PCMU": codecOther,
	} {
		if got := codecKindOf(mime); got != want {
			t.Errorf("codecKindOf(%q) = %d, want %d", mime, got, want)
		}
	}
}

// Fuzz targets: the parsers read publisher-controlled bytes and must never
// panic; rewriting the descriptor must round-trip.

func FuzzVP8(f *testing.F) {
	f.Add(cat([]byte{0x90, 0xe0, 0x92, 0x34, 0x05, 0x40}, vp8KeyHeader(1280, 720)))
	f.Add([]byte{0x10, 0x11, 0, 0})
	f.Add([]byte{0x90, 0x80, 0x25})
	f.Fuzz(func(t *testing.T, p []byte) {
		key := IsVP8Keyframe(p)
		if _, _, ok := VP8KeyframeSize(p); ok && !key {
			t.Fatal("size without keyframe")
		}
		fuzzDesc(t, codecVP8, p)
	})
}

func FuzzVP9(f *testing.F) {
	f.Add([]byte{0x0a, 0x10, 0x05, 0x00, 0x02, 0xd0, 0xaa})
	f.Add([]byte{0x88, 0x81, 0x02, 0xaa})
	f.Add([]byte{0x3a, 0x81, 0x02, 0x00, 0x07, 0x30})
	f.Fuzz(func(t *testing.T, p []byte) {
		IsVP9Keyframe(p)
		VP9KeyframeSize(p)
		fuzzDesc(t, codecVP9, p)
	})
}

func fuzzDesc(t *testing.T, kind codecKind, p []byte) {
	d := parsePicDesc(kind, p)
	if d.picOff < 0 && d.tl0Off < 0 {
		return
	}
	c := bytes.Clone(p)
	d.write(c, 0x1234&d.picMask(), 0x56)
	d2 := parsePicDesc(kind, c)
	if d.picOff >= 0 && d2.pic != 0x1234&d.picMask() || d.tl0Off >= 0 && d2.tl0 != 0x56 {
		t.Fatalf("rewrite did not round-trip: %+v -> %+v", d, d2)
	}
}

func FuzzH264(f *testing.F) {
	f.Add([]byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce})
	f.Add([]byte{0x7c, 0x85, 0x88})
	f.Fuzz(func(t *testing.T, p []byte) {
		if IsH264Keyframe(p) && len(p) == 0 {
			t.Fatal("keyframe from nothing")
		}
	})
}

func FuzzAV1(f *testing.F) {
	f.Add([]byte{0x20, 0x01, 0x30, 0x08, 0x00})
	f.Add([]byte{0x00, 0x02, 0x08, 0x00})
	f.Add([]byte{0x08, 0x00})
	f.Fuzz(func(t *testing.T, p []byte) {
		if IsAV1Keyframe(p) && len(p) < 2 {
			t.Fatal("keyframe from nothing")
		}
	})
}
