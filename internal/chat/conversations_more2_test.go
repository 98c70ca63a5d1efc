package chat

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// An archived conversation takes no calls and relays no typing, like every
// other write; unarchived, both work again.
func TestArchivedRefusesCallsAndTyping(t *testing.T) {
	h := newHarness(t, options{})
	alice, bob := h.user("alice", "member"), h.user("bob", "member")
	a, b := h.connect(alice), h.connect(bob)
	g := a.req(t, &protocol.CreateConversation{Kind: "group", Name: "old", Members: []string{bob.ID}}).(*protocol.ConversationMsg).Conversation
	archived := true
	a.req(t, &protocol.UpdateConversation{Conversation: g.ID, Archived: &archived})

	if code := b.reqErr(t, &protocol.StartCall{Conversation: g.ID}); code != protocol.CodeInvalidState {
		t.Errorf("call in an archived group: %s, want invalid_state", code)
	}
	if code := b.reqErr(t, &protocol.Typing{Conversation: g.ID}); code != protocol.CodeInvalidState {
		t.Errorf("typing in an archived group: %s, want invalid_state", code)
	}
	isTyping := func(m protocol.Message) bool {
		ty, ok := m.(*protocol.Typing)
		return ok && ty.Conversation == g.ID
	}
	isRinging := func(m protocol.Message) bool { _, ok := m.(*protocol.CallIncoming); return ok }
	a.never(t, "typing in an archived group", isTyping)
	a.never(t, "a call in an archived group", isRinging)
	for _, e := range a.req(t, &protocol.HistoryReq{Conversation: g.ID}).(*protocol.HistoryMsg).Messages {
		if e.Kind == store.KindCall {
			t.Errorf("a call entry in the archived group: %+v", e)
		}
	}

	unarchive := false
	a.req(t, &protocol.UpdateConversation{Conversation: g.ID, Archived: &unarchive})
	b.req(t, &protocol.Typing{Conversation: g.ID})
	a.wait(t, "typing", isTyping)
	call := b.req(t, &protocol.StartCall{Conversation: g.ID}).(*protocol.Calling).Call
	a.wait(t, "the call", isRinging)
	b.req(t, &protocol.CallAction{Action: "hangup", Call: call.ID})
	a.wait(t, "the call entry", isEvent(g.ID, store.KindCall))
}

// The socket's thread request pages like the REST one: after and limit,
// and more tells that there are more replies.
func TestThreadPagingOnSocket(t *testing.T) {
	h := newHarness(t, options{})
	alice, bob := h.user("alice", "member"), h.user("bob", "member")
	a := h.connect(alice)
	conv := a.req(t, &protocol.Direct{User: bob.ID}).(*protocol.ConversationMsg).Conversation.ID
	root := a.req(t, &protocol.Send{Conversation: conv, Txn: "root", Text: "root"}).(*protocol.Sent).Entry.Seq
	const replies = 10
	var want []int64
	for i := range replies {
		m, _, err := h.st.AppendMessage(t.Context(), store.Message{ConversationID: conv, Kind: store.KindText,
			SenderID: bob.ID, Text: fmt.Sprint("reply ", i), ThreadSeq: root})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, m.Seq)
		if i == 3 { // not in the thread
			a.req(t, &protocol.Send{Conversation: conv, Txn: "main", Text: "main timeline"})
		}
	}

	// Without after and limit: the root and every reply, as before.
	all := a.req(t, &protocol.ThreadReq{Conversation: conv, Root: root}).(*protocol.HistoryMsg)
	if len(all.Messages) != replies+1 || all.Messages[0].Seq != root || all.More {
		t.Fatalf("whole thread: %d messages, more %v", len(all.Messages), all.More)
	}

	var got []int64
	var after int64
	for page := 0; ; page++ {
		r := a.req(t, &protocol.ThreadReq{Conversation: conv, Root: root, After: after, Limit: 5}).(*protocol.HistoryMsg)
		if len(r.Messages) < 1 || r.Messages[0].Seq != root || r.Messages[0].Replies != replies {
			t.Fatalf("page %d does not start with the root: %+v", page, r.Messages)
		}
		if len(r.Messages) > 6 {
			t.Fatalf("page %d has %d replies, limit 5", page, len(r.Messages)-1)
		}
		for _, e := range r.Messages[1:] {
			got = append(got, e.Seq)
		}
		after = r.Messages[len(r.Messages)-1].Seq
		if !r.More {
			if page != 1 {
				t.Errorf("%d pages of 5 for %d replies, want 2", page+1, replies)
			}
			break
		}
		if page > 3 {
			t.Fatal("thread pages never end")
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged replies %v, want %v", got, want)
	}
	if code := a.reqErr(t, &protocol.ThreadReq{Conversation: conv, Root: 10_000, After: 1, Limit: 5}); code != protocol.CodeNotFound {
		t.Fatalf("thread of nothing: %s, want not_found", code)
	}
}

