package chat

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"strings"

	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// newID returns a random id: 80 bits in 16 lowercase base32 characters.
func newID() string {
	var b [10]byte
	rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}

// existingUsers checks that every id names an enabled user.
func (s *Service) existingUsers(ctx context.Context, ids []string) error {
	for _, id := range ids {
		u, err := s.cfg.Directory.User(ctx, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
			return errorf(protocol.CodeNotFound, "no user %s", id)
		}
		if err != nil {
			return s.internal("user lookup", err)
		}
	}
	return nil
}

// convName checks and trims the name of a group or channel: the same rules
// for create and update.
func convName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || strings.ContainsAny(name, "\r\n") {
		return "", errorf(protocol.CodeBadRequest, "name must be one line of 1-%d characters", protocol.MaxConvName)
	}
	return name, nil
}

// errArchived refuses a change to an archived conversation: it is read-only
// until an owner or admin unarchives it. (A new error each time: the socket
// sets the request's id on it.)
func errArchived() error {
	return errorf(protocol.CodeInvalidState, "the conversation is archived; it is read-only until it is unarchived")
}

// writable returns me's membership of conv if me may add to its log: not
// while it is archived.
func (s *Service) writable(ctx context.Context, me Identity, conv string) (store.Member, error) {
	m, err := s.membership(ctx, me, conv)
	if err != nil {
		return store.Member{}, err
	}
	c, err := s.st.Conversation(ctx, conv)
	if err != nil {
		return store.Member{}, s.internal("conversation", err)
	}
	if c.Archived {
		return store.Member{}, errArchived()
	}
	return m, nil
}

// view describes conv to member me, with me's unread count.
func (s *Service) view(ctx context.Context, me Identity, conv string) (protocol.ConversationInfo, error) {
	info, err := s.describe(ctx, me, conv)
	if err != nil {
		return info, err
	}
	if info.Unread, err = s.st.Unread(ctx, conv, me.UserID); err != nil {
		return protocol.ConversationInfo{}, s.internal("conversation", err)
	}
	return info, nil
}

// Create makes a group or channel with me as its owner.
func (s *Service) Create(ctx context.Context, me Identity, req *protocol.CreateConversation) (protocol.ConversationInfo, error) {
	name, err := convName(req.Name)
	if err != nil {
		return protocol.ConversationInfo{}, err
	}
	if err := s.existingUsers(ctx, req.Members); err != nil {
		return protocol.ConversationInfo{}, err
	}
	c, err := s.st.CreateConversation(ctx, store.Conversation{ID: newID(), Kind: req.Kind, Name: name,
		Topic: req.Topic, CreatedBy: me.UserID}, req.Members)
	if err != nil {
		return protocol.ConversationInfo{}, s.internal("create conversation", err)
	}
	s.membersChanged(c.ID)
	s.system(ctx, c.ID, me.UserID, map[string]any{"action": "created", "name": c.Name})
	s.introduce(ctx, c.ID, nil)
	return s.announce(ctx, me, c.ID)
}

// Direct returns me's direct conversation with user, creating it if needed.
func (s *Service) Direct(ctx context.Context, me Identity, user string) (protocol.ConversationInfo, error) {
	info, _, err := s.direct(ctx, me, user)
	return info, err
}

// direct is Direct, also telling whether the conversation was created.
func (s *Service) direct(ctx context.Context, me Identity, user string) (protocol.ConversationInfo, bool, error) {
	if user == me.UserID {
		return protocol.ConversationInfo{}, false, errorf(protocol.CodeBadRequest, "a direct conversation needs someone else")
	}
	if err := s.existingUsers(ctx, []string{user}); err != nil {
		return protocol.ConversationInfo{}, false, err
	}
	c, created, err := s.st.DirectConversation(ctx, newID(), me.UserID, user)
	if err != nil {
		return protocol.ConversationInfo{}, false, s.internal("direct conversation", err)
	}
	if created {
		s.membersChanged(c.ID)
		s.introduce(ctx, c.ID, nil)
		info, err := s.announce(ctx, me, c.ID)
		return info, true, err
	}
	info, err := s.view(ctx, me, c.ID)
	return info, false, err
}

