package sfu

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// The integration tests run real pion PeerConnections on loopback:
//
//	publisher PC --> server recv PC --> Track --> DownTrack --> server send PC --> subscriber PC
//
// The publisher answers PLIs with keyframes like a browser does, so the
// keyframe request paths are exercised end to end.

// rigOptions vary the media setup of a test rig.
type rigOptions struct {
	rtx             bool // negotiate RFC 4588 RTX for video
	noReplayProtect bool // receivers accept a second copy of a packet (SRTP replay check off)
}

func testAPI(t *testing.T, o rigOptions) *webrtc.API {
	t.Helper()
	m := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}
	must(t, m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb},
		PayloadType:        96,
	}, webrtc.RTPCodecTypeVideo))
	if o.rtx {
		must(t, m.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: "apt=96"},
			PayloadType:        97,
		}, webrtc.RTPCodecTypeVideo))
	}
	must(t, m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType:        111,
	}, webrtc.RTPCodecTypeAudio))
	must(t, webrtc.ConfigureSimulcastExtensionHeaders(m))
	must(t, m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio))
	must(t, m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.ABSSendTimeURI}, webrtc.RTPCodecTypeVideo))

	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.DisableSRTPReplayProtection(o.noReplayProtect)
	// An empty registry: no NACK responder, no TWCC; the SFU answers NACKs.
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se),
		webrtc.WithInterceptorRegistry(&interceptor.Registry{}))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// connect runs a non-trickle offer/answer between two PCs.
func connect(t *testing.T, offerer, answerer *webrtc.PeerConnection) {
	t.Helper()
	offer, err := offerer.CreateOffer(nil)
	must(t, err)
	gathered := webrtc.GatheringCompletePromise(offerer)
	must(t, offerer.SetLocalDescription(offer))
	<-gathered
	must(t, answerer.SetRemoteDescription(*offerer.LocalDescription()))
	answer, err := answerer.CreateAnswer(nil)
	must(t, err)
	gathered = webrtc.GatheringCompletePromise(answerer)
	must(t, answerer.SetLocalDescription(answer))
	<-gathered
	must(t, offerer.SetRemoteDescription(*answerer.LocalDescription()))
}

type rig struct {
	t       *testing.T
	api     *webrtc.API
	pub     *webrtc.PeerConnection
	srvIn   *webrtc.PeerConnection
	srvOut  *webrtc.PeerConnection
	sub     *webrtc.PeerConnection
	metrics *Metrics
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu     sync.Mutex
	tracks map[webrtc.RTPCodecType]*Track
	down   map[webrtc.RTPCodecType]*DownTrack
	recv   map[webrtc.RTPCodecType]*recorder
}

func newRig(t *testing.T, o rigOptions) *rig {
	r := &rig{t: t, api: testAPI(t, o), metrics: &Metrics{},
		tracks: map[webrtc.RTPCodecType]*Track{}, down: map[webrtc.RTPCodecType]*DownTrack{},
		recv: map[webrtc.RTPCodecType]*recorder{}}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	var err error
	for _, pc := range []**webrtc.PeerConnection{&r.pub, &r.srvIn, &r.srvOut, &r.sub} {
		*pc, err = r.api.NewPeerConnection(webrtc.Configuration{})
		must(t, err)
	}
	t.Cleanup(r.close)

	// Server, publish side: one Track per published track, one layer per RID.
	r.srvIn.OnTrack(func(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		r.mu.Lock()
		tr := r.tracks[remote.Kind()]
		if tr == nil {
			var levelID uint8
			for _, e := range recv.GetParameters().HeaderExtensions {
				if e.URI == sdp.AudioLevelURI {
					levelID = uint8(e.ID)
				}
			}
			tr = NewTrack(TrackOptions{
				ID: "srv-" + remote.ID(), StreamID: "participant", Kind: remote.Kind(),
				Codec: remote.Codec().RTPCodecCapability, AudioLevelExtID: levelID, Metrics: r.metrics,
				RequestKeyframe: func(ssrc uint32) {
					_ = r.srvIn.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
				},
			})
			r.tracks[remote.Kind()] = tr
		}
		r.mu.Unlock()
		if err := tr.AddLayer(remote); err != nil {
			t.Errorf("AddLayer: %v", err)
		}
	})

	// Subscriber: record everything received.
	r.sub.OnTrack(func(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		rec := r.recorder(remote.Kind())
		rec.ssrc.Store(uint32(remote.SSRC()))
		rec.receiver.Store(recv)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			for {
				pkt, _, err := remote.ReadRTP()
				if err != nil {
					return
				}
				rec.add(pkt)
			}
		}()
	})
	return r
}

