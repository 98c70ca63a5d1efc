package store

import (
	"slices"
	"testing"
)

// MutedMembers lists who muted a conversation, in one query: the
// notifications of a message need it for every member.
func TestMutedMembers(t *testing.T) { eachBackend(t, testMutedMembers) }

func testMutedMembers(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	if _, err := s.CreateConversation(ctx, Conversation{ID: "g", Kind: Group, CreatedBy: "alice"}, []string{"bob", "carol", "dave"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateConversation(ctx, Conversation{ID: "h", Kind: Group, CreatedBy: "alice"}, []string{"erin"}); err != nil {
		t.Fatal(err)
	}
	muted := func(conv string) []string {
		t.Helper()
		ids, err := s.MutedMembers(ctx, conv)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if got := muted("g"); len(got) != 0 {
		t.Fatalf("muted before anyone muted: %q", got)
	}
	for _, m := range []struct {
		conv, user string
		muted      bool
	}{
		{"g", "dave", true}, {"g", "bob", true}, {"g", "carol", true}, {"g", "carol", false}, {"h", "erin", true},
	} {
		if err := s.SetMuted(ctx, m.conv, m.user, m.muted); err != nil {
			t.Fatal(err)
		}
	}
	if got := muted("g"); !slices.Equal(got, []string{"bob", "dave"}) {
		t.Fatalf("muted in g: %q, want bob and dave", got)
	}
	// A member who leaves is not listed.
	if err := s.RemoveMember(ctx, "g", "dave"); err != nil {
		t.Fatal(err)
	}
	if got := muted("g"); !slices.Equal(got, []string{"bob"}) {
		t.Fatalf("muted in g after dave left: %q, want bob", got)
	}
	if got := muted("nothing"); len(got) != 0 {
		t.Fatalf("muted in a conversation that does not exist: %q", got)
	}
}
