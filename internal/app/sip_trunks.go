package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"switchboard/internal/account"
	"switchboard/internal/chat"
	"switchboard/internal/sip"
	"switchboard/internal/store"
)

// Trunks and numbers: the admins' API (docs/api.md, "Trunks and numbers"),
// loading the trunks into the SIP server, and routing calls that come in
// over a trunk by the number dialled.
//
//	GET    /api/v1/sip/trunks           {"trunks":[trunk...]}
//	POST   /api/v1/sip/trunks           trunk without id; 201 trunk
//	GET    /api/v1/sip/trunks/{id}      trunk with its status
//	PATCH  /api/v1/sip/trunks/{id}      any writable fields; 200 trunk
//	DELETE /api/v1/sip/trunks/{id}      204 (its numbers go too)
//	GET    /api/v1/sip/numbers          {"numbers":[number...]}
//	POST   /api/v1/sip/numbers          number; 201 number
//	GET    /api/v1/sip/numbers/{number} number (E.164, URL-escaped)
//	PATCH  /api/v1/sip/numbers/{number} {"trunk","label","target"}; 200 number
//	DELETE /api/v1/sip/numbers/{number} 204

// Number target kinds.
const (
	targetUser       = "user"
	targetExtension  = "extension"
	targetConference = "conference"
	targetQueue      = "queue"
)

func (a *App) sipTrunkRoutes(mux *http.ServeMux) {
	admin := a.adminAPI("only admins manage SIP trunks and numbers")
	mux.HandleFunc("GET /api/v1/sip/trunks", admin(a.sipTrunkList))
	mux.HandleFunc("POST /api/v1/sip/trunks", admin(a.sipTrunkCreate))
	mux.HandleFunc("GET /api/v1/sip/trunks/{id}", admin(a.sipTrunkGet))
	mux.HandleFunc("PATCH /api/v1/sip/trunks/{id}", admin(a.sipTrunkUpdate))
	mux.HandleFunc("DELETE /api/v1/sip/trunks/{id}", admin(a.sipTrunkDelete))
	mux.HandleFunc("GET /api/v1/sip/numbers", admin(a.sipNumberList))
	mux.HandleFunc("POST /api/v1/sip/numbers", admin(a.sipNumberCreate))
	mux.HandleFunc("GET /api/v1/sip/numbers/{number}", admin(a.sipNumberGet))
	mux.HandleFunc("PATCH /api/v1/sip/numbers/{number}", admin(a.sipNumberUpdate))
	mux.HandleFunc("DELETE /api/v1/sip/numbers/{number}", admin(a.sipNumberDelete))
}

// numberPlan reads national numbers with sip.default_country_code.
func (a *App) numberPlan() sip.NumberPlan {
	cc, _ := sip.CheckCountryCode(a.cfg.SIP.DefaultCountryCode) // checked by Validate
	return sip.NumberPlan{CountryCode: cc}
}

// loadSIPTrunks gives the SIP server the trunks from the database: at
// start and after every change through the API.
func (a *App) loadSIPTrunks(ctx context.Context) error {
	if a.sip == nil || a.sip.srv == nil {
		return nil
	}
	// One load at a time, so an older list never replaces a newer one.
	a.sip.trunksMu.Lock()
	defer a.sip.trunksMu.Unlock()
	list, err := a.store.SIPTrunks(ctx)
	if err != nil {
		return err
	}
	trunks := make([]sip.Trunk, 0, len(list))
	for _, st := range list {
		t, err := sipTrunkOf(st)
		if err != nil {
			// Only the API writes trunks and it validates them; a bad row
			// (edited by hand) is left out rather than stopping the rest.
			a.log.Error("sip: trunk left out: invalid", "trunk", st.Name, "err", err)
			continue
		}
		trunks = append(trunks, t)
	}
	a.sip.srv.SetTrunks(trunks)
	return nil
}

