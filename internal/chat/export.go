package chat

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// Exports answer data access requests (GDPR article 15): everything stored
// about a person, or a whole conversation, as one JSON document. They are
// streamed page by page, so a long history never sits in memory whole.

func (s *Service) restExportMe(w http.ResponseWriter, r *http.Request, me Identity) {
	s.exportUser(w, r, me.UserID)
}

func (s *Service) restExportUser(w http.ResponseWriter, r *http.Request, me Identity) {
	id := r.PathValue("id")
	if id == "me" {
		id = me.UserID
	}
	if !me.Admin() && me.UserID != id {
		writeErr(w, errorf(protocol.CodeForbidden, "only admins may export another person's data"))
		return
	}
	s.exportUser(w, r, id)
}

func (s *Service) exportUser(w http.ResponseWriter, r *http.Request, userID string) {
	ctx := r.Context()
	u, err := s.cfg.Directory.User(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		writeErr(w, errorf(protocol.CodeNotFound, "no user %s", userID))
		return
	} else if err != nil {
		writeErr(w, s.internal("export", err))
		return
	}
	inbox, err := s.st.Inbox(ctx, userID)
	if err != nil {
		writeErr(w, s.internal("export", err))
		return
	}
	type membership struct {
		Conversation string    `json:"conversation"`
		Kind         string    `json:"kind"`
		Name         string    `json:"name"`
		Role         string    `json:"role"`
		JoinedAt     time.Time `json:"joinedAt"`
		ReadSeq      int64     `json:"readSeq"`
		Muted        bool      `json:"muted"`
	}
	ms := make([]membership, len(inbox))
	for i, in := range inbox {
		ms[i] = membership{in.ID, in.Kind, in.Name, in.Me.Role, in.Me.JoinedAt, in.Me.ReadSeq, in.Me.Muted}
	}
	profile := map[string]any{"id": u.ID, "username": u.Username, "displayName": u.DisplayName, "email": u.Email,
		"role": u.Role, "disabled": u.Disabled, "createdAt": u.CreatedAt, "twoFactor": u.TOTPSecret != ""}
	sessions, err := s.st.Sessions(ctx, userID)
	if err != nil {
		writeErr(w, s.internal("export", err))
		return
	}
	type session struct {
		ID         string    `json:"id"`
		CreatedAt  time.Time `json:"createdAt"`
		LastSeenAt time.Time `json:"lastSeenAt"`
		ExpiresAt  time.Time `json:"expiresAt"`
		UserAgent  string    `json:"userAgent"`
		IP         string    `json:"ip"`
	}
	ss := make([]session, len(sessions))
	for i, se := range sessions {
		ss[i] = session{se.ID, se.CreatedAt, se.LastSeenAt, se.ExpiresAt, se.UserAgent, se.IP}
	}
	tokens, err := s.st.UserTokens(ctx, userID)
	if err != nil {
		writeErr(w, s.internal("export", err))
		return
	}
	type token struct { // never the secret
		ID         string     `json:"id"`
		Name       string     `json:"name"`
		CreatedAt  time.Time  `json:"createdAt"`
		LastUsedAt *time.Time `json:"lastUsedAt"` // null: never used
	}
	ts := make([]token, len(tokens))
	for i, t := range tokens {
		ts[i] = token{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt}
		if !t.LastUsedAt.IsZero() {
			ts[i].LastUsedAt = &t.LastUsedAt
		}
	}
	subs, err := s.st.PushSubscriptions(ctx, userID)
	if err != nil {
		writeErr(w, s.internal("export", err))
		return
	}
	type pushSubscription struct { // the endpoint and keys are the browser's secret
		EndpointHost string    `json:"endpointHost"`
		UserAgent    string    `json:"userAgent"`
		CreatedAt    time.Time `json:"createdAt"`
	}
	ps := make([]pushSubscription, len(subs))
	for i, sub := range subs {
		host := ""
		if u, err := url.Parse(sub.Endpoint); err == nil {
			host = u.Host
		}
		ps[i] = pushSubscription{host, sub.UserAgent, sub.CreatedAt}
	}

	ew := startExport(w, "switchboard-user-"+u.Username+".json")
	ew.field("exportedAt", s.cfg.Now().UTC())
	ew.field("user", profile)
	ew.field("memberships", ms)
	ew.field("sessions", ss)
	ew.field("apiTokens", ts)
	ew.field("pushSubscriptions", ps)
	// A message that was edited or deleted carries its earlier texts.
	type message struct {
		protocol.Entry
		Revisions []revision `json:"revisions,omitempty"`
	}
	ew.array("messages", func(emit func(any)) error {
		return s.eachMessageBy(ctx, userID, func(m store.Message) error {
			out := message{Entry: entry(m)}
			if m.Kind == store.KindText && (!m.EditedAt.IsZero() || !m.DeletedAt.IsZero()) {
				revs, err := s.st.Revisions(ctx, m.ConversationID, m.Seq)
				if err != nil {
					return err
				}
				out.Revisions = revisions(revs)
			}
			emit(out)
			return nil
		})
	})
	// The files the person sent that are still stored (their content is
	// downloaded from url, by members).
	type file struct {
		Conversation string    `json:"conversation"`
		Seq          int64     `json:"seq"` // the message that sent it
		SentAt       time.Time `json:"sentAt"`
		ID           string    `json:"id"`
		Name         string    `json:"name"`
		Size         int64     `json:"size"`
		Type         string    `json:"type"`
		URL          string    `json:"url"`
	}
	ew.array("files", func(emit func(any)) error {
		return s.eachMessageBy(ctx, userID, func(m store.Message) error {
			if m.Kind != store.KindText || !m.DeletedAt.IsZero() {
				return nil
			}
			var data textData
			json.Unmarshal(m.Data, &data)
			for _, a := range data.Attachments {
				emit(file{m.ConversationID, m.Seq, m.CreatedAt, a.ID, a.Name, a.Size, a.Type, a.URL})
			}
			return nil
		})
	})
	ew.end()
}

