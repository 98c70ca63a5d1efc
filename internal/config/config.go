// Package config holds Switchboard's settings: defaults, strict decoding from a TOML file, the
// environment and command-line flags (in that order of precedence, lowest first), and validation with
// messages a person can act on. There is no package-level state, so tests can build many configs.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Config is everything `switchboard serve` needs to run.
type Config struct {
	Listen         string   `toml:"listen"`          // HTTP(S) address: web app, API, signalling
	DataDir        string   `toml:"data_dir"`        // database, uploaded files, generated secrets
	Database       string   `toml:"database"`        // PostgreSQL URL; empty: SQLite in DataDir
	PublicURL      string   `toml:"public_url"`      // how people reach the server, e.g. https://meet.example.com
	PublicIP       string   `toml:"public_ip"`       // address advertised for media and TURN; empty: discovered
	AllowedOrigins []string `toml:"allowed_origins"` // other origins whose pages may use the API and signalling
	TrustedProxies []string `toml:"trusted_proxies"` // reverse proxies (IPs or CIDRs) whose X-Forwarded-For is believed
	MaxUpload      ByteSize `toml:"max_upload"`      // largest file accepted in meeting chat
	LogLevel       string   `toml:"log_level"`
	LogFormat      string   `toml:"log_format"`

	TLS   TLS   `toml:"tls"`
	Media Media `toml:"media"`
	TURN  TURN  `toml:"turn"`
	Rooms Rooms `toml:"rooms"`
	Chat  Chat  `toml:"chat"`
	OIDC  OIDC  `toml:"oidc"`
	SIP   SIP   `toml:"sip"`
}

// TLS chooses how HTTPS is served: certificate files, automatic certificates (ACME) for a domain, a
// self-signed certificate for a LAN, or none (plain HTTP, for localhost or behind a proxy).
type TLS struct {
	Cert       string   `toml:"cert"`
	Key        string   `toml:"key"`
	ACMEDomain []string `toml:"acme_domain"`
	ACMEEmail  string   `toml:"acme_email"`
	ACMECA     string   `toml:"acme_ca"` // directory URL; default Let's Encrypt production
	SelfSigned bool     `toml:"self_signed"`
}

// Media is where WebRTC media flows: one UDP port for every peer, plus ICE over TCP as a fallback.
type Media struct {
	UDP string `toml:"udp"`
	TCP string `toml:"tcp"`
	// BatchWrites queues outgoing media and sends it with sendmmsg (Linux): several times cheaper per
	// packet than one sendto each. Off only to measure or to rule it out when diagnosing.
	BatchWrites bool `toml:"batch_writes"`
	// FastPath encrypts and decrypts the RTP of browsers' connections on the media socket itself,
	// once pion's DTLS handshake has produced the keys, instead of through pion's per-packet layers
	// (docs/architecture.md, "The fast path"). Off only to measure or to rule it out when diagnosing.
	FastPath bool `toml:"fast_path"`
}

// TURN configures the embedded TURN/STUN server, or an external one.
type TURN struct {
	Enabled           bool          `toml:"enabled"`
	UDP               string        `toml:"udp"`
	TCP               string        `toml:"tcp"`
	TLS               string        `toml:"tls"`    // TURN over TLS, when a certificate is configured
	Secret            string        `toml:"secret"` // TURN REST API shared secret; generated into data_dir when empty
	External          []string      `toml:"external"`
	CredentialTTL     time.Duration `toml:"credential_ttl"`
	AllowPrivatePeers bool          `toml:"allow_private_peers"`
	AllowedPeers      []string      `toml:"allowed_peers"` // CIDR prefixes relaying may reach despite the private-range rule
	UserQuota         int           `toml:"user_quota"`
}

// Rooms sets who may create meetings and how long they live.
type Rooms struct {
	OpenCreation    bool          `toml:"open_creation"` // anyone who reaches the server may start a meeting
	MaxParticipants int           `toml:"max_participants"`
	EmptyTimeout    time.Duration `toml:"empty_timeout"` // an empty room closes after this
	ResumeGrace     time.Duration `toml:"resume_grace"`  // a dropped participant may resume within this
}

