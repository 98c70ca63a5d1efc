// Package client is a Go client of the signalling protocol with pion peer connections. The
// integration tests and `switchboard bench` use it to act as browsers do.
package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/dtls/v3"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"switchboard/internal/protocol"
)

// NewAPI returns a pion API for clients on this machine: loopback only, default codecs and
// interceptors, simulcast header extensions.
func NewAPI() (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(me); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, reg); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(LoopbackSettings())), nil
}

// LoopbackSettings keeps a peer on 127.0.0.1 (the machine has other interfaces, which tests must not
// use), prefers AES-GCM SRTP like browsers, and skips mDNS.
func LoopbackSettings() webrtc.SettingEngine {
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80)
	return se
}

// Client is one signalling session with its two peer connections.
type Client struct {
	base   string
	api    *webrtc.API
	ws     *websocket.Conn
	Joined *protocol.Joined
	Pub    *webrtc.PeerConnection
	Sub    *webrtc.PeerConnection

	OnTrack func(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver)

	events  chan protocol.Message
	nextID  atomic.Int64
	mu      sync.Mutex
	pending map[string]chan protocol.Message
	wsMu    sync.Mutex
	closed  chan struct{}
}

// Dial connects to the server at base (http://host:port) and joins. The OnTrack callback may be set
// through opts before any media arrives.
func Dial(ctx context.Context, base string, api *webrtc.API, join protocol.Join, onTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver)) (*Client, error) {
	return DialConfig(ctx, base, api, webrtc.Configuration{}, join, onTrack)
}

// DialConfig is Dial with the configuration of both PeerConnections.
func DialConfig(ctx context.Context, base string, api *webrtc.API, cfg webrtc.Configuration, join protocol.Join, onTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver)) (*Client, error) {
	c := &Client{base: base, api: api, events: make(chan protocol.Message, 1024),
		pending: map[string]chan protocol.Message{}, closed: make(chan struct{}), OnTrack: onTrack}
	var err error
	if c.Pub, err = api.NewPeerConnection(cfg); err != nil {
		return nil, err
	}
	if c.Sub, err = api.NewPeerConnection(cfg); err != nil {
		return nil, err
	}
	c.Sub.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		if c.OnTrack != nil {
			c.OnTrack(t, r)
		}
	})
	trickle := func(pc string) func(*webrtc.ICECandidate) {
		return func(cand *webrtc.ICECandidate) {
			if cand == nil {
				return
			}
			j := cand.ToJSON()
			c.Send(&protocol.CandidateMsg{PC: pc, Candidate: &protocol.Candidate{Candidate: j.Candidate, SDPMid: j.SDPMid, SDPMLineIndex: j.SDPMLineIndex}})
		}
	}
	c.Pub.OnICECandidate(trickle(protocol.PCPublish))
	c.Sub.OnICECandidate(trickle(protocol.PCSubscribe))
	if err := c.connect(ctx, join); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Client) connect(ctx context.Context, join protocol.Join) error {
	wsURL := "ws" + strings.TrimPrefix(c.base, "http") + "/api/v1/signal"
	ws, _, err := websocket.Dial(ctx, wsURL, nil)
	if err != nil {
		return err
	}
	ws.SetReadLimit(1 << 20)
	c.wsMu.Lock()
	c.ws = ws
	c.wsMu.Unlock()
	go c.readLoop(ws)
	join.V = protocol.Version
	// One channel for both answers: joined may follow waiting at once (a host admits quickly).
	id := strconv.FormatInt(c.nextID.Add(1), 10)
	protocol.WithID(&join, id)
	replies := make(chan protocol.Message, 2)
	c.mu.Lock()
	c.pending[id] = replies
	c.mu.Unlock()
	if err := c.Send(&join); err != nil {
		return err
	}
	var reply protocol.Message
	for reply == nil {
		select {
		case m := <-replies:
			switch m := m.(type) {
			case *protocol.Waiting:
				continue
			case *protocol.Error:
				return m
			default:
				reply = m
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	joined, ok := reply.(*protocol.Joined)
	if !ok {
		return fmt.Errorf("join answered with %T", reply)
	}
	c.Joined = joined
	return nil
}

// Request sends m with a fresh id and waits for the reply; an error reply is returned as *protocol.Error.
func (c *Client) Request(ctx context.Context, m protocol.Message) (protocol.Message, error) {
	id := strconv.FormatInt(c.nextID.Add(1), 10)
	protocol.WithID(m, id)
	ch := make(chan protocol.Message, 1)
	c.mu.Lock()
	c.pending[id] = ch
	c.mu.Unlock()
	if err := c.Send(m); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	select {
	case r := <-ch:
		if e, ok := r.(*protocol.Error); ok {
			return nil, e
		}
		return r, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: no reply: %w", m.TypeName(), ctx.Err())
	}
}

// Send writes a message without waiting for a reply.
func (c *Client) Send(m protocol.Message) error {
	c.wsMu.Lock()
	ws := c.ws
	c.wsMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return ws.Write(ctx, websocket.MessageText, protocol.Encode(m))
}

// SendRaw writes any bytes, for bad-input tests.
func (c *Client) SendRaw(b []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// Events delivers the server's events (everything that is not a reply).
func (c *Client) Events() <-chan protocol.Message { return c.events }

// WaitEvent returns the next event for which match is true, discarding others.
func (c *Client) WaitEvent(ctx context.Context, match func(protocol.Message) bool) (protocol.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for {
		select {
		case m := <-c.events:
			if match(m) {
				return m, nil
			}
		case <-ctx.Done():
			return nil, errors.New("event did not come")
		}
	}
}

func (c *Client) readLoop(ws *websocket.Conn) {
	for {
		_, data, err := ws.Read(context.Background())
		if err != nil {
			return
		}
		m, err := decodeServer(data)
		if err != nil {
			continue
		}
		if id := protocol.RequestID(m); id != "" {
			c.mu.Lock()
			ch, ok := c.pending[id]
			if ok {
				if _, waiting := m.(*protocol.Waiting); !waiting {
					delete(c.pending, id)
				}
			}
			c.mu.Unlock()
			if ok {
				ch <- m
				continue
			}
		}
		c.handle(m)
	}
}

func (c *Client) handle(m protocol.Message) {
	switch m := m.(type) {
	case *protocol.Offer:
		go c.answerSub(m)
		return
	case *protocol.CandidateMsg:
		if m.Candidate != nil {
			pc := c.Pub
			if m.PC == protocol.PCSubscribe {
				pc = c.Sub
			}
			_ = pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: m.Candidate.Candidate, SDPMid: m.Candidate.SDPMid, SDPMLineIndex: m.Candidate.SDPMLineIndex})
		}
		return
	}
	select {
	case c.events <- m:
	default: // a test that does not read events must not stall the client
	}
}

func (c *Client) answerSub(m *protocol.Offer) {
	if err := c.Sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}); err != nil {
		return
	}
	ans, err := c.Sub.CreateAnswer(nil)
	if err != nil {
		return
	}
	if err := c.Sub.SetLocalDescription(ans); err != nil {
		return
	}
	_ = c.Send(&protocol.Answer{PC: protocol.PCSubscribe, SDP: c.Sub.LocalDescription().SDP})
}