// In a big channel, the push rules hold: no push for members who muted it
// unless mentioned. (Who muted it is one query per message.)
func TestPushesInABigChannel(t *testing.T) {
	h := newHarness(t, options{})
	alice := h.user("alice", "member")
	a := h.connect(alice)
	var ids []string
	muted := map[string]bool{}
	for i := range 40 {
		u := h.user(fmt.Sprintf("m%02d", i), "member")
		ids = append(ids, u.ID)
		muted[u.ID] = i%3 == 0
	}
	ch := a.req(t, &protocol.CreateConversation{Kind: "channel", Name: "big", Members: ids}).(*protocol.ConversationMsg).Conversation
	for u, m := range muted {
		if m {
			if err := h.svc.Mute(t.Context(), Identity{UserID: u}, ch.ID, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	pushed := func(from int) map[string]string {
		got := map[string]string{}
		for _, p := range h.push.list()[from:] {
			f := strings.Split(p, " | ")
			if _, dup := got[f[0]]; dup {
				t.Fatalf("two pushes for %s", f[0])
			}
			got[f[0]] = f[1]
		}
		return got
	}

	a.req(t, &protocol.Send{Conversation: ch.ID, Txn: "1", Text: "plain"})
	got := pushed(0)
	for _, u := range ids {
		if want := map[bool]string{false: "message", true: ""}[muted[u]]; got[u] != want {
			t.Errorf("plain message: %s got %q, want %q", u, got[u], want)
		}
	}
	if _, ok := got[alice.ID]; ok {
		t.Error("the sender got a push")
	}

	n := len(h.push.list())
	a.req(t, &protocol.Send{Conversation: ch.ID, Txn: "2", Text: "hey @m00 and @m01"})
	got = pushed(n)
	for i, u := range ids {
		want := map[bool]string{false: "message", true: ""}[muted[u]]
		if i < 2 {
			want = "mention"
		}
		if got[u] != want {
			t.Errorf("mention: %s got %q, want %q", u, got[u], want)
		}
	}
}

// Every member hears of a change to a conversation with their own cursor
// and mute, and the whole member list.
func TestAnnounceTellsEachMemberTheirView(t *testing.T) {
	h := newHarness(t, options{})
	alice, bob, carol, dave := h.user("alice", "member"), h.user("bob", "member"), h.user("carol", "member"), h.user("dave", "member")
	a, b, c := h.connect(alice), h.connect(bob), h.connect(carol)
	g := a.req(t, &protocol.CreateConversation{Kind: "group", Name: "team", Members: []string{bob.ID, carol.ID}}).(*protocol.ConversationMsg).Conversation
	seq := a.req(t, &protocol.Send{Conversation: g.ID, Txn: "1", Text: "hello"}).(*protocol.Sent).Entry.Seq
	b.req(t, &protocol.Read{Conversation: g.ID, Seq: seq})
	c.req(t, &protocol.MuteConversation{Conversation: g.ID, Muted: true})

	mine := a.req(t, &protocol.Invite{Conversation: g.ID, Users: []string{dave.ID}}).(*protocol.ConversationMsg).Conversation
	if !mine.Member || mine.Muted || len(mine.Members) != 4 {
		t.Errorf("the inviter's view: %+v", mine)
	}
	view := func(d *device_) protocol.ConversationInfo {
		t.Helper()
		return d.wait(t, "dave's arrival", func(m protocol.Message) bool {
			cm, ok := m.(*protocol.ConversationMsg)
			return ok && cm.ID == "" && len(cm.Conversation.Members) == 4
		}).(*protocol.ConversationMsg).Conversation
	}
	for _, tc := range []struct {
		d     *device_
		info  protocol.ConversationInfo
		muted bool
	}{{a, mine, false}, {b, view(b), false}, {c, view(c), true}} {
		m, err := h.st.Member(t.Context(), g.ID, tc.d.user.ID)
		if err != nil {
			t.Fatal(err)
		}
		if v := tc.info; !v.Member || v.Muted != tc.muted || v.ReadSeq != m.ReadSeq || v.Name != "team" || v.ID != g.ID {
			t.Errorf("%s's view: %+v, want readSeq %d, muted %v", tc.d.user.Username, v, m.ReadSeq, tc.muted)
		}
	}
	if m, _ := h.st.Member(t.Context(), g.ID, bob.ID); m.ReadSeq != seq {
		t.Fatalf("bob read to %d, want %d", m.ReadSeq, seq)
	}
	for _, m := range view(b).Members {
		if (m.User == bob.ID && m.Read != seq) || (m.User == alice.ID) != (m.Role == "owner") {
			t.Errorf("member %+v", m)
		}
	}
}