// Chat holds the settings of conversations and messages.
type Chat struct {
	Presence  bool          `toml:"presence"`  // people see each other's presence
	PushText  bool          `toml:"push_text"` // push notifications may carry message text
	Retention time.Duration `toml:"retention"` // delete messages older than this; 0 keeps them
	// PushContact is the operator's contact for push services (mailto: or https:).
	PushContact string `toml:"push_contact"`
	// WebhooksAllowPrivate lets webhooks reach private and loopback addresses.
	WebhooksAllowPrivate bool `toml:"webhooks_allow_private"`
}

// OIDC turns on single sign-on with an OpenID Connect provider (Keycloak, Google, Microsoft Entra
// ID, Authentik, ...) when Issuer is set. People are matched to accounts by their e-mail address.
type OIDC struct {
	Issuer   string `toml:"issuer"`    // the provider's issuer URL, e.g. https://sso.example.com/realms/example
	ClientID string `toml:"client_id"` // as registered at the provider
	// ClientSecret is the client's secret; ClientSecretFile names a file holding it instead, so it
	// appears neither in the process list nor in the configuration file. Give one of the two.
	ClientSecret     string   `toml:"client_secret"`
	ClientSecretFile string   `toml:"client_secret_file"`
	Scopes           []string `toml:"scopes"` // asked for at sign-in; must include openid
	Name             string   `toml:"name"`   // the provider on the sign-in page: "Sign in with <name>"; empty: SSO
	Role             string   `toml:"role"`   // role of accounts created at their first sign-in: member or agent
	// CreateUsers creates an account the first time someone signs in; false signs in only people
	// whose e-mail address an existing account has.
	CreateUsers bool `toml:"create_users"`
	// AllowUnverifiedEmail accepts an e-mail claim the provider has not marked verified: only for
	// providers that never send email_verified (Entra ID) and whose addresses you control.
	AllowUnverifiedEmail bool `toml:"allow_unverified_email"`
}

// SIP configures the SIP server (internal/sip): desk phones and softphones register with it over
// UDP, TCP and TLS, and browser SIP clients over WebSocket at /sip on the web server's port.
// It is off by default: see docs/deploy.md section 15.
type SIP struct {
	Enabled bool   `toml:"enabled"`
	UDP     string `toml:"udp"` // empty disables the transport
	TCP     string `toml:"tcp"`
	// TLS is opened only when the web server has a certificate (tls cert/key, acme_domain or
	// self_signed), which SIP over TLS shares.
	TLS string `toml:"tls"`
	// Realm is the digest realm and SIP domain. Empty: the host of public_url, else this machine's
	// host name. SIP passwords are stored as hashes bound to it.
	Realm string `toml:"realm"`
	// ExternalIP is the address put in SDP for media; empty: public_ip.
	ExternalIP string `toml:"external_ip"`
	// RTPPorts is the UDP port range of calls' media, "10000-20000"; empty: any free port.
	RTPPorts string `toml:"rtp_ports"`
	// MediaTimeout hangs up an answered call whose phone sends no RTP or RTCP for that long (not
	// while on hold); 0 turns it off. SessionExpires is the RFC 4028 session timer asked for (0:
	// none), MinSessionExpires the shortest accepted from phones.
	MediaTimeout      time.Duration `toml:"media_timeout"`
	SessionExpires    time.Duration `toml:"session_expires"`
	MinSessionExpires time.Duration `toml:"min_session_expires"`
	// MaxCalls bounds concurrent call legs (a call between two phones is two); more get 503.
	MaxCalls         int           `toml:"max_calls"`
	DigestAlgorithms []string      `toml:"digest_algorithms"`
	MinExpires       time.Duration `toml:"min_expires"`
	MaxExpires       time.Duration `toml:"max_expires"`
	DefaultExpires   time.Duration `toml:"default_expires"`
	MaxBindings      int           `toml:"max_bindings"`
	MaxMessageSize   ByteSize      `toml:"max_message_size"`
	// Protection against password scanners (see internal/sip/guard.go).
	RequestsPerSecond   int           `toml:"requests_per_second"`
	MaxConnsPerSource   int           `toml:"max_conns_per_source"`
	AuthFailuresPerIP   int           `toml:"auth_failures_per_ip"`
	AuthFailuresPerUser int           `toml:"auth_failures_per_user"`
	FailureWindow       time.Duration `toml:"failure_window"`
	BlockTime           time.Duration `toml:"block_time"`
	UserLockTime        time.Duration `toml:"user_lock_time"`
	// RecordRetention is how long call detail records are kept; 0 keeps them forever.
	RecordRetention time.Duration `toml:"record_retention"`
	// DefaultCountryCode ("1", "44") reads national numbers as E.164 for calls over trunks;
	// empty: numbers must be international (+...).
	DefaultCountryCode string `toml:"default_country_code"`
	// DialPrefixes, when set, are the only E.164 prefixes ("+1", "+4420") users may call out
	// (toll fraud: premium and far-away numbers); empty: any number a trunk takes.
	DialPrefixes []string `toml:"dial_prefixes"`
	// CallbackPrefixes are the only E.164 prefixes of numbers website visitors may ask to be
	// called back on (docs/contact.md, "Callback by phone"): anyone can type a number, so this
	// fails closed; empty: the widget offers no phone field.
	CallbackPrefixes []string `toml:"callback_prefixes"`
	// ConferenceExtension is the extension phones dial to join a meeting by its PIN (keypad);
	// empty turns dial-in off. Needs a build with Opus (-tags libopus).
	ConferenceExtension string `toml:"conference_extension"`
}