// Publish adds tracks (track id -> source) to the publish connection and negotiates.
func (c *Client) Publish(ctx context.Context, tracks map[webrtc.TrackLocal]string) error {
	sources := map[string]string{}
	for t, src := range tracks {
		if _, err := c.Pub.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			return err
		}
		sources[t.ID()] = src
	}
	return c.Negotiate(ctx, sources)
}

// Negotiate offers the publish connection as it is now.
func (c *Client) Negotiate(ctx context.Context, sources map[string]string) error {
	offer, err := c.Pub.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := c.Pub.SetLocalDescription(offer); err != nil {
		return err
	}
	reply, err := c.Request(ctx, &protocol.Offer{PC: protocol.PCPublish, SDP: offer.SDP, Tracks: sources})
	if err != nil {
		return err
	}
	ans, ok := reply.(*protocol.Answer)
	if !ok {
		return fmt.Errorf("offer answered with %T", reply)
	}
	return c.Pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans.SDP})
}

// DropSocket closes the WebSocket without leaving, as a lost network would.
func (c *Client) DropSocket() {
	c.wsMu.Lock()
	c.ws.CloseNow()
	c.wsMu.Unlock()
}

// Resume reconnects the socket and resumes the session.
func (c *Client) Resume(ctx context.Context) error {
	return c.connect(ctx, protocol.Join{Room: c.Joined.Room.ID, Resume: c.Joined.Session})
}

// Close leaves and closes everything.
func (c *Client) Close() {
	select {
	case <-c.closed:
		return
	default:
		close(c.closed)
	}
	c.wsMu.Lock()
	if c.ws != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c.ws.Write(ctx, websocket.MessageText, protocol.Encode(&protocol.Leave{}))
		cancel()
		c.ws.Close(websocket.StatusNormalClosure, "")
	}
	c.wsMu.Unlock()
	c.Pub.Close()
	c.Sub.Close()
}
