package app

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"switchboard/internal/client"
	"switchboard/internal/config"
	"switchboard/internal/protocol"
	"switchboard/internal/rtc"
)

// startServer runs a whole server in-process on loopback with free ports.
func startServer(t *testing.T, edit func(*config.Config)) *App {
	t.Helper()
	cfg := config.Local(t.TempDir())
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := New(context.Background(), cfg, Options{LoopbackOnly: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	go a.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.Shutdown(ctx)
	})
	return a
}

// quietLogger shows warnings, or everything when SB_TEST_LOG is set.
func quietLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("SB_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func newAPI(t *testing.T) *webrtc.API {
	t.Helper()
	api, err := client.NewAPI()
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// counter counts RTP packets received per kind.
type counter struct {
	audio, video atomic.Int64
	videoSSRC    atomic.Uint32 // of the last video track received
	videoSeq     atomic.Uint32 // the sequence number of its latest packet
}

func (c *counter) onTrack(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	n := &c.audio
	video := t.Kind() == webrtc.RTPCodecTypeVideo
	if video {
		n = &c.video
		c.videoSSRC.Store(uint32(t.SSRC()))
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			k, _, err := t.Read(buf)
			if err != nil {
				return
			}
			if video && k >= 4 {
				c.videoSeq.Store(uint32(binary.BigEndian.Uint16(buf[2:4])))
			}
			n.Add(1)
		}
	}()
}

