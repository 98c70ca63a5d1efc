package sip

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Forking: a call to an account rings every live binding at once (a desk
// phone and a softphone on one account), as a registrar's proxy does
// (RFC 3261 section 16). Each binding is a branch: its own INVITE (its own
// Call-ID and From tag: we are a back-to-back agent, not a proxy), run by
// runBranch in a goroutine of its own. The first 2xx wins (claim); the
// other branches get CANCEL with Reason "Call completed elsewhere", and a
// 2xx that arrives on another branch after the winner is acknowledged and
// hung up at once. A 6xx ends every branch. When every branch fails, the
// best final status (bestStatus, RFC 3261 16.7) is the call's. A call
// through a trunk is a fork of one branch.

// reasonElsewhere is the Reason of the CANCELs to the branches that lost
// (RFC 3326; the "completed elsewhere" phones show no missed call for).
const reasonElsewhere = `SIP;cause=200;text="Call completed elsewhere"`

// branch is one INVITE of a call out.
type branch struct {
	id     string // the INVITE's Call-ID (read here, never from req, which runBranch may change)
	o      outgoing
	req    *sip.Request
	webrtc bool // offered DialRequest.WebRTCOffer (a binding over WebSocket)
	// stop asks runBranch to CANCEL; stopReason is its Reason header.
	stop       chan struct{}
	stopOnce   sync.Once
	stopReason string
}

func (b *branch) cancel(reason string) {
	b.stopOnce.Do(func() {
		b.stopReason = reason
		close(b.stop)
	})
}

// forkEvent is a response of a branch, or its end without one (err).
type forkEvent struct {
	b   *branch
	res *sip.Response
	tx  sip.ClientTransaction // the INVITE's transaction, for a 2xx
	err error
	bad error // the branch answered 2xx with media we cannot take (it is hung up): a 488
}

// fork is what the branches of one call share.
type fork struct {
	mu     sync.Mutex
	winner *branch
	over   bool // decided: won, cancelled or failed; later 2xx lose
	events chan forkEvent
	done   chan struct{} // closed when dial stops reading events
	// check tells why a branch's 2xx is unusable (nil when usable); such a
	// 2xx does not win, so the other phones ring on.
	check func(*branch, *sip.Response) error
}

// claim makes b the winner unless the call is already decided.
func (f *fork) claim(b *branch) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.over {
		return false
	}
	f.over, f.winner = true, b
	return true
}

// decide ends the fork without a winner (cancelled, or a 6xx); it reports
// false when a branch has already won.
func (f *fork) decide() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.winner != nil {
		return false
	}
	f.over = true
	return true
}

func (f *fork) send(ev forkEvent) {
	select {
	case f.events <- ev:
	case <-f.done:
	}
}

// runBranch sends the branch's INVITE and reports its responses to f until
// a final one. A branch told to stop sends CANCEL once it has had a
// provisional response (RFC 3261 section 9.1); a 2xx that loses the race
// is acknowledged and hung up here. sipgo stops Timer B at the first
// provisional response, so runBranch bounds the rest itself: a branch
// rings at most s.ringLimit (then CANCEL, and it counts as 408), and after
// its CANCEL waits at most s.cancelWait for the final response (a phone
// that vanished or answered the CANCEL 481 sends none).
func (s *Server) runBranch(f *fork, b *branch) {
	s.liveBranches.Add(1)
	defer s.liveBranches.Add(-1)
	tx, err := s.client.TransactionRequest(context.Background(), b.req)
	if err != nil {
		f.send(forkEvent{b: b, err: err})
		return
	}
	provisional, cancelled, timedOut, authTries := false, false, false, 0
	stop := b.stop
	ring := time.NewTimer(s.ringLimit)
	defer ring.Stop()
	var afterCancel <-chan time.Time
	cancel := func(reason string) {
		cancelled = true
		s.spawn(func() { s.sendCancel(b.req, reason) })
		afterCancel = time.After(s.cancelWait)
	}
	for {
		select {
		case res := <-tx.Responses():
			switch {
			case res.IsProvisional():
				provisional = true
				if res.StatusCode > 100 && !cancelled {
					f.send(forkEvent{b: b, res: res})
				}
				if stop == nil && !cancelled {
					cancel(b.stopReason)
				}
				continue
			case res.IsSuccess():
				if err := f.check(b, res); err != nil {
					s.log.Info("sip: a branch answered with media we cannot take: hanging it up", "call", b.id, "err", err)
					f.send(forkEvent{b: b, res: res, bad: err})
					s.ackAndBye(b, res, tx)
					return
				}
				if f.claim(b) {
					// dial takes it from here; the transaction stays to
					// see 2xx retransmissions (its ACKs are the dialog's).
					f.send(forkEvent{b: b, res: res, tx: tx})
					return
				}
				s.log.Info("sip: a branch answered after the call was decided: hanging it up", "call", b.id)
				s.ackAndBye(b, res, tx)
				return
			case (res.StatusCode == 401 || res.StatusCode == 407) && b.o.auth.Password != "" && authTries < 2 &&
				stop != nil && !cancelled: // once told to stop, a challenge is final: no new INVITE
				authTries++
				// The challenge's transaction ends by itself (Timer D re-ACKs
				// a retransmitted challenge meanwhile).
				tx, err = s.client.TransactionDigestAuth(context.Background(), b.req, res,
					sipgo.DigestAuth{Username: b.o.auth.Username, Password: b.o.auth.Password})
				if err != nil {
					f.send(forkEvent{b: b, err: err})
					return
				}
				provisional = false
				continue
			}
			// A final refusal: sipgo has ACKed it, and its Timer D (32 s
			// over UDP) ACKs retransmissions of it, so the transaction is
			// left to end by itself.
			if timedOut {
				f.send(forkEvent{b: b, err: errRingLimit})
				return
			}
			f.send(forkEvent{b: b, res: res})
			return
		case <-stop:
			stop = nil
			if provisional && !cancelled {
				cancel(b.stopReason)
			}
		case <-ring.C:
			timedOut = true
			s.log.Info("sip: a branch rang too long: cancelling it", "call", b.id, "limit", s.ringLimit)
			if !provisional { // as if it had answered 408 (RFC 3261 16.8)
				tx.Terminate()
				f.send(forkEvent{b: b, err: errRingLimit})
				return
			}
			if !cancelled {
				cancel("")
			}
		case <-afterCancel:
			s.log.Info("sip: a branch sent no final response after our CANCEL: dropping it", "call", b.id)
			tx.Terminate()
			f.send(forkEvent{b: b, err: errors.New("sip: no final response after CANCEL")})
			return
		case <-tx.Done():
			f.send(forkEvent{b: b, err: errors.Join(errors.New("sip: no final response"), tx.Err())})
			return
		}
	}
}

