// Package app wires Switchboard together and owns the start and stop order. It is the only package
// that imports everything.
package app

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"switchboard/internal/account"
	"switchboard/internal/auth"
	"switchboard/internal/chat"
	"switchboard/internal/config"
	"switchboard/internal/contact"
	"switchboard/internal/httpd"
	"switchboard/internal/protocol"
	"switchboard/internal/push"
	"switchboard/internal/room"
	"switchboard/internal/rtc"
	"switchboard/internal/sfu"
	"switchboard/internal/signal"
	"switchboard/internal/store"
	"switchboard/internal/turn"
	"switchboard/internal/webhook"
	"switchboard/web"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options are settings that are not part of the user-facing configuration.
type Options struct {
	// LoopbackOnly keeps media and TURN on 127.0.0.1: for tests whose browsers run on this machine.
	LoopbackOnly bool
	Logger       *slog.Logger
	// ACMEHTTPAddr is where ACME HTTP challenges are answered (default ":80").
	ACMEHTTPAddr string
	// ACMERoots are extra CAs trusted for the ACME directory (a test CA).
	ACMERoots *x509.CertPool
}

// App is a running server.
type App struct {
	cfg      config.Config
	log      *slog.Logger
	store    *store.Store
	engine   *rtc.Engine
	turn     *turn.Server
	registry *room.Registry
	signal   *signal.Server
	metrics  *metrics
	media    *sfu.Metrics

	httpSrv  *http.Server
	httpLn   net.Listener
	acmeSrv  *http.Server
	baseURL  string
	turnHost string
	secret   []byte
	stopTLS  func()

	accounts *account.Service
	chat     *chat.Service
	contact  *contact.Service
	push     *push.Service
	hooks    *webhook.Dispatcher
	callKey  []byte
	sip      *sipGateway
	records  callRecorder // call detail records on their way to the store (sip_records.go)
	phones   phoneStats   // phones in meetings (sip_conference.go)
	lines    queueLines   // telephone callers in contact-centre queues (sip_queue.go)
}

// New opens storage and every listener, so that when it returns the server's addresses are known
// (ports may be 0 in tests). Serve then serves HTTP.
func New(ctx context.Context, cfg config.Config, opts Options) (a *App, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	a = &App{cfg: cfg, log: log, media: &sfu.Metrics{}}
	self := a // the error returns below set a to nil
	defer func() {
		if err != nil {
			self.closeAll()
		}
	}()
	if a.store, err = store.OpenDatabase(ctx, cfg.DataDir, cfg.Database); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", cfg.DataDir, err)
	}
	a.metrics = newMetrics(a.media)

	publicIP := cfg.PublicIP
	if opts.LoopbackOnly {
		publicIP = "127.0.0.1"
	} else if publicIP == "" {
		publicIP = discoverIP()
	}
	a.turnHost = publicIP
	if u, perr := url.Parse(cfg.PublicURL); cfg.PublicURL != "" && perr == nil {
		a.turnHost = u.Hostname()
	}

	rcfg := rtc.Config{UDPAddr: cfg.Media.UDP, TCPAddr: cfg.Media.TCP, BatchWrites: cfg.Media.BatchWrites, FastPath: cfg.Media.FastPath, Logger: log, OnlyLoopback: opts.LoopbackOnly}
	if cfg.PublicIP != "" {
		rcfg.PublicIPs = []string{cfg.PublicIP}
	} else {
		// Without a configured public address this is a laptop or LAN server: offer loopback too, so
		// a browser on the same machine connects even with no network.
		rcfg.Loopback = true
	}
	if a.engine, err = rtc.New(rcfg); err != nil {
		return nil, err
	}
	a.metrics.fastPath(a.engine.FastStats)

	tlsConf, acme, stopTLS, err := tlsSetup(ctx, cfg, opts)
	a.stopTLS = stopTLS
	if err != nil {
		return nil, err
	}
	if cfg.TURN.Enabled || len(cfg.TURN.External) > 0 {
		if a.secret, err = turnSecret(cfg); err != nil {
			return nil, err
		}
	}
	if cfg.TURN.Enabled {
		if err = a.startTURN(publicIP, tlsConf, opts.LoopbackOnly); err != nil {
			return nil, err
		}
	}

	a.registry = room.NewRegistry(
		room.Config{OpenCreation: cfg.Rooms.OpenCreation, MaxParticipants: cfg.Rooms.MaxParticipants, EmptyTimeout: cfg.Rooms.EmptyTimeout,
			DialIn: dialInExtension(cfg)},
		chatLog{a.store}, roomStore{a.store},
		room.Metrics{Rooms: gaugeAdd(a.metrics.rooms), Participants: gaugeAdd(a.metrics.participants), Tracks: gaugeAdd(a.metrics.tracks)},
		log)
	a.signal = signal.New(signal.Config{
		Registry: a.registry, Engine: a.engine, AllowedOrigins: cfg.AllowedOrigins, ResumeGrace: cfg.Rooms.ResumeGrace,
		OpenJoin: cfg.Rooms.OpenCreation, VerifyToken: a.verifyToken, ICEServers: a.iceServers, SFUMetrics: a.media,
		OnError: func(code string) { a.metrics.signallingErrors.WithLabelValues(code).Inc() }, Logger: log,
		OriginAllowed: func(origin string) bool { return a.contact != nil && a.contact.OriginAllowed(origin) },
		DialOut:       a.dialOut,
		// Who is signed in, for dial-out to numbers (sip_conference_dialout.go).
		SessionAccount: a.meetingAccount, TokenAccount: a.tokenAccount,
	})
	if err = a.startPeople(); err != nil {
		return nil, err
	}
	if err = a.startSIP(tlsConf, opts.LoopbackOnly); err != nil {
		return nil, err
	}
	a.registerConferenceMetrics()
	handler := httpd.New(httpd.Config{
		Registry: a.registry, Signal: a.signal, Sessions: a.signal, Files: a.store, Keys: a.store, Web: web.Static(),
		Metrics:        promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{}),
		AllowedOrigins: cfg.AllowedOrigins, TrustedProxies: trustedProxies(cfg.TrustedProxies),
		OpenCreation: cfg.Rooms.OpenCreation, MaxUpload: int64(cfg.MaxUpload),
		PublicURL: cfg.PublicURL, Logger: log,
		Routes: a.peopleRoutes, ConversationFiles: a.conversationFiles,
	})

	if a.httpLn, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	scheme := "http"
	if tlsConf != nil {
		a.httpLn = tls.NewListener(a.httpLn, tlsConf)
		scheme = "https"
	}
	a.baseURL = cfg.PublicURL
	if a.baseURL == "" {
		a.baseURL = scheme + "://" + displayAddr(a.httpLn.Addr())
	}
	a.httpSrv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	if acme != nil {
		// Port 80 answers ACME challenges and sends everyone else to HTTPS.
		a.acmeSrv = &http.Server{Addr: firstNonEmpty(opts.ACMEHTTPAddr, ":80"), ReadHeaderTimeout: 10 * time.Second, Handler: acme(http.HandlerFunc(
			func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "https://"+r.Host+r.URL.RequestURI(), http.StatusMovedPermanently)
			}))}
		go func() {
			if err := a.acmeSrv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("port 80 (ACME challenges, redirect to HTTPS)", "err", err)
			}
		}()
	}
	return a, nil
}

