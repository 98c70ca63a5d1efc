// Package sip is Switchboard's SIP side: a registrar for desk phones and
// softphones with digest authentication, on UDP, TCP, TLS and WebSocket
// (RFC 7118), behind a guard that rate-limits sources and blocks password
// guessers. Later it will also hold trunks, dialogs and the media bridge.
//
// The SIP message parser, transports and transaction layer are
// github.com/emiago/sipgo's; this package adds policy: who may register,
// where a registered phone can be reached, and what a hostile source may
// cost us. It keeps no package-level state, so tests run many servers in one
// process on port 0.
package sip

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// allowed is the Allow header we send: the methods we answer.
const allowed = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, REFER, NOTIFY, UPDATE"

// Server is a running SIP server. Create it with New; it listens from then
// until Close.
type Server struct {
	cfg    Config
	log    *slog.Logger
	m      *Metrics
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client

	guard   *guard
	loc     *location
	nonces  *nonces
	replays replays
	dummy   string // HA1 checked against for unknown accounts, so they take as long

	udp net.PacketConn
	tcp net.Listener
	tls net.Listener
	ws  *wsListener

	wsPorts atomic.Uint32 // synthetic ports for WebSocket clients known only by address

	calls       sync.Map // Call-ID -> *Call
	outCalls    sync.Map // Call-ID -> *OutCall (answered calls to phones)
	activeCalls atomic.Int64

	trunks trunks // trunk.go

	// A branch of a call out waits at most cancelWait for the INVITE's
	// final response after its CANCEL (64*T1, RFC 3261 9.1), and rings at
	// most ringLimit (a proxy's Timer C, RFC 3261 16.6, not restarted by
	// provisional responses, so a phone cannot keep a call ringing);
	// liveBranches counts the branches running (fork.go).
	cancelWait   time.Duration
	ringLimit    time.Duration
	liveBranches atomic.Int64

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closingMu sync.Mutex
	closing   bool // Close waits on wg (see spawn)
}

// New validates cfg, opens its listeners and starts serving. Listen errors
// (a port in use) are returned here, not later.
func New(cfg Config) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.NonceKey == nil {
		cfg.NonceKey = make([]byte, 32)
		rand.Read(cfg.NonceKey)
	}
	dummy := make([]byte, 16)
	rand.Read(dummy)
	s := &Server{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "sip"),
		m:      cfg.Metrics,
		guard:  newGuard(&cfg),
		loc:    newLocation(),
		nonces: &nonces{key: cfg.NonceKey, realm: cfg.Realm, lifetime: cfg.NonceLifetime},
		dummy:  fmt.Sprintf("%x", dummy),
		stop:   make(chan struct{}),

		cancelWait: 64 * sip.T1,
		ringLimit:  3 * time.Minute,
	}

	// sipgo logs remote peers' mistakes (unparsable datagrams, dead
	// connections) at error level, some with the raw message attached, which
	// would put digests in our logs and let anyone on the internet fill them.
	// Its lines go through quietHandler: debug level, message bodies removed.
	sipLog := slog.New(&quietHandler{inner: cfg.Logger.Handler().WithAttrs([]slog.Attr{slog.String("component", "sipgo")})})
	parser := sip.NewParser()
	parser.MaxMessageLength = cfg.MaxMessageSize
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(cfg.UserAgent),
		sipgo.WithUserAgentHostname(cfg.Realm),
		sipgo.WithUserAgentParser(parser),
		sipgo.WithUserAgentTransportLayerOptions(
			sip.WithTransportLayerLogger(sipLog),
			sip.WithTransportLayerReadFilter(s.readFilter),
		),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(sipLog)),
	)
	if err != nil {
		return nil, fmt.Errorf("sip: %w", err)
	}
	s.ua = ua
	if s.srv, err = sipgo.NewServer(ua, sipgo.WithServerLogger(sipLog)); err != nil {
		ua.Close()
		return nil, fmt.Errorf("sip: %w", err)
	}
	if s.client, err = sipgo.NewClient(ua, sipgo.WithClientLogger(sipLog), sipgo.WithClientHostname(cfg.Realm)); err != nil {
		ua.Close()
		return nil, fmt.Errorf("sip: %w", err)
	}
	s.srv.OnRegister(s.onRegister)
	s.srv.OnOptions(s.onOptions)
	s.srv.OnInvite(s.onInvite)
	s.srv.OnAck(s.onAck)
	s.srv.OnBye(s.onBye)
	s.registerDialogHandlers()
	s.srv.OnNoRoute(s.onNoRoute)

	if err := s.listen(); err != nil {
		s.Close()
		return nil, err
	}
	s.wg.Go(s.sweepLoop)
	s.log.Info("sip: listening", "udp", addrString(s.udp), "tcp", listenerAddr(s.tcp), "tls", listenerAddr(s.tls),
		"realm", cfg.Realm, "digest", strings.Join(cfg.DigestAlgorithms, ","))
	return s, nil
}

