package sfu

import (
	"testing"
	"time"
)

const ms = int64(time.Millisecond)

type mungeCase struct {
	seq  uint16
	ts   uint32
	pic  int // -1: no picture id
	at   int64
	skip bool // padding only

	want    uint16
	wantTS  uint32
	wantPic int
	drop    bool
}

func runMunger(t *testing.T, m *munger, cases []mungeCase) {
	t.Helper()
	for i, c := range cases {
		d := noPicDesc
		if c.pic >= 0 {
			d.picOff, d.pic, d.pic15 = 2, uint16(c.pic), true
		}
		if c.skip {
			m.skip(c.seq)
			continue
		}
		r, ok := m.munge(c.seq, c.ts, d, c.at)
		if ok == c.drop {
			t.Fatalf("case %d (src %d): ok=%v, want drop=%v", i, c.seq, ok, c.drop)
		}
		if !ok {
			continue
		}
		if r.seq != c.want || r.ts != c.wantTS {
			t.Fatalf("case %d (src %d): out seq %d ts %d, want %d %d", i, c.seq, r.seq, r.ts, c.want, c.wantTS)
		}
		if c.wantPic >= 0 && int(r.pic) != c.wantPic {
			t.Fatalf("case %d: pic %d, want %d", i, r.pic, c.wantPic)
		}
	}
}

func TestMungerSingleLayerKeepsGaps(t *testing.T) {
	var m munger
	m.begin(100, 1000, noPicDesc, 0, 90000)
	runMunger(t, &m, []mungeCase{
		{seq: 100, ts: 1000, pic: -1, want: 100, wantTS: 1000, wantPic: -1},
		{seq: 101, ts: 1000, pic: -1, want: 101, wantTS: 1000, wantPic: -1},
		{seq: 103, ts: 4000, pic: -1, want: 103, wantTS: 4000, wantPic: -1}, // loss of 102 preserved
		{seq: 102, ts: 1000, pic: -1, want: 102, wantTS: 1000, wantPic: -1}, // late arrival fills it
		{seq: 103, ts: 4000, pic: -1, drop: true},                           // duplicate
		{seq: 99, ts: 1000, pic: -1, drop: true},                            // before the segment
	})
}

func TestMungerSwitchContinuity(t *testing.T) {
	var m munger
	d := noPicDesc
	d.picOff, d.pic15, d.pic = 2, true, 10
	m.begin(100, 1000, d, 0, 90000)
	runMunger(t, &m, []mungeCase{
		{seq: 100, ts: 1000, pic: 10, at: 0, want: 100, wantTS: 1000, wantPic: 10},
		{seq: 101, ts: 4000, pic: 11, at: 33 * ms, want: 101, wantTS: 4000, wantPic: 11},
	})
	// Switch to a layer with unrelated numbering, 40 ms later.
	d.pic = 30000
	m.begin(50000, 123456, d, 73*ms, 90000)
	runMunger(t, &m, []mungeCase{
		{seq: 50000, ts: 123456, pic: 30000, at: 73 * ms, want: 102, wantTS: 4000 + 3600, wantPic: 12},
		{seq: 50001, ts: 126456, pic: 30001, at: 106 * ms, want: 103, wantTS: 7600 + 3000, wantPic: 13},
		{seq: 49999, ts: 120456, pic: 29999, drop: true},                                          // late packet from before the switch point
		{seq: 50003, ts: 129456, pic: 30002, at: 140 * ms, want: 105, wantTS: 13600, wantPic: 14}, // loss kept
	})
	if r, _ := m.munge(50004, 132456, d, 150*ms); !r.rewritePic {
		t.Error("picture id must be rewritten after a switch")
	}
}

func TestMungerSeqWrapAcrossSwitch(t *testing.T) {
	var m munger
	m.begin(65533, 0, noPicDesc, 0, 90000)
	runMunger(t, &m, []mungeCase{
		{seq: 65533, ts: 0, pic: -1, want: 65533, wantTS: 0, wantPic: -1},
		{seq: 65534, ts: 3000, pic: -1, want: 65534, wantTS: 3000, wantPic: -1},
		{seq: 65535, ts: 6000, pic: -1, want: 65535, wantTS: 6000, wantPic: -1},
	})
	m.begin(65535, 90000, noPicDesc, 0, 90000) // same instant: ts advances by 1
	runMunger(t, &m, []mungeCase{
		{seq: 65535, ts: 90000, pic: -1, want: 0, wantTS: 6001, wantPic: -1},
		{seq: 0, ts: 93000, pic: -1, want: 1, wantTS: 9001, wantPic: -1},
		{seq: 1, ts: 96000, pic: -1, want: 2, wantTS: 12001, wantPic: -1},
		{seq: 65534, ts: 87000, pic: -1, drop: true},
	})
}

func TestMungerPaddingSkip(t *testing.T) {
	var m munger
	m.begin(10, 0, noPicDesc, 0, 90000)
	runMunger(t, &m, []mungeCase{
		{seq: 10, ts: 0, pic: -1, want: 10, wantPic: -1},
		{seq: 11, skip: true},
		{seq: 12, skip: true},
		{seq: 13, ts: 0, pic: -1, want: 11, wantPic: -1},
		{seq: 12, pic: -1, drop: true},
	})
	if m.skip(20) {
		t.Error("out-of-order padding must not be absorbed")
	}
}

func TestMunger7BitPictureID(t *testing.T) {
	var m munger
	d := noPicDesc
	d.picOff, d.pic = 2, 120
	m.begin(1, 0, d, 0, 90000)
	m.munge(1, 0, d, 0)
	d.pic = 5
	m.begin(500, 0, d, ms, 90000)
	if r, _ := m.munge(500, 0, d, ms); r.pic != 121 {
		t.Fatalf("pic %d, want 121", r.pic)
	}
	d.pic = 12
	if r, _ := m.munge(501, 0, d, ms); r.pic != (121+7)&0x7f {
		t.Fatalf("pic %d, want wrap to %d", r.pic, (121+7)&0x7f)
	}
}
