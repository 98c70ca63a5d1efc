package app

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/internal/account"
	"switchboard/internal/chat"
	"switchboard/internal/room"
	"switchboard/internal/sip"
	"switchboard/internal/sip/bridge"
	"switchboard/internal/store"
)

// The SIP server's wiring: config -> sip.Config, start and stop, metrics,
// SIP over WebSocket on the HTTP server, and the admins' API for SIP
// accounts (docs/api.md, "Telephony").

// sipGateway is the running SIP side; nil fields when SIP is off.
type sipGateway struct {
	srv     *sip.Server
	metrics *sip.Metrics
	stop    chan struct{}
	done    chan struct{}

	trunksMu sync.Mutex // serializes loadSIPTrunks (sip_trunks.go)
}

// startSIP starts the SIP server when it is enabled. tlsConf is the web
// server's TLS configuration (nil without a certificate); SIP over TLS
// shares its certificate.
func (a *App) startSIP(tlsConf *tls.Config, loopback bool) error {
	a.sip = &sipGateway{}
	c := a.cfg.SIP
	if !c.Enabled {
		return nil
	}
	m := &sip.Metrics{}
	sc := sip.Config{
		UDPAddr: c.UDP, TCPAddr: c.TCP,
		Realm: a.cfg.SIPRealm(), Accounts: a.store,
		DigestAlgorithms: c.DigestAlgorithms,
		MinExpires:       c.MinExpires, MaxExpires: c.MaxExpires, DefaultExpires: c.DefaultExpires,
		MaxBindings: c.MaxBindings, MaxMessageSize: int(c.MaxMessageSize), MaxCalls: c.MaxCalls,
		MediaTimeout: offIfZero(c.MediaTimeout), SessionExpires: offIfZero(c.SessionExpires), MinSessionExpires: c.MinSessionExpires,
		RequestsPerSecond: c.RequestsPerSecond, MaxConnsPerSource: c.MaxConnsPerSource,
		AuthFailuresPerIP: c.AuthFailuresPerIP, AuthFailuresPerUser: c.AuthFailuresPerUser,
		FailureWindow: c.FailureWindow, BlockTime: c.BlockTime, UserLockTime: c.UserLockTime,
		// The HTTP server has already replaced RemoteAddr by the client's
		// address when the request came through a trusted proxy.
		WebSocketClientAddr: func(r *http.Request) (netip.Addr, bool) {
			ap, err := netip.ParseAddrPort(r.RemoteAddr)
			return ap.Addr(), err == nil
		},
		OnCall: a.routeSIPCall,
		Logger: a.log, Metrics: m,
		// Call detail records (sip_records.go).
		OnRecord: a.saveCallRecord,
	}
	sc.RTPPortMin, sc.RTPPortMax, _ = c.RTPPortRange() // checked by Validate
	mediaIP := firstNonEmpty(c.ExternalIP, a.cfg.PublicIP)
	if loopback {
		mediaIP, sc.RTPBindAddr = "127.0.0.1", "127.0.0.1:0"
	}
	if ip, err := netip.ParseAddr(mediaIP); err == nil {
		sc.MediaIP = ip
	}
	if c.TLS != "" {
		if tlsConf != nil {
			tc := tlsConf.Clone()
			tc.NextProtos = nil // not HTTP
			sc.TLSAddr, sc.TLSConfig = c.TLS, tc
		} else {
			a.log.Info("sip: no TLS listener: the server has no certificate (configure tls cert/key, acme_domain or self_signed)",
				"sip_tls", c.TLS)
		}
	}
	a.registerCallRecordMetrics() // before any call can end: saveCallRecord reads them unlocked
	srv, err := sip.New(sc)
	if err != nil {
		return fmt.Errorf("%w (the SIP server is on: set different sip addresses, or sip.enabled = false / --sip=false)", err)
	}
	a.sip = &sipGateway{srv: srv, metrics: m, stop: make(chan struct{}), done: make(chan struct{})}
	a.registerSIPMetrics(srv, m)
	if err := a.loadSIPTrunks(context.Background()); err != nil { // sip_trunks.go
		a.log.Error("sip: loading trunks", "err", err)
	}
	go a.sipAccountWatch()
	return nil
}

// SIPAddrs are the SIP server's listening addresses (zero when SIP is off).
func (a *App) SIPAddrs() sip.Addrs {
	if a.sip == nil || a.sip.srv == nil {
		return sip.Addrs{}
	}
	return a.sip.srv.Addrs()
}

// SIPBindings are the live registrations of a SIP account (none when SIP is off).
func (a *App) SIPBindings(username string) []sip.Binding {
	if a.sip == nil || a.sip.srv == nil {
		return nil
	}
	return a.sip.srv.Bindings(username)
}

