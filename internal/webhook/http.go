package webhook

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"switchboard/internal/store"
)

// AuthFunc authenticates a request. When it returns ok=false it has written
// the response (401) itself.
type AuthFunc func(w http.ResponseWriter, r *http.Request) (userID string, admin bool, ok bool)

// Routes registers the admin API on mux; every route answers 403 to
// authenticated users who are not admins.
//
//	GET    /api/v1/webhooks             {"webhooks":[webhook...]} (no secrets)
//	POST   /api/v1/webhooks             {"url","events","conversationId","enabled"}; 201 webhook with "secret" (shown once)
//	PATCH  /api/v1/webhooks/{id}        {"enabled":bool}; 200 webhook
//	DELETE /api/v1/webhooks/{id}        204
//	POST   /api/v1/webhooks/{id}/test   sends a ping now; 200 {"deliveryId","delivered","status","error"}
func (d *Dispatcher) Routes(mux *http.ServeMux, auth AuthFunc) {
	admin := func(h func(w http.ResponseWriter, r *http.Request, userID string)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			userID, isAdmin, ok := auth(w, r)
			if !ok {
				return
			}
			if !isAdmin {
				writeError(w, http.StatusForbidden, "forbidden", "only admins manage webhooks")
				return
			}
			h(w, r, userID)
		}
	}
	mux.HandleFunc("GET /api/v1/webhooks", admin(d.handleList))
	mux.HandleFunc("POST /api/v1/webhooks", admin(d.handleCreate))
	mux.HandleFunc("PATCH /api/v1/webhooks/{id}", admin(d.handleEnable))
	mux.HandleFunc("DELETE /api/v1/webhooks/{id}", admin(d.handleDelete))
	mux.HandleFunc("POST /api/v1/webhooks/{id}/test", admin(d.handleTest))
}

// webhookJSON is a webhook as the API shows it.
type webhookJSON struct {
	ID             string    `json:"id"`
	URL            string    `json:"url"`
	Events         []string  `json:"events"`
	ConversationID string    `json:"conversationId"`
	Enabled        bool      `json:"enabled"`
	CreatedBy      string    `json:"createdBy"`
	CreatedAt      time.Time `json:"createdAt"`
	Secret         string    `json:"secret,omitempty"`
}

func toJSON(w store.Webhook) webhookJSON {
	return webhookJSON{ID: w.ID, URL: w.URL, Events: w.Events, ConversationID: w.Conversation,
		Enabled: w.Enabled, CreatedBy: w.CreatedBy, CreatedAt: w.CreatedAt, Secret: w.Secret}
}

func (d *Dispatcher) handleList(w http.ResponseWriter, r *http.Request, _ string) {
	all, err := d.List(r.Context())
	if err != nil {
		d.internalError(w, r, err)
		return
	}
	out := make([]webhookJSON, 0, len(all))
	for _, h := range all {
		out = append(out, toJSON(h))
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": out})
}

func (d *Dispatcher) handleCreate(w http.ResponseWriter, r *http.Request, userID string) {
	var in struct {
		URL            string   `json:"url"`
		Events         []string `json:"events"`
		ConversationID string   `json:"conversationId"`
		Enabled        *bool    `json:"enabled"`
	}
	if !decodeBody(w, r, &in) {
		return
	}
	created, err := d.Create(r.Context(), userID, Settings{URL: in.URL, Events: in.Events,
		Conversation: in.ConversationID, Disabled: in.Enabled != nil && !*in.Enabled})
	if errors.Is(err, ErrInvalid) {
		writeError(w, http.StatusBadRequest, "bad_request", strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
		return
	}
	if err != nil {
		d.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toJSON(created))
}

func (d *Dispatcher) handleEnable(w http.ResponseWriter, r *http.Request, _ string) {
	var in struct {
		Enabled *bool `json:"enabled"`
	}
	if !decodeBody(w, r, &in) {
		return
	}
	if in.Enabled == nil {
		writeError(w, http.StatusBadRequest, "bad_request", "enabled is missing")
		return
	}
	h, err := d.SetEnabled(r.Context(), r.PathValue("id"), *in.Enabled)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "no such webhook")
		return
	}
	if err != nil {
		d.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toJSON(h))
}

func (d *Dispatcher) handleDelete(w http.ResponseWriter, r *http.Request, _ string) {
	err := d.Delete(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "no such webhook")
		return
	}
	if err != nil {
		d.internalError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (d *Dispatcher) handleTest(w http.ResponseWriter, r *http.Request, _ string) {
	res, err := d.Test(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "no such webhook")
		return
	}
	if err != nil {
		d.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (d *Dispatcher) internalError(w http.ResponseWriter, r *http.Request, err error) {
	d.log.ErrorContext(r.Context(), "webhook: api", "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "internal", "internal error")
}

const maxBodyBytes = 16 << 10

// decodeBody reads one JSON object strictly: unknown fields are refused, so
// a misspelt setting is an error rather than silently ignored.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", "request body over 16 KiB")
		return false
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "invalid JSON body: "+err.Error())
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "bad_request", "invalid JSON body: more than one value")
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

// writeError writes {"code":"...","message":"..."}.
func writeError(w http.ResponseWriter, status int, code, message string) {
	// The one error shape of the whole API (docs/api.md): {"code": ..., "message": ...}.
	writeJSON(w, status, map[string]string{"code": code, "message": message})
}