// errRingLimit ends a branch that rang longer than Server.ringLimit.
var errRingLimit = errors.New("sip: the phone rang too long without answering")

// sendCancel cancels the INVITE inv (RFC 3261 section 9.1): the same
// Request-URI, top Via, From, To, Call-ID and CSeq number; reason, when
// set, goes in a Reason header (RFC 3326).
func (s *Server) sendCancel(inv *sip.Request, reason string) {
	c := sip.NewRequest(sip.CANCEL, inv.Recipient)
	c.AppendHeader(sip.HeaderClone(inv.Via()))
	c.AppendHeader(sip.HeaderClone(inv.From()))
	c.AppendHeader(sip.HeaderClone(inv.To()))
	c.AppendHeader(sip.HeaderClone(inv.CallID()))
	c.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	c.AppendHeader(sip.NewHeader("Max-Forwards", "70"))
	sip.CopyHeaders("Route", inv, c)
	if reason != "" {
		c.AppendHeader(sip.NewHeader("Reason", reason))
	}
	c.SetTransport(inv.Transport())
	c.SetDestination(inv.Destination())
	c.SetSource(inv.Source())
	c.Laddr = inv.Laddr
	ctx, cancel := s.requestContext(32 * sip.T1)
	defer cancel()
	// Keep our Via (the one option leaves the request as it is).
	tx, err := s.client.TransactionRequest(ctx, c, func(*sipgo.Client, *sip.Request) error { return nil })
	if err != nil {
		s.log.Debug("sip: CANCEL failed", "err", err)
		return
	}
	defer tx.Terminate()
	select {
	case <-tx.Responses():
	case <-tx.Done():
	case <-ctx.Done():
	}
}

// setBranchDialog gives d the identity of the dialog a 2xx to b's INVITE
// made: we are its From side; requests go to the phone's Contact, sent the
// way the INVITE went, or through the proxies that Record-Routed it.
func setBranchDialog(d *dialog, b *branch, res *sip.Response) {
	from := b.req.From()
	d.local = from.Address
	d.localTag, _ = from.Params.Get("tag")
	d.remote = res.To().Address
	d.remoteTag, _ = res.To().Params.Get("tag")
	d.target = b.req.Recipient
	if ct := res.Contact(); ct != nil {
		d.target = ct.Address
	}
	d.dest, d.transport, d.contact = b.o.dest, b.o.transport, b.o.contact
	d.routes = routeSet(res, true)
	d.cseq = b.req.CSeq().SeqNo
}

// ackAndBye confirms a dialog we do not want (a 2xx after another branch
// won, or after the call was cancelled) and ends it at once.
func (s *Server) ackAndBye(b *branch, res *sip.Response, tx sip.ClientTransaction) {
	d := &dialog{s: s, callID: b.id}
	setBranchDialog(d, b, res)
	inviteSeq := d.cseq
	d.sendAck(inviteSeq)
	tx.OnRetransmission(func(r *sip.Response) {
		if r.IsSuccess() {
			d.sendAck(inviteSeq)
		}
	})
	bye, _ := d.newRequest(sip.BYE)
	ctx, cancel := s.requestContext(10 * time.Second)
	defer cancel()
	if _, err := d.do(ctx, bye, nil); err != nil {
		s.log.Info("sip: BYE to a late branch got no answer", "call", d.callID, "err", err)
	}
}

// bestStatus picks the final status of a fork whose branches all failed
// (RFC 3261 section 16.7 step 6): a 6xx, else the lowest class, where
// among 4xx a 486 Busy Here is preferred (one busy phone makes the
// account busy), and a branch's own refusal over a timeout (408) or 487.
func bestStatus(statuses []int) int {
	best := 0
	rank := func(st int) int {
		switch {
		case st >= 600:
			return 0
		case st == 486:
			return 1
		case st >= 300 && st < 400:
			return 2
		case st == 408 || st == 487:
			return 4
		case st >= 400 && st < 500:
			return 3
		}
		return 5 // 5xx
	}
	for _, st := range statuses {
		if best == 0 || rank(st) < rank(best) {
			best = st
		}
	}
	if best == 0 {
		return 408
	}
	return best
}
