//go:build libopus

package bridge

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"sync"
	"testing"
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

type memChat struct{}

func (memChat) AppendChat(_ context.Context, _ string, m protocol.ChatMessage) (protocol.ChatMessage, error) {
	return m, nil
}
func (memChat) ChatHistory(context.Context, string) ([]protocol.ChatMessage, error) { return nil, nil }
func (memChat) FileInfo(context.Context, string, string) (protocol.FileInfo, error) {
	return protocol.FileInfo{}, room.ErrNotFound
}

type memRooms struct{}

func (memRooms) SaveRoom(context.Context, string, room.Settings) error { return nil }
func (memRooms) LoadRoom(context.Context, string) (room.Settings, error) {
	return room.Settings{}, room.ErrNotFound
}
func (memRooms) DeleteRoom(context.Context, string) error { return nil }

// speaker is a meeting participant publishing a tone as Opus through the
// SFU, as a browser's microphone reaches it; every dropEvery-th packet is
// lost on the way (0: none).
type speaker struct {
	id     string
	r      *room.Room
	track  *sfu.Track
	in     *packetReader
	freq   float64
	drop   int
	stop   chan struct{}
	wg     sync.WaitGroup
	listen *listener // what it hears, when it listens
}

func newSpeaker(t *testing.T, r *room.Room, id string, freq float64, drop int) *speaker {
	t.Helper()
	s := &speaker{id: id, r: r, freq: freq, drop: drop, stop: make(chan struct{}),
		in: &packetReader{ch: make(chan []byte, 64), done: make(chan struct{})}, listen: newListener()}
	if _, _, err := r.Join(room.JoinRequest{Participant: s, Name: id, Admitted: true,
		Perms: protocol.Permissions{Publish: true, Subscribe: true}}); err != nil {
		t.Fatal(err)
	}
	info := protocol.TrackInfo{ID: "t_" + id, Participant: id, Kind: "audio", Source: "microphone"}
	s.track = sfu.NewTrack(sfu.TrackOptions{ID: info.ID, Kind: webrtc.RTPCodecTypeAudio, Codec: ConferenceCodec})
	if err := s.track.AddReader(1, s.in); err != nil {
		t.Fatal(err)
	}
	if err := r.Publish(room.NewTrack(info, s.track)); err != nil {
		t.Fatal(err)
	}
	enc, err := audio.NewOpusEncoder(audio.Rate)
	if err != nil {
		t.Fatal(err)
	}
	s.wg.Go(func() {
		tick := time.NewTicker(audio.Frame)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			pcm := audio.Tone(nil, freq, audio.Rate, i*audio.FrameSamples, audio.FrameSamples, 0.3)
			payload, err := enc.Encode(nil, pcm)
			if err != nil {
				panic(err)
			}
			if drop > 0 && i%drop == drop-1 {
				continue
			}
			p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: uint16(i),
				Timestamp: uint32(i * audio.FrameSamples), SSRC: 1}, Payload: payload}
			raw, _ := p.Marshal()
			s.in.push(raw)
		}
	})
	return s
}

func (s *speaker) leave() {
	close(s.stop)
	s.wg.Wait()
	s.r.Leave(s.id, "left")
	s.in.close()
	s.track.Close()
}

func (s *speaker) ID() string                { return s.id }
func (s *speaker) Send(protocol.Message)     {}
func (s *speaker) Subscribe(t *room.Track)   { s.listen.subscribe(t, s.id) }
func (s *speaker) Unsubscribe(t *room.Track) {}
func (s *speaker) Close(string)              {}

// listener decodes the Opus tracks a participant is sent, as a browser
// would play them.
type listener struct {
	mu     sync.Mutex
	pcm    map[string][]int16 // by publisher
	levels map[string]*room.Track
}

func newListener() *listener {
	return &listener{pcm: map[string][]int16{}, levels: map[string]*room.Track{}}
}

func (l *listener) subscribe(t *room.Track, self string) {
	media, ok := t.Media.(*sfu.Track)
	if !ok {
		return
	}
	l.mu.Lock()
	l.levels[t.Publisher()] = t
	l.mu.Unlock()
	dt := media.Subscribe(self)
	dec, err := audio.NewOpusDecoder(audio.Rate)
	if err != nil {
		panic(err)
	}
	go dt.Bind(&listenContext{l: l, from: t.Publisher(), dec: dec})
}

