package bridge

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"switchboard/internal/protocol"
	"switchboard/internal/room"
	"switchboard/internal/sfu"
	"switchboard/internal/sip"
)

// Participant is a SIP call in a meeting room, like a browser but without
// a peer connection: it publishes the phone's voice as an sfu.Track fed
// with the call's RTP, and the first audio track it is given to subscribe
// to goes to the phone through a DownTrack bound to the call's RTP socket.
// The room must carry G.711 (room.Settings.AudioCodec) so that nothing is
// transcoded. A phone hears one other person; mixing several (mix-minus)
// is for later.
type Participant struct {
	id    string
	room  *room.Room
	rs    Media
	codec sip.Codec
	wc    webrtc.RTPCodecParameters
	track *sfu.Track
	in    *packetReader
	log   *slog.Logger
	// onClose is called once when the room ends the participant (removed,
	// room closed, shutdown), so the call can be hung up.
	onClose func(reason string)
	// dtmf is the phone's telephone-event payload type, -1 when it has none.
	dtmf int
	// OnKey, when set before media flows (right after Join), is called
	// (from the RTP read loop, or the SIP server for INFO keys: it must not
	// block) for each key pressed on the phone.
	onKey atomic.Pointer[func(sip.DTMFEvent)]

	keysFromPhone atomic.Uint64
	keysToPhone   atomic.Uint64

	// The phone's stream into the room, renumbered so that key presses
	// from SIP INFO can be inserted into it as RFC 4733 packets.
	inMu      sync.Mutex
	inStarted bool
	inSSRC    uint32
	inSeq     uint16    // last sequence number pushed
	inTS      uint32    // timestamp of the last audio packet
	inAt      time.Time // when it came
	seqShift  uint16    // packets inserted so far

	out *toPhone // what the phone hears, with silence when nothing comes

	mu     sync.Mutex
	down   *sfu.DownTrack // what the phone hears
	downID string         // its room track id
	closed bool
}

// roomDTMF is the telephone-event payload type of the phone's track in the
// room (the SFU maps it to each subscriber's).
const roomDTMF = 101

// Join puts the call answered on rs with codec into r under name, and
// starts the media both ways. dtmf is the phone's RFC 4733
// telephone-event payload type (-1: it negotiated none): keypad tones
// pass through between the phone and the browsers. ssrc-level details are
// the bridge's.
func Join(r *room.Room, rs Media, codec sip.Codec, dtmf int, name string, metrics *sfu.Metrics, log *slog.Logger,
	onClose func(reason string),
) (*Participant, error) {
	wc, err := Codec(codec)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	p := &Participant{id: "sip_" + room.NewID(), room: r, rs: rs, codec: codec, wc: wc,
		in: &packetReader{ch: make(chan []byte, 64), done: make(chan struct{})}, onClose: onClose, dtmf: dtmf,
		out: newToPhone(rs, codec)}
	p.log = log.With("participant", p.id, "room", r.ID())
	if _, _, err := r.Join(room.JoinRequest{Participant: p, Name: name, Admitted: true,
		Perms: protocol.Permissions{Publish: true, Subscribe: true}}); err != nil {
		return nil, fmt.Errorf("bridge: join room: %w", err)
	}
	info := protocol.TrackInfo{ID: "t_" + room.NewID(), Participant: p.id, Kind: "audio", Source: "microphone"}
	// Keys come in band (RFC 4733, when the phone negotiated it) or by
	// SIP INFO; both go into the room as telephone-events.
	p.track = sfu.NewTrack(sfu.TrackOptions{ID: info.ID, StreamID: p.id, Kind: webrtc.RTPCodecTypeAudio,
		Codec: wc.RTPCodecCapability, DTMFPayloadType: roomDTMF, Logger: p.log, Metrics: metrics})
	var b [4]byte
	rand.Read(b[:])
	if err := p.track.AddReader(binary.BigEndian.Uint32(b[:]), p.in); err != nil {
		r.Leave(p.id, "failed")
		return nil, err
	}
	var keys sip.DTMFDetector
	rs.Start(func(pkt *rtp.Packet) {
		switch {
		case pkt.PayloadType == codec.PayloadType:
		case dtmf >= 0 && int(pkt.PayloadType) == dtmf:
			// A key press: counted when it ends (by timestamp), and passed
			// on in the audio's stream with the room's payload type.
			if evs := keys.Feed(pkt.Timestamp, pkt.Payload); len(evs) > 0 {
				p.keysFromPhone.Add(uint64(len(evs)))
				rs.CountKeys(true, len(evs))
				p.log.Debug("key pressed on the phone", "keys", len(evs))
				if f := p.onKey.Load(); f != nil {
					for _, e := range evs {
						(*f)(e)
					}
				}
			}
			pkt.PayloadType = roomDTMF
		default:
			return
		}
		p.intoRoom(pkt)
	})
	rs.OnSignalledKey(p.signalledKey)
	go p.out.run(p.in.done)
	if err := r.Publish(room.NewTrack(info, p.track)); err != nil {
		p.Leave("failed")
		return nil, fmt.Errorf("bridge: publish: %w", err)
	}
	p.log.Info("sip call joined the room", "codec", codec.Name)
	return p, nil
}

