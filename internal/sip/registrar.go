package sip

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"switchboard/internal/store"
)

// onRegister is the registrar (RFC 3261 section 10.3): authenticate, then
// add, refresh, remove or list the bindings of the authenticated account.
func (s *Server) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	s.m.Requests.Add(1)
	now := s.cfg.Now()
	ip, ok := sourceIP(req)
	if !ok {
		s.respond(req, tx, 400, "Bad Request")
		return
	}
	if s.guard.blocked(ip, now) {
		return // blocked while this request was on its way: stay silent
	}
	if s.checkRequire(req, tx) {
		return
	}
	to := req.To()
	if to == nil || to.Address.User == "" {
		s.respond(req, tx, 400, "Bad Request: To must name an account")
		return
	}
	acct, ok := s.authenticate(req, tx, ip, now)
	if !ok {
		return
	}
	if to.Address.User != acct.Username {
		// Authenticated, but registering someone else's address.
		s.log.Info("sip: register refused: To names another account", "username", acct.Username,
			"to", to.Address.User, "source", req.Source())
		s.respond(req, tx, 403, "Forbidden")
		return
	}

	u, code, reason := s.parseRegister(req, acct.Username, ip, now)
	if code != 0 {
		hs := []sip.Header{}
		if code == 423 {
			hs = append(hs, sip.NewHeader("Min-Expires", strconv.Itoa(int(s.cfg.MinExpires/time.Second))))
		}
		s.respond(req, tx, code, reason, hs...)
		return
	}
	var bindings []Binding
	if u == nil { // a query: no Contact
		bindings = s.loc.lookup(acct.Username, now)
	} else {
		var res updateResult
		bindings, res = s.loc.apply(*u, now)
		switch res {
		case outOfOrder:
			s.respond(req, tx, 500, "Server Internal Error: out of order REGISTER", sip.NewHeader("Retry-After", "1"))
			return
		case tooMany:
			s.log.Info("sip: register refused: too many bindings", "username", acct.Username, "max", s.cfg.MaxBindings)
			s.respond(req, tx, 403, "Forbidden: too many registrations")
			return
		}
		s.m.Registrations.Add(1)
		s.log.Debug("sip: registered", "username", acct.Username, "source", req.Source(),
			"transport", req.Transport(), "bindings", len(bindings))
	}
	hs := make([]sip.Header, 0, len(bindings)+1)
	for _, b := range bindings {
		secs := max(int(b.Expires.Sub(now).Round(time.Second)/time.Second), 1)
		hs = append(hs, sip.NewHeader("Contact", fmt.Sprintf("<%s>;expires=%d", b.Contact, secs)))
	}
	hs = append(hs, sip.NewHeader("Date", now.UTC().Format(time.RFC1123)))
	s.respond(req, tx, 200, "OK", hs...)
}

// parseRegister reads the Contact and Expires headers into an update, or
// returns the error response to send. A nil update with code 0 is a query.
func (s *Server) parseRegister(req *sip.Request, username string, ip netip.Addr, now time.Time) (*update, int, string) {
	headerExpires := -1
	if h := req.GetHeader("Expires"); h != nil {
		n, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32)
		if err != nil {
			return nil, 400, "Bad Request: Expires"
		}
		headerExpires = int(min(n, 1<<31-1))
	}
	contacts := req.GetHeaders("Contact")
	if len(contacts) == 0 {
		return nil, 0, ""
	}
	if len(contacts) > s.cfg.MaxBindings {
		return nil, 403, "Forbidden: too many contacts"
	}
	cseq := req.CSeq()
	callID := req.CallID()
	if cseq == nil || callID == nil {
		return nil, 400, "Bad Request"
	}
	u := &update{username: username, callID: callID.Value(), cseq: cseq.SeqNo, max: s.cfg.MaxBindings}
	tooBrief := false
	for _, h := range contacts {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			return nil, 400, "Bad Request: Contact"
		}
		if c.Address.Wildcard {
			// RFC 3261 10.3 step 6: "*" only alone and with Expires: 0.
			if len(contacts) != 1 || headerExpires != 0 {
				return nil, 400, "Bad Request: Contact * needs Expires: 0"
			}
			u.wildcard = true
			return u, 0, ""
		}
		scheme := strings.ToLower(c.Address.Scheme)
		if (scheme != "sip" && scheme != "sips") || c.Address.Host == "" {
			return nil, 400, "Bad Request: Contact must be a SIP URI"
		}
		secs := headerExpires
		if v, ok := c.Params.Get("expires"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			if err != nil {
				return nil, 400, "Bad Request: expires"
			}
			secs = int(min(n, 1<<31-1))
		}
		if secs < 0 {
			secs = int(s.cfg.DefaultExpires / time.Second)
		}
		b := Binding{
			Username:  username,
			Contact:   contactURI(&c.Address),
			Transport: req.Transport(),
			Source:    req.Source(),
			CallID:    u.callID,
			CSeq:      u.cseq,
			Updated:   now,
		}
		if ua := req.GetHeader("User-Agent"); ua != nil {
			b.UserAgent = truncate(ua.Value(), 128)
		}
		if len(b.Contact) > 512 {
			return nil, 400, "Bad Request: Contact too long"
		}
		if secs > 0 {
			d := time.Duration(secs) * time.Second
			if d < s.cfg.MinExpires {
				tooBrief = true
			}
			b.Expires = now.Add(min(d, s.cfg.MaxExpires))
		}
		u.contacts = append(u.contacts, b)
	}
	if tooBrief {
		return nil, 423, "Interval Too Brief"
	}
	return u, 0, ""
}