// SIPRealm is the realm SIP accounts are hashed for: sip.realm, else the host of public_url, else
// this machine's host name (else "switchboard"). `switchboard sip account` uses the same rule.
func (c *Config) SIPRealm() string {
	if c.SIP.Realm != "" {
		return c.SIP.Realm
	}
	if u, err := url.Parse(c.PublicURL); c.PublicURL != "" && err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "switchboard"
}

// Enabled reports whether single sign-on is configured.
func (o OIDC) Enabled() bool { return o.Issuer != "" }

// Secret returns the client secret: ClientSecret, or the content of ClientSecretFile without
// surrounding white space. The secret itself never appears in an error.
func (o OIDC) Secret() (string, error) {
	if o.ClientSecret != "" || o.ClientSecretFile == "" {
		return o.ClientSecret, nil
	}
	b, err := os.ReadFile(o.ClientSecretFile)
	if err != nil {
		return "", fmt.Errorf("oidc client_secret_file: %w", err)
	}
	secret := strings.TrimSpace(string(b))
	if secret == "" {
		return "", fmt.Errorf("oidc client_secret_file %s is empty: put the client secret from the provider in it", o.ClientSecretFile)
	}
	return secret, nil
}

// Default returns the settings used when nothing else is given: a laptop or LAN server on :8080.
func Default() Config {
	return Config{
		Listen:    ":8080",
		DataDir:   "switchboard-data",
		MaxUpload: 50 << 20,
		LogLevel:  "info",
		LogFormat: "text",
		Media:     Media{UDP: ":7882", TCP: ":7881", BatchWrites: true, FastPath: true},
		TURN: TURN{
			Enabled:       true,
			UDP:           ":3478",
			TCP:           ":3478",
			CredentialTTL: 12 * time.Hour,
			UserQuota:     10,
		},
		Rooms: Rooms{
			OpenCreation:    true,
			MaxParticipants: 100,
			EmptyTimeout:    5 * time.Minute,
			ResumeGrace:     30 * time.Second,
		},
		Chat: Chat{Presence: true},
		OIDC: OIDC{Scopes: []string{"openid", "email", "profile"}, Role: "member", CreateUsers: true},
		SIP: SIP{
			UDP: ":5060", TCP: ":5060", TLS: ":5061", RTPPorts: "10000-20000",
			DigestAlgorithms:  []string{"MD5"},
			MinExpires:        time.Minute,
			MaxExpires:        time.Hour,
			DefaultExpires:    10 * time.Minute,
			MaxBindings:       10,
			MaxCalls:          1000,
			MediaTimeout:      30 * time.Second,
			SessionExpires:    30 * time.Minute,
			MinSessionExpires: 90 * time.Second,
			MaxMessageSize:    16 << 10,
			RequestsPerSecond: 50, MaxConnsPerSource: 100,
			AuthFailuresPerIP: 10, AuthFailuresPerUser: 30,
			FailureWindow: time.Minute, BlockTime: 15 * time.Minute, UserLockTime: 5 * time.Minute,
			RecordRetention:     90 * 24 * time.Hour,
			ConferenceExtension: "meet",
		},
	}
}

