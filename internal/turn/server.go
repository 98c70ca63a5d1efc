// Package turn runs the embedded STUN/TURN server (pion/turn) with
// coturn-compatible short-lived credentials, a relay policy that keeps the
// server from becoming a proxy into its own network, and per-user quotas.
package turn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	pionturn "github.com/pion/turn/v5"
)

// DefaultUserQuota is the number of live allocations one user may hold when
// Config.UserQuota is 0. A browser needs one or two per peer connection.
const DefaultUserQuota = 10

// Config configures a Server. Listen addresses may use port 0; read the bound
// addresses back with UDPAddr, TCPAddr and TLSAddr.
type Config struct {
	// Realm is the STUN realm; default "switchboard".
	Realm string
	// UDPAddr and TCPAddr are the TURN listen addresses (usually the same
	// port, 3478). "" disables that transport.
	UDPAddr, TCPAddr string
	// TLSAddr enables TURN over TLS ("turns:", usually port 5349 or 443);
	// it needs TLSConfig.
	TLSAddr   string
	TLSConfig *tls.Config

	// PublicIP is the relay address advertised to clients
	// (XOR-RELAYED-ADDRESS). Default: RelayBindIP. Required when relay
	// sockets bind to an unspecified address: 0.0.0.0 is useless to a peer.
	PublicIP netip.Addr
	// RelayBindIP is the local IP relay sockets bind to. Default: the IP of
	// the first listen address if it is specific, else any (0.0.0.0/[::]).
	RelayBindIP netip.Addr
	// RelayPortMin and RelayPortMax bound relay ports, so a firewall can
	// open a known range. Both 0: ports chosen by the OS.
	RelayPortMin, RelayPortMax int

	// Secret is the shared TURN REST API secret (coturn static-auth-secret).
	Secret []byte

	// AllowPrivatePeers, AllowedPeers and OwnAddrs form the relay Policy;
	// see Policy for what each allows.
	AllowPrivatePeers bool
	AllowedPeers      []netip.Prefix
	OwnAddrs          func() []netip.AddrPort

	// UserQuota is the number of live allocations per user (the part of
	// the REST username after the colon). 0 means DefaultUserQuota,
	// negative means unlimited.
	UserQuota int

	// OnAllocation, if set, is called with +1 when an allocation is created
	// and -1 when it goes away, from pion's goroutines: keep it fast and
	// concurrency-safe. It lets the app export a gauge without this package
	// importing a metrics library.
	OnAllocation func(delta int)

	Logger *slog.Logger
}

var (
	errForbiddenPeer = errors.New("turn: peer address refused by relay policy")
	errQuota         = errors.New("turn: user allocation quota reached")
	errClosed        = errors.New("turn: server closed")
	errFamily        = errors.New("turn: relay address family not available")
	errTCPRelay      = errors.New("turn: TCP relay allocations (RFC 6062) are not offered")
)

// Server is a running TURN/STUN server. Create it with New, stop it with Close.
type Server struct {
	log      *slog.Logger
	realm    string
	secret   []byte
	policy   Policy
	quota    int
	onAlloc  func(int)
	publicIP netip.Addr
	bindIP   netip.Addr
	portMin  int
	portMax  int
	// loop lists the server's own TURN UDP listen addresses: relaying to
	// them would feed the server its own packets.
	loop []netip.AddrPort

	udp          net.PacketConn
	tcpLn, tlsLn net.Listener
	pion         *pionturn.Server
	allocs       atomic.Int64
	closeOnce    sync.Once
	closeErr     error

	mu      sync.Mutex
	closed  bool
	perUser map[string]int
	relays  map[*relayConn]struct{}
	conns   map[*trackedConn]struct{}
}