func (r *rig) close() {
	r.cancel()
	for _, pc := range []*webrtc.PeerConnection{r.sub, r.srvOut, r.pub, r.srvIn} {
		_ = pc.Close()
	}
	r.wg.Wait()
	// The publisher's receivers ended: every Track closes itself at EOF.
	for _, tr := range r.tracks {
		select {
		case <-tr.Done():
		case <-time.After(5 * time.Second):
			r.t.Errorf("track %s did not end after its publisher left", tr.ID())
		}
	}
}

func (r *rig) recorder(kind webrtc.RTPCodecType) *recorder {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.recv[kind] == nil {
		r.recv[kind] = &recorder{}
	}
	return r.recv[kind]
}

func (r *rig) track(kind webrtc.RTPCodecType) *Track {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tracks[kind]
}

// subscribe waits for the published tracks, adds a DownTrack for each to the
// server's send PC and connects the subscriber.
func (r *rig) subscribe(kinds ...webrtc.RTPCodecType) {
	for _, k := range kinds {
		waitFor(r.t, 5*time.Second, "published "+k.String()+" track", func() bool { return r.track(k) != nil })
		dt := r.track(k).Subscribe("subscriber")
		sender, err := r.srvOut.AddTrack(dt)
		must(r.t, err)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			dt.HandleRTCP(sender)
		}()
		r.down[k] = dt
	}
	connect(r.t, r.srvOut, r.sub)
}

// sendRTCP sends RTCP from the subscriber to the server.
func (r *rig) sendRTCP(p rtcp.Packet) { _ = r.sub.WriteRTCP([]rtcp.Packet{p}) }

// recorder keeps every packet the subscriber received.
type recorder struct {
	ssrc     atomic.Uint32
	receiver atomic.Pointer[webrtc.RTPReceiver]
	mu       sync.Mutex
	pkts     []*rtp.Packet
}

func (c *recorder) add(p *rtp.Packet) {
	c.mu.Lock()
	c.pkts = append(c.pkts, p)
	c.mu.Unlock()
}

func (c *recorder) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pkts)
}

func (c *recorder) all() []*rtp.Packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.pkts)
}

// lastLayer returns the simulcast layer named in the last video payload.
func (c *recorder) lastLayer() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pkts) == 0 {
		return -1
	}
	l, _, ok := payloadID(c.pkts[len(c.pkts)-1].Payload)
	if !ok {
		return -1
	}
	return l
}

// publisher sends VP8 on one or three layers (each packet one frame, every
// 10 ms) and Opus every 20 ms, and answers PLIs with keyframes.
type publisher struct {
	r         *rig
	video     []*webrtc.TrackLocalStaticRTP
	audio     *webrtc.TrackLocalStaticRTP
	vsender   *webrtc.RTPSender
	keyWant   [MaxLayers]atomic.Bool
	sent      [MaxLayers]atomic.Int64
	midID     uint8
	ridID     uint8
	levelID   uint8
	simulcast bool
}

var pubSizes = [MaxLayers]int{100, 400, 1000} // about 80, 320, 800 kbit/s at 100 packets/s

