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

func TestLastActive(t *testing.T) { eachBackend(t, testLastActive) }

// When each person last used a session or an API token, the later of the two.
func testLastActive(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, u := range []string{"ann", "ben", "cy"} {
		if err := s.CreateUser(ctx, User{ID: u, Username: u, Role: "member"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, ss := range []Session{
		{ID: "ann-1", UserID: "ann", LastSeenAt: now.Add(-time.Hour)},
		{ID: "ann-2", UserID: "ann", LastSeenAt: now.Add(-time.Minute)},
		{ID: "ben-1", UserID: "ben", LastSeenAt: now.Add(-2 * time.Hour)},
	} {
		ss.TokenHash, ss.CreatedAt, ss.ExpiresAt = "h-"+ss.ID, now.Add(-3*time.Hour), now.Add(time.Hour)
		if err := s.CreateSession(ctx, ss); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateUserToken(ctx, UserToken{ID: "ben-bot", UserID: "ben", TokenHash: "h-bot", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchUserToken(ctx, "ben-bot", now.Add(-30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, err := s.LastActive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !got["ann"].Equal(now.Add(-time.Minute)) || !got["ben"].Equal(now.Add(-30*time.Minute)) || !got["cy"].IsZero() {
		t.Fatalf("last active: %v", got)
	}
}