func (l *listener) heard(from string) []int16 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int16(nil), l.pcm[from]...)
}

type listenContext struct {
	l    *listener
	from string
	dec  *audio.OpusDecoder
}

func (x *listenContext) CodecParameters() []webrtc.RTPCodecParameters {
	return []webrtc.RTPCodecParameters{{RTPCodecCapability: ConferenceCodec, PayloadType: 111}}
}
func (x *listenContext) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter { return nil }
func (x *listenContext) SSRC() webrtc.SSRC                                      { return 5 }
func (x *listenContext) SSRCRetransmission() webrtc.SSRC                        { return 0 }
func (x *listenContext) SSRCForwardErrorCorrection() webrtc.SSRC                { return 0 }
func (x *listenContext) WriteStream() webrtc.TrackLocalWriter                   { return x }
func (x *listenContext) ID() string                                             { return x.from }
func (x *listenContext) RTCPReader() interceptor.RTCPReader                     { return nil }
func (x *listenContext) RTCPReaderForSSRC() interceptor.RTCPReader              { return nil }
func (x *listenContext) Write(b []byte) (int, error)                            { return len(b), nil }
func (x *listenContext) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	x.l.mu.Lock()
	defer x.l.mu.Unlock()
	pcm, err := x.dec.Decode(payload, x.l.pcm[x.from])
	if err == nil {
		x.l.pcm[x.from] = pcm
	}
	return len(payload), nil
}

// amplitude is the amplitude (0..1 of full scale) of the freq component of pcm.
func amplitude(pcm []int16, freq float64, rate int) float64 {
	var s, c float64
	for i, v := range pcm {
		x := float64(v) / 32768
		ph := 2 * math.Pi * freq * float64(i) / float64(rate)
		s += x * math.Sin(ph)
		c += x * math.Cos(ph)
	}
	n := float64(len(pcm))
	return 2 * math.Sqrt(s*s+c*c) / n
}

// fakePhone is the phone's end of the call: a UDP socket that sends a
// tone as G.711 and keeps what it receives, decoded.
type fakePhone struct {
	conn *net.UDPConn
	mu   sync.Mutex
	pcm  []int16
	pkts int
	stop chan struct{}
	wg   sync.WaitGroup
}

func newFakePhone(t *testing.T, to netip.AddrPort, freq float64) *fakePhone {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ph := &fakePhone{conn: conn, stop: make(chan struct{})}
	ph.wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			var p rtp.Packet
			if p.Unmarshal(buf[:n]) != nil || p.PayloadType != 0 {
				continue
			}
			ph.mu.Lock()
			ph.pcm = audio.DecodeG711(audio.ULaw, ph.pcm, p.Payload)
			ph.pkts++
			ph.mu.Unlock()
		}
	})
	ph.wg.Go(func() {
		tick := time.NewTicker(audio.Frame)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ph.stop:
				return
			case <-tick.C:
			}
			pcm := audio.Tone(nil, freq, audio.PhoneRate, i*audio.PhoneFrameSamples, audio.PhoneFrameSamples, 0.3)
			p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i),
				Timestamp: uint32(i * audio.PhoneFrameSamples), SSRC: 77}, Payload: audio.EncodeG711(audio.ULaw, nil, pcm)}
			raw, _ := p.Marshal()
			conn.WriteToUDPAddrPort(raw, to)
		}
	})
	return ph
}

func (ph *fakePhone) heard() ([]int16, int) {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	return append([]int16(nil), ph.pcm...), ph.pkts
}

func (ph *fakePhone) sendKey(to netip.AddrPort, digit byte, ts uint32, seq uint16) {
	// RFC 4733: three end packets of one event, same timestamp.
	for i := range 3 {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: seq + uint16(i), Timestamp: ts, SSRC: 77},
			Payload: []byte{digit, 0x80 | 10, 0x03, 0x20}}
		raw, _ := p.Marshal()
		ph.conn.WriteToUDPAddrPort(raw, to)
	}
}

func (ph *fakePhone) close() {
	close(ph.stop)
	ph.conn.Close()
	ph.wg.Wait()
}

