package bridge

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"switchboard/internal/audio"
	"switchboard/internal/protocol"
	"switchboard/internal/room"
	"switchboard/internal/sfu"
	"switchboard/internal/sip"
)

// Conference is a SIP call in an ordinary Opus meeting, transcoding both
// ways (unlike Participant, which needs a G.711 room). The phone hears a
// mix of every audio track in the room (mix-minus: its own voice is not
// among them), decoded from Opus and encoded to G.711 every 20 ms, with
// silence when nobody speaks; the phone's G.711 is encoded to Opus and
// published as an ordinary microphone track with the RFC 6464 audio level,
// so active-speaker detection sees the phone like a browser.
//
// Its media is a phone's RTP socket or, for a browser SIP client (JsSIP,
// SIP.js), a WebRTCMedia carrying the same G.711 over ICE and DTLS-SRTP.
//
// A Conference owns the call's RTP from the start: before it joins a room
// it can play tones to the phone and report keys (a dial-in prompt asking
// for the meeting's PIN), so the one RTP read loop serves both.
type Conference struct {
	id      string
	rs      Media // a phone's RTP socket, or a browser SIP client's peer connection
	codec   sip.Codec
	law     audio.Law
	dtmf    int
	metrics *sfu.Metrics
	log     *slog.Logger
	onClose func(reason string)
	onKey   atomic.Pointer[func(sip.DTMFEvent)]
	stats   *ConferenceStats

	// Phone -> room, owned by the RTP read loop.
	enc     *audio.OpusEncoder
	keys    sip.DTMFDetector
	pcm8    []int16 // decoded phone audio not yet encoded
	opusBuf []byte
	outSeq  uint16
	outTS   uint32
	outSSRC uint32

	mu      sync.Mutex
	room    *room.Room
	track   *sfu.Track
	in      *packetReader
	sources map[string]*confSource // by room track id
	tones   []int16                // 8 kHz samples to play to the phone before the mix
	closed  bool
	done    chan struct{}
	loop    sync.WaitGroup

	// Counters for tests and logs.
	FramesToPhone   atomic.Uint64 // G.711 packets sent to the phone
	FramesToRoom    atomic.Uint64 // Opus packets published from the phone's voice
	PacketsFromRoom atomic.Uint64 // Opus packets received from the room's tracks
}

// confSource is one audio track of the room that the phone hears.
type confSource struct {
	trackID string
	dt      *sfu.DownTrack
	ch      chan opusPacket
}

type opusPacket struct {
	seq     uint16
	payload []byte
}

// confAudioLevelID is the header extension id of the audio level in the
// packets we publish (the SFU rewrites it to each subscriber's id).
const confAudioLevelID = 1

// ConferenceCodec is the Opus codec the phone is published with.
var ConferenceCodec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: audio.Rate, Channels: 2,
	SDPFmtpLine: "minptime=10;useinbandfec=1"}

// ErrConferenceCodec is returned for a call whose codec is not G.711.
var ErrConferenceCodec = errors.New("bridge: a phone in a meeting needs G.711 (PCMU or PCMA)")

// ConferenceOptions are a Conference's optional parts.
type ConferenceOptions struct {
	Metrics *sfu.Metrics     // the SFU's counters, for the published track
	Stats   *ConferenceStats // shared by all conferences, for the server's metrics
	Logger  *slog.Logger
	// OnClose is called once when the room ends the participant (removed,
	// room closed, shutdown), so the call can be hung up.
	OnClose func(reason string)
}

// ConferenceStats count what all conferences of a server do.
type ConferenceStats struct {
	Sessions      atomic.Int64  // conferences running (transcoding sessions)
	FramesToPhone atomic.Uint64 // G.711 frames sent to phones
	VoicedToPhone atomic.Uint64 // of those, frames with sound (louder than -60 dBov)
	FramesToRoom  atomic.Uint64 // Opus frames published from phones
}

// voicedLevel is the loudest RFC 6464 level (-dBov) counted as silence.
const voicedLevel = 60

