package store

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestVAPIDKeys(t *testing.T) { eachBackend(t, testVAPIDKeys) }

func testVAPIDKeys(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	if _, err := s.EnsureVAPIDKeys(ctx, VAPIDKeys{}); err == nil {
		t.Fatal("empty keys accepted")
	}
	first, err := s.EnsureVAPIDKeys(ctx, VAPIDKeys{PublicKey: "pub1", PrivateKey: "priv1"})
	if err != nil || first.PublicKey != "pub1" || first.PrivateKey != "priv1" || first.CreatedAt.IsZero() {
		t.Fatalf("first: %+v, %v", first, err)
	}
	s.Close()

	// After a restart the stored pair wins over a fresh candidate.
	s = b.open(t)
	again, err := s.EnsureVAPIDKeys(ctx, VAPIDKeys{PublicKey: "pub2", PrivateKey: "priv2"})
	if err != nil || again != first {
		t.Fatalf("after reopen: %+v, %v; want %+v", again, err, first)
	}

	// Servers starting together all end up with one pair.
	var wg sync.WaitGroup
	got := make(chan VAPIDKeys, 8)
	for i := range 8 {
		wg.Go(func() {
			k, err := s.EnsureVAPIDKeys(ctx, VAPIDKeys{PublicKey: fmt.Sprint("p", i), PrivateKey: fmt.Sprint("k", i)})
			if err != nil {
				t.Error(err)
			}
			got <- k
		})
	}
	wg.Wait()
	close(got)
	for k := range got {
		if k != first {
			t.Fatalf("concurrent ensure returned %+v", k)
		}
	}
}

func TestPushSubscriptions(t *testing.T) { eachBackend(t, testPushSubscriptions) }

