package chat

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
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
	if !me.Admin() && me.UserID != r.PathValue("id") {
		writeErr(w, errorf(protocol.CodeForbidden, "only admins may export another person's data"))
		return
	}
	s.exportUser(w, r, r.PathValue("id"))
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
	ew := startExport(w, "switchboard-user-"+u.Username+".json")
	ew.field("exportedAt", s.cfg.Now().UTC())
	ew.field("user", profile)
	ew.field("memberships", ms)
	ew.array("messages", func(emit func(any)) error {
		var since time.Time
		seen := map[[2]any]bool{}
		for {
			page, err := s.st.MessagesBy(ctx, userID, since, store.MaxPage)
			if err != nil {
				return err
			}
			fresh := 0
			for _, m := range page {
				key := [2]any{m.ConversationID, m.Seq}
				if seen[key] {
					continue // the page boundary repeats entries of the same millisecond
				}
				seen[key] = true
				fresh++
				emit(entry(m))
				since = m.CreatedAt
			}
			if len(page) < store.MaxPage || fresh == 0 {
				return nil
			}
		}
	})
	ew.end()
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
	info, err := s.convInfo(ctx, c, &store.Member{}, 0)
	if err != nil {
		writeErr(w, s.internal("export", err))
		return
	}
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