// TestConferencePhoneHearsTheRoom puts a phone into an Opus meeting with
// two speakers (one losing a packet in ten): the phone hears both tones
// and not its own, the speakers hear the phone's tone as Opus with an
// audio level, when a speaker leaves the phone stops hearing it, and one
// who joins later is heard.
func TestConferencePhoneHearsTheRoom(t *testing.T) {
	const (
		phoneTone = 700.0
		toneA     = 500.0
		toneB     = 1300.0
	)
	reg := room.NewRegistry(room.Config{MaxParticipants: 10, EmptyTimeout: time.Minute}, memChat{}, memRooms{}, room.Metrics{},
		slog.New(slog.DiscardHandler))
	r, err := reg.Create(context.Background(), room.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Shutdown("test")
	rs, err := sip.ListenRTP("127.0.0.1:0", netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	a := newSpeaker(t, r, "alice", toneA, 10)
	b := newSpeaker(t, r, "bob", toneB, 0)
	defer a.leave()

	phone := newFakePhone(t, rs.LocalAddr(), phoneTone)
	defer phone.close()
	rs.SetRemote(phone.conn.LocalAddr().(*net.UDPAddr).AddrPort(), 0, 101)
	closed := make(chan string, 1)
	conf, err := NewConference(rs, sip.PCMU, 101, ConferenceOptions{OnClose: func(reason string) { closed <- reason }})
	if err != nil {
		t.Fatal(err)
	}
	keys := make(chan byte, 4)
	conf.OnKey(func(e sip.DTMFEvent) { keys <- e.Digit })

	// Before joining: a prompt tone, and keys are heard.
	conf.Play(PromptTone)
	phone.sendKey(rs.LocalAddr(), 5, 8000, 500)
	select {
	case k := <-keys:
		if k != '5' {
			t.Fatalf("key %q, want 5", k)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no key")
	}
	time.Sleep(300 * time.Millisecond)
	pcm, _ := phone.heard()
	if amplitude(pcm, 660, audio.PhoneRate) < 0.02 {
		t.Fatalf("the phone did not hear the prompt (660 Hz amplitude %.3f)", amplitude(pcm, 660, audio.PhoneRate))
	}

	if err := conf.Join(r, "Phone", true); err != nil {
		t.Fatal(err)
	}
	if err := conf.Join(r, "Phone", true); err == nil {
		t.Fatal("joined twice")
	}
	time.Sleep(1500 * time.Millisecond)
	pcm, n := phone.heard()
	last := pcm[len(pcm)-audio.PhoneRate:] // the last second
	ampA, ampB, ampOwn := amplitude(last, toneA, audio.PhoneRate), amplitude(last, toneB, audio.PhoneRate),
		amplitude(last, phoneTone, audio.PhoneRate)
	t.Logf("phone got %d packets; amplitudes: alice %.3f bob %.3f own %.4f", n, ampA, ampB, ampOwn)
	if ampA < 0.1 || ampB < 0.1 {
		t.Errorf("the phone does not hear both speakers (alice %.3f, bob %.3f; sent at 0.3)", ampA, ampB)
	}
	if ampOwn > 0.01 {
		t.Errorf("the phone hears itself (%.4f)", ampOwn)
	}
	for _, s := range []*speaker{a, b} {
		got := s.listen.heard(conf.ID())
		if len(got) < audio.Rate/2 {
			t.Fatalf("%s got %d samples of the phone", s.id, len(got))
		}
		got = got[len(got)-audio.Rate/2:]
		if amp := amplitude(got, phoneTone, audio.Rate); amp < 0.1 {
			t.Errorf("%s hears the phone's tone at %.3f", s.id, amp)
		}
		s.listen.mu.Lock()
		tr := s.listen.levels[conf.ID()]
		s.listen.mu.Unlock()
		if lvl := tr.Media.AudioLevel(); lvl < 0.05 {
			t.Errorf("the phone's audio level is %.3f: speaker detection cannot see it", lvl)
		}
	}

	// Bob leaves: only Alice in the mix.
	b.leave()
	time.Sleep(600 * time.Millisecond)
	pcm, _ = phone.heard()
	last = pcm[len(pcm)-audio.PhoneRate/4:]
	if amp := amplitude(last, toneB, audio.PhoneRate); amp > 0.01 {
		t.Errorf("the phone still hears bob (%.3f) after he left", amp)
	}
	if amp := amplitude(last, toneA, audio.PhoneRate); amp < 0.1 {
		t.Errorf("the phone no longer hears alice (%.3f)", amp)
	}

	// Carol joins later: she is in the mix as soon as she speaks.
	carol := newSpeaker(t, r, "carol", 1900, 0)
	defer carol.leave()
	time.Sleep(600 * time.Millisecond)
	pcm, _ = phone.heard()
	last = pcm[len(pcm)-audio.PhoneRate/4:]
	if amp := amplitude(last, 1900, audio.PhoneRate); amp < 0.1 {
		t.Errorf("the phone does not hear carol, who joined after it (%.3f)", amp)
	}

	// The room ends: the call is told.
	reg.Shutdown("room-closed")
	select {
	case reason := <-closed:
		if reason != "room-closed" {
			t.Errorf("closed for %q", reason)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the room's end was not reported")
	}
	conf.Leave("hangup")
	if conf.FramesToRoom.Load() == 0 || conf.PacketsFromRoom.Load() == 0 {
		t.Errorf("counters: to room %d, from room %d", conf.FramesToRoom.Load(), conf.PacketsFromRoom.Load())
	}
}

// TestConferenceSilenceWhenAlone: a phone alone in a meeting gets a steady
// stream of silence (not nothing: phones and NATs take no RTP for a dead
// call).
func TestConferenceSilenceWhenAlone(t *testing.T) {
	reg := room.NewRegistry(room.Config{MaxParticipants: 10, EmptyTimeout: time.Minute}, memChat{}, memRooms{}, room.Metrics{},
		slog.New(slog.DiscardHandler))
	defer reg.Shutdown("test")
	r, _ := reg.Create(context.Background(), room.Settings{})
	rs, err := sip.ListenRTP("127.0.0.1:0", netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	phone := newFakePhone(t, rs.LocalAddr(), 700)
	defer phone.close()
	rs.SetRemote(phone.conn.LocalAddr().(*net.UDPAddr).AddrPort(), 8)
	conf, err := NewConference(rs, sip.PCMA, -1, ConferenceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer conf.Leave("hangup")
	if err := conf.Join(r, "Phone", true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	// The fake phone decodes PT 0 only; count PCMA packets by the counter.
	n0 := conf.FramesToPhone.Load()
	time.Sleep(time.Second)
	if n := conf.FramesToPhone.Load() - n0; n < 40 || n > 60 {
		peer, learned := rs.Peer()
		t.Errorf("%d frames to the phone in 1 s, want about 50 (rtp out %d, peer %v learned %v, dropped %d)", n,
			rs.PacketsOut.Load(), peer, learned, rs.Dropped.Load())
	}
}

// A phone that dialled in is a guest like any other: a locked meeting
// refuses it, and with the lobby on it waits there until the host lets it
// in (a host's own dial-out skips both).
func TestConferenceDialInLockAndLobby(t *testing.T) {
	reg := room.NewRegistry(room.Config{MaxParticipants: 10, EmptyTimeout: time.Minute}, memChat{}, memRooms{}, room.Metrics{},
		slog.New(slog.DiscardHandler))
	defer reg.Shutdown("test")
	r, _ := reg.Create(context.Background(), room.Settings{})
	host := newSpeaker(t, r, "alice", 500, 0) // the first in leads
	defer host.leave()
	phoneConf := func() *Conference {
		rs, err := sip.ListenRTP("127.0.0.1:0", netip.Addr{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rs.Close() })
		conf, err := NewConference(rs, sip.PCMU, 101, ConferenceOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conf.Leave("hangup") })
		return conf
	}
	if err := r.Host("alice", "lock", ""); err != nil {
		t.Fatal(err)
	}
	if err := phoneConf().Join(r, "Dialled in", false); !errors.Is(err, room.ErrLocked) {
		t.Fatalf("a locked meeting: %v", err)
	}
	if err := phoneConf().Join(r, "Dialled out", true); err != nil {
		t.Fatalf("the host's dial-out into a locked meeting: %v", err)
	}
	r.Host("alice", "unlock", "")
	r.Host("alice", "lobby-on", "")
	joined := make(chan error, 1)
	conf := phoneConf()
	go func() { joined <- conf.Join(r, "Waiting", false) }()
	select {
	case err := <-joined:
		t.Fatalf("joined past the lobby: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := r.Host("alice", "admit", conf.ID()); err != nil {
		t.Fatal(err)
	}
	if err := <-joined; err != nil {
		t.Fatalf("admitted from the lobby: %v", err)
	}
}
