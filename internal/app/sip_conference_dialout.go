package app

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"switchboard/internal/audio"
	"switchboard/internal/auth"
	"switchboard/internal/chat"
	"switchboard/internal/protocol"
	"switchboard/internal/signal"
	"switchboard/internal/sip"
	"switchboard/internal/sip/bridge"
	"switchboard/internal/store"
)

// A meeting's host rings a phone into the meeting (dialOut): a registered
// extension, which any host may call, or a telephone number through a
// trunk, which costs money and so needs a signed-in account allowed to call
// numbers (callerMayDialNumbers, sip.dial_prefixes). Either way the phone
// joins as a bridge.Conference once it answers. Who the host is comes from
// their signalling connection (the account session cookie of a same-origin
// page, or a join token this server minted for an account), never from the
// message.

// maxMeetingDialOuts bounds the phones a meeting's hosts have ringing or
// connected at once, so that a meeting is not turned into a dialler; and
// the numbers one account has ringing or connected across meetings.
const maxMeetingDialOuts = 5

// errMayNotDialNumbers is the refusal of a host who may not call numbers
// (a new one each time: replies set their request's id in it).
func errMayNotDialNumbers() error {
	return protocol.Errorf(protocol.CodeForbidden,
		"sign in with an account that may call telephone numbers (members, agents and admins); any host may call a registered extension")
}

// dialOutLimit counts dial-outs in progress by key: each meeting's, and
// each account's calls to numbers (whoever pays for them), so that a member
// cannot turn many meetings into a dialler either.
type dialOutLimit struct {
	mu    sync.Mutex
	calls map[string]int // key -> dial-outs ringing or connected
}

// start takes one dial-out of every key; false, taking none, when one of
// them has all of its.
func (l *dialOutLimit) start(keys ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		if l.calls[k] >= maxMeetingDialOuts {
			return false
		}
	}
	if l.calls == nil {
		l.calls = map[string]int{}
	}
	for _, k := range keys {
		l.calls[k]++
	}
	return true
}

// end gives back one dial-out of every key.
func (l *dialOutLimit) end(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		if l.calls[k]--; l.calls[k] <= 0 {
			delete(l.calls, k)
		}
	}
}

// meetingAccount names the account signed in with a meeting socket's
// upgrade request (signal.Config.SessionAccount): its session cookie, or a
// personal API token. "" for anyone else.
func (a *App) meetingAccount(r *http.Request) string {
	id, err := a.accounts.Authenticate(r)
	if err != nil {
		return ""
	}
	return id.UserID
}

// errNotCallKey refuses tokens signed by anything but the calls' key.
var errNotCallKey = errors.New("not a token of this server's own")

// tokenAccount names the account a join token was minted for by this
// server (people.go's call tokens, "user:<id>"). Tokens signed with API
// keys name whoever the key holder chose, so they name no account here.
func (a *App) tokenAccount(token string) string {
	c, err := auth.Verify(token, func(id string) ([]byte, error) {
		if id == callKeyID {
			return a.callKey, nil
		}
		return nil, errNotCallKey
	}, time.Now())
	if err != nil {
		return ""
	}
	id, _ := strings.CutPrefix(c.Identity, "user:")
	if id == c.Identity {
		return ""
	}
	return id
}

// dialOutCall is one phone a host rings into a meeting.
type dialOutCall struct {
	name   string // how the phone shows in the meeting
	dial   func(ctx context.Context) (*sip.OutCall, error)
	fork   *phoneFork    // the WebRTC offer to browser SIP clients, set by dial
	failed chan struct{} // closed when that media fails
	once   sync.Once
}

