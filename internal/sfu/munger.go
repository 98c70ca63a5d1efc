package sfu

// munger rewrites sequence numbers, timestamps and (VP8/VP9) picture IDs of
// one outgoing stream that is fed from several source layers, one at a time.
//
// A "segment" is a run of packets forwarded from one source layer with
// constant offsets. A new segment starts at a switch point (the first packet
// of a keyframe on the new layer, or the first packet after a pause); its
// offsets are chosen so that the outgoing stream continues with the next
// sequence number, a timestamp advanced by the wall-clock time since the last
// forwarded packet, and the next picture ID / TL0PICIDX. Inside a segment,
// gaps (real loss) are preserved so subscribers can NACK them.
//
// munger is not safe for concurrent use; the DownTrack guards it with its mutex.
type munger struct {
	started bool

	seqOffset uint16 // out = src + seqOffset
	tsOffset  uint32 // out = src + tsOffset
	segStart  uint16 // first source seq of the current segment
	highest   uint16 // highest source seq seen in the current segment

	lastSeq  uint16 // highest outgoing seq
	lastTS   uint32 // outgoing timestamp of the packet with lastSeq
	lastTime int64  // monotonic ns when lastSeq was forwarded

	// Picture ID and TL0PICIDX continuity (VP8/VP9).
	picOffset uint16
	tl0Offset uint8
	lastPic   uint16
	lastTL0   uint8
	havePic   bool
}

// mungeResult is the rewritten header data of one packet.
type mungeResult struct {
	seq uint16
	ts  uint32
	pic uint16
	tl0 uint8
	// rewritePic is set when the payload descriptor must be rewritten
	// (picture ID or TL0PICIDX differ from the source).
	rewritePic bool
}

// begin starts a new segment at the source packet (srcSeq, srcTS, desc).
// clockRate is the codec clock rate; now is monotonic nanoseconds.
func (m *munger) begin(srcSeq uint16, srcTS uint32, desc picDesc, now int64, clockRate uint32) {
	if m.started {
		m.seqOffset = m.lastSeq + 1 - srcSeq
		elapsed := now - m.lastTime
		if elapsed < 0 {
			elapsed = 0
		}
		delta := uint32(uint64(elapsed) * uint64(clockRate) / 1e9)
		if delta == 0 {
			delta = 1
		}
		m.tsOffset = m.lastTS + delta - srcTS
		if m.havePic {
			m.picOffset = m.lastPic + 1 - desc.pic
			m.tl0Offset = m.lastTL0 + 1 - desc.tl0
		}
	} else {
		m.seqOffset, m.tsOffset, m.picOffset, m.tl0Offset = 0, 0, 0, 0
	}
	m.segStart = srcSeq
	m.highest = srcSeq - 1
	if !m.started {
		// Seed "last" so the first packet counts as in order.
		m.lastSeq = srcSeq - 1
		m.lastTS = srcTS
		m.lastTime = now
		m.started = true
	}
}

// munge maps a source packet of the current segment to the outgoing stream.
// ok is false if the packet must be dropped: it belongs to an earlier segment
// or duplicates the highest packet.
func (m *munger) munge(srcSeq uint16, srcTS uint32, desc picDesc, now int64) (r mungeResult, ok bool) {
	if !m.started {
		return r, false
	}
	if srcSeq-m.segStart >= 0x8000 {
		return r, false // older than the segment start
	}
	inOrder := seqNewer(srcSeq, m.highest)
	if !inOrder && srcSeq == m.highest {
		return r, false // duplicate
	}
	r.seq = srcSeq + m.seqOffset
	r.ts = srcTS + m.tsOffset
	if desc.picOff >= 0 {
		mask := desc.picMask()
		r.pic = (desc.pic + m.picOffset) & mask
		r.rewritePic = m.picOffset&mask != 0
	}
	if desc.tl0Off >= 0 {
		r.tl0 = desc.tl0 + m.tl0Offset
		r.rewritePic = r.rewritePic || m.tl0Offset != 0
	}
	if inOrder {
		m.highest = srcSeq
		// The segment's start follows the stream, so that "older than the segment start" means
		// older than a quarter of the sequence space behind the newest packet, not (once the
		// stream has run 2^15 packets) every new packet.
		if srcSeq-m.segStart > 0x4000 {
			m.segStart = srcSeq - 0x4000
		}
		m.lastSeq = r.seq
		m.lastTS = r.ts
		m.lastTime = now
		if desc.picOff >= 0 {
			m.lastPic = r.pic
			m.havePic = true
		}
		if desc.tl0Off >= 0 {
			m.lastTL0 = r.tl0
		}
	}
	return r, true
}

// skip consumes an in-order source packet that is not forwarded (padding
// only) without leaving a gap in the outgoing sequence. Packets older than it
// are dropped afterwards, since their outgoing numbers would collide.
// It returns false if the packet could not be absorbed (out of order).
func (m *munger) skip(srcSeq uint16) bool {
	if !m.started || srcSeq != m.highest+1 {
		return false
	}
	m.highest = srcSeq
	m.segStart = srcSeq + 1
	m.seqOffset--
	return true
}