// introduce tells the newcomers of conv the presence of its members, and
// the members the newcomers' (nil newcomers: everyone is new). Presence
// frames carry changes only, so people who just came to share a
// conversation would otherwise not see each other's status until it changed.
func (s *Service) introduce(ctx context.Context, conv string, newcomers []string) {
	ids, err := s.memberIDs(ctx, conv)
	if err != nil {
		s.log.Error("chat: introduce", "conversation", conv, "err", err)
		return
	}
	if newcomers == nil {
		newcomers = ids
	}
	s.pres.introduce(newcomers, ids)
}

// announce tells every member's devices about conv and returns it as me sees
// it. The conversation and its members are loaded once: each member's view
// differs only in their own cursor and mute.
func (s *Service) announce(ctx context.Context, me Identity, conv string) (protocol.ConversationInfo, error) {
	c, err := s.st.Conversation(ctx, conv)
	if err != nil {
		return protocol.ConversationInfo{}, s.internal("conversation", err)
	}
	ms, err := s.st.Members(ctx, conv)
	if err != nil {
		return protocol.ConversationInfo{}, s.internal("conversation", err)
	}
	base, _ := s.convInfo(ctx, c, nil, 0)
	base.Member, base.Members = true, memberInfos(ms)
	var mine protocol.ConversationInfo
	for _, m := range ms {
		info := base
		info.ReadSeq, info.Muted = m.ReadSeq, m.Muted
		if m.UserID == me.UserID {
			mine = info
		}
		s.hub.toUser(m.UserID, protocol.Encode(&protocol.ConversationMsg{Conversation: info}))
	}
	return mine, nil
}

// Channels lists the open channels, marking those me is in.
func (s *Service) Channels(ctx context.Context, me Identity) ([]protocol.ConversationInfo, error) {
	cs, err := s.st.Channels(ctx)
	if err != nil {
		return nil, s.internal("channels", err)
	}
	out := make([]protocol.ConversationInfo, 0, len(cs))
	for _, c := range cs {
		info, _ := s.convInfo(ctx, c, nil, 0)
		if _, err := s.st.Member(ctx, c.ID, me.UserID); err == nil {
			info.Member = true
		}
		out = append(out, info)
	}
	return out, nil
}

// Join adds me to a channel. Joining one that me is in already changes nothing.
func (s *Service) Join(ctx context.Context, me Identity, conv string) (protocol.ConversationInfo, error) {
	if _, err := s.st.Member(ctx, conv, me.UserID); err == nil {
		return s.view(ctx, me, conv)
	} else if !errors.Is(err, store.ErrNotFound) {
		return protocol.ConversationInfo{}, s.internal("join", err)
	}
	c, err := s.st.Conversation(ctx, conv)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.Kind != store.Channel) {
		return protocol.ConversationInfo{}, errorf(protocol.CodeNotFound, "no channel %s; groups are joined by invitation", conv)
	}
	if err != nil {
		return protocol.ConversationInfo{}, s.internal("join", err)
	}
	if c.Archived {
		return protocol.ConversationInfo{}, errorf(protocol.CodeInvalidState, "the channel is archived")
	}
	if _, err := s.st.AddMember(ctx, conv, me.UserID, "member"); errors.Is(err, store.ErrExists) {
		return s.view(ctx, me, conv) // joined meanwhile, from another device
	} else if err != nil {
		return protocol.ConversationInfo{}, s.internal("join", err)
	}
	s.membersChanged(conv)
	s.system(ctx, conv, me.UserID, map[string]any{"action": "joined", "user": me.UserID})
	s.introduce(ctx, conv, []string{me.UserID})
	return s.announce(ctx, me, conv)
}

// Leave removes me from a group or channel. The remaining members hear of
// it, with the new owner if me was the last one (see store.RemoveMember).
func (s *Service) Leave(ctx context.Context, me Identity, conv string) error {
	c, err := s.st.Conversation(ctx, conv)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return s.internal("leave", err)
	}
	if _, err := s.membership(ctx, me, conv); err != nil {
		return err
	}
	if c.Kind == store.Direct {
		return errorf(protocol.CodeInvalidState, "a direct conversation cannot be left; mute it instead")
	}
	if err := s.st.RemoveMember(ctx, conv, me.UserID); errors.Is(err, store.ErrNotFound) {
		return nil // left meanwhile, from another device
	} else if err != nil {
		return s.internal("leave", err)
	}
	s.membersChanged(conv)
	s.hub.toUser(me.UserID, protocol.Encode(&protocol.Removed{Conversation: conv}))
	s.system(ctx, conv, me.UserID, map[string]any{"action": "left", "user": me.UserID})
	if _, err := s.announce(ctx, me, conv); err != nil {
		s.log.Error("chat: leave", "conversation", conv, "err", err)
	}
	return nil
}