func (s *Server) listen() error {
	if s.cfg.UDPAddr != "" {
		c, err := net.ListenPacket("udp", s.cfg.UDPAddr)
		if err != nil {
			return fmt.Errorf("sip: listen udp %s: %w", s.cfg.UDPAddr, err)
		}
		s.udp = c
		s.wg.Go(func() { s.srv.ServeUDP(c) })
	}
	if s.cfg.TCPAddr != "" {
		l, err := net.Listen("tcp", s.cfg.TCPAddr)
		if err != nil {
			return fmt.Errorf("sip: listen tcp %s: %w", s.cfg.TCPAddr, err)
		}
		s.tcp = &guardedListener{Listener: l, s: s}
		s.wg.Go(func() { s.srv.ServeTCP(s.tcp) })
	}
	if s.cfg.TLSAddr != "" {
		l, err := net.Listen("tcp", s.cfg.TLSAddr)
		if err != nil {
			return fmt.Errorf("sip: listen tls %s: %w", s.cfg.TLSAddr, err)
		}
		// The guard looks at connections before the TLS handshake, so a
		// blocked source cannot make us do the handshake's work.
		s.tls = tls.NewListener(&guardedListener{Listener: l, s: s}, s.cfg.TLSConfig)
		s.wg.Go(func() { s.srv.ServeTLS(s.tls) })
	}
	s.ws = newWSListener()
	s.wg.Go(func() { s.srv.ServeWS(s.ws) })
	return nil
}

// Addrs are the addresses a Server listens on; nil for a transport that is off.
type Addrs struct {
	UDP, TCP, TLS net.Addr
}

// Addrs returns the listening addresses (with the ports picked for port 0).
func (s *Server) Addrs() Addrs {
	var a Addrs
	if s.udp != nil {
		a.UDP = s.udp.LocalAddr()
	}
	if s.tcp != nil {
		a.TCP = s.tcp.Addr()
	}
	if s.tls != nil {
		a.TLS = s.tls.Addr()
	}
	return a
}

// Close stops listening, closes every connection and forgets the bindings.
// spawn runs f in a goroutine the server's Close waits for; once Close
// is waiting, in a goroutine of its own (a WaitGroup may not grow while
// waited on: calls still end, and send their BYEs, as the server closes).
func (s *Server) spawn(f func()) {
	s.closingMu.Lock()
	defer s.closingMu.Unlock()
	if s.closing {
		go f()
		return
	}
	s.wg.Go(f)
}

func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.endCalls()
		s.closeTrunks() // un-REGISTER while the transports still work
		close(s.stop)
		if s.udp != nil {
			s.udp.Close()
		}
		if s.tcp != nil {
			s.tcp.Close()
		}
		if s.tls != nil {
			s.tls.Close()
		}
		if s.ws != nil {
			s.ws.Close()
		}
		if s.ua != nil {
			s.ua.Close()
		}
	})
	s.closingMu.Lock()
	s.closing = true
	s.closingMu.Unlock()
	s.wg.Wait()
	return nil
}