// NewConference takes over an answered call's media (rs: its RTP session
// or WebRTCMedia, with the call's G.711 codec and telephone-event payload
// type dtmf, -1 for none) and
// starts its media: silence (or tones) to the phone every 20 ms. It fails
// with audio.ErrNoOpus in a build without libopus.
func NewConference(rs Media, codec sip.Codec, dtmf int, opts ConferenceOptions) (*Conference, error) {
	law, err := audio.LawOf(codec.Name)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConferenceCodec, err)
	}
	// libopus codes at the phone's 8 kHz and resamples inside (SIMD C):
	// about 2.5 times cheaper than 48 kHz Opus plus a resampler in Go
	// (docs/performance.md).
	enc, err := audio.NewOpusEncoder(audio.PhoneRate)
	if err != nil {
		return nil, err // audio.ErrNoOpus in a build without libopus
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	stats := opts.Stats
	if stats == nil {
		stats = &ConferenceStats{}
	}
	stats.Sessions.Add(1)
	c := &Conference{id: "sip_" + room.NewID(), rs: rs, codec: codec, law: law, dtmf: dtmf, metrics: opts.Metrics,
		stats: stats, onClose: opts.OnClose, enc: enc, outSSRC: randUint32(), outSeq: uint16(randUint32()),
		sources: map[string]*confSource{}, done: make(chan struct{}),
		in: &packetReader{ch: make(chan []byte, 64), done: make(chan struct{})}}
	c.log = log.With("participant", c.id)
	rs.Start(c.fromPhone)
	// Keys sent by SIP INFO count as keypad tones too (a PIN keyed so).
	rs.OnSignalledKey(func(e sip.DTMFEvent) {
		if f := c.onKey.Load(); f != nil {
			(*f)(e)
		}
	})
	c.loop.Go(c.toPhoneLoop)
	return c, nil
}

