package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// attach saves a file to conv's room and returns it with the Data of a text
// entry that sends it (with a thumbnail, like chat's previews).
func attach(t *testing.T, s *Store, conv string) (file, thumb File) {
	t.Helper()
	save := func(name string) File {
		f, err := s.SaveFile(t.Context(), File{Room: ConversationFileRoom(conv), Name: name}, strings.NewReader(name), 100)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	return save("photo.png"), save("thumbnail.jpg")
}

func attachData(conv string, f, thumb File) json.RawMessage {
	url := func(id string) string { return "/api/v1/conversations/" + conv + "/files/" + id }
	b, _ := json.Marshal(map[string]any{"attachments": []map[string]any{
		{"id": f.ID, "name": f.Name, "size": f.Size, "url": url(f.ID), "thumb": url(thumb.ID)}}})
	return b
}

// stored tells whether the file's row and content are still there.
func stored(t *testing.T, s *Store, conv string, f File) bool {
	t.Helper()
	_, fh, err := s.OpenFile(t.Context(), ConversationFileRoom(conv), f.ID)
	if err == nil {
		fh.Close()
		return true
	}
	if !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.filePath(f.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file %s has no row but its content is still on disk: %v", f.Name, err)
	}
	return false
}

// Deleting a message, and retention, delete the files it sent, unless
// another live message of the conversation sends them too.
func TestMessageFilesGoWithTheMessage(t *testing.T) { eachBackend(t, testMessageFilesGoWithTheMessage) }

func testMessageFilesGoWithTheMessage(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	s.CreateConversation(ctx, Conversation{ID: "g", Kind: Group, CreatedBy: "alice"}, []string{"bob"})

	send := func(f, thumb File) Message {
		m := text("g", "alice", "", "a file")
		m.Data = attachData("g", f, thumb)
		return mustAppend(t, s, m)
	}
	del := func(m Message) {
		mustAppend(t, s, Message{ConversationID: "g", Kind: KindDelete, SenderID: "alice", TargetSeq: m.Seq})
	}

	for _, tc := range []struct {
		name                 string
		run                  func(f, thumb File) // sends and deletes
		wantFile, wantThumbs bool
	}{
		{"deleted message", func(f, thumb File) { del(send(f, thumb)) }, false, false},
		{"edited message", func(f, thumb File) {
			m := send(f, thumb)
			mustAppend(t, s, Message{ConversationID: "g", Kind: KindEdit, SenderID: "alice", TargetSeq: m.Seq, Text: "edited"})
		}, true, true},
		{"file sent again, first deleted", func(f, thumb File) {
			first := send(f, thumb)
			_, thumb2 := attach(t, s, "g")
			send(f, thumb2)
			del(first)
		}, true, false},
	} {
		f, thumb := attach(t, s, "g")
		tc.run(f, thumb)
		if got := stored(t, s, "g", f); got != tc.wantFile {
			t.Errorf("%s: file stored %v, want %v", tc.name, got, tc.wantFile)
		}
		if got := stored(t, s, "g", thumb); got != tc.wantThumbs {
			t.Errorf("%s: thumbnail stored %v, want %v", tc.name, got, tc.wantThumbs)
		}
	}

	// Retention: the old message's files go, the new one's stay.
	s.CreateConversation(ctx, Conversation{ID: "r", Kind: Group, CreatedBy: "alice"}, nil)
	oldF, oldT := attach(t, s, "r")
	m := text("r", "alice", "", "old")
	m.Data = attachData("r", oldF, oldT)
	mustAppend(t, s, m)
	now = now.Add(48 * time.Hour)
	newF, newT := attach(t, s, "r")
	m = text("r", "alice", "", "new")
	m.Data = attachData("r", newF, newT)
	mustAppend(t, s, m)
	if _, err := s.DeleteMessagesBefore(ctx, now.Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		f    File
		want bool
	}{{oldF, false}, {oldT, false}, {newF, true}, {newT, true}} {
		if got := stored(t, s, "r", c.f); got != c.want {
			t.Errorf("after retention: %s stored %v, want %v", c.f.ID, got, c.want)
		}
	}
}

// The last owner who leaves hands the group to the member who joined first.
func TestRemoveMemberKeepsAnOwner(t *testing.T) { eachBackend(t, testRemoveMemberKeepsAnOwner) }

func testRemoveMemberKeepsAnOwner(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	clock := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	s.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	s.CreateConversation(ctx, Conversation{ID: "g", Kind: Group, CreatedBy: "alice"}, []string{"dave", "carol"})
	s.AddMember(ctx, "g", "bob", "member") // joined last, though first by id

	roles := func() string {
		ms, err := s.Members(ctx, "g")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, m.UserID+":"+m.Role)
		}
		slices.Sort(out)
		return strings.Join(out, " ")
	}
	for _, step := range []struct{ leaver, want string }{
		{"alice", "bob:member carol:owner dave:member"}, // carol and dave joined with alice; carol is first by id
		{"dave", "bob:member carol:owner"},              // not an owner: nothing changes
		{"carol", "bob:owner"},
		{"bob", ""},
	} {
		if err := s.RemoveMember(ctx, "g", step.leaver); err != nil {
			t.Fatalf("%s leaves: %v", step.leaver, err)
		}
		if got := roles(); got != step.want {
			t.Errorf("after %s left: %q, want %q", step.leaver, got, step.want)
		}
	}
	if err := s.RemoveMember(ctx, "g", "bob"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("leaving twice: %v", err)
	}
}

// Thread pages: the root, then the replies after a cursor.
func TestThreadPages(t *testing.T) { eachBackend(t, testThreadPages) }

func testThreadPages(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	s.CreateConversation(ctx, Conversation{ID: "g", Kind: Group, CreatedBy: "alice"}, nil)
	root := mustAppend(t, s, text("g", "alice", "", "root"))
	for i := range 5 {
		m := text("g", "alice", "", fmt.Sprint("reply ", i))
		m.ThreadSeq = root.Seq
		mustAppend(t, s, m)
	}
	for _, tc := range []struct {
		after int64
		limit int
		want  []int64
	}{
		{0, 0, []int64{1, 2, 3, 4, 5, 6}},
		{0, 2, []int64{1, 2, 3}},
		{3, 2, []int64{1, 4, 5}},
		{5, 2, []int64{1, 6}},
		{6, 2, []int64{1}},
	} {
		ms, err := s.Thread(ctx, "g", root.Seq, tc.after, tc.limit)
		var got []int64
		for _, m := range ms {
			got = append(got, m.Seq)
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("after %d limit %d: %v %v, want %v", tc.after, tc.limit, got, err, tc.want)
		}
	}
}