// Local is Default with every listener on 127.0.0.1 and a free port, and data in dataDir: a server
// for tests and benchmarks that run many servers on one machine.
func Local(dataDir string) Config {
	c := Default()
	c.Listen = "127.0.0.1:0"
	c.DataDir = dataDir
	c.Media.UDP, c.Media.TCP = "127.0.0.1:0", "127.0.0.1:0"
	c.TURN.UDP, c.TURN.TCP = "127.0.0.1:0", "127.0.0.1:0"
	c.SIP.UDP, c.SIP.TCP, c.SIP.TLS = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	c.SIP.RTPPorts = ""
	return c
}

// Validate reports every problem at once, each phrased so the reader knows what to change.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	checkAddr := func(name, addr string, optional bool) {
		if addr == "" {
			if !optional {
				bad("%s is empty: give an address such as :8080 or 127.0.0.1:8080", name)
			}
			return
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad("%s %q is not host:port (for example :8080 or 127.0.0.1:8080): %v", name, addr, err)
		}
	}
	checkAddr("listen", c.Listen, false)
	checkAddr("media udp", c.Media.UDP, false)
	checkAddr("media tcp", c.Media.TCP, true)
	if c.Chat.Retention < 0 || (c.Chat.Retention > 0 && c.Chat.Retention < 24*time.Hour) {
		bad("chat retention %s is too short: use 0 to keep messages, or at least 24h", c.Chat.Retention)
	}
	if pc := c.Chat.PushContact; pc != "" && !strings.HasPrefix(pc, "mailto:") && !strings.HasPrefix(pc, "https://") {
		bad("chat push_contact %q must be a mailto: address or an https:// URL", pc)
	}
	if c.DataDir == "" {
		bad("data_dir is empty: give a directory the server may write its database and files to")
	}
	if c.Database != "" {
		// Never echo the URL: it may hold a password.
		u, err := url.Parse(c.Database)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			bad("database must be a PostgreSQL URL such as postgres://switchboard:password@db.example.com/switchboard, or empty for SQLite")
		}
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("public_url %q must be an absolute http(s) URL such as https://meet.example.com", c.PublicURL)
		}
	}
	if c.PublicIP != "" {
		if _, err := netip.ParseAddr(c.PublicIP); err != nil {
			bad("public_ip %q is not an IP address", c.PublicIP)
		}
	}
	for _, o := range c.AllowedOrigins {
		u, err := url.Parse(o)
		if o != "*" && (err != nil || u.Scheme == "" || u.Host == "" || u.Path != "") {
			bad("allowed_origins entry %q must be an origin such as https://www.example.com (scheme and host, no path)", o)
		}
	}
	for _, p := range c.TrustedProxies {
		if _, err := ParseProxy(p); err != nil {
			bad("trusted_proxies entry %q must be an IP address or a CIDR range such as 10.0.0.0/8", p)
		}
	}
	if c.MaxUpload <= 0 {
		bad("max_upload must be positive, for example 50MiB")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level %q must be debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		bad("log_format %q must be text or json", c.LogFormat)
	}

	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		bad("tls cert and key go together: give both files or neither")
	}
	modes := 0
	for _, on := range []bool{c.TLS.Cert != "", len(c.TLS.ACMEDomain) > 0, c.TLS.SelfSigned} {
		if on {
			modes++
		}
	}
	if modes > 1 {
		bad("choose one way to get a TLS certificate: cert/key files, acme_domain, or self_signed")
	}

	if c.TURN.Enabled {
		checkAddr("turn udp", c.TURN.UDP, true)
		checkAddr("turn tcp", c.TURN.TCP, true)
		checkAddr("turn tls", c.TURN.TLS, true)
		if c.TURN.UDP == "" && c.TURN.TCP == "" && c.TURN.TLS == "" {
			bad("turn is enabled but has no udp, tcp or tls address; set one or disable it with turn.enabled = false")
		}
		if c.TURN.UDP != "" && samePort(c.TURN.UDP, c.Media.UDP) {
			bad("turn udp %q and media udp %q use the same port; give them different ports", c.TURN.UDP, c.Media.UDP)
		}
		if c.TURN.TLS != "" && c.TLS.Cert == "" && len(c.TLS.ACMEDomain) == 0 && !c.TLS.SelfSigned {
			bad("turn tls %q needs a certificate: configure tls cert/key, acme_domain or self_signed", c.TURN.TLS)
		}
		if c.TURN.CredentialTTL < time.Minute {
			bad("turn credential_ttl %v is too short; use at least 1m (12h is a good default)", c.TURN.CredentialTTL)
		}
		if c.TURN.UserQuota < 1 {
			bad("turn user_quota must be at least 1")
		}
		if c.TURN.Secret != "" && len(c.TURN.Secret) < 16 {
			bad("turn secret is too short; use at least 16 characters, or leave it empty to have one generated")
		}
	}
	for _, p := range c.TURN.AllowedPeers {
		if _, err := netip.ParsePrefix(p); err != nil {
			bad("turn allowed_peers entry %q is not a CIDR prefix such as 10.1.0.0/16", p)
		}
	}
	for _, u := range c.TURN.External {
		if !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") && !strings.HasPrefix(u, "stun:") {
			bad("turn external entry %q must be a stun:, turn: or turns: URL", u)
		}
	}
	if len(c.TURN.External) > 0 && c.TURN.Secret == "" {
		bad("turn external servers need the shared secret they were configured with (turn secret, coturn's static-auth-secret)")
	}

	if c.Rooms.MaxParticipants < 2 {
		bad("rooms max_participants must be at least 2")
	}
	if c.Rooms.EmptyTimeout < time.Second {
		bad("rooms empty_timeout %v is too short; use at least 1s", c.Rooms.EmptyTimeout)
	}
	if c.Rooms.ResumeGrace < 0 {
		bad("rooms resume_grace must not be negative")
	}
	errs = append(errs, c.OIDC.validate()...)
	if c.SIP.Enabled {
		errs = append(errs, c.SIP.validate(c.Media.UDP, c.TURN)...)
	}
	return errors.Join(errs...)
}

