package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Outbound registration: a trunk with Register set keeps a registration
// with its provider, as a phone does with us. REGISTER is answered 401 or
// 407 with a digest challenge (MD5 or SHA-256; sipgo's client computes the
// answer from the trunk's password, which is why trunk passwords are
// stored in clear), then 200 with the expiry the registrar granted. The
// registration is refreshed at 80% of that expiry, retried with backoff
// (trunkRetryMin doubling to trunkRetryMax) after a failure, and removed
// (Expires: 0) when the trunk is removed or changed or the server closes.
// One Call-ID per registration, increasing CSeq (RFC 3261 10.2.4).

var errNoResponse = errors.New("the transaction ended without a response")

// trunkRegisterExpires is the expiry we ask providers for.
const trunkRegisterExpires = 600 * time.Second

// Retry waits after a failed registration, doubling between them.
const (
	trunkRetryMin = 5 * time.Second
	trunkRetryMax = 5 * time.Minute
)

type registration struct {
	s        *Server
	t        Trunk
	callID   string
	tag      string
	retryMin time.Duration

	ctx       context.Context // ends with close
	cancel    context.CancelFunc
	done      chan struct{}
	startOnce sync.Once
	closeOnce sync.Once
	started   bool

	mu      sync.Mutex
	st      TrunkStatus
	cseq    uint32
	addr    netip.AddrPort // where the registrar is
	contact sip.Uri        // what we registered
}

func (s *Server) newRegistration(t Trunk) *registration {
	ctx, cancel := context.WithCancel(context.Background())
	retry := s.trunks.retry
	if retry <= 0 {
		retry = trunkRetryMin
	}
	return &registration{s: s, t: t, callID: sip.GenerateTagN(24) + "@" + s.cfg.Realm, tag: sip.GenerateTagN(16),
		retryMin: retry, ctx: ctx, cancel: cancel, done: make(chan struct{}), cseq: 1}
}

func (r *registration) start() {
	r.startOnce.Do(func() {
		r.mu.Lock()
		r.started = true
		r.mu.Unlock()
		r.s.spawn(r.run)
	})
}

// close stops refreshing and removes the registration at the provider
// (waiting at most a few seconds for its answer).
func (r *registration) close() {
	r.closeOnce.Do(func() {
		r.cancel()
		r.mu.Lock()
		started := r.started
		r.mu.Unlock()
		if started {
			<-r.done
		}
	})
}

func (r *registration) status() TrunkStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.st
	if st.Registered && !r.s.cfg.Now().Before(st.ExpiresAt) {
		st.Registered = false
	}
	return st
}

// from reports whether ip is the registrar's address: calls for the
// registration come from there.
func (r *registration) from(ip netip.Addr) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addr.IsValid() && r.addr.Addr() == ip
}

func (r *registration) run() {
	defer close(r.done)
	log := r.s.log.With("trunk", r.t.Name, "registrar", r.t.Host)
	if r.t.Transport == TransportUDP && r.s.udp != nil {
		// Register from the listening port, so wait (briefly) until it serves.
		for i := 0; i < 100; i++ {
			if _, ok := r.s.udpLaddr(); ok || r.ctx.Err() != nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	backoff := r.retryMin
	for {
		exp, err := r.register(trunkRegisterExpires)
		var wait time.Duration
		r.mu.Lock()
		was := r.st.Registered && r.st.LastError == ""
		if err != nil {
			r.st.LastError = err.Error()
			if !r.s.cfg.Now().Before(r.st.ExpiresAt) {
				r.st.Registered, r.st.ExpiresAt = false, time.Time{}
			}
			wait, backoff = backoff, min(2*backoff, trunkRetryMax)
		} else {
			r.st = TrunkStatus{Registered: true, ExpiresAt: r.s.cfg.Now().Add(exp)}
			wait, backoff = exp*4/5, r.retryMin
		}
		r.mu.Unlock()
		if err != nil {
			if r.ctx.Err() == nil {
				log.Warn("sip: trunk registration failed", "err", err, "retry_in", wait)
			}
		} else if !was {
			log.Info("sip: trunk registered", "expires", exp)
		} else {
			log.Debug("sip: trunk registration refreshed", "expires", exp)
		}
		t := time.NewTimer(wait)
		select {
		case <-r.ctx.Done():
			t.Stop()
			r.unregister(log)
			return
		case <-t.C:
		}
	}
}

// unregister removes our binding at the provider, if we had one.
func (r *registration) unregister(log interface{ Info(string, ...any) }) {
	r.mu.Lock()
	was := r.st.Registered
	r.st = TrunkStatus{}
	r.mu.Unlock()
	if !was {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := r.do(ctx, 0); err != nil {
		log.Info("sip: trunk un-REGISTER failed", "err", err)
		return
	}
	log.Info("sip: trunk unregistered")
}

// register sends one REGISTER (with its digest answer) and returns the
// expiry granted.
func (r *registration) register(expires time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(r.ctx, 40*time.Second) // beyond Timer F (32 s)
	defer cancel()
	res, err := r.do(ctx, expires)
	if err != nil {
		return 0, err
	}
	if res.StatusCode == 423 {
		// Interval too brief: ask for what the registrar wants, once.
		if h := res.GetHeader("Min-Expires"); h != nil {
			if n, err := strconv.Atoi(h.Value()); err == nil && n > 0 && n <= 86400 {
				if res, err = r.do(ctx, time.Duration(n)*time.Second); err != nil {
					return 0, err
				}
			}
		}
	}
	if !res.IsSuccess() {
		return 0, fmt.Errorf("the registrar answered %d %s", res.StatusCode, res.Reason)
	}
	return r.granted(res, expires), nil
}

// do sends REGISTER with expires, answers a challenge, and returns the final response.
func (r *registration) do(ctx context.Context, expires time.Duration) (*sip.Response, error) {
	dest, err := resolveTrunk(ctx, r.t)
	if err != nil {
		return nil, err
	}
	req := r.request(dest, expires)
	res, err := r.s.client.Do(ctx, req)
	if err == nil && res == nil {
		err = errNoResponse // sipgo: the transaction ended (the server is closing)
	}
	if err == nil && (res.StatusCode == 401 || res.StatusCode == 407) {
		res, err = r.s.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: r.t.authUser(), Password: r.t.Password})
		if err == nil && res == nil {
			err = errNoResponse
		}
		if err == nil && (res.StatusCode == 401 || res.StatusCode == 407 || res.StatusCode == 403) {
			err = fmt.Errorf("the registrar refused the trunk's credentials (%d %s)", res.StatusCode, res.Reason)
		}
	}
	r.mu.Lock()
	if cs := req.CSeq(); cs != nil && cs.SeqNo >= r.cseq {
		r.cseq = cs.SeqNo + 1 // the digest answer went out with CSeq+1
	}
	r.mu.Unlock()
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("no answer from the registrar %s", dest)
		}
		return nil, fmt.Errorf("register at %s: %w", dest, err)
	}
	return res, nil
}