// New validates cfg, binds the listeners and starts serving.
func New(cfg Config) (*Server, error) {
	if len(cfg.Secret) == 0 {
		return nil, errors.New("turn: Secret is required (anyone could mint credentials without it)")
	}
	if cfg.UDPAddr == "" && cfg.TCPAddr == "" && cfg.TLSAddr == "" {
		return nil, errors.New("turn: no listen address: set UDPAddr, TCPAddr or TLSAddr")
	}
	if cfg.TLSAddr != "" && cfg.TLSConfig == nil {
		return nil, errors.New("turn: TLSAddr is set but TLSConfig is nil")
	}
	if cfg.RelayPortMin != 0 || cfg.RelayPortMax != 0 {
		if cfg.RelayPortMin < 1 || cfg.RelayPortMax > 65535 || cfg.RelayPortMin > cfg.RelayPortMax {
			return nil, fmt.Errorf("turn: relay port range %d-%d: need 1 <= min <= max <= 65535",
				cfg.RelayPortMin, cfg.RelayPortMax)
		}
	}
	s := &Server{
		log:     cfg.Logger,
		realm:   cfg.Realm,
		secret:  append([]byte(nil), cfg.Secret...),
		quota:   cfg.UserQuota,
		onAlloc: cfg.OnAllocation,
		portMin: cfg.RelayPortMin,
		portMax: cfg.RelayPortMax,
		policy: Policy{
			AllowPrivatePeers: cfg.AllowPrivatePeers,
			AllowedPeers:      append([]netip.Prefix(nil), cfg.AllowedPeers...),
			OwnAddrs:          cfg.OwnAddrs,
		},
		perUser: make(map[string]int),
		relays:  make(map[*relayConn]struct{}),
		conns:   make(map[*trackedConn]struct{}),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "turn")
	if s.realm == "" {
		s.realm = "switchboard"
	}
	if s.quota == 0 {
		s.quota = DefaultUserQuota
	}

	s.bindIP = cfg.RelayBindIP.Unmap()
	if !s.bindIP.IsValid() {
		s.bindIP = netip.IPv4Unspecified()
		for _, a := range []string{cfg.UDPAddr, cfg.TCPAddr, cfg.TLSAddr} {
			if a == "" {
				continue
			}
			// A host name or "" (all interfaces) leaves the bind IP unspecified.
			if host, _, err := net.SplitHostPort(a); err == nil {
				if ip, err := netip.ParseAddr(host); err == nil && !ip.IsUnspecified() {
					s.bindIP = ip.Unmap()
				}
			}
			break
		}
	}
	s.publicIP = cfg.PublicIP.Unmap()
	if !s.publicIP.IsValid() {
		if s.bindIP.IsUnspecified() {
			return nil, errors.New("turn: PublicIP is required when relay sockets bind to an unspecified address")
		}
		s.publicIP = s.bindIP
	}

	if err := s.listen(cfg); err != nil {
		s.closeListeners()
		return nil, err
	}

	gen := relayGen{s}
	pcfg := pionturn.ServerConfig{
		Realm:         s.realm,
		LoggerFactory: pionLogs{s.log},
		AuthHandler:   s.authenticate,
		QuotaHandler:  s.quotaOK,
		EventHandler: pionturn.EventHandler{
			OnAllocationCreated: func(_, _ net.Addr, _, _, _ string, _ net.Addr, _ int) { s.countAlloc(1) },
			OnAllocationDeleted: func(_, _ net.Addr, _, _, _ string) { s.countAlloc(-1) },
		},
	}
	if s.udp != nil {
		pcfg.PacketConnConfigs = append(pcfg.PacketConnConfigs, pionturn.PacketConnConfig{
			PacketConn: s.udp, RelayAddressGenerator: gen, PermissionHandler: s.permit,
		})
	}
	for _, ln := range []net.Listener{s.tcpLn, s.tlsLn} {
		if ln != nil {
			pcfg.ListenerConfigs = append(pcfg.ListenerConfigs, pionturn.ListenerConfig{
				Listener: ln, RelayAddressGenerator: gen, PermissionHandler: s.permit,
			})
		}
	}
	p, err := pionturn.NewServer(pcfg)
	if err != nil {
		s.closeListeners()
		return nil, fmt.Errorf("turn: %w", err)
	}
	s.pion = p
	s.log.Info("TURN server listening", "udp", s.UDPAddr(), "tcp", s.TCPAddr(), "tls", s.TLSAddr(),
		"relay_ip", s.publicIP, "relay_bind", s.bindIP)
	return s, nil
}

func (s *Server) listen(cfg Config) error {
	var err error
	if cfg.UDPAddr != "" {
		if s.udp, err = net.ListenPacket("udp", cfg.UDPAddr); err != nil {
			return fmt.Errorf("turn: listen udp: %w", err)
		}
		ap := s.udp.LocalAddr().(*net.UDPAddr).AddrPort()
		port := ap.Port()
		for _, ip := range []netip.Addr{ap.Addr().Unmap(), s.publicIP, s.bindIP} {
			if !ip.IsUnspecified() {
				s.loop = append(s.loop, netip.AddrPortFrom(ip, port))
			}
		}
	}
	if cfg.TCPAddr != "" {
		ln, err := net.Listen("tcp", cfg.TCPAddr)
		if err != nil {
			return fmt.Errorf("turn: listen tcp: %w", err)
		}
		s.tcpLn = &trackingListener{ln, s}
	}
	if cfg.TLSAddr != "" {
		ln, err := net.Listen("tcp", cfg.TLSAddr)
		if err != nil {
			return fmt.Errorf("turn: listen tls: %w", err)
		}
		// Track below TLS so pion still sees a *tls.Conn (it handshakes
		// with a timeout only for that type).
		s.tlsLn = tls.NewListener(&trackingListener{ln, s}, cfg.TLSConfig)
	}
	return nil
}

