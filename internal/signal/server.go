// Package signal serves the signalling WebSocket of docs/protocol.md: it authenticates a join, admits
// the participant to its room (through the lobby if need be), resumes dropped sessions, and dispatches
// each decoded message to the participant. One goroutine per socket reads; one writes.
package signal

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"switchboard/internal/auth"
	"switchboard/internal/peer"
	"switchboard/internal/protocol"
	"switchboard/internal/room"
	"switchboard/internal/rtc"
	"switchboard/internal/sfu"
)

// Config is what the signalling server needs.
type Config struct {
	Registry       *room.Registry
	Engine         *rtc.Engine
	AllowedOrigins []string // origins (scheme://host[:port]) besides the server's own
	// OriginAllowed, when set, accepts more origins: the sites of the
	// customer-contact widgets, whose visitors join calls with a token.
	OriginAllowed func(origin string) bool
	ResumeGrace   time.Duration
	// OpenJoin: joining without a token is allowed (link rooms). When false, every join needs a token.
	OpenJoin bool
	// VerifyToken checks a JWT; nil means tokens are not accepted.
	VerifyToken func(token string) (*auth.Claims, error)
	// ICEServers returns the STUN/TURN servers (with fresh credentials) for a participant.
	ICEServers   func(participant string) []protocol.ICEServer
	SFUMetrics   *sfu.Metrics
	OnError      func(code string) // counts errors sent, for metrics
	Logger       *slog.Logger
	JoinTimeout  time.Duration // default 10s
	IdleTimeout  time.Duration // default 30s
	SendQueueLen int           // default 256
	// DialOut rings a telephone into a meeting for a host (dialOut). nil:
	// telephony is off.
	DialOut func(DialOutRequest) error
	// SessionAccount names the account signed in with the upgrade
	// request's session cookie ("" for none). It is asked only for
	// requests from the server's own origin: a page elsewhere (an SDK
	// user's site) joins anonymously whatever cookies its browser sends.
	SessionAccount func(r *http.Request) string
	// TokenAccount names the account a join token was minted for by this
	// server ("" for any other token).
	TokenAccount func(token string) string
}

// DialOutRequest is a host's dialOut. Account is the user id of the
// account the host's connection is signed in as ("" when anonymous): it
// alone decides whether the host may call telephone numbers, and it names
// the caller in the call's record. The server learns it from the
// connection, never from the message.
type DialOutRequest struct {
	Room     *room.Room
	Host     string // the host's participant id
	Account  string
	Target   string
	Progress func(protocol.Message) // dial-progress events to the host
}

// Server accepts signalling sockets.
type Server struct {
	cfg      Config
	patterns []string

	mu       sync.Mutex
	sessions map[string]*peer.Peer // session token -> participant, for resume and uploads
	conns    map[*conn]struct{}
	graces   map[string]*grace
	perms    map[string]protocol.Permissions
	accounts map[string]string // session token -> signed-in account, for resume
	closing  bool
}

// New makes a signalling server.
func New(cfg Config) *Server {
	if cfg.JoinTimeout == 0 {
		cfg.JoinTimeout = 10 * time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 30 * time.Second
	}
	if cfg.SendQueueLen == 0 {
		cfg.SendQueueLen = 256
	}
	s := &Server{cfg: cfg, sessions: map[string]*peer.Peer{}, conns: map[*conn]struct{}{}}
	for _, o := range cfg.AllowedOrigins {
		if o == "*" {
			s.patterns = append(s.patterns, "*")
			continue
		}
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			s.patterns = append(s.patterns, u.Host)
		}
	}
	return s
}

// ServeHTTP upgrades the request and runs the session until the socket closes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	opts := &websocket.AcceptOptions{OriginPatterns: s.patterns}
	if o := r.Header.Get("Origin"); o != "" && s.cfg.OriginAllowed != nil && s.cfg.OriginAllowed(o) {
		opts = &websocket.AcceptOptions{InsecureSkipVerify: true} // the origin was just checked
	}
	ws, err := websocket.Accept(w, r, opts)
	if err != nil {
		s.cfg.Logger.Debug("websocket upgrade refused", "err", err, "origin", r.Header.Get("Origin"))
		return
	}
	// A little headroom over MaxFrame so an oversized frame is read and answered with too_large
	// rather than cut off by the library.
	ws.SetReadLimit(protocol.MaxFrame + 4096)
	c := newConn(s, ws, r.RemoteAddr)
	if s.cfg.SessionAccount != nil && sameOrigin(r) {
		c.account = s.cfg.SessionAccount(r)
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ws.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	c.run(r.Context())
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Participant returns the participant holding a session token (for file uploads).
func (s *Server) Participant(session string) (*peer.Peer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.sessions[session]
	return p, ok
}

// Shutdown tells every client the server is going away and closes their sockets.
func (s *Server) Shutdown() {
	s.mu.Lock()
	s.closing = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.close(websocket.StatusGoingAway, "shutdown")
	}
}

func (s *Server) addSession(token string, p *peer.Peer, perms protocol.Permissions, account string) {
	s.mu.Lock()
	s.sessions[token] = p
	if s.perms == nil {
		s.perms = map[string]protocol.Permissions{}
		s.accounts = map[string]string{}
	}
	s.perms[token] = perms
	if account != "" {
		s.accounts[token] = account
	}
	s.mu.Unlock()
}

func (s *Server) removeSession(token string) {
	s.mu.Lock()
	delete(s.sessions, token)
	delete(s.perms, token)
	delete(s.accounts, token)
	s.mu.Unlock()
}

// sameOrigin reports whether an upgrade request comes from a page of this
// server (or from no browser page at all): only then does its session
// cookie name the person joining. Over TLS the page must be an https one
// too: a page on plain http (which anyone on the network path can write)
// is not ours.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true // not a browser page: a cookie it sends was given to it
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || (r.TLS != nil && u.Scheme != "https") {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

func newSessionToken() string {
	var b [24]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// joinError maps what can go wrong on join to protocol errors.
func joinError(err error) *protocol.Error {
	var pe *protocol.Error
	switch {
	case errors.As(err, &pe):
		return pe
	case errors.Is(err, room.ErrNotFound):
		return protocol.Errorf(protocol.CodeNotFound, "no meeting with this link exists")
	case errors.Is(err, room.ErrFull):
		return protocol.Errorf(protocol.CodeRoomFull, "the meeting is full")
	case errors.Is(err, room.ErrLocked):
		return protocol.Errorf(protocol.CodeRoomLocked, "the host has locked this meeting")
	case errors.Is(err, room.ErrDenied):
		return protocol.Errorf(protocol.CodeDenied, "the host did not let you in")
	case errors.Is(err, room.ErrClosed):
		return protocol.Errorf(protocol.CodeNotFound, "the meeting has ended")
	case errors.Is(err, auth.ErrTokenExpired):
		return protocol.Errorf(protocol.CodeTokenExpired, "the token has expired; ask for a new link")
	case errors.Is(err, auth.ErrTokenInvalid):
		return protocol.Errorf(protocol.CodeUnauthorized, "the token is not valid")
	}
	return protocol.Errorf(protocol.CodeInternal, "could not join: %v", err)
}
