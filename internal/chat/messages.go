package chat

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// FileRoom is the namespace of a conversation's files in the file store.
func FileRoom(conv string) string { return store.ConversationFileRoom(conv) }

// Attachment is a file sent with a message, as its Data lists it.
type Attachment struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Size  int64  `json:"size"`
	Type  string `json:"type"`
	URL   string `json:"url"`
	Thumb string `json:"thumb,omitempty"` // URL of a small preview, for images
}

// textData is the Data of a text entry.
type textData struct {
	Attachments []Attachment `json:"attachments,omitempty"`
	Mentions    []string     `json:"mentions,omitempty"` // user ids
	Everyone    bool         `json:"everyone,omitempty"` // @channel or @here
}

var mentionPattern = regexp.MustCompile(`(?:^|[^\w@])@([a-z0-9._-]{1,32})`)

const maxMentions = 20

// mentions finds the members text names with @username, and @channel/@here.
func (s *Service) mentions(ctx context.Context, text string, members []string) (ids []string, everyone bool) {
	for _, m := range mentionPattern.FindAllStringSubmatch(strings.ToLower(text), maxMentions) {
		name := strings.TrimRight(m[1], ".")
		if name == "channel" || name == "here" || name == "everyone" {
			everyone = true
			continue
		}
		u, err := s.cfg.Directory.UserByUsername(ctx, name)
		if err == nil && slices.Contains(members, u.ID) && !slices.Contains(ids, u.ID) {
			ids = append(ids, u.ID)
		}
	}
	return ids, everyone
}

// Send appends a message from me to a conversation and delivers it. A retry
// with the same txn returns the stored message and delivers nothing again.
func (s *Service) Send(ctx context.Context, me Identity, req *protocol.Send) (protocol.Entry, bool, error) {
	if _, err := s.writable(ctx, me, req.Conversation); err != nil {
		// A retry of a send stored before the conversation was archived gets
		// its message back, as any retry does.
		if req.Txn != "" {
			if prev, perr := s.st.MessageByTxn(ctx, req.Conversation, me.UserID, req.Txn); perr == nil && prev.Kind == store.KindText {
				return entry(prev), true, nil
			}
		}
		return protocol.Entry{}, false, err
	}
	members, err := s.memberIDs(ctx, req.Conversation)
	if err != nil {
		return protocol.Entry{}, false, s.internal("send", err)
	}
	var data textData
	for _, id := range req.Files {
		f, fh, err := s.st.OpenFile(ctx, FileRoom(req.Conversation), id)
		if err != nil {
			return protocol.Entry{}, false, errorf(protocol.CodeNotFound, "no file %s in this conversation; upload it first", id)
		}
		fh.Close()
		a := Attachment{ID: f.ID, Name: f.Name, Size: f.Size, Type: f.ContentType, URL: fileURL(req.Conversation, f.ID)}
		if thumb, ok := s.thumbnail(ctx, req.Conversation, f); ok {
			a.Thumb = fileURL(req.Conversation, thumb)
		}
		data.Attachments = append(data.Attachments, a)
	}
	data.Mentions, data.Everyone = s.mentions(ctx, req.Text, members)
	m := store.Message{ConversationID: req.Conversation, Kind: store.KindText, SenderID: me.UserID, TxnID: req.Txn,
		Text: req.Text, ReplySeq: req.Reply}
	if req.Thread > 0 {
		root, err := s.st.Message(ctx, req.Conversation, req.Thread)
		if err != nil || root.Kind != store.KindText || root.ThreadSeq != 0 {
			return protocol.Entry{}, false, errorf(protocol.CodeNotFound, "no message %d to reply to in a thread", req.Thread)
		}
		m.ThreadSeq = req.Thread
	}
	if req.Reply > 0 {
		quoted, err := s.st.Message(ctx, req.Conversation, req.Reply)
		if errors.Is(err, store.ErrNotFound) || (err == nil && quoted.Kind != store.KindText) {
			return protocol.Entry{}, false, errorf(protocol.CodeBadRequest, "reply must be the seq of a message of this conversation")
		} else if err != nil {
			return protocol.Entry{}, false, s.internal("send", err)
		}
	}
	if len(data.Attachments) > 0 || len(data.Mentions) > 0 || data.Everyone {
		m.Data, _ = json.Marshal(data)
	}
	stored, dup, err := s.st.AppendMessage(ctx, m)
	if err != nil {
		return protocol.Entry{}, false, s.internal("send", err)
	}
	e := entry(stored)
	if !dup {
		s.deliver(ctx, e)
		s.afterMessage(ctx, me, stored, data, members)
	}
	return e, dup, nil
}

