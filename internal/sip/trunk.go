package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"switchboard/internal/store"
)

// Trunks: connections to telephone providers. A trunk is either a
// registering one (we REGISTER with the provider as a client, with digest,
// and it sends calls to the address we registered) or an IP-authenticated
// peer (the provider's addresses are listed in InboundIPs, and INVITEs from
// them need no challenge). Calls out go to Host over Transport, answering
// the provider's digest challenge with the trunk's credentials. Trunks come
// from the database at run time (Server.SetTrunks), not from Config.

// Trunk transports.
const (
	TransportUDP = "udp"
	TransportTCP = "tcp"
	TransportTLS = "tls"
)

// Trunk is a connection to a telephone provider.
type Trunk struct {
	ID      string
	Name    string
	Enabled bool
	// Host is the provider's SIP server, "host" or "host:port" (default
	// port 5060, 5061 for TLS); Transport "udp", "tcp" or "tls".
	Host      string
	Transport string
	// Register makes us REGISTER with Host as Username (digest as
	// AuthUsername, or Username when that is empty, with Password).
	Register     bool
	Username     string
	AuthUsername string
	Password     string
	// FromDomain is the host part of our From (and REGISTER's To);
	// default Host without its port.
	FromDomain string
	// InboundIPs are the provider's source addresses: INVITEs from them
	// are calls from this trunk and are not challenged.
	InboundIPs []netip.Prefix
	// OutboundPrefixes are the E.164 prefixes called through this trunk
	// (longest match wins); none makes it the default trunk.
	OutboundPrefixes []string
	// NumberFormat is how called numbers are written (FormatE164, ...).
	NumberFormat string
	// MaxCalls bounds concurrent calls in and out; 0: no limit.
	MaxCalls int
	// MediaEncryption is what our calls out offer: MediaNone ("" too) or
	// MediaSDES (SDES-SRTP, refusing an answer without it).
	MediaEncryption string
}

// TrunkStatus is how a trunk is doing, for the admins' API.
type TrunkStatus struct {
	Registered  bool
	LastError   string
	ExpiresAt   time.Time // of the registration; zero when not registered
	ActiveCalls int
}

// ParseInboundIP reads an address ("203.0.113.7") or a network
// ("203.0.113.0/24") as a prefix.
func ParseInboundIP(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("inbound IP %q is not an address or network such as 203.0.113.0/24", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("inbound IP %q is not an address or network such as 203.0.113.0/24", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Validate reports every problem with t in words an admin can act on.
func (t Trunk) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if strings.TrimSpace(t.Name) == "" || len(t.Name) > 100 {
		bad("the name must be 1 to 100 characters")
	}
	if _, _, err := t.hostPort(); err != nil {
		bad("%v", err)
	}
	switch t.Transport {
	case TransportUDP, TransportTCP, TransportTLS:
	default:
		bad("transport %q is not one of udp, tcp, tls", t.Transport)
	}
	for name, v := range map[string]string{"username": t.Username, "fromDomain": t.FromDomain} {
		if len(v) > 128 || strings.ContainsAny(v, " \"\\<>@;:\r\n\t") {
			bad("%s %q must be at most 128 characters without spaces, quotes, <, >, @, : or ;", name, v)
		}
	}
	if len(t.AuthUsername) > 128 || strings.ContainsAny(t.AuthUsername, "\"\\\r\n") {
		bad("authUsername must be at most 128 characters without quotes or backslashes")
	}
	if len(t.Password) > 128 || strings.ContainsAny(t.Password, "\r\n") {
		bad("the password must be at most 128 characters on one line")
	}
	if err := CheckMediaEncryption(t.MediaEncryption); err != nil {
		bad("mediaEncryption %q is not one of none, sdes", t.MediaEncryption)
	}
	if t.Register && (t.Username == "" || t.Password == "") {
		bad("a registering trunk needs a username and a password")
	}
	for _, p := range t.OutboundPrefixes {
		if err := CheckPrefix(p); err != nil {
			bad("%v", err)
		}
	}
	if err := CheckNumberFormat(t.NumberFormat); err != nil {
		bad("%v", err)
	}
	if t.MaxCalls < 0 || t.MaxCalls > 100000 {
		bad("maxCalls must be between 0 (no limit) and 100000")
	}
	return errors.Join(errs...)
}

// hostPort splits Host, adding the transport's default port.
func (t Trunk) hostPort() (string, int, error) {
	h := strings.TrimSpace(t.Host)
	if h == "" || len(h) > 255 || strings.ContainsAny(h, " /@;\"<>\r\n") || strings.Contains(h, "://") {
		return "", 0, fmt.Errorf("host %q must be a host name or address, optionally with :port (sip.example.net:5060)", t.Host)
	}
	host, port := h, 5060
	if t.Transport == TransportTLS {
		port = 5061
	}
	if hh, p, err := net.SplitHostPort(h); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", 0, fmt.Errorf("host %q has a bad port", t.Host)
		}
		host, port = hh, n
	} else if _, perr := netip.ParseAddr(h); strings.Contains(h, ":") && perr != nil {
		return "", 0, fmt.Errorf("host %q has a bad port (write IPv6 addresses as [2001:db8::1]:5060)", t.Host)
	}
	if host == "" {
		return "", 0, fmt.Errorf("host %q has no host name", t.Host)
	}
	return host, port, nil
}

