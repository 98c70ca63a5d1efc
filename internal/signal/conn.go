package signal

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"switchboard/internal/peer"
	"switchboard/internal/protocol"
	"switchboard/internal/room"
)

// conn is one signalling socket. Its run loop owns the session state; a reader goroutine feeds it
// decoded frames and a writer goroutine drains its send queue.
type conn struct {
	s      *Server
	ws     *websocket.Conn
	remote string
	out    chan []byte
	quit   chan struct{} // closed to end the session; the writer then flushes and closes the socket
	done   chan struct{} // closed when the socket is closed
	once   sync.Once

	closeCode   websocket.StatusCode
	closeReason string

	// Events for the participant are held until joined is sent, so that no offer or room event
	// reaches the client before the state it refers to.
	holdMu sync.Mutex
	held   []protocol.Message
	live   bool

	// Owned by run.
	peer       *peer.Peer
	room       *room.Room
	token      string
	perms      protocol.Permissions
	account    string // the signed-in account's user id, "" when anonymous (DialOutRequest)
	pendingReq room.JoinRequest
	limiter    *rate.Limiter
	abuse      int
	lastHeard  time.Time
}

type frame struct {
	msg protocol.Message
	err error
}

func newConn(s *Server, ws *websocket.Conn, remote string) *conn {
	return &conn{s: s, ws: ws, remote: remote, out: make(chan []byte, s.cfg.SendQueueLen),
		quit: make(chan struct{}), done: make(chan struct{}), limiter: rate.NewLimiter(50, 100)}
}

// send queues a message without blocking. A client that cannot keep up is disconnected: it resumes
// and receives the full current state, which is better than an unbounded queue on the server.
func (c *conn) send(m protocol.Message) {
	b := protocol.Encode(m)
	select {
	case c.out <- b:
	case <-c.quit:
	default:
		c.s.cfg.Logger.Warn("signalling client too slow, disconnecting", "remote", c.remote)
		c.close(websocket.StatusPolicyViolation, "too slow")
	}
}

// deliver is the participant's outbox: it holds events until joined has gone out.
func (c *conn) deliver(m protocol.Message) {
	c.holdMu.Lock()
	defer c.holdMu.Unlock()
	if c.live {
		c.send(m)
		return
	}
	if len(c.held) < c.s.cfg.SendQueueLen {
		c.held = append(c.held, m)
		return
	}
	c.s.cfg.Logger.Warn("too many events before join completed, disconnecting", "remote", c.remote)
	c.close(websocket.StatusPolicyViolation, "too slow")
}

// goLive sends joined, then the events held meanwhile, in order.
func (c *conn) goLive(joined protocol.Message) {
	c.holdMu.Lock()
	defer c.holdMu.Unlock()
	c.send(joined)
	for _, m := range c.held {
		c.send(m)
	}
	c.held, c.live = nil, true
}

func (c *conn) reply(id string, m protocol.Message) {
	if e, ok := m.(*protocol.Error); ok && c.s.cfg.OnError != nil {
		c.s.cfg.OnError(e.Code)
	}
	c.send(protocol.WithID(m, id))
}

// close ends the session. What is already queued (a final error, bye) is still sent.
func (c *conn) close(code websocket.StatusCode, reason string) {
	c.once.Do(func() {
		c.closeCode, c.closeReason = code, reason
		close(c.quit)
	})
}