func (a *App) startTURN(publicIP string, tlsConf *tls.Config, loopback bool) error {
	tc := turn.Config{
		Realm: "switchboard", UDPAddr: a.cfg.TURN.UDP, TCPAddr: a.cfg.TURN.TCP, Secret: a.secret,
		AllowPrivatePeers: a.cfg.TURN.AllowPrivatePeers, OwnAddrs: a.engine.MediaAddrs,
		UserQuota: a.cfg.TURN.UserQuota, OnAllocation: gaugeAdd(a.metrics.turnAllocations), Logger: a.log,
	}
	if tlsConf != nil && a.cfg.TURN.TLS != "" {
		tc.TLSAddr, tc.TLSConfig = a.cfg.TURN.TLS, tlsConf
	}
	for _, p := range a.cfg.TURN.AllowedPeers {
		tc.AllowedPeers = append(tc.AllowedPeers, netip.MustParsePrefix(p))
	}
	if ip, err := netip.ParseAddr(publicIP); err == nil {
		tc.PublicIP = ip
	}
	if loopback {
		tc.RelayBindIP = netip.MustParseAddr("127.0.0.1")
	}
	var err error
	if a.turn, err = turn.New(tc); err != nil {
		return fmt.Errorf("turn: %w", err)
	}
	return nil
}