// intoRoom pushes a packet of the phone's into the room, renumbered after
// the key presses inserted so far.
func (p *Participant) intoRoom(pkt *rtp.Packet) {
	p.inMu.Lock()
	pkt.SequenceNumber += p.seqShift
	p.inStarted, p.inSSRC, p.inSeq = true, pkt.SSRC, pkt.SequenceNumber
	if pkt.PayloadType != roomDTMF {
		p.inTS, p.inAt = pkt.Timestamp, time.Now()
	}
	raw, err := pkt.Marshal()
	p.inMu.Unlock()
	if err == nil {
		p.in.push(raw)
	}
}

// signalledKey takes a key pressed on the phone that came by SIP INFO:
// it is reported like an RFC 4733 key, and put into the phone's stream in
// the room as telephone-event packets (start, then the end three times),
// at the stream's current time, so browsers and other phones get it in
// band.
func (p *Participant) signalledKey(e sip.DTMFEvent) {
	ev := strings.IndexByte("0123456789*#ABCD", e.Digit)
	if ev < 0 {
		return
	}
	p.keysFromPhone.Add(1)
	p.log.Debug("key pressed on the phone (SIP INFO)")
	if f := p.onKey.Load(); f != nil {
		(*f)(e)
	}
	now := time.Now()
	p.inMu.Lock()
	if !p.inStarted {
		var b [10]byte
		rand.Read(b[:])
		p.inSSRC, p.inSeq, p.inTS = binary.BigEndian.Uint32(b[:4]), binary.BigEndian.Uint16(b[4:6]), binary.BigEndian.Uint32(b[6:])
		p.inStarted, p.inAt = true, now
	}
	ts := p.inTS + uint32(now.Sub(p.inAt)/time.Millisecond)*8
	raws := make([][]byte, 0, 4)
	for i := range 4 {
		end := i > 0
		dur := e.Duration
		if !end {
			dur = min(dur, 160)
		}
		flags := byte(10) // volume -10 dBm0
		if end {
			flags |= 0x80
		}
		p.inSeq++
		p.seqShift++
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, Marker: i == 0, PayloadType: roomDTMF, SequenceNumber: p.inSeq,
			Timestamp: ts, SSRC: p.inSSRC}, Payload: []byte{byte(ev), flags, byte(dur >> 8), byte(dur)}}
		if raw, err := pkt.Marshal(); err == nil {
			raws = append(raws, raw)
		}
	}
	p.inMu.Unlock()
	for _, raw := range raws {
		p.in.push(raw)
	}
}

// SilenceFrames is how many silence frames the phone was sent because
// the room sent it nothing (a muted or held browser).
func (p *Participant) SilenceFrames() uint64 { return p.out.silenceFrames() }

// SetHeld is our hold of the phone: while held it hears silence, nothing
// of the room (the re-INVITE only asks the phone to stop sending).
func (p *Participant) SetHeld(held bool) { p.out.hold(held) }

// OnKey sets what is told of each key pressed on the phone (nil: nothing).
// It runs in the media read loop and must not block.
func (p *Participant) OnKey(f func(sip.DTMFEvent)) {
	if f == nil {
		p.onKey.Store(nil)
		return
	}
	p.onKey.Store(&f)
}

// KeysFromPhone is how many key presses (RFC 4733 events) came from the phone.
func (p *Participant) KeysFromPhone() uint64 { return p.keysFromPhone.Load() }

// KeysToPhone is how many key presses from the room were sent to the phone.
func (p *Participant) KeysToPhone() uint64 { return p.keysToPhone.Load() }

// ID is the participant's id in the room.
func (p *Participant) ID() string { return p.id }

// Send drops room events: a phone has no use for them.
func (p *Participant) Send(protocol.Message) {}

// Subscribe binds the first audio track to the phone. It is called with the
// room's lock held, so the binding happens in a goroutine.
func (p *Participant) Subscribe(t *room.Track) {
	media, ok := t.Media.(*sfu.Track)
	if !ok || t.Kind() != "audio" {
		return
	}
	p.mu.Lock()
	if p.closed || p.down != nil {
		p.mu.Unlock()
		return
	}
	dt := media.Subscribe(p.id)
	p.down, p.downID = dt, t.ID()
	p.mu.Unlock()
	go func() {
		ctx := &phoneContext{p: p}
		if _, err := dt.Bind(ctx); err != nil {
			p.log.Warn("the phone cannot hear this track", "track", t.ID(), "err", err)
		}
	}()
}

