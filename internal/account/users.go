package account

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"switchboard/internal/store"
)

// UsernamePattern is what a username looks like: short, lowercase, and
// usable after an @ in a message.
var UsernamePattern = regexp.MustCompile(`^[a-z0-9._-]{1,32}$`)

const (
	maxDisplayName = 64
	maxEmail       = 254
)

// NormalizeUsername lowercases and trims name and checks it.
func NormalizeUsername(name string) (string, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if !UsernamePattern.MatchString(name) {
		return "", invalid("a username is 1-32 characters of a-z 0-9 . _ -")
	}
	return name, nil
}

// normalizeDisplayName trims name and checks it; "" stays "" (the caller
// picks a default).
func normalizeDisplayName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxDisplayName {
		return "", invalid("a display name is at most %d characters", maxDisplayName)
	}
	if strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "", invalid("a display name cannot contain control characters")
	}
	return name, nil
}

// normalizeEmail lowercases and checks an address; "" means none.
func normalizeEmail(email string) (string, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" {
		return "", nil
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || len(email) > maxEmail {
		return "", invalid("%q is not an e-mail address such as ana@example.com", email)
	}
	return email, nil
}

// NewUser is what it takes to create an account.
type NewUser struct {
	Username    string
	DisplayName string // "" means the username
	Email       string // optional
	Role        string
	Password    string
}

// newUser checks nu and hashes its password, returning the row to insert.
// Errors are *InvalidError for input to fix.
func (s *Service) newUser(ctx context.Context, nu NewUser) (store.User, error) {
	username, err := NormalizeUsername(nu.Username)
	if err != nil {
		return store.User{}, err
	}
	display, err := normalizeDisplayName(nu.DisplayName)
	if err != nil {
		return store.User{}, err
	}
	if display == "" {
		display = username
	}
	email, err := normalizeEmail(nu.Email)
	if err != nil {
		return store.User{}, err
	}
	if !ValidRole(nu.Role) {
		return store.User{}, invalid("the role must be admin, agent or member")
	}
	if err := ValidatePassword(nu.Password); err != nil {
		return store.User{}, err
	}
	hash, err := s.hasher.hash(ctx, nu.Password)
	if err != nil {
		return store.User{}, err
	}
	return store.User{ID: newID(), Username: username, DisplayName: display, Email: email, Role: nu.Role,
		PasswordHash: hash, CreatedAt: s.now()}, nil
}

// CreateUser creates an account (for the command line and for tests; on
// the web, accounts come from setup, invitations and single sign-on).
func (s *Service) CreateUser(ctx context.Context, nu NewUser) (store.User, error) {
	u, err := s.newUser(ctx, nu)
	if err != nil {
		return store.User{}, err
	}
	if err := s.st.CreateUser(ctx, u); err != nil {
		return store.User{}, err
	}
	s.endSetup() // an admin made from the command line makes setup moot
	s.log.Info("user created", "user", u.Username, "role", u.Role)
	return u, nil
}

// SetDisabled disables (ending all of the user's sessions at once) or
// enables an account.
func (s *Service) SetDisabled(ctx context.Context, id string, disabled bool) (store.User, error) {
	u, err := s.st.UpdateUser(ctx, id, store.UserChanges{Disabled: &disabled})
	if err != nil {
		return store.User{}, err
	}
	if disabled {
		s.forgetDevices(ctx, id)
		s.ended(id, "")
		s.log.Info("user disabled; sessions ended", "user", u.Username)
	} else {
		s.log.Info("user enabled", "user", u.Username)
	}
	return u, nil
}

// forgetDevices drops a disabled user's push subscriptions: their browsers
// get no more notifications. (Also when disabled from the command line.)
func (s *Service) forgetDevices(ctx context.Context, id string) {
	if _, err := s.st.DeleteUserPushSubscriptions(ctx, id); err != nil {
		s.log.Error("forgetting a disabled user's push subscriptions", "user", id, "err", err)
	}
}

// ResetPassword sets a new password, clears any sign-in lock and ends all of
// the user's sessions.
func (s *Service) ResetPassword(ctx context.Context, id, password string) error {
	return s.setPassword(ctx, id, password, "")
}

func (s *Service) setPassword(ctx context.Context, id, password, keepSession string) error {
	if err := ValidatePassword(password); err != nil {
		return err
	}
	hash, err := s.hasher.hash(ctx, password)
	if err != nil {
		return err
	}
	if err := s.st.SetPassword(ctx, id, hash, keepSession); err != nil {
		return err
	}
	// Every connection reconnects: those of the kept session get back in.
	s.ended(id, "")
	return nil
}

// ResetTOTP turns two-factor sign-in off for a user who lost their
// authenticator.
func (s *Service) ResetTOTP(ctx context.Context, id string) error {
	return s.st.DisableTOTP(ctx, id)
}

// HTTP.