// stopSIP closes the SIP server; safe to call when it never started.
func (a *App) stopSIP() {
	if a.sip == nil || a.sip.srv == nil {
		return
	}
	select {
	case <-a.sip.stop:
	default:
		close(a.sip.stop)
		<-a.sip.done
	}
	a.sip.srv.Close()
	// Closing ended every call: their records go to the store before it
	// closes (closeAll closes it last), within reason.
	flushed := make(chan struct{})
	go func() {
		a.waitCallRecords()
		close(flushed)
	}()
	select {
	case <-flushed:
	case <-time.After(10 * time.Second):
		a.log.Warn("sip: shutting down before every call record was stored")
	}
}

// sipAccountWatch drops the bindings of accounts that were deleted or
// disabled elsewhere (the command line, another server on the database):
// the REST API does it at once, this within a minute.
func (a *App) sipAccountWatch() {
	defer close(a.sip.done)
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-a.sip.stop:
			return
		case <-t.C:
		}
		for _, u := range a.sip.srv.RegisteredUsernames() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			acct, err := a.store.SIPAccountByUsername(ctx, u)
			cancel()
			if errors.Is(err, store.ErrNotFound) || (err == nil && !acct.Enabled) {
				a.sip.srv.Unregister(u)
			}
		}
	}
}

// routeSIPCall decides where a call from a phone goes. Its Request-URI
// names a user (by username) or an extension (the username of a SIP
// account linked to a user). That user's browsers ring through messaging
// as for a call from the user the phone belongs to; when one answers, the
// phone joins the call's room (G.711 only, passed through) as a
// participant, and the browser joins it with the meetings protocol.
func (a *App) routeSIPCall(c *sip.Call) {
	if c.Trunk != "" {
		a.routeTrunkCall(c) // by the number dialled (sip_trunks.go)
		return
	}
	if c.Target == a.cfg.SIP.ConferenceExtension && c.Target != "" {
		a.routeConference(c) // a meeting by its PIN (sip_conference.go)
		return
	}
	if a.routePhoneToPhone(c) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	user, how, err := a.sipTarget(ctx, c.Target)
	to := c.Target
	if len(to) > 64 {
		to = to[:64] // the phone chose it
	}
	log := a.log.With("call_from", c.From.Username, "to", to)
	if refuseTarget(c, log, user, err, "sip: call refused: no user or extension matches") {
		return
	}
	switch {
	case c.From.UserID == "":
		log.Info("sip: call refused: the calling phone's SIP account is not linked to a user, and only users can ring browsers",
			"user", user.Username)
		c.Reject(480, "Temporarily Unavailable")
		return
	case c.From.UserID == user.ID:
		log.Info("sip: call refused: a phone calling its own user", "user", user.Username)
		c.Reject(486, "Busy Here")
		return
	}
	caller, err := a.store.User(ctx, c.From.UserID)
	if err != nil {
		log.Error("sip: call routing: the calling phone's user", "err", err)
		c.Reject(500, "Server Internal Error")
		return
	}
	a.connectPhoneCall(c, log.With("user", user.Username, "matched", how),
		firstNonEmpty(c.From.DisplayName, caller.DisplayName, c.From.Username),
		chat.Identity{UserID: user.ID, Username: user.Username, DisplayName: user.DisplayName, Role: user.Role},
		func(ctx context.Context, room string, onAnswer func(), onEnd func(string)) (string, error) {
			return a.chat.CallFromPhone(ctx, chat.PhoneCall{Caller: chat.Identity{UserID: caller.ID, Username: caller.Username,
				DisplayName: caller.DisplayName, Role: caller.Role}, Callee: user.ID, Room: room, OnAnswer: onAnswer, OnEnd: onEnd,
				Extension: c.From.Username, Name: c.From.DisplayName})
		})
}

// connectSIPCall connects a routed call from a phone or a trunk to a
// user's browsers: it makes the call's room (G.711, two people), rings
// through messaging with ring, answers the phone and bridges it into the
// room when a browser answers, and ends either side with the other.
// callerName is how the phone shows in the room.
func (a *App) connectSIPCall(c *sip.Call, log *slog.Logger, callerName string,
	ring func(ctx context.Context, room string, onAnswer func(), onEnd func(reason string)) (string, error)) {
	a.connectPhoneCall(c, log, callerName, chat.Identity{}, ring)
}