// dialOut rings a phone for a host and brings it into the meeting when it
// answers. It returns at once (after the checks); progress reports to the
// host.
func (a *App) dialOut(req signal.DialOutRequest) error {
	if a.sip == nil || a.sip.srv == nil {
		return protocol.Errorf(protocol.CodeInvalidState, "this server has no telephony (SIP is off)")
	}
	if !audio.OpusAvailable {
		return protocol.Errorf(protocol.CodeInvalidState, "%s", audio.ErrNoOpus.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r := req.Room
	log := a.log.With("room", r.ID(), "host", req.Host, "account", req.Account)
	var call *dialOutCall
	keys := []string{"room:" + r.ID()}
	if len(a.sip.srv.Bindings(req.Target)) > 0 {
		call = a.dialOutExtension(ctx, req)
	} else {
		var err error
		if call, err = a.dialOutNumber(ctx, req, log); err != nil {
			return err
		}
		keys = append(keys, "account:"+req.Account)
	}
	if !a.phones.dialing.start(keys...) {
		return protocol.Errorf(protocol.CodeRateLimited,
			"at most %d phones may be called in or ringing per meeting, and %d numbers per person: wait for one to end",
			maxMeetingDialOuts, maxMeetingDialOuts)
	}
	log = log.With("phone", call.name)
	go func() {
		defer a.phones.dialing.end(keys...)
		a.runDialOut(req, call, log)
	}()
	return nil
}

// dialOutExtension calls a registered phone. A browser SIP client (a
// binding over WebSocket) is offered WebRTC from a peer connection of ours,
// which then carries its media; other phones get plain RTP.
func (a *App) dialOutExtension(ctx context.Context, req signal.DialOutRequest) *dialOutCall {
	call := &dialOutCall{name: req.Target, failed: make(chan struct{})}
	if acct, err := a.store.SIPAccountByUsername(ctx, req.Target); err == nil && acct.DisplayName != "" {
		call.name = acct.DisplayName
	}
	from := "meeting"
	if req.Account != "" { // names the host in the call's record
		if u, err := a.store.User(ctx, req.Account); err == nil {
			from = u.Username
		}
	}
	call.dial = func(ctx context.Context) (*sip.OutCall, error) {
		dr := sip.DialRequest{Username: req.Target, FromUser: from, FromDisplay: "Meeting", OnProgress: progressRinging(req)}
		f, err := a.offerBrowsers(&dr, sip.PCMU, func() { call.once.Do(func() { close(call.failed) }) })
		if err != nil {
			return nil, err
		}
		call.fork = f
		oc, err := a.sip.srv.Dial(ctx, dr)
		if err != nil {
			f.close()
		}
		return oc, err
	}
	return call
}

// dialOutNumber checks that the host may call target as a telephone number
// and picks its trunk (sipPhones.findNumber: E.164 with
// sip.default_country_code, sip.dial_prefixes, the trunks' prefixes).
func (a *App) dialOutNumber(ctx context.Context, req signal.DialOutRequest, log *slog.Logger) (*dialOutCall, error) {
	if _, err := a.store.SIPAccountByUsername(ctx, req.Target); err == nil || !looksLikeNumber(req.Target) {
		return nil, protocol.Errorf(protocol.CodeNotFound, "no phone is registered as %q now", req.Target)
	}
	if req.Account == "" {
		log.Info("sip: dial-out to a number refused: the host is not signed in")
		return nil, errMayNotDialNumbers()
	}
	u, err := a.store.User(ctx, req.Account)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		log.Error("sip: dial-out: the host's account", "err", err)
		return nil, protocol.Errorf(protocol.CodeInternal, "request failed")
	}
	caller := chat.Identity{UserID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Role: u.Role}
	if err != nil || u.Disabled || !callerMayDialNumbers(caller) {
		log.Info("sip: dial-out to a number refused: the host's account may not call numbers", "role", u.Role)
		return nil, errMayNotDialNumbers()
	}
	ph, err := sipPhones{a}.findNumber(caller, req.Target, false)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeNotFound,
			"%q cannot be called from here: not a number this server may dial (sip.dial_prefixes), or no trunk takes it", req.Target)
	}
	if t, ok := a.sip.srv.Trunk(ph.Trunk); ok && t.MaxCalls > 0 && a.sip.srv.TrunkStatus(t.ID).ActiveCalls >= t.MaxCalls {
		log.Warn("sip: dial-out refused: the trunk is at its call limit (maxCalls)", "trunk", t.Name)
		return nil, protocol.Errorf(protocol.CodeRateLimited, "all lines to the telephone network are busy: try again later")
	}
	call := &dialOutCall{name: ph.Name, failed: make(chan struct{})}
	call.dial = func(ctx context.Context) (*sip.OutCall, error) {
		return a.sip.srv.DialTrunk(ctx, sip.TrunkDialRequest{Trunk: ph.Trunk, Number: ph.Extension, Plan: a.numberPlan(),
			FromUser: u.Username, FromDisplay: u.DisplayName, OnProgress: progressRinging(req),
			Codecs: []sip.Codec{sip.PCMU, sip.PCMA}}) // what the meeting's mixer decodes
	}
	return call, nil
}