func (s *Service) listUsers(w http.ResponseWriter, r *http.Request, c *caller) {
	users, err := s.st.Users(r.Context())
	if err != nil {
		s.internal(w, "list users", err)
		return
	}
	var active map[string]time.Time
	if c.IsAdmin() {
		if active, err = s.st.LastActive(r.Context()); err != nil {
			s.internal(w, "list users", err)
			return
		}
	}
	out := make([]userJSON, 0, len(users))
	for _, u := range users {
		j := s.userJSON(u, c.IsAdmin() || u.ID == c.UserID)
		j.LastActive = timeJSON(active[u.ID])
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
}

// targetID resolves the {id} path value, where "me" is the caller.
func targetID(r *http.Request, c *caller) string {
	if r.PathValue("id") == "me" {
		return c.UserID
	}
	return pathID(r)
}

func (s *Service) getUser(w http.ResponseWriter, r *http.Request, c *caller) {
	u, err := s.st.User(r.Context(), targetID(r, c))
	if errors.Is(err, store.ErrNotFound) && s.cfg.Guest != nil {
		u, err = s.cfg.Guest(r.Context(), r.PathValue("id")) // its own ids: Guest checks them
	}
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "no user with that id")
		return
	}
	if err != nil {
		s.internal(w, "get user", err)
		return
	}
	writeJSON(w, http.StatusOK, s.userJSON(u, c.IsAdmin() || u.ID == c.UserID))
}

func (s *Service) patchUser(w http.ResponseWriter, r *http.Request, c *caller) {
	var req struct {
		DisplayName *string `json:"displayName"`
		Email       *string `json:"email"`
		Role        *string `json:"role"`
		Disabled    *bool   `json:"disabled"`
	}
	if err := decode(w, r, &req); err != nil {
		s.reply(w, "update user", err)
		return
	}
	id := targetID(r, c)
	if !c.IsAdmin() {
		// People may rename themselves, nothing more. Not even their own
		// e-mail: single sign-on matches accounts by it, so claiming an
		// address could capture someone else's SSO sign-in.
		if id != c.UserID {
			writeError(w, http.StatusForbidden, "forbidden", "only admins may change other users")
			return
		}
		if req.Email != nil || req.Role != nil || req.Disabled != nil {
			writeError(w, http.StatusForbidden, "forbidden", "only admins may change e-mail, role or disabled")
			return
		}
	}
	var ch store.UserChanges
	if req.DisplayName != nil {
		name, err := normalizeDisplayName(*req.DisplayName)
		if err != nil {
			s.reply(w, "update user", err)
			return
		}
		if name == "" {
			s.reply(w, "update user", invalid("the display name cannot be empty"))
			return
		}
		ch.DisplayName = &name
	}
	if req.Email != nil {
		email, err := normalizeEmail(*req.Email)
		if err != nil {
			s.reply(w, "update user", err)
			return
		}
		ch.Email = &email
	}
	if req.Role != nil {
		if !ValidRole(*req.Role) {
			s.reply(w, "update user", invalid("the role must be admin, agent or member"))
			return
		}
		ch.Role = req.Role
	}
	ch.Disabled = req.Disabled
	u, err := s.st.UpdateUser(r.Context(), id, ch)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "no user with that id")
		return
	}
	if err != nil {
		s.reply(w, "update user", err)
		return
	}
	if req.Role != nil || req.Disabled != nil {
		if u.Disabled {
			s.forgetDevices(r.Context(), u.ID)
		}
		// Connections carry the role they were opened with: they reconnect.
		s.ended(u.ID, "")
		s.log.Info("user changed by admin", "user", u.Username, "role", u.Role, "disabled", u.Disabled, "by", c.Username)
	}
	writeJSON(w, http.StatusOK, s.userJSON(u, true))
}

func (s *Service) changePassword(w http.ResponseWriter, r *http.Request, c *caller) {
	ctx := r.Context()
	var req struct {
		Old string `json:"old"`
		New string `json:"new"`
	}
	if err := s.limit(r); err != nil {
		s.reply(w, "change password", err)
		return
	}
	if err := decode(w, r, &req); err != nil {
		s.reply(w, "change password", err)
		return
	}
	if err := ValidatePassword(req.New); err != nil {
		s.reply(w, "change password", err)
		return
	}
	// The old password is checked like a sign-in, lockout included: a
	// session left open on a shared computer must not become a way to guess it.
	if _, err := s.checkPassword(ctx, r, c.user, true, c.Username, req.Old); err != nil {
		if errors.Is(err, errWrongCredentials) {
			// 403, not 401: the caller is signed in, and clients treat a
			// 401 as "the session is gone".
			err = fail(http.StatusForbidden, "forbidden", "the current password is wrong")
		}
		s.reply(w, "change password", err)
		return
	}
	if err := s.setPassword(ctx, c.UserID, req.New, c.SessionID); err != nil {
		s.reply(w, "change password", err)
		return
	}
	s.log.Info("password changed; other sessions ended", "user", c.Username)
	w.WriteHeader(http.StatusNoContent)
}