func (c *conn) run(ctx context.Context) {
	// The socket must outlive the request context: coder/websocket closes the connection at once
	// when a read's context ends, which would drop queued replies.
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	frames := make(chan frame, 16)
	go c.reader(ctx, frames)
	go c.writer(ctx)
	defer func() {
		c.detach()
		<-c.done
		cancel()
	}()

	c.lastHeard = time.Now()
	joinDeadline := time.NewTimer(c.s.cfg.JoinTimeout)
	defer joinDeadline.Stop()
	idle := time.NewTicker(c.s.cfg.IdleTimeout / 3)
	defer idle.Stop()
	var lobby <-chan bool
	var pendingJoin *protocol.Join
	var pendingPeer *peer.Peer

	for {
		select {
		case <-c.quit:
			return
		case <-joinDeadline.C:
			if c.peer == nil {
				c.reply("", protocol.Errorf(protocol.CodeBadRequest, "no join within %v", c.s.cfg.JoinTimeout))
				c.flushAndClose(websocket.StatusPolicyViolation, "join timeout")
				return
			}
		case <-idle.C:
			if time.Since(c.lastHeard) > c.s.cfg.IdleTimeout {
				c.close(websocket.StatusGoingAway, "idle")
				return
			}
		case admitted := <-lobby:
			lobby = nil
			if !admitted {
				c.reply(pendingJoin.ID, protocol.Errorf(protocol.CodeDenied, "the host did not let you in"))
				pendingPeer.Leave("denied")
				c.flushAndClose(websocket.StatusNormalClosure, "denied")
				return
			}
			c.finishJoin(ctx, pendingJoin, pendingPeer, true)
		case f, ok := <-frames:
			if !ok {
				return
			}
			c.lastHeard = time.Now()
			if f.err != nil {
				var pe *protocol.Error
				if errors.As(f.err, &pe) {
					c.reply(pe.ID, pe)
					if pe.Code == protocol.CodeTooLarge {
						c.flushAndClose(websocket.StatusMessageTooBig, "frame too large")
						return
					}
					continue
				}
				return // the socket failed
			}
			if !c.limiter.Allow() {
				c.abuse++
				c.reply(protocol.RequestID(f.msg), protocol.Errorf(protocol.CodeRateLimited, "too many messages; slow down"))
				if c.abuse > 200 {
					c.flushAndClose(websocket.StatusPolicyViolation, "rate limit")
					return
				}
				continue
			}
			switch m := f.msg.(type) {
			case *protocol.Ping:
				c.reply(m.ID, &protocol.Pong{})
			case *protocol.Join:
				if c.peer != nil || lobby != nil {
					c.reply(m.ID, protocol.Errorf(protocol.CodeInvalidState, "already joined"))
					continue
				}
				p, wait, err := c.join(ctx, m)
				if err != nil {
					c.reply(m.ID, joinError(err))
					continue
				}
				if wait != nil {
					lobby, pendingJoin, pendingPeer = wait, m, p
					c.reply(m.ID, &protocol.Waiting{})
				}
			case *protocol.Leave:
				if lobby != nil {
					pendingPeer.Leave("left")
				}
				if c.peer != nil {
					c.peer.Leave("left")
					c.peer = nil
				}
				c.flushAndClose(websocket.StatusNormalClosure, "left")
				return
			default:
				if c.peer == nil {
					c.reply(protocol.RequestID(m), protocol.Errorf(protocol.CodeNotJoined, "send join first"))
					continue
				}
				c.dispatch(ctx, m)
			}
		}
	}
}

func (c *conn) reader(ctx context.Context, frames chan<- frame) {
	defer close(frames)
	for {
		typ, data, err := c.ws.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusMessageTooBig {
				c.send(protocol.Errorf(protocol.CodeTooLarge, "frame exceeds %d bytes", protocol.MaxFrame))
			}
			c.close(websocket.StatusNormalClosure, "")
			return
		}
		var f frame
		if typ != websocket.MessageText {
			f.err = protocol.Errorf(protocol.CodeBadRequest, "frames must be text (JSON)")
		} else {
			f.msg, f.err = protocol.Decode(data)
		}
		select {
		case frames <- f:
		case <-c.quit:
			return
		}
	}
}

// writer sends queued messages; when the session ends it flushes the queue briefly, then closes.
func (c *conn) writer(ctx context.Context) {
	defer close(c.done)
	write := func(b []byte, timeout time.Duration) error {
		wctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return c.ws.Write(wctx, websocket.MessageText, b)
	}
	for {
		select {
		case b := <-c.out:
			if err := write(b, 10*time.Second); err != nil {
				c.close(websocket.StatusGoingAway, "write failed")
				c.ws.CloseNow()
				return
			}
		case <-c.quit:
		drain:
			for {
				select {
				case b := <-c.out:
					if write(b, time.Second) != nil {
						break drain
					}
				default:
					break drain
				}
			}
			c.ws.Close(c.closeCode, c.closeReason)
			return
		}
	}
}

// flushAndClose ends the session after sending what is queued.
func (c *conn) flushAndClose(code websocket.StatusCode, reason string) { c.close(code, reason) }

