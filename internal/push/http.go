package push

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
type AuthFunc func(w http.ResponseWriter, r *http.Request) (userID string, ok bool)

// Routes registers the push API on mux:
//
//	GET    /api/v1/push/vapid-key       {"publicKey":"<base64url>"} (no authentication: it is public)
//	POST   /api/v1/push/subscriptions   body: PushSubscription.toJSON(); 201 {"endpoint","createdAt"}
//	DELETE /api/v1/push/subscriptions   body: {"endpoint":"..."}; 204, or 404 if the user has no such subscription
func (s *Service) Routes(mux *http.ServeMux, auth AuthFunc) {
	mux.HandleFunc("GET /api/v1/push/vapid-key", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"publicKey": s.publicKey})
	})
	mux.HandleFunc("POST /api/v1/push/subscriptions", func(w http.ResponseWriter, r *http.Request) {
		userID, ok := auth(w, r)
		if !ok {
			return
		}
		var sub Subscription
		if !decodeBody(w, r, &sub) {
			return
		}
		saved, err := s.Subscribe(r.Context(), userID, sub, r.UserAgent())
		if errors.Is(err, ErrInvalidSubscription) {
			writeError(w, http.StatusBadRequest, "bad_request", strings.TrimPrefix(err.Error(), ErrInvalidSubscription.Error()+": "))
			return
		}
		if err != nil {
			s.log.ErrorContext(r.Context(), "push: subscribe", "user", userID, "err", err)
			writeError(w, http.StatusInternalServerError, "internal", "could not save the subscription")
			return
		}
		writeJSON(w, http.StatusCreated, map[string]string{
			"endpoint":  saved.Endpoint,
			"createdAt": saved.CreatedAt.Format(time.RFC3339Nano),
		})
	})
	mux.HandleFunc("DELETE /api/v1/push/subscriptions", func(w http.ResponseWriter, r *http.Request) {
		userID, ok := auth(w, r)
		if !ok {
			return
		}
		var body struct {
			Endpoint string `json:"endpoint"`
		}
		if !decodeBody(w, r, &body) {
			return
		}
		if body.Endpoint == "" {
			writeError(w, http.StatusBadRequest, "bad_request", "endpoint is missing")
			return
		}
		err := s.Unsubscribe(r.Context(), userID, body.Endpoint)
		if errors.Is(err, store.ErrNotFound) {
			writeError(w, http.StatusNotFound, "not_found", "no such subscription")
			return
		}
		if err != nil {
			s.log.ErrorContext(r.Context(), "push: unsubscribe", "user", userID, "err", err)
			writeError(w, http.StatusInternalServerError, "internal", "could not remove the subscription")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// maxBodyBytes bounds request bodies: a subscription is well under 3 KB.
const maxBodyBytes = 16 << 10

// decodeBody reads one JSON object. Unknown fields are ignored on purpose:
// the body is what a browser produced (expirationTime, future fields).
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", "request body over 16 KiB")
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "invalid JSON body: "+err.Error())
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
