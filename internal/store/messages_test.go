package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

func text(conv, sender, txn, body string) Message {
	return Message{ConversationID: conv, Kind: KindText, SenderID: sender, TxnID: txn, Text: body}
}

func mustAppend(t *testing.T, s *Store, m Message) Message {
	t.Helper()
	out, _, err := s.AppendMessage(t.Context(), m)
	if err != nil {
		t.Fatalf("AppendMessage(%+v): %v", m, err)
	}
	return out
}

func TestConversations(t *testing.T) { eachBackend(t, testConversations) }

func testConversations(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	clock := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	s.now = func() time.Time { clock = clock.Add(time.Second); return clock }

	d1, created, err := s.DirectConversation(ctx, "d1", "bob", "alice")
	if err != nil || !created || d1.Kind != Direct {
		t.Fatalf("direct: %+v %v %v", d1, created, err)
	}
	// The same pair, either way round, is the same conversation.
	d2, created, err := s.DirectConversation(ctx, "d2", "alice", "bob")
	if err != nil || created || d2.ID != "d1" {
		t.Fatalf("direct again: %+v %v %v", d2, created, err)
	}
	if _, _, err := s.DirectConversation(ctx, "d3", "alice", "alice"); err == nil {
		t.Fatal("direct conversation with oneself accepted")
	}

	g, err := s.CreateConversation(ctx, Conversation{ID: "g1", Kind: Group, Name: "Team", CreatedBy: "alice"}, []string{"bob", "carol", "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateConversation(ctx, Conversation{ID: "g1", Kind: Group, CreatedBy: "x"}, nil); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate id: %v", err)
	}
	if _, err := s.CreateConversation(ctx, Conversation{ID: "x", Kind: Direct}, nil); err == nil {
		t.Fatal("CreateConversation made a direct conversation")
	}
	members, err := s.Members(ctx, g.ID)
	if err != nil || len(members) != 3 || members[0].UserID != "alice" || members[0].Role != "owner" {
		t.Fatalf("members %+v, %v", members, err)
	}
	if _, err := s.AddMember(ctx, g.ID, "bob", "member"); !errors.Is(err, ErrExists) {
		t.Fatalf("add twice: %v", err)
	}
	if _, err := s.Member(ctx, g.ID, "dave"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("non-member: %v", err)
	}

	ch, err := s.CreateConversation(ctx, Conversation{ID: "c1", Kind: Channel, Name: "general", Topic: "all of us", CreatedBy: "carol"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	topic, archived := "everyone", true
	if c, err := s.UpdateConversation(ctx, ch.ID, nil, &topic, nil); err != nil || c.Topic != "everyone" || c.Name != "general" {
		t.Fatalf("update: %+v %v", c, err)
	}
	if chans, err := s.Channels(ctx); err != nil || len(chans) != 1 || chans[0].ID != "c1" {
		t.Fatalf("channels %+v %v", chans, err)
	}
	s.UpdateConversation(ctx, ch.ID, nil, nil, &archived)
	if chans, _ := s.Channels(ctx); len(chans) != 0 {
		t.Fatalf("archived channel listed: %+v", chans)
	}

	// Bob's inbox: most recent activity first, unread counts only others' messages.
	mustAppend(t, s, text("d1", "alice", "", "hi bob"))
	mustAppend(t, s, text("g1", "alice", "", "team hello"))
	mustAppend(t, s, text("g1", "bob", "", "my own"))
	second := mustAppend(t, s, text("g1", "carol", "", "and me"))
	inbox, err := s.Inbox(ctx, "bob")
	if err != nil || len(inbox) != 2 {
		t.Fatalf("inbox %+v %v", inbox, err)
	}
	if inbox[0].ID != "g1" || inbox[0].Unread != 2 || inbox[1].ID != "d1" || inbox[1].Unread != 1 {
		t.Fatalf("inbox order/unread: %s %d, %s %d", inbox[0].ID, inbox[0].Unread, inbox[1].ID, inbox[1].Unread)
	}

	// Read cursors only move forward and never past the log.
	m, err := s.MarkRead(ctx, "g1", "bob", second.Seq-1)
	if err != nil || m.ReadSeq != second.Seq-1 || m.DeliveredSeq != second.Seq-1 {
		t.Fatalf("mark read: %+v %v", m, err)
	}
	if m, _ = s.MarkRead(ctx, "g1", "bob", 1); m.ReadSeq != second.Seq-1 {
		t.Fatalf("read cursor moved back to %d", m.ReadSeq)
	}
	if m, _ = s.MarkRead(ctx, "g1", "bob", 1000); m.ReadSeq != second.Seq {
		t.Fatalf("read cursor %d, want capped at %d", m.ReadSeq, second.Seq)
	}
	if _, err := s.MarkRead(ctx, "g1", "dave", 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("non-member read: %v", err)
	}
	if inbox, _ = s.Inbox(ctx, "bob"); inbox[0].Unread != 0 {
		t.Fatalf("unread after reading: %d", inbox[0].Unread)
	}

	// A late joiner starts with nothing unread.
	if m, err := s.AddMember(ctx, g.ID, "dave", "member"); err != nil || m.ReadSeq != second.Seq {
		t.Fatalf("late joiner %+v %v", m, err)
	}
	if err := s.SetMuted(ctx, g.ID, "dave", true); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Member(ctx, g.ID, "dave"); !m.Muted {
		t.Fatal("mute not stored")
	}
	if err := s.RemoveMember(ctx, g.ID, "dave"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveMember(ctx, g.ID, "dave"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove twice: %v", err)
	}
}

// Many senders at once, some retrying: every conversation's log is 1..n with
// no gaps, and a retried transaction id is stored once.
func TestAppendMessageConcurrent(t *testing.T) { eachBackend(t, testAppendMessageConcurrent) }

func testAppendMessageConcurrent(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	for _, id := range []string{"a", "b"} {
		if _, err := s.CreateConversation(ctx, Conversation{ID: id, Kind: Group, CreatedBy: "u0"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	const workers, each = 6, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*2)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				conv := []string{"a", "b"}[i%2]
				m := text(conv, fmt.Sprint("u", w), fmt.Sprint("txn-", i), fmt.Sprint(w, "/", i))
				first, dup1, err := s.AppendMessage(ctx, m)
				if err != nil {
					errs <- err
					return
				}
				again, dup2, err := s.AppendMessage(ctx, m) // the retry after a lost ack
				if err != nil {
					errs <- err
					return
				}
				if dup1 || !dup2 || again.Seq != first.Seq {
					errs <- fmt.Errorf("retry: first %d dup %v, again %d dup %v", first.Seq, dup1, again.Seq, dup2)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, conv := range []string{"a", "b"} {
		var all []Message
		for after := int64(0); ; {
			page, err := s.Events(ctx, conv, after, 33)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			all = append(all, page...)
			after = page[len(page)-1].Seq
		}
		if len(all) != workers*each/2 {
			t.Fatalf("%s: %d entries, want %d", conv, len(all), workers*each/2)
		}
		for i, m := range all {
			if m.Seq != int64(i+1) {
				t.Fatalf("%s: entry %d has seq %d", conv, i, m.Seq)
			}
			if i > 0 && m.CreatedAt.Before(all[i-1].CreatedAt) {
				t.Fatalf("%s: time went back at seq %d", conv, m.Seq)
			}
		}
		c, _ := s.Conversation(ctx, conv)
		if c.LastSeq != int64(len(all)) {
			t.Fatalf("%s: last_seq %d, want %d", conv, c.LastSeq, len(all))
		}
	}
	if _, _, err := s.AppendMessage(ctx, text("nope", "u0", "", "x")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown conversation: %v", err)
	}
}

func TestEditsDeletesReactionsThreads(t *testing.T) { eachBackend(t, testEditsDeletesReactionsThreads) }

func testEditsDeletesReactionsThreads(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	s.CreateConversation(ctx, Conversation{ID: "g", Kind: Group, CreatedBy: "alice"}, []string{"bob"})
	root := mustAppend(t, s, text("g", "alice", "t1", "frist"))
	other := mustAppend(t, s, text("g", "bob", "t2", "hello"))

	edit := mustAppend(t, s, Message{ConversationID: "g", Kind: KindEdit, SenderID: "alice", TargetSeq: root.Seq, Text: "first"})
	react := func(user, emoji string, add bool) error {
		data, _ := json.Marshal(ReactionData{Emoji: emoji, Add: add})
		_, _, err := s.AppendMessage(ctx, Message{ConversationID: "g", Kind: KindReaction, SenderID: user, TargetSeq: root.Seq, Data: data})
		return err
	}
	for _, tc := range []struct {
		user, emoji string
		add         bool
		want        error
	}{
		{"bob", "👍", true, nil},
		{"bob", "👍", true, ErrNoChange},
		{"alice", "👍", true, nil},
		{"alice", "🎉", true, nil},
		{"alice", "🎉", false, nil},
		{"alice", "🎉", false, ErrNoChange},
	} {
		if err := react(tc.user, tc.emoji, tc.add); !errors.Is(err, tc.want) {
			t.Fatalf("react %+v: %v", tc, err)
		}
	}
	for i := range 3 {
		r := text("g", "bob", fmt.Sprint("r", i), fmt.Sprint("reply ", i))
		r.ThreadSeq = root.Seq
		mustAppend(t, s, r)
	}
	mustAppend(t, s, Message{ConversationID: "g", Kind: KindDelete, SenderID: "bob", TargetSeq: other.Seq})
	for _, kind := range []string{KindEdit, KindDelete} {
		if _, _, err := s.AppendMessage(ctx, Message{ConversationID: "g", Kind: kind, SenderID: "bob", TargetSeq: other.Seq}); !errors.Is(err, ErrNoTarget) {
			t.Fatalf("%s of a deleted message: %v", kind, err)
		}
	}
	if _, _, err := s.AppendMessage(ctx, Message{ConversationID: "g", Kind: KindEdit, SenderID: "alice", TargetSeq: edit.Seq}); !errors.Is(err, ErrNoTarget) {
		t.Fatalf("edit of an edit entry: %v", err)
	}

	h, err := s.History(ctx, "g", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 {
		t.Fatalf("history has %d messages, want the 2 top-level ones: %+v", len(h), h)
	}
	r := h[0]
	if r.Text != "first" || r.EditedAt.IsZero() || r.Replies != 3 || len(r.Reactions) != 2 {
		t.Fatalf("root after edit/reactions/replies: %+v", r)
	}
	if h[1].Text != "" || h[1].DeletedAt.IsZero() {
		t.Fatalf("deleted message still has text: %+v", h[1])
	}
	revs, err := s.Revisions(ctx, "g", other.Seq)
	if err != nil || len(revs) != 1 || revs[0].Text != "hello" || revs[0].Action != "delete" {
		t.Fatalf("deleted text not kept for admins: %+v %v", revs, err)
	}
	if revs, _ := s.Revisions(ctx, "g", root.Seq); len(revs) != 1 || revs[0].Text != "frist" {
		t.Fatalf("edit revisions %+v", revs)
	}
	th, err := s.Thread(ctx, "g", root.Seq, 0, 0)
	if err != nil || len(th) != 4 || th[0].Seq != root.Seq || th[3].Text != "reply 2" {
		t.Fatalf("thread %+v %v", th, err)
	}
	if _, err := s.Thread(ctx, "g", other.Seq+1000, 0, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("thread of nothing: %v", err)
	}

	// History pages backwards.
	for i := range 10 {
		mustAppend(t, s, text("g", "alice", "", fmt.Sprint("m", i)))
	}
	page, _ := s.History(ctx, "g", 0, 4)
	older, _ := s.History(ctx, "g", page[0].Seq, 4)
	if page[3].Text != "m9" || page[0].Text != "m6" || older[3].Text != "m5" || older[0].Text != "m2" {
		t.Fatalf("paging: %q..%q then %q..%q", page[0].Text, page[3].Text, older[0].Text, older[3].Text)
	}
}

func TestSearch(t *testing.T) { eachBackend(t, testSearch) }

func testSearch(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	s.CreateConversation(ctx, Conversation{ID: "mine", Kind: Group, CreatedBy: "alice"}, nil)
	s.CreateConversation(ctx, Conversation{ID: "theirs", Kind: Group, CreatedBy: "bob"}, nil)
	for _, body := range []string{
		"The Deployment went fine",
		"東京で会議があります",
		"discount 50% off_peak",
		"nothing here",
	} {
		mustAppend(t, s, text("mine", "alice", "", body))
	}
	gone := mustAppend(t, s, text("mine", "alice", "", "deployment rollback"))
	mustAppend(t, s, Message{ConversationID: "mine", Kind: KindDelete, SenderID: "alice", TargetSeq: gone.Seq})
	mustAppend(t, s, text("theirs", "bob", "", "secret deployment plan"))
	edited := mustAppend(t, s, text("mine", "alice", "", "old wording"))
	mustAppend(t, s, Message{ConversationID: "mine", Kind: KindEdit, SenderID: "alice", TargetSeq: edited.Seq, Text: "new phrasing"})

	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"deploy", []string{"The Deployment went fine"}}, // part of a word, any case; not the deleted one, not bob's
		{"DEPLOYMENT fine", []string{"The Deployment went fine"}},
		{"deployment nope", nil},
		{"東京", []string{"東京で会議があります"}}, // two CJK characters: shorter than a trigram
		{"会議", []string{"東京で会議があります"}},
		{"50%", []string{"discount 50% off_peak"}},
		{"%", []string{"discount 50% off_peak"}}, // wildcards are literal
		{"f_p", []string{"discount 50% off_peak"}},
		{"wording", nil}, // edited away
		{"phrasing", []string{"new phrasing"}},
		{"   ", nil},
	} {
		got, err := s.Search(ctx, "alice", "", tc.query, 0)
		if err != nil {
			t.Fatalf("search %q: %v", tc.query, err)
		}
		var texts []string
		for _, m := range got {
			texts = append(texts, m.Text)
		}
		if !slices.Equal(texts, tc.want) {
			t.Errorf("search %q = %q, want %q", tc.query, texts, tc.want)
		}
	}
	if got, _ := s.Search(ctx, "alice", "theirs", "deployment", 0); len(got) != 0 {
		t.Fatalf("search reached a conversation alice is not in: %+v", got)
	}
	if got, _ := s.Search(ctx, "bob", "theirs", "deployment", 0); len(got) != 1 {
		t.Fatalf("bob's own search: %+v", got)
	}
	if _, err := s.Search(ctx, "alice", "", "a b c d e f g h i", 0); err == nil {
		t.Fatal("too many terms accepted")
	}
}

func TestRetentionAndExport(t *testing.T) { eachBackend(t, testRetentionAndExport) }

func testRetentionAndExport(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	s.CreateConversation(ctx, Conversation{ID: "g", Kind: Group, CreatedBy: "alice"}, []string{"bob"})
	old := mustAppend(t, s, text("g", "alice", "", "old"))
	data, _ := json.Marshal(ReactionData{Emoji: "👍", Add: true})
	mustAppend(t, s, Message{ConversationID: "g", Kind: KindReaction, SenderID: "bob", TargetSeq: old.Seq, Data: data})
	now = now.Add(48 * time.Hour)
	mustAppend(t, s, text("g", "alice", "", "new"))
	mustAppend(t, s, text("g", "bob", "", "bob's"))

	mine, err := s.MessagesBy(ctx, "alice", time.Time{}, 0)
	if err != nil || len(mine) != 2 || mine[0].Text != "old" || mine[1].Text != "new" {
		t.Fatalf("export of alice's messages: %+v %v", mine, err)
	}
	n, err := s.DeleteMessagesBefore(ctx, now.Add(-24*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("retention deleted %d, %v", n, err)
	}
	ev, _ := s.Events(ctx, "g", 0, 0)
	if len(ev) != 2 || ev[0].Seq != 3 {
		t.Fatalf("after retention: %+v", ev)
	}
	// Sequence numbers continue; they are never reused.
	if m := mustAppend(t, s, text("g", "alice", "", "later")); m.Seq != 5 {
		t.Fatalf("seq after retention %d", m.Seq)
	}
	if got, _ := s.Search(ctx, "alice", "", "old", 0); len(got) != 0 {
		t.Fatalf("deleted message still searchable: %+v", got)
	}
}
