package sfu

import "sync"

// slotSize is the largest RTP packet the cache stores. Larger packets (not
// produced by WebRTC endpoints, whose MTU is about 1200) are not cached.
const slotSize = 1500

// packetCache is a fixed-size ring of raw RTP packets of ONE published layer,
// indexed by sequence number, shared by all subscribers of that layer for NACK
// retransmission. Memory is allocated once; inserting never allocates.
//
// One writer (the layer's read loop) and many readers (the subscribers' RTCP
// loops). mu is a leaf lock held only for a bounded copy of one packet.
type packetCache struct {
	mu      sync.RWMutex
	mask    uint16
	data    []byte // len(slots) * slotSize
	slots   []cacheSlot
	highest uint16
	started bool
}

type cacheSlot struct {
	seq   uint16
	n     uint16 // packet length, 0 = empty
	valid bool
}

// newPacketCache returns a cache for size packets; size must be a power of
// two between 2 and 32768.
func newPacketCache(size int) *packetCache {
	if size < 2 || size > 1<<15 || size&(size-1) != 0 {
		panic("sfu: packet cache size must be a power of two in [2, 32768]")
	}
	return &packetCache{
		mask:  uint16(size - 1),
		data:  make([]byte, size*slotSize),
		slots: make([]cacheSlot, size),
	}
}

// seqNewer reports whether a is newer than b in RTP sequence number order
// (RFC 3550 serial number arithmetic).
func seqNewer(a, b uint16) bool { return a != b && a-b < 0x8000 }

// insert stores a copy of the raw packet pkt with sequence number seq.
// A packet older than what its slot already holds (a late arrival after the
// slot was reused) is not stored.
func (c *packetCache) insert(seq uint16, pkt []byte) {
	if len(pkt) > slotSize || len(pkt) == 0 {
		return
	}
	c.mu.Lock()
	if !c.started {
		c.started = true
		c.highest = seq
	} else if seqNewer(seq, c.highest) {
		// Invalidate slots skipped by a jump so a stale packet from the
		// previous lap is never returned under a new sequence number.
		if gap := seq - c.highest; gap > 1 {
			if int(gap) > len(c.slots) {
				gap = uint16(len(c.slots))
			}
			for s := seq - gap + 1; s != seq; s++ {
				c.slots[s&c.mask].valid = false
			}
		}
		c.highest = seq
	} else if c.highest-seq > c.mask {
		c.mu.Unlock() // too old for the ring
		return
	}
	i := int(seq & c.mask)
	sl := &c.slots[i]
	if sl.valid && seqNewer(sl.seq, seq) {
		c.mu.Unlock()
		return
	}
	copy(c.data[i*slotSize:], pkt)
	*sl = cacheSlot{seq: seq, n: uint16(len(pkt)), valid: true}
	c.mu.Unlock()
}

// get copies the packet with sequence number seq into dst and returns its
// length, or 0 if the packet is not (or no longer) in the cache.
func (c *packetCache) get(seq uint16, dst []byte) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.started || seqNewer(seq, c.highest) || c.highest-seq > c.mask {
		return 0
	}
	i := int(seq & c.mask)
	sl := c.slots[i]
	if !sl.valid || sl.seq != seq || int(sl.n) > len(dst) {
		return 0
	}
	return copy(dst, c.data[i*slotSize:i*slotSize+int(sl.n)])
}
