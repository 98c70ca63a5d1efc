// Package peer is the WebRTC participant: a browser (or any WebRTC client) in a room, with a publish
// connection where it sends us media and a subscribe connection where we send it everyone else's.
// One goroutine per peer runs an action queue and owns all negotiation state; everything else (the
// room, the signalling socket, pion callbacks) only enqueues actions.
package peer

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"switchboard/internal/protocol"
	"switchboard/internal/room"
	"switchboard/internal/rtc"
	"switchboard/internal/sfu"
)

// Outbox delivers messages to the client's current socket; it must not block.
type Outbox func(protocol.Message)

// Config is what a peer needs from the server.
type Config struct {
	Engine  *rtc.Engine
	Room    *room.Room
	ID      string
	Metrics *sfu.Metrics
	Logger  *slog.Logger
	// OnGone is called once when the peer has left its room for good.
	OnGone func(*Peer)
}

// Peer is one WebRTC participant.
type Peer struct {
	id   string
	room *room.Room
	cfg  Config
	log  *slog.Logger

	outbox  atomic.Pointer[Outbox]
	quality atomic.Pointer[string]

	queueMu sync.Mutex
	queue   []func()
	queued  chan struct{} // a wake-up for the loop; capacity 1
	done    chan struct{}
	once    sync.Once

	// Owned by the action loop.
	pub, sub        *webrtc.PeerConnection
	subNegotiating  bool // an offer on sub awaits its answer
	subRenegotiate  bool // more changes came while negotiating
	subDirty        bool // tracks changed; offer once the queued actions are done
	subPendingCands []webrtc.ICECandidateInit
	pubPendingCands []webrtc.ICECandidateInit
	sources         map[string]string        // client track id -> source, from offers
	published       map[string]*publication  // client track id -> track
	subscriptions   map[string]*subscription // server track id -> downtrack
	pendingViews    map[string][2]int        // view messages that came before the track
	fast            *fastPath                // nil: the engine runs without the fast path
}

type publication struct {
	track *room.Track
	media *sfu.Track

	mu     sync.Mutex
	layers []*fastLayer // on the fast path
	undone bool
}

// unroute takes the track's layers off the fast path.
func (pub *publication) unroute() {
	pub.mu.Lock()
	layers := pub.layers
	pub.layers, pub.undone = nil, true
	pub.mu.Unlock()
	for _, l := range layers {
		l.stop()
	}
}

// addLayer starts one published layer in the SFU, through the fast path if the engine has one.
func (p *Peer) addLayer(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver, pub *publication) error {
	if p.fast == nil {
		return pub.media.AddLayer(remote)
	}
	src, l := p.fast.publish(remote, recv, pub.media)
	if err := pub.media.AddLayer(src); err != nil {
		l.stop()
		return err
	}
	pub.mu.Lock()
	done := pub.undone
	if !done {
		pub.layers = append(pub.layers, l)
	}
	pub.mu.Unlock()
	if done { // the track ended meanwhile
		l.stop()
	} else {
		l.start()
	}
	return nil
}

type subscription struct {
	dt     *sfu.DownTrack
	sender *webrtc.RTPSender
}

// New creates the peer's connections. It has not joined the room yet.
func New(cfg Config) (*Peer, error) {
	p := &Peer{
		id: cfg.ID, room: cfg.Room, cfg: cfg, log: cfg.Logger.With("participant", cfg.ID),
		queued: make(chan struct{}, 1), done: make(chan struct{}),
		sources: map[string]string{}, published: map[string]*publication{},
		subscriptions: map[string]*subscription{}, pendingViews: map[string][2]int{},
	}
	var err error
	if p.pub, err = cfg.Engine.Publish.NewPeerConnection(webrtc.Configuration{}); err != nil {
		return nil, fmt.Errorf("publish connection: %w", err)
	}
	if p.sub, err = cfg.Engine.Subscribe.NewPeerConnection(webrtc.Configuration{}); err != nil {
		p.pub.Close()
		return nil, fmt.Errorf("subscribe connection: %w", err)
	}
	if p.fast, err = newFastPath(cfg.Engine, p.pub, p.sub, p.log); err != nil {
		p.pub.Close()
		p.sub.Close()
		return nil, fmt.Errorf("fast path: %w", err)
	}
	p.pub.OnICECandidate(func(c *webrtc.ICECandidate) { p.sendCandidate(protocol.PCPublish, c) })
	p.sub.OnICECandidate(func(c *webrtc.ICECandidate) { p.sendCandidate(protocol.PCSubscribe, c) })
	p.pub.OnTrack(func(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		p.do(func() { p.onTrack(remote, recv) })
	})
	for name, pc := range map[string]*webrtc.PeerConnection{"pub": p.pub, "sub": p.sub} {
		name := name
		pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
			p.log.Debug("connection state", "pc", name, "state", s.String())
		})
	}
	go p.loop()
	return p, nil
}