func randUint32() uint32 {
	var b [4]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

// ID is the participant's id in the room.
func (c *Conference) ID() string { return c.id }

// OnKey sets what is told of each key pressed on the phone (nil: nothing).
// It runs in the media read loop and must not block.
func (c *Conference) OnKey(f func(sip.DTMFEvent)) {
	if f == nil {
		c.onKey.Store(nil)
		return
	}
	c.onKey.Store(&f)
}

// Tone is one part of a prompt: a sum of sines (none: a pause).
type Tone struct {
	Freqs []float64
	Dur   time.Duration
}

// Prompt tones of the dial-in.
var (
	// PromptTone asks for input: two short rising beeps.
	PromptTone = []Tone{{[]float64{660}, 150 * time.Millisecond}, {nil, 80 * time.Millisecond}, {[]float64{880}, 150 * time.Millisecond}}
	// ErrorTone says the input was wrong: three low beeps.
	ErrorTone = []Tone{{[]float64{400}, 200 * time.Millisecond}, {nil, 100 * time.Millisecond},
		{[]float64{400}, 200 * time.Millisecond}, {nil, 100 * time.Millisecond}, {[]float64{400}, 200 * time.Millisecond}}
	// JoinTone says the phone is in the meeting: one rising chord.
	JoinTone = []Tone{{[]float64{523, 659}, 200 * time.Millisecond}, {[]float64{659, 784}, 250 * time.Millisecond}}
)

// Play queues tones to the phone; they play before (instead of) the mix.
// It returns how long they last from now.
func (c *Conference) Play(tones []Tone) time.Duration {
	var pcm []int16
	for _, t := range tones {
		n := int(t.Dur * audio.PhoneRate / time.Second)
		start := len(pcm)
		pcm = append(pcm, make([]int16, n)...)
		for _, f := range t.Freqs {
			tone := audio.Tone(nil, f, audio.PhoneRate, 0, n, 0.3/float64(len(t.Freqs)))
			for i, s := range tone {
				pcm[start+i] += s
			}
		}
	}
	c.mu.Lock()
	c.tones = append(c.tones, pcm...)
	d := time.Duration(len(c.tones)) * time.Second / audio.PhoneRate
	c.mu.Unlock()
	return d
}

// lobbyWait bounds how long a phone waits in a meeting's lobby.
const lobbyWait = 5 * time.Minute

// Join puts the phone into r under name: it subscribes to every audio
// track there and publishes the phone's voice. A Conference joins once.
// admitted is a host's own call (dial-out); a phone that dialled in is not,
// so a locked meeting refuses it (room.ErrLocked) and one with a lobby
// keeps it waiting there until a host lets it in (room.ErrDenied if not).
func (c *Conference) Join(r *room.Room, name string, admitted bool) error {
	c.mu.Lock()
	if c.closed || c.room != nil {
		c.mu.Unlock()
		return errors.New("bridge: the phone already left or joined")
	}
	c.room = r
	c.mu.Unlock()
	log := c.log.With("room", r.ID())
	fail := func(err error) error {
		c.mu.Lock()
		c.room = nil
		c.mu.Unlock()
		return fmt.Errorf("bridge: join room: %w", err)
	}
	_, wait, err := r.Join(room.JoinRequest{Participant: c, Name: name, Admitted: admitted, Guest: true,
		Perms: protocol.Permissions{Publish: true, Subscribe: true}})
	if err != nil {
		return fail(err)
	}
	if wait != nil {
		log.Info("phone waiting in the meeting's lobby")
		select {
		case ok := <-wait:
			if !ok {
				return fail(room.ErrDenied)
			}
			// Let in: now join for real, as the signal layer does.
			if _, _, err := r.Join(room.JoinRequest{Participant: c, Name: name, Admitted: true, Guest: true,
				Perms: protocol.Permissions{Publish: true, Subscribe: true}}); err != nil {
				return fail(err)
			}
		case <-c.done:
			r.Leave(c.id, "gone")
			return fail(errors.New("the call ended in the lobby"))
		case <-time.After(lobbyWait):
			r.Leave(c.id, "timeout")
			return fail(room.ErrDenied)
		}
	}
	info := protocol.TrackInfo{ID: "t_" + room.NewID(), Participant: c.id, Kind: "audio", Source: "microphone"}
	track := sfu.NewTrack(sfu.TrackOptions{ID: info.ID, StreamID: c.id, Kind: webrtc.RTPCodecTypeAudio,
		Codec: ConferenceCodec, AudioLevelExtID: confAudioLevelID, Logger: log, Metrics: c.metrics})
	if err := track.AddReader(c.outSSRC, c.in); err != nil {
		c.Leave("failed")
		return err
	}
	c.mu.Lock()
	c.track = track
	closed := c.closed
	c.mu.Unlock()
	if closed {
		track.Close()
		return errors.New("bridge: the phone left while joining")
	}
	if err := r.Publish(room.NewTrack(info, track)); err != nil {
		c.Leave("failed")
		return fmt.Errorf("bridge: publish: %w", err)
	}
	log.Info("phone joined the meeting (transcoding Opus and G.711)", "codec", c.codec.Name)
	return nil
}

// fromPhone handles one packet from the phone (the RTP read loop): keys
// always; voice, once in a room, is encoded to Opus and published.
func (c *Conference) fromPhone(p *rtp.Packet) {
	switch {
	case p.PayloadType == c.codec.PayloadType:
	case c.dtmf >= 0 && int(p.PayloadType) == c.dtmf:
		if evs := c.keys.Feed(p.Timestamp, p.Payload); len(evs) > 0 {
			c.rs.CountKeys(true, len(evs))
			if f := c.onKey.Load(); f != nil {
				for _, e := range evs {
					(*f)(e)
				}
			}
		}
		return
	default:
		return
	}
	c.mu.Lock()
	joined := c.track != nil && !c.closed
	c.mu.Unlock()
	if !joined {
		return
	}
	c.pcm8 = audio.DecodeG711(c.law, c.pcm8, p.Payload)
	for len(c.pcm8) >= audio.PhoneFrameSamples {
		frame := c.pcm8[:audio.PhoneFrameSamples]
		var err error
		c.opusBuf, err = c.enc.Encode(c.opusBuf[:0], frame)
		lvl := audio.Level(frame)
		c.pcm8 = append(c.pcm8[:0], c.pcm8[audio.PhoneFrameSamples:]...)
		if err != nil {
			c.log.Warn("opus encode", "err", err)
			continue
		}
		out := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: c.outSeq,
			Timestamp: c.outTS, SSRC: c.outSSRC}, Payload: c.opusBuf}
		// RFC 6464: the level in -dBov; the top bit flags voice.
		if lvl < 50 {
			lvl |= 0x80
		}
		_ = out.Header.SetExtension(confAudioLevelID, []byte{lvl})
		c.outSeq++
		c.outTS += audio.FrameSamples
		if raw, err := out.Marshal(); err == nil {
			c.in.push(raw)
			c.FramesToRoom.Add(1)
			c.stats.FramesToRoom.Add(1)
		}
	}
}