func dial(t *testing.T, a *App, room, name string, c *counter) *client.Client {
	t.Helper()
	var onTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver)
	if c != nil {
		onTrack = c.onTrack
	}
	cl, err := client.Dial(context.Background(), a.URL(), newAPI(t), protocol.Join{Room: room, Name: name}, onTrack)
	if err != nil {
		t.Fatalf("%s cannot join: %v", name, err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// publishSynthetic publishes a VP8 camera and an Opus microphone track until the test ends.
func publishSynthetic(t *testing.T, cl *client.Client) {
	t.Helper()
	video, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "cam", "s")
	audio, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic", "s")
	if err := cl.Publish(context.Background(), map[webrtc.TrackLocal]string{video: "camera", audio: "microphone"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go client.SynthVideo(ctx, video, 30, 3, 30, 1000)
	go client.SynthAudio(ctx, audio, 100)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Media flows with the SRTP fast path (the default) and through pion alone.
func TestPublishSubscribe(t *testing.T) {
	for _, fast := range []bool{true, false} {
		t.Run(fmt.Sprintf("fast=%v", fast), func(t *testing.T) { testPublishSubscribe(t, fast) })
	}
}

func testPublishSubscribe(t *testing.T, fast bool) {
	a := startServer(t, func(c *config.Config) { c.Media.FastPath = fast })
	alice := dial(t, a, "standup", "Alice", nil)
	if !alice.Joined.Participant.Host {
		t.Error("the first participant of a new room should be its host")
	}
	publishSynthetic(t, alice)

	var bob counter
	b := dial(t, a, "standup", "Bob", &bob)
	if len(b.Joined.Participants) != 1 || b.Joined.Participants[0].Name != "Alice" {
		t.Errorf("Bob should see Alice in the room: %+v", b.Joined.Participants)
	}
	waitFor(t, "Bob to receive Alice's audio and video", func() bool { return bob.video.Load() > 60 && bob.audio.Load() > 20 })

	// A late joiner gets the same media, and Alice hears of him.
	var carol counter
	dial(t, a, "standup", "Carol", &carol)
	waitFor(t, "Carol to receive media", func() bool { return carol.video.Load() > 30 && carol.audio.Load() > 10 })
	// With the fast path, media took it both ways once the connections were up: what Bob and Carol
	// received after the first few packets was decrypted and encrypted by it, none of it fell back.
	// Sending takes the fast path once a subscriber's RTCP has proved the keys (pion clients send
	// their first receiver report a second after media starts).
	if fast {
		waitFor(t, "media to take the fast path both ways", func() bool {
			s := a.engine.FastStats()
			return s.In >= 100 && s.Out >= 100
		})
	}
	s := a.engine.FastStats()
	if fast && (s.In < 100 || s.Out < 100 || s.Fallback != 0) {
		t.Errorf("fast path: %d packets in, %d out, %d fell back to pion; want most of the media, no fallback", s.In, s.Out, s.Fallback)
	}
	if !fast && s != (rtc.FastStats{}) {
		t.Errorf("fast path off, yet it counted %+v", s)
	}
	// Bob's RTCP reaches the SFU (by the fast path when it is on): a NACK he sends is answered from
	// the packet cache, and a PLI becomes a keyframe request to Alice (throttled, so it is repeated).
	rtcpIn, nacks, plis := s.RTCPIn, a.media.NACKsReceived.Load(), a.media.PLIsSent.Load()
	ssrc := bob.videoSSRC.Load()
	waitFor(t, "Bob's NACK and PLI to be acted on", func() bool {
		_ = b.Sub.WriteRTCP([]rtcp.Packet{
			&rtcp.TransportLayerNack{SenderSSRC: 1, MediaSSRC: ssrc, Nacks: []rtcp.NackPair{{PacketID: uint16(bob.videoSeq.Load())}}},
			&rtcp.PictureLossIndication{SenderSSRC: 1, MediaSSRC: ssrc},
		})
		time.Sleep(100 * time.Millisecond)
		return a.media.NACKsReceived.Load() > nacks && a.media.PLIsSent.Load() > plis
	})
	if got := a.engine.FastStats().RTCPIn; fast && got <= rtcpIn {
		t.Errorf("fast path: RTCP packets decrypted there went from %d to %d; Bob's RTCP should take it", rtcpIn, got)
	}
	if _, err := alice.WaitEvent(context.Background(), func(m protocol.Message) bool {
		j, ok := m.(*protocol.ParticipantJoined)
		return ok && j.Participant.Name == "Carol"
	}); err != nil {
		t.Error("Alice was not told that Carol joined")
	}
	// Everyone's connection quality is reported; on loopback it is good.
	m, err := alice.WaitEvent(context.Background(), func(m protocol.Message) bool {
		q, ok := m.(*protocol.Quality)
		return ok && len(q.Participants) == 3
	})
	if err != nil {
		t.Fatal("no quality report for the three participants")
	}
	for id, q := range m.(*protocol.Quality).Participants {
		if q != "good" {
			t.Errorf("quality of %s on loopback = %s", id, q)
		}
	}
}

func TestTracksAreAnnouncedWithSources(t *testing.T) {
	a := startServer(t, nil)
	alice := dial(t, a, "r1", "Alice", nil)
	bob := dial(t, a, "r1", "Bob", nil)
	publishSynthetic(t, alice)
	got := map[string]string{}
	for len(got) < 2 {
		m, err := bob.WaitEvent(context.Background(), func(m protocol.Message) bool { _, ok := m.(*protocol.TrackAdded); return ok })
		if err != nil {
			t.Fatalf("tracks announced to Bob: %v", got)
		}
		ta := m.(*protocol.TrackAdded)
		if ta.Track.Participant != alice.Joined.Participant.ID {
			t.Errorf("track %s attributed to %s", ta.Track.ID, ta.Track.Participant)
		}
		got[ta.Track.Kind] = ta.Track.Source
	}
	if got["video"] != "camera" || got["audio"] != "microphone" {
		t.Errorf("sources = %v", got)
	}
}

func TestResumeAfterDroppedSocket(t *testing.T) {
	a := startServer(t, func(c *config.Config) { c.Rooms.ResumeGrace = 2 * time.Second })
	alice := dial(t, a, "r", "Alice", nil)
	publishSynthetic(t, alice)
	var bobMedia counter
	bob := dial(t, a, "r", "Bob", &bobMedia)
	waitFor(t, "media before the drop", func() bool { return bobMedia.video.Load() > 30 })

	id := bob.Joined.Participant.ID
	bob.DropSocket()
	time.Sleep(300 * time.Millisecond)
	if err := bob.Resume(context.Background()); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if !bob.Joined.Resumed || bob.Joined.Participant.ID != id {
		t.Fatalf("resumed as %+v, want the same participant %s", bob.Joined.Participant, id)
	}
	if len(bob.Joined.Tracks) != 2 {
		t.Errorf("resumed session should list Alice's 2 tracks, got %d", len(bob.Joined.Tracks))
	}
	before := bobMedia.video.Load()
	waitFor(t, "media after resume", func() bool { return bobMedia.video.Load() > before+30 })

	// A session that does not come back within the grace period leaves the room.
	bob.DropSocket()
	if _, err := alice.WaitEvent(context.Background(), func(m protocol.Message) bool {
		l, ok := m.(*protocol.ParticipantLeft)
		return ok && l.Participant == id
	}); err != nil {
		t.Fatal("Bob should leave once the grace period ends")
	}
	err := bob.Resume(context.Background())
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeUnauthorized {
		t.Fatalf("resume after the grace period = %v, want unauthorized", err)
	}
}

type configT = config.Config

func TestSelfSignedHTTPS(t *testing.T) {
	a := startServer(t, func(c *config.Config) { c.TLS.SelfSigned = true })
	if !strings.HasPrefix(a.URL(), "https://") {
		t.Fatalf("URL %s should be https", a.URL())
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := hc.Get(a.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Fatalf("healthz over TLS: %s", resp.Status)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if err := leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("the self-signed certificate should name the loopback address: %v", err)
	}
}
