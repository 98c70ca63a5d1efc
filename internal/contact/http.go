package contact

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"switchboard/internal/chat"
	"switchboard/internal/contact/routing"
	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// SignedIn wraps a handler that needs a signed-in person (the accounts
// service answers 401 otherwise).
type SignedIn func(h func(w http.ResponseWriter, r *http.Request, me chat.Identity)) http.HandlerFunc

const maxBody = 32 << 10

// Routes registers the REST API of docs/api.md ("Customer contact").
// clientIP says who a request comes from (behind trusted proxies too).
func (s *Service) Routes(mux *http.ServeMux, signedIn SignedIn, clientIP func(*http.Request) string) {
	admin := func(h func(w http.ResponseWriter, r *http.Request, me chat.Identity)) http.HandlerFunc {
		return signedIn(func(w http.ResponseWriter, r *http.Request, me chat.Identity) {
			if !me.Admin() {
				writeError(w, http.StatusForbidden, "forbidden", "only admins may do this")
				return
			}
			h(w, r, me)
		})
	}
	agent := func(h func(w http.ResponseWriter, r *http.Request, me chat.Identity)) http.HandlerFunc {
		return signedIn(func(w http.ResponseWriter, r *http.Request, me chat.Identity) {
			if me.Role != "agent" && !me.Admin() {
				writeError(w, http.StatusForbidden, "forbidden", "only agents may do this")
				return
			}
			h(w, r, me)
		})
	}

	// Configuration.
	mux.HandleFunc("GET /api/v1/contact/queues", admin(func(w http.ResponseWriter, r *http.Request, me chat.Identity) {
		writeJSON(w, http.StatusOK, map[string]any{"queues": s.Queues()})
	}))
	mux.HandleFunc("PUT /api/v1/contact/queues/{id}", admin(func(w http.ResponseWriter, r *http.Request, me chat.Identity) {
		var d QueueDoc
		if readNamedDoc(w, r, &d, &d.ID) {
			d, err := s.PutQueue(r.Context(), d)
			s.reply(w, r, "put queue", d, err)
		}
	}))
	mux.HandleFunc("DELETE /api/v1/contact/queues/{id}", admin(func(w http.ResponseWriter, r *http.Request, me chat.Identity) {
		s.reply(w, r, "delete queue", nil, s.DeleteQueue(r.Context(), r.PathValue("id")))
	}))
	mux.HandleFunc("GET /api/v1/contact/widgets", admin(func(w http.ResponseWriter, r *http.Request, me chat.Identity) {
		writeJSON(w, http.StatusOK, map[string]any{"widgets": s.Widgets()})
	}))
	mux.HandleFunc("PUT /api/v1/contact/widgets/{id}", admin(func(w http.ResponseWriter, r *http.Request, me chat.Identity) {
		var d WidgetDoc
		if readNamedDoc(w, r, &d, &d.ID) {
			d, err := s.PutWidget(r.Context(), d)
			s.reply(w, r, "put widget", d, err)
		}
	}))
	mux.HandleFunc("DELETE /api/v1/contact/widgets/{id}", admin(func(w http.ResponseWriter, r *http.Request, me chat.Identity) {
		s.reply(w, r, "delete widget", nil, s.DeleteWidget(r.Context(), r.PathValue("id")))
	}))
	mux.HandleFunc("GET /api/v1/contact/agents", admin(func(w http.ResponseWriter, r *http.Request, me chat.Identity) {
		writeJSON(w, http.StatusOK, map[string]any{"agents": s.Agents()})
	}))
	mux.HandleFunc("PUT /api/v1/contact/agents/{user}", admin(func(w http.ResponseWriter, r *http.Request, me chat.Identity) {
		var d AgentDoc
		if !readDoc(w, r, &d) {
			return
		}
		d.User = r.PathValue("user")
		d, err := s.PutAgent(r.Context(), d)
		s.reply(w, r, "put agent", d, err)
	}))

	// Agent console.
	mux.HandleFunc("GET /api/v1/contact/agent", agent(func(w http.ResponseWriter, r *http.Request, me chat.Identity) {
		writeJSON(w, http.StatusOK, s.Agent(me.UserID))
	}))
	mux.HandleFunc("PUT /api/v1/contact/agent/state", agent(func(w http.ResponseWriter, r *http.Request, me chat.Identity) {
		var req struct {
			State string `json:"state"`
		}
		if !readDoc(w, r, &req) {
			return
		}
		v, err := s.SetState(r.Context(), me, req.State)
		s.reply(w, r, "agent state", v, err)
	}))
	mux.HandleFunc("GET /api/v1/contact/agent/colleagues", agent(func(w http.ResponseWriter, r *http.Request, me chat.Identity) {
		queues, agents := s.Colleagues(me.UserID)
		writeJSON(w, http.StatusOK, map[string]any{"queues": queues, "agents": agents})
	}))
	mux.HandleFunc("GET /api/v1/contact/contacts/{id}", agent(func(w http.ResponseWriter, r *http.Request, me chat.Identity) {
		v, err := s.ContactFor(r.Context(), me, r.PathValue("id"))
		s.reply(w, r, "contact", v, err)
	}))
	mux.HandleFunc("POST /api/v1/contact/contacts/{id}/accept", agent(func(w http.ResponseWriter, r *http.Request, me chat.Identity) {
		v, err := s.Accept(r.Context(), me.UserID, r.PathValue("id"))
		s.reply(w, r, "accept", v, err)
	}))
	mux.HandleFunc("POST /api/v1/contact/contacts/{id}/decline", agent(func(w http.ResponseWriter, r *http.Request, me chat.Identity) {
		s.reply(w, r, "decline", nil, s.Decline(r.Context(), me.UserID, r.PathValue("id")))
	}))
	mux.HandleFunc("POST /api/v1/contact/contacts/{id}/end", agent(func(w http.ResponseWriter, r *http.Request, me chat.Identity) {
		v, err := s.End(r.Context(), me.UserID, r.PathValue("id"))
		s.reply(w, r, "end", v, err)
	}))
	mux.HandleFunc("POST /api/v1/contact/contacts/{id}/wrapup", agent(func(w http.ResponseWriter, r *http.Request, me chat.Identity) {
		var req struct {
			Code  string `json:"code"`
			Notes string `json:"notes"`
		}
		if !readDoc(w, r, &req) {
			return
		}
		v, err := s.WrapUp(r.Context(), me.UserID, r.PathValue("id"), req.Code, req.Notes)
		s.reply(w, r, "wrap-up", v, err)
	}))
	mux.HandleFunc("POST /api/v1/contact/contacts/{id}/transfer", agent(func(w http.ResponseWriter, r *http.Request, me chat.Identity) {
		var req struct {
			Queue string `json:"queue"`
			Agent string `json:"agent"`
		}
		if !readDoc(w, r, &req) {
			return
		}
		switch {
		case (req.Queue == "") == (req.Agent == ""):
			writeError(w, http.StatusBadRequest, "invalid", "transfer to a queue or to an agent: give one of queue and agent")
		case req.Agent != "":
			s.reply(w, r, "transfer", nil, s.TransferToAgent(r.Context(), me.UserID, r.PathValue("id"), req.Agent))
		default:
			s.reply(w, r, "transfer", nil, s.Transfer(r.Context(), me.UserID, r.PathValue("id"), req.Queue))
		}
	}))
	mux.HandleFunc("POST /api/v1/contact/contacts/{id}/media", agent(func(w http.ResponseWriter, r *http.Request, me chat.Identity) {
		var req struct {
			Media string `json:"media"`
		}
		if !readDoc(w, r, &req) {
			return
		}
		v, err := s.ChangeMedia(r.Context(), me.UserID, r.PathValue("id"), req.Media)
		s.reply(w, r, "media", v, err)
	}))

	// Supervisors.
	mux.HandleFunc("GET /api/v1/contact/live", admin(func(w http.ResponseWriter, r *http.Request, me chat.Identity) {
		writeJSON(w, http.StatusOK, s.Live())
	}))
	mux.HandleFunc("GET /api/v1/contact/stats", admin(s.stats))

	// Visitors: cross-origin, from the widget on the organisation's website.
	mux.HandleFunc("OPTIONS /api/v1/contact/", s.preflight)
	mux.HandleFunc("GET /api/v1/contact/widgets/{id}/status", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		wd, ok := s.widgetFor(w, r, id)
		if !ok {
			return
		}
		if personal(id) {
			st, err := s.personStatus(r.Context(), id)
			s.reply(w, r, "person status", st, err)
			return
		}
		writeJSON(w, http.StatusOK, s.status(wd))
	})
	mux.HandleFunc("GET /api/v1/contact/people/{handle}", func(w http.ResponseWriter, r *http.Request) {
		p, err := s.PersonCard(r.Context(), r.PathValue("handle"))
		s.reply(w, r, "person", p, err)
	})
	mux.HandleFunc("GET /api/v1/contact/portal", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Portal(r.Context()))
	})
	mux.HandleFunc("POST /api/v1/contact/widgets/{id}/visitors", func(w http.ResponseWriter, r *http.Request) {
		wd, ok := s.widgetFor(w, r, r.PathValue("id"))
		if !ok {
			return
		}
		ip := clientIP(r)
		if !s.limits.allow(ip, s.cfg.Now()) {
			w.Header().Set("Retry-After", "60")
			writeError(w, http.StatusTooManyRequests, "rate_limited", "too many new chats from your address; try again in a minute")
			return
		}
		var req VisitorRequest
		if !readDoc(w, r, &req) {
			return
		}
		token, v, err := s.StartVisitor(r.Context(), wd.ID, req, ip)
		if err != nil {
			s.reply(w, r, "start visitor", nil, err)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"token": token, "expiresAt": timeJSON(v.ExpiresAt),
			"visitor": map[string]string{"id": v.ID, "name": v.DisplayName, "email": v.Email}})
	})
	mux.HandleFunc("GET /api/v1/contact/visitor/contact", s.visitor(func(w http.ResponseWriter, r *http.Request, v store.Visitor) {
		c, err := s.Current(v)
		s.reply(w, r, "current contact", c, err)
	}))
	mux.HandleFunc("POST /api/v1/contact/visitor/contacts", s.visitor(func(w http.ResponseWriter, r *http.Request, v store.Visitor) {
		var req ArriveRequest
		if !readDoc(w, r, &req) {
			return
		}
		// Each callback by phone may cost a call: few per address, whatever
		// visitor asks (a visitor is anyone who asks for one).
		if strings.TrimSpace(req.Phone) != "" && !s.phoneLimits.allow(clientIP(r), s.cfg.Now()) {
			w.Header().Set("Retry-After", "3600")
			writeError(w, http.StatusTooManyRequests, "rate_limited", "too many callback requests by phone from your address; try again later")
			return
		}
		c, err := s.Arrive(r.Context(), v, req)
		if err != nil {
			s.reply(w, r, "arrive", nil, err)
			return
		}
		writeJSON(w, http.StatusCreated, c)
	}))
	mux.HandleFunc("POST /api/v1/contact/visitor/contacts/{id}/leave", s.visitor(func(w http.ResponseWriter, r *http.Request, v store.Visitor) {
		s.reply(w, r, "leave", nil, s.Leave(r.Context(), v, r.PathValue("id")))
	}))
}