// toPhoneLoop sends the phone one G.711 frame every 20 ms: tones when
// some are queued, else the mix of the room (silence when empty).
func (c *Conference) toPhoneLoop() {
	var (
		mixer   = audio.NewMixer(audio.PhoneFrameSamples, 3)
		rx      = map[string]*audio.OpusReceiver{}
		live    = map[string]bool{}
		out8    = make([]int16, 0, audio.PhoneFrameSamples)
		payload = make([]byte, 0, audio.PhoneFrameSamples)
		srcs    []*confSource
		seq     = uint16(randUint32())
		ts      = randUint32()
		ssrc    = randUint32()
		first   = true
	)
	frame := func() {
		c.mu.Lock()
		srcs = srcs[:0]
		for _, s := range c.sources {
			srcs = append(srcs, s)
		}
		out8 = out8[:0]
		if n := min(len(c.tones), audio.PhoneFrameSamples); n > 0 {
			out8 = append(out8, c.tones[:n]...)
			c.tones = c.tones[n:]
		}
		c.mu.Unlock()

		clear(live)
		for _, s := range srcs {
			live[s.trackID] = true
			r := rx[s.trackID]
			if r == nil {
				var err error
				if r, err = audio.NewOpusReceiver(audio.PhoneRate); err != nil {
					continue // cannot happen: NewConference checked
				}
				rx[s.trackID] = r
			}
		drain:
			for {
				select {
				case p := <-s.ch:
					pcm, err := r.Packet(p.seq, p.payload)
					if err != nil {
						c.log.Debug("opus decode", "track", s.trackID, "err", err)
						continue
					}
					mixer.Push(s.trackID, pcm)
				default:
					break drain
				}
			}
		}
		for id := range rx {
			if !live[id] {
				delete(rx, id)
				mixer.Remove(id)
			}
		}
		mixer.Tick()
		if len(out8) == 0 {
			out8 = mixer.Output(out8, "")
		} else {
			for len(out8) < audio.PhoneFrameSamples {
				out8 = append(out8, 0)
			}
		}
		payload = audio.EncodeG711(c.law, payload[:0], out8)
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, Marker: first, PayloadType: c.codec.PayloadType,
			SequenceNumber: seq, Timestamp: ts, SSRC: ssrc}, Payload: payload}
		seq++
		ts += audio.PhoneFrameSamples
		if c.rs.WriteRTP(&pkt) == nil {
			first = false
			c.FramesToPhone.Add(1)
			c.stats.FramesToPhone.Add(1)
			if audio.Level(out8) <= voicedLevel {
				c.stats.VoicedToPhone.Add(1)
			}
		}
	}
	// Frames go by the clock, not by ticks: a loop woken late (a busy
	// machine) sends what is due, so the phone gets 50 frames a second;
	// after a long stall the backlog is skipped rather than burst.
	const maxCatchUp = 5
	start, sent := time.Now(), 0
	tick := time.NewTicker(audio.Frame)
	defer tick.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-tick.C:
		}
		due := int(time.Since(start)/audio.Frame) + 1 - sent
		if due > maxCatchUp {
			sent += due - maxCatchUp
			due = maxCatchUp
		}
		for range due {
			frame()
			sent++
		}
	}
}

// Send drops room events: a phone has no use for them.
func (c *Conference) Send(protocol.Message) {}