// ActiveCalls is the number of calls from phones now (ringing or answered): a gauge.
func (s *Server) ActiveCalls() int { return int(s.activeCalls.Load()) }

// Bindings returns the live registrations of username, newest first.
func (s *Server) Bindings(username string) []Binding {
	return s.loc.lookup(username, s.cfg.Now())
}

// BindingCount is the number of live registrations: a gauge for metrics.
func (s *Server) BindingCount() int { return s.loc.count(s.cfg.Now()) }

// RegisteredUsernames lists the accounts that have live bindings.
func (s *Server) RegisteredUsernames() []string { return s.loc.usernames(s.cfg.Now()) }

// Unregister drops every binding of username, for when its account is
// deleted or disabled; the phone's next REGISTER is refused.
func (s *Server) Unregister(username string) {
	if n := s.loc.remove(username); n > 0 {
		s.log.Info("sip: bindings removed", "username", username, "bindings", n)
	}
}

// Unblock lifts a block on a source address (an admin's action).
func (s *Server) Unblock(ip netip.Addr) { s.guard.unblock(ip) }

// Blocked reports whether a source address is blocked now.
func (s *Server) Blocked(ip netip.Addr) bool { return s.guard.blocked(ip, s.cfg.Now()) }

// Qualify sends OPTIONS to a registered phone and returns its final
// response. The request goes the way the phone's REGISTER came: to its
// source address, over the same connection for TCP, TLS and WebSocket, so it
// reaches phones behind NAT and browsers. Requests of later dialogs are sent
// the same way.
func (s *Server) Qualify(ctx context.Context, b Binding) (*sip.Response, error) {
	var uri sip.Uri
	if err := sip.ParseUri(b.Contact, &uri); err != nil {
		return nil, fmt.Errorf("sip: qualify %s: %w", b.Username, err)
	}
	req := sip.NewRequest(sip.OPTIONS, uri)
	s.toBinding(req, b)
	res, err := s.client.Do(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("sip: qualify %s: %w", b.Username, err)
	}
	return res, nil
}

// toBinding routes req to where b's REGISTER came from.
func (s *Server) toBinding(req *sip.Request, b Binding) {
	req.SetTransport(b.Transport)
	req.SetDestination(b.Source)
	req.AppendHeader(sip.NewHeader("User-Agent", s.cfg.UserAgent))
}

func (s *Server) sweepLoop() {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.loc.sweep(s.cfg.Now())
		}
	}
}

var errDropped = errors.New("sip: source blocked or over its rate")

// readFilter runs in sipgo's read loops on every datagram or stream read,
// before parsing. It drops what the guard refuses: silently for UDP (an
// error would end the UDP read loop), by closing the connection otherwise.
func (s *Server) readFilter(p sip.TransportReadProps, data []byte) ([]byte, error) {
	ip, ok := addrIP(p.RemoteAddr)
	if !ok {
		return data, nil
	}
	udp := p.Transport == "UDP"
	if udp && len(data) > s.cfg.MaxMessageSize {
		s.m.Dropped.Add(1)
		return nil, nil
	}
	if s.inboundTrunk(ip) != nil { // a provider's busy trunk is not a scanner (trunk.go)
		return data, nil
	}
	if !s.guard.admit(ip, s.cfg.Now()) {
		s.m.Dropped.Add(1)
		if udp {
			return nil, nil
		}
		return nil, errDropped
	}
	return data, nil
}

// guardedListener closes connections from blocked sources, and those over
// a source's connection limit, as they are accepted.
type guardedListener struct {
	net.Listener
	s *Server
}

func (l *guardedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip, ok := addrIP(c.RemoteAddr())
		if !ok {
			return c, nil
		}
		if l.s.guard.blocked(ip, l.s.cfg.Now()) || !l.s.guard.connOpened(ip) {
			l.s.m.Dropped.Add(1)
			c.Close()
			continue
		}
		return &countedConn{Conn: c, g: l.s.guard, ip: ip}, nil
	}
}