// looksLikeNumber tells a telephone number from an extension's name, for
// the refusal's wording only (findNumber decides what is a number).
func looksLikeNumber(s string) bool {
	return strings.Trim(s, "+0123456789-()./") == "" && strings.ContainsAny(s, "0123456789")
}

// progressRinging tells the host when the phone rings.
func progressRinging(req signal.DialOutRequest) func(int) {
	return func(status int) {
		if status == 180 || status == 183 {
			req.Progress(&protocol.DialProgress{Target: req.Target, State: protocol.DialRinging})
		}
	}
}

// runDialOut places the call and puts the phone in the meeting until one
// of them ends.
func (a *App) runDialOut(req signal.DialOutRequest, call *dialOutCall, log *slog.Logger) {
	r := req.Room
	send := func(state, reason, participant string) {
		req.Progress(&protocol.DialProgress{Target: req.Target, State: state, Reason: reason, Participant: participant})
	}
	ctx, cancel := context.WithTimeout(context.Background(), dialOutRingTO)
	defer cancel()
	go func() { // the meeting ending while the phone rings cancels the call
		select {
		case <-r.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	oc, err := call.dial(ctx)
	if err != nil {
		reason := dialFailure(err)
		log.Info("sip: dial-out from a meeting failed", "reason", reason, "err", err)
		send(protocol.DialFailed, reason, "")
		return
	}
	defer call.fork.close() // nil for a number
	media, dtmf := call.fork.media(oc)
	conf, err := bridge.NewConference(media, oc.Codec, dtmf, bridge.ConferenceOptions{
		Metrics: a.media, Stats: &a.phones.ConferenceStats, Logger: a.log, OnClose: func(string) { oc.Hangup() }})
	if err == nil {
		if err = conf.Join(r, call.name, true); err != nil { // a host's own call
			conf.Leave("failed")
		}
	}
	if err != nil {
		reason := "failed"
		if errors.Is(err, bridge.ErrConferenceCodec) {
			reason = "codec"
		}
		log.Error("sip: the dialled phone could not join the meeting", "codec", oc.Codec.Name, "err", err)
		oc.Hangup()
		send(protocol.DialFailed, reason, "")
		return
	}
	log.Info("sip: dialled phone joined the meeting", "participant", conf.ID(), "codec", oc.Codec.Name, "trunk", oc.Trunk)
	send(protocol.DialAnswered, "", conf.ID())
	select {
	case <-oc.Done():
	case <-call.failed:
		log.Info("sip: the dialled browser phone's media failed")
		oc.Hangup()
	}
	conf.Leave("hangup")
	send(protocol.DialEnded, "", conf.ID())
}

// dialFailure is the dial-progress reason of a call that was not answered.
func dialFailure(err error) string {
	var de *sip.DialError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, sip.ErrDialCancelled):
		return "no-answer"
	case errors.Is(err, sip.ErrNotRegistered):
		return "not-registered"
	case errors.Is(err, sip.ErrTrunkBusy):
		return "lines-busy"
	case errors.As(err, &de) && (de.Status == 486 || de.Status == 600):
		return "busy"
	case errors.As(err, &de) && de.Status == 603:
		return "declined"
	case errors.As(err, &de) && (de.Status == 404 || de.Status == 484):
		return "no-such-number"
	case errors.As(err, &de) && (de.Status == 480 || de.Status == 408 || de.Status == 487):
		return "no-answer"
	}
	return "failed"
}