func (s *Server) closeListeners() {
	if s.udp != nil {
		s.udp.Close()
	}
	if s.tcpLn != nil {
		s.tcpLn.Close()
	}
	if s.tlsLn != nil {
		s.tlsLn.Close()
	}
}

// UDPAddr returns the bound UDP address, or nil if UDP is disabled.
func (s *Server) UDPAddr() net.Addr {
	if s.udp == nil {
		return nil
	}
	return s.udp.LocalAddr()
}

// TCPAddr returns the bound TCP address, or nil if TCP is disabled.
func (s *Server) TCPAddr() net.Addr {
	if s.tcpLn == nil {
		return nil
	}
	return s.tcpLn.Addr()
}

// TLSAddr returns the bound TURN-over-TLS address, or nil if disabled.
func (s *Server) TLSAddr() net.Addr {
	if s.tlsLn == nil {
		return nil
	}
	return s.tlsLn.Addr()
}

// Allocations returns the number of live allocations, for a gauge.
func (s *Server) Allocations() int { return int(s.allocs.Load()) }

// Policy returns the relay policy the server enforces.
func (s *Server) Policy() Policy { return s.policy }

func (s *Server) countAlloc(delta int) {
	s.allocs.Add(int64(delta))
	if s.onAlloc != nil {
		s.onAlloc(delta)
	}
}

// Close stops listening, closes client TCP/TLS connections and every relay
// socket, which releases all quota synchronously. Pion removes the
// allocations right after, so Allocations reaches 0 shortly after Close.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		// Pion closes the UDP socket and the listeners, but not TCP
		// connections it already accepted.
		s.closeErr = s.pion.Close()
		s.mu.Lock()
		s.closed = true
		conns := make([]*trackedConn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		relays := make([]*relayConn, 0, len(s.relays))
		for r := range s.relays {
			relays = append(relays, r)
		}
		s.mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
		for _, r := range relays {
			r.Close()
		}
	})
	return s.closeErr
}

// authenticate implements the TURN REST API check. It returns the user part
// as pion's user ID, so pion's QuotaHandler and AllocateListenerConfig.UserID
// see the quota key and refreshes with a newer expiry match the allocation.
func (s *Server) authenticate(ra *pionturn.RequestAttributes) (string, []byte, bool) {
	expiry, user, err := parseUsername(ra.Username)
	if err != nil {
		s.log.Debug("TURN auth refused: malformed username", "username", ra.Username, "client", ra.SrcAddr)
		return "", nil, false
	}
	if time.Now().Unix() > expiry {
		s.log.Debug("TURN auth refused: expired username", "username", ra.Username, "client", ra.SrcAddr)
		return "", nil, false
	}
	if ra.Realm != s.realm {
		s.log.Debug("TURN auth refused: wrong realm", "realm", ra.Realm, "client", ra.SrcAddr)
		return "", nil, false
	}
	// A wrong password passes here and fails pion's MESSAGE-INTEGRITY check.
	key := pionturn.GenerateAuthKey(ra.Username, ra.Realm, restPassword(s.secret, ra.Username))
	return user, key, true
}

// quotaOK lets pion answer 486 (Allocation Quota Reached). It is advisory:
// the count is taken for real in AllocatePacketConn, which also catches two
// allocations racing in from different transports.
func (s *Server) quotaOK(user, _ string, src net.Addr) bool {
	if s.quota < 0 {
		return true
	}
	s.mu.Lock()
	ok := s.perUser[user] < s.quota
	s.mu.Unlock()
	if !ok {
		s.log.Debug("TURN allocation refused: quota reached", "user", user, "client", src, "quota", s.quota)
	}
	return ok
}

func (s *Server) reserve(user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.quota >= 0 && s.perUser[user] >= s.quota {
		return false
	}
	s.perUser[user]++
	return true
}

// permit is pion's PermissionHandler (CreatePermission, ChannelBind). It
// refuses IPs that are neither allowed nor the IP of an own address, so a
// refused peer never receives a packet.
func (s *Server) permit(client net.Addr, peerIP net.IP) bool {
	ip, ok := netip.AddrFromSlice(peerIP)
	if ok && s.policy.AllowedIP(ip) {
		return true
	}
	s.log.Debug("TURN permission refused by relay policy", "client", client, "peer", peerIP)
	return false
}

// peerAllowed is the per-packet, port-exact check.
func (s *Server) peerAllowed(ap netip.AddrPort) bool {
	n := netip.AddrPortFrom(normalize(ap.Addr()), ap.Port())
	for _, l := range s.loop {
		if n == l {
			return false
		}
	}
	return s.policy.Allowed(n)
}

// relayGen hands pion policed relay sockets.
type relayGen struct{ s *Server }

func (relayGen) Validate() error { return nil }

