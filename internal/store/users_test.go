package store

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func accountUser(id, username, role string) User {
	return User{ID: id, Username: username, DisplayName: "Name of " + username, Role: role, PasswordHash: "hash-" + id}
}

func TestUsers(t *testing.T) { eachBackend(t, testUsers) }

func testUsers(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	t0 := time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)
	alice := accountUser("u1", "alice", "admin")
	alice.Email = "alice@example.com"
	alice.CreatedAt = t0
	alice.TOTPSecret = "SECRET"
	alice.LockedUntil = t0.Add(time.Hour)
	if err := s.CreateUser(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, accountUser("u2", "bob", "member")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		u    User
		want error
	}{
		{"same username", accountUser("u3", "alice", "member"), ErrUsernameTaken},
		{"same email", User{ID: "u3", Username: "carol", DisplayName: "C", Role: "member", Email: "alice@example.com"}, ErrEmailTaken},
		{"same id", accountUser("u1", "dave", "member"), ErrExists},
	} {
		err := s.CreateUser(ctx, tc.u)
		if !errors.Is(err, tc.want) || !errors.Is(err, ErrExists) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := s.CreateUser(ctx, User{ID: "u4", Username: "erin", Role: "owner"}); err == nil {
		t.Error("unknown role accepted")
	}
	if err := s.CreateUser(ctx, User{ID: "u4", Role: "member"}); err == nil {
		t.Error("empty username accepted")
	}
	// Several users without e-mail do not clash.
	if err := s.CreateUser(ctx, accountUser("u5", "frank", "agent")); err != nil {
		t.Fatal(err)
	}

	got, err := s.User(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if got != alice {
		t.Fatalf("User = %+v\nwant   %+v", got, alice)
	}
	if u, err := s.UserByUsername(ctx, "bob"); err != nil || u.ID != "u2" || u.CreatedAt.IsZero() || !u.LockedUntil.IsZero() {
		t.Fatalf("UserByUsername = %+v, %v", u, err)
	}
	if u, err := s.UserByEmail(ctx, "alice@example.com"); err != nil || u.ID != "u1" {
		t.Fatalf("UserByEmail = %+v, %v", u, err)
	}
	for _, err := range []error{
		func() error { _, err := s.User(ctx, "nope"); return err }(),
		func() error { _, err := s.UserByUsername(ctx, "nope"); return err }(),
		func() error { _, err := s.UserByEmail(ctx, ""); return err }(),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("missing user: %v", err)
		}
	}
	users, err := s.Users(ctx)
	if err != nil || len(users) != 3 || users[0].Username != "alice" || users[1].Username != "bob" || users[2].Username != "frank" {
		t.Fatalf("Users = %+v, %v", users, err)
	}
	if n, err := s.CountUsers(ctx); err != nil || n != 3 {
		t.Fatalf("CountUsers = %d, %v", n, err)
	}

	name, email := "Robert", "bob@example.com"
	u, err := s.UpdateUser(ctx, "u2", UserChanges{DisplayName: &name, Email: &email})
	if err != nil || u.DisplayName != "Robert" || u.Email != email || u.Role != "member" {
		t.Fatalf("UpdateUser = %+v, %v", u, err)
	}
	taken := "alice@example.com"
	if _, err := s.UpdateUser(ctx, "u2", UserChanges{Email: &taken}); !errors.Is(err, ErrEmailTaken) {
		t.Fatalf("update to a taken email: %v", err)
	}
	if _, err := s.UpdateUser(ctx, "nope", UserChanges{DisplayName: &name}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update missing: %v", err)
	}

	// Password changes end other sessions and clear a lock.
	for _, id := range []string{"s1", "s2"} {
		if err := s.CreateSession(ctx, Session{ID: id, TokenHash: "h" + id, UserID: "u1", ExpiresAt: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetPassword(ctx, "u1", "new-hash", "s2"); err != nil {
		t.Fatal(err)
	}
	if ss, _ := s.Sessions(ctx, "u1"); len(ss) != 1 || ss[0].ID != "s2" {
		t.Fatalf("sessions after password change: %+v", ss)
	}
	if u, _ := s.User(ctx, "u1"); u.PasswordHash != "new-hash" || !u.LockedUntil.IsZero() {
		t.Fatalf("after SetPassword: %+v", u)
	}
	if err := s.SetPassword(ctx, "nope", "x", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetPassword missing: %v", err)
	}
	// A rehash applies only over the hash it replaces.
	if err := s.RehashPassword(ctx, "u1", "stale", "other"); err != nil {
		t.Fatal(err)
	}
	if err := s.RehashPassword(ctx, "u1", "new-hash", "rehashed"); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.User(ctx, "u1"); u.PasswordHash != "rehashed" {
		t.Fatalf("after rehash: %q", u.PasswordHash)
	}
	if ss, _ := s.Sessions(ctx, "u1"); len(ss) != 1 {
		t.Fatal("rehash ended sessions")
	}
}

func TestCreateFirstUser(t *testing.T) { eachBackend(t, testCreateFirstUser) }

func testCreateFirstUser(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	// Racing first-run setups: exactly one wins.
	var wg sync.WaitGroup
	var won atomic.Int32
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			err := s.CreateFirstUser(ctx, accountUser(fmt.Sprint("id", i), fmt.Sprint("admin", i), "admin"))
			switch {
			case err == nil:
				won.Add(1)
			case !errors.Is(err, ErrExists):
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if won.Load() != 1 {
		t.Fatalf("%d first users created", won.Load())
	}
	if n, _ := s.CountUsers(ctx); n != 1 {
		t.Fatalf("%d users", n)
	}
}

func TestUpdateUserDisablesAndGuardsAdmins(t *testing.T) {
	eachBackend(t, testUpdateUserDisablesAndGuardsAdmins)
}

func testUpdateUserDisablesAndGuardsAdmins(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	for _, u := range []User{accountUser("a1", "ann", "admin"), accountUser("a2", "abe", "admin"), accountUser("m1", "mia", "member")} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	exp := time.Now().Add(time.Hour)
	for _, ss := range []Session{{ID: "s1", TokenHash: "h1", UserID: "m1", ExpiresAt: exp}, {ID: "s2", TokenHash: "h2", UserID: "m1", ExpiresAt: exp}, {ID: "s3", TokenHash: "h3", UserID: "a1", ExpiresAt: exp}} {
		if err := s.CreateSession(ctx, ss); err != nil {
			t.Fatal(err)
		}
	}
	yes, no, member := true, false, "member"
	if u, err := s.UpdateUser(ctx, "m1", UserChanges{Disabled: &yes}); err != nil || !u.Disabled {
		t.Fatalf("disable: %+v, %v", u, err)
	}
	if ss, _ := s.Sessions(ctx, "m1"); len(ss) != 0 {
		t.Fatalf("disabled user kept %d sessions", len(ss))
	}
	if ss, _ := s.Sessions(ctx, "a1"); len(ss) != 1 {
		t.Fatal("other users' sessions ended")
	}
	if u, err := s.UpdateUser(ctx, "m1", UserChanges{Disabled: &no}); err != nil || u.Disabled {
		t.Fatalf("enable: %+v, %v", u, err)
	}

	// Two admins: one may go; the last may neither be demoted nor disabled.
	if _, err := s.UpdateUser(ctx, "a1", UserChanges{Role: &member}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateUser(ctx, "a2", UserChanges{Role: &member}); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("demote last admin: %v", err)
	}
	if _, err := s.UpdateUser(ctx, "a2", UserChanges{Disabled: &yes}); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("disable last admin: %v", err)
	}
	if u, _ := s.User(ctx, "a2"); u.Role != "admin" || u.Disabled {
		t.Fatalf("refused change was applied: %+v", u)
	}

	// Racing demotions of two admins: one must fail.
	admin := "admin"
	if _, err := s.UpdateUser(ctx, "a1", UserChanges{Role: &admin}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var refused atomic.Int32
	for _, id := range []string{"a1", "a2"} {
		wg.Go(func() {
			if _, err := s.UpdateUser(ctx, id, UserChanges{Role: &member}); errors.Is(err, ErrLastAdmin) {
				refused.Add(1)
			} else if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if refused.Load() != 1 {
		t.Fatalf("%d demotions refused, want 1", refused.Load())
	}
}

func TestLoginFailures(t *testing.T) { eachBackend(t, testLoginFailures) }

func testLoginFailures(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	if err := s.CreateUser(ctx, accountUser("u1", "alice", "member")); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	lockFor := func(n int) time.Duration { return time.Duration(n+1) * time.Minute }
	fail := func() time.Time {
		t.Helper()
		until, err := s.LoginFailed(ctx, "u1", now, 3, lockFor)
		if err != nil {
			t.Fatal(err)
		}
		return until
	}
	for i := range 2 {
		if until := fail(); !until.IsZero() {
			t.Fatalf("failure %d locked until %v", i+1, until)
		}
	}
	if until := fail(); !until.Equal(now.Add(time.Minute)) {
		t.Fatalf("third failure: locked until %v", until)
	}
	u, _ := s.User(ctx, "u1")
	if u.FailedLogins != 0 || u.Lockouts != 1 || !u.LockedUntil.Equal(now.Add(time.Minute)) {
		t.Fatalf("after lockout: %+v", u)
	}
	// The next lock is longer.
	now = now.Add(2 * time.Minute)
	fail()
	fail()
	if until := fail(); !until.Equal(now.Add(2 * time.Minute)) {
		t.Fatalf("second lockout until %v", until)
	}
	if err := s.LoginSucceeded(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.User(ctx, "u1"); u.FailedLogins != 0 || u.Lockouts != 0 || !u.LockedUntil.IsZero() {
		t.Fatalf("after success: %+v", u)
	}
	if _, err := s.LoginFailed(ctx, "nope", now, 3, lockFor); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing user: %v", err)
	}

	// Concurrent failures are all counted.
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := s.LoginFailed(ctx, "u1", now, 100, lockFor); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if u, _ := s.User(ctx, "u1"); u.FailedLogins != 10 {
		t.Fatalf("%d failures counted, want 10", u.FailedLogins)
	}
}

func TestTOTPColumns(t *testing.T) { eachBackend(t, testTOTPColumns) }

func testTOTPColumns(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	if err := s.CreateUser(ctx, accountUser("u1", "alice", "member")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTOTPPending(ctx, "u1", "FIRST"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTOTPPending(ctx, "u1", "SECOND"); err != nil {
		t.Fatal(err)
	}
	// Confirming the secret that was replaced fails.
	if err := s.EnableTOTP(ctx, "u1", "FIRST", 10); !errors.Is(err, ErrNotFound) {
		t.Fatalf("enable replaced secret: %v", err)
	}
	if err := s.EnableTOTP(ctx, "u1", "SECOND", 10); err != nil {
		t.Fatal(err)
	}
	u, _ := s.User(ctx, "u1")
	if u.TOTPSecret != "SECOND" || u.TOTPPending != "" || u.TOTPLastStep != 10 {
		t.Fatalf("after enable: %+v", u)
	}
	for _, tc := range []struct {
		step int64
		ok   bool
	}{{10, false}, {9, false}, {11, true}, {11, false}, {13, true}} {
		if ok, err := s.UseTOTPStep(ctx, "u1", tc.step); err != nil || ok != tc.ok {
			t.Fatalf("UseTOTPStep(%d) = %v, %v; want %v", tc.step, ok, err, tc.ok)
		}
	}
	// Racing uses of one step: one wins.
	var wg sync.WaitGroup
	var wins atomic.Int32
	for range 8 {
		wg.Go(func() {
			if ok, err := s.UseTOTPStep(ctx, "u1", 20); err != nil {
				t.Error(err)
			} else if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("step 20 accepted %d times", wins.Load())
	}
	if err := s.DisableTOTP(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.User(ctx, "u1"); u.TOTPSecret != "" || u.TOTPLastStep != 20 {
		t.Fatalf("after disable: %+v", u)
	}
	if err := s.DisableTOTP(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("disable missing: %v", err)
	}
}

func TestSessions(t *testing.T) { eachBackend(t, testSessions) }

func testSessions(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	for _, u := range []User{accountUser("u1", "alice", "member"), accountUser("u2", "bob", "member")} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	want := Session{ID: "s1", TokenHash: "hash1", UserID: "u1", CSRFToken: "csrf", CreatedAt: t0, LastSeenAt: t0,
		ExpiresAt: t0.Add(time.Hour), UserAgent: "Firefox", IP: "192.0.2.1"}
	if err := s.CreateSession(ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, Session{ID: "s2", TokenHash: "hash1", UserID: "u1"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate token hash: %v", err)
	}
	if err := s.CreateSession(ctx, Session{ID: "s9", TokenHash: "hash9", UserID: "nobody"}); err == nil {
		t.Fatal("session for a missing user accepted")
	}
	ss, u, err := s.SessionByTokenHash(ctx, "hash1")
	if err != nil || ss != want || u.Username != "alice" {
		t.Fatalf("SessionByTokenHash = %+v, %+v, %v", ss, u, err)
	}
	if _, _, err := s.SessionByTokenHash(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown hash: %v", err)
	}
	if err := s.TouchSession(ctx, "s1", t0.Add(time.Minute), t0.Add(2*time.Hour), "192.0.2.2"); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchSession(ctx, "nope", t0, t0, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("touch missing: %v", err)
	}
	for i, id := range []string{"s2", "s3"} {
		if err := s.CreateSession(ctx, Session{ID: id, TokenHash: "hash-" + id, UserID: "u1", CreatedAt: t0.Add(time.Duration(i+2) * time.Minute),
			ExpiresAt: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateSession(ctx, Session{ID: "b1", TokenHash: "hash-b1", UserID: "u2", ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	list, err := s.Sessions(ctx, "u1")
	if err != nil || len(list) != 3 || list[0].ID != "s3" || list[2].ID != "s1" {
		t.Fatalf("Sessions = %+v, %v", list, err)
	}
	if list[2].IP != "192.0.2.2" || !list[2].ExpiresAt.Equal(t0.Add(2*time.Hour)) || list[2].TokenHash != "" {
		t.Fatalf("touched session listed as %+v", list[2])
	}
	// Users cannot end each other's sessions.
	if err := s.DeleteSession(ctx, "u2", "s1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete other's session: %v", err)
	}
	if err := s.DeleteSession(ctx, "u1", "s1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SessionByTokenHash(ctx, "hash1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted session: %v", err)
	}
	// Pruning drops the idle and the expired.
	if err := s.TouchSession(ctx, "s2", t0.Add(50*time.Minute), t0.Add(3*time.Hour), ""); err != nil {
		t.Fatal(err)
	}
	if err := s.PruneSessions(ctx, "u1", t0.Add(90*time.Minute), t0.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.Sessions(ctx, "u1"); len(list) != 1 || list[0].ID != "s2" {
		t.Fatalf("after prune: %+v", list)
	}
	if n, err := s.DeleteUserSessions(ctx, "u1", ""); err != nil || n != 1 {
		t.Fatalf("DeleteUserSessions = %d, %v", n, err)
	}
	if list, _ := s.Sessions(ctx, "u2"); len(list) != 1 {
		t.Fatal("another user's sessions were deleted")
	}
}

func TestUserTokens(t *testing.T) { eachBackend(t, testUserTokens) }

func testUserTokens(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	for _, u := range []User{accountUser("u1", "alice", "member"), accountUser("u2", "bob", "member")} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, id := range []string{"t1", "t2"} {
		if err := s.CreateUserToken(ctx, UserToken{ID: id, TokenHash: "h" + id, UserID: "u1", Name: "bot " + id, CreatedAt: t0.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateUserToken(ctx, UserToken{ID: "t3", TokenHash: "ht1", UserID: "u1"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate hash: %v", err)
	}
	tok, u, err := s.UserTokenByHash(ctx, "ht1")
	if err != nil || tok.ID != "t1" || tok.Name != "bot t1" || !tok.LastUsedAt.IsZero() || u.ID != "u1" {
		t.Fatalf("UserTokenByHash = %+v, %+v, %v", tok, u, err)
	}
	if err := s.TouchUserToken(ctx, "t1", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	list, err := s.UserTokens(ctx, "u1")
	if err != nil || len(list) != 2 || list[0].ID != "t1" || !list[0].LastUsedAt.Equal(t0.Add(time.Hour)) || list[0].TokenHash != "" {
		t.Fatalf("UserTokens = %+v, %v", list, err)
	}
	if err := s.DeleteUserToken(ctx, "u2", "t1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete other's token: %v", err)
	}
	if err := s.DeleteUserToken(ctx, "u1", "t1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.UserTokenByHash(ctx, "ht1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoked token: %v", err)
	}
}

func TestInvites(t *testing.T) { eachBackend(t, testInvites) }

func testInvites(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := s.CreateUser(ctx, accountUser("admin", "root", "admin")); err != nil {
		t.Fatal(err)
	}
	for _, inv := range []Invite{
		{ID: "i1", TokenHash: "h1", Role: "agent", CreatedBy: "admin", CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
		{ID: "i2", TokenHash: "h2", Role: "member", CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)},
		{ID: "i3", TokenHash: "h3", Role: "member", CreatedAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour)},
	} {
		if err := s.CreateInvite(ctx, inv); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateInvite(ctx, Invite{ID: "i4", TokenHash: "h1", Role: "member"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate hash: %v", err)
	}
	list, err := s.Invites(ctx)
	if err != nil || len(list) != 3 || list[0].ID != "i1" || list[0].TokenHash != "" || list[0].CreatedBy != "admin" {
		t.Fatalf("Invites = %+v, %v", list, err)
	}

	// A clash leaves the invitation unused.
	if _, err := s.AcceptInvite(ctx, "h1", now, accountUser("u1", "root", "")); !errors.Is(err, ErrUsernameTaken) {
		t.Fatalf("accept with a taken username: %v", err)
	}
	u, err := s.AcceptInvite(ctx, "h1", now, accountUser("u1", "alice", ""))
	if err != nil || u.Role != "agent" {
		t.Fatalf("accept: %+v, %v", u, err)
	}
	if got, _ := s.User(ctx, "u1"); got.Role != "agent" || got.Username != "alice" {
		t.Fatalf("created user %+v", got)
	}
	for name, hash := range map[string]string{"used": "h1", "expired": "h2", "unknown": "nope"} {
		if _, err := s.AcceptInvite(ctx, hash, now, accountUser("u9", "zed", "")); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s invite: %v", name, err)
		}
	}
	list, _ = s.Invites(ctx)
	if !list[0].UsedAt.Equal(now) || list[0].UsedBy != "u1" {
		t.Fatalf("used invite listed as %+v", list[0])
	}

	// Racing accepts of one invitation create one user.
	var wg sync.WaitGroup
	var ok atomic.Int32
	for i := range 6 {
		wg.Go(func() {
			_, err := s.AcceptInvite(ctx, "h3", now, accountUser(fmt.Sprint("r", i), fmt.Sprint("racer", i), ""))
			if err == nil {
				ok.Add(1)
			} else if !errors.Is(err, ErrNotFound) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("invitation used %d times", ok.Load())
	}

	// Pruning as of half an hour ago drops i2, expired an hour ago; i1 and
	// i3, used now, go in a prune as of a minute from now.
	if n, err := s.PruneInvites(ctx, now.Add(-30*time.Minute)); err != nil || n != 1 {
		t.Fatalf("prune: %d, %v", n, err)
	}
	if n, err := s.PruneInvites(ctx, now.Add(time.Minute)); err != nil || n != 2 {
		t.Fatalf("prune the used ones: %d, %v", n, err)
	}
	if list, _ := s.Invites(ctx); len(list) != 0 {
		t.Fatalf("left after pruning: %+v", list)
	}
	if err := s.DeleteInvite(ctx, "i2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete a pruned invite: %v", err)
	}
}