// ID is the participant id.
func (p *Peer) ID() string { return p.id }

// Room is the room the peer is in.
func (p *Peer) Room() *room.Room { return p.room }

// Attach points the peer's events at a (new) socket; nil detaches.
func (p *Peer) Attach(out Outbox) {
	if out == nil {
		p.outbox.Store(nil)
		return
	}
	p.outbox.Store(&out)
}

// Send implements room.Participant.
func (p *Peer) Send(m protocol.Message) {
	if out := p.outbox.Load(); out != nil {
		(*out)(m)
	}
}

// Subscribe implements room.Participant.
func (p *Peer) Subscribe(t *room.Track) { p.do(func() { p.subscribe(t) }) }

// Unsubscribe implements room.Participant.
func (p *Peer) Unsubscribe(t *room.Track) { p.do(func() { p.unsubscribe(t.ID()) }) }

// Close implements room.Participant: the room (a host, or the room closing) ends this peer.
func (p *Peer) Close(reason string) {
	p.Send(&protocol.Bye{Reason: reason})
	go p.Leave(reason)
}

// Leave takes the peer out of its room and closes its connections. Safe to call more than once.
func (p *Peer) Leave(reason string) {
	p.once.Do(func() {
		p.room.Leave(p.id, reason)
		close(p.done) // the loop closes the connections: pion's GetStats must not race with Close
		if p.cfg.OnGone != nil {
			p.cfg.OnGone(p)
		}
	})
}

// Done is closed when the peer has left.
func (p *Peer) Done() <-chan struct{} { return p.done }

// do queues an action for the loop. It never blocks (the room calls it under its lock) and keeps
// order: negotiation steps must run in the order they were asked for. The queue has no fixed bound;
// what fills it (room events, client messages) is itself bounded by rate limits and room size.
func (p *Peer) do(f func()) {
	p.queueMu.Lock()
	p.queue = append(p.queue, f)
	p.queueMu.Unlock()
	select {
	case p.queued <- struct{}{}:
	default: // the loop has been woken already
	}
}

func (p *Peer) loop() {
	tick := time.NewTimer(untilNextSecond(time.Now()))
	defer tick.Stop()
	var ticks int
	for {
		select {
		case <-p.queued:
			p.queueMu.Lock()
			batch := p.queue
			p.queue = nil
			p.queueMu.Unlock()
			for _, f := range batch {
				f()
			}
			// Subscriptions arrive in bursts (joining a room with many tracks, someone publishing
			// camera and microphone): one offer for the whole burst saves round trips.
			if p.subDirty && len(p.queued) == 0 {
				p.subDirty = false
				p.negotiate(false)
			}
		case <-tick.C:
			tick.Reset(untilNextSecond(time.Now()))
			ticks++
			p.sendSenderReports()
			if ticks%int(qualityEvery/senderReportEvery) == 0 {
				p.updateQuality()
			}
		case <-p.done:
			p.cleanup()
			return
		}
	}
}

func (p *Peer) cleanup() {
	p.pub.Close()
	p.sub.Close()
	if p.fast != nil {
		p.fast.close()
	}
	for id, s := range p.subscriptions {
		s.dt.Close()
		delete(p.subscriptions, id)
	}
}

// Errors the signal layer turns into protocol errors.
var (
	ErrState  = errors.New("invalid state")
	ErrNoSuch = errors.New("no such track")
)