// request builds a REGISTER to dest (a new transaction: fresh Via).
func (r *registration) request(dest netip.AddrPort, expires time.Duration) *sip.Request {
	t := r.t
	domain := t.domain()
	aor := sip.Uri{Scheme: "sip", User: t.Username, Host: domain}
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: domain})
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", r.tag)
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor})
	cid := sip.CallIDHeader(r.callID)
	req.AppendHeader(&cid)
	r.mu.Lock()
	seq := r.cseq
	r.cseq++
	contact := r.s.contactFor(t.sipTransport(), r.s.mediaIPFor(dest.String()), t.Username)
	r.addr, r.contact = dest, contact
	r.mu.Unlock()
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: sip.REGISTER})
	req.AppendHeader(&sip.ContactHeader{Address: contact})
	exp := sip.ExpiresHeader(uint32(expires / time.Second))
	req.AppendHeader(&exp)
	req.AppendHeader(sip.NewHeader("Allow", allowed))
	req.AppendHeader(sip.NewHeader("User-Agent", r.s.cfg.UserAgent))
	r.s.toTrunk(req, t, dest)
	return req
}

// granted is the expiry in a 2xx: our Contact's expires parameter, else
// the Expires header, else what we asked for.
func (r *registration) granted(res *sip.Response, asked time.Duration) time.Duration {
	r.mu.Lock()
	ours := r.contact
	r.mu.Unlock()
	secs := -1
	for _, h := range res.GetHeaders("Contact") {
		ct, ok := h.(*sip.ContactHeader)
		if !ok || ct.Address.User != ours.User || ct.Address.Port != ours.Port {
			continue
		}
		if v, ok := ct.Params.Get("expires"); ok {
			if n, err := strconv.Atoi(v); err == nil {
				secs = n
			}
		}
	}
	if secs < 0 {
		if h := res.GetHeader("Expires"); h != nil {
			if n, err := strconv.Atoi(h.Value()); err == nil {
				secs = n
			}
		}
	}
	if secs <= 0 {
		return asked
	}
	return time.Duration(secs) * time.Second
}

// toTrunk sends req to the trunk's address over its transport; over UDP
// from our listening socket, so the provider sees (and answers to) the
// port we are reachable on.
func (s *Server) toTrunk(req *sip.Request, t Trunk, dest netip.AddrPort) {
	req.SetTransport(t.sipTransport())
	req.SetDestination(dest.String())
	if host, port, err := t.hostPort(); err == nil && t.Transport == TransportTLS {
		// By name, so the provider's certificate is checked against it.
		req.SetDestination(net.JoinHostPort(host, strconv.Itoa(port)))
	}
	if t.Transport == TransportUDP {
		if a, ok := s.udpLaddr(); ok {
			req.Laddr = a
		}
	}
}

// udpLaddr is the listening UDP socket's address, once sipgo serves it
// (it starts in a goroutine of New; before, a request naming it as its
// local address would make sipgo try to bind it again).
func (s *Server) udpLaddr() (sip.Addr, bool) {
	if s.udp == nil {
		return sip.Addr{}, false
	}
	ua, ok := s.udp.LocalAddr().(*net.UDPAddr)
	if !ok {
		return sip.Addr{}, false
	}
	a := sip.Addr{IP: ua.IP, Port: ua.Port}
	c, err := s.ua.TransportLayer().GetConnection("udp", a.String())
	if err != nil {
		return sip.Addr{}, false
	}
	c.TryClose() // gives back Get's reference; a listener is never closed by it
	return a, true
}