// sipTrunkOf converts and validates a stored trunk.
func sipTrunkOf(st store.SIPTrunk) (sip.Trunk, error) {
	t := sip.Trunk{ID: st.ID, Name: st.Name, Enabled: st.Enabled, Host: st.Host, Transport: st.Transport,
		Register: st.Register, Username: st.Username, AuthUsername: st.AuthUsername, Password: st.Password,
		FromDomain: st.FromDomain, OutboundPrefixes: st.OutboundPrefixes, NumberFormat: st.NumberFormat, MaxCalls: st.MaxCalls,
		MediaEncryption: st.MediaEncryption}
	var errs []error
	for _, s := range st.InboundIPs {
		p, err := sip.ParseInboundIP(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t.InboundIPs = append(t.InboundIPs, p)
	}
	if err := t.Validate(); err != nil {
		errs = append(errs, err)
	}
	return t, errors.Join(errs...)
}

type sipTrunkJSON struct {
	ID               string             `json:"id"`
	Name             string             `json:"name"`
	Enabled          bool               `json:"enabled"`
	Host             string             `json:"host"`
	Transport        string             `json:"transport"`
	Register         bool               `json:"register"`
	Username         string             `json:"username"`
	AuthUsername     string             `json:"authUsername"`
	HasPassword      bool               `json:"hasPassword"`
	FromDomain       string             `json:"fromDomain"`
	InboundIPs       []string           `json:"inboundIPs"`
	OutboundPrefixes []string           `json:"outboundPrefixes"`
	NumberFormat     string             `json:"numberFormat"`
	MaxCalls         int                `json:"maxCalls"`
	MediaEncryption  string             `json:"mediaEncryption"`
	Status           sipTrunkStatusJSON `json:"status"`
	CreatedAt        time.Time          `json:"createdAt"`
	UpdatedAt        time.Time          `json:"updatedAt"`
}

type sipTrunkStatusJSON struct {
	Registered  bool   `json:"registered"`
	LastError   string `json:"lastError"`
	ExpiresAt   string `json:"expiresAt"` // RFC 3339; "" when not registered
	ActiveCalls int    `json:"activeCalls"`
}

func (a *App) sipTrunkJSON(t store.SIPTrunk) sipTrunkJSON {
	out := sipTrunkJSON{ID: t.ID, Name: t.Name, Enabled: t.Enabled, Host: t.Host, Transport: t.Transport, Register: t.Register,
		Username: t.Username, AuthUsername: t.AuthUsername, HasPassword: t.Password != "", FromDomain: t.FromDomain,
		InboundIPs: nonNilList(t.InboundIPs), OutboundPrefixes: nonNilList(t.OutboundPrefixes), NumberFormat: t.NumberFormat,
		MaxCalls: t.MaxCalls, MediaEncryption: t.MediaEncryption, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
	if a.sip.srv != nil {
		st := a.sip.srv.TrunkStatus(t.ID)
		out.Status = sipTrunkStatusJSON{Registered: st.Registered, LastError: st.LastError, ActiveCalls: st.ActiveCalls}
		if st.Registered {
			out.Status.ExpiresAt = st.ExpiresAt.UTC().Format(time.RFC3339)
		}
	}
	return out
}

func nonNilList(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// sipTrunkInput is a trunk as POST and PATCH take it: absent fields stay
// as they are (PATCH) or get their defaults (POST).
type sipTrunkInput struct {
	Name             *string   `json:"name"`
	Enabled          *bool     `json:"enabled"`
	Host             *string   `json:"host"`
	Transport        *string   `json:"transport"`
	Register         *bool     `json:"register"`
	Username         *string   `json:"username"`
	AuthUsername     *string   `json:"authUsername"`
	Password         *string   `json:"password"`
	FromDomain       *string   `json:"fromDomain"`
	InboundIPs       *[]string `json:"inboundIPs"`
	OutboundPrefixes *[]string `json:"outboundPrefixes"`
	NumberFormat     *string   `json:"numberFormat"`
	MaxCalls         *int      `json:"maxCalls"`
	MediaEncryption  *string   `json:"mediaEncryption"`
}

func (in sipTrunkInput) apply(t *store.SIPTrunk) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = strings.TrimSpace(*v)
		}
	}
	set(&t.Name, in.Name)
	set(&t.Host, in.Host)
	set(&t.Transport, in.Transport)
	t.Transport = strings.ToLower(t.Transport)
	set(&t.Username, in.Username)
	set(&t.AuthUsername, in.AuthUsername)
	set(&t.FromDomain, in.FromDomain)
	set(&t.NumberFormat, in.NumberFormat)
	set(&t.MediaEncryption, in.MediaEncryption)
	t.MediaEncryption = strings.ToLower(t.MediaEncryption)
	if in.Password != nil {
		t.Password = *in.Password // spaces may be part of it
	}
	if in.Enabled != nil {
		t.Enabled = *in.Enabled
	}
	if in.Register != nil {
		t.Register = *in.Register
	}
	if in.InboundIPs != nil {
		t.InboundIPs = *in.InboundIPs
	}
	if in.OutboundPrefixes != nil {
		t.OutboundPrefixes = *in.OutboundPrefixes
	}
	if in.MaxCalls != nil {
		t.MaxCalls = *in.MaxCalls
	}
}

