package store

import (
	"errors"
	"testing"
	"time"
)

func TestContactRecords(t *testing.T) { eachBackend(t, testContactRecords) }

// Settings, visitors and contact records survive a restart; a returning
// visitor is found by their old token, and the statistics query selects by
// first queue and arrival time; a visitor's credential is live until it
// expires.
func testContactRecords(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

	if err := s.PutSetting(ctx, Setting{Kind: SettingQueue, ID: "sales", Doc: []byte(`{"id":"sales"}`), UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSetting(ctx, Setting{Kind: SettingQueue, ID: "sales", Doc: []byte(`{"id":"sales","priority":2}`), UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	v := Visitor{ID: "v1", Widget: "site", DisplayName: "Ann", TokenHash: "h1", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateVisitor(ctx, v); err != nil {
		t.Fatal(err)
	}
	expired := Visitor{ID: "v2", Widget: "site", DisplayName: "Bob", TokenHash: "h2", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(-time.Minute)}
	if err := s.CreateVisitor(ctx, expired); err != nil {
		t.Fatal(err)
	}
	for i, c := range []Contact{
		{ID: "c1", Queue: "sales", VisitorID: "v1", Media: "chat", Status: "ended", ArrivedAt: now.Add(-2 * time.Hour), EndedAt: now, Wait: 5 * time.Second, Handle: time.Minute},
		{ID: "c2", Queue: "support", FirstQueue: "sales", VisitorID: "v1", Media: "video", Status: "in_progress", ArrivedAt: now.Add(-time.Hour), AnsweredAt: now},
		{ID: "c3", Queue: "support", VisitorID: "v2", Media: "chat", Status: "abandoned", ArrivedAt: now.Add(-30 * time.Minute), EndedAt: now},
	} {
		if err := s.SaveContact(ctx, c); err != nil {
			t.Fatalf("contact %d: %v", i, err)
		}
	}
	// An update keeps what it does not change and sets the rest.
	if err := s.SaveContact(ctx, Contact{ID: "c1", Queue: "sales", VisitorID: "v1", Media: "chat", Status: "ended", ArrivedAt: now.Add(-2 * time.Hour),
		EndedAt: now, Wait: 5 * time.Second, Handle: time.Minute, WrapUpCode: "sale", Notes: "bought two"}); err != nil {
		t.Fatal(err)
	}

	s = b.open(t) // as after a restart
	qs, err := s.Settings(ctx, SettingQueue)
	if err != nil || len(qs) != 1 || string(qs[0].Doc) != `{"id":"sales","priority":2}` {
		t.Fatalf("settings = %+v, %v", qs, err)
	}
	got, err := s.VisitorByTokenHash(ctx, "h2")
	if err != nil || got.ID != "v2" || !got.ExpiresAt.Equal(expired.ExpiresAt) {
		t.Fatalf("visitor by expired token = %+v, %v", got, err)
	}
	if _, err := s.VisitorByTokenHash(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown token: %v", err)
	}
	got.TokenHash, got.ExpiresAt, got.DisplayName = "h2b", now.Add(time.Hour), "Bobby"
	if err := s.RenewVisitor(ctx, got); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VisitorByTokenHash(ctx, "h2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old token still works: %v", err)
	}
	live, err := s.LiveCredentials(ctx, now)
	if err != nil || !live["v1"] || !live["v2"] {
		t.Fatalf("live = %v, %v; want both visitors", live, err)
	}
	if err := s.EndVisitor(ctx, "v1", now); err != nil {
		t.Fatal(err)
	}
	if live, _ := s.LiveCredentials(ctx, now); live["v1"] {
		t.Fatal("an ended visitor's credential is still live")
	}

	c1, err := s.Contact(ctx, "c1")
	if err != nil || c1.WrapUpCode != "sale" || c1.Notes != "bought two" || c1.FirstQueue != "sales" || c1.Handle != time.Minute || !c1.AnsweredAt.IsZero() {
		t.Fatalf("c1 = %+v, %v", c1, err)
	}
	mine, err := s.VisitorContacts(ctx, "v1", 10)
	if err != nil || len(mine) != 2 || mine[0].ID != "c2" {
		t.Fatalf("visitor contacts = %+v, %v", mine, err)
	}
	open, err := s.OpenContacts(ctx)
	if err != nil || len(open) != 1 || open[0].ID != "c2" {
		t.Fatalf("open = %+v, %v", open, err)
	}
	sales, err := s.ContactsArrived(ctx, "sales", now.Add(-3*time.Hour), now)
	if err != nil || len(sales) != 2 || sales[0].ID != "c1" || sales[1].ID != "c2" {
		t.Fatalf("arrived in sales = %+v, %v", sales, err)
	}
	all, err := s.ContactsArrived(ctx, "", now.Add(-90*time.Minute), now)
	if err != nil || len(all) != 2 {
		t.Fatalf("arrived in the last 90 minutes = %+v, %v", all, err)
	}
	if err := s.DeleteSetting(ctx, SettingQueue, "sales"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSetting(ctx, SettingQueue, "sales"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}

func TestContactPhones(t *testing.T) { eachBackend(t, testContactPhones) }

// A telephone caller's visitor is found by their number (the newest one);
// a contact keeps the number it is with.
func testContactPhones(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	if _, err := s.VisitorByPhone(ctx, "+15551234567"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no caller yet: %v", err)
	}
	if _, err := s.VisitorByPhone(ctx, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no number: %v", err)
	}
	for i, v := range []Visitor{
		{ID: "web", Widget: "site", DisplayName: "Ann", TokenHash: "h0", CreatedAt: now, LastSeenAt: now, ExpiresAt: now},
		{ID: "p1", Widget: "phone:sales", DisplayName: "Old", TokenHash: "h1", CreatedAt: now, LastSeenAt: now, ExpiresAt: now, Phone: "+15551234567"},
		{ID: "p2", Widget: "phone:sales", DisplayName: "Jane", TokenHash: "h2", CreatedAt: now.Add(time.Minute), LastSeenAt: now, ExpiresAt: now, Phone: "+15551234567"},
	} {
		if err := s.CreateVisitor(ctx, v); err != nil {
			t.Fatalf("visitor %d: %v", i, err)
		}
	}
	v, err := s.VisitorByPhone(ctx, "+15551234567")
	if err != nil || v.ID != "p2" || v.Phone != "+15551234567" || v.DisplayName != "Jane" {
		t.Fatalf("by phone = %+v, %v", v, err)
	}
	c := Contact{ID: "c1", Queue: "sales", VisitorID: "p2", Media: "voice", Status: "waiting", ArrivedAt: now, Phone: "+15551234567"}
	if err := s.SaveContact(ctx, c); err != nil {
		t.Fatal(err)
	}
	c.Phone, c.Status = "+442071234567", "callback"
	if err := s.SaveContact(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := s.Contact(ctx, "c1")
	if err != nil || got.Phone != "+442071234567" || got.Status != "callback" {
		t.Fatalf("contact = %+v, %v", got, err)
	}
}