// domain is our From host for the trunk.
func (t Trunk) domain() string {
	if t.FromDomain != "" {
		return t.FromDomain
	}
	h, _, _ := t.hostPort()
	return h
}

// authUser is the digest username.
func (t Trunk) authUser() string {
	if t.AuthUsername != "" {
		return t.AuthUsername
	}
	return t.Username
}

// sipTransport is the transport name sipgo uses.
func (t Trunk) sipTransport() string { return strings.ToUpper(t.Transport) }

// ChooseTrunk picks the trunk for calling an E.164 number: among enabled
// trunks, the longest matching outbound prefix; failing that, a trunk
// without prefixes (the default). False when none fits.
func ChooseTrunk(trunks []Trunk, e164 string) (Trunk, bool) {
	best, bestLen, found := Trunk{}, -1, false
	for _, t := range trunks {
		if !t.Enabled {
			continue
		}
		if len(t.OutboundPrefixes) == 0 && bestLen < 0 {
			best, bestLen, found = t, 0, true
			continue
		}
		for _, p := range t.OutboundPrefixes {
			if strings.HasPrefix(e164, p) && len(p) > bestLen {
				best, bestLen, found = t, len(p), true
			}
		}
	}
	return best, found
}

// trunkState is a configured trunk with its running parts.
type trunkState struct {
	Trunk
	active *atomic.Int64 // calls in and out now; shared by the versions of one trunk
	reg    *registration
}

// trunks holds the configured trunks by id.
type trunks struct {
	mu    sync.RWMutex
	m     map[string]*trunkState
	retry time.Duration // first wait after a failed registration; tests shorten it
}

// SetTrunks replaces the configured trunks. Registrations of trunks that
// are new or changed start (changed ones un-REGISTER first); those of
// removed or disabled ones end with an un-REGISTER. Calls in progress go
// on. The trunks must have passed Validate.
func (s *Server) SetTrunks(list []Trunk) {
	s.trunks.mu.Lock()
	old := s.trunks.m
	next := make(map[string]*trunkState, len(list))
	var stop, start []*registration
	for _, t := range list {
		ts := &trunkState{Trunk: t, active: &atomic.Int64{}}
		if o := old[t.ID]; o != nil {
			ts.active = o.active // calls in progress still count, and release their slot here
			if o.reg != nil && sameRegistration(o.Trunk, t) && t.Enabled && t.Register {
				ts.reg = o.reg
				o.reg = nil
			}
		}
		if ts.reg == nil && t.Enabled && t.Register {
			ts.reg = s.newRegistration(t)
		}
		if ts.reg != nil {
			start = append(start, ts.reg)
		}
		next[t.ID] = ts
	}
	for _, o := range old {
		if o.reg != nil {
			stop = append(stop, o.reg)
		}
	}
	s.trunks.m = next
	s.trunks.mu.Unlock()
	for _, r := range stop {
		r.close()
	}
	for _, r := range start {
		r.start() // once; a kept registration runs already
	}
}

// sameRegistration reports whether a registration for a can go on for b.
func sameRegistration(a, b Trunk) bool {
	return a.Host == b.Host && a.Transport == b.Transport && a.Username == b.Username &&
		a.AuthUsername == b.AuthUsername && a.Password == b.Password && a.FromDomain == b.FromDomain
}

