package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// call makes a REST request as user; a body is sent as JSON unless
// contentType says otherwise. It returns the status and the decoded answer.
func (h *harness) call(user, method, path, body string, contentType ...string) (int, map[string]any) {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	req.Header.Set("X-Test-User", user)
	switch {
	case len(contentType) > 0:
		req.Header.Set("Content-Type", contentType[0])
	case body != "":
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// A. The conversation endpoint tells the caller's unread count.
func TestConversationUnreadOverREST(t *testing.T) {
	h := newHarness(t, options{})
	alice, bob := h.user("alice", "member"), h.user("bob", "member")
	_, conv := h.call(alice.ID, "POST", "/api/v1/conversations", `{"kind":"direct","user":"`+bob.ID+`"}`)
	id := conv["id"].(string)
	for i := range 3 {
		h.call(alice.ID, "POST", "/api/v1/conversations/"+id+"/messages", fmt.Sprintf(`{"txn":"%d","text":"hi %d"}`, i, i))
	}
	for _, tc := range []struct {
		user   string
		readTo int
		want   float64
	}{
		{bob.ID, 0, 3},
		{bob.ID, 1, 2},
		{bob.ID, 3, 0},
		{alice.ID, 0, 0}, // her own messages
	} {
		if tc.readTo > 0 {
			h.call(tc.user, "POST", "/api/v1/conversations/"+id+"/read", fmt.Sprintf(`{"seq":%d}`, tc.readTo))
		}
		code, info := h.call(tc.user, "GET", "/api/v1/conversations/"+id, "")
		if code != 200 || info["unread"] != tc.want {
			t.Errorf("%s after reading to %d: %d unread %v, want %v", tc.user, tc.readTo, code, info["unread"], tc.want)
		}
	}
}

// B. "me" in the user export path is the caller, for members and admins.
func TestExportMeByPath(t *testing.T) {
	h := newHarness(t, options{})
	admin, bob := h.user("admin", "admin"), h.user("bob", "member")
	for _, tc := range []struct {
		user, path string
		want       int
		wantUser   string
	}{
		{bob.ID, "/api/v1/users/me/export", 200, bob.ID},
		{admin.ID, "/api/v1/users/me/export", 200, admin.ID},
		{bob.ID, "/api/v1/users/" + bob.ID + "/export", 200, bob.ID},
		{admin.ID, "/api/v1/users/" + bob.ID + "/export", 200, bob.ID},
		{bob.ID, "/api/v1/users/" + admin.ID + "/export", 403, ""},
		{admin.ID, "/api/v1/users/nobody/export", 404, ""},
	} {
		code, out := h.call(tc.user, "GET", tc.path, "")
		if code != tc.want {
			t.Errorf("%s GET %s: %d %v, want %d", tc.user, tc.path, code, out, tc.want)
			continue
		}
		if tc.wantUser != "" && out["user"].(map[string]any)["id"] != tc.wantUser {
			t.Errorf("%s GET %s exported %v, want %s", tc.user, tc.path, out["user"], tc.wantUser)
		}
	}
}

// C. A conversation export says whether the exporter is a member, with
// their own cursor.
func TestConversationExportMembership(t *testing.T) {
	h := newHarness(t, options{})
	admin, alice, bob := h.user("admin", "admin"), h.user("alice", "member"), h.user("bob", "member")
	_, conv := h.call(alice.ID, "POST", "/api/v1/conversations", `{"kind":"direct","user":"`+bob.ID+`"}`)
	id := conv["id"].(string)
	h.call(alice.ID, "POST", "/api/v1/conversations/"+id+"/messages", `{"txn":"1","text":"one"}`)
	h.call(alice.ID, "POST", "/api/v1/conversations/"+id+"/messages", `{"txn":"2","text":"two"}`)
	h.call(bob.ID, "POST", "/api/v1/conversations/"+id+"/read", `{"seq":1}`)
	for _, tc := range []struct {
		user             string
		member           bool
		readSeq, unread  float64
		members, entries int
	}{
		{admin.ID, false, 0, 0, 2, 2},
		{bob.ID, true, 1, 1, 2, 2},
	} {
		code, out := h.call(tc.user, "GET", "/api/v1/conversations/"+id+"/export", "")
		if code != 200 {
			t.Fatalf("%s: export %d %v", tc.user, code, out)
		}
		c := out["conversation"].(map[string]any)
		if c["member"] != tc.member || c["readSeq"] != tc.readSeq || c["unread"] != tc.unread ||
			len(c["members"].([]any)) != tc.members || len(out["entries"].([]any)) != tc.entries {
			t.Errorf("%s: export says %v with %d entries", tc.user, c, len(out["entries"].([]any)))
		}
	}
}

// entriesOf returns conv's log as member d sees it.
func entriesOf(t *testing.T, d *device_, conv string) []protocol.Entry {
	t.Helper()
	return d.req(t, &protocol.Sync{Conversation: conv}).(*protocol.Events).Entries
}

func systemActions(es []protocol.Entry) []string {
	var out []string
	for _, e := range es {
		if e.Kind == store.KindSystem {
			var d struct{ Action string }
			json.Unmarshal(e.Data, &d)
			out = append(out, d.Action)
		}
	}
	return out
}

// D. Joining a channel one is in already succeeds and logs nothing.
func TestJoinTwice(t *testing.T) {
	h := newHarness(t, options{})
	alice, bob := h.user("alice", "member"), h.user("bob", "member")
	a, b := h.connect(alice), h.connect(bob)
	ch := a.req(t, &protocol.CreateConversation{Kind: "channel", Name: "general"}).(*protocol.ConversationMsg).Conversation
	for i := range 3 {
		got := b.req(t, &protocol.JoinChannel{Conversation: ch.ID}).(*protocol.ConversationMsg).Conversation
		if !got.Member || len(got.Members) != 2 {
			t.Fatalf("join %d: %+v", i+1, got)
		}
	}
	a.req(t, &protocol.JoinChannel{Conversation: ch.ID}) // the owner, too
	if got := strings.Join(systemActions(entriesOf(t, a, ch.ID)), " "); got != "created joined" {
		t.Fatalf("system entries after joining again: %s", got)
	}
}

// E. Leaving tells the others the new member list, and an owner who leaves
// hands the group to the member who joined first.
func TestLeaveUpdatesMembersAndOwner(t *testing.T) {
	h := newHarness(t, options{})
	alice, bob, carol := h.user("alice", "member"), h.user("bob", "member"), h.user("carol", "member")
	a, b, c := h.connect(alice), h.connect(bob), h.connect(carol)
	g := a.req(t, &protocol.CreateConversation{Kind: "group", Name: "Launch", Members: []string{carol.ID, bob.ID}}).(*protocol.ConversationMsg).Conversation

	roles := func(info protocol.ConversationInfo) string {
		var out []string
		for _, m := range info.Members {
			out = append(out, m.User+":"+m.Role)
		}
		return strings.Join(out, " ")
	}
	for _, step := range []struct {
		leaver *device_
		stay   []*device_
		want   string
	}{
		// bob and carol joined with alice; bob comes first by id.
		{a, []*device_{b, c}, bob.ID + ":owner " + carol.ID + ":member"},
		{c, []*device_{b}, bob.ID + ":owner"},
	} {
		step.leaver.req(t, &protocol.LeaveConversation{Conversation: g.ID})
		for _, d := range step.stay {
			d.wait(t, "the members after "+step.leaver.user.Username+" left", func(m protocol.Message) bool {
				cm, ok := m.(*protocol.ConversationMsg)
				return ok && cm.Conversation.ID == g.ID && roles(cm.Conversation) == step.want
			})
		}
	}
	name := "Relaunch"
	if info := b.req(t, &protocol.UpdateConversation{Conversation: g.ID, Name: &name}).(*protocol.ConversationMsg).Conversation; info.Name != name {
		t.Fatalf("the new owner could not rename: %+v", info)
	}
}

// F. An archived conversation is read-only until it is unarchived.
func TestArchivedIsReadOnly(t *testing.T) {
	h := newHarness(t, options{})
	alice, bob, carol := h.user("alice", "member"), h.user("bob", "member"), h.user("carol", "member")
	a, b := h.connect(alice), h.connect(bob)
	ch := a.req(t, &protocol.CreateConversation{Kind: "channel", Name: "old", Members: []string{bob.ID}}).(*protocol.ConversationMsg).Conversation
	first := b.req(t, &protocol.Send{Conversation: ch.ID, Txn: "1", Text: "before"}).(*protocol.Sent).Entry.Seq
	archived, topic := true, "new topic"
	a.req(t, &protocol.UpdateConversation{Conversation: ch.ID, Archived: &archived})

	for name, m := range map[string]protocol.Message{
		"send":    &protocol.Send{Conversation: ch.ID, Txn: "2", Text: "after"},
		"edit":    &protocol.Edit{Conversation: ch.ID, Seq: first, Text: "changed"},
		"delete":  &protocol.Delete{Conversation: ch.ID, Seq: first},
		"react":   &protocol.React{Conversation: ch.ID, Seq: first, Emoji: "👍", Add: true},
		"invite":  &protocol.Invite{Conversation: ch.ID, Users: []string{carol.ID}},
		"topic":   &protocol.UpdateConversation{Conversation: ch.ID, Topic: &topic},
		"archive": &protocol.UpdateConversation{Conversation: ch.ID, Archived: &archived},
	} {
		d := b
		if name == "archive" {
			d = a
		}
		if code := d.reqErr(t, m); code != protocol.CodeInvalidState {
			t.Errorf("%s in an archived channel: %s, want invalid_state", name, code)
		}
	}
	if code, out := h.call(bob.ID, "POST", "/api/v1/conversations/"+ch.ID+"/messages", `{"txn":"3","text":"rest"}`); code != http.StatusConflict {
		t.Errorf("REST send to an archived channel: %d %v", code, out)
	}
	// A retry of a send stored before the archiving (a client that did not
	// hear the answer) gets its message back, not a refusal.
	if sent := b.req(t, &protocol.Send{Conversation: ch.ID, Txn: "1", Text: "before"}).(*protocol.Sent); !sent.Duplicate || sent.Entry.Seq != first {
		t.Errorf("a retried send after the archiving: %+v", sent)
	}
	// Reading still works.
	if hist := b.req(t, &protocol.HistoryReq{Conversation: ch.ID}).(*protocol.HistoryMsg).Messages; len(hist) != 3 {
		t.Errorf("history of the archived channel: %+v", hist)
	}
	if code, out := h.call(bob.ID, "GET", "/api/v1/conversations/"+ch.ID+"/export", ""); code != 200 || len(out["entries"].([]any)) != 3 {
		t.Errorf("export of the archived channel: %d %v", code, out)
	}
	b.req(t, &protocol.Read{Conversation: ch.ID, Seq: first})

	// Unarchived, it is writable again.
	unarchive := false
	a.req(t, &protocol.UpdateConversation{Conversation: ch.ID, Archived: &unarchive, Topic: &topic})
	b.req(t, &protocol.Send{Conversation: ch.ID, Txn: "4", Text: "back"})
	b.req(t, &protocol.React{Conversation: ch.ID, Seq: first, Emoji: "👍", Add: true})
}

// G. Names follow the same rules in create and update.
func TestConversationNameRules(t *testing.T) {
	h := newHarness(t, options{})
	alice := h.user("alice", "member")
	a := h.connect(alice)
	g := a.req(t, &protocol.CreateConversation{Kind: "group", Name: "Team"}).(*protocol.ConversationMsg).Conversation
	for _, tc := range []struct {
		name, want, code string
	}{
		{"  Padded  ", "Padded", ""},
		{"Two\nlines", "", protocol.CodeBadRequest},
		{"Carriage\rreturn", "", protocol.CodeBadRequest},
		{"   ", "", protocol.CodeBadRequest},
		{strings.Repeat("n", protocol.MaxConvName+1), "", protocol.CodeTooLarge},
	} {
		for _, req := range []protocol.Message{
			&protocol.CreateConversation{Kind: "group", Name: tc.name},
			&protocol.UpdateConversation{Conversation: g.ID, Name: &tc.name},
		} {
			if tc.code != "" {
				if code := a.reqErr(t, req); code != tc.code {
					t.Errorf("%s %q: %s, want %s", req.TypeName(), tc.name, code, tc.code)
				}
				continue
			}
			if got := a.req(t, req).(*protocol.ConversationMsg).Conversation.Name; got != tc.want {
				t.Errorf("%s %q: named %q, want %q", req.TypeName(), tc.name, got, tc.want)
			}
		}
	}
}

// pngImage is a small PNG, which gets a thumbnail when sent.
func pngImage() []byte {
	var buf bytes.Buffer
	png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 8, 8)))
	return buf.Bytes()
}

