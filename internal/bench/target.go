package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"switchboard/internal/client"
	"switchboard/internal/protocol"
)

// participant is one synthetic user: it may publish tracks and receives the others'.
type participant struct {
	room, name  string
	tracks      []*pubTrack
	expectVideo int // tracks it should receive
	expectAudio int
	measureJoin bool // media was already flowing in its room when it joined
	recv        *receiver
	connected   func() bool // all its connections are up
	pubReady    func() bool // its publish connection is up
	close       func()
}

func (p *participant) pubConnected() bool { return p.pubReady == nil || p.pubReady() }

// target is the server under test, seen from the load generator.
type target interface {
	name() string
	// twoPhase targets need every publisher connected before any subscriber (static forwarding).
	twoPhase() bool
	publish(ctx context.Context, p *participant, onTrack func(*webrtc.TrackRemote)) error
	subscribe(ctx context.Context, p *participant, onTrack func(*webrtc.TrackRemote)) error
	// forwarded is the server's own count of packets sent to subscribers.
	forwarded(ctx context.Context) (uint64, error)
}

func pcConnected(pcs ...*webrtc.PeerConnection) func() bool {
	return func() bool {
		for _, pc := range pcs {
			if pc != nil && pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
				return false
			}
		}
		return true
	}
}

// sbTarget drives Switchboard through its signalling protocol with the Go client.
type sbTarget struct {
	base string
	api  *webrtc.API
	http *http.Client
}

func (t *sbTarget) name() string   { return "switchboard" }
func (t *sbTarget) twoPhase() bool { return false }

func (t *sbTarget) publish(ctx context.Context, p *participant, onTrack func(*webrtc.TrackRemote)) error {
	cl, err := client.DialConfig(ctx, t.base, t.api, clientConfig, protocol.Join{Room: p.room, Name: p.name},
		func(r *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { onTrack(r) })
	if err != nil {
		return err
	}
	p.close = cl.Close
	pcs := []*webrtc.PeerConnection{}
	if p.expectAudio+p.expectVideo > 0 {
		pcs = append(pcs, cl.Sub)
		go reportReception(cl.Sub)
	}
	if len(p.tracks) > 0 {
		pcs = append(pcs, cl.Pub)
		tracks := map[webrtc.TrackLocal]string{}
		for _, tr := range p.tracks {
			src := "camera"
			if tr.kind == webrtc.RTPCodecTypeAudio {
				src = "microphone"
			}
			tracks[tr.local] = src
		}
		if err := cl.Publish(ctx, tracks); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		attachSenders(cl.Pub, p.tracks)
		p.pubReady = pcConnected(cl.Pub)
	}
	p.connected = pcConnected(pcs...)
	return nil
}

func (t *sbTarget) subscribe(context.Context, *participant, func(*webrtc.TrackRemote)) error {
	return nil // the server subscribes everyone to everything in the room
}

func (t *sbTarget) forwarded(ctx context.Context) (uint64, error) {
	return scrapeCounter(ctx, t.http, t.base+"/metrics", "switchboard_forwarded_packets_total")
}

func attachSenders(pc *webrtc.PeerConnection, tracks []*pubTrack) {
	for _, s := range pc.GetSenders() {
		for _, tr := range tracks {
			if s.Track() == tr.local {
				tr.attach(s)
			}
		}
	}
}

// scrapeCounter reads one unlabelled series from a Prometheus text exposition.
func scrapeCounter(ctx context.Context, hc *http.Client, u, name string) (uint64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return uint64(f), err
		}
	}
	return 0, fmt.Errorf("%s: no %s series", u, name)
}

// baselineTarget drives the plain pion forwarder (see baseline.go): one HTTP POST of a complete
// offer per connection, answered with a complete answer.
type baselineTarget struct {
	base string
	api  *webrtc.API
	http *http.Client
}

func (t *baselineTarget) name() string   { return "baseline" }
func (t *baselineTarget) twoPhase() bool { return true }

func (t *baselineTarget) publish(ctx context.Context, p *participant, _ func(*webrtc.TrackRemote)) error {
	if len(p.tracks) == 0 {
		return nil
	}
	pc, err := t.api.NewPeerConnection(clientConfig)
	if err != nil {
		return err
	}
	p.close = chain(p.close, func() { pc.Close() })
	for _, tr := range p.tracks {
		if _, err := pc.AddTransceiverFromTrack(tr.local, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			return err
		}
	}
	if err := t.negotiate(ctx, pc, "/pub", url.Values{"room": {p.room}, "id": {p.name}}); err != nil {
		return err
	}
	attachSenders(pc, p.tracks)
	p.pubReady = pcConnected(pc)
	p.connected = and(p.connected, p.pubReady)
	return nil
}

func (t *baselineTarget) subscribe(ctx context.Context, p *participant, onTrack func(*webrtc.TrackRemote)) error {
	if p.expectAudio+p.expectVideo == 0 {
		return nil
	}
	pc, err := t.api.NewPeerConnection(clientConfig)
	if err != nil {
		return err
	}
	p.close = chain(p.close, func() { pc.Close() })
	pc.OnTrack(func(r *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { onTrack(r) })
	recvonly := webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}
	for i := 0; i < p.expectVideo; i++ {
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, recvonly); err != nil {
			return err
		}
	}
	for i := 0; i < p.expectAudio; i++ {
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, recvonly); err != nil {
			return err
		}
	}
	q := url.Values{"room": {p.room}, "id": {p.name}, "video": {strconv.Itoa(p.expectVideo)}, "audio": {strconv.Itoa(p.expectAudio)}}
	if err := t.negotiate(ctx, pc, "/sub", q); err != nil {
		return err
	}
	p.connected = and(p.connected, pcConnected(pc))
	go reportReception(pc)
	return nil
}

// negotiate offers with all candidates gathered and applies the answer.
func (t *baselineTarget) negotiate(ctx context.Context, pc *webrtc.PeerConnection, path string, q url.Values) error {
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return ctx.Err()
	}
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, t.base+path+"?"+q.Encode(),
		strings.NewReader(pc.LocalDescription().SDP))
	resp, err := t.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("baseline %s: %s: %s", path, resp.Status, bytes.TrimSpace(body))
	}
	return pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)})
}

func (t *baselineTarget) forwarded(ctx context.Context) (uint64, error) {
	return scrapeCounter(ctx, t.http, t.base+"/metrics", "baseline_forwarded_packets_total")
}

func chain(a, b func()) func() {
	if a == nil {
		return b
	}
	return func() { a(); b() }
}

func and(a, b func() bool) func() bool {
	if a == nil {
		return b
	}
	return func() bool { return a() && b() }
}
