package account

import (
	"context"
	"errors"
	"net/http"
	"time"

	"switchboard/internal/store"
)

// Invitations: an admin hands out a link; whoever opens it first creates an
// account with the role the admin chose. The token in the link is stored
// only as its hash and works once, until it expires.

// maxInviteTTL bounds how long an invitation may stay usable: an unused link
// lying in someone's mail is an open door.
const maxInviteTTL = 30 * 24 * time.Hour

type inviteJSON struct {
	ID        string `json:"id"`
	Role      string `json:"role"`
	CreatedBy string `json:"createdBy"`
	CreatedAt string `json:"createdAt"`
	ExpiresAt string `json:"expiresAt"`
	UsedAt    string `json:"usedAt,omitempty"`
	UsedBy    string `json:"usedBy,omitempty"`
	// Token and URL are only in the answer that creates the invitation.
	Token string `json:"token,omitempty"`
	URL   string `json:"url,omitempty"`
}

func inviteToJSON(inv store.Invite) inviteJSON {
	return inviteJSON{ID: inv.ID, Role: inv.Role, CreatedBy: inv.CreatedBy, CreatedAt: timeJSON(inv.CreatedAt),
		ExpiresAt: timeJSON(inv.ExpiresAt), UsedAt: timeJSON(inv.UsedAt), UsedBy: inv.UsedBy}
}

func (s *Service) createInvite(w http.ResponseWriter, r *http.Request, c *caller) {
	var req struct {
		Role string `json:"role"`
		TTL  string `json:"ttl"`
	}
	if err := decode(w, r, &req); err != nil {
		s.reply(w, "create invite", err)
		return
	}
	if req.Role == "" {
		req.Role = RoleMember
	}
	if !ValidRole(req.Role) {
		s.reply(w, "create invite", invalid("the role must be admin, agent or member"))
		return
	}
	ttl := s.cfg.InviteTTL
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil || d <= 0 || d > maxInviteTTL {
			s.reply(w, "create invite", invalid("ttl must be a duration up to %v, such as 72h", maxInviteTTL))
			return
		}
		ttl = d
	}
	inv, token, err := s.CreateInvite(r.Context(), req.Role, ttl, c.UserID)
	if err != nil {
		s.internal(w, "create invite", err)
		return
	}
	s.log.Info("invitation created", "invite", inv.ID, "role", inv.Role, "by", c.Username, "expires", inv.ExpiresAt.UTC())
	out := inviteToJSON(inv)
	out.Token = token
	// The token is base64url, so it needs no escaping in a path.
	out.URL = s.baseURL(r) + "/invite/" + token
	writeJSON(w, http.StatusCreated, out)
}

// CreateInvite makes an invitation for role, usable once within ttl, and
// returns it with its token: the link is /invite/<token>. createdBy is the
// admin's user id ("" from the command line).
func (s *Service) CreateInvite(ctx context.Context, role string, ttl time.Duration, createdBy string) (store.Invite, string, error) {
	if !ValidRole(role) {
		return store.Invite{}, "", invalid("the role must be admin, agent or member")
	}
	if ttl <= 0 || ttl > maxInviteTTL {
		return store.Invite{}, "", invalid("an invitation lasts up to %v", maxInviteTTL)
	}
	now := s.now()
	token := newSecret()
	inv := store.Invite{ID: newID(), TokenHash: hashToken(token), Role: role, CreatedBy: createdBy,
		CreatedAt: now, ExpiresAt: now.Add(ttl)}
	// Invitations used or expired a month ago go: the list stays about
	// what is current, without a cleanup job.
	if _, err := s.st.PruneInvites(ctx, s.now().Add(-30*24*time.Hour)); err != nil {
		return store.Invite{}, "", err
	}
	if err := s.st.CreateInvite(ctx, inv); err != nil {
		return store.Invite{}, "", err
	}
	return inv, token, nil
}

// InviteTTL is how long invitations last unless asked otherwise.
func (s *Service) InviteTTL() time.Duration { return s.cfg.InviteTTL }

func (s *Service) listInvites(w http.ResponseWriter, r *http.Request, c *caller) {
	list, err := s.st.Invites(r.Context())
	if err != nil {
		s.internal(w, "list invites", err)
		return
	}
	out := make([]inviteJSON, 0, len(list))
	for _, inv := range list {
		out = append(out, inviteToJSON(inv))
	}
	writeJSON(w, http.StatusOK, map[string]any{"invites": out})
}

func (s *Service) deleteInvite(w http.ResponseWriter, r *http.Request, c *caller) {
	err := s.st.DeleteInvite(r.Context(), pathID(r))
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "no invitation with that id")
		return
	}
	if err != nil {
		s.internal(w, "delete invite", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) acceptInvite(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req struct {
		Token       string `json:"token"`
		Username    string `json:"username"`
		DisplayName string `json:"displayName"`
		Email       string `json:"email"`
		Password    string `json:"password"`
	}
	if err := s.limit(r); err != nil {
		s.reply(w, "accept invite", err)
		return
	}
	if err := decode(w, r, &req); err != nil {
		s.reply(w, "accept invite", err)
		return
	}
	if req.Token == "" {
		s.reply(w, "accept invite", invalid("token is required"))
		return
	}
	// The role is the invitation's; newUser needs a valid one to check the rest.
	u, err := s.newUser(ctx, NewUser{Username: req.Username, DisplayName: req.DisplayName, Email: req.Email,
		Role: RoleMember, Password: req.Password})
	if err != nil {
		s.reply(w, "accept invite", err)
		return
	}
	u, err = s.st.AcceptInvite(ctx, hashToken(req.Token), s.now(), u)
	if errors.Is(err, store.ErrNotFound) {
		s.log.Info("invitation refused: unknown, used or expired", "ip", clientIP(r))
		writeError(w, http.StatusNotFound, "not_found", "this invitation is not valid: it may have been used or have expired")
		return
	}
	if err != nil {
		s.reply(w, "accept invite", err)
		return
	}
	s.log.Info("user created from invitation", "user", u.Username, "role", u.Role, "ip", clientIP(r))
	ss, err := s.startSession(ctx, w, r, u)
	if err != nil {
		s.internal(w, "accept invite", err)
		return
	}
	writeJSON(w, http.StatusCreated, signedInJSON{User: s.userJSON(u, true), CSRFToken: ss.CSRFToken})
}
