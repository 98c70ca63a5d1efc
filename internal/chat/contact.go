package chat

import (
	"context"
	"errors"

	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// Customer contact (internal/contact) talks to website visitors through
// ordinary conversations: a contact's conversation is a group that the
// visitor is in from the start and the agent joins on answering. What is
// special is the visitor: not an account, with the least a chat needs.

// RoleVisitor is the role of a website visitor's identity.
const RoleVisitor = "visitor"

// Visitor reports whether the identity is a website visitor.
func (id Identity) Visitor() bool { return id.Role == RoleVisitor }

// visitorMay lists what a visitor may ask on the socket: to read and write
// in the conversations they are a member of (their contacts), and to call,
// answer or end a call there. Nothing that reaches other people:
// no conversations of their own, no channels, no search across the server.
func visitorMay(msg protocol.Message) bool {
	switch m := msg.(type) {
	case *protocol.Ping, *protocol.Sync, *protocol.HistoryReq, *protocol.Send, *protocol.Edit, *protocol.Delete,
		*protocol.React, *protocol.Read, *protocol.Delivered, *protocol.Typing, *protocol.Activity:
		return true
	case *protocol.CallAction:
		return m.Action == "answer" || m.Action == "decline" || m.Action == "hangup"
	case *protocol.StartCall:
		// Only into their own conversation (a contact link's "call me"):
		// Start checks they are a member; or their widget's telephone.
		return m.User == "" && m.Phone == "" && (m.Conversation != "") != m.ClickToCall
	}
	return false
}

// errVisitor refuses a visitor anything else. (A new error each time: the
// socket sets the request's id on it.)
func errVisitor() error {
	return errorf(protocol.CodeForbidden, "a visitor may only talk in their own conversation")
}

// OpenContact creates the conversation of a visitor's contact, with the
// visitor as its only member and no owner: agents join it (JoinContact).
func (s *Service) OpenContact(ctx context.Context, visitor Identity, name string) (protocol.ConversationInfo, error) {
	name, err := convName(name)
	if err != nil {
		return protocol.ConversationInfo{}, err
	}
	c, err := s.st.CreateConversation(ctx, store.Conversation{ID: newID(), Kind: store.Group, Name: name}, []string{visitor.UserID})
	if err != nil {
		return protocol.ConversationInfo{}, s.internal("open contact", err)
	}
	s.membersChanged(c.ID)
	s.system(ctx, c.ID, visitor.UserID, map[string]any{"action": "created", "name": c.Name})
	return s.announce(ctx, visitor, c.ID)
}

// JoinContact adds an agent to a contact's conversation (answering it, or
// taking it over on a transfer). The conversation's history is theirs to
// read: the visitor's first words, what a colleague said before.
func (s *Service) JoinContact(ctx context.Context, conv string, agent Identity) error {
	if _, err := s.st.AddMember(ctx, conv, agent.UserID, "member"); err != nil && !errors.Is(err, store.ErrExists) {
		return s.internal("join contact", err)
	}
	s.membersChanged(conv)
	s.system(ctx, conv, agent.UserID, map[string]any{"action": "joined", "user": agent.UserID})
	s.introduce(ctx, conv, []string{agent.UserID})
	_, err := s.announce(ctx, agent, conv)
	return err
}

// AddToContact adds several agents to a contact's conversation at once (a
// message left for a queue): one log entry and one announcement for all.
func (s *Service) AddToContact(ctx context.Context, conv, actor string, users []string) error {
	for _, u := range users {
		if _, err := s.st.AddMember(ctx, conv, u, "member"); err != nil && !errors.Is(err, store.ErrExists) {
			return s.internal("add to contact", err)
		}
	}
	s.membersChanged(conv)
	s.system(ctx, conv, actor, map[string]any{"action": "added", "users": users})
	s.introduce(ctx, conv, users)
	_, err := s.announce(ctx, Identity{}, conv)
	return err
}

// LeaveContact takes someone out of a contact's conversation (an agent who
// transferred it away).
func (s *Service) LeaveContact(ctx context.Context, conv, user string) error {
	if err := s.st.RemoveMember(ctx, conv, user); errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return s.internal("leave contact", err)
	}
	s.membersChanged(conv)
	s.hub.toUser(user, protocol.Encode(&protocol.Removed{Conversation: conv}))
	s.system(ctx, conv, user, map[string]any{"action": "left", "user": user})
	_, err := s.announce(ctx, Identity{UserID: user}, conv)
	return err
}

// CloseContact archives a contact's conversation when the contact ends: the
// history stays, and nobody adds to it.
func (s *Service) CloseContact(ctx context.Context, conv, by string) error {
	archived := true
	if _, err := s.st.UpdateConversation(ctx, conv, nil, nil, &archived); err != nil {
		return s.internal("close contact", err)
	}
	s.system(ctx, conv, by, map[string]any{"action": "updated", "archived": true})
	_, err := s.announce(ctx, Identity{UserID: by}, conv)
	return err
}

// Push sends a frame to every connected device of a user (contact offers to
// agents, queue positions to visitors).
func (s *Service) Push(user string, frame []byte) { s.hub.toUser(user, frame) }

// PresenceOf is a person's presence status as their colleagues see it
// (available, away, busy, dnd, in_call, offline), or "" when presence is
// off on this server.
func (s *Service) PresenceOf(user string) string {
	if s.cfg.PresenceOff {
		return ""
	}
	return s.pres.status(user)
}

// Online reports whether a user has a connected device.
func (s *Service) Online(user string) bool { return s.hub.online(user) }