// HandleOffer answers the client's offer on the publish connection. reply receives the answer or an error.
func (p *Peer) HandleOffer(m *protocol.Offer, reply func(protocol.Message)) {
	p.do(func() {
		for id, src := range m.Tracks {
			p.sources[id] = src
		}
		err := p.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP})
		if err != nil {
			reply(protocol.Errorf(protocol.CodeBadRequest, "offer rejected: %v", err))
			return
		}
		for _, c := range p.pubPendingCands {
			_ = p.pub.AddICECandidate(c)
		}
		p.pubPendingCands = nil
		p.restrictAudio(m.SDP)
		answer, err := p.pub.CreateAnswer(nil)
		if err == nil {
			err = p.pub.SetLocalDescription(answer)
		}
		if err != nil {
			reply(protocol.Errorf(protocol.CodeBadRequest, "cannot answer offer: %v", err))
			return
		}
		reply(&protocol.Answer{PC: protocol.PCPublish, SDP: p.pub.LocalDescription().SDP})
	})
}

// restrictAudio limits what the client may publish to the room's audio
// codec, when the room has one (a call with a telephone).
func (p *Peer) restrictAudio(offer string) {
	mime := p.room.Settings().AudioCodec
	if mime == "" {
		return
	}
	c, ok := rtc.AudioCodec(mime)
	if !ok {
		return
	}
	prefs := []webrtc.RTPCodecParameters{c}
	// Keypad tones (RFC 4733) too, with the payload type the client offered:
	// pion answers with the preference's number but expects the offer's.
	if pt, ok := offeredTelephoneEvent(offer); ok {
		te := rtc.TelephoneEvent()
		te.PayloadType = pt
		prefs = append(prefs, te)
	}
	for _, tr := range p.pub.GetTransceivers() {
		if tr.Kind() == webrtc.RTPCodecTypeAudio {
			if err := tr.SetCodecPreferences(prefs); err != nil {
				p.log.Warn("cannot restrict audio codec", "codec", mime, "err", err)
			}
		}
	}
}

// offeredTelephoneEvent finds the payload type of telephone-event/8000 in
// an offer's audio.
func offeredTelephoneEvent(offer string) (webrtc.PayloadType, bool) {
	var parsed sdp.SessionDescription
	if err := parsed.UnmarshalString(offer); err != nil {
		return 0, false
	}
	for _, md := range parsed.MediaDescriptions {
		if md.MediaName.Media != "audio" {
			continue
		}
		for _, a := range md.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			pt, enc, ok := strings.Cut(a.Value, " ")
			name, rate, _ := strings.Cut(strings.TrimSpace(enc), "/")
			rate, _, _ = strings.Cut(rate, "/") // channels
			if !ok || !strings.EqualFold(name, "telephone-event") || rate != "8000" {
				continue
			}
			if n, err := strconv.ParseUint(pt, 10, 7); err == nil {
				return webrtc.PayloadType(n), true
			}
		}
	}
	return 0, false
}

// HandleAnswer applies the client's answer to our subscribe offer.
func (p *Peer) HandleAnswer(m *protocol.Answer, reply func(protocol.Message)) {
	p.do(func() {
		if !p.subNegotiating {
			reply(protocol.Errorf(protocol.CodeInvalidState, "no offer is waiting for an answer"))
			return
		}
		err := p.sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP})
		if err != nil {
			reply(protocol.Errorf(protocol.CodeBadRequest, "answer rejected: %v", err))
			return
		}
		p.subNegotiating = false
		for _, c := range p.subPendingCands {
			_ = p.sub.AddICECandidate(c)
		}
		p.subPendingCands = nil
		reply(nil)
		if p.subRenegotiate {
			p.subRenegotiate = false
			p.negotiate(false)
		}
	})
}

// HandleCandidate adds a trickled ICE candidate.
func (p *Peer) HandleCandidate(m *protocol.CandidateMsg) {
	if m.Candidate == nil || m.Candidate.Candidate == "" {
		return
	}
	c := webrtc.ICECandidateInit{Candidate: m.Candidate.Candidate, SDPMid: m.Candidate.SDPMid,
		SDPMLineIndex: m.Candidate.SDPMLineIndex, UsernameFragment: m.Candidate.UsernameFragment}
	p.do(func() {
		pc, pending := p.pub, &p.pubPendingCands
		if m.PC == protocol.PCSubscribe {
			pc, pending = p.sub, &p.subPendingCands
		}
		if pc.RemoteDescription() == nil {
			if len(*pending) < 64 {
				*pending = append(*pending, c)
			}
			return
		}
		if err := pc.AddICECandidate(c); err != nil {
			p.log.Debug("bad candidate", "pc", m.PC, "err", err)
		}
	})
}

// RestartICE re-offers the subscribe connection with new ICE credentials.
func (p *Peer) RestartICE() { p.do(func() { p.negotiate(true) }) }