func fileURL(conv, id string) string {
	return "/api/v1/conversations/" + conv + "/files/" + id
}

// Edit replaces the text of one of me's messages.
func (s *Service) Edit(ctx context.Context, me Identity, req *protocol.Edit) error {
	if err := s.ownMessage(ctx, me, req.Conversation, req.Seq, false); err != nil {
		return err
	}
	return s.change(ctx, store.Message{ConversationID: req.Conversation, Kind: store.KindEdit, SenderID: me.UserID,
		TargetSeq: req.Seq, Text: req.Text})
}

// Delete removes a message: the sender's own, or any as a conversation
// owner or admin. The text stays in the revisions, for admins.
func (s *Service) Delete(ctx context.Context, me Identity, req *protocol.Delete) error {
	if err := s.ownMessage(ctx, me, req.Conversation, req.Seq, true); err != nil {
		return err
	}
	return s.change(ctx, store.Message{ConversationID: req.Conversation, Kind: store.KindDelete, SenderID: me.UserID, TargetSeq: req.Seq})
}

// React adds or removes me's emoji on a message.
func (s *Service) React(ctx context.Context, me Identity, req *protocol.React) error {
	if _, err := s.writable(ctx, me, req.Conversation); err != nil {
		return err
	}
	data, _ := json.Marshal(store.ReactionData{Emoji: req.Emoji, Add: req.Add})
	err := s.change(ctx, store.Message{ConversationID: req.Conversation, Kind: store.KindReaction, SenderID: me.UserID,
		TargetSeq: req.Seq, Data: data})
	if errors.Is(err, store.ErrNoChange) {
		return nil // already so: reactions are idempotent
	}
	return err
}

// ownMessage checks that me may change the message at seq.
func (s *Service) ownMessage(ctx context.Context, me Identity, conv string, seq int64, moderators bool) error {
	mem, err := s.writable(ctx, me, conv)
	if err != nil {
		return err
	}
	m, err := s.st.Message(ctx, conv, seq)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (m.Kind != store.KindText || !m.DeletedAt.IsZero())) {
		return errorf(protocol.CodeNotFound, "no message %d in this conversation", seq)
	}
	if err != nil {
		return s.internal("message", err)
	}
	if m.SenderID != me.UserID && !(moderators && (mem.Role == "owner" || me.Admin())) {
		return errorf(protocol.CodeForbidden, "only the sender may change this message")
	}
	return nil
}

// change appends an edit, delete or reaction entry and delivers it.
func (s *Service) change(ctx context.Context, m store.Message) error {
	stored, _, err := s.st.AppendMessage(ctx, m)
	switch {
	case errors.Is(err, store.ErrNoTarget):
		return errorf(protocol.CodeNotFound, "no message %d in this conversation", m.TargetSeq)
	case errors.Is(err, store.ErrNoChange):
		return err
	case err != nil:
		return s.internal(m.Kind, err)
	}
	s.deliver(ctx, entry(stored))
	return nil
}

// deliver sends a new log entry to every connected device of every member.
// The frame is encoded once. Devices that miss it (offline, too slow) get
// it when they sync.
func (s *Service) deliver(ctx context.Context, e protocol.Entry) {
	ids, err := s.memberIDs(ctx, e.Conversation)
	if err != nil {
		s.log.Error("chat: deliver", "conversation", e.Conversation, "err", err)
		return
	}
	frame := protocol.Encode(&protocol.EventMsg{Entry: e})
	for _, u := range ids {
		s.hub.toUser(u, frame)
	}
}

// Sync returns the entries of conv after a cursor: how a device catches up.
func (s *Service) Sync(ctx context.Context, me Identity, conv string, after int64, limit int) ([]protocol.Entry, bool, error) {
	if _, err := s.membership(ctx, me, conv); err != nil {
		return nil, false, err
	}
	if limit <= 0 || limit >= store.MaxPage {
		limit = store.MaxPage - 1
	}
	// One more than asked tells whether there is more.
	ms, err := s.st.Events(ctx, conv, after, limit+1)
	if err != nil {
		return nil, false, s.internal("sync", err)
	}
	more := len(ms) > limit
	if more {
		ms = ms[:limit]
	}
	return entries(ms), more, nil
}