// connectPhoneCall is connectSIPCall for a call to user callee, in whose
// name the phone's own transfers ring their target (sip_refer.go). The
// phone's side of the call is a phoneSide (sip_leg.go): its transfer may
// swap in another leg, and the call ends with the last leg.
func (a *App) connectPhoneCall(c *sip.Call, log *slog.Logger, callerName string, callee chat.Identity,
	ring func(ctx context.Context, room string, onAnswer func(), onEnd func(reason string)) (string, error)) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := a.registry.Create(ctx, room.Settings{AudioCodec: roomCodec(c.Codec), MaxParticipants: 2})
	if err != nil {
		log.Error("sip: call room", "err", err)
		c.Reject(500, "Server Internal Error")
		return
	}
	log = log.With("room", r.ID())
	var chatCall atomicString
	side := a.newPhoneSide(r, &chatCall, callee, c.Codec,
		phoneLeg{leg: c, trunk: c.Trunk, owner: c.From.UserID, ext: c.From.Username, name: callerName})
	idKnown := make(chan struct{}) // closed once ring returned (the call's id is stored)
	answered := func() {
		// A browser may answer before ring has returned the call's id, which
		// the controls are given under.
		<-idKnown
		rs, err := a.answerSIP(c)
		if err != nil {
			log.Info("sip: call could not be answered", "err", err)
			return
		}
		dtmf := -1
		if c.Offer.HasDTMF {
			dtmf = int(c.Offer.DTMF)
		}
		p, err := bridge.Join(r, rs, c.Codec, dtmf, callerName, a.media, a.log, func(reason string) { c.Hangup() })
		if err != nil {
			log.Error("sip: call could not join its room", "err", err)
			c.Hangup()
			return
		}
		// The user who answered may hold and transfer the phone, and the
		// phone may transfer the call.
		side.answered(p)
	}
	ended := func(reason string) {
		switch reason {
		case chat.PhoneDeclined, chat.PhoneBusy:
			log.Info("sip: call refused: the user declined or is busy", "reason", reason)
			c.Reject(486, "Busy Here")
		case chat.PhoneNoAnswer:
			log.Info("sip: call refused: nobody answered")
			c.Reject(480, "Temporarily Unavailable")
		}
		if !side.close(hangupLeg) { // BYE when answered, 480 when still ringing
			return // transferred by the server: the room goes on (sip_transfer.go)
		}
		// The call's room ends with it (the browser was told by messaging).
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.registry.Delete(dctx, r.ID())
	}
	c.Ringing()
	id, err := ring(ctx, r.ID(), func() { go answered() }, func(reason string) { go ended(reason) })
	chatCall.Store(id)
	close(idKnown)
	if err != nil {
		log.Error("sip: call could not ring", "err", err)
		c.Reject(500, "Server Internal Error")
		a.registry.Delete(context.Background(), r.ID())
		return
	}
	log.Info("sip: ringing the user's browsers", "chat_call", id)
	// The phone hanging up (CANCEL before an answer, BYE after) ends the
	// call for the browsers too; after a transfer, the phone that took
	// it over does.
	a.phoneEnded(id, side.wait())
}

// sipTarget finds the user a call is for: by username, or by an extension
// (a SIP account linked to a user). ErrNotFound when nothing matches.
func (a *App) sipTarget(ctx context.Context, target string) (store.User, string, error) {
	u, err := a.store.UserByUsername(ctx, strings.ToLower(target)) // usernames are lowercase; extensions are not
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		return u, "username", err
	}
	acct, err := a.store.SIPAccountByUsername(ctx, target)
	if err != nil {
		return store.User{}, "", err
	}
	if acct.UserID == "" || !acct.Enabled {
		return store.User{}, "", store.ErrNotFound
	}
	u, err = a.store.User(ctx, acct.UserID)
	return u, "extension", err
}

func (a *App) registerSIPMetrics(srv *sip.Server, m *sip.Metrics) {
	counter := func(name, help string, read func() uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(read()) })
	}
	a.metrics.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "switchboard_sip_registrations", Help: "Live SIP registrations (bindings)."},
			func() float64 { return float64(srv.BindingCount()) }),
		counter("switchboard_sip_requests_total", "SIP requests that reached a handler.", m.Requests.Load),
		counter("switchboard_sip_registers_total", "Successful SIP REGISTERs (new, refreshed or removed bindings).", m.Registrations.Load),
		counter("switchboard_sip_challenges_total", "SIP 401 challenges sent (every client is challenged first).", m.Challenges.Load),
		counter("switchboard_sip_auth_failures_total", "Failed SIP authentications: wrong, forged or malformed credentials, unknown or disabled accounts.", m.AuthFailures.Load),
		counter("switchboard_sip_sources_blocked_total", "Times a source address was blocked after failed SIP authentications.", m.SourcesBlocked.Load),
		counter("switchboard_sip_users_locked_total", "Times a SIP username was locked after failed authentications from anywhere.", m.UsersLocked.Load),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "switchboard_sip_calls", Help: "Calls from phones now (ringing or answered)."},
			func() float64 { return float64(srv.ActiveCalls()) }),
		counter("switchboard_sip_calls_answered_total", "Calls from phones answered.", m.CallsAnswered.Load),
		counter("switchboard_sip_rtp_packets_in_total", "RTP packets received from phones in calls.", m.RTPIn.Load),
		counter("switchboard_sip_rtp_packets_out_total", "RTP packets sent to phones in calls.", m.RTPOut.Load),
		counter("switchboard_sip_dtmf_keys_in_total", "Key presses (RFC 4733 telephone-events) from phones, passed on to browsers.", m.KeysIn.Load),
		counter("switchboard_sip_dtmf_keys_out_total", "Key presses (RFC 4733 telephone-events) from browsers sent to phones.", m.KeysOut.Load),
		counter("switchboard_sip_dropped_total", "SIP messages dropped: blocked source, over the rate limit, or too large.", m.Dropped.Load),
	)
}