func (r *rig) publish(simulcast, audio bool) *publisher {
	p := &publisher{r: r, simulcast: simulcast}
	rids := []string{""}
	if simulcast {
		rids = []string{"q", "h", "f"}
	}
	for _, rid := range rids {
		var opts []func(*webrtc.TrackLocalStaticRTP)
		if rid != "" {
			opts = append(opts, webrtc.WithRTPStreamID(rid))
		}
		tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "cam", "pub", opts...)
		must(r.t, err)
		p.video = append(p.video, tr)
	}
	tc, err := r.pub.AddTransceiverFromTrack(p.video[0], webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	must(r.t, err)
	p.vsender = tc.Sender()
	for _, tr := range p.video[1:] {
		must(r.t, p.vsender.AddEncoding(tr))
	}
	var asender *webrtc.RTPSender
	if audio {
		p.audio, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic", "pub")
		must(r.t, err)
		asender, err = r.pub.AddTrack(p.audio)
		must(r.t, err)
	}
	connect(r.t, r.pub, r.srvIn)

	for _, e := range p.vsender.GetParameters().HeaderExtensions {
		switch e.URI {
		case sdp.SDESMidURI:
			p.midID = uint8(e.ID)
		case sdp.SDESRTPStreamIDURI:
			p.ridID = uint8(e.ID)
		}
	}
	if asender != nil {
		for _, e := range asender.GetParameters().HeaderExtensions {
			if e.URI == sdp.AudioLevelURI {
				p.levelID = uint8(e.ID)
			}
		}
	}
	mid := tc.Mid()

	// Keyframe requests from the server, per layer.
	for l, rid := range rids {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			for {
				var pkts []rtcp.Packet
				var err error
				if rid == "" {
					pkts, _, err = p.vsender.ReadRTCP()
				} else {
					pkts, _, err = p.vsender.ReadSimulcastRTCP(rid)
				}
				if err != nil {
					if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || r.ctx.Err() != nil {
						return
					}
					continue
				}
				for _, pk := range pkts {
					switch pk.(type) {
					case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
						p.keyWant[l].Store(true)
					}
				}
			}
		}()
	}

	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		srcs := make([]*source, len(rids))
		for l := range srcs {
			srcs[l] = newSource(l, pubSizes[l])
			p.keyWant[l].Store(true)
		}
		var aseq uint16 = 65000 // wraps during the test
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-r.ctx.Done():
				return
			case <-tick.C:
			}
			for l, s := range srcs {
				raw := s.next(p.keyWant[l].Swap(false))
				var pkt rtp.Packet
				if err := pkt.Unmarshal(slices.Clone(raw)); err != nil {
					panic(err)
				}
				if p.simulcast {
					_ = pkt.SetExtension(p.midID, []byte(mid))
					_ = pkt.SetExtension(p.ridID, []byte(rids[l]))
				}
				if p.video[l].WriteRTP(&pkt) == nil {
					p.sent[l].Add(1)
				}
			}
			if p.audio != nil && i%2 == 0 {
				aseq++
				pkt := rtp.Packet{
					Header:  rtp.Header{Version: 2, SequenceNumber: aseq, Timestamp: uint32(aseq) * 960},
					Payload: audioPayload(aseq),
				}
				if p.levelID != 0 {
					_ = pkt.SetExtension(p.levelID, []byte{0x80 | 30}) // -30 dBov, voice
				}
				_ = p.audio.WriteRTP(&pkt)
			}
		}
	}()
	return p
}

func audioPayload(seq uint16) []byte {
	return []byte{0xfc, 0xff, 0xfe, byte(seq >> 8), byte(seq), 'o', 'p', 'u', 's'}
}

