package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// Authenticated wraps a handler that needs a signed-in person; it answers
// 401/403 itself when there is none.
type Authenticated func(h func(w http.ResponseWriter, r *http.Request, me Identity)) http.HandlerFunc

// Routes registers the REST API of docs/api.md ("Conversations and
// messages") and the messaging socket.
func (s *Service) Routes(mux *http.ServeMux, auth Authenticated, originPatterns []string) {
	// Visitors (customer contact) may read and write in their own
	// conversations; nothing else here.
	member := func(h func(w http.ResponseWriter, r *http.Request, me Identity)) http.HandlerFunc {
		return auth(func(w http.ResponseWriter, r *http.Request, me Identity) {
			if me.Visitor() {
				writeErr(w, errVisitor())
				return
			}
			h(w, r, me)
		})
	}
	mux.HandleFunc("GET /api/v1/connect", auth(func(w http.ResponseWriter, r *http.Request, me Identity) {
		s.ServeDevice(w, r, me, originPatterns)
	}))
	mux.HandleFunc("GET /api/v1/conversations", auth(s.restInbox))
	mux.HandleFunc("POST /api/v1/conversations", member(s.restCreate))
	mux.HandleFunc("GET /api/v1/conversations/{id}", auth(s.restConversation))
	mux.HandleFunc("GET /api/v1/conversations/{id}/messages", auth(s.restMessages))
	mux.HandleFunc("POST /api/v1/conversations/{id}/messages", auth(s.restSend))
	mux.HandleFunc("POST /api/v1/conversations/{id}/read", auth(s.restRead))
	mux.HandleFunc("GET /api/v1/conversations/{id}/messages/{seq}/revisions", member(s.restRevisions))
	mux.HandleFunc("GET /api/v1/conversations/{id}/messages/{seq}/thread", auth(s.restThread))
	mux.HandleFunc("GET /api/v1/conversations/{id}/export", member(s.restExportConversation))
	mux.HandleFunc("GET /api/v1/search", member(s.restSearch))
	mux.HandleFunc("GET /api/v1/export", member(s.restExportMe))
	mux.HandleFunc("GET /api/v1/users/{id}/export", member(s.restExportUser))
}

// maxBody bounds JSON request bodies, as in the accounts API. A message to
// send may be larger: maxSendBody, a socket frame's limit, holds any text
// within protocol.MaxMessageLen (up to 4 bytes a character, more escaped).
const (
	maxBody     = 16 << 10
	maxSendBody = protocol.MaxFrame
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// statusOf maps a protocol error code to its HTTP status.
var statusOf = map[string]int{
	protocol.CodeBadRequest: http.StatusBadRequest, protocol.CodeTooLarge: http.StatusRequestEntityTooLarge,
	protocol.CodeUnauthorized: http.StatusUnauthorized, protocol.CodeForbidden: http.StatusForbidden,
	protocol.CodeNotFound: http.StatusNotFound, protocol.CodeInvalidState: http.StatusConflict,
	protocol.CodeRateLimited: http.StatusTooManyRequests,
}

// WriteError answers an HTTP request with err's code and message.
func WriteError(w http.ResponseWriter, err error) { writeErr(w, err) }

// statusError is a protocol error answered with a status of its own rather
// than its code's.
type statusError struct {
	status int
	err    *protocol.Error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// writeErr answers with err's code and message (docs/api.md, errors).
func writeErr(w http.ResponseWriter, err error) {
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		pe = protocol.Errorf(protocol.CodeInternal, "request failed")
	}
	status, ok := statusOf[pe.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	var se *statusError
	if errors.As(err, &se) {
		status = se.status
	}
	writeJSON(w, status, map[string]string{"code": pe.Code, "message": pe.Message})
}

// readJSON decodes a JSON body of at most limit bytes strictly into v.
func readJSON(r *http.Request, v any, limit int64) error {
	body, err := jsonBody(r, limit)
	if err != nil {
		return err
	}
	return decodeStrict(body, v)
}

// jsonBody reads a request body of at most limit bytes that is sent as
// application/json, like the accounts API: a cross-site HTML form cannot
// send that type.
func jsonBody(r *http.Request, limit int64) ([]byte, error) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, &statusError{http.StatusUnsupportedMediaType,
			protocol.Errorf(protocol.CodeBadRequest, "send the body as JSON with Content-Type: application/json")}
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, errorf(protocol.CodeTooLarge, "the body is larger than %d bytes", limit)
	} else if err != nil {
		return nil, errorf(protocol.CodeBadRequest, "the body could not be read")
	}
	return body, nil
}

