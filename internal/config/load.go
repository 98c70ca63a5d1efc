package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// EnvPrefix starts every environment variable the server reads: --turn-udp is SWITCHBOARD_TURN_UDP.
const EnvPrefix = "SWITCHBOARD_"

// Load builds the configuration for `switchboard serve` from defaults, the optional TOML file named by
// --config (or SWITCHBOARD_CONFIG), the environment, and args, each overriding the one before, then
// validates it. The environment is passed in (as os.Environ() would give it) so tests stay hermetic.
func Load(args []string, environ []string, usage io.Writer) (Config, error) {
	// First pass: only to learn where the file is.
	scratch := Default()
	fs, configPath := flagSet(&scratch, usage)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q (options start with --; see --help)", fs.Arg(0))
	}
	env := envMap(environ)
	path := *configPath
	if path == "" {
		path = env[EnvPrefix+"CONFIG"]
	}

	cfg := Default()
	if path != "" {
		if err := decodeFile(path, &cfg); err != nil {
			return Config{}, err
		}
	}
	fs, _ = flagSet(&cfg, usage)
	if err := applyEnv(fs, env); err != nil {
		return Config{}, err
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("invalid configuration:\n%w", err)
	}
	// Read the secret now, so a missing file stops the start with the other configuration errors.
	if cfg.OIDC.Enabled() {
		secret, err := cfg.OIDC.Secret()
		if err != nil {
			return Config{}, fmt.Errorf("invalid configuration:\n%w", err)
		}
		cfg.OIDC.ClientSecret, cfg.OIDC.ClientSecretFile = secret, ""
	}
	return cfg, nil
}

// decodeFile reads TOML strictly: a key the server does not know is an error, not a silent no-op.
func decodeFile(path string, cfg *Config) error {
	md, err := toml.DecodeFile(path, cfg)
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		keys := make([]string, len(undecoded))
		for i, k := range undecoded {
			keys[i] = k.String()
		}
		return fmt.Errorf("config file %s: unknown setting(s) %s (see `switchboard serve --help`)", path, strings.Join(keys, ", "))
	}
	return nil
}

// applyEnv feeds SWITCHBOARD_* variables through the same parsers as the flags. A variable with the
// prefix that matches no option is an error, because it is almost always a typo.
func applyEnv(fs *flag.FlagSet, env map[string]string) error {
	var errs []error
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !strings.HasPrefix(k, EnvPrefix) || k == EnvPrefix+"CONFIG" {
			continue
		}
		flagName := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(k, EnvPrefix)), "_", "-")
		if fs.Lookup(flagName) == nil || flagName == "config" {
			errs = append(errs, fmt.Errorf("environment variable %s matches no option (see --help)", k))
			continue
		}
		if err := fs.Set(flagName, env[k]); err != nil {
			errs = append(errs, fmt.Errorf("environment variable %s: %w", k, err))
		}
	}
	return errors.Join(errs...)
}

func envMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// flagSet binds every option to a field of cfg. The file key for each is shown in --help.
func flagSet(cfg *Config, usage io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("switchboard serve", flag.ContinueOnError)
	fs.SetOutput(usage)
	configPath := fs.String("config", "", "TOML configuration `file` (keys as shown in [brackets] below)")

	str := func(p *string, name, key, help string) { fs.StringVar(p, name, *p, help+" ["+key+"]") }
	boolean := func(p *bool, name, key, help string) { fs.BoolVar(p, name, *p, help+" ["+key+"]") }
	dur := func(p *time.Duration, name, key, help string) { fs.DurationVar(p, name, *p, help+" ["+key+"]") }
	list := func(p *[]string, name, key, help string) { fs.Var((*listValue)(p), name, help+" ["+key+"]") }
	secret := func(p *string, name, key, help string) { fs.Var((*secretValue)(p), name, help+" ["+key+"]") }

	str(&cfg.Listen, "listen", "listen", "`address` for HTTP(S): web app, API and signalling")
	str(&cfg.DataDir, "data-dir", "data_dir", "`directory` for the database, uploaded files and generated secrets")
	str(&cfg.Database, "database", "database", "PostgreSQL `URL` (postgres://user:password@host/db) to keep data in; empty: SQLite in the data directory")
	str(&cfg.PublicURL, "public-url", "public_url", "`URL` people use to reach the server (used in meeting links), e.g. https://meet.example.com")
	str(&cfg.PublicIP, "public-ip", "public_ip", "`IP` address advertised for media and TURN (default: the address of the interface with the default route)")
	list(&cfg.AllowedOrigins, "allowed-origins", "allowed_origins", "comma-separated `origins` whose pages may use the SDK, API and signalling, e.g. https://www.example.com")
	list(&cfg.TrustedProxies, "trusted-proxies", "trusted_proxies", "comma-separated `addresses` (IPs or CIDRs) of reverse proxies in front of the server: for requests from them the client's address (rate limits, sign-in lockouts, logs) is read from X-Forwarded-For")
	fs.Var(&cfg.MaxUpload, "max-upload", "largest `size` of a file shared in a meeting, e.g. 50MiB [max_upload]")
	str(&cfg.LogLevel, "log-level", "log_level", "`level`: debug, info, warn or error")
	str(&cfg.LogFormat, "log-format", "log_format", "`format`: text or json")

	str(&cfg.TLS.Cert, "tls-cert", "tls.cert", "certificate `file` (PEM, with chain) to serve HTTPS")
	str(&cfg.TLS.Key, "tls-key", "tls.key", "private key `file` (PEM) for --tls-cert")
	list(&cfg.TLS.ACMEDomain, "acme-domain", "tls.acme_domain", "`domains` to get certificates for automatically (ACME); needs ports 80 and 443 reachable")
	str(&cfg.TLS.ACMEEmail, "acme-email", "tls.acme_email", "contact `email` for the ACME account")
	str(&cfg.TLS.ACMECA, "acme-ca", "tls.acme_ca", "ACME directory `URL` (default: Let's Encrypt)")
	boolean(&cfg.TLS.SelfSigned, "self-signed", "tls.self_signed", "serve HTTPS with a generated self-signed certificate (for a LAN)")

	str(&cfg.Media.UDP, "media-udp", "media.udp", "UDP `address` that carries all WebRTC media")
	str(&cfg.Media.TCP, "media-tcp", "media.tcp", "TCP `address` for ICE over TCP when UDP is blocked (empty disables)")
	boolean(&cfg.Media.BatchWrites, "media-batch-writes", "media.batch_writes", "send media in batches (sendmmsg on Linux); turn off only to measure or diagnose")
	boolean(&cfg.Media.FastPath, "media-fast-path", "media.fast_path", "encrypt and decrypt RTP on the media socket itself instead of through pion's per-packet layers; turn off only to measure or diagnose")

	boolean(&cfg.TURN.Enabled, "turn", "turn.enabled", "run the embedded TURN/STUN server")
	str(&cfg.TURN.UDP, "turn-udp", "turn.udp", "UDP `address` of the embedded TURN server (empty disables)")
	str(&cfg.TURN.TCP, "turn-tcp", "turn.tcp", "TCP `address` of the embedded TURN server (empty disables)")
	str(&cfg.TURN.TLS, "turn-tls", "turn.tls", "TLS `address` of the embedded TURN server, e.g. :5349 (needs a certificate)")
	secret(&cfg.TURN.Secret, "turn-secret", "turn.secret", "TURN REST API shared `secret` (default: generated and kept in the data directory)")
	list(&cfg.TURN.External, "turn-external", "turn.external", "comma-separated external TURN `URLs` (coturn with use-auth-secret) given to clients")
	dur(&cfg.TURN.CredentialTTL, "turn-credential-ttl", "turn.credential_ttl", "lifetime of TURN credentials")
	boolean(&cfg.TURN.AllowPrivatePeers, "turn-allow-private-peers", "turn.allow_private_peers", "let TURN relay to private, loopback and link-local addresses (unsafe on a public server)")
	list(&cfg.TURN.AllowedPeers, "turn-allowed-peers", "turn.allowed_peers", "comma-separated CIDR `prefixes` TURN may relay to despite the private-address rule")
	fs.IntVar(&cfg.TURN.UserQuota, "turn-user-quota", cfg.TURN.UserQuota, "most TURN allocations one user may hold [turn.user_quota]")

	boolean(&cfg.Rooms.OpenCreation, "open-rooms", "rooms.open_creation", "anyone who can reach the server may start a meeting (false: a token with the create grant is needed)")
	fs.IntVar(&cfg.Rooms.MaxParticipants, "max-participants", cfg.Rooms.MaxParticipants, "most participants in one room [rooms.max_participants]")
	dur(&cfg.Rooms.EmptyTimeout, "empty-timeout", "rooms.empty_timeout", "close a room this long after the last participant left")
	dur(&cfg.Rooms.ResumeGrace, "resume-grace", "rooms.resume_grace", "how long a dropped participant may reconnect and resume")

	boolean(&cfg.Chat.Presence, "presence", "chat.presence", "people see each other's presence (false hides it from everyone)")
	boolean(&cfg.Chat.PushText, "push-text", "chat.push_text", "push notifications may show message text (it passes, encrypted, through the browser vendor's push service)")
	str(&cfg.Chat.PushContact, "push-contact", "chat.push_contact", "operator contact sent to push services, `mailto:` or https:// (default: the public URL if https)")
	boolean(&cfg.Chat.WebhooksAllowPrivate, "webhooks-allow-private", "chat.webhooks_allow_private", "let webhooks reach loopback and private addresses (integrations on this host or LAN; only if every admin is trusted)")
	dur(&cfg.Chat.Retention, "retention", "chat.retention", "delete messages older than this, e.g. 8760h for a year (0 keeps them forever)")

	str(&cfg.OIDC.Issuer, "oidc-issuer", "oidc.issuer", "single sign-on: the OpenID Connect provider's issuer `URL`, e.g. https://sso.example.com/realms/example (empty: off)")
	str(&cfg.OIDC.ClientID, "oidc-client-id", "oidc.client_id", "single sign-on: the client `id` registered at the provider")
	secret(&cfg.OIDC.ClientSecret, "oidc-client-secret", "oidc.client_secret", "single sign-on: the client `secret`; better SWITCHBOARD_OIDC_CLIENT_SECRET or --oidc-client-secret-file, which other users cannot see in the process list")
	str(&cfg.OIDC.ClientSecretFile, "oidc-client-secret-file", "oidc.client_secret_file", "single sign-on: `file` holding the client secret")
	list(&cfg.OIDC.Scopes, "oidc-scopes", "oidc.scopes", "single sign-on: comma-separated `scopes` to ask for (must include openid)")
	str(&cfg.OIDC.Name, "oidc-name", "oidc.name", "single sign-on: the provider's `name` on the sign-in page, \"Sign in with NAME\" (default SSO)")
	str(&cfg.OIDC.Role, "oidc-role", "oidc.role", "single sign-on: `role` of accounts created at their first sign-in, member or agent")
	boolean(&cfg.OIDC.CreateUsers, "oidc-create-users", "oidc.create_users", "single sign-on: create an account at someone's first sign-in (false: only people who have an account with that e-mail address)")
	boolean(&cfg.OIDC.AllowUnverifiedEmail, "oidc-allow-unverified-email", "oidc.allow_unverified_email", "single sign-on: accept e-mail addresses the provider does not mark verified (only for providers that never do, such as Entra ID, with addresses you control)")

	boolean(&cfg.SIP.Enabled, "sip", "sip.enabled", "run the SIP server for desk phones and softphones (UDP/TCP, TLS with a certificate, WebSocket at /sip)")
	str(&cfg.SIP.UDP, "sip-udp", "sip.udp", "UDP `address` for SIP (empty disables)")
	str(&cfg.SIP.TCP, "sip-tcp", "sip.tcp", "TCP `address` for SIP (empty disables)")
	str(&cfg.SIP.TLS, "sip-tls", "sip.tls", "TLS `address` for SIP; opened only when the web server has a certificate (empty disables)")
	str(&cfg.SIP.Realm, "sip-realm", "sip.realm", "SIP domain and digest `realm` (default: the host of --public-url, else this machine's host name); SIP passwords are bound to it")
	str(&cfg.SIP.ExternalIP, "sip-external-ip", "sip.external_ip", "`IP` address phones send call media to (default: --public-ip)")
	str(&cfg.SIP.RTPPorts, "sip-rtp-ports", "sip.rtp_ports", "UDP port `range` for the media of calls with phones, e.g. 10000-20000 (empty: any free port)")
	list(&cfg.SIP.DialPrefixes, "sip-dial-prefixes", "sip.dial_prefixes", "comma-separated E.164 `prefixes` (+1, +4420) users may call out; empty: any number a trunk takes")
	list(&cfg.SIP.CallbackPrefixes, "sip-callback-prefixes", "sip.callback_prefixes", "comma-separated E.164 `prefixes` (+44, +4420) of numbers website visitors may ask to be called back on; empty: visitors cannot give a number")
	str(&cfg.SIP.DefaultCountryCode, "sip-default-country-code", "sip.default_country_code", "country calling `code` (1, 44) for national numbers dialled through trunks (empty: numbers must start with +)")
	list(&cfg.SIP.DigestAlgorithms, "sip-digest-algorithms", "sip.digest_algorithms", "comma-separated digest `algorithms` offered, preferred first: MD5, SHA-256")
	dur(&cfg.SIP.MinExpires, "sip-min-expires", "sip.min_expires", "shortest registration a phone may ask for (shorter gets 423 Interval Too Brief)")
	dur(&cfg.SIP.MaxExpires, "sip-max-expires", "sip.max_expires", "longest registration; longer requests are cut to it")
	dur(&cfg.SIP.DefaultExpires, "sip-default-expires", "sip.default_expires", "registration length for phones that ask for none")
	fs.IntVar(&cfg.SIP.MaxBindings, "sip-max-bindings", cfg.SIP.MaxBindings, "most phones registered at once with one SIP account [sip.max_bindings]")
	fs.Var(&cfg.SIP.MaxMessageSize, "sip-max-message-size", "largest SIP message `size` accepted, e.g. 16KiB [sip.max_message_size]")
	dur(&cfg.SIP.MediaTimeout, "sip-media-timeout", "sip.media_timeout", "hang up an answered call whose phone sends no media for this long, not while on hold (0: never)")
	dur(&cfg.SIP.SessionExpires, "sip-session-expires", "sip.session_expires", "RFC 4028 session timer asked of phones; a call nobody refreshes ends (0: none)")
	dur(&cfg.SIP.MinSessionExpires, "sip-min-session-expires", "sip.min_session_expires", "the shortest session timer accepted from phones (shorter gets 422)")
	fs.IntVar(&cfg.SIP.MaxCalls, "sip-max-calls", cfg.SIP.MaxCalls, "concurrent call legs through the SIP gateway (a call between two phones is two); more are refused with 503 [sip.max_calls]")
	fs.IntVar(&cfg.SIP.RequestsPerSecond, "sip-requests-per-second", cfg.SIP.RequestsPerSecond, "SIP messages one source address may send per second (bursts of twice that); the rest is dropped [sip.requests_per_second]")
	fs.IntVar(&cfg.SIP.MaxConnsPerSource, "sip-max-conns-per-source", cfg.SIP.MaxConnsPerSource, "open SIP TCP/TLS connections one source address may hold [sip.max_conns_per_source]")
	fs.IntVar(&cfg.SIP.AuthFailuresPerIP, "sip-auth-failures-per-ip", cfg.SIP.AuthFailuresPerIP, "failed SIP authentications within --sip-failure-window that block the source address [sip.auth_failures_per_ip]")
	fs.IntVar(&cfg.SIP.AuthFailuresPerUser, "sip-auth-failures-per-user", cfg.SIP.AuthFailuresPerUser, "failed SIP authentications for one username, from anywhere, within --sip-failure-window that lock the username [sip.auth_failures_per_user]")
	dur(&cfg.SIP.FailureWindow, "sip-failure-window", "sip.failure_window", "window in which failed SIP authentications are counted")
	dur(&cfg.SIP.BlockTime, "sip-block-time", "sip.block_time", "how long a source address that failed too often gets no answer at all")
	dur(&cfg.SIP.UserLockTime, "sip-user-lock-time", "sip.user_lock_time", "how long a username that failed too often is refused, even with the right password")
	dur(&cfg.SIP.RecordRetention, "sip-record-retention", "sip.record_retention", "how long call detail records are kept (0: forever)")
	str(&cfg.SIP.ConferenceExtension, "sip-conference-extension", "sip.conference_extension", "`extension` phones dial to join a meeting by its PIN (empty: no dial-in; needs a build with -tags libopus)")

	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: switchboard serve [options]

Runs the server: web app, API and signalling over HTTP(S), the SFU, the embedded TURN server and,
with --sip, the SIP server for phones.
Every option can also be set in the environment (--turn-udp is SWITCHBOARD_TURN_UDP) or in the TOML
file given with --config (the key in brackets; dots are tables: [turn] udp = ":3478").
Precedence: flags, then environment, then file, then defaults.

Options:
`)
		fs.PrintDefaults()
	}
	return fs, configPath
}

// secretValue is a string flag whose value --help never shows.
type secretValue string

func (v *secretValue) String() string {
	if v == nil || *v == "" {
		return ""
	}
	return "(set)"
}
func (v *secretValue) Set(s string) error { *v = secretValue(s); return nil }

// listValue is a comma-separated list flag; setting it replaces the whole list.
type listValue []string

func (l *listValue) String() string { return strings.Join(*l, ",") }
func (l *listValue) Set(s string) error {
	*l = nil
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}