// Subscribe adds an audio track of the room to the phone's mix. It is
// called with the room's lock held, so the binding happens in a goroutine.
func (c *Conference) Subscribe(t *room.Track) {
	media, ok := t.Media.(*sfu.Track)
	if !ok || t.Kind() != "audio" || t.Publisher() == c.id {
		return
	}
	c.mu.Lock()
	if c.closed || c.sources[t.ID()] != nil {
		c.mu.Unlock()
		return
	}
	s := &confSource{trackID: t.ID(), dt: media.Subscribe(c.id), ch: make(chan opusPacket, 16)}
	c.sources[t.ID()] = s
	c.mu.Unlock()
	go func() {
		if _, err := s.dt.Bind(&confContext{c: c, s: s, ssrc: randUint32()}); err != nil {
			c.log.Warn("the phone cannot hear this track (not Opus?)", "track", t.ID(), "err", err)
		}
	}()
}

// Unsubscribe drops a track from the mix.
func (c *Conference) Unsubscribe(t *room.Track) {
	c.mu.Lock()
	s := c.sources[t.ID()]
	delete(c.sources, t.ID())
	c.mu.Unlock()
	if s != nil {
		s.dt.Close()
	}
}

// Close is the room ending the participant.
func (c *Conference) Close(reason string) {
	if c.stop() && c.onClose != nil {
		go c.onClose(reason)
	}
}

// Leave takes the phone out of its room, if any, and stops the media (the
// call ended). The RTP session is the call's to close.
func (c *Conference) Leave(reason string) {
	c.mu.Lock()
	r := c.room
	c.mu.Unlock()
	if r != nil {
		r.Leave(c.id, reason)
	}
	c.stop()
	c.loop.Wait()
}

// stop releases the media once; it reports whether it did.
func (c *Conference) stop() bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	c.closed = true
	close(c.done)
	c.stats.Sessions.Add(-1)
	srcs := c.sources
	c.sources = map[string]*confSource{}
	track := c.track
	c.mu.Unlock()
	for _, s := range srcs {
		s.dt.Close()
	}
	c.in.close()
	c.rs.OnSignalledKey(nil)
	if track != nil {
		track.Close()
	}
	return true
}

// confContext binds a DownTrack of a room's audio track to the mix, as
// pion binds a track to a peer connection: it accepts Opus only, and what
// the DownTrack writes is queued for the mixing loop.
type confContext struct {
	c    *Conference
	s    *confSource
	ssrc uint32
}

func (x *confContext) CodecParameters() []webrtc.RTPCodecParameters {
	return []webrtc.RTPCodecParameters{{RTPCodecCapability: ConferenceCodec, PayloadType: 111}}
}
func (x *confContext) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter { return nil }
func (x *confContext) SSRC() webrtc.SSRC                                      { return webrtc.SSRC(x.ssrc) }
func (x *confContext) SSRCRetransmission() webrtc.SSRC                        { return 0 }
func (x *confContext) SSRCForwardErrorCorrection() webrtc.SSRC                { return 0 }
func (x *confContext) WriteStream() webrtc.TrackLocalWriter                   { return (*mixWriter)(x) }
func (x *confContext) ID() string                                             { return x.c.id + "/" + x.s.trackID }
func (x *confContext) RTCPReader() interceptor.RTCPReader                     { return nil }
func (x *confContext) RTCPReaderForSSRC() interceptor.RTCPReader              { return nil }

// mixWriter queues what a DownTrack writes for the mixing loop. It runs in
// the publisher's read loop: it copies and never blocks (a full queue
// drops the packet, which the decoder conceals).
type mixWriter confContext

func (w *mixWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	if len(payload) == 0 {
		return 0, nil
	}
	p := opusPacket{seq: h.SequenceNumber, payload: append([]byte(nil), payload...)}
	select {
	case w.s.ch <- p:
		w.c.PacketsFromRoom.Add(1)
	default:
	}
	return len(payload), nil
}

func (w *mixWriter) Write(b []byte) (int, error) {
	var p rtp.Packet
	if err := p.Unmarshal(b); err != nil {
		return 0, err
	}
	return w.WriteRTP(&p.Header, p.Payload)
}

var _ room.Participant = (*Conference)(nil)