// Status is what the widget shows before a visitor starts: whether the queue
// is open and which media have an agent available.
type Status struct {
	ID        string            `json:"id"`
	Title     string            `json:"title"`
	Consent   string            `json:"consent,omitempty"`
	Texts     map[string]string `json:"texts,omitempty"`
	Queue     string            `json:"queue"`
	Open      bool              `json:"open"`
	NextOpen  string            `json:"nextOpen,omitempty"`
	Media     []string          `json:"media"`
	Available map[string]bool   `json:"available"`
	Hours     *HoursDoc         `json:"hours,omitempty"`
	// CallbackPhone: a callback request may give a telephone number (the
	// queue takes voice and the gateway can call numbers).
	CallbackPhone bool `json:"callbackPhone,omitempty"`
}

func (s *Service) status(wd WidgetDoc) Status {
	phone := wd.Phone != "" && s.cfg.CanCall != nil && s.cfg.CanCall(wd.Phone) // before the lock: it may read the store
	callback := s.cfg.CanCallBack != nil && s.cfg.CanCallBack()
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[wd.Queue]
	st := Status{ID: wd.ID, Title: wd.Title, Consent: wd.Consent, Texts: wd.Texts, Queue: q.Name, Media: slices.Clone(q.Media),
		Available: map[string]bool{}, Hours: q.Hours}
	if phone {
		st.Media = append(st.Media, "phone")
	}
	st.CallbackPhone = callback && s.cfg.CheckPhone != nil && q.offers(routing.Voice)
	rq, err := q.Routing()
	now := s.cfg.Now()
	st.Open = err == nil && rq.Open(now)
	if !st.Open && err == nil && rq.Hours != nil {
		if t, ok := rq.Hours.NextOpen(now); ok {
			st.NextOpen = timeJSON(t)
		}
	}
	if !st.Open {
		return st
	}
	snap := s.eng.Snapshot()
	for _, m := range q.Members {
		for _, a := range snap.Agents {
			if string(a.ID) != m.User || a.State != routing.Available {
				continue
			}
			chats, calls := 0, 0
			for _, x := range a.Active {
				if x.Media == routing.Chat {
					chats++
				} else {
					calls++
				}
			}
			if chats < a.ChatSlots {
				st.Available["chat"] = true
			}
			if calls == 0 {
				st.Available["voice"], st.Available["video"] = true, true
			}
		}
	}
	for _, m := range []string{"chat", "voice", "video"} {
		if st.Available[m] && !q.offers(routing.Media(m)) {
			delete(st.Available, m)
		}
	}
	// The phone answers whenever the queue is open (its own hours are its
	// owner's business).
	st.Available["phone"] = phone
	return st
}