// AllocatePacketConn counts the allocation against the user's quota (pion
// passes the user ID from authenticate); the count is released when pion
// closes the socket, whichever way the allocation ends (refresh to 0,
// expiry, TCP control connection closed, server Close). Pion also calls this
// with an empty user ID to probe for an even port; that is not counted.
func (g relayGen) AllocatePacketConn(conf pionturn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	s := g.s
	user := conf.UserID
	if user != "" && !s.reserve(user) {
		s.log.Debug("TURN allocation refused: quota reached", "user", user, "quota", s.quota)
		return nil, nil, errQuota
	}
	conn, err := s.listenRelay(conf.Network, conf.RequestedPort)
	if err != nil {
		s.release(user)
		s.log.Debug("TURN relay socket failed", "user", user, "network", conf.Network, "err", err)
		return nil, nil, err
	}
	rc := &relayConn{PacketConn: conn, s: s, user: user}
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.relays[rc] = struct{}{}
	}
	s.mu.Unlock()
	if closed {
		conn.Close()
		s.release(user)
		return nil, nil, errClosed
	}
	port := conn.LocalAddr().(*net.UDPAddr).Port
	return rc, &net.UDPAddr{IP: s.publicIP.AsSlice(), Port: port}, nil
}

// AllocateListener refuses RFC 6062 TCP relays: browsers never ask for them
// and a TCP Connect to arbitrary peers is more attack surface to police.
func (relayGen) AllocateListener(pionturn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, errTCPRelay
}

func (relayGen) AllocateConn(pionturn.AllocateConnConfig) (net.Conn, error) {
	return nil, errTCPRelay
}

func (s *Server) release(user string) {
	if user == "" {
		return
	}
	s.mu.Lock()
	if s.perUser[user]--; s.perUser[user] <= 0 {
		delete(s.perUser, user)
	}
	s.mu.Unlock()
}

func (s *Server) userAllocations(user string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perUser[user]
}

func (s *Server) listenRelay(network string, port int) (net.PacketConn, error) {
	is4 := network == "udp4"
	if s.publicIP.Is4() != is4 || (!s.bindIP.IsUnspecified() && s.bindIP.Is4() != is4) {
		return nil, errFamily
	}
	host := ""
	if !s.bindIP.IsUnspecified() {
		host = s.bindIP.String()
	}
	if port != 0 || s.portMin == 0 {
		return net.ListenPacket(network, net.JoinHostPort(host, strconv.Itoa(port)))
	}
	n := s.portMax - s.portMin + 1
	start := rand.IntN(n)
	var err error
	for i := range min(n, 64) {
		p := s.portMin + (start+i)%n
		var c net.PacketConn
		if c, err = net.ListenPacket(network, net.JoinHostPort(host, strconv.Itoa(p))); err == nil {
			return c, nil
		}
	}
	return nil, fmt.Errorf("turn: no free relay port in %d-%d: %w", s.portMin, s.portMax, err)
}

// relayConn is where the port-exact policy is enforced: every packet pion
// relays (Send indication or ChannelData) goes through WriteTo, and every
// packet it forwards to the client comes from ReadFrom. TURN permissions are
// per IP, so the permission check alone would let a client that may reach
// 127.0.0.1:7881 also reach 127.0.0.1:53.
type relayConn struct {
	net.PacketConn
	s    *Server
	user string
	once sync.Once
}

func (c *relayConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok || !c.s.peerAllowed(ua.AddrPort()) {
		c.s.log.Debug("TURN relay dropped packet to refused peer", "peer", addr, "user", c.user)
		return 0, errForbiddenPeer
	}
	return c.PacketConn.WriteTo(p, addr)
}

// ReadFrom skips packets from refused peers; returning an error would make
// pion tear the allocation down.
func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil {
			return n, addr, err
		}
		if ua, ok := addr.(*net.UDPAddr); ok && c.s.peerAllowed(ua.AddrPort()) {
			return n, addr, nil
		}
		c.s.log.Debug("TURN relay dropped packet from refused peer", "peer", addr, "user", c.user)
	}
}

// Close releases the quota once; a second Close returns nil because both
// pion and Server.Close may close the same socket.
func (c *relayConn) Close() error {
	var err error
	c.once.Do(func() {
		err = c.PacketConn.Close()
		c.s.mu.Lock()
		delete(c.s.relays, c)
		c.s.mu.Unlock()
		c.s.release(c.user)
	})
	return err
}

// trackingListener remembers accepted connections so Close can end them.
type trackingListener struct {
	net.Listener
	s *Server
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, s: l.s}
	l.s.mu.Lock()
	closed := l.s.closed
	if !closed {
		l.s.conns[tc] = struct{}{}
	}
	l.s.mu.Unlock()
	if closed {
		c.Close()
		return nil, net.ErrClosed
	}
	return tc, nil
}

type trackedConn struct {
	net.Conn
	s    *Server
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}