// Invite adds users to a group or channel; any member may invite.
func (s *Service) Invite(ctx context.Context, me Identity, conv string, users []string) (protocol.ConversationInfo, error) {
	if _, err := s.writable(ctx, me, conv); err != nil {
		return protocol.ConversationInfo{}, err
	}
	c, err := s.st.Conversation(ctx, conv)
	if err != nil {
		return protocol.ConversationInfo{}, s.internal("invite", err)
	}
	if c.Kind == store.Direct {
		return protocol.ConversationInfo{}, errorf(protocol.CodeInvalidState, "a direct conversation has two people; create a group to add more")
	}
	if err := s.existingUsers(ctx, users); err != nil {
		return protocol.ConversationInfo{}, err
	}
	for _, u := range users {
		if _, err := s.st.AddMember(ctx, conv, u, "member"); err != nil && !errors.Is(err, store.ErrExists) {
			return protocol.ConversationInfo{}, s.internal("invite", err)
		}
	}
	s.membersChanged(conv)
	s.system(ctx, conv, me.UserID, map[string]any{"action": "added", "users": users})
	s.introduce(ctx, conv, users)
	return s.announce(ctx, me, conv)
}

// Update renames, changes the topic of, or (un)archives a group or channel.
// Owners and admins may; for channels' topics, any member may. An archived
// conversation only changes when it is unarchived.
func (s *Service) Update(ctx context.Context, me Identity, req *protocol.UpdateConversation) (protocol.ConversationInfo, error) {
	m, err := s.membership(ctx, me, req.Conversation)
	if err != nil {
		return protocol.ConversationInfo{}, err
	}
	if req.Name != nil {
		name, err := convName(*req.Name)
		if err != nil {
			return protocol.ConversationInfo{}, err
		}
		req.Name = &name
	}
	c, err := s.st.Conversation(ctx, req.Conversation)
	if err != nil {
		return protocol.ConversationInfo{}, s.internal("update", err)
	}
	if c.Kind == store.Direct {
		return protocol.ConversationInfo{}, errorf(protocol.CodeInvalidState, "a direct conversation has no name or topic")
	}
	owner := m.Role == "owner" || me.Admin()
	if !owner && (req.Name != nil || req.Archived != nil || c.Kind != store.Channel) {
		return protocol.ConversationInfo{}, errorf(protocol.CodeForbidden, "only the owner or an admin may change this")
	}
	if c.Archived && (req.Archived == nil || *req.Archived) {
		return protocol.ConversationInfo{}, errArchived()
	}
	if _, err := s.st.UpdateConversation(ctx, c.ID, req.Name, req.Topic, req.Archived); err != nil {
		return protocol.ConversationInfo{}, s.internal("update", err)
	}
	change := map[string]any{"action": "updated"}
	if req.Name != nil {
		change["name"] = *req.Name
	}
	if req.Topic != nil {
		change["topic"] = *req.Topic
	}
	if req.Archived != nil {
		change["archived"] = *req.Archived
	}
	s.system(ctx, c.ID, me.UserID, change)
	return s.announce(ctx, me, c.ID)
}

// Mute silences notifications of conv for me (mentions still notify).
func (s *Service) Mute(ctx context.Context, me Identity, conv string, muted bool) error {
	if _, err := s.membership(ctx, me, conv); err != nil {
		return err
	}
	if err := s.st.SetMuted(ctx, conv, me.UserID, muted); err != nil {
		return s.internal("mute", err)
	}
	return nil
}

// system appends a system entry (joined, left, renamed...) and delivers it.
func (s *Service) system(ctx context.Context, conv, actor string, data map[string]any) {
	b, _ := json.Marshal(data)
	m, _, err := s.st.AppendMessage(ctx, store.Message{ConversationID: conv, Kind: store.KindSystem, SenderID: actor, Data: b})
	if err != nil {
		s.log.Error("chat: system message", "conversation", conv, "err", err)
		return
	}
	s.deliver(ctx, entry(m))
}