// checkVideo verifies what the subscriber got: after de-duplicating (NACK
// answers repeat packets) the sequence numbers are gapless, timestamps never
// go back, picture IDs count up by one per frame, and each payload is
// byte-for-byte what the publisher sent on the layer it names.
func checkVideo(t *testing.T, pkts []*rtp.Packet) (layers []int) {
	t.Helper()
	byExt := map[uint32]*rtp.Packet{}
	var ext []uint32
	var base uint32
	for i, p := range pkts {
		e := uint32(p.SequenceNumber)
		if i == 0 {
			base = e
		}
		// unwrap relative to the first packet
		e = base + uint32(int16(p.SequenceNumber-uint16(base)))
		if prev, ok := byExt[e]; ok {
			if !bytes.Equal(prev.Payload, p.Payload) || prev.Timestamp != p.Timestamp {
				t.Fatalf("seq %d received twice with different content", p.SequenceNumber)
			}
			continue
		}
		byExt[e] = p
		ext = append(ext, e)
	}
	slices.Sort(ext)
	var prev *rtp.Packet
	for i, e := range ext {
		p := byExt[e]
		l, srcSeq, ok := payloadID(p.Payload)
		if !ok {
			t.Fatalf("unrecognised payload %x", p.Payload)
		}
		d := parsePicDesc(codecVP8, p.Payload)
		want := vp8Payload(nil, l, srcSeq, d.pic, d.tl0, IsVP8Keyframe(p.Payload), pubSizes[l])
		if !bytes.Equal(p.Payload, want) {
			t.Fatalf("payload of seq %d differs from what layer %d sent", p.SequenceNumber, l)
		}
		if len(layers) == 0 || layers[len(layers)-1] != l {
			layers = append(layers, l)
		}
		if prev != nil {
			if e != ext[i-1]+1 {
				t.Fatalf("gap: seq %d after %d", p.SequenceNumber, prev.SequenceNumber)
			}
			if dt := p.Timestamp - prev.Timestamp; dt == 0 || dt > 1<<31 {
				t.Fatalf("timestamp %d after %d", p.Timestamp, prev.Timestamp)
			}
			pd := parsePicDesc(codecVP8, prev.Payload)
			if d.pic != (pd.pic+1)&0x7fff || d.tl0 != pd.tl0+1 {
				t.Fatalf("picture id %d/%d after %d/%d", d.pic, d.tl0, pd.pic, pd.tl0)
			}
		}
		prev = p
	}
	return layers
}

func TestIntegrationVP8AndOpus(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.publish(false, true)
	r.subscribe(webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio)

	video, audio := r.recorder(webrtc.RTPCodecTypeVideo), r.recorder(webrtc.RTPCodecTypeAudio)
	waitFor(t, 8*time.Second, "60 video and 30 audio packets", func() bool { return video.count() >= 60 && audio.count() >= 30 })

	vp := video.all()
	if !IsVP8Keyframe(vp[0].Payload) {
		t.Error("the subscriber's first video packet is not a keyframe")
	}
	if layers := checkVideo(t, vp); !slices.Equal(layers, []int{0}) {
		t.Errorf("layers %v", layers)
	}
	ap := audio.all()
	for i, p := range ap {
		if i > 0 && p.SequenceNumber != ap[i-1].SequenceNumber+1 {
			t.Fatalf("audio seq %d after %d", p.SequenceNumber, ap[i-1].SequenceNumber)
		}
		if srcSeq := uint16(p.Payload[3])<<8 | uint16(p.Payload[4]); !bytes.Equal(p.Payload, audioPayload(srcSeq)) {
			t.Fatalf("audio payload %x", p.Payload)
		}
		if i > 0 && p.Timestamp-ap[i-1].Timestamp != 960 {
			t.Fatalf("audio timestamp step %d", p.Timestamp-ap[i-1].Timestamp)
		}
	}
	if lvl := r.track(webrtc.RTPCodecTypeAudio).AudioLevel(); lvl < 0.02 || lvl > 0.05 {
		t.Errorf("AudioLevel %.4f, want about 0.032 (-30 dBov)", lvl)
	}
	if r.metrics.ForwardedPackets.Load() < 90 || r.metrics.ForwardedBytes.Load() == 0 || r.metrics.PLIsSent.Load() == 0 {
		t.Errorf("metrics: packets %d bytes %d plis %d", r.metrics.ForwardedPackets.Load(),
			r.metrics.ForwardedBytes.Load(), r.metrics.PLIsSent.Load())
	}
}

// TestIntegrationNACK: the subscriber NACKs a packet it received, and gets
// it again from the Track's cache. With RTX negotiated it comes on the RTX
// stream (pion decodes it back into the media stream); without RTX it is a
// copy on the media SSRC, which an SRTP receiver only accepts for a packet it
// really lost, so that variant turns the replay check off.
func TestIntegrationNACK(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    rigOptions
	}{{"rtx", rigOptions{rtx: true}}, {"same-ssrc", rigOptions{noReplayProtect: true}}} {
		t.Run(tc.name, func(t *testing.T) { testNACK(t, tc.o) })
	}
}

