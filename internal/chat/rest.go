package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"switchboard/internal/protocol"
)

// Authenticated wraps a handler that needs a signed-in person; it answers
// 401/403 itself when there is none.
type Authenticated func(h func(w http.ResponseWriter, r *http.Request, me Identity)) http.HandlerFunc

// Routes registers the REST API of docs/api.md ("Conversations and
// messages") and the messaging socket.
func (s *Service) Routes(mux *http.ServeMux, auth Authenticated, originPatterns []string) {
	mux.HandleFunc("GET /api/v1/connect", auth(func(w http.ResponseWriter, r *http.Request, me Identity) {
		s.ServeDevice(w, r, me, originPatterns)
	}))
	mux.HandleFunc("GET /api/v1/conversations", auth(s.restInbox))
	mux.HandleFunc("POST /api/v1/conversations", auth(s.restCreate))
	mux.HandleFunc("GET /api/v1/conversations/{id}", auth(s.restConversation))
	mux.HandleFunc("GET /api/v1/conversations/{id}/messages", auth(s.restMessages))
	mux.HandleFunc("POST /api/v1/conversations/{id}/messages", auth(s.restSend))
	mux.HandleFunc("POST /api/v1/conversations/{id}/read", auth(s.restRead))
	mux.HandleFunc("GET /api/v1/conversations/{id}/messages/{seq}/revisions", auth(s.restRevisions))
	mux.HandleFunc("GET /api/v1/conversations/{id}/export", auth(s.restExportConversation))
	mux.HandleFunc("GET /api/v1/search", auth(s.restSearch))
	mux.HandleFunc("GET /api/v1/export", auth(s.restExportMe))
	mux.HandleFunc("GET /api/v1/users/{id}/export", auth(s.restExportUser))
}

// maxBody bounds JSON request bodies.
const maxBody = 64 << 10

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
	writeJSON(w, status, map[string]string{"code": pe.Code, "message": pe.Message})
}

// readBody decodes a JSON body strictly into m and validates it.
func readBody(r *http.Request, m protocol.Message) error {
	if err := readJSON(r, m); err != nil {
		return err
	}
	return protocol.Check(m)
}

// readJSON decodes a JSON body strictly into v.
func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errorf(protocol.CodeTooLarge, "the body is larger than %d bytes", maxBody)
		}
		return errorf(protocol.CodeBadRequest, "the body is not the expected JSON: %v", err)
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
// ({"kind":"direct","user":"..."}).
func (s *Service) restCreate(w http.ResponseWriter, r *http.Request, me Identity) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		writeErr(w, errorf(protocol.CodeTooLarge, "the body is larger than %d bytes", maxBody))
		return
	}
	var head struct {
		Kind string `json:"kind"`
		User string `json:"user"`
	}
	json.Unmarshal(body, &head)
	var info protocol.ConversationInfo
	if head.Kind == "direct" {
		req := &protocol.Direct{User: head.User}
		if err = protocol.Check(req); err == nil {
			info, err = s.Direct(r.Context(), me, req.User)
		}
	} else {
		req := &protocol.CreateConversation{}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err = readBody(r, req); err == nil {
			info, err = s.Create(r.Context(), me, req)
		}
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, info)
}

func (s *Service) restConversation(w http.ResponseWriter, r *http.Request, me Identity) {
	info, err := s.Conversation(r.Context(), me, r.PathValue("id"))
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
	if err := readJSON(r, req); err != nil {
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
	if err := readJSON(r, &body); err != nil || body.Seq < 1 {
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
	es, err := s.Search(r.Context(), me, q.Get("q"), q.Get("conversation"), int(limit))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": es})
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
	type revision struct {
		Action string    `json:"action"`
		Editor string    `json:"editor"`
		Text   string    `json:"text"`
		At     time.Time `json:"at"`
	}
	out := make([]revision, len(revs))
	for i, rv := range revs {
		out[i] = revision{rv.Action, rv.EditorID, rv.Text, rv.RevisedAt}
	}
	writeJSON(w, http.StatusOK, map[string]any{"revisions": out})
}