// sameOrigin reports a request from the server's own pages (contact links).
func sameOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

// allowOrigin answers a cross-origin request from an allowed origin with its
// CORS headers; false (and a 403) for an origin not on the list. Requests
// without an Origin (not from a browser) pass: the list protects visitors'
// browsers, a script could send any Origin anyway.
func allowOrigin(w http.ResponseWriter, r *http.Request, allowed []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || sameOrigin(r, origin) {
		return true
	}
	if !slices.Contains(allowed, origin) {
		writeError(w, http.StatusForbidden, "forbidden", fmt.Sprintf("this widget may not be used on %s; an admin adds the site to its allowed origins", origin))
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	return true
}

// widgetFor finds the widget a request names and checks its origin.
func (s *Service) widgetFor(w http.ResponseWriter, r *http.Request, id string) (WidgetDoc, bool) {
	if personal(id) { // a contact link: on this server's own page only
		if _, err := s.person(r.Context(), id); err != nil {
			s.reply(w, r, "person", nil, err)
			return WidgetDoc{}, false
		}
		return WidgetDoc{ID: id}, allowOrigin(w, r, nil)
	}
	s.mu.Lock()
	wd, ok := s.widgets[id]
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no widget %q", id))
		return WidgetDoc{}, false
	}
	return wd, allowOrigin(w, r, wd.AllowedOrigins)
}

