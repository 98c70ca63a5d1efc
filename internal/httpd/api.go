package httpd

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"switchboard/internal/auth"
	"switchboard/internal/protocol"
	"switchboard/internal/room"
	"switchboard/internal/store"
)

// authenticate accepts an API key (HTTP Basic: key id and secret, which grants everything) or a
// bearer JWT minted from one.
func (s *Server) authenticate(r *http.Request) (*auth.Claims, error) {
	if _, _, ok := r.BasicAuth(); ok {
		key, err := s.apiKey(r)
		if err != nil {
			return nil, err
		}
		return &auth.Claims{Identity: "apikey:" + key.ID, Admin: true, Create: true, Join: true,
			Publish: true, Subscribe: true, Moderate: true}, nil
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil, errors.New("send an API key (HTTP Basic) or a bearer token")
	}
	claims, err := auth.Verify(token, s.keySecret(r), s.cfg.Now())
	if errors.Is(err, auth.ErrTokenExpired) {
		return nil, errors.New("the token has expired")
	}
	if err != nil {
		return nil, errors.New("the token is not valid")
	}
	return claims, nil
}

// apiKey checks HTTP Basic credentials against the API keys, in constant time.
func (s *Server) apiKey(r *http.Request) (store.APIKey, error) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		return store.APIKey{}, errors.New("no credentials")
	}
	key, err := s.cfg.Keys.APIKey(r.Context(), id)
	if err != nil || subtle.ConstantTimeCompare([]byte(key.Secret), []byte(secret)) != 1 {
		return store.APIKey{}, errors.New("unknown API key or wrong secret")
	}
	return key, nil
}

func (s *Server) keySecret(r *http.Request) func(string) ([]byte, error) {
	return func(id string) ([]byte, error) {
		k, err := s.cfg.Keys.APIKey(r.Context(), id)
		if err != nil {
			return nil, err
		}
		return []byte(k.Secret), nil
	}
}

type roomJSON struct {
	ID              string `json:"id"`
	URL             string `json:"url"`
	P2P             bool   `json:"p2p"`
	Lobby           bool   `json:"lobby"`
	Locked          bool   `json:"locked"`
	MaxParticipants int    `json:"maxParticipants"`
	Participants    int    `json:"participants"`
}

func (s *Server) roomJSON(r *http.Request, rm *room.Room) roomJSON {
	info := rm.Info()
	return roomJSON{ID: info.ID, URL: s.baseURL(r) + "/m/" + info.ID, P2P: info.P2P, Lobby: info.Lobby,
		Locked: info.Locked, MaxParticipants: info.MaxParticipants, Participants: rm.Members()}
}

// createRoom makes a meeting with an unguessable id. Open to anyone when creation is open (as on
// Jitsi); otherwise it needs a token with the create grant or an API key.
func (s *Server) createRoom(w http.ResponseWriter, r *http.Request) {
	if !s.cfg.OpenCreation {
		claims, err := s.authenticate(r)
		if err != nil {
			writeError(w, http.StatusUnauthorized, "unauthorized", "this server requires sign-in to start a meeting: "+err.Error())
			return
		}
		if !claims.Create && !claims.Admin {
			writeError(w, http.StatusForbidden, "forbidden", "the token lacks the create grant")
			return
		}
	}
	var req struct {
		P2P             bool `json:"p2p"`
		Lobby           bool `json:"lobby"`
		MaxParticipants int  `json:"maxParticipants"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if req.MaxParticipants < 0 {
		writeError(w, http.StatusBadRequest, "bad_request", "maxParticipants must not be negative")
		return
	}
	rm, err := s.cfg.Registry.Create(r.Context(), room.Settings{P2P: req.P2P, Lobby: req.Lobby, MaxParticipants: req.MaxParticipants})
	if err != nil {
		s.cfg.Logger.Error("cannot create room", "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "could not create the meeting")
		return
	}
	writeJSON(w, http.StatusCreated, s.roomJSON(r, rm))
}

func (s *Server) listRooms(w http.ResponseWriter, r *http.Request) {
	out := []roomJSON{}
	for _, rm := range s.cfg.Registry.Live() {
		out = append(out, s.roomJSON(r, rm))
	}
	writeJSON(w, http.StatusOK, map[string]any{"rooms": out})
}

func (s *Server) getRoom(w http.ResponseWriter, r *http.Request) {
	rm, ok := s.cfg.Registry.Get(r.PathValue("room"))
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "no live meeting with this id")
		return
	}
	writeJSON(w, http.StatusOK, s.roomJSON(r, rm))
}

func (s *Server) deleteRoom(w http.ResponseWriter, r *http.Request) {
	err := s.cfg.Registry.Delete(r.Context(), r.PathValue("room"))
	if err != nil && !errors.Is(err, room.ErrNotFound) {
		writeError(w, http.StatusInternalServerError, "internal", "could not delete the meeting")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// maxTokenTTL bounds minted tokens: tokens are bearer credentials, so they must be short-lived.
const maxTokenTTL = 24 * time.Hour

// createToken mints an access token with an API key (HTTP Basic), for backends that have no JWT library.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	key, err := s.apiKey(r)
	if err != nil {
		writeError(w, http.StatusUnauthorized, "unauthorized", "mint tokens with an API key (HTTP Basic with key id and secret): "+err.Error())
		return
	}
	var req struct {
		Identity  string `json:"identity"`
		Name      string `json:"name"`
		Room      string `json:"room"`
		TTL       string `json:"ttl"`
		Join      bool   `json:"join"`
		Publish   bool   `json:"publish"`
		Subscribe bool   `json:"subscribe"`
		Moderate  bool   `json:"moderate"`
		Create    bool   `json:"create"`
		Admin     bool   `json:"admin"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	ttl := time.Hour
	if req.TTL != "" {
		if ttl, err = time.ParseDuration(req.TTL); err != nil || ttl <= 0 || ttl > maxTokenTTL {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("ttl must be a duration up to %v, such as 1h", maxTokenTTL))
			return
		}
	}
	if req.Room != "" && !protocol.RoomIDPattern.MatchString(req.Room) {
		writeError(w, http.StatusBadRequest, "bad_request", "room must be 1-64 characters of A-Z a-z 0-9 _ -")
		return
	}
	if req.Identity == "" {
		writeError(w, http.StatusBadRequest, "bad_request", "identity is required (who the token is for)")
		return
	}
	now := s.cfg.Now()
	token, err := auth.Mint(key.ID, []byte(key.Secret), auth.Claims{Identity: req.Identity, Name: req.Name, Room: req.Room,
		Join: req.Join, Publish: req.Publish, Subscribe: req.Subscribe, Moderate: req.Moderate, Create: req.Create,
		Admin: req.Admin, IssuedAt: now, NotBefore: now, ExpiresAt: now.Add(ttl)})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "could not mint the token")
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"token": token, "expiresAt": now.Add(ttl).UTC().Format(time.RFC3339)})
}

// decodeBody reads a small JSON body strictly; an empty body leaves v at its zero value.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<10))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", "request body over 16 KiB")
		return false
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return true
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
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

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]string{"code": code, "message": message})
}
