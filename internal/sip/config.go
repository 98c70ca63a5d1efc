package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"switchboard/internal/store"
)

// Accounts is what the registrar needs from storage: one account by its
// digest username, or an error wrapping store.ErrNotFound. *store.Store
// implements it.
type Accounts interface {
	SIPAccountByUsername(ctx context.Context, username string) (store.SIPAccount, error)
}

// Digest algorithm names as they appear in challenges (RFC 8760).
const (
	AlgMD5    = "MD5"
	AlgSHA256 = "SHA-256"
)

// Config configures a Server. The zero value of every field but Realm and
// Accounts has a working default (see WithDefaults); listeners whose address
// is empty are not opened.
type Config struct {
	// Listen addresses, e.g. ":5060" (UDP and TCP) and ":5061" (TLS). Port 0
	// picks a free port (tests); Server.Addrs tells which.
	UDPAddr string
	TCPAddr string
	TLSAddr string
	// TLSConfig is required when TLSAddr is set; it needs a certificate.
	TLSConfig *tls.Config

	// Realm is the digest realm and the SIP domain of the accounts, usually
	// the server's host name. The stored hashes are bound to it: changing it
	// makes every SIP account need a new password.
	Realm string
	// Accounts looks up SIP accounts (normally the *store.Store).
	Accounts Accounts

	// DigestAlgorithms are offered in challenges, one WWW-Authenticate
	// each, most preferred first: RFC 8760 asks clients to use the first they
	// support. Default: MD5 alone. Clients do not all read a list of
	// challenges the RFC 8760 way: sipp and many phones read only the first,
	// and JsSIP only the last (and gives up unless it is MD5), so offering
	// SHA-256 as well locks some of them out; the gain from SHA-256 is small
	// here (the stored HA1 is the secret either way). Add SHA-256, first or
	// alone, when every phone supports RFC 8760.
	DigestAlgorithms []string
	// NonceLifetime is how long a challenge's nonce is accepted. Nonces are
	// not stored (they carry their time, signed); a late answer gets a new
	// challenge with stale=true, which clients answer without asking the
	// user. Default 5 minutes.
	NonceLifetime time.Duration
	// NonceKey signs nonces. Default: 32 random bytes per Server, so nonces
	// from before a restart come back stale, which is harmless.
	NonceKey []byte

	// Registration intervals: a REGISTER asking for less than MinExpires (but
	// not 0) gets 423 Interval Too Brief; more than MaxExpires is cut down;
	// none at all gets DefaultExpires. Defaults 60 s, 3600 s, 600 s.
	MinExpires     time.Duration
	MaxExpires     time.Duration
	DefaultExpires time.Duration
	// MaxBindings bounds the contacts one account may register. Default 10.
	MaxBindings int

	// MaxMessageSize bounds one SIP message in bytes; larger ones are
	// dropped (UDP) or end the connection (TCP, TLS, WebSocket). Default 16 KiB.
	MaxMessageSize int
	// RequestsPerSecond is how many messages (or stream reads) one source
	// address may send per second, with bursts of twice that; the rest is
	// dropped. An IPv6 /64 counts as one source. Default 50.
	RequestsPerSecond int
	// MaxConnsPerSource bounds the open TCP and TLS connections of one
	// source address (an IPv6 /64); more are closed at accept. Default 100:
	// an office behind one NAT may have many phones.
	MaxConnsPerSource int
	// AuthFailuresPerIP failed authentications within FailureWindow block the
	// source address for BlockTime: everything it sends is dropped silently.
	// Defaults 10, 1 minute, 15 minutes.
	AuthFailuresPerIP int
	FailureWindow     time.Duration
	BlockTime         time.Duration
	// AuthFailuresPerUser failed authentications for one username within
	// FailureWindow, from any addresses, refuse that username (403, even
	// with the right password) for UserLockTime. It stops guessing spread
	// over many addresses, at the cost that an attacker can keep a phone
	// out for that long. Defaults 30 and 5 minutes.
	AuthFailuresPerUser int
	UserLockTime        time.Duration

	// OnCall receives each authenticated call from a phone, in a goroutine
	// of its own: it must Answer, Reject or Hangup the call (see Call).
	// Without it every INVITE gets 480 Temporarily Unavailable.
	OnCall func(*Call)
	// OnRecord, when set, receives each call's detail record once the call
	// has ended (inbound and outbound). It is called from the goroutine that
	// ended the call and must not block (queue the record).
	OnRecord func(CallRecord)
	// MediaIP is the address put in SDP (and Contact) for calls: the
	// server's public address behind 1:1 NAT. Default: the local address
	// the system routes to the phone through.
	MediaIP netip.Addr
	// RTPBindAddr is where each call's RTP socket is opened (port 0: any
	// free port, or one of RTPPortMin-RTPPortMax). Default "0.0.0.0:0".
	RTPBindAddr string
	// RTPPortMin and RTPPortMax bound the RTP ports of calls (both 0: any
	// free port).
	RTPPortMin, RTPPortMax int
	// MaxCalls bounds concurrent calls from phones; more get 503 with
	// Retry-After. Default 500.
	MaxCalls int

	// MediaTimeout hangs up an answered call (not on hold) whose phone
	// sends no RTP or RTCP for this long, with cause "media-timeout": a
	// phone that lost power or network never sends BYE. Default 30 s;
	// negative turns the check off.
	MediaTimeout time.Duration
	// SessionExpires is the session timer interval (RFC 4028) we ask for
	// and accept at most; phones that support timers refresh calls within
	// it, or we refresh them, and a call nobody refreshes is hung up with
	// cause "session-expired". Default 30 minutes; negative turns session
	// timers off. MinSessionExpires is the shortest interval we accept
	// (shorter ones get 422 with Min-SE); default 90 s, RFC 4028's minimum.
	SessionExpires    time.Duration
	MinSessionExpires time.Duration

	// WebSocketClientAddr, when set, gives the client's address of a SIP
	// over WebSocket request, e.g. from X-Forwarded-For behind a trusted
	// proxy; rate limits and blocks apply to that address. When nil or
	// returning false, the request's RemoteAddr is used.
	WebSocketClientAddr func(r *http.Request) (netip.Addr, bool)

	// UserAgent is sent in the Server and User-Agent headers. Default "Switchboard".
	UserAgent string
	// Logger receives the gateway's log lines (never passwords or digests).
	// Default slog.Default().
	Logger *slog.Logger
	// Metrics, when set, receives counters (see Metrics). Default: a private one.
	Metrics *Metrics
	// Now is the clock; tests set it. Default time.Now.
	Now func() time.Time
}