func testPushSubscriptions(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sub := func(endpoint, user string, i int) PushSubscription {
		return PushSubscription{Endpoint: endpoint, UserID: user, P256dh: "p" + endpoint, Auth: "a" + endpoint,
			UserAgent: "UA", CreatedAt: t0.Add(time.Duration(i) * time.Minute)}
	}
	if _, err := s.SavePushSubscription(ctx, PushSubscription{Endpoint: "e"}, 10); err == nil {
		t.Fatal("subscription without user or keys accepted")
	}
	for i := range 3 {
		if n, err := s.SavePushSubscription(ctx, sub(fmt.Sprint("https://push/a", i), "alice", i), 10); err != nil || n != 0 {
			t.Fatalf("save %d: replaced %d, %v", i, n, err)
		}
	}
	if _, err := s.SavePushSubscription(ctx, sub("https://push/b0", "bob", 0), 10); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = b.open(t)
	subs, err := s.PushSubscriptions(ctx, "alice")
	if err != nil || len(subs) != 3 {
		t.Fatalf("alice: %+v, %v", subs, err)
	}
	if subs[0] != sub("https://push/a2", "alice", 2) || subs[2].Endpoint != "https://push/a0" {
		t.Fatalf("newest first: %+v", subs)
	}
	if subs, err := s.PushSubscriptions(ctx, "nobody"); err != nil || subs == nil || len(subs) != 0 {
		t.Fatalf("nobody: %#v, %v", subs, err)
	}

	// Renewing keeps one row with the new keys and time.
	renewed := sub("https://push/a0", "alice", 10)
	renewed.Auth = "new-auth"
	if _, err := s.SavePushSubscription(ctx, renewed, 10); err != nil {
		t.Fatal(err)
	}
	if subs, _ := s.PushSubscriptions(ctx, "alice"); len(subs) != 3 || subs[0] != renewed {
		t.Fatalf("after renewal: %+v", subs)
	}

	// The same browser subscribing for bob moves the endpoint to bob.
	if _, err := s.SavePushSubscription(ctx, sub("https://push/a1", "bob", 11), 10); err != nil {
		t.Fatal(err)
	}
	alice, _ := s.PushSubscriptions(ctx, "alice")
	bob, _ := s.PushSubscriptions(ctx, "bob")
	if len(alice) != 2 || len(bob) != 2 || bob[0].Endpoint != "https://push/a1" {
		t.Fatalf("after move: alice %+v, bob %+v", alice, bob)
	}

	// Only the owner deletes; deleting twice is ErrNotFound.
	if err := s.DeletePushSubscription(ctx, "alice", "https://push/a1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("alice deleted bob's subscription: %v", err)
	}
	if err := s.DeletePushSubscription(ctx, "bob", "https://push/a1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePushSubscription(ctx, "bob", "https://push/a1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}

	// A gone endpoint is removed only while its keys are the ones sent to.
	if err := s.RemovePushEndpoint(ctx, "https://push/a0", "phttps://push/a0", "stale-auth"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove with stale keys: %v", err)
	}
	if err := s.RemovePushEndpoint(ctx, "https://push/a0", "phttps://push/a0", "new-auth"); err != nil {
		t.Fatal(err)
	}
	if subs, _ := s.PushSubscriptions(ctx, "alice"); len(subs) != 1 || subs[0].Endpoint != "https://push/a2" {
		t.Fatalf("after remove: %+v", subs)
	}

	if n, err := s.DeleteUserPushSubscriptions(ctx, "bob"); err != nil || n != 1 {
		t.Fatalf("delete bob's: %d, %v", n, err)
	}
	if subs, _ := s.PushSubscriptions(ctx, "bob"); len(subs) != 0 {
		t.Fatalf("bob still has %+v", subs)
	}
	if subs, _ := s.PushSubscriptions(ctx, "alice"); len(subs) != 1 {
		t.Fatal("deleting bob's subscriptions touched alice's")
	}
	if n, err := s.DeleteUserPushSubscriptions(ctx, "bob"); err != nil || n != 0 {
		t.Fatalf("delete again: %d, %v", n, err)
	}
}

func TestPushSubscriptionLimit(t *testing.T) { eachBackend(t, testPushSubscriptionLimit) }

func testPushSubscriptionLimit(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	save := func(i int, at time.Time) int {
		t.Helper()
		n, err := s.SavePushSubscription(ctx, PushSubscription{Endpoint: fmt.Sprintf("https://push/%02d", i),
			UserID: "carol", P256dh: "p", Auth: "a", CreatedAt: at}, 3)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i := range 3 {
		save(i, t0.Add(time.Duration(i)*time.Second))
	}
	// The fourth replaces the oldest, even when it claims an older time.
	if n := save(3, t0.Add(-time.Hour)); n != 1 {
		t.Fatalf("replaced %d", n)
	}
	var eps []string
	subs, _ := s.PushSubscriptions(ctx, "carol")
	for _, sub := range subs {
		eps = append(eps, sub.Endpoint)
	}
	slices.Sort(eps)
	if want := []string{"https://push/01", "https://push/02", "https://push/03"}; !slices.Equal(eps, want) {
		t.Fatalf("kept %v, want %v", eps, want)
	}

	// Concurrent subscriptions of one user still end at the limit.
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			if _, err := s.SavePushSubscription(ctx, PushSubscription{Endpoint: fmt.Sprint("https://push/c", i),
				UserID: "carol", P256dh: "p", Auth: "a"}, 3); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if subs, _ := s.PushSubscriptions(ctx, "carol"); len(subs) != 3 {
		t.Fatalf("%d subscriptions after concurrent saves, want 3", len(subs))
	}
}

func TestWebhooks(t *testing.T) { eachBackend(t, testWebhooks) }

func testWebhooks(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	in := Webhook{ID: "wh1", URL: "https://example.com/hook?x=1", Secret: "whsec_1", Events: []string{"message.created"},
		Conversation: "c1", Enabled: true, CreatedBy: "admin", CreatedAt: t0}
	got, err := s.CreateWebhook(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if got.CreatedAt != t0 {
		t.Fatalf("created %+v", got)
	}
	if _, err := s.CreateWebhook(ctx, Webhook{ID: "wh1", URL: "https://other", Secret: "x"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := s.CreateWebhook(ctx, Webhook{ID: "wh2", URL: "https://example.org"}); err == nil {
		t.Fatal("empty secret accepted")
	}
	second, err := s.CreateWebhook(ctx, Webhook{ID: "wh0", URL: "http://example.net", Secret: "whsec_0"})
	if err != nil || second.CreatedAt.IsZero() || second.Events == nil {
		t.Fatalf("second: %+v, %v", second, err)
	}
	s.Close()

	s = b.open(t)
	w, err := s.Webhook(ctx, "wh1")
	if err != nil || !equalWebhook(w, in) {
		t.Fatalf("read back %+v, %v; want %+v", w, err, in)
	}
	all, err := s.Webhooks(ctx)
	if err != nil || len(all) != 2 || all[0].ID != "wh1" || all[1].ID != "wh0" || all[1].Enabled || len(all[1].Events) != 0 {
		t.Fatalf("Webhooks = %+v, %v", all, err)
	}
	if err := s.SetWebhookEnabled(ctx, "wh1", false); err != nil {
		t.Fatal(err)
	}
	if w, _ := s.Webhook(ctx, "wh1"); w.Enabled {
		t.Fatal("still enabled")
	}
	if err := s.SetWebhookEnabled(ctx, "nope", true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("enable missing: %v", err)
	}
	if err := s.DeleteWebhook(ctx, "wh1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Webhook(ctx, "wh1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted webhook: %v", err)
	}
	if err := s.DeleteWebhook(ctx, "wh1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}

func equalWebhook(a, b Webhook) bool {
	return a.ID == b.ID && a.URL == b.URL && a.Secret == b.Secret && slices.Equal(a.Events, b.Events) &&
		a.Conversation == b.Conversation && a.Enabled == b.Enabled && a.CreatedBy == b.CreatedBy && a.CreatedAt.Equal(b.CreatedAt)
}