// TLSEnabled reports whether the HTTP server serves HTTPS.
func (c *Config) TLSEnabled() bool {
	return c.TLS.Cert != "" || len(c.TLS.ACMEDomain) > 0 || c.TLS.SelfSigned
}

func (o *OIDC) validate() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if o.Issuer == "" {
		if o.ClientID != "" || o.ClientSecret != "" || o.ClientSecretFile != "" {
			bad("oidc client settings are given but oidc issuer is empty: set the issuer (e.g. https://sso.example.com/realms/example) to turn single sign-on on, or remove them")
		}
		return errs
	}
	u, err := url.Parse(o.Issuer)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		bad("oidc issuer %q must be the provider's issuer URL, such as https://sso.example.com/realms/example (as in its /.well-known/openid-configuration)", o.Issuer)
	case u.Scheme == "http" && !loopbackHost(u.Hostname()):
		bad("oidc issuer %q must use https (plain http is only accepted for a provider on this machine: localhost, 127.0.0.1 or ::1)", o.Issuer)
	}
	if o.ClientID == "" {
		bad("oidc client_id is empty: give the client id registered for Switchboard at the provider")
	}
	switch {
	case o.ClientSecret == "" && o.ClientSecretFile == "":
		bad("oidc needs the client secret registered at the provider: set oidc client_secret_file (or the environment variable SWITCHBOARD_OIDC_CLIENT_SECRET)")
	case o.ClientSecret != "" && o.ClientSecretFile != "":
		bad("oidc client_secret and client_secret_file are both set: give the secret one way only")
	}
	hasOpenID := false
	for _, sc := range o.Scopes {
		if sc == "" || strings.ContainsAny(sc, " \t\n\"") {
			bad("oidc scopes entry %q is not a scope: give each scope on its own, such as [\"openid\", \"email\", \"profile\"]", sc)
		}
		hasOpenID = hasOpenID || sc == "openid"
	}
	if !hasOpenID {
		bad("oidc scopes %q must include openid (usually with email and profile)", o.Scopes)
	}
	switch o.Role {
	case "member", "agent":
	case "admin":
		bad("oidc role admin would make everyone who can sign in at the provider an admin of this server: use member or agent, and make admins with `switchboard user add --role admin --email ...` (single sign-on then matches them by e-mail) or PATCH /api/v1/users/{id}")
	default:
		bad("oidc role %q must be member or agent", o.Role)
	}
	if len(o.Name) > 40 || strings.ContainsFunc(o.Name, unicode.IsControl) {
		bad("oidc name %q is the provider's name for the sign-in button: at most 40 characters, such as Keycloak", o.Name)
	}
	return errs
}