func testNACK(t *testing.T, o rigOptions) {
	r := newRig(t, o)
	r.publish(false, false)
	r.subscribe(webrtc.RTPCodecTypeVideo)
	video := r.recorder(webrtc.RTPCodecTypeVideo)
	waitFor(t, 8*time.Second, "20 video packets", func() bool { return video.count() >= 20 })

	if rtx := r.down[webrtc.RTPCodecTypeVideo].bind.Load().rtxSSRC; (rtx != 0) != o.rtx {
		t.Fatalf("RTX SSRC %d with rtx=%v", rtx, o.rtx)
	}
	missed := video.all()[10] // pretend we lost this one
	copies := func() (n int) {
		for _, p := range video.all() {
			if p.SequenceNumber == missed.SequenceNumber {
				if !bytes.Equal(p.Payload, missed.Payload) || p.Timestamp != missed.Timestamp {
					t.Fatalf("retransmission differs from the original")
				}
				n++
			}
		}
		return n
	}
	nack := &rtcp.TransportLayerNack{SenderSSRC: 1, MediaSSRC: video.ssrc.Load(),
		Nacks: []rtcp.NackPair{{PacketID: missed.SequenceNumber}}}
	r.sendRTCP(nack)
	waitFor(t, 5*time.Second, "the retransmitted packet", func() bool {
		if copies() >= 2 {
			return true
		}
		if r.metrics.NACKsReceived.Load() == 0 {
			r.sendRTCP(nack) // RTCP is UDP too
		}
		return false
	})
	if r.metrics.Retransmitted.Load() < 1 || r.metrics.NACKsReceived.Load() < 1 {
		t.Errorf("metrics: nacks %d retransmitted %d", r.metrics.NACKsReceived.Load(), r.metrics.Retransmitted.Load())
	}
	checkVideo(t, video.all())
}

func TestIntegrationSimulcast(t *testing.T) {
	r := newRig(t, rigOptions{})
	pub := r.publish(true, false)
	waitFor(t, 5*time.Second, "packets on three layers", func() bool {
		tr := r.track(webrtc.RTPCodecTypeVideo)
		if tr == nil {
			return false
		}
		for l := range tr.layers {
			if tr.layers[l].lastPacket.Load() == 0 {
				return false
			}
		}
		return true
	})
	r.subscribe(webrtc.RTPCodecTypeVideo)
	video := r.recorder(webrtc.RTPCodecTypeVideo)
	dt := r.down[webrtc.RTPCodecTypeVideo]

	waitFor(t, 8*time.Second, "layer f", func() bool { return video.count() > 10 && video.lastLayer() == 2 })

	remb := func(bps float32) {
		r.sendRTCP(&rtcp.ReceiverEstimatedMaximumBitrate{SenderSSRC: 1, Bitrate: bps, SSRCs: []uint32{video.ssrc.Load()}})
	}
	// Congestion: the estimate drops below f's bitrate; resend like a browser does.
	waitFor(t, 5*time.Second, "switch down to q", func() bool {
		remb(50_000)
		return dt.Layer() == 0 && video.lastLayer() == 0
	})
	waitFor(t, 5*time.Second, "switch back up to f", func() bool {
		remb(10_000_000)
		return dt.Layer() == 2 && video.lastLayer() == 2
	})
	dt.SetViewport(160, 90)
	waitFor(t, 5*time.Second, "q for a thumbnail viewport", func() bool { return dt.Layer() == 0 && video.lastLayer() == 0 })

	// Pause: while the publisher sends 30 more frames on q, nothing arrives.
	dt.SetViewport(0, 0)
	if dt.Layer() != -1 {
		t.Fatalf("layer %d after SetViewport(0, 0)", dt.Layer())
	}
	n0, sent0 := video.count(), pub.sent[0].Load()
	waitFor(t, 5*time.Second, "publisher to send 30 frames", func() bool { return pub.sent[0].Load() >= sent0+30 })
	if n := video.count(); n > n0+1 { // one packet may have been in flight
		t.Fatalf("%d packets received while paused", n-n0)
	}
	dt.SetViewport(1280, 720)
	waitFor(t, 5*time.Second, "resume on f", func() bool { return dt.Layer() == 2 && video.lastLayer() == 2 })

	layers := checkVideo(t, video.all())
	if !slices.Equal(layers, []int{2, 0, 2, 0, 2}) {
		t.Errorf("layer sequence %v, want [2 0 2 0 2]", layers)
	}
}