// decodeStrict decodes one JSON value into v: no unknown fields, nothing after it.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(protocol.CodeBadRequest, "the body is not the expected JSON: %v", err)
	}
	if dec.More() {
		return errorf(protocol.CodeBadRequest, "the body is not the expected JSON: data after the JSON value")
	}
	return nil
}

func queryInt(r *http.Request, name string) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errorf(protocol.CodeBadRequest, "%s must be a non-negative integer", name)
	}
	return n, nil
}

func (s *Service) restInbox(w http.ResponseWriter, r *http.Request, me Identity) {
	in, err := s.Inbox(r.Context(), me)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversations": in})
}

// restCreate creates a group or channel, or opens a direct conversation
// ({"kind":"direct","user":"..."}): 201 when created, 200 when it existed.
func (s *Service) restCreate(w http.ResponseWriter, r *http.Request, me Identity) {
	info, created, err := s.restCreateBody(r, me)
	if err != nil {
		writeErr(w, err)
		return
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	writeJSON(w, status, info)
}

// restCreateBody carries out restCreate's request; created tells whether a
// conversation was made.
func (s *Service) restCreateBody(r *http.Request, me Identity) (info protocol.ConversationInfo, created bool, err error) {
	body, err := jsonBody(r, maxBody)
	if err != nil {
		return protocol.ConversationInfo{}, false, err
	}
	var head struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(body, &head); err != nil {
		return protocol.ConversationInfo{}, false, errorf(protocol.CodeBadRequest, "the body is not the expected JSON: %v", err)
	}
	if head.Kind == "direct" {
		var d struct {
			Kind string `json:"kind"`
			User string `json:"user"`
		}
		if err := decodeStrict(body, &d); err != nil {
			return protocol.ConversationInfo{}, false, err
		}
		req := &protocol.Direct{User: d.User}
		if err := protocol.Check(req); err != nil {
			return protocol.ConversationInfo{}, false, err
		}
		return s.direct(r.Context(), me, req.User)
	}
	req := &protocol.CreateConversation{}
	if err := decodeStrict(body, req); err != nil {
		return protocol.ConversationInfo{}, false, err
	}
	if err := protocol.Check(req); err != nil {
		return protocol.ConversationInfo{}, false, err
	}
	info, err = s.Create(r.Context(), me, req)
	return info, true, err
}

func (s *Service) restConversation(w http.ResponseWriter, r *http.Request, me Identity) {
	info, err := s.view(r.Context(), me, r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// restMessages is history (?before=, newest first page by default) or sync
// (?after=): the log after a cursor, for bots that keep their place.
func (s *Service) restMessages(w http.ResponseWriter, r *http.Request, me Identity) {
	conv := r.PathValue("id")
	limit, err := queryInt(r, "limit")
	if err != nil {
		writeErr(w, err)
		return
	}
	if r.URL.Query().Has("after") {
		after, err := queryInt(r, "after")
		if err != nil {
			writeErr(w, err)
			return
		}
		es, more, err := s.Sync(r.Context(), me, conv, after, int(limit))
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"entries": es, "more": more})
		return
	}
	before, err := queryInt(r, "before")
	if err != nil {
		writeErr(w, err)
		return
	}
	es, err := s.History(r.Context(), me, conv, before, int(limit))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": es})
}

func (s *Service) restSend(w http.ResponseWriter, r *http.Request, me Identity) {
	req := &protocol.Send{}
	if err := readJSON(r, req, maxSendBody); err != nil {
		writeErr(w, err)
		return
	}
	if req.Conversation != "" && req.Conversation != r.PathValue("id") {
		writeErr(w, errorf(protocol.CodeBadRequest, "the body names another conversation than the URL"))
		return
	}
	req.Conversation = r.PathValue("id")
	if err := protocol.Check(req); err != nil {
		writeErr(w, err)
		return
	}
	e, dup, err := s.Send(r.Context(), me, req)
	if err != nil {
		writeErr(w, err)
		return
	}
	status := http.StatusCreated
	if dup {
		status = http.StatusOK
	}
	writeJSON(w, status, map[string]any{"entry": e, "duplicate": dup})
}

func (s *Service) restRead(w http.ResponseWriter, r *http.Request, me Identity) {
	var body struct {
		Seq int64 `json:"seq"`
	}
	if err := readJSON(r, &body, maxBody); err != nil {
		writeErr(w, err)
		return
	}
	if body.Seq < 1 {
		writeErr(w, errorf(protocol.CodeBadRequest, `the body must be {"seq": <positive sequence number>}`))
		return
	}
	if err := s.Read(r.Context(), me, r.PathValue("id"), body.Seq); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) restSearch(w http.ResponseWriter, r *http.Request, me Identity) {
	q := r.URL.Query()
	limit, err := queryInt(r, "limit")
	if err != nil {
		writeErr(w, err)
		return
	}
	// The same rules as the socket's search: an empty query is bad_request,
	// one over the limit too_large.
	req := &protocol.Search{Query: q.Get("q"), Conversation: q.Get("conversation"), Limit: int(min(limit, store.MaxPage))}
	if err := protocol.Check(req); err != nil {
		writeErr(w, err)
		return
	}
	es, err := s.Search(r.Context(), me, req.Query, req.Conversation, req.Limit)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": es})
}

// restThread is a thread's root and its replies after ?after=, paged like sync.
func (s *Service) restThread(w http.ResponseWriter, r *http.Request, me Identity) {
	root, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	if err != nil || root < 1 {
		writeErr(w, errorf(protocol.CodeBadRequest, "seq must be a sequence number"))
		return
	}
	after, err := queryInt(r, "after")
	if err != nil {
		writeErr(w, err)
		return
	}
	limit, err := queryInt(r, "limit")
	if err != nil {
		writeErr(w, err)
		return
	}
	es, more, err := s.ThreadPage(r.Context(), me, r.PathValue("id"), root, after, int(min(limit, store.MaxPage)))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": es, "more": more})
}

// revision is an earlier text of a message, as revisions and exports show it.
type revision struct {
	Action string    `json:"action"`
	Editor string    `json:"editor"`
	Text   string    `json:"text"`
	At     time.Time `json:"at"`
}

func revisions(revs []store.Revision) []revision {
	out := make([]revision, len(revs))
	for i, rv := range revs {
		out[i] = revision{rv.Action, rv.EditorID, rv.Text, rv.RevisedAt}
	}
	return out
}

// restRevisions shows admins what edited and deleted messages said.
func (s *Service) restRevisions(w http.ResponseWriter, r *http.Request, me Identity) {
	if !me.Admin() {
		writeErr(w, errorf(protocol.CodeForbidden, "only admins may see earlier versions of messages"))
		return
	}
	seq, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	if err != nil {
		writeErr(w, errorf(protocol.CodeBadRequest, "seq must be a sequence number"))
		return
	}
	revs, err := s.st.Revisions(r.Context(), r.PathValue("id"), seq)
	if err != nil {
		writeErr(w, s.internal("revisions", err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"revisions": revisions(revs)})
}