// Serve serves HTTP until Shutdown.
func (a *App) Serve() error {
	a.log.Info("switchboard is running", "url", a.baseURL, "media_udp", a.engine.UDPAddr().String(),
		"turn", a.turnAddrs(), "data_dir", a.cfg.DataDir, "open_rooms", a.cfg.Rooms.OpenCreation)
	if a.cfg.OIDC.Enabled() {
		// The callback must be registered at the provider exactly as the accounts service builds it.
		// Without a public URL it is derived from each request's scheme and Host.
		callback := strings.TrimSuffix(a.baseURL, "/") + "/api/v1/auth/oidc/callback"
		msg := "single sign-on is on: register this redirect URI at the provider"
		if a.cfg.PublicURL == "" {
			msg += " (set --public-url to fix it; without it the address people type is used)"
		}
		a.log.Info(msg, "issuer", a.cfg.OIDC.Issuer, "client_id", a.cfg.OIDC.ClientID, "redirect_uri", callback)
	}
	if code := a.accounts.SetupCode(); code != "" {
		a.log.Warn("there are no accounts yet: open this link to create the first admin (or use `switchboard user add`)",
			"url", a.baseURL+"/setup?code="+code)
	}
	err := a.httpSrv.Serve(a.httpLn)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// URL is where the server is reachable, e.g. http://127.0.0.1:8080.
func (a *App) URL() string { return a.baseURL }

// Store gives tests and commands the store.
func (a *App) Store() *store.Store { return a.store }

// Contact gives tests the customer-contact service.
func (a *App) Contact() *contact.Service { return a.contact }

// TURNAddr is the embedded TURN server's UDP address, if it runs.
func (a *App) TURNAddr() net.Addr {
	if a.turn == nil {
		return nil
	}
	return a.turn.UDPAddr()
}

func (a *App) turnAddrs() string {
	if a.turn == nil {
		return "off"
	}
	var parts []string
	for _, ad := range []net.Addr{a.turn.UDPAddr(), a.turn.TCPAddr(), a.turn.TLSAddr()} {
		if ad != nil {
			parts = append(parts, ad.Network()+"/"+ad.String())
		}
	}
	return strings.Join(parts, " ")
}

// Shutdown tells every participant the server is going away, stops accepting, and closes everything.
func (a *App) Shutdown(ctx context.Context) error {
	a.log.Info("shutting down: telling participants and draining connections")
	a.registry.Shutdown("shutdown")
	a.signal.Shutdown()
	a.contact.Close()
	a.chat.Close()
	err := a.httpSrv.Shutdown(ctx)
	if a.acmeSrv != nil {
		a.acmeSrv.Shutdown(ctx)
	}
	a.closeAll()
	return err
}

func (a *App) closeAll() {
	a.stopSIP()
	if a.contact != nil {
		a.contact.Close()
	}
	if a.chat != nil {
		a.chat.Close()
	}
	if a.hooks != nil {
		a.hooks.Close()
	}
	if a.push != nil {
		a.push.Close()
	}
	if a.turn != nil {
		a.turn.Close()
	}
	if a.engine != nil {
		a.engine.Close()
	}
	if a.httpLn != nil && a.httpSrv == nil {
		a.httpLn.Close()
	}
	if a.store != nil {
		a.store.Close()
	}
	if a.stopTLS != nil {
		a.stopTLS()
	}
}

func (a *App) verifyToken(token string) (*auth.Claims, error) {
	return auth.Verify(token, func(id string) ([]byte, error) {
		if id == callKeyID {
			return a.callKey, nil
		}
		k, err := a.store.APIKey(context.Background(), id)
		if err != nil {
			return nil, err
		}
		return []byte(k.Secret), nil
	}, time.Now())
}

// iceServers gives a participant STUN and TURN with short-lived REST API credentials.
func (a *App) iceServers(participant string) []protocol.ICEServer {
	var out []protocol.ICEServer
	if a.turn != nil {
		host := a.turnHost
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		var urls []string
		if ad := a.turn.UDPAddr(); ad != nil {
			port := strconv.Itoa(ad.(*net.UDPAddr).Port)
			urls = append(urls, "stun:"+host+":"+port, "turn:"+host+":"+port+"?transport=udp")
		}
		if ad := a.turn.TCPAddr(); ad != nil {
			urls = append(urls, "turn:"+host+":"+strconv.Itoa(ad.(*net.TCPAddr).Port)+"?transport=tcp")
		}
		if ad := a.turn.TLSAddr(); ad != nil {
			urls = append(urls, "turns:"+host+":"+strconv.Itoa(ad.(*net.TCPAddr).Port)+"?transport=tcp")
		}
		user, pass := turn.Credentials(a.secret, participant, a.cfg.TURN.CredentialTTL, time.Now())
		out = append(out, protocol.ICEServer{URLs: urls, Username: user, Credential: pass})
	}
	if len(a.cfg.TURN.External) > 0 {
		user, pass := turn.Credentials(a.secret, participant, a.cfg.TURN.CredentialTTL, time.Now())
		out = append(out, protocol.ICEServer{URLs: a.cfg.TURN.External, Username: user, Credential: pass})
	}
	return out
}

// turnSecret is the configured TURN REST secret, or one generated once and kept in the data directory.
func turnSecret(cfg config.Config) ([]byte, error) {
	if cfg.TURN.Secret != "" {
		return []byte(cfg.TURN.Secret), nil
	}
	path := filepath.Join(cfg.DataDir, "turn-secret")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		return []byte(strings.TrimSpace(string(b))), nil
	}
	var b [32]byte
	rand.Read(b[:])
	secret := hex.EncodeToString(b[:])
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("saving the generated TURN secret: %w", err)
	}
	return []byte(secret), nil
}

// discoverIP picks the address to advertise when none is configured: the first global unicast IPv4
// address of an interface that is up. Nothing is sent anywhere to find it.
func discoverIP() string {
	ifaces, _ := net.Interfaces()
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 || strings.HasPrefix(ifc.Name, "docker") || strings.HasPrefix(ifc.Name, "veth") {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, ad := range addrs {
			if ipn, ok := ad.(*net.IPNet); ok && ipn.IP.To4() != nil && ipn.IP.IsGlobalUnicast() {
				return ipn.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

// displayAddr turns a listener address into something a browser can open (0.0.0.0 -> localhost).
func displayAddr(ad net.Addr) string {
	host, port, _ := net.SplitHostPort(ad.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// trustedProxies parses the trusted_proxies setting (Validate has checked it).
func trustedProxies(list []string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range list {
		if pfx, err := config.ParseProxy(p); err == nil {
			out = append(out, pfx)
		}
	}
	return out
}