// OriginAllowed reports whether some widget is allowed on origin: the
// meetings' signalling lets such pages join the calls agents start.
func (s *Service) OriginAllowed(origin string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, wd := range s.widgets {
		if slices.Contains(wd.AllowedOrigins, origin) {
			return true
		}
	}
	return false
}

// preflight answers CORS preflights of the visitor API for origins some
// widget allows.
func (s *Service) preflight(w http.ResponseWriter, r *http.Request) {
	if origin := r.Header.Get("Origin"); s.OriginAllowed(origin) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
		h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		h.Set("Access-Control-Max-Age", "600")
	}
	w.WriteHeader(http.StatusNoContent)
}

// visitor wraps a handler of the visitor API: a visitor token in
// "Authorization: Bearer sbv_...", used from its widget's origins.
func (s *Service) visitor(h func(w http.ResponseWriter, r *http.Request, v store.Visitor)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		v, id, err := s.AuthenticateVisitor(r.Context(), tok)
		if err != nil {
			// CORS headers first, so the widget can read the refusal.
			if o := r.Header.Get("Origin"); o != "" {
				s.preflightHeaders(w, o)
			}
			if errors.Is(err, ErrBadToken) {
				writeError(w, http.StatusUnauthorized, "unauthorized", "the visitor token is unknown or expired; start again")
				return
			}
			s.internal(w, "visitor token", err)
			return
		}
		if !allowOrigin(w, r, id.Origins) {
			return
		}
		h(w, r, v)
	}
}