// checkTrunk validates t and writes its inbound IPs in canonical form.
func checkTrunk(t *store.SIPTrunk) error {
	st, err := sipTrunkOf(*t)
	if err != nil {
		return err
	}
	t.InboundIPs = t.InboundIPs[:0]
	for _, p := range st.InboundIPs {
		t.InboundIPs = append(t.InboundIPs, p.String())
	}
	return nil
}

func (a *App) sipTrunkList(w http.ResponseWriter, r *http.Request, _ account.Identity) {
	list, err := a.store.SIPTrunks(r.Context())
	apiList(a, w, "trunks", list, err, a.sipTrunkJSON)
}

func (a *App) sipTrunkCreate(w http.ResponseWriter, r *http.Request, me account.Identity) {
	var in sipTrunkInput
	if !apiDecode(w, r, &in) {
		return
	}
	t := store.SIPTrunk{ID: "t_" + randomHex(8), Enabled: true, Transport: sip.TransportUDP, NumberFormat: sip.FormatE164}
	in.apply(&t)
	if err := checkTrunk(&t); err != nil {
		apiError(w, http.StatusBadRequest, "bad_request", joinedMessage(err))
		return
	}
	t, err := a.store.CreateSIPTrunk(r.Context(), t)
	if errors.Is(err, store.ErrExists) {
		apiError(w, http.StatusConflict, "conflict", fmt.Sprintf("there is already a trunk named %q", t.Name))
		return
	}
	if err != nil {
		a.sipTrunkInternal(w, "create", err)
		return
	}
	a.trunksChanged(r.Context())
	a.log.Info("sip: trunk created", "trunk", t.Name, "host", t.Host, "register", t.Register, "by", me.Username)
	apiJSON(w, http.StatusCreated, a.sipTrunkJSON(t))
}

func (a *App) sipTrunkByPath(w http.ResponseWriter, r *http.Request) (store.SIPTrunk, bool) {
	t, err := a.store.SIPTrunk(r.Context(), r.PathValue("id"))
	return found(a, w, t, err, "no such trunk", "sip: trunk API get")
}

func (a *App) sipTrunkGet(w http.ResponseWriter, r *http.Request, _ account.Identity) {
	if t, ok := a.sipTrunkByPath(w, r); ok {
		apiJSON(w, http.StatusOK, a.sipTrunkJSON(t))
	}
}

