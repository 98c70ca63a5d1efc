package bridge

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"

	"github.com/pion/rtp"

	"switchboard/internal/sip"
)

// toPhone is the one RTP stream a phone hears from us. Whatever feeds it
// (a browser's track, the room's, a new one after a browser re-published)
// comes out with our SSRC and continuous numbering. When nothing comes
// for more than silenceAfter (a muted browser sends nothing, a held one
// neither), it sends G.711 silence every 20 ms so that the phone, and the
// NATs between us, do not take the call for dead; when real audio resumes
// its sequence numbers continue ours and its timestamps advance by the
// real time that passed, so the phone sees no jump.
type toPhone struct {
	rs      interface{ WriteRTP(*rtp.Packet) error }
	pt      uint8 // the phone's payload type of the call's codec
	silence []byte

	mu       sync.Mutex
	ssrc     uint32
	started  bool
	source   uint32 // SSRC of the stream now forwarded
	rebase   bool   // the next real packet re-bases its numbering on ours
	seqOff   uint16
	tsOff    uint32
	lastSeq  uint16
	lastTS   uint32
	lastSent time.Time
	held     bool // we hold the phone: it hears silence, never the room

	silenceSent uint64 // under mu
}

// hold stops (true) or restarts what the phone hears from the room: while
// held, real packets are dropped and the silence frames take over.
func (s *toPhone) hold(held bool) {
	s.mu.Lock()
	s.held = held
	s.mu.Unlock()
}

// frameSamples is one 20 ms frame at 8 kHz; silenceAfter is how long the
// browser side may send nothing before silence fills in.
const (
	frameSamples = 160
	frameTime    = 20 * time.Millisecond
	silenceAfter = 60 * time.Millisecond
)

func newToPhone(rs interface{ WriteRTP(*rtp.Packet) error }, codec sip.Codec) *toPhone {
	// The G.711 code of zero amplitude: 0xFF in µ-law, 0xD5 in A-law. G.722
	// (ADPCM) has no constant one: its calls get no silence frames.
	var silence []byte
	if fill, ok := map[string]byte{sip.PCMU.Name: 0xFF, sip.PCMA.Name: 0xD5}[codec.Name]; ok {
		silence = bytes.Repeat([]byte{fill}, frameSamples)
	}
	var b [4]byte
	rand.Read(b[:])
	return &toPhone{rs: rs, pt: codec.PayloadType, silence: silence, ssrc: binary.BigEndian.Uint32(b[:])}
}

// write sends a real packet (its header is rewritten in place): audio with
// payloadType, or the phone's telephone-event type.
func (s *toPhone) write(p *rtp.Packet, payloadType uint8) error {
	now := time.Now()
	s.mu.Lock()
	if s.held {
		s.mu.Unlock()
		return nil
	}
	switch {
	case !s.started:
		s.seqOff, s.tsOff = 0, 0
		s.started, s.source = true, p.SSRC
	case p.SSRC != s.source || s.rebase:
		// A new stream, or the first packet after silence: continue our
		// numbering, timestamps by the real time since our last packet.
		s.seqOff = s.lastSeq + 1 - p.SequenceNumber
		s.tsOff = s.lastTS + framesSince(s.lastSent, now)*frameSamples - p.Timestamp
		s.source = p.SSRC
	}
	s.rebase = false
	p.Header = rtp.Header{Version: 2, Marker: p.Marker, PayloadType: payloadType,
		SequenceNumber: p.SequenceNumber + s.seqOff, Timestamp: p.Timestamp + s.tsOff, SSRC: s.ssrc}
	s.lastSeq, s.lastTS, s.lastSent = p.SequenceNumber, p.Timestamp, now
	s.mu.Unlock()
	return s.rs.WriteRTP(p)
}

// tick sends a silence frame when nothing was sent for silenceAfter.
func (s *toPhone) tick(now time.Time) {
	if s.silence == nil {
		return
	}
	s.mu.Lock()
	if s.started && now.Sub(s.lastSent) < silenceAfter {
		s.mu.Unlock()
		return
	}
	marker := false
	if !s.started {
		var b [6]byte
		rand.Read(b[:])
		s.lastSeq, s.lastTS = binary.BigEndian.Uint16(b[:2]), binary.BigEndian.Uint32(b[2:])
		s.started, s.lastSent, marker = true, now.Add(-frameTime), true
	}
	// Timestamps follow the real time since the last packet (a late tick
	// shows as a gap, as a lost packet would), sequence numbers go one by one.
	s.rebase = true
	s.lastSeq++
	s.lastTS += framesSince(s.lastSent, now) * frameSamples
	s.lastSent = now
	s.silenceSent++
	p := rtp.Packet{Header: rtp.Header{Version: 2, Marker: marker, PayloadType: s.pt, SequenceNumber: s.lastSeq,
		Timestamp: s.lastTS, SSRC: s.ssrc}, Payload: s.silence}
	s.mu.Unlock()
	s.rs.WriteRTP(&p)
}

// framesSince is how many 20 ms frames fit between then and now, rounded,
// at least one.
func framesSince(then, now time.Time) uint32 {
	return max(uint32((now.Sub(then)+frameTime/2)/frameTime), 1)
}

// run ticks every 20 ms until done closes.
func (s *toPhone) run(done <-chan struct{}) {
	t := time.NewTicker(frameTime)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			s.tick(now)
		}
	}
}

// silenceFrames is how many silence frames went to the phone.
func (s *toPhone) silenceFrames() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.silenceSent
}
