package store

import (
	"maps"
	"slices"
	"testing"
	"time"
)

func TestLiveCredentials(t *testing.T) { eachBackend(t, testLiveCredentials) }

// The credentials a connection may keep using: sessions not expired and API
// tokens, of users not disabled.
func testLiveCredentials(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, u := range []string{"ann", "ben"} {
		if err := s.CreateUser(ctx, User{ID: u, Username: u, Role: "member"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, ss := range []Session{
		{ID: "ann-laptop", UserID: "ann", ExpiresAt: now.Add(time.Hour)},
		{ID: "ann-old", UserID: "ann", ExpiresAt: now.Add(-time.Minute)},
		{ID: "ben-phone", UserID: "ben", ExpiresAt: now.Add(time.Hour)},
	} {
		ss.TokenHash, ss.CreatedAt = "h-"+ss.ID, now.Add(-2*time.Hour)
		if err := s.CreateSession(ctx, ss); err != nil {
			t.Fatal(err)
		}
	}
	for _, tk := range []UserToken{{ID: "ann-bot", UserID: "ann"}, {ID: "ben-bot", UserID: "ben"}} {
		tk.TokenHash, tk.CreatedAt = "h-"+tk.ID, now
		if err := s.CreateUserToken(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	disabled := true
	if _, err := s.UpdateUser(ctx, "ben", UserChanges{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	live, err := s.LiveCredentials(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(maps.Keys(live))
	if want := []string{"ann-bot", "ann-laptop"}; !slices.Equal(got, want) {
		t.Fatalf("live credentials %q, want %q (no expired session, nothing of a disabled user)", got, want)
	}
}