func (a *App) sipTrunkUpdate(w http.ResponseWriter, r *http.Request, me account.Identity) {
	var in sipTrunkInput
	if !apiDecode(w, r, &in) {
		return
	}
	t, ok := a.sipTrunkByPath(w, r)
	if !ok {
		return
	}
	in.apply(&t)
	if err := checkTrunk(&t); err != nil {
		apiError(w, http.StatusBadRequest, "bad_request", joinedMessage(err))
		return
	}
	t, err := a.store.UpdateSIPTrunk(r.Context(), t)
	switch {
	case errors.Is(err, store.ErrExists):
		apiError(w, http.StatusConflict, "conflict", fmt.Sprintf("there is already a trunk named %q", t.Name))
		return
	case errors.Is(err, store.ErrNotFound):
		apiError(w, http.StatusNotFound, "not_found", "no such trunk")
		return
	case err != nil:
		a.sipTrunkInternal(w, "update", err)
		return
	}
	a.trunksChanged(r.Context())
	a.log.Info("sip: trunk updated", "trunk", t.Name, "enabled", t.Enabled, "by", me.Username)
	apiJSON(w, http.StatusOK, a.sipTrunkJSON(t))
}

func (a *App) sipTrunkDelete(w http.ResponseWriter, r *http.Request, me account.Identity) {
	t, ok := a.sipTrunkByPath(w, r)
	if !ok {
		return
	}
	if err := a.store.DeleteSIPTrunk(r.Context(), t.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		a.sipTrunkInternal(w, "delete", err)
		return
	}
	a.trunksChanged(r.Context())
	a.log.Info("sip: trunk deleted", "trunk", t.Name, "by", me.Username)
	w.WriteHeader(http.StatusNoContent)
}

// trunksChanged reloads the trunks into the SIP server.
func (a *App) trunksChanged(ctx context.Context) {
	if err := a.loadSIPTrunks(ctx); err != nil {
		a.log.Error("sip: reloading trunks", "err", err)
	}
}

type sipNumberJSON struct {
	Number    string        `json:"number"`
	Trunk     string        `json:"trunk,omitempty"`
	Label     string        `json:"label"`
	Target    sipTargetJSON `json:"target"`
	CreatedAt time.Time     `json:"createdAt"`
	UpdatedAt time.Time     `json:"updatedAt"`
}

type sipTargetJSON struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

func sipNumberOut(n store.SIPNumber) sipNumberJSON {
	return sipNumberJSON{Number: n.Number, Trunk: n.TrunkID, Label: n.Label,
		Target: sipTargetJSON{Kind: n.TargetKind, Value: n.TargetValue}, CreatedAt: n.CreatedAt, UpdatedAt: n.UpdatedAt}
}

type sipNumberInput struct {
	Number *string        `json:"number"`
	Trunk  *string        `json:"trunk"`
	Label  *string        `json:"label"`
	Target *sipTargetJSON `json:"target"`
}

// checkNumber validates a number's fields, in words an admin can act on.
func (a *App) checkNumber(ctx context.Context, n store.SIPNumber) (string, error) {
	if len(n.Label) > 100 {
		return "the label must be at most 100 characters", nil
	}
	switch n.TargetKind {
	case targetUser:
		if _, err := a.store.UserByUsername(ctx, strings.ToLower(n.TargetValue)); errors.Is(err, store.ErrNotFound) {
			return fmt.Sprintf("target user %q does not exist (give a username)", n.TargetValue), nil
		} else if err != nil {
			return "", err
		}
	case targetExtension:
		acct, err := a.store.SIPAccountByUsername(ctx, n.TargetValue)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Sprintf("target extension %q is not a SIP account", n.TargetValue), nil
		} else if err != nil {
			return "", err
		}
		if acct.UserID == "" {
			return fmt.Sprintf("target extension %q is linked to no user, whose browsers calls would ring", n.TargetValue), nil
		}
	case targetConference, targetQueue:
		if strings.TrimSpace(n.TargetValue) == "" || len(n.TargetValue) > 200 {
			return fmt.Sprintf("a %s target needs a value of 1 to 200 characters", n.TargetKind), nil
		}
	default:
		return fmt.Sprintf("target kind %q is not one of user, extension, conference, queue", n.TargetKind), nil
	}
	return "", nil
}