// SetView records the size at which the client renders a track.
func (p *Peer) SetView(m *protocol.View) {
	p.do(func() {
		if s, ok := p.subscriptions[m.Track]; ok {
			s.dt.SetViewport(m.Width, m.Height)
			return
		}
		if len(p.pendingViews) < 256 {
			p.pendingViews[m.Track] = [2]int{m.Width, m.Height}
		}
	})
}

// ServerTrackID maps a server track id back to its publication, for mute/unpublish requests.
func (p *Peer) Unpublish(trackID string, reply func(error)) {
	p.do(func() {
		for cid, pub := range p.published {
			if pub.track.ID() == trackID {
				delete(p.published, cid)
				reply(p.room.Unpublish(p.id, trackID))
				return
			}
		}
		reply(ErrNoSuch)
	})
}

func (p *Peer) sendCandidate(pc string, c *webrtc.ICECandidate) {
	if c == nil {
		return
	}
	init := c.ToJSON()
	p.Send(&protocol.CandidateMsg{PC: pc, Candidate: &protocol.Candidate{
		Candidate: init.Candidate, SDPMid: init.SDPMid, SDPMLineIndex: init.SDPMLineIndex, UsernameFragment: init.UsernameFragment}})
}

// onTrack turns an incoming track (or one simulcast layer of it) into a published room track.
func (p *Peer) onTrack(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	cid := remote.ID()
	if pub, ok := p.published[cid]; ok {
		if err := p.addLayer(remote, recv, pub); err != nil {
			p.log.Warn("simulcast layer refused", "track", pub.track.ID(), "rid", remote.RID(), "err", err)
		}
		return
	}
	kind := remote.Kind().String()
	source := p.sources[cid]
	if source == "" {
		source = map[string]string{"audio": "microphone", "video": "camera"}[kind]
	}
	var levelExt, dtmfPT uint8
	params := recv.GetParameters()
	for _, ext := range params.HeaderExtensions {
		if ext.URI == sdp.AudioLevelURI {
			levelExt = uint8(ext.ID)
		}
	}
	for _, c := range params.Codecs {
		if strings.EqualFold(c.MimeType, rtc.TelephoneEvent().MimeType) && c.ClockRate == 8000 {
			dtmfPT = uint8(c.PayloadType) // keypad tones share the audio's stream
		}
	}
	info := protocol.TrackInfo{ID: "t_" + randomID(), Participant: p.id, Kind: kind, Source: source,
		ClientID: cid, Simulcast: remote.RID() != ""}
	pc := p.pub
	// A participant's camera and microphone share a stream id, so browsers keep them in sync; a
	// screen share is a stream of its own.
	stream := p.id
	if source == "screen" {
		stream = p.id + "-screen"
	}
	media := sfu.NewTrack(sfu.TrackOptions{
		ID: info.ID, StreamID: stream, Kind: remote.Kind(), Codec: remote.Codec().RTPCodecCapability,
		AudioLevelExtID: levelExt, DTMFPayloadType: dtmfPT,

		RequestKeyframe: func(ssrc uint32) {
			_ = pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
		},
		Logger: p.log, Metrics: p.cfg.Metrics, Batch: batcher(p.cfg.Engine),
	})
	t := room.NewTrack(info, media)
	pub := &publication{track: t, media: media}
	if err := p.addLayer(remote, recv, pub); err != nil {
		p.log.Warn("track refused", "rid", remote.RID(), "err", err)
		pub.unroute()
		media.Close()
		return
	}
	p.published[cid] = pub
	if err := p.room.Publish(t); err != nil {
		p.log.Warn("publish refused", "err", err)
		delete(p.published, cid)
		pub.unroute()
		media.Close()
		return
	}
	p.log.Info("track published", "track", info.ID, "kind", kind, "source", source, "codec", remote.Codec().MimeType, "simulcast", info.Simulcast)
	// The track ends when the client stops sending it (removed from its connection) or leaves.
	go func() {
		select {
		case <-media.Done():
			pub.unroute()
			p.do(func() {
				if cur, ok := p.published[cid]; ok && cur.track == t {
					delete(p.published, cid)
					_ = p.room.Unpublish(p.id, info.ID)
				}
			})
		case <-p.done:
		}
	}()
}

// offerGatherWait bounds how long a subscribe offer waits for ICE gathering to complete.
const offerGatherWait = 100 * time.Millisecond