// Trunks returns the configured trunks.
func (s *Server) Trunks() []Trunk {
	s.trunks.mu.RLock()
	defer s.trunks.mu.RUnlock()
	out := make([]Trunk, 0, len(s.trunks.m))
	for _, ts := range s.trunks.m {
		out = append(out, ts.Trunk)
	}
	// In a fixed order, so that of two default trunks the same one is chosen.
	slices.SortFunc(out, func(a, b Trunk) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Trunk returns the configured trunk with id.
func (s *Server) Trunk(id string) (Trunk, bool) {
	if ts := s.trunk(id); ts != nil {
		return ts.Trunk, true
	}
	return Trunk{}, false
}

// TrunkStatus is the registration and call state of trunk id (zero when unknown).
func (s *Server) TrunkStatus(id string) TrunkStatus {
	s.trunks.mu.RLock()
	ts := s.trunks.m[id]
	var reg *registration
	if ts != nil {
		reg = ts.reg // changed under the write lock
	}
	s.trunks.mu.RUnlock()
	if ts == nil {
		return TrunkStatus{}
	}
	var st TrunkStatus
	if reg != nil {
		st = reg.status()
	}
	st.ActiveCalls = int(ts.active.Load())
	return st
}

// trunk returns the running state of trunk id, or nil.
func (s *Server) trunk(id string) *trunkState {
	s.trunks.mu.RLock()
	defer s.trunks.mu.RUnlock()
	return s.trunks.m[id]
}

// closeTrunks ends every registration (un-REGISTER), for Close.
func (s *Server) closeTrunks() {
	s.trunks.mu.Lock()
	var regs []*registration
	for _, ts := range s.trunks.m {
		if ts.reg != nil {
			regs = append(regs, ts.reg)
			ts.reg = nil
		}
	}
	s.trunks.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range regs {
		wg.Go(r.close)
	}
	wg.Wait()
}

// ErrTrunkBusy is returned by DialTrunk when the trunk is at its MaxCalls.
var ErrTrunkBusy = errors.New("sip: the trunk is at its call limit")

// acquire takes a call slot of the trunk, false at its limit.
func (ts *trunkState) acquire() bool {
	if n := ts.active.Add(1); ts.MaxCalls > 0 && n > int64(ts.MaxCalls) {
		ts.active.Add(-1)
		return false
	}
	return true
}

func (ts *trunkState) release() { ts.active.Add(-1) }

// inboundTrunk finds the trunk an INVITE from ip comes from: one listing
// ip in InboundIPs, or a registered trunk whose registrar has that
// address (providers send calls for a registration from where it went).
func (s *Server) inboundTrunk(ip netip.Addr) *trunkState {
	s.trunks.mu.RLock()
	defer s.trunks.mu.RUnlock()
	var regMatch *trunkState
	for _, ts := range s.trunks.m {
		if !ts.Enabled {
			continue
		}
		for _, p := range ts.InboundIPs {
			if p.Contains(ip) {
				return ts
			}
		}
		if regMatch == nil && ts.reg != nil && ts.reg.from(ip) {
			regMatch = ts
		}
	}
	return regMatch
}

// authenticateCall authenticates an INVITE: one from a trunk needs no
// challenge (its account is a stand-in named after the trunk), any other
// is a phone's and gets digest. trunk is "" for phones.
func (s *Server) authenticateCall(req *sip.Request, tx sip.ServerTransaction, ip netip.Addr, now time.Time) (store.SIPAccount, string, bool) {
	if ts := s.inboundTrunk(ip); ts != nil {
		return store.SIPAccount{Username: "trunk:" + ts.Name, Enabled: true}, ts.ID, true
	}
	acct, ok := s.authenticate(req, tx, ip, now)
	return acct, "", ok
}

// startTrunkCall runs once an incoming call from a trunk is set up: it
// records the caller's number and the dialled To user, and takes a call
// slot of the trunk, refusing the call with 503 and Retry-After at the
// trunk's limit. False when the call was refused.
func (s *Server) startTrunkCall(c *Call) bool {
	if c.Trunk == "" {
		return true
	}
	if f := c.req.From(); f != nil {
		c.CallerNumber, c.CallerName = truncate(f.Address.User, 64), truncate(f.DisplayName, 64)
	}
	if t := c.req.To(); t != nil {
		c.ToUser = truncate(t.Address.User, 64)
	}
	ts := s.trunk(c.Trunk)
	if ts == nil { // removed meanwhile
		c.Reject(480, "Temporarily Unavailable")
		return false
	}
	if !ts.acquire() {
		s.log.Warn("sip: call from trunk refused: at the trunk's call limit", "call", c.callID, "trunk", ts.Name, "max_calls", ts.MaxCalls)
		c.mu.Lock()
		c.answering = true
		c.mu.Unlock()
		c.respondWith(503, "Service Unavailable", sip.NewHeader("Retry-After", "30"))
		c.end(EndRejected)
		return false
	}
	s.spawn(func() {
		<-c.done
		ts.release()
	})
	return true
}

// respondWith sends a final response with extra headers.
func (c *Call) respondWith(code int, reason string, headers ...sip.Header) {
	res := c.response(code, reason, nil)
	for _, h := range headers {
		res.AppendHeader(h)
	}
	if err := c.tx.Respond(res); err != nil {
		c.s.log.Debug("sip: call response failed", "call", c.callID, "code", code, "err", err)
	}
	c.mu.Lock()
	if c.rec.Status == 0 {
		c.rec.Status = code // the call's record says why it was refused
	}
	c.mu.Unlock()
	c.finalSet.Do(func() { close(c.final) })
}

// resolveTrunk finds the address to send to for a trunk (a DNS lookup
// for host names; no SRV).
func resolveTrunk(ctx context.Context, t Trunk) (netip.AddrPort, error) {
	host, port, err := t.hostPort()
	if err != nil {
		return netip.AddrPort{}, err
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("cannot resolve the trunk host %q: %v", host, err)
	}
	return netip.AddrPortFrom(ips[0].Unmap(), uint16(port)), nil
}