// sipRoutes mounts SIP over WebSocket and the admins' API.
//
//	GET    /sip                               SIP over WebSocket (RFC 7118), subprotocol "sip"; when SIP is on
//	GET    /api/v1/sip                        {"enabled","realm","registrations"}
//	GET    /api/v1/sip/accounts               {"accounts":[account...]}
//	POST   /api/v1/sip/accounts               {"username","displayName","userId","enabled","password"}; 201 account (+"password" when generated)
//	GET    /api/v1/sip/accounts/{id}          account with its registrations
//	PATCH  /api/v1/sip/accounts/{id}          {"displayName","userId","enabled"}; 200 account
//	DELETE /api/v1/sip/accounts/{id}          204
//	POST   /api/v1/sip/accounts/{id}/password {"password"} or {}; 200 account (+"password" when generated)
//	DELETE /api/v1/sip/blocks/{ip}            204, or 404 when the address is not blocked
func (a *App) sipRoutes(mux *http.ServeMux) {
	if a.sip != nil && a.sip.srv != nil {
		mux.Handle("GET /sip", a.sip.srv.WebSocketHandler())
	}
	admin := a.adminAPI("only admins manage SIP accounts")
	mux.HandleFunc("GET /api/v1/sip", admin(a.sipStatus))
	mux.HandleFunc("GET /api/v1/sip/accounts", admin(a.sipAccountList))
	mux.HandleFunc("POST /api/v1/sip/accounts", admin(a.sipAccountCreate))
	mux.HandleFunc("GET /api/v1/sip/accounts/{id}", admin(a.sipAccountGet))
	mux.HandleFunc("PATCH /api/v1/sip/accounts/{id}", admin(a.sipAccountUpdate))
	mux.HandleFunc("DELETE /api/v1/sip/accounts/{id}", admin(a.sipAccountDelete))
	mux.HandleFunc("POST /api/v1/sip/accounts/{id}/password", admin(a.sipAccountPassword))
	mux.HandleFunc("DELETE /api/v1/sip/blocks/{ip}", admin(a.sipUnblock))
	a.sipRecordRoutes(mux)
	a.sipTrunkRoutes(mux) // sip_trunks.go
}

// adminAPI wraps handlers of the admins' API: a signed-in admin passes,
// anyone else gets 401 or 403 with forbidden.
func (a *App) adminAPI(forbidden string) func(h func(w http.ResponseWriter, r *http.Request, me account.Identity)) http.HandlerFunc {
	return func(h func(w http.ResponseWriter, r *http.Request, me account.Identity)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			me, ok := a.whoIs(w, r)
			if !ok {
				return
			}
			if !me.IsAdmin() {
				apiError(w, http.StatusForbidden, "forbidden", forbidden)
				return
			}
			h(w, r, me)
		}
	}
}

// sipAccountJSON is a SIP account as the API shows it: never its hashes.
type sipAccountJSON struct {
	ID          string `json:"id"`
	Username    string `json:"username"`
	DisplayName string `json:"displayName"`
	UserID      string `json:"userId"`
	Enabled     bool   `json:"enabled"`
	// MediaEncryption is what our calls to its phones offer: none or sdes.
	MediaEncryption string `json:"mediaEncryption"`
	// NeedsPassword: the stored hashes were made for another realm, so the
	// phone cannot register until a new password is set.
	NeedsPassword bool             `json:"needsPassword"`
	Registrations []sipBindingJSON `json:"registrations"`
	CreatedAt     time.Time        `json:"createdAt"`
	UpdatedAt     time.Time        `json:"updatedAt"`
	Password      string           `json:"password,omitempty"` // only when generated, once
}

type sipBindingJSON struct {
	Contact   string    `json:"contact"`
	Transport string    `json:"transport"`
	Source    string    `json:"source"`
	UserAgent string    `json:"userAgent"`
	Expires   time.Time `json:"expires"`
}

