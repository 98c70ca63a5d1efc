package chat

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/internal/protocol"
)

// Two people talk in a direct conversation: every feature a user sees in
// the message view, over the real socket.
func TestConversationOverTheSocket(t *testing.T) {
	h := newHarness(t, options{})
	alice, bob, carol := h.user("alice", "member"), h.user("bob", "member"), h.user("carol", "member")
	a := h.connect(alice)
	b := h.connect(bob)
	b2 := h.connect(bob) // bob's second device
	c := h.connect(carol)

	conv := a.req(t, &protocol.Direct{User: bob.ID}).(*protocol.ConversationMsg).Conversation
	if conv.Kind != "direct" || len(conv.Members) != 2 {
		t.Fatalf("direct conversation %+v", conv)
	}
	// Bob's devices learn about it without asking.
	b.wait(t, "the new conversation", func(m protocol.Message) bool {
		cm, ok := m.(*protocol.ConversationMsg)
		return ok && cm.Conversation.ID == conv.ID
	})

	sent := a.req(t, &protocol.Send{Conversation: conv.ID, Txn: "t1", Text: "hi <script>alert(1)</script> @bob"}).(*protocol.Sent)
	if sent.Duplicate || sent.Entry.Seq != 1 || sent.Entry.Sender != alice.ID {
		t.Fatalf("sent %+v", sent)
	}
	var data textData
	json.Unmarshal(sent.Entry.Data, &data)
	if len(data.Mentions) != 1 || data.Mentions[0] != bob.ID {
		t.Fatalf("mention of @bob not found: %s", sent.Entry.Data)
	}
	for _, d := range []*device_{b, b2} {
		ev := d.wait(t, "alice's message", isEvent(conv.ID, "text")).(*protocol.EventMsg)
		if ev.Entry.Text != "hi <script>alert(1)</script> @bob" {
			t.Fatalf("text changed on the way: %q", ev.Entry.Text)
		}
	}
	c.never(t, "a message of a conversation she is not in", isEvent(conv.ID, "text"))

	// A retry after a lost acknowledgement stores nothing new.
	again := a.req(t, &protocol.Send{Conversation: conv.ID, Txn: "t1", Text: "hi <script>alert(1)</script> @bob"}).(*protocol.Sent)
	if !again.Duplicate || again.Entry.Seq != 1 {
		t.Fatalf("retry %+v", again)
	}

	// Typing reaches bob, not alice herself.
	a.req(t, &protocol.Typing{Conversation: conv.ID})
	b.wait(t, "typing", func(m protocol.Message) bool {
		ty, ok := m.(*protocol.Typing)
		return ok && ty.User == alice.ID
	})

	// Bob reads: alice sees the receipt.
	b.req(t, &protocol.Read{Conversation: conv.ID, Seq: 1})
	a.wait(t, "bob's read receipt", func(m protocol.Message) bool {
		r, ok := m.(*protocol.Receipt)
		return ok && r.User == bob.ID && r.Read == 1 && r.Delivered == 1
	})

	// Reactions, replies in a thread, an edit and a delete.
	b.req(t, &protocol.React{Conversation: conv.ID, Seq: 1, Emoji: "👍", Add: true})
	b.req(t, &protocol.React{Conversation: conv.ID, Seq: 1, Emoji: "👍", Add: true}) // idempotent
	b.req(t, &protocol.Send{Conversation: conv.ID, Txn: "r1", Text: "in a thread", Thread: 1})
	a.req(t, &protocol.Edit{Conversation: conv.ID, Seq: 1, Text: "hello bob"})
	if code := b.reqErr(t, &protocol.Edit{Conversation: conv.ID, Seq: 1, Text: "forged"}); code != protocol.CodeForbidden {
		t.Fatalf("bob edited alice's message: %s", code)
	}
	typo := a.req(t, &protocol.Send{Conversation: conv.ID, Txn: "t2", Text: "tpyo"}).(*protocol.Sent)
	a.req(t, &protocol.Delete{Conversation: conv.ID, Seq: typo.Entry.Seq})
	if code := b.reqErr(t, &protocol.Delete{Conversation: conv.ID, Seq: 1}); code != protocol.CodeForbidden {
		t.Fatalf("bob deleted alice's message: %s", code)
	}

	hist := b.req(t, &protocol.HistoryReq{Conversation: conv.ID}).(*protocol.HistoryMsg).Messages
	if len(hist) != 2 {
		t.Fatalf("history %+v", hist)
	}
	first := hist[0]
	if first.Text != "hello bob" || first.EditedAt == "" || first.Replies != 1 || len(first.Reactions) != 1 || first.Reactions[0].User != bob.ID {
		t.Fatalf("first message after edit, reaction and reply: %+v", first)
	}
	if hist[1].DeletedAt == "" || hist[1].Text != "" {
		t.Fatalf("deleted message %+v", hist[1])
	}
	thread := a.req(t, &protocol.ThreadReq{Conversation: conv.ID, Root: 1}).(*protocol.HistoryMsg).Messages
	if len(thread) != 2 || thread[1].Text != "in a thread" {
		t.Fatalf("thread %+v", thread)
	}
	res := b.req(t, &protocol.Search{Query: "BOB"}).(*protocol.Results).Messages
	if len(res) != 1 || res[0].Seq != 1 {
		t.Fatalf("search %+v", res)
	}

	// Everything after a cursor, in order: what a device that was away gets.
	ev := b2.req(t, &protocol.Sync{Conversation: conv.ID, After: 0}).(*protocol.Events)
	if ev.More || len(ev.Entries) == 0 {
		t.Fatalf("sync %+v", ev)
	}
	for i, e := range ev.Entries {
		if e.Seq != int64(i+1) {
			t.Fatalf("sync entry %d has seq %d", i, e.Seq)
		}
	}

	// Outsiders get nothing, whatever they try.
	for name, m := range map[string]protocol.Message{
		"sync":    &protocol.Sync{Conversation: conv.ID},
		"history": &protocol.HistoryReq{Conversation: conv.ID},
		"send":    &protocol.Send{Conversation: conv.ID, Txn: "x", Text: "let me in"},
		"read":    &protocol.Read{Conversation: conv.ID, Seq: 1},
		"react":   &protocol.React{Conversation: conv.ID, Seq: 1, Emoji: "x", Add: true},
		"typing":  &protocol.Typing{Conversation: conv.ID},
		"search":  &protocol.Search{Query: "hello", Conversation: conv.ID},
		"invite":  &protocol.Invite{Conversation: conv.ID, Users: []string{carol.ID}},
	} {
		if code := c.reqErr(t, m); code != protocol.CodeNotFound {
			t.Errorf("%s by a non-member: %s, want not_found", name, code)
		}
	}
	if res := c.req(t, &protocol.Search{Query: "hello"}).(*protocol.Results).Messages; len(res) != 0 {
		t.Fatalf("carol's search found bob and alice's messages: %+v", res)
	}
	if code := a.reqErr(t, &protocol.Send{Conversation: "nope", Txn: "x", Text: "?"}); code != protocol.CodeNotFound {
		t.Fatalf("send to an unknown conversation: %s", code)
	}
	if code := a.reqErr(t, &protocol.Direct{User: "nobody"}); code != protocol.CodeNotFound {
		t.Fatalf("direct with an unknown user: %s", code)
	}
	if code := a.reqErr(t, &protocol.Send{Conversation: conv.ID, Txn: "big", Text: strings.Repeat("x", protocol.MaxMessageLen+1)}); code != protocol.CodeTooLarge {
		t.Fatalf("oversized message: %s", code)
	}
	// Nothing the failures tried was stored.
	ev = a.req(t, &protocol.Sync{Conversation: conv.ID, After: 0}).(*protocol.Events)
	for _, e := range ev.Entries {
		if e.Sender == carol.ID || strings.HasPrefix(e.Text, "xxxx") {
			t.Fatalf("a refused request was stored: %+v", e)
		}
	}
}