func (a *App) sipNumberList(w http.ResponseWriter, r *http.Request, _ account.Identity) {
	list, err := a.store.SIPNumbers(r.Context())
	apiList(a, w, "numbers", list, err, sipNumberOut)
}

// saveNumber validates n and stores it (create or update), answering the request.
func (a *App) saveNumber(w http.ResponseWriter, r *http.Request, n store.SIPNumber, create bool, me account.Identity) {
	msg, err := a.checkNumber(r.Context(), n)
	if err != nil {
		a.sipTrunkInternal(w, "check number", err)
		return
	}
	if msg != "" {
		apiError(w, http.StatusBadRequest, "bad_request", msg)
		return
	}
	status := http.StatusOK
	if create {
		n, err = a.store.CreateSIPNumber(r.Context(), n)
		status = http.StatusCreated
	} else {
		n, err = a.store.UpdateSIPNumber(r.Context(), n)
	}
	switch {
	case errors.Is(err, store.ErrExists):
		apiError(w, http.StatusConflict, "conflict", fmt.Sprintf("the number %s is there already", n.Number))
		return
	case errors.Is(err, store.ErrNoSuchTrunk):
		apiError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("trunk %q does not exist", n.TrunkID))
		return
	case errors.Is(err, store.ErrNotFound):
		apiError(w, http.StatusNotFound, "not_found", "no such number")
		return
	case err != nil:
		a.sipTrunkInternal(w, "save number", err)
		return
	}
	a.log.Info("sip: number saved", "number", n.Number, "target", n.TargetKind+":"+n.TargetValue, "by", me.Username)
	apiJSON(w, status, sipNumberOut(n))
}

func (a *App) sipNumberCreate(w http.ResponseWriter, r *http.Request, me account.Identity) {
	var in sipNumberInput
	if !apiDecode(w, r, &in) {
		return
	}
	if in.Number == nil || in.Target == nil {
		apiError(w, http.StatusBadRequest, "bad_request", "give the number (E.164, such as +15551234567) and its target {\"kind\",\"value\"}")
		return
	}
	num, err := a.numberPlan().Normalize(*in.Number)
	if err != nil {
		apiError(w, http.StatusBadRequest, "bad_request", numberMessage(err))
		return
	}
	n := store.SIPNumber{Number: num, TargetKind: in.Target.Kind, TargetValue: strings.TrimSpace(in.Target.Value)}
	if in.Trunk != nil {
		n.TrunkID = *in.Trunk
	}
	if in.Label != nil {
		n.Label = strings.TrimSpace(*in.Label)
	}
	a.saveNumber(w, r, n, true, me)
}

func (a *App) sipNumberByPath(w http.ResponseWriter, r *http.Request) (store.SIPNumber, bool) {
	num, err := a.numberPlan().Normalize(r.PathValue("number"))
	if err != nil {
		apiError(w, http.StatusNotFound, "not_found", "no such number ("+numberMessage(err)+")")
		return store.SIPNumber{}, false
	}
	n, err := a.store.SIPNumber(r.Context(), num)
	return found(a, w, n, err, "no such number", "sip: trunk API get number")
}

func (a *App) sipNumberGet(w http.ResponseWriter, r *http.Request, _ account.Identity) {
	if n, ok := a.sipNumberByPath(w, r); ok {
		apiJSON(w, http.StatusOK, sipNumberOut(n))
	}
}