func (a *App) sipAccountJSON(acct store.SIPAccount) sipAccountJSON {
	out := sipAccountJSON{ID: acct.ID, Username: acct.Username, DisplayName: acct.DisplayName, UserID: acct.UserID,
		Enabled: acct.Enabled, MediaEncryption: acct.MediaEncryption, NeedsPassword: acct.Realm != a.cfg.SIPRealm(), Registrations: []sipBindingJSON{},
		CreatedAt: acct.CreatedAt, UpdatedAt: acct.UpdatedAt}
	if a.sip.srv != nil {
		for _, b := range a.sip.srv.Bindings(acct.Username) {
			out.Registrations = append(out.Registrations, sipBindingJSON{Contact: b.Contact, Transport: b.Transport,
				Source: b.Source, UserAgent: b.UserAgent, Expires: b.Expires})
		}
	}
	return out
}

func (a *App) sipStatus(w http.ResponseWriter, r *http.Request, _ account.Identity) {
	n := 0
	if a.sip.srv != nil {
		n = a.sip.srv.BindingCount()
	}
	apiJSON(w, http.StatusOK, map[string]any{"enabled": a.sip.srv != nil, "realm": a.cfg.SIPRealm(), "registrations": n})
}

func (a *App) sipAccountList(w http.ResponseWriter, r *http.Request, _ account.Identity) {
	list, err := a.store.SIPAccounts(r.Context())
	apiList(a, w, "accounts", list, err, a.sipAccountJSON)
}

// apiList answers {key: [...]} with each of list shown by show, or 500
// when reading the list failed.
func apiList[T, J any](a *App, w http.ResponseWriter, key string, list []T, err error, show func(T) J) {
	if err != nil {
		a.log.Error("api: list "+key, "err", err)
		apiError(w, http.StatusInternalServerError, "internal", "request failed")
		return
	}
	out := make([]J, 0, len(list))
	for _, v := range list {
		out = append(out, show(v))
	}
	apiJSON(w, http.StatusOK, map[string]any{key: out})
}

func (a *App) sipAccountCreate(w http.ResponseWriter, r *http.Request, me account.Identity) {
	var in struct {
		Username    string  `json:"username"`
		DisplayName string  `json:"displayName"`
		UserID      string  `json:"userId"`
		Enabled     *bool   `json:"enabled"`
		Password    *string `json:"password"`
		MediaEnc    string  `json:"mediaEncryption"`
	}
	if !apiDecode(w, r, &in) {
		return
	}
	if err := sip.CheckMediaEncryption(in.MediaEnc); err != nil {
		apiError(w, http.StatusBadRequest, "bad_request", invalidMessage(err))
		return
	}
	pw, generated := sip.GeneratePassword(), true
	if in.Password != nil {
		pw, generated = *in.Password, false
	}
	acct, err := sip.NewAccount(in.Username, in.DisplayName, in.UserID, a.cfg.SIPRealm(), pw, in.Enabled == nil || *in.Enabled)
	if err != nil {
		apiError(w, http.StatusBadRequest, "bad_request", invalidMessage(err))
		return
	}
	acct.MediaEncryption = in.MediaEnc
	acct, err = a.store.CreateSIPAccount(r.Context(), acct)
	switch {
	case errors.Is(err, store.ErrExists):
		apiError(w, http.StatusConflict, "conflict", fmt.Sprintf("there is already a SIP account %q", in.Username))
		return
	case errors.Is(err, store.ErrNoSuchUser):
		apiError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("userId %q names no user", in.UserID))
		return
	case err != nil:
		a.sipInternal(w, "create", err)
		return
	}
	a.log.Info("sip: account created", "username", acct.Username, "by", me.Username)
	out := a.sipAccountJSON(acct)
	if generated {
		out.Password = pw
	}
	apiJSON(w, http.StatusCreated, out)
}

// sipAccountByPath finds the account named by the path's id, answering 404 when there is none.
func (a *App) sipAccountByPath(w http.ResponseWriter, r *http.Request) (store.SIPAccount, bool) {
	acct, err := a.store.SIPAccount(r.Context(), r.PathValue("id"))
	return found(a, w, acct, err, "no such SIP account", "sip: account get")
}

// found answers a lookup named by a request's path: 404 with notFound when
// there is no such thing, 500 (logged as what) when the lookup failed.
func found[T any](a *App, w http.ResponseWriter, v T, err error, notFound, what string) (T, bool) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		apiError(w, http.StatusNotFound, "not_found", notFound)
		return v, false
	case err != nil:
		a.log.Error(what, "err", err)
		apiError(w, http.StatusInternalServerError, "internal", "request failed")
		return v, false
	}
	return v, true
}

func (a *App) sipAccountGet(w http.ResponseWriter, r *http.Request, _ account.Identity) {
	if acct, ok := a.sipAccountByPath(w, r); ok {
		apiJSON(w, http.StatusOK, a.sipAccountJSON(acct))
	}
}