// TestIntegrationSenderReports: sender reports built from the DownTracks' counters reach a pion
// subscriber on the media SSRCs, count what it received, and map RTP time to NTP time at the
// codec's clock rate (audio here: its timestamps advance in real time).
func TestIntegrationSenderReports(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.publish(false, true)
	r.subscribe(webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio)
	video, audio := r.recorder(webrtc.RTPCodecTypeVideo), r.recorder(webrtc.RTPCodecTypeAudio)
	waitFor(t, 8*time.Second, "media at the subscriber", func() bool {
		return video.count() > 0 && audio.count() > 0 && video.receiver.Load() != nil && audio.receiver.Load() != nil
	})

	type seen struct {
		sr       rtcp.SenderReport
		received int    // packets the subscriber had when the report arrived
		lastTS   uint32 // timestamp of the latest of them
	}
	// Readers first, so that every report is looked at when it arrives.
	collect := func(rec *recorder) chan seen {
		ch := make(chan seen, 100)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			for {
				pkts, _, err := rec.receiver.Load().ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range pkts {
					if sr, ok := p.(*rtcp.SenderReport); ok && sr.SSRC == rec.ssrc.Load() {
						all := rec.all()
						select {
						case ch <- seen{sr: *sr, received: len(all), lastTS: all[len(all)-1].Timestamp}:
						default:
						}
					}
				}
			}
		}()
		return ch
	}
	videoReports, audioReports := collect(video), collect(audio)

	// Send reports as the peer does, every 100 ms instead of every second to keep the test short.
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.ctx.Done():
				return
			case <-tick.C:
			}
			pkts := SenderReports(nil, []*DownTrack{r.down[webrtc.RTPCodecTypeVideo], r.down[webrtc.RTPCodecTypeAudio]}, time.Now())
			if len(pkts) > 0 {
				_ = r.srvOut.WriteRTCP(pkts)
			}
		}
	}()

	reports := func(ch chan seen, want int) []seen {
		var out []seen
		timeout := time.After(8 * time.Second)
		for len(out) < want {
			select {
			case s := <-ch:
				out = append(out, s)
			case <-timeout:
				t.Fatalf("%d sender reports, want %d", len(out), want)
			}
		}
		return out
	}

	for _, s := range reports(videoReports, 3) {
		if d := int(s.sr.PacketCount) - s.received; d < -5 || d > 5 {
			t.Errorf("video report counts %d packets, the subscriber had %d", s.sr.PacketCount, s.received)
		}
		if s.sr.OctetCount < s.sr.PacketCount*100 {
			t.Errorf("video report: %d octets for %d packets of at least 100 bytes", s.sr.OctetCount, s.sr.PacketCount)
		}
	}
	as := reports(audioReports, 4)
	for i, s := range as {
		if d := int(s.sr.PacketCount) - s.received; d < -5 || d > 5 {
			t.Errorf("audio report counts %d packets, the subscriber had %d", s.sr.PacketCount, s.received)
		}
		if s.sr.OctetCount != s.sr.PacketCount*uint32(len(audioPayload(0))) {
			t.Errorf("audio report: %d octets for %d packets", s.sr.OctetCount, s.sr.PacketCount)
		}
		// The report's RTP time is "now" on the stream's clock: within a few packets of the
		// latest timestamp received (20 ms = 960 at 48 kHz).
		if d := int32(s.sr.RTPTime - s.lastTS); d < -3*960 || d > 3*960 {
			t.Errorf("audio report RTP time %d, latest received %d", s.sr.RTPTime, s.lastTS)
		}
		if i == 0 {
			continue
		}
		// Between two reports RTP time advances like NTP time, at 48 kHz.
		p := as[i-1].sr
		ntp := float64(s.sr.NTPTime-p.NTPTime) / (1 << 32)
		rtpSec := float64(int32(s.sr.RTPTime-p.RTPTime)) / 48000
		if ntp <= 0 || rtpSec < ntp-0.03 || rtpSec > ntp+0.03 {
			t.Errorf("reports %d and %d: %.3f s of NTP time, %.3f s of RTP time", i-1, i, ntp, rtpSec)
		}
	}
}