// countedConn gives its slot back to the guard when closed.
type countedConn struct {
	net.Conn
	g    *guard
	ip   netip.Addr
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.g.connClosed(c.ip) })
	return c.Conn.Close()
}

func addrString(c net.PacketConn) string {
	if c == nil {
		return ""
	}
	return c.LocalAddr().String()
}

func listenerAddr(l net.Listener) string {
	if l == nil {
		return ""
	}
	return l.Addr().String()
}

// sourceIP is the address a request came from.
func sourceIP(req *sip.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// respond sends a response built from req, with our Server header and any
// extra headers, logging (not returning) a failure to send: the peer may be gone.
func (s *Server) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string, headers ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	res.AppendHeader(sip.NewHeader("Server", s.cfg.UserAgent))
	for _, h := range headers {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug("sip: respond failed", "code", code, "method", string(req.Method), "source", req.Source(), "err", err)
	}
}

// checkRequire answers 420 when the request requires an extension we do not
// have (RFC 3261 section 8.2.2.3), and reports whether it did.
func (s *Server) checkRequire(req *sip.Request, tx sip.ServerTransaction) bool {
	var unsupported []string
	for _, h := range req.GetHeaders("Require") {
		for opt := range strings.SplitSeq(h.Value(), ",") {
			if opt = strings.TrimSpace(opt); opt != "" {
				unsupported = append(unsupported, opt)
			}
		}
	}
	if len(unsupported) == 0 {
		return false
	}
	s.respond(req, tx, 420, "Bad Extension", sip.NewHeader("Unsupported", strings.Join(unsupported, ", ")))
	return true
}

func (s *Server) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	s.m.Requests.Add(1)
	s.respond(req, tx, 200, "OK",
		sip.NewHeader("Allow", allowed),
		sip.NewHeader("Accept", "application/sdp"),
		sip.NewHeader("Accept-Language", "en"))
}

// onNoRoute answers methods we have no handler for. ACK never gets an
// answer; BYE and CANCEL outside a dialog or transaction get 481.
func (s *Server) onNoRoute(req *sip.Request, tx sip.ServerTransaction) {
	if tx == nil || req.IsAck() {
		return
	}
	s.m.Requests.Add(1)
	switch req.Method {
	case sip.BYE, sip.CANCEL:
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
	default:
		s.respond(req, tx, 405, "Method Not Allowed", sip.NewHeader("Allow", allowed))
	}
}

// quietHandler is the slog.Handler sipgo logs through: every record becomes
// debug level, and attributes that may hold a whole SIP message (with its
// Authorization header) are replaced by their length.
type quietHandler struct {
	inner slog.Handler
}

func (h *quietHandler) Enabled(ctx context.Context, _ slog.Level) bool {
	return h.inner.Enabled(ctx, slog.LevelDebug)
}

func (h *quietHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, slog.LevelDebug, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redact(a))
		return true
	})
	return h.inner.Handle(ctx, out)
}

func (h *quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = redact(a)
	}
	return &quietHandler{inner: h.inner.WithAttrs(red)}
}

func (h *quietHandler) WithGroup(name string) slog.Handler {
	return &quietHandler{inner: h.inner.WithGroup(name)}
}

// redact replaces values that may contain a SIP message or credentials.
func redact(a slog.Attr) slog.Attr {
	switch strings.ToLower(a.Key) {
	case "data", "msg", "message", "req", "res", "request", "response", "body":
		return slog.Int(a.Key+"_len", len(a.Value.String()))
	}
	if a.Value.Kind() == slog.KindString {
		v := a.Value.String()
		if strings.Contains(strings.ToLower(v), "authorization") || strings.Contains(v, "\n") {
			return slog.Int(a.Key+"_len", len(v))
		}
	}
	return a
}
