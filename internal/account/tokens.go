package account

import (
	"errors"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"switchboard/internal/store"
)

// Personal API tokens let a bot or an integration act as its user: send
// "Authorization: Bearer sbu_...". They need no CSRF token (a browser never
// adds that header by itself) and last until revoked. The token is shown
// once and stored as its hash.

// maxTokensPerUser keeps a runaway script from filling the table.
const maxTokensPerUser = 50

type tokenJSON struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	CreatedAt  string `json:"createdAt"`
	LastUsedAt string `json:"lastUsedAt,omitempty"`
	Token      string `json:"token,omitempty"` // only when created
}

func (s *Service) createToken(w http.ResponseWriter, r *http.Request, c *caller) {
	var req struct {
		Name string `json:"name"`
	}
	if err := decode(w, r, &req); err != nil {
		s.reply(w, "create token", err)
		return
	}
	name := strings.TrimSpace(req.Name)
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > 64 || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		s.reply(w, "create token", invalid("name the token (1-64 characters), e.g. after the integration that uses it"))
		return
	}
	existing, err := s.st.UserTokens(r.Context(), c.UserID)
	if err != nil {
		s.internal(w, "create token", err)
		return
	}
	if len(existing) >= maxTokensPerUser {
		s.reply(w, "create token", fail(http.StatusConflict, "conflict", "you have too many tokens; revoke some first"))
		return
	}
	token := TokenPrefix + randomString(32)
	t := store.UserToken{ID: newID(), TokenHash: hashToken(token), UserID: c.UserID, Name: name, CreatedAt: s.now()}
	if err := s.st.CreateUserToken(r.Context(), t); err != nil {
		s.internal(w, "create token", err)
		return
	}
	s.log.Info("api token created", "user", c.Username, "token", t.ID, "name", name)
	writeJSON(w, http.StatusCreated, tokenJSON{ID: t.ID, Name: t.Name, CreatedAt: timeJSON(t.CreatedAt), Token: token})
}

func (s *Service) listTokens(w http.ResponseWriter, r *http.Request, c *caller) {
	list, err := s.st.UserTokens(r.Context(), c.UserID)
	if err != nil {
		s.internal(w, "list tokens", err)
		return
	}
	out := make([]tokenJSON, 0, len(list))
	for _, t := range list {
		out = append(out, tokenJSON{ID: t.ID, Name: t.Name, CreatedAt: timeJSON(t.CreatedAt), LastUsedAt: timeJSON(t.LastUsedAt)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
}

func (s *Service) deleteToken(w http.ResponseWriter, r *http.Request, c *caller) {
	err := s.st.DeleteUserToken(r.Context(), c.UserID, pathID(r))
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "you have no token with that id")
		return
	}
	if err != nil {
		s.internal(w, "delete token", err)
		return
	}
	s.ended(c.UserID, pathID(r))
	s.log.Info("api token revoked", "user", c.Username, "token", pathID(r))
	w.WriteHeader(http.StatusNoContent)
}