// Unsubscribe stops what the phone hears when that track goes.
func (p *Participant) Unsubscribe(t *room.Track) {
	p.mu.Lock()
	dt := p.down
	if dt == nil || p.downID != t.ID() {
		p.mu.Unlock()
		return
	}
	p.down, p.downID = nil, ""
	p.mu.Unlock()
	dt.Close()
}

// Close is the room ending the participant.
func (p *Participant) Close(reason string) {
	if p.stop() && p.onClose != nil {
		go p.onClose(reason)
	}
}

// Leave takes the call out of the room (the call ended).
func (p *Participant) Leave(reason string) {
	p.room.Leave(p.id, reason)
	p.stop()
}

// stop releases the media once; it reports whether it did.
func (p *Participant) stop() bool {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return false
	}
	p.closed = true
	dt := p.down
	p.down = nil
	p.mu.Unlock()
	if dt != nil {
		dt.Close()
	}
	p.in.close()
	p.rs.OnSignalledKey(nil)
	if p.track != nil {
		p.track.Close()
	}
	return true
}

// packetReader feeds raw RTP packets to the sfu.Track's read loop.
type packetReader struct {
	ch   chan []byte
	done chan struct{}
	once sync.Once
}

// push queues a packet, dropping it when the reader is behind (as a
// network would).
func (r *packetReader) push(b []byte) {
	select {
	case r.ch <- b:
	case <-r.done:
	default:
	}
}

func (r *packetReader) Read(b []byte) (int, interceptor.Attributes, error) {
	select {
	case pkt := <-r.ch:
		return copy(b, pkt), nil, nil
	case <-r.done:
		return 0, nil, io.EOF
	}
}

func (r *packetReader) close() { r.once.Do(func() { close(r.done) }) }

// phoneContext binds a DownTrack to the call's RTP socket, as pion binds a
// track to a peer connection: the codec is the phone's (with its payload
// type), and what the DownTrack writes goes to the phone.
type phoneContext struct {
	p    *Participant
	ssrc webrtc.SSRC
	once sync.Once
}

func (c *phoneContext) CodecParameters() []webrtc.RTPCodecParameters {
	wc := c.p.wc
	wc.PayloadType = webrtc.PayloadType(c.p.codec.PayloadType)
	out := []webrtc.RTPCodecParameters{wc}
	if c.p.dtmf >= 0 {
		// The DownTrack sends keypad tones with the phone's payload type.
		out = append(out, webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: "audio/telephone-event", ClockRate: 8000, Channels: 1}, PayloadType: webrtc.PayloadType(c.p.dtmf)})
	}
	return out
}
func (c *phoneContext) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter { return nil }
func (c *phoneContext) SSRC() webrtc.SSRC {
	c.once.Do(func() {
		var b [4]byte
		rand.Read(b[:])
		c.ssrc = webrtc.SSRC(binary.BigEndian.Uint32(b[:]))
	})
	return c.ssrc
}
func (c *phoneContext) SSRCRetransmission() webrtc.SSRC           { return 0 }
func (c *phoneContext) SSRCForwardErrorCorrection() webrtc.SSRC   { return 0 }
func (c *phoneContext) WriteStream() webrtc.TrackLocalWriter      { return &phoneWriter{p: c.p} }
func (c *phoneContext) ID() string                                { return c.p.id }
func (c *phoneContext) RTCPReader() interceptor.RTCPReader        { return nil }
func (c *phoneContext) RTCPReaderForSSRC() interceptor.RTCPReader { return nil }

// phoneWriter sends what a DownTrack writes to the phone.
type phoneWriter struct {
	p    *Participant
	mu   sync.Mutex
	keys sip.DTMFDetector
}

func (w *phoneWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	p := rtp.Packet{Header: *h, Payload: payload}
	p.Header.Extension, p.Header.Extensions = false, nil // the phone needs none of ours
	if w.p.dtmf >= 0 && int(h.PayloadType) == w.p.dtmf {
		w.mu.Lock()
		n := len(w.keys.Feed(h.Timestamp, payload))
		w.mu.Unlock()
		if n > 0 {
			w.p.keysToPhone.Add(uint64(n))
			w.p.rs.CountKeys(false, n)
			w.p.log.Debug("key pressed towards the phone", "keys", n)
		}
	}
	if err := w.p.out.write(&p, h.PayloadType); err != nil {
		return 0, err
	}
	return len(payload), nil
}

func (w *phoneWriter) Write(b []byte) (int, error) {
	var p rtp.Packet
	if err := p.Unmarshal(b); err != nil {
		return 0, err
	}
	if _, err := w.WriteRTP(&p.Header, p.Payload); err != nil {
		return 0, err
	}
	return len(b), nil
}

var _ room.Participant = (*Participant)(nil)