func (h *harness) upload(conv, name string, content []byte, ctype string) store.File {
	h.t.Helper()
	f, err := h.st.SaveFile(h.t.Context(), store.File{Room: FileRoom(conv), Name: name, ContentType: ctype}, bytes.NewReader(content), 1<<20)
	if err != nil {
		h.t.Fatal(err)
	}
	return f
}

// H. The personal data export holds everything stored about the person.
func TestUserExportHoldsPersonalData(t *testing.T) {
	h := newHarness(t, options{})
	alice, bob := h.user("alice", "member"), h.user("bob", "member")
	ctx := t.Context()
	if err := h.st.CreateSession(ctx, store.Session{ID: "s1", TokenHash: "secret-hash", UserID: alice.ID, CSRFToken: "csrf-secret",
		ExpiresAt: time.Now().Add(time.Hour), UserAgent: "Firefox", IP: "192.0.2.7"}); err != nil {
		t.Fatal(err)
	}
	if err := h.st.CreateUserToken(ctx, store.UserToken{ID: "t1", TokenHash: "token-hash", UserID: alice.ID, Name: "ci bot"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.st.SavePushSubscription(ctx, store.PushSubscription{Endpoint: "https://push.example.net/send/abc-secret",
		UserID: alice.ID, P256dh: "p256dh-key", Auth: "auth-secret", UserAgent: "Firefox"}, 5); err != nil {
		t.Fatal(err)
	}
	a := h.connect(alice)
	conv := a.req(t, &protocol.Direct{User: bob.ID}).(*protocol.ConversationMsg).Conversation.ID
	a.req(t, &protocol.Send{Conversation: conv, Txn: "1", Text: "frist"})
	a.req(t, &protocol.Edit{Conversation: conv, Seq: 1, Text: "first"})
	a.req(t, &protocol.Send{Conversation: conv, Txn: "2", Text: "oops, private"})
	a.req(t, &protocol.Delete{Conversation: conv, Seq: 3})
	f := h.upload(conv, "plan.txt", []byte("the plan"), "text/plain")
	a.req(t, &protocol.Send{Conversation: conv, Txn: "3", Files: []string{f.ID}})

	resp, err := http.DefaultClient.Do(func() *http.Request {
		r, _ := http.NewRequest("GET", h.srv.URL+"/api/v1/export", nil)
		r.Header.Set("X-Test-User", alice.ID)
		return r
	}())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, secret := range []string{"secret-hash", "csrf-secret", "token-hash", "abc-secret", "p256dh-key", "auth-secret"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("the export holds the secret %q", secret)
		}
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("export is not JSON: %v\n%s", err, raw)
	}
	first := func(key string) map[string]any {
		list, _ := out[key].([]any)
		if len(list) == 0 {
			t.Fatalf("export has no %s: %s", key, raw)
		}
		return list[0].(map[string]any)
	}
	for _, tc := range []struct {
		key, field string
		want       any
	}{
		{"sessions", "ip", "192.0.2.7"},
		{"sessions", "userAgent", "Firefox"},
		{"apiTokens", "name", "ci bot"},
		{"apiTokens", "lastUsedAt", nil},
		{"pushSubscriptions", "endpointHost", "push.example.net"},
		{"files", "id", f.ID},
		{"files", "name", "plan.txt"},
		{"files", "size", float64(len("the plan"))},
	} {
		if got := first(tc.key)[tc.field]; got != tc.want {
			t.Errorf("%s[0].%s = %v, want %v", tc.key, tc.field, got, tc.want)
		}
	}
	revs := map[float64]string{}
	for _, m := range out["messages"].([]any) {
		m := m.(map[string]any)
		rs, _ := m["revisions"].([]any)
		for _, r := range rs {
			r := r.(map[string]any)
			revs[m["seq"].(float64)] += r["action"].(string) + ":" + r["text"].(string)
		}
	}
	if revs[1] != "edit:frist" || revs[3] != "delete:oops, private" || len(revs) != 2 {
		t.Errorf("earlier texts in the export: %v", revs)
	}
}

// I. Deleting a message deletes its files and their thumbnails.
func TestDeleteMessageDeletesFiles(t *testing.T) {
	h := newHarness(t, options{})
	alice, bob := h.user("alice", "member"), h.user("bob", "member")
	a := h.connect(alice)
	conv := a.req(t, &protocol.Direct{User: bob.ID}).(*protocol.ConversationMsg).Conversation.ID
	img := h.upload(conv, "photo.png", pngImage(), "image/png")
	doc := h.upload(conv, "notes.txt", []byte("notes"), "text/plain")
	sent := a.req(t, &protocol.Send{Conversation: conv, Txn: "1", Files: []string{img.ID, doc.ID}}).(*protocol.Sent).Entry
	var data textData
	json.Unmarshal(sent.Data, &data)
	if len(data.Attachments) != 2 || data.Attachments[0].Thumb == "" {
		t.Fatalf("attachments %+v", data.Attachments)
	}
	thumb := data.Attachments[0].Thumb[strings.LastIndex(data.Attachments[0].Thumb, "/")+1:]
	ids := []string{img.ID, doc.ID, thumb}
	for _, id := range ids {
		if _, fh, err := h.st.OpenFile(t.Context(), FileRoom(conv), id); err != nil {
			t.Fatalf("file %s before the delete: %v", id, err)
		} else {
			fh.Close()
		}
	}
	a.req(t, &protocol.Delete{Conversation: conv, Seq: sent.Seq})
	for _, id := range ids {
		if _, _, err := h.st.OpenFile(t.Context(), FileRoom(conv), id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("file %s after its message was deleted: %v", id, err)
		}
	}
}

// J. Request bodies: JSON only, 16 KiB (a message to send may be longer),
// one value; a direct conversation that existed answers 200.
func TestRESTBodies(t *testing.T) {
	h := newHarness(t, options{})
	alice, bob := h.user("alice", "member"), h.user("bob", "member")
	code, conv := h.call(alice.ID, "POST", "/api/v1/conversations", `{"kind":"direct","user":"`+bob.ID+`"}`)
	if code != http.StatusCreated {
		t.Fatalf("create direct: %d %v", code, conv)
	}
	id := conv["id"].(string)
	msgs := "/api/v1/conversations/" + id + "/messages"
	big := strings.Repeat("界", protocol.MaxMessageLen) // 24000 bytes
	for _, tc := range []struct {
		name, path, body, ctype string
		want                    int
	}{
		{"direct again", "/api/v1/conversations", `{"kind":"direct","user":"` + bob.ID + `"}`, "", 200},
		{"direct with yourself", "/api/v1/conversations", `{"kind":"direct","user":"` + alice.ID + `"}`, "", 400},
		{"direct with an unknown field", "/api/v1/conversations", `{"kind":"direct","user":"` + bob.ID + `","name":"x"}`, "", 400},
		{"direct, not JSON", "/api/v1/conversations", `{"kind":"direct","user":`, "", 400},
		{"direct, trailing data", "/api/v1/conversations", `{"kind":"direct","user":"` + bob.ID + `"} {}`, "", 400},
		{"create, wrong type", "/api/v1/conversations", `{"kind":"group","name":"x"}`, "text/plain", 415},
		{"create, no type", "/api/v1/conversations", `{"kind":"group","name":"x"}`, "none", 415},
		{"create, over 16 KiB", "/api/v1/conversations", `{"kind":"group","name":"x"` + strings.Repeat(" ", 17<<10) + `}`, "", 413},
		{"create with charset", "/api/v1/conversations", `{"kind":"group","name":"x"}`, "application/json; charset=utf-8", 201},
		{"send, form", msgs, `txn=1&text=x`, "application/x-www-form-urlencoded", 415},
		{"send, trailing data", msgs, `{"txn":"t","text":"x"}{"txn":"u","text":"y"}`, "", 400},
		{"send, longest text", msgs, `{"txn":"big","text":"` + big + `"}`, "", 201},
		{"send, over 64 KiB", msgs, `{"txn":"huge","text":"x"` + strings.Repeat(" ", 65<<10) + `}`, "", 413},
		{"read, trailing data", "/api/v1/conversations/" + id + "/read", `{"seq":1} x`, "", 400},
		{"read, wrong type", "/api/v1/conversations/" + id + "/read", `{"seq":1}`, "text/plain", 415},
		{"read", "/api/v1/conversations/" + id + "/read", `{"seq":1}`, "", 204},
	} {
		var ct []string
		if tc.ctype == "none" {
			ct = []string{""}
		} else if tc.ctype != "" {
			ct = []string{tc.ctype}
		}
		if code, out := h.call(alice.ID, "POST", tc.path, tc.body, ct...); code != tc.want {
			t.Errorf("%s: %d %v, want %d", tc.name, code, out, tc.want)
		} else if code == 415 && out["code"] != protocol.CodeBadRequest {
			t.Errorf("%s: code %v", tc.name, out["code"])
		}
	}
}

// K. Search refuses the same queries, with the same codes, on both sides.
func TestSearchQueryRules(t *testing.T) {
	h := newHarness(t, options{})
	alice := h.user("alice", "member")
	a := h.connect(alice)
	for _, tc := range []struct {
		name, query, code string
		status            int
	}{
		{"empty", "", protocol.CodeBadRequest, 400},
		{"blank", "   ", protocol.CodeBadRequest, 400},
		{"too long", strings.Repeat("q", protocol.MaxQueryLen+1), protocol.CodeTooLarge, 413},
		{"too many words", strings.Repeat("w ", store.MaxSearchTerms+1), protocol.CodeBadRequest, 400},
		{"fine", "hello", "", 200},
	} {
		if tc.code == "" {
			a.req(t, &protocol.Search{Query: tc.query})
		} else if code := a.reqErr(t, &protocol.Search{Query: tc.query}); code != tc.code {
			t.Errorf("socket, %s: %s, want %s", tc.name, code, tc.code)
		}
		code, out := h.call(alice.ID, "GET", "/api/v1/search?q="+strings.ReplaceAll(tc.query, " ", "+"), "")
		if code != tc.status || (tc.code != "" && out["code"] != tc.code) {
			t.Errorf("REST, %s: %d %v, want %d %s", tc.name, code, out, tc.status, tc.code)
		}
	}
}

// L. Threads page past 500 replies; reply must name a message of the
// conversation.
func TestThreadPagingAndReplies(t *testing.T) {
	h := newHarness(t, options{})
	alice, bob := h.user("alice", "member"), h.user("bob", "member")
	a := h.connect(alice)
	conv := a.req(t, &protocol.Direct{User: bob.ID}).(*protocol.ConversationMsg).Conversation.ID
	other := a.req(t, &protocol.CreateConversation{Kind: "group", Name: "other"}).(*protocol.ConversationMsg).Conversation.ID
	for i := range 10 {
		a.req(t, &protocol.Send{Conversation: other, Txn: fmt.Sprint(i), Text: "padding"})
	}
	root := a.req(t, &protocol.Send{Conversation: conv, Txn: "root", Text: "root"}).(*protocol.Sent).Entry.Seq
	const replies = 520
	for i := range replies {
		if _, _, err := h.st.AppendMessage(t.Context(), store.Message{ConversationID: conv, Kind: store.KindText,
			SenderID: bob.ID, Text: fmt.Sprint("reply ", i), ThreadSeq: root}); err != nil {
			t.Fatal(err)
		}
	}
	var got int
	var after int64
	for page := 0; ; page++ {
		code, out := h.call(alice.ID, "GET", fmt.Sprintf("/api/v1/conversations/%s/messages/%d/thread?after=%d", conv, root, after), "")
		msgs, _ := out["messages"].([]any)
		if code != 200 || len(msgs) < 1 || msgs[0].(map[string]any)["seq"] != float64(root) {
			t.Fatalf("thread page %d: %d %v", page, code, out)
		}
		got += len(msgs) - 1
		after = int64(msgs[len(msgs)-1].(map[string]any)["seq"].(float64))
		if out["more"] != true {
			break
		}
		if page > 2 {
			t.Fatal("thread pages never end")
		}
	}
	if got != replies {
		t.Fatalf("paged through %d replies, want %d", got, replies)
	}
	if code, _ := h.call(alice.ID, "GET", fmt.Sprintf("/api/v1/conversations/%s/messages/%d/thread?limit=5", conv, root), ""); code != 200 {
		t.Fatalf("thread with a limit: %d", code)
	}
	if code, _ := h.call(alice.ID, "GET", fmt.Sprintf("/api/v1/conversations/%s/messages/%d/thread", other, 1), ""); code != 404 {
		t.Fatalf("thread of a system entry: %d", code)
	}

	// In the group: 1 is the "created" system entry, 2-11 the padding.
	for _, tc := range []struct {
		name  string
		reply int64
		code  string
	}{
		{"a message", 2, ""},
		{"a system entry", 1, protocol.CodeBadRequest},
		{"nothing there", 10_000, protocol.CodeBadRequest},
		{"a message of another conversation only", root + 300, protocol.CodeBadRequest},
	} {
		m := &protocol.Send{Conversation: other, Txn: "reply " + tc.name, Text: "quoting", Reply: tc.reply}
		if tc.code == "" {
			if e := a.req(t, m).(*protocol.Sent).Entry; e.Reply != tc.reply {
				t.Errorf("reply to %s: %+v", tc.name, e)
			}
		} else if code := a.reqErr(t, m); code != tc.code {
			t.Errorf("reply to %s: %s, want %s", tc.name, code, tc.code)
		}
	}
	// A thread reply may be quoted, in its own conversation.
	a.req(t, &protocol.Send{Conversation: conv, Txn: "quote", Text: "quoting", Reply: root + 1})
}