func TestGroupsAndChannels(t *testing.T) {
	h := newHarness(t, options{})
	alice, bob, carol := h.user("alice", "member"), h.user("bob", "member"), h.user("carol", "member")
	a, b, c := h.connect(alice), h.connect(bob), h.connect(carol)

	g := a.req(t, &protocol.CreateConversation{Kind: "group", Name: "Launch", Members: []string{bob.ID}}).(*protocol.ConversationMsg).Conversation
	if len(g.Members) != 2 {
		t.Fatalf("group %+v", g)
	}
	if code := c.reqErr(t, &protocol.JoinChannel{Conversation: g.ID}); code != protocol.CodeNotFound {
		t.Fatalf("joining an invite-only group: %s", code)
	}
	b.req(t, &protocol.Invite{Conversation: g.ID, Users: []string{carol.ID}})
	c.wait(t, "the group she was added to", func(m protocol.Message) bool {
		cm, ok := m.(*protocol.ConversationMsg)
		return ok && cm.Conversation.ID == g.ID
	})
	name := "Renamed"
	if code := b.reqErr(t, &protocol.UpdateConversation{Conversation: g.ID, Name: &name}); code != protocol.CodeForbidden {
		t.Fatalf("a member renamed the group: %s", code)
	}
	a.req(t, &protocol.UpdateConversation{Conversation: g.ID, Name: &name})
	c.req(t, &protocol.LeaveConversation{Conversation: g.ID})
	c.wait(t, "removed", func(m protocol.Message) bool { _, ok := m.(*protocol.Removed); return ok })
	a.req(t, &protocol.Send{Conversation: g.ID, Txn: "1", Text: "after carol left"})
	c.never(t, "messages of a group she left", func(m protocol.Message) bool {
		e, ok := m.(*protocol.EventMsg)
		return ok && e.Entry.Kind == "text"
	})

	ch := b.req(t, &protocol.CreateConversation{Kind: "channel", Name: "general", Topic: "everything"}).(*protocol.ConversationMsg).Conversation
	list := c.req(t, &protocol.Channels{}).(*protocol.ChannelList).Channels
	if len(list) != 1 || list[0].ID != ch.ID || list[0].Member {
		t.Fatalf("channel list %+v", list)
	}
	c.req(t, &protocol.JoinChannel{Conversation: ch.ID})
	topic := "new topic"
	c.req(t, &protocol.UpdateConversation{Conversation: ch.ID, Topic: &topic}) // any member may set a channel's topic
	b.wait(t, "the topic change", func(m protocol.Message) bool {
		cm, ok := m.(*protocol.ConversationMsg)
		return ok && cm.Conversation.Topic == "new topic"
	})
	c.req(t, &protocol.MuteConversation{Conversation: ch.ID, Muted: true})

	// Mentions notify people who are away even in a muted channel; plain
	// messages do not reach muted members.
	c.Drop()
	b.req(t, &protocol.Send{Conversation: ch.ID, Txn: "m1", Text: "plain"})
	b.req(t, &protocol.Send{Conversation: ch.ID, Txn: "m2", Text: "hey @carol look"})
	pushes := h.push.list()
	if len(pushes) != 1 || !strings.HasPrefix(pushes[0], carol.ID+" | mention | Bob in general | ") || strings.Contains(pushes[0], "look") {
		t.Fatalf("pushes %q: want one mention for carol, without the text", pushes)
	}
}