func (a *App) sipNumberUpdate(w http.ResponseWriter, r *http.Request, me account.Identity) {
	var in sipNumberInput
	if !apiDecode(w, r, &in) {
		return
	}
	n, ok := a.sipNumberByPath(w, r)
	if !ok {
		return
	}
	if in.Number != nil {
		if num, err := a.numberPlan().Normalize(*in.Number); err != nil || num != n.Number {
			apiError(w, http.StatusBadRequest, "bad_request", "a number cannot be renamed: delete it and add the new one")
			return
		}
	}
	if in.Trunk != nil {
		n.TrunkID = *in.Trunk
	}
	if in.Label != nil {
		n.Label = strings.TrimSpace(*in.Label)
	}
	if in.Target != nil {
		n.TargetKind, n.TargetValue = in.Target.Kind, strings.TrimSpace(in.Target.Value)
	}
	a.saveNumber(w, r, n, false, me)
}

func (a *App) sipNumberDelete(w http.ResponseWriter, r *http.Request, me account.Identity) {
	n, ok := a.sipNumberByPath(w, r)
	if !ok {
		return
	}
	if err := a.store.DeleteSIPNumber(r.Context(), n.Number); err != nil && !errors.Is(err, store.ErrNotFound) {
		a.sipTrunkInternal(w, "delete number", err)
		return
	}
	a.log.Info("sip: number deleted", "number", n.Number, "by", me.Username)
	w.WriteHeader(http.StatusNoContent)
}

func (a *App) sipTrunkInternal(w http.ResponseWriter, what string, err error) {
	a.log.Error("sip: trunk API "+what, "err", err)
	apiError(w, http.StatusInternalServerError, "internal", "request failed")
}