// History returns conv's messages before a sequence number (0: the newest).
func (s *Service) History(ctx context.Context, me Identity, conv string, before int64, limit int) ([]protocol.Entry, error) {
	if _, err := s.membership(ctx, me, conv); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 50
	}
	ms, err := s.st.History(ctx, conv, before, limit)
	if err != nil {
		return nil, s.internal("history", err)
	}
	return entries(ms), nil
}

// ThreadPage returns a thread's root followed by its replies with seq >
// after, at most limit (default and maximum 499) of them; more tells that
// there are more: ask again after the last one.
func (s *Service) ThreadPage(ctx context.Context, me Identity, conv string, root, after int64, limit int) ([]protocol.Entry, bool, error) {
	if _, err := s.membership(ctx, me, conv); err != nil {
		return nil, false, err
	}
	if limit <= 0 || limit >= store.MaxPage {
		limit = store.MaxPage - 1
	}
	// One more than asked tells whether there is more.
	ms, err := s.st.Thread(ctx, conv, root, after, limit+1)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, errorf(protocol.CodeNotFound, "no message %d in this conversation", root)
	}
	if err != nil {
		return nil, false, s.internal("thread", err)
	}
	more := len(ms) > limit+1
	if more {
		ms = ms[:limit+1]
	}
	return entries(ms), more, nil
}

// Search finds messages me can see.
func (s *Service) Search(ctx context.Context, me Identity, query, conv string, limit int) ([]protocol.Entry, error) {
	if conv != "" {
		if _, err := s.membership(ctx, me, conv); err != nil {
			return nil, err
		}
	}
	if !utf8.ValidString(query) || strings.TrimSpace(query) == "" {
		return nil, errorf(protocol.CodeBadRequest, "query must be 1-%d characters", protocol.MaxQueryLen)
	}
	if n := utf8.RuneCountInString(query); n > protocol.MaxQueryLen {
		return nil, errorf(protocol.CodeTooLarge, "query has %d characters; the limit is %d", n, protocol.MaxQueryLen)
	}
	if len(strings.Fields(query)) > store.MaxSearchTerms {
		return nil, errorf(protocol.CodeBadRequest, "search for at most %d words", store.MaxSearchTerms)
	}
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	ms, err := s.st.Search(ctx, me.UserID, conv, query, limit)
	if err != nil {
		return nil, s.internal("search", err)
	}
	return entries(ms), nil
}

// Read moves me's read cursor and tells the other members.
func (s *Service) Read(ctx context.Context, me Identity, conv string, seq int64) error {
	return s.moveCursor(ctx, me, conv, seq, true)
}

// Delivered records that me's device received entries up to seq.
func (s *Service) Delivered(ctx context.Context, me Identity, conv string, seq int64) error {
	return s.moveCursor(ctx, me, conv, seq, false)
}

func (s *Service) moveCursor(ctx context.Context, me Identity, conv string, seq int64, read bool) error {
	before, err := s.membership(ctx, me, conv)
	if err != nil {
		return err
	}
	if (read && seq <= before.ReadSeq) || (!read && seq <= before.DeliveredSeq) {
		return nil // nothing new: no write, no event
	}
	var after store.Member
	if read {
		after, err = s.st.MarkRead(ctx, conv, me.UserID, seq)
	} else {
		after, err = s.st.MarkDelivered(ctx, conv, me.UserID, seq)
	}
	if err != nil {
		return s.internal("receipt", err)
	}
	if after.ReadSeq == before.ReadSeq && after.DeliveredSeq == before.DeliveredSeq {
		return nil
	}
	ids, err := s.memberIDs(ctx, conv)
	if err != nil {
		return s.internal("receipt", err)
	}
	frame := protocol.Encode(&protocol.Receipt{Conversation: conv, User: me.UserID, Read: after.ReadSeq, Delivered: after.DeliveredSeq})
	for _, u := range ids {
		s.hub.toUser(u, frame)
	}
	return nil
}

// Typing tells the other members' devices that me is typing in conv (not
// in an archived one: nothing can be sent there).
func (s *Service) Typing(ctx context.Context, me Identity, conv string) error {
	if _, err := s.writable(ctx, me, conv); err != nil {
		return err
	}
	ids, err := s.memberIDs(ctx, conv)
	if err != nil {
		return s.internal("typing", err)
	}
	frame := protocol.Encode(&protocol.Typing{Conversation: conv, User: me.UserID})
	for _, u := range ids {
		if u != me.UserID {
			s.hub.toUser(u, frame)
		}
	}
	return nil
}