func (a *App) sipAccountUpdate(w http.ResponseWriter, r *http.Request, me account.Identity) {
	var in struct {
		DisplayName *string `json:"displayName"`
		UserID      *string `json:"userId"`
		Enabled     *bool   `json:"enabled"`
		MediaEnc    *string `json:"mediaEncryption"`
	}
	if !apiDecode(w, r, &in) {
		return
	}
	if in.MediaEnc != nil {
		if err := sip.CheckMediaEncryption(*in.MediaEnc); err != nil {
			apiError(w, http.StatusBadRequest, "bad_request", invalidMessage(err))
			return
		}
	}
	if in.DisplayName != nil {
		if err := sip.CheckDisplayName(*in.DisplayName); err != nil {
			apiError(w, http.StatusBadRequest, "bad_request", invalidMessage(err))
			return
		}
	}
	acct, err := a.store.UpdateSIPAccount(r.Context(), r.PathValue("id"),
		store.SIPAccountChanges{DisplayName: in.DisplayName, UserID: in.UserID, Enabled: in.Enabled, MediaEncryption: in.MediaEnc})
	switch {
	case errors.Is(err, store.ErrNotFound):
		apiError(w, http.StatusNotFound, "not_found", "no such SIP account")
		return
	case errors.Is(err, store.ErrNoSuchUser):
		apiError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("userId %q names no user", *in.UserID))
		return
	case err != nil:
		a.sipInternal(w, "update", err)
		return
	}
	if !acct.Enabled {
		a.sipUnregister(acct.Username)
	}
	a.log.Info("sip: account updated", "username", acct.Username, "enabled", acct.Enabled, "by", me.Username)
	apiJSON(w, http.StatusOK, a.sipAccountJSON(acct))
}

func (a *App) sipAccountDelete(w http.ResponseWriter, r *http.Request, me account.Identity) {
	acct, ok := a.sipAccountByPath(w, r)
	if !ok {
		return
	}
	if err := a.store.DeleteSIPAccount(r.Context(), acct.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		a.sipInternal(w, "delete", err)
		return
	}
	a.sipUnregister(acct.Username)
	a.log.Info("sip: account deleted", "username", acct.Username, "by", me.Username)
	w.WriteHeader(http.StatusNoContent)
}

// sipAccountPassword sets a new password: the one given, or a generated
// one returned once. The account's phones must register again with it.
func (a *App) sipAccountPassword(w http.ResponseWriter, r *http.Request, me account.Identity) {
	var in struct {
		Password *string `json:"password"`
	}
	if !apiDecode(w, r, &in) {
		return
	}
	acct, ok := a.sipAccountByPath(w, r)
	if !ok {
		return
	}
	pw, generated := sip.GeneratePassword(), true
	if in.Password != nil {
		pw, generated = *in.Password, false
	}
	if err := sip.CheckPassword(pw); err != nil {
		apiError(w, http.StatusBadRequest, "bad_request", invalidMessage(err))
		return
	}
	realm := a.cfg.SIPRealm()
	md5h, shah := sip.HashPassword(acct.Username, realm, pw)
	if err := a.store.SetSIPAccountSecret(r.Context(), acct.ID, realm, md5h, shah); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			apiError(w, http.StatusNotFound, "not_found", "no such SIP account")
			return
		}
		a.sipInternal(w, "password", err)
		return
	}
	a.sipUnregister(acct.Username)
	a.log.Info("sip: account password set", "username", acct.Username, "by", me.Username)
	acct.Realm = realm
	out := a.sipAccountJSON(acct)
	if generated {
		out.Password = pw
	}
	apiJSON(w, http.StatusOK, out)
}

func (a *App) sipUnblock(w http.ResponseWriter, r *http.Request, me account.Identity) {
	if a.sip.srv == nil {
		apiError(w, http.StatusConflict, "sip_off", "the SIP server is off (sip.enabled = false): nothing is blocked")
		return
	}
	ip, err := netip.ParseAddr(r.PathValue("ip"))
	if err != nil {
		apiError(w, http.StatusBadRequest, "bad_request", "give an IP address, such as 203.0.113.7 or 2001:db8::1")
		return
	}
	ip = ip.Unmap()
	if !a.sip.srv.Blocked(ip) {
		apiError(w, http.StatusNotFound, "not_found", fmt.Sprintf("%s is not blocked", ip))
		return
	}
	a.sip.srv.Unblock(ip)
	a.log.Info("sip: source unblocked", "source", ip.String(), "by", me.Username)
	w.WriteHeader(http.StatusNoContent)
}

func (a *App) sipUnregister(username string) {
	if a.sip.srv != nil {
		a.sip.srv.Unregister(username)
	}
}

func (a *App) sipInternal(w http.ResponseWriter, what string, err error) {
	a.log.Error("sip: account "+what, "err", err)
	apiError(w, http.StatusInternalServerError, "internal", "request failed")
}

// invalidMessage is an ErrInvalid error's text for the admin (several joined by "; ").
func invalidMessage(err error) string {
	msg := strings.ReplaceAll(err.Error(), sip.ErrInvalid.Error()+": ", "")
	return strings.ReplaceAll(msg, "\n", "; ")
}