func (s *Service) preflightHeaders(w http.ResponseWriter, origin string) {
	if s.OriginAllowed(origin) {
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Add("Vary", "Origin")
	}
}

// stats serves GET /api/v1/contact/stats.
func (s *Service) stats(w http.ResponseWriter, r *http.Request, me chat.Identity) {
	q := r.URL.Query()
	loc := time.UTC
	if tz := q.Get("tz"); tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("tz %q: use a time zone name like Europe/Paris", tz))
			return
		}
		loc = l
	}
	day := func(name string, def time.Time) (time.Time, bool) {
		v := q.Get(name)
		if v == "" {
			return def, true
		}
		if t, err := time.ParseInLocation(time.DateOnly, v, loc); err == nil {
			return t, true
		}
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t, true
		}
		writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("%s %q: write YYYY-MM-DD or an RFC 3339 time", name, v))
		return time.Time{}, false
	}
	y, m, d := s.cfg.Now().In(loc).Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, loc)
	from, ok := day("from", today.AddDate(0, 0, -6))
	if !ok {
		return
	}
	to, ok := day("to", today.AddDate(0, 0, 1))
	if !ok {
		return
	}
	rep, err := s.Report(r.Context(), ReportRequest{From: from, To: to, Bucket: q.Get("bucket"), Queue: q.Get("queue"), Location: loc})
	if err != nil {
		s.reply(w, r, "stats", nil, err)
		return
	}
	if q.Get("format") == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="contacts-%s-%s.csv"`, from.Format("20060102"), to.Format("20060102")))
		cw := csv.NewWriter(w)
		cw.WriteAll(rep.CSV())
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// reply answers with v (nil: 204) or the error's status.
func (s *Service) reply(w http.ResponseWriter, r *http.Request, what string, v any, err error) {
	var inv *InvalidError
	switch {
	case err == nil && v == nil:
		w.WriteHeader(http.StatusNoContent)
	case err == nil:
		writeJSON(w, http.StatusOK, v)
	case errors.As(err, &inv):
		writeError(w, http.StatusBadRequest, "invalid", inv.Msg)
	case errors.Is(err, errNotFound):
		writeError(w, http.StatusNotFound, "not_found", errText(err))
	case errors.Is(err, errConflict):
		writeError(w, http.StatusConflict, "conflict", errText(err))
	case errors.Is(err, errForbidden):
		writeError(w, http.StatusForbidden, "forbidden", errText(err))
	case errors.Is(err, errRateLimited):
		w.Header().Set("Retry-After", "3600")
		writeError(w, http.StatusTooManyRequests, "rate_limited", errText(err))
	default:
		var pe *protocol.Error
		if errors.As(err, &pe) { // from the messaging service
			chat.WriteError(w, err)
			return
		}
		s.internal(w, what, err)
	}
}

// errText is an error's message without the sentinel's prefix.
func errText(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}

func (s *Service) internal(w http.ResponseWriter, what string, err error) {
	s.log.Error("contact: "+what, "err", err)
	writeError(w, http.StatusInternalServerError, "internal", "something went wrong on the server; it has been logged")
}

// readNamedDoc is readDoc for a document named by the path's {id}: an id in
// the body may be left out, or must be the same.
func readNamedDoc(w http.ResponseWriter, r *http.Request, v any, id *string) bool {
	if !readDoc(w, r, v) {
		return false
	}
	if *id == "" {
		*id = r.PathValue("id")
	}
	if *id != r.PathValue("id") {
		writeError(w, http.StatusBadRequest, "invalid", "the id in the body differs from the one in the path")
		return false
	}
	return true
}

// readDoc decodes a JSON body strictly, answering 400 when it cannot.
func readDoc(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is larger than %d bytes", maxBody))
		return false
	}
	if err := decodeDoc(body, v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid", err.Error())
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	// The one error shape of the whole API (docs/api.md).
	writeJSON(w, status, map[string]string{"code": code, "message": msg})
}
