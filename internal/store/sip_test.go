package store

import (
	"errors"
	"testing"
	"time"
)

func TestSIPAccounts(t *testing.T) { eachBackend(t, testSIPAccounts) }

func testSIPAccounts(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := s.CreateUser(ctx, User{ID: "u1", Username: "ann", DisplayName: "Ann", Role: "member"}); err != nil {
		t.Fatal(err)
	}
	acct := SIPAccount{ID: "s1", Username: "Desk100", DisplayName: "Desk", UserID: "u1", Realm: "sb.test",
		HA1MD5: "md5hex", HA1SHA256: "sha256hex", Enabled: true, CreatedAt: t0}
	if _, err := s.CreateSIPAccount(ctx, SIPAccount{ID: "x", Username: "y"}); err == nil {
		t.Fatal("account without realm or hashes accepted")
	}
	got, err := s.CreateSIPAccount(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	want := acct
	want.UpdatedAt = t0
	want.MediaEncryption = "none" // the default
	if got != want {
		t.Fatalf("created %+v, want %+v", got, want)
	}
	// Usernames are unique but case-sensitive, like digest usernames.
	dup := acct
	dup.ID = "s2"
	if _, err := s.CreateSIPAccount(ctx, dup); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate username: %v", err)
	}
	lower := acct
	lower.ID, lower.Username, lower.UserID = "s3", "desk100", ""
	if _, err := s.CreateSIPAccount(ctx, lower); err != nil {
		t.Fatalf("username differing in case: %v", err)
	}
	ghost := acct
	ghost.ID, ghost.Username, ghost.UserID = "s4", "ghost", "nobody"
	if _, err := s.CreateSIPAccount(ctx, ghost); !errors.Is(err, ErrNoSuchUser) {
		t.Fatalf("link to a missing user: %v", err)
	}
	s.Close()

	s = b.open(t)
	byName, err := s.SIPAccountByUsername(ctx, "Desk100")
	if err != nil || byName != want {
		t.Fatalf("by username: %+v, %v", byName, err)
	}
	if _, err := s.SIPAccountByUsername(ctx, "DESK100"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("by username in other case: %v", err)
	}
	unlinked, err := s.SIPAccount(ctx, "s3")
	if err != nil || unlinked.UserID != "" {
		t.Fatalf("unlinked account: %+v, %v", unlinked, err)
	}
	list, err := s.SIPAccounts(ctx)
	if err != nil || len(list) != 2 || list[0].Username != "Desk100" || list[1].Username != "desk100" {
		t.Fatalf("list: %+v, %v", list, err)
	}
	for _, a := range list {
		if a.HA1MD5 != "" || a.HA1SHA256 != "" {
			t.Fatalf("list leaks hashes: %+v", a)
		}
	}

	off, empty, sdes := false, "", "sdes"
	upd, err := s.UpdateSIPAccount(ctx, "s1", SIPAccountChanges{Enabled: &off, UserID: &empty, MediaEncryption: &sdes})
	if err != nil || upd.Enabled || upd.UserID != "" || upd.DisplayName != "Desk" || upd.HA1MD5 != "md5hex" || upd.MediaEncryption != "sdes" {
		t.Fatalf("update: %+v, %v", upd, err)
	}
	if again, err := s.SIPAccountByUsername(ctx, "Desk100"); err != nil || again.MediaEncryption != "sdes" {
		t.Fatalf("media encryption not kept: %+v, %v", again, err)
	}
	bogus := "zrtp"
	if _, err := s.UpdateSIPAccount(ctx, "s1", SIPAccountChanges{MediaEncryption: &bogus}); err == nil {
		t.Fatal("media encryption zrtp accepted by the database")
	}
	missing := "nobody"
	if _, err := s.UpdateSIPAccount(ctx, "s1", SIPAccountChanges{UserID: &missing}); !errors.Is(err, ErrNoSuchUser) {
		t.Fatalf("update to a missing user: %v", err)
	}
	if _, err := s.UpdateSIPAccount(ctx, "nope", SIPAccountChanges{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update missing: %v", err)
	}
	if err := s.SetSIPAccountSecret(ctx, "s1", "new.realm", "m2", "s2"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSIPAccountSecret(ctx, "nope", "r", "m", "s"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("secret of missing: %v", err)
	}
	if a, err := s.SIPAccount(ctx, "s1"); err != nil || a.Realm != "new.realm" || a.HA1MD5 != "m2" || a.HA1SHA256 != "s2" || a.Enabled {
		t.Fatalf("after secret: %+v, %v", a, err)
	}
	if err := s.DeleteSIPAccount(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSIPAccount(ctx, "s1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if _, err := s.SIPAccount(ctx, "s1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted account: %v", err)
	}
}