// Presence: aggregated over devices, seen by contacts, offline after a grace.
func TestPresence(t *testing.T) {
	h := newHarness(t, options{})
	alice, bob, carol := h.user("alice", "member"), h.user("bob", "member"), h.user("carol", "member")
	a := h.connect(alice)
	a.req(t, &protocol.Direct{User: bob.ID})
	c := h.connect(carol) // shares no conversation with bob

	b1 := h.connect(bob)
	isBob := func(status string) func(protocol.Message) bool {
		return func(m protocol.Message) bool {
			p, ok := m.(*protocol.PresenceMsg)
			return ok && p.Users[bob.ID].Status == status
		}
	}
	a.wait(t, "bob available", isBob(protocol.StatusAvailable))
	b1.req(t, &protocol.SetStatus{Status: protocol.StatusDND, Text: "focus"})
	a.wait(t, "bob in dnd", isBob(protocol.StatusDND))
	b1.req(t, &protocol.SetStatus{Status: protocol.StatusAvailable})
	b2 := h.connect(bob)
	b1.req(t, &protocol.Activity{Idle: true})
	b2.req(t, &protocol.Activity{Idle: true})
	a.wait(t, "bob away when all his devices are idle", isBob(protocol.StatusAway))
	b1.Close()
	b2.Close()
	a.wait(t, "bob offline after the grace period", isBob(protocol.StatusOffline))
	c.never(t, "presence of someone she shares no conversation with", func(m protocol.Message) bool {
		p, ok := m.(*protocol.PresenceMsg)
		_, has := p.Users[bob.ID]
		return ok && has
	})

	// Turned off by an admin: nobody's presence is sent.
	h2 := newHarness(t, options{mutate: func(c *Config) { c.PresenceOff = true }})
	x, y := h2.user("x", "member"), h2.user("y", "member")
	dx := h2.connect(x)
	dx.req(t, &protocol.Direct{User: y.ID})
	h2.connect(y)
	if dx.Ready.PresenceOn || len(dx.Ready.Presence) != 0 {
		t.Fatalf("ready with presence off: %+v", dx.Ready)
	}
	dx.never(t, "presence while it is off", func(m protocol.Message) bool { _, ok := m.(*protocol.PresenceMsg); return ok })
}