// apiDecode reads one JSON object of at most 16 KiB strictly: unknown fields are refused.
func apiDecode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<10))
	if err != nil {
		apiError(w, http.StatusRequestEntityTooLarge, "too_large", "request body over 16 KiB")
		return false
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		apiError(w, http.StatusBadRequest, "bad_request", "invalid JSON body: "+err.Error())
		return false
	}
	if dec.More() {
		apiError(w, http.StatusBadRequest, "bad_request", "invalid JSON body: more than one value")
		return false
	}
	return true
}

func apiJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// apiError writes the API's one error shape, {"code","message"} (docs/api.md).
func apiError(w http.ResponseWriter, status int, code, message string) {
	apiJSON(w, status, map[string]string{"code": code, "message": message})
}

// atomicString is a string set once from one goroutine and read from others.
type atomicString struct{ v atomic.Value }

func (s *atomicString) Store(v string) { s.v.Store(v) }
func (s *atomicString) Load() string {
	v, _ := s.v.Load().(string)
	return v
}

// sipPhones lets users call registered phones (chat.Phones): messaging's
// call request with a phone target.
type sipPhones struct{ a *App }

// FindPhone resolves an extension (an enabled SIP account with a live
// registration), or else the username of a user with such an account, or
// else a telephone number (anything that reads as E.164 with
// sip.default_country_code) with a trunk to call it through.
func (p sipPhones) FindPhone(ctx context.Context, caller chat.Identity, target string, byServer bool) (chat.Phone, error) {
	a := p.a
	if a.sip == nil || a.sip.srv == nil {
		return chat.Phone{}, store.ErrNotFound
	}
	live := func(acct store.SIPAccount) bool { return acct.Enabled && len(a.sip.srv.Bindings(acct.Username)) > 0 }
	phone := func(acct store.SIPAccount) chat.Phone {
		return chat.Phone{Extension: acct.Username, User: acct.UserID, Name: firstNonEmpty(acct.DisplayName, acct.Username)}
	}
	acct, err := a.store.SIPAccountByUsername(ctx, target)
	if err == nil && live(acct) {
		return phone(acct), nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return chat.Phone{}, err
	}
	u, err := a.store.UserByUsername(ctx, strings.ToLower(target))
	if errors.Is(err, store.ErrNotFound) {
		return p.findNumber(caller, target, byServer) // a telephone number, through a trunk (sip_trunks.go)
	}
	if err != nil {
		return chat.Phone{}, err
	}
	list, err := a.store.SIPAccounts(ctx)
	if err != nil {
		return chat.Phone{}, err
	}
	for _, acct := range list {
		if acct.UserID == u.ID && live(acct) {
			ph := phone(acct)
			if acct.DisplayName == "" {
				ph.Name = firstNonEmpty(u.DisplayName, acct.Username)
			}
			return ph, nil
		}
	}
	return chat.Phone{}, store.ErrNotFound
}