// joinedMessage is a joined error's text on one line.
func joinedMessage(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

// numberMessage is a number error without the package's prefix.
func numberMessage(err error) string {
	return strings.TrimPrefix(err.Error(), sip.ErrBadNumber.Error()+": ")
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// routeTrunkCall routes a call that came in over a trunk by the number
// dialled: the Request-URI's user, else the To user, read as E.164 and
// looked up in the numbers (a number bound to another trunk does not
// match). A user target rings that user's browsers; an extension, the
// browsers of the SIP account's user; a conference number asks for a
// meeting's PIN (routeConference); a queue puts the caller in line there
// (routeQueueCall).
// Nothing matching is 404.
func (a *App) routeTrunkCall(c *sip.Call) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	trunk, _ := a.sip.srv.Trunk(c.Trunk)
	log := a.log.With("trunk", trunk.Name, "call_from", c.CallerNumber, "to", truncateString(c.Target, 64))
	num, n, err := a.numberFor(ctx, c)
	switch {
	case errors.Is(err, store.ErrNotFound):
		log.Info("sip: call from trunk refused: no number matches", "number", num, "to_user", c.ToUser)
		c.Reject(404, "Not Found")
		return
	case err != nil:
		log.Error("sip: call routing", "err", err)
		c.Reject(500, "Server Internal Error")
		return
	}
	log = log.With("number", n.Number, "target", n.TargetKind+":"+n.TargetValue)
	var user store.User
	switch n.TargetKind {
	case targetUser:
		user, err = a.store.UserByUsername(ctx, strings.ToLower(n.TargetValue))
	case targetExtension:
		var acct store.SIPAccount
		acct, err = a.store.SIPAccountByUsername(ctx, n.TargetValue)
		if err == nil && (acct.UserID == "" || !acct.Enabled) {
			err = store.ErrNotFound
		}
		if err == nil {
			user, err = a.store.User(ctx, acct.UserID)
		}
	case targetConference:
		// Callers key the meeting's PIN, whatever the number's value.
		log.Info("sip: call from trunk to the meetings' dial-in number")
		a.routeConference(c)
		return
	case targetQueue:
		// A voice contact in the queue: the caller waits on the line (sip_queue.go).
		from := firstNonEmpty(c.CallerNumber, "anonymous")
		if e164, err := a.numberPlan().ParseAs(from, trunk.NumberFormat); err == nil {
			from = e164
		}
		log.Info("sip: call from trunk to a queue")
		a.routeQueueCall(c, n.TargetValue, from, log)
		return
	default:
		log.Info("sip: call from trunk refused: calls to a " + n.TargetKind + " are not wired")
		c.Reject(480, "Temporarily Unavailable")
		return
	}
	if refuseTarget(c, log, user, err, "sip: call from trunk refused: the number's target does not exist (any more)") {
		return
	}
	// The caller's number in E.164 when it reads as one (trunks write it their way).
	from := firstNonEmpty(c.CallerNumber, "anonymous")
	if e164, err := a.numberPlan().ParseAs(from, trunk.NumberFormat); err == nil {
		from = e164
	}
	caller := firstNonEmpty(c.CallerName, from)
	a.connectSIPCall(c, log.With("user", user.Username), caller,
		func(ctx context.Context, room string, onAnswer func(), onEnd func(string)) (string, error) {
			return a.chat.CallFromNumber(ctx, chat.NumberCall{Number: from,
				Name: c.CallerName, Callee: user.ID, Room: room, OnAnswer: onAnswer, OnEnd: onEnd})
		})
}

// numberFor finds the number a trunk call is for; num is what was looked
// up (for the log line when nothing matches).
func (a *App) numberFor(ctx context.Context, c *sip.Call) (string, store.SIPNumber, error) {
	plan := a.numberPlan()
	trunk, _ := a.sip.srv.Trunk(c.Trunk)
	tried := []string{}
	for _, cand := range []string{c.Target, c.ToUser} {
		num, err := plan.ParseAs(cand, trunk.NumberFormat) // as the trunk writes numbers
		if err != nil || slices.Contains(tried, num) {
			continue
		}
		tried = append(tried, num)
		n, err := a.store.SIPNumber(ctx, num)
		if errors.Is(err, store.ErrNotFound) || (err == nil && n.TrunkID != "" && n.TrunkID != c.Trunk) {
			continue
		}
		return num, n, err
	}
	return strings.Join(tried, ","), store.SIPNumber{}, store.ErrNotFound
}

func truncateString(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// callerMayDialNumbers: calls out through trunks cost money; only
// members, agents and admins may place them.
func callerMayDialNumbers(id chat.Identity) bool {
	return id.Role == "member" || id.Role == "agent" || id.Role == "admin"
}

// findNumber resolves target as a telephone number and picks its trunk.
func (p sipPhones) findNumber(caller chat.Identity, target string, byServer bool) (chat.Phone, error) {
	a := p.a
	if !byServer && !callerMayDialNumbers(caller) {
		return chat.Phone{}, store.ErrNotFound
	}
	num, err := a.numberPlan().Normalize(target)
	if err != nil && strings.Trim(target, "0123456789") == "" {
		// Digits that are neither national nor international here: E.164
		// without its "+".
		num, err = a.numberPlan().ParseAs(target, sip.FormatDigits)
	}
	if err != nil {
		a.log.Debug("sip: not a number to call", "caller", caller.Username, "err", numberMessage(err))
		return chat.Phone{}, store.ErrNotFound
	}
	if !byServer && !dialAllowed(a.cfg.SIP.DialPrefixes, num) {
		a.log.Info("sip: call out refused: the number is outside sip.dial_prefixes", "caller", caller.Username, "number", num)
		return chat.Phone{}, store.ErrNotFound
	}
	t, ok := sip.ChooseTrunk(a.sip.srv.Trunks(), num)
	if !ok {
		a.log.Info("sip: no trunk for the number", "caller", caller.Username, "number", num)
		return chat.Phone{}, store.ErrNotFound
	}
	return chat.Phone{Extension: num, Name: num, Trunk: t.ID}, nil
}

// dialAllowed tells whether users may call the E.164 number: any when no
// prefixes are set (sip.dial_prefixes), else one of them must match.
func dialAllowed(prefixes []string, number string) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if strings.HasPrefix(number, p) {
			return true
		}
	}
	return false
}