// The REST API: what bots and integrations use.
func TestREST(t *testing.T) {
	h := newHarness(t, options{})
	alice, bob := h.user("alice", "admin"), h.user("bob", "member")
	do := func(u string, method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
		req.Header.Set("X-Test-User", u)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	code, conv := do(alice.ID, "POST", "/api/v1/conversations", `{"kind":"direct","user":"`+bob.ID+`"}`)
	if code != http.StatusCreated {
		t.Fatalf("create direct: %d %v", code, conv)
	}
	id := conv["id"].(string)
	code, sent := do(alice.ID, "POST", "/api/v1/conversations/"+id+"/messages", `{"txn":"a","text":"from a bot"}`)
	if code != http.StatusCreated {
		t.Fatalf("send: %d %v", code, sent)
	}
	if code, _ = do(alice.ID, "POST", "/api/v1/conversations/"+id+"/messages", `{"txn":"a","text":"from a bot"}`); code != http.StatusOK {
		t.Fatalf("retried send: %d, want 200 (duplicate)", code)
	}
	for _, tc := range []struct {
		user, method, path, body string
		want                     int
	}{
		{bob.ID, "GET", "/api/v1/conversations/" + id + "/messages", "", 200},
		{bob.ID, "GET", "/api/v1/conversations/" + id + "/messages?after=0&limit=10", "", 200},
		{bob.ID, "GET", "/api/v1/search?q=bot", "", 200},
		{bob.ID, "POST", "/api/v1/conversations/" + id + "/read", `{"seq":1}`, 204},
		{bob.ID, "GET", "/api/v1/conversations/" + id + "/messages?after=-1", "", 400},
		{bob.ID, "POST", "/api/v1/conversations/" + id + "/messages", `{"txn":"b","text":"x","sender":"` + alice.ID + `"}`, 400}, // forged sender
		{bob.ID, "POST", "/api/v1/conversations/" + id + "/messages", `{"txn":"c","text":"` + strings.Repeat("y", protocol.MaxMessageLen+1) + `"}`, 413},
		{bob.ID, "POST", "/api/v1/conversations/" + id + "/messages", `not json`, 400},
		{bob.ID, "GET", "/api/v1/conversations/" + id + "/messages/1/revisions", "", 403},
		{alice.ID, "GET", "/api/v1/conversations/" + id + "/messages/1/revisions", "", 200},
		{bob.ID, "GET", "/api/v1/users/" + alice.ID + "/export", "", 403},
		{"nobody", "GET", "/api/v1/conversations", "", 401},
		{bob.ID, "GET", "/api/v1/conversations/nope/messages", "", 404},
	} {
		if code, body := do(tc.user, tc.method, tc.path, tc.body); code != tc.want {
			t.Errorf("%s %s: %d %v, want %d", tc.method, tc.path, code, body, tc.want)
		}
	}
	code, hist := do(bob.ID, "GET", "/api/v1/conversations/"+id+"/messages", "")
	msgs := hist["messages"].([]any)
	if code != 200 || len(msgs) != 1 || msgs[0].(map[string]any)["text"] != "from a bot" {
		t.Fatalf("history %d %v", code, hist)
	}

	// The data export holds the person's messages and is valid JSON.
	code, export := do(alice.ID, "GET", "/api/v1/export", "")
	if code != 200 || export["user"].(map[string]any)["username"] != "alice" || len(export["messages"].([]any)) != 1 {
		t.Fatalf("export %d %v", code, export)
	}
	code, export = do(alice.ID, "GET", "/api/v1/conversations/"+id+"/export", "")
	if code != 200 || len(export["entries"].([]any)) != 1 {
		t.Fatalf("conversation export %d %v", code, export)
	}
}

// A flood is refused with rate_limited, and every request still gets an
// answer with its id, so no client waits forever.
func TestRateLimitAnswersEveryRequest(t *testing.T) {
	h := newHarness(t, options{})
	d := h.connect(h.user("alice", "member"))
	limited := 0
	for range 100 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := d.Request(ctx, &protocol.Ping{})
		cancel()
		var pe *protocol.Error
		switch {
		case errors.As(err, &pe) && pe.Code == protocol.CodeRateLimited:
			limited++
		case err != nil:
			t.Fatalf("request without an answer: %v", err)
		}
	}
	if limited == 0 {
		t.Fatal("100 requests at once were not rate limited")
	}
}
