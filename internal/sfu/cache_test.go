package sfu

import (
	"encoding/binary"
	"testing"
)

// rawPacket builds a minimal RTP packet whose payload names its seq.
func rawPacket(seq uint16) []byte {
	p := make([]byte, 16)
	p[0] = 0x80
	p[1] = 96
	binary.BigEndian.PutUint16(p[2:], seq)
	binary.BigEndian.PutUint16(p[12:], seq)
	return p
}

func cached(t *testing.T, c *packetCache, seq uint16) bool {
	t.Helper()
	buf := make([]byte, slotSize)
	n := c.get(seq, buf)
	if n == 0 {
		return false
	}
	if got := binary.BigEndian.Uint16(buf[12:]); n != 16 || got != seq {
		t.Fatalf("get(%d) returned packet %d (len %d)", seq, got, n)
	}
	return true
}

func TestCacheBasicAndRingWrap(t *testing.T) {
	c := newPacketCache(8)
	if cached(t, c, 0) {
		t.Fatal("empty cache returned a packet")
	}
	for s := uint16(1); s <= 20; s++ {
		c.insert(s, rawPacket(s))
	}
	for s := uint16(13); s <= 20; s++ {
		if !cached(t, c, s) {
			t.Errorf("seq %d missing", s)
		}
	}
	for _, s := range []uint16{1, 5, 12, 21, 40000} {
		if cached(t, c, s) {
			t.Errorf("seq %d should be evicted or unknown", s)
		}
	}
}

func TestCacheSeqWrap(t *testing.T) {
	c := newPacketCache(16)
	for s := uint16(65530); s != 6; s++ {
		c.insert(s, rawPacket(s))
	}
	for s := uint16(65530); s != 6; s++ {
		if !cached(t, c, s) {
			t.Errorf("seq %d missing across wrap", s)
		}
	}
	if cached(t, c, 6) || cached(t, c, 65529) {
		t.Error("packets never inserted returned")
	}
}

func TestCacheLateAndOld(t *testing.T) {
	c := newPacketCache(8)
	c.insert(1, rawPacket(1))
	c.insert(3, rawPacket(3))
	c.insert(2, rawPacket(2)) // late, fills the gap
	if !cached(t, c, 2) {
		t.Error("late packet not stored")
	}
	for s := uint16(4); s <= 12; s++ {
		c.insert(s, rawPacket(s))
	}
	c.insert(4, rawPacket(4)) // too old: slot now holds 12
	if cached(t, c, 4) || !cached(t, c, 12) {
		t.Error("old packet overwrote a newer one")
	}
}

// A slot must not return a packet from a previous lap of the 16-bit
// sequence space after the stream jumps around it.
func TestCacheStaleAfterJumps(t *testing.T) {
	c := newPacketCache(8)
	for _, s := range []uint16{5, 20000, 40000, 60000, 65535, 3, 7} {
		c.insert(s, rawPacket(s))
	}
	if cached(t, c, 5) || cached(t, c, 4) || cached(t, c, 6) {
		t.Error("stale packet from a previous lap returned")
	}
	if !cached(t, c, 3) || !cached(t, c, 7) {
		t.Error("current packets missing")
	}
}

func TestCacheSizeLimits(t *testing.T) {
	c := newPacketCache(4)
	c.insert(1, make([]byte, slotSize+1))
	c.insert(2, nil)
	if cached(t, c, 1) || cached(t, c, 2) {
		t.Error("oversized or empty packet stored")
	}
	defer func() {
		if recover() == nil {
			t.Error("non power of two size accepted")
		}
	}()
	newPacketCache(100)
}
