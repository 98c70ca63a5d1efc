package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"switchboard/internal/client"
)

// baseline is the reference point: the classic pion "broadcast" forwarder. For every incoming
// remote track it creates one TrackLocalStaticRTP; every subscriber's connection gets that local
// track, and one goroutine per remote track loops Read -> Write. It uses pion's defaults (default
// codecs and interceptors, one UDP socket per connection), restricted to loopback and AES-GCM SRTP
// first like the clients. Signalling is one HTTP POST per connection with a complete offer.
type baseline struct {
	api       *webrtc.API
	forwarded atomic.Uint64

	mu      sync.Mutex
	changed chan struct{} // closed and replaced whenever a track is added
	rooms   map[string][]*baseTrack
	pcs     []*webrtc.PeerConnection
}

type baseTrack struct {
	owner string
	kind  webrtc.RTPCodecType
	local *webrtc.TrackLocalStaticRTP
	subs  atomic.Int64
}

func newBaseline() (*baseline, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	se := client.LoopbackSettings()
	se.LoggerFactory = quietLogs()
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, reg); err != nil {
		return nil, err
	}
	return &baseline{
		api:     webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(reg)),
		changed: make(chan struct{}),
		rooms:   map[string][]*baseTrack{},
	}, nil
}

func (b *baseline) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /pub", b.pub)
	mux.HandleFunc("POST /sub", b.sub)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "baseline_forwarded_packets_total %d\n", b.forwarded.Load())
	})
	return mux
}

func (b *baseline) close() {
	b.mu.Lock()
	pcs := b.pcs
	b.pcs = nil
	b.mu.Unlock()
	for _, pc := range pcs {
		pc.Close()
	}
}

func (b *baseline) answer(w http.ResponseWriter, r *http.Request, pc *webrtc.PeerConnection) {
	offer, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(offer)})
	var ans webrtc.SessionDescription
	if err == nil {
		ans, err = pc.CreateAnswer(nil)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err == nil {
		err = pc.SetLocalDescription(ans)
	}
	if err != nil {
		pc.Close()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	<-gathered
	io.WriteString(w, pc.LocalDescription().SDP)
}

func (b *baseline) newPC() (*webrtc.PeerConnection, error) {
	pc, err := b.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.pcs = append(b.pcs, pc)
	b.mu.Unlock()
	return pc, nil
}

func (b *baseline) pub(w http.ResponseWriter, r *http.Request) {
	room, id := r.URL.Query().Get("room"), r.URL.Query().Get("id")
	pc, err := b.newPC()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	pc.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		local, err := webrtc.NewTrackLocalStaticRTP(remote.Codec().RTPCodecCapability, remote.Kind().String()+"-"+id, id)
		if err != nil {
			return
		}
		t := &baseTrack{owner: id, kind: remote.Kind(), local: local}
		b.mu.Lock()
		b.rooms[room] = append(b.rooms[room], t)
		close(b.changed)
		b.changed = make(chan struct{})
		b.mu.Unlock()
		buf := make([]byte, 1500)
		for {
			n, _, err := remote.Read(buf)
			if err != nil {
				return
			}
			if _, err := local.Write(buf[:n]); err != nil && !errors.Is(err, io.ErrClosedPipe) {
				return
			}
			b.forwarded.Add(uint64(t.subs.Load()))
		}
	})
	b.answer(w, r, pc)
}

// sub waits until the room holds the wanted number of others' tracks, then answers with them.
func (b *baseline) sub(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	room, id := q.Get("room"), q.Get("id")
	wantV, _ := strconv.Atoi(q.Get("video"))
	wantA, _ := strconv.Atoi(q.Get("audio"))
	deadline := time.After(60 * time.Second)
	var tracks []*baseTrack
	for {
		b.mu.Lock()
		tracks = tracks[:0]
		var v, a int
		for _, t := range b.rooms[room] {
			if t.owner == id {
				continue
			}
			if t.kind == webrtc.RTPCodecTypeVideo && v < wantV {
				v++
				tracks = append(tracks, t)
			} else if t.kind == webrtc.RTPCodecTypeAudio && a < wantA {
				a++
				tracks = append(tracks, t)
			}
		}
		changed := b.changed
		b.mu.Unlock()
		if v == wantV && a == wantA {
			break
		}
		select {
		case <-changed:
		case <-deadline:
			http.Error(w, fmt.Sprintf("room %s has %d video and %d audio tracks of others, want %d and %d", room, v, a, wantV, wantA), http.StatusServiceUnavailable)
			return
		case <-r.Context().Done():
			return
		}
	}
	pc, err := b.newPC()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	for _, t := range tracks {
		sender, err := pc.AddTrack(t.local)
		if err != nil {
			pc.Close()
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		t.subs.Add(1)
		go func() {
			buf := make([]byte, 1500)
			for {
				if _, _, err := sender.Read(buf); err != nil {
					t.subs.Add(-1)
					return
				}
			}
		}()
	}
	b.answer(w, r, pc)
}

// serveBaseline runs the forwarder on 127.0.0.1 until ctx ends; ready gets its URL.
func serveBaseline(ctx context.Context, ready func(url string)) error {
	b, err := newBaseline()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: b.handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		b.close()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	ready("http://" + ln.Addr().String())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