// eachMessageBy calls f with every log entry user made, oldest first, page
// by page.
func (s *Service) eachMessageBy(ctx context.Context, user string, f func(store.Message) error) error {
	var since time.Time
	seen := map[[2]any]bool{}
	for {
		page, err := s.st.MessagesBy(ctx, user, since, store.MaxPage)
		if err != nil {
			return err
		}
		fresh := 0
		for _, m := range page {
			if m.CreatedAt.After(since) {
				clear(seen) // only entries of the last millisecond can repeat
			}
			key := [2]any{m.ConversationID, m.Seq}
			if seen[key] {
				continue // the page boundary repeats entries of the same millisecond
			}
			seen[key] = true
			fresh++
			if err := f(m); err != nil {
				return err
			}
			since = m.CreatedAt
		}
		if len(page) < store.MaxPage || fresh == 0 {
			return nil
		}
	}
}

func (s *Service) restExportConversation(w http.ResponseWriter, r *http.Request, me Identity) {
	ctx := r.Context()
	conv := r.PathValue("id")
	if !me.Admin() {
		if _, err := s.membership(ctx, me, conv); err != nil {
			writeErr(w, err)
			return
		}
	}
	c, err := s.st.Conversation(ctx, conv)
	if errors.Is(err, store.ErrNotFound) {
		writeErr(w, errorf(protocol.CodeNotFound, "no conversation %s", conv))
		return
	} else if err != nil {
		writeErr(w, s.internal("export", err))
		return
	}
	// An admin who is not a member sees the members, without cursors of their own.
	m, err := s.st.Member(ctx, conv, me.UserID)
	member := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		writeErr(w, s.internal("export", err))
		return
	}
	var unread int64
	if member {
		if unread, err = s.st.Unread(ctx, conv, me.UserID); err != nil {
			writeErr(w, s.internal("export", err))
			return
		}
	}
	info, err := s.convInfo(ctx, c, &m, unread)
	if err != nil {
		writeErr(w, s.internal("export", err))
		return
	}
	info.Member = member
	ew := startExport(w, "switchboard-conversation-"+conv+".json")
	ew.field("exportedAt", s.cfg.Now().UTC())
	ew.field("conversation", info)
	ew.array("entries", func(emit func(any)) error {
		for after := int64(0); ; {
			page, err := s.st.Events(ctx, conv, after, store.MaxPage)
			if err != nil {
				return err
			}
			for _, m := range page {
				emit(entry(m))
				after = m.Seq
			}
			if len(page) < store.MaxPage {
				return nil
			}
		}
	})
	ew.end()
}

// exportWriter streams one JSON object field by field.
type exportWriter struct {
	w     http.ResponseWriter
	enc   *json.Encoder
	first bool
}

func startExport(w http.ResponseWriter, filename string) *exportWriter {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte("{"))
	return &exportWriter{w: w, enc: json.NewEncoder(w), first: true}
}

func (e *exportWriter) key(name string) {
	if !e.first {
		e.w.Write([]byte(","))
	}
	e.first = false
	b, _ := json.Marshal(name)
	e.w.Write(append(b, ':'))
}

func (e *exportWriter) field(name string, v any) {
	e.key(name)
	e.enc.Encode(v)
}

// array streams the values fill emits. A failure halfway cannot change the
// status any more; the document is left unterminated, so it fails to parse
// rather than pass for complete.
func (e *exportWriter) array(name string, fill func(emit func(any)) error) {
	e.key(name)
	e.w.Write([]byte("["))
	n := 0
	err := fill(func(v any) {
		if n > 0 {
			e.w.Write([]byte(","))
		}
		n++
		e.enc.Encode(v)
	})
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	e.w.Write([]byte("]"))
}

func (e *exportWriter) end() { e.w.Write([]byte("}\n")) }

// retention deletes messages older than the configured age, hourly.
func (s *Service) retention(keep time.Duration) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		n, err := s.st.DeleteMessagesBefore(ctx, s.cfg.Now().Add(-keep))
		cancel()
		if err != nil {
			s.log.Error("chat: retention", "err", err)
		} else if n > 0 {
			s.log.Info("chat: retention deleted old messages", "count", n, "older than", keep)
		}
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}