// join authenticates and admits, or resumes. It returns a lobby channel when the participant waits.
func (c *conn) join(ctx context.Context, m *protocol.Join) (*peer.Peer, <-chan bool, error) {
	if m.V != protocol.Version {
		return nil, nil, protocol.Errorf(protocol.CodeUnsupportedVersion, "this server speaks protocol version %d", protocol.Version)
	}
	if m.Resume != "" {
		return nil, nil, c.resume(ctx, m)
	}
	perms := protocol.Permissions{Publish: true, Subscribe: true}
	name, create, host := m.Name, false, false
	if m.Token != "" {
		if c.s.cfg.VerifyToken == nil {
			return nil, nil, protocol.Errorf(protocol.CodeUnauthorized, "this server does not accept tokens")
		}
		claims, err := c.s.cfg.VerifyToken(m.Token)
		if err != nil {
			return nil, nil, err
		}
		if !claims.Join {
			return nil, nil, protocol.Errorf(protocol.CodeForbidden, "the token does not grant joining meetings")
		}
		if claims.Room != "" && claims.Room != m.Room {
			return nil, nil, protocol.Errorf(protocol.CodeForbidden, "the token is for another meeting")
		}
		perms = protocol.Permissions{Publish: claims.Publish, Subscribe: claims.Subscribe, Moderate: claims.Moderate}
		create, host = claims.Create, claims.Moderate
		if claims.Name != "" {
			name = claims.Name
		}
		if c.s.cfg.TokenAccount != nil {
			if id := c.s.cfg.TokenAccount(m.Token); id != "" {
				c.account = id
			}
		}
	} else if !c.s.cfg.OpenJoin {
		return nil, nil, protocol.Errorf(protocol.CodeForbidden, "this server requires a token to join meetings")
	}
	if name = strings.TrimSpace(name); name == "" {
		return nil, nil, protocol.Errorf(protocol.CodeBadRequest, "join: name is required")
	}
	r, created, err := c.s.cfg.Registry.Open(ctx, m.Room, create)
	if err != nil {
		return nil, nil, err
	}
	p, err := peer.New(peer.Config{Engine: c.s.cfg.Engine, Room: r, ID: peer.NewParticipantID(),
		Metrics: c.s.cfg.SFUMetrics, Logger: c.s.cfg.Logger, OnGone: c.s.forget})
	if err != nil {
		return nil, nil, err
	}
	c.perms = perms
	c.room = r
	req := room.JoinRequest{Participant: p, Name: name, Perms: perms, Host: created || host}
	p.Attach(c.deliver)
	snap, wait, err := r.Join(req)
	if err != nil {
		p.Attach(nil)
		p.Leave("refused")
		return nil, nil, err
	}
	if wait != nil {
		c.pendingReq = req
		return p, wait, nil
	}
	c.sendJoined(ctx, m.ID, p, snap, false)
	return p, nil, nil
}

func (c *conn) finishJoin(ctx context.Context, m *protocol.Join, p *peer.Peer, admitted bool) {
	req := c.pendingReq
	req.Admitted = admitted
	snap, _, err := c.room.Join(req)
	if err != nil {
		c.reply(m.ID, joinError(err))
		p.Leave("refused")
		c.flushAndClose(websocket.StatusNormalClosure, "refused")
		return
	}
	c.sendJoined(ctx, m.ID, p, snap, false)
}

func (c *conn) sendJoined(ctx context.Context, id string, p *peer.Peer, snap *room.Snapshot, resumed bool) {
	if c.token == "" {
		c.token = newSessionToken()
		c.s.addSession(c.token, p, c.perms, c.account)
	}
	c.peer = p
	chat, err := c.room.ChatHistory(ctx)
	if err != nil {
		c.s.cfg.Logger.Warn("chat history unavailable", "room", c.room.ID(), "err", err)
	}
	if chat == nil {
		chat = []protocol.ChatMessage{}
	}
	var ice []protocol.ICEServer
	if c.s.cfg.ICEServers != nil {
		ice = c.s.cfg.ICEServers(p.ID())
	}
	if ice == nil {
		ice = []protocol.ICEServer{}
	}
	perms := c.perms
	perms.Moderate = perms.Moderate || snap.Self.Host
	c.goLive(protocol.WithID(&protocol.Joined{Session: c.token, Resumed: resumed, Participant: snap.Self, Room: snap.Room,
		Participants: snap.Participants, Tracks: snap.Tracks, Chat: chat, ICEServers: ice, Permissions: perms}, id))
}

func (c *conn) resume(ctx context.Context, m *protocol.Join) error {
	p, ok := c.s.takeOver(m.Resume)
	if !ok || p.Room().ID() != m.Room {
		return protocol.Errorf(protocol.CodeUnauthorized, "this session can no longer be resumed; join again")
	}
	c.token, c.room = m.Resume, p.Room()
	perms, account := c.s.permsOf(m.Resume)
	c.perms = perms
	if account != "" { // the session's own; else this socket's cookie, if any
		c.account = account
	}
	// Attach before the snapshot: an event between the two is then delivered (after joined) rather
	// than lost; clients treat repeated state idempotently.
	p.Attach(c.deliver)
	snap, err := c.room.Snapshot(p.ID())
	if err != nil {
		return err
	}
	c.sendJoined(ctx, m.ID, p, snap, true)
	c.s.cfg.Logger.Info("session resumed", "participant", p.ID(), "room", c.room.ID())
	return nil
}

// detach runs when the socket is gone: the participant stays in the room for the grace period.
func (c *conn) detach() {
	c.close(websocket.StatusNormalClosure, "")
	if c.peer == nil {
		return
	}
	c.peer.Attach(nil)
	c.s.startGrace(c.token, c.peer, c.perms)
}