// senderReportEvery is how often the subscribe connection carries RTCP sender reports (lip sync,
// receivers' statistics): pion's interceptor used the same interval.
const senderReportEvery = time.Second

// untilNextSecond is the wait for the next whole second of the clock. Every peer's loop does its
// periodic work (sender reports, the quality score) on whole seconds, so that a server with many
// peers wakes once a second for all of them: at independent phases, each peer's timer cost a
// thread wake-up of its own, a few percent of the CPU of forwarding media to a hundred subscribers.
func untilNextSecond(now time.Time) time.Duration {
	return now.Truncate(senderReportEvery).Add(senderReportEvery).Sub(now)
}

// sendSenderReports writes a sender report for every track the subscribe connection has sent media
// on, several to a compound RTCP packet. Runs in the loop, which owns the subscriptions.
func (p *Peer) sendSenderReports() {
	if len(p.subscriptions) == 0 || p.sub.ConnectionState() != webrtc.PeerConnectionStateConnected {
		return
	}
	dts := make([]*sfu.DownTrack, 0, len(p.subscriptions))
	for _, s := range p.subscriptions {
		dts = append(dts, s.dt)
	}
	pkts := sfu.SenderReports(nil, dts, time.Now())
	const perPacket = 20 // 28 bytes each: a compound packet well under the MTU
	for len(pkts) > 0 {
		n := min(len(pkts), perPacket)
		if err := p.sub.WriteRTCP(pkts[:n]); err != nil {
			p.log.Debug("sender reports", "err", err)
			return
		}
		pkts = pkts[n:]
	}
}

// batcher is the engine's write batcher, or nil (an untyped nil: the Track checks for it).
func batcher(e *rtc.Engine) sfu.Batcher {
	if b := e.Batch(); b != nil {
		return b
	}
	return nil
}

func (p *Peer) subscribe(t *room.Track) {
	if _, ok := p.subscriptions[t.ID()]; ok {
		return
	}
	media, ok := t.Media.(*sfu.Track)
	if !ok {
		return
	}
	dt := media.Subscribe(p.id)
	if p.fast != nil {
		p.fast.subscribe(dt)
	}
	sender, err := p.sub.AddTrack(dt)
	if err != nil {
		p.log.Warn("cannot add track", "track", t.ID(), "err", err)
		if p.fast != nil {
			p.fast.unsubscribe(dt)
		}
		dt.Close()
		return
	}
	go dt.HandleRTCP(sender)
	p.subscriptions[t.ID()] = &subscription{dt: dt, sender: sender}
	if v, ok := p.pendingViews[t.ID()]; ok {
		dt.SetViewport(v[0], v[1])
		delete(p.pendingViews, t.ID())
	}
	p.subDirty = true
}

func (p *Peer) unsubscribe(id string) {
	s, ok := p.subscriptions[id]
	if !ok {
		return
	}
	delete(p.subscriptions, id)
	_ = p.sub.RemoveTrack(s.sender)
	if p.fast != nil {
		p.fast.unsubscribe(s.dt)
	}
	s.dt.Close()
	p.subDirty = true
}

// negotiate offers the subscribe connection's current tracks, or marks that an offer is owed once the
// outstanding one is answered: one offer in flight at a time keeps the two sides in step.
func (p *Peer) negotiate(iceRestart bool) {
	if p.subNegotiating {
		p.subRenegotiate = true
		return
	}
	offer, err := p.sub.CreateOffer(&webrtc.OfferOptions{ICERestart: iceRestart})
	gathered := webrtc.GatheringCompletePromise(p.sub)
	if err == nil {
		err = p.sub.SetLocalDescription(offer)
	}
	if err != nil {
		p.log.Warn("cannot offer subscribe connection", "err", err)
		return
	}
	// Our candidates are local addresses of the shared media sockets, gathered in a few
	// milliseconds: wait for them so that the offer carries them. The browser can then connect
	// without handling trickled candidates on its main thread, which is busy when it has just
	// joined (publishing, laying out the call). They are trickled as well, as before.
	start := time.Now()
	select {
	case <-gathered:
	case <-time.After(offerGatherWait):
	}
	p.log.Debug("subscribe offer", "gathering", time.Since(start))
	p.subNegotiating = true
	p.Send(&protocol.Offer{PC: protocol.PCSubscribe, SDP: p.sub.LocalDescription().SDP})
}

var _ room.Participant = (*Peer)(nil)