// RTPPortRange parses rtp_ports: (0, 0) when empty.
func (s *SIP) RTPPortRange() (int, int, error) {
	if s.RTPPorts == "" {
		return 0, 0, nil
	}
	lo, hi, ok := strings.Cut(s.RTPPorts, "-")
	a, errA := strconv.Atoi(strings.TrimSpace(lo))
	b, errB := strconv.Atoi(strings.TrimSpace(hi))
	if !ok || errA != nil || errB != nil || a < 1024 || b > 65535 || b < a+1 {
		return 0, 0, fmt.Errorf("sip rtp_ports %q must be a range such as 10000-20000 within 1024-65535 (at least two ports), or empty for any free port", s.RTPPorts)
	}
	return a, b, nil
}

func (s *SIP) validate(mediaUDP string, turn TURN) []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	for _, l := range []struct{ key, addr string }{{"udp", s.UDP}, {"tcp", s.TCP}, {"tls", s.TLS}} {
		if _, _, err := net.SplitHostPort(l.addr); l.addr != "" && err != nil {
			bad("sip %s %q is not host:port (for example :5060 or 192.0.2.10:5060), or empty to turn that transport off", l.key, l.addr)
		}
	}
	if s.UDP == "" && s.TCP == "" && s.TLS == "" {
		bad("sip is enabled but sip udp, tcp and tls are all empty: set at least sip udp = \":5060\", or sip.enabled = false")
	}
	if s.UDP != "" && samePort(s.UDP, mediaUDP) {
		bad("sip udp %q and media udp %q use the same port; give them different ports", s.UDP, mediaUDP)
	}
	if s.UDP != "" && turn.Enabled && samePort(s.UDP, turn.UDP) {
		bad("sip udp %q and turn udp %q use the same port; give them different ports", s.UDP, turn.UDP)
	}
	if s.TCP != "" && turn.Enabled && samePort(s.TCP, turn.TCP) {
		bad("sip tcp %q and turn tcp %q use the same port; give them different ports", s.TCP, turn.TCP)
	}
	if s.Realm != "" && (strings.TrimSpace(s.Realm) != s.Realm || strings.ContainsAny(s.Realm, "\"\\ \t\r\n")) {
		bad("sip realm %q must be a plain name such as sip.example.com (no spaces or quotes)", s.Realm)
	}
	if s.ExternalIP != "" {
		if _, err := netip.ParseAddr(s.ExternalIP); err != nil {
			bad("sip external_ip %q is not an IP address (the public address phones send media to, e.g. 203.0.113.7)", s.ExternalIP)
		}
	}
	if _, _, err := s.RTPPortRange(); err != nil {
		bad("%v", err)
	}
	for _, p := range s.DialPrefixes {
		if len(p) < 2 || p[0] != '+' || strings.Trim(p[1:], "0123456789") != "" {
			bad("sip dial_prefixes %q: each an E.164 prefix, + and digits, such as +1 or +4420", p)
		}
	}
	for _, p := range s.CallbackPrefixes {
		if len(p) < 2 || p[0] != '+' || strings.Trim(p[1:], "0123456789") != "" {
			bad("sip callback_prefixes %q: each an E.164 prefix, + and digits, such as +1 or +4420", p)
		}
	}
	if cc := strings.TrimPrefix(s.DefaultCountryCode, "+"); cc != "" && (len(cc) > 3 || cc[0] == '0' || strings.Trim(cc, "0123456789") != "") {
		bad("sip default_country_code %q must be a country calling code of 1 to 3 digits, such as 1 or 44 (or empty)", s.DefaultCountryCode)
	}
	if len(s.DigestAlgorithms) == 0 {
		bad("sip digest_algorithms is empty: use [\"MD5\", \"SHA-256\"], or [\"SHA-256\"] when every phone supports RFC 8760")
	}
	seen := map[string]bool{}
	for _, a := range s.DigestAlgorithms {
		if a != "MD5" && a != "SHA-256" {
			bad("sip digest_algorithms entry %q is not supported: use MD5 and/or SHA-256", a)
		}
		if seen[a] {
			bad("sip digest_algorithms lists %q twice", a)
		}
		seen[a] = true
	}
	if s.MinExpires < time.Second || s.MinExpires > s.DefaultExpires || s.DefaultExpires > s.MaxExpires {
		bad("sip registration intervals must satisfy 1s <= min_expires (%s) <= default_expires (%s) <= max_expires (%s)",
			s.MinExpires, s.DefaultExpires, s.MaxExpires)
	}
	if e := s.ConferenceExtension; len(e) > 64 || strings.ContainsAny(e, " \t\r\n@:;<>\"/?") {
		bad("sip conference_extension %q must be the user part of a SIP address (digits or a word such as meet), or empty to turn dial-in off", e)
	}
	if s.MaxBindings < 1 {
		bad("sip max_bindings must be at least 1 (phones one SIP account may register at once; 10 is the default)")
	}
	if s.MaxMessageSize < 1024 || s.MaxMessageSize > 65535 {
		bad("sip max_message_size %s must be between 1KiB and 65535 bytes (16KiB is the default)", s.MaxMessageSize)
	}
	if s.MaxCalls < 1 {
		bad("sip max_calls must be at least 1")
	}
	if s.MediaTimeout < 0 || (s.MediaTimeout > 0 && s.MediaTimeout < 5*time.Second) {
		bad("sip media_timeout %s: 0 (off) or at least 5s (30s is the default)", s.MediaTimeout)
	}
	if s.SessionExpires < 0 || (s.SessionExpires > 0 && (s.MinSessionExpires < 90*time.Second || s.SessionExpires < s.MinSessionExpires)) {
		bad("sip session timers must satisfy 90s <= min_session_expires (%s) <= session_expires (%s), or session_expires = 0 (off)",
			s.MinSessionExpires, s.SessionExpires)
	}
	if s.RequestsPerSecond < 1 || s.MaxConnsPerSource < 1 || s.AuthFailuresPerIP < 1 || s.AuthFailuresPerUser < 1 {
		bad("sip requests_per_second, max_conns_per_source, auth_failures_per_ip and auth_failures_per_user must each be at least 1")
	}
	if s.FailureWindow <= 0 || s.BlockTime <= 0 || s.UserLockTime <= 0 {
		bad("sip failure_window, block_time and user_lock_time must be positive durations such as 1m, 15m, 5m")
	}
	if s.RecordRetention < 0 || (s.RecordRetention > 0 && s.RecordRetention < time.Hour) {
		bad("sip record_retention %s must be at least 1h (2160h, 90 days, is the default), or 0 to keep call records forever", s.RecordRetention)
	}
	return errs
}

// loopbackHost reports whether host is this machine: localhost or a loopback address.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func samePort(a, b string) bool {
	_, pa, errA := net.SplitHostPort(a)
	_, pb, errB := net.SplitHostPort(b)
	return errA == nil && errB == nil && pa == pb && pa != "0"
}

// ParseProxy reads a trusted_proxies entry: an IP address or a CIDR range.
func ParseProxy(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}