// WithDefaults returns c with every unset field given its default.
func (c Config) WithDefaults() Config {
	if len(c.DigestAlgorithms) == 0 {
		c.DigestAlgorithms = []string{AlgMD5}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defInt := func(i *int, v int) {
		if *i == 0 {
			*i = v
		}
	}
	def(&c.NonceLifetime, 5*time.Minute)
	def(&c.MinExpires, 60*time.Second)
	def(&c.MaxExpires, time.Hour)
	def(&c.DefaultExpires, 10*time.Minute)
	def(&c.FailureWindow, time.Minute)
	def(&c.BlockTime, 15*time.Minute)
	def(&c.UserLockTime, 5*time.Minute)
	def(&c.MediaTimeout, 30*time.Second)
	def(&c.SessionExpires, 30*time.Minute)
	def(&c.MinSessionExpires, 90*time.Second)
	defInt(&c.MaxBindings, 10)
	defInt(&c.MaxMessageSize, 16<<10)
	defInt(&c.RequestsPerSecond, 50)
	defInt(&c.MaxConnsPerSource, 100)
	defInt(&c.AuthFailuresPerIP, 10)
	defInt(&c.AuthFailuresPerUser, 30)
	defInt(&c.MaxCalls, 500)
	if c.RTPBindAddr == "" {
		c.RTPBindAddr = "0.0.0.0:0"
	}
	if c.UserAgent == "" {
		c.UserAgent = "Switchboard"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil {
		c.Metrics = &Metrics{}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports every problem with c (after WithDefaults) in words an
// admin can act on.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.UDPAddr == "" && c.TCPAddr == "" && c.TLSAddr == "" {
		bad("sip: no listen address: set at least one of the UDP, TCP or TLS addresses (usually :5060)")
	}
	if c.TLSAddr != "" && (c.TLSConfig == nil || (len(c.TLSConfig.Certificates) == 0 && c.TLSConfig.GetCertificate == nil)) {
		bad("sip: a TLS address (%s) needs a certificate", c.TLSAddr)
	}
	if strings.TrimSpace(c.Realm) == "" || strings.ContainsAny(c.Realm, "\"\\\r\n") {
		bad("sip: the realm must be set (usually the server's host name) and contain no quotes or line breaks")
	}
	if c.Accounts == nil {
		bad("sip: no account store")
	}
	seen := map[string]bool{}
	for _, a := range c.DigestAlgorithms {
		if a != AlgMD5 && a != AlgSHA256 {
			bad("sip: digest algorithm %q is not supported (use %q and/or %q)", a, AlgSHA256, AlgMD5)
		}
		if seen[a] {
			bad("sip: digest algorithm %q listed twice", a)
		}
		seen[a] = true
	}
	if c.NonceLifetime < 10*time.Second {
		bad("sip: the nonce lifetime (%s) must be at least 10s, or phones cannot answer in time", c.NonceLifetime)
	}
	if c.NonceKey != nil && len(c.NonceKey) < 16 {
		bad("sip: the nonce key must be at least 16 bytes")
	}
	if c.MinExpires < time.Second || c.MinExpires > c.DefaultExpires || c.DefaultExpires > c.MaxExpires {
		bad("sip: registration intervals must satisfy 1s <= min (%s) <= default (%s) <= max (%s)",
			c.MinExpires, c.DefaultExpires, c.MaxExpires)
	}
	if c.MaxBindings < 1 {
		bad("sip: max bindings per account must be at least 1")
	}
	if c.MaxMessageSize < 1024 || c.MaxMessageSize > 65535 {
		bad("sip: the maximum message size (%d) must be between 1024 and 65535 bytes", c.MaxMessageSize)
	}
	if c.RequestsPerSecond < 1 {
		bad("sip: requests per second per source must be at least 1")
	}
	if c.RTPPortMin != 0 || c.RTPPortMax != 0 {
		if c.RTPPortMin < 1024 || c.RTPPortMax > 65535 || c.RTPPortMax < c.RTPPortMin+1 {
			bad("sip: the RTP port range %d-%d must lie within 1024-65535 and hold at least two ports", c.RTPPortMin, c.RTPPortMax)
		}
	}
	if c.MaxConnsPerSource < 1 {
		bad("sip: connections per source must be at least 1")
	}
	if c.AuthFailuresPerIP < 1 || c.AuthFailuresPerUser < 1 {
		bad("sip: the allowed authentication failures per address and per user must be at least 1")
	}
	if c.FailureWindow <= 0 || c.BlockTime <= 0 || c.UserLockTime <= 0 {
		bad("sip: the failure window, block time and user lock time must be positive")
	}
	if c.SessionExpires > 0 && (c.MinSessionExpires < time.Second || c.SessionExpires < c.MinSessionExpires ||
		c.SessionExpires%time.Second != 0 || c.MinSessionExpires%time.Second != 0) {
		bad("sip: session timers must satisfy 1s <= min (%s) <= session expires (%s), in whole seconds",
			c.MinSessionExpires, c.SessionExpires)
	}
	return errors.Join(errs...)
}