// DialPhone rings the phone, or calls the number through its trunk, in the
// background. When it answers, it joins a room carrying its G.711 codec,
// and the caller's devices are sent there. From then on the phone's side
// is a phoneSide (sip_leg.go): the phone may transfer the call to another
// (sip_refer.go), and the call ends with the last leg.
func (p sipPhones) DialPhone(callID string, caller chat.Identity, ph chat.Phone) func(reason string) {
	a := p.a
	ctx, cancel := context.WithCancel(context.Background())
	log := a.log.With("chat_call", callID, "caller", caller.Username, "phone", ph.Extension)
	var (
		mu      sync.Mutex
		ended   bool
		out     *sip.OutCall
		part    *bridge.Participant
		rm      *room.Room
		side    *phoneSide
		joining sync.Mutex // one room and participant per call: early media or the answer makes them
	)
	// cleanup ends everything on our side once (either side hung up).
	cleanup := func() {
		mu.Lock()
		ended = true
		oc, pt, r, sd := out, part, rm, side
		out, part, rm = nil, nil, nil
		mu.Unlock()
		cancel()
		if sd != nil && !sd.close(hangupLeg) { // the leg now in the call, and a transfer under way
			return // transferred by the server: the room goes on (sip_transfer.go)
		}
		if oc != nil {
			oc.Hangup()
		}
		if pt != nil {
			pt.Leave("hangup")
		}
		if r != nil {
			dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
			a.registry.Delete(dctx, r.ID())
			dcancel()
		}
	}
	// join puts the phone's media in the call's room, made on first use:
	// at the phone's early media (ringback the caller hears) or its answer.
	join := func(rs bridge.Media, codec sip.Codec, dtmf int) (*room.Room, error) {
		joining.Lock()
		defer joining.Unlock()
		mu.Lock()
		r, gone := rm, ended
		mu.Unlock()
		if gone {
			return nil, sip.ErrCallEnded
		}
		if r != nil {
			return r, nil
		}
		rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, err := a.registry.Create(rctx, room.Settings{AudioCodec: roomCodec(codec), MaxParticipants: 2})
		rcancel()
		if err != nil {
			return nil, err
		}
		pt, err := bridge.Join(r, rs, codec, dtmf, ph.Name, a.media, a.log, func(string) { cleanup() })
		if err != nil {
			dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
			a.registry.Delete(dctx, r.ID())
			dcancel()
			return nil, err
		}
		mu.Lock()
		part, rm, gone = pt, r, ended
		mu.Unlock()
		if gone {
			cleanup()
			return nil, sip.ErrCallEnded
		}
		return r, nil
	}
	onEarly := func(e sip.EarlyMedia) {
		go func() {
			r, err := join(e.RTP, e.Codec, e.DTMF)
			if err == nil && a.chat.PhoneEarly(callID, r.ID()) {
				log.Info("sip: early media from the phone: the caller hears it", "room", r.ID())
			}
		}()
	}
	if ph.Trunk != "" {
		log = log.With("trunk", ph.Trunk)
	}
	go func() {
		oc, fork, err := a.dialLeg(ctx, legDial{ph: ph, from: caller, onEarly: onEarly, onFailed: cleanup})
		if err != nil {
			reason := chat.PhoneFailed
			var de *sip.DialError
			switch {
			case errors.Is(err, sip.ErrDialCancelled):
				// Ended here first (nothing to tell), or by our side giving up:
				// the early room closing, the server stopping.
				cleanup()
				a.chat.EndPhoneCallWith(callID, chat.PhoneFailed)
				return
			case errors.Is(err, sip.ErrNotRegistered):
				reason = chat.PhoneNoAnswer
			case errors.Is(err, sip.ErrTrunkBusy):
				log.Warn("sip: call out refused: the trunk is at its call limit (maxCalls)")
			case errors.As(err, &de):
				switch de.Status {
				case 486, 600:
					reason = chat.PhoneBusy
				case 603:
					reason = chat.PhoneDeclined
				case 404, 408, 480, 487:
					reason = chat.PhoneNoAnswer
				}
			}
			log.Info("sip: the phone did not answer", "reason", reason, "err", err)
			cleanup()
			a.chat.EndPhoneCallWith(callID, reason)
			return
		}
		defer fork.close() // on every way out, the hang-up racing the answer included
		go func() {
			<-oc.Done() // also when the call goes on without it (the phone transferred it)
			fork.close()
		}()
		mu.Lock()
		out = oc
		gone := ended
		mu.Unlock()
		if gone {
			cleanup()
			return
		}
		media, dtmf := fork.media(oc)
		r, err := join(media, oc.Codec, dtmf)
		if err != nil {
			log.Error("sip: the phone could not join its room", "err", err)
			cleanup()
			a.chat.EndPhoneCallWith(callID, chat.PhoneFailed)
			return
		}
		var id atomicString
		id.Store(callID)
		mu.Lock()
		pt := part
		mu.Unlock()
		sd := a.newPhoneSide(r, &id, caller, oc.Codec,
			phoneLeg{leg: oc, part: pt, trunk: oc.Trunk, owner: ph.User, ext: ph.Extension, name: ph.Name})
		mu.Lock()
		gone = ended
		if !gone {
			side, out, part = sd, nil, nil // the side has them now
		}
		mu.Unlock()
		if gone {
			cleanup()
			return
		}
		sd.answered(pt)
		if !a.chat.PhoneAnswered(callID, r.ID()) {
			cleanup()
			return
		}
		log.Info("sip: the phone answered", "room", r.ID(), "codec", oc.Codec.Name)
		// The phone hung up (BYE), or we did, or it took a transfer; after
		// its own transfer, the phone that took the call over did.
		a.phoneEnded(callID, sd.wait())
		cleanup()
	}()
	return func(reason string) { cleanup() }
}

// offIfZero maps the config's "0 = off" to sip.Config's (there 0 means the
// default and a negative value off).
func offIfZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// refuseTarget answers a call whose target user could not be found (404,
// logged as notFound), looked up (500) or rung (disabled: 480); it
// reports whether it refused the call.
func refuseTarget(c *sip.Call, log *slog.Logger, user store.User, err error, notFound string) bool {
	switch {
	case errors.Is(err, store.ErrNotFound):
		log.Info(notFound)
		c.Reject(404, "Not Found")
	case err != nil:
		log.Error("sip: call routing", "err", err)
		c.Reject(500, "Server Internal Error")
	case user.Disabled:
		log.Info("sip: call refused: the user is disabled", "user", user.Username)
		c.Reject(480, "Temporarily Unavailable")
	default:
		return false
	}
	return true
}