// contactURI is the URI of a Contact, without header parameters: what the
// binding is known by and what a request to the phone is sent to.
func contactURI(u *sip.Uri) string {
	c := *u
	c.Headers = nil
	return c.String()
}

// sameContact compares contact URIs the way RFC 3261 section 19.1.4 does in
// the parts that matter here: scheme, user, host, port and transport.
func sameContact(a, b string) bool {
	if a == b {
		return true
	}
	var ua, ub sip.Uri
	if sip.ParseUri(a, &ua) != nil || sip.ParseUri(b, &ub) != nil {
		return false
	}
	ta, _ := ua.UriParams.Get("transport")
	tb, _ := ub.UriParams.Get("transport")
	return strings.EqualFold(ua.Scheme, ub.Scheme) && ua.User == ub.User &&
		strings.EqualFold(ua.Host, ub.Host) && ua.Port == ub.Port && strings.EqualFold(ta, tb)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// authenticate checks the request's digest credentials. On success it
// returns the account; otherwise it has answered (401 challenge, 403, 400,
// 500) or, for a source it just blocked, stayed silent.
func (s *Server) authenticate(req *sip.Request, tx sip.ServerTransaction, ip netip.Addr, now time.Time) (store.SIPAccount, bool) {
	var cred *digest.Credentials
	var parseErr error
	for _, h := range req.GetHeaders("Authorization") {
		c, err := parseCredentials(h.Value())
		if err != nil {
			parseErr = err
			continue
		}
		if c.Realm == s.cfg.Realm {
			cred = c
			break
		}
	}
	if cred == nil {
		if parseErr != nil {
			s.failed(req, ip, "", "malformed credentials", now)
			if !s.guard.blocked(ip, now) {
				s.respond(req, tx, 400, "Bad Request: Authorization")
			}
			return store.SIPAccount{}, false
		}
		s.challenge(req, tx, ip, now, false)
		return store.SIPAccount{}, false
	}
	alg := credentialAlg(cred)
	if alg == "" || !offered(s.cfg.DigestAlgorithms, alg) {
		s.failed(req, ip, cred.Username, "digest algorithm not offered", now)
		s.challengeUnlessBlocked(req, tx, ip, now, false)
		return store.SIPAccount{}, false
	}
	switch s.nonces.check(cred.Nonce, ip, now) {
	case nonceBad:
		s.failed(req, ip, cred.Username, "nonce not ours", now)
		s.forbidUnlessBlocked(req, tx, ip, now)
		return store.SIPAccount{}, false
	case nonceStale:
		s.challenge(req, tx, ip, now, true)
		return store.SIPAccount{}, false
	}
	if !sameRequestURI(cred.URI, &req.Recipient) {
		s.failed(req, ip, cred.Username, "digest uri "+strconv.Quote(truncate(cred.URI, 96))+" does not match the request", now)
		s.forbidUnlessBlocked(req, tx, ip, now)
		return store.SIPAccount{}, false
	}
	if s.guard.userLocked(cred.Username, now) {
		// Count against the source, not the username: the lock must not be
		// extended forever by the guesser it is there to stop.
		s.failed(req, ip, "", "username locked", now)
		s.forbidUnlessBlocked(req, tx, ip, now)
		return store.SIPAccount{}, false
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	acct, err := s.cfg.Accounts.SIPAccountByUsername(ctx, cred.Username)
	reason := ""
	ha1 := s.dummy
	switch {
	case errors.Is(err, store.ErrNotFound):
		reason = "unknown account"
	case err != nil:
		s.log.Error("sip: account lookup failed", "username", cred.Username, "err", err)
		s.respond(req, tx, 500, "Server Internal Error", sip.NewHeader("Retry-After", "30"))
		return store.SIPAccount{}, false
	case !acct.Enabled:
		reason = "account disabled"
	case acct.Realm != s.cfg.Realm:
		reason = "account's password was set for another realm"
		s.log.Warn("sip: account hashes were made for another realm; set a new password", "username",
			acct.Username, "account_realm", acct.Realm, "realm", s.cfg.Realm)
	case alg == AlgSHA256:
		ha1 = acct.HA1SHA256
	default:
		ha1 = acct.HA1MD5
	}
	// Unknown and disabled accounts are checked against a random hash, so
	// they take as long to refuse as a wrong password.
	match := responseMatches(expectedResponse(alg, ha1, string(req.Method), cred), cred.Response)
	if reason == "" && !match {
		reason = "wrong password"
	}
	if reason != "" {
		s.failed(req, ip, cred.Username, reason, now)
		s.forbidUnlessBlocked(req, tx, ip, now)
		return store.SIPAccount{}, false
	}
	if !s.replays.fresh(cred, now, s.cfg.NonceLifetime+time.Minute) {
		// Seen before: a replay, or a client reusing a nonce count. A new
		// challenge costs an honest client one round trip.
		s.challenge(req, tx, ip, now, true)
		return store.SIPAccount{}, false
	}
	return acct, true
}

func offered(algs []string, alg string) bool {
	for _, a := range algs {
		if a == alg {
			return true
		}
	}
	return false
}

// sameRequestURI reports whether the digest's uri names the Request-URI.
// Clients may format it differently, so it is compared parsed.
func sameRequestURI(digestURI string, r *sip.Uri) bool {
	if digestURI == r.String() {
		return true
	}
	var u sip.Uri
	if sip.ParseUri(digestURI, &u) != nil {
		return false
	}
	port := func(p int) int {
		if p == 0 {
			return 5060
		}
		return p
	}
	return strings.EqualFold(u.Scheme, r.Scheme) && u.User == r.User && strings.EqualFold(u.Host, r.Host) &&
		port(u.Port) == port(r.Port)
}

// challenge answers 401 with one WWW-Authenticate per offered algorithm.
func (s *Server) challenge(req *sip.Request, tx sip.ServerTransaction, ip netip.Addr, now time.Time, stale bool) {
	s.m.Challenges.Add(1)
	nonce := s.nonces.make(ip, now)
	hs := make([]sip.Header, 0, len(s.cfg.DigestAlgorithms))
	for _, alg := range s.cfg.DigestAlgorithms {
		hs = append(hs, sip.NewHeader("WWW-Authenticate", challenge(s.cfg.Realm, nonce, alg, stale)))
	}
	s.respond(req, tx, 401, "Unauthorized", hs...)
}

func (s *Server) challengeUnlessBlocked(req *sip.Request, tx sip.ServerTransaction, ip netip.Addr, now time.Time, stale bool) {
	if !s.guard.blocked(ip, now) {
		s.challenge(req, tx, ip, now, stale)
	}
}

// forbidUnlessBlocked answers 403, unless the failure just blocked the
// source: from then on it hears nothing.
func (s *Server) forbidUnlessBlocked(req *sip.Request, tx sip.ServerTransaction, ip netip.Addr, now time.Time) {
	if !s.guard.blocked(ip, now) {
		s.respond(req, tx, 403, "Forbidden")
	}
}

// failed counts and logs a failed authentication. The log line names the
// source and the username tried, never the credentials.
func (s *Server) failed(req *sip.Request, ip netip.Addr, username, reason string, now time.Time) {
	s.m.AuthFailures.Add(1)
	blocked, locked := s.guard.authFailed(ip, username, now)
	s.log.Info("sip: authentication failed", "source", req.Source(), "transport", req.Transport(),
		"username", truncate(username, 64), "reason", reason, "user_agent", userAgent(req))
	if blocked {
		s.log.Warn("sip: source blocked after repeated authentication failures", "source", ip.String(),
			"for", s.cfg.BlockTime.String())
	}
	if locked {
		s.log.Warn("sip: username locked after repeated authentication failures", "username", truncate(username, 64),
			"for", s.cfg.UserLockTime.String())
	}
}

func userAgent(req *sip.Request) string {
	if h := req.GetHeader("User-Agent"); h != nil {
		return truncate(h.Value(), 64)
	}
	return ""
}
