package store

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestSIPTrunks(t *testing.T) { eachBackend(t, testSIPTrunks) }

func testSIPTrunks(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.open(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tr := SIPTrunk{ID: "t1", Name: "Provider", Enabled: true, Host: "sip.example.net:5060", Transport: "udp", Register: true,
		Username: "acct", AuthUsername: "auth", Password: "pw with spaces", FromDomain: "example.net",
		InboundIPs: []string{"203.0.113.0/24"}, OutboundPrefixes: []string{"+1", "+44"}, NumberFormat: "national",
		MaxCalls: 10, MediaEncryption: "sdes", CreatedAt: t0}
	if _, err := s.CreateSIPTrunk(ctx, SIPTrunk{ID: "x"}); err == nil {
		t.Fatal("trunk without name or host accepted")
	}
	got, err := s.CreateSIPTrunk(ctx, tr)
	if err != nil {
		t.Fatal(err)
	}
	want := tr
	want.UpdatedAt = t0
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("created %+v, want %+v", got, want)
	}
	dup := tr
	dup.ID = "t2"
	if _, err := s.CreateSIPTrunk(ctx, dup); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate name: %v", err)
	}
	peer := SIPTrunk{ID: "t2", Name: "Peer", Host: "198.51.100.1", Transport: "tcp", NumberFormat: "e164"}
	if _, err := s.CreateSIPTrunk(ctx, peer); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = b.open(t)
	if one, err := s.SIPTrunk(ctx, "t1"); err != nil || !reflect.DeepEqual(one, want) {
		t.Fatalf("get: %+v, %v", one, err)
	}
	list, err := s.SIPTrunks(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "Peer" || list[1].Name != "Provider" ||
		list[0].InboundIPs == nil || len(list[0].OutboundPrefixes) != 0 || list[0].Enabled || list[0].MediaEncryption != "none" {
		t.Fatalf("list: %+v, %v", list, err)
	}
	upd := want
	upd.Name, upd.OutboundPrefixes, upd.Password, upd.Enabled, upd.MediaEncryption = "Provider 2", nil, "new", false, ""
	after, err := s.UpdateSIPTrunk(ctx, upd)
	if err != nil || after.Name != "Provider 2" || after.Password != "new" || after.CreatedAt != t0 || after.Enabled || after.MediaEncryption != "none" {
		t.Fatalf("update: %+v, %v", after, err)
	}
	if one, _ := s.SIPTrunk(ctx, "t1"); one.Name != "Provider 2" || len(one.OutboundPrefixes) != 0 || one.Password != "new" {
		t.Fatalf("after update: %+v", one)
	}
	upd.Name = "Peer"
	if _, err := s.UpdateSIPTrunk(ctx, upd); !errors.Is(err, ErrExists) {
		t.Fatalf("rename onto a taken name: %v", err)
	}
	if _, err := s.UpdateSIPTrunk(ctx, SIPTrunk{ID: "nope", Name: "n"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update missing: %v", err)
	}

	// Numbers.
	n := SIPNumber{Number: "+15551234567", TrunkID: "t1", Label: "Sales", TargetKind: "user", TargetValue: "ann", CreatedAt: t0}
	gotN, err := s.CreateSIPNumber(ctx, n)
	if err != nil || gotN.UpdatedAt != t0 {
		t.Fatalf("create number: %+v, %v", gotN, err)
	}
	if _, err := s.CreateSIPNumber(ctx, n); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate number: %v", err)
	}
	ghost := SIPNumber{Number: "+15550000000", TrunkID: "nope", TargetKind: "user", TargetValue: "ann"}
	if _, err := s.CreateSIPNumber(ctx, ghost); !errors.Is(err, ErrNoSuchTrunk) {
		t.Fatalf("number on a missing trunk: %v", err)
	}
	other := SIPNumber{Number: "+442079460000", TargetKind: "extension", TargetValue: "200"}
	if _, err := s.CreateSIPNumber(ctx, other); err != nil {
		t.Fatal(err)
	}
	if one, err := s.SIPNumber(ctx, "+442079460000"); err != nil || one.TrunkID != "" || one.TargetValue != "200" {
		t.Fatalf("get number: %+v, %v", one, err)
	}
	other.TargetKind, other.TargetValue, other.TrunkID = "conference", "room1", "t2"
	if got, err := s.UpdateSIPNumber(ctx, other); err != nil || got.TargetKind != "conference" {
		t.Fatalf("update number: %+v, %v", got, err)
	}
	other.TrunkID = "nope"
	if _, err := s.UpdateSIPNumber(ctx, other); !errors.Is(err, ErrNoSuchTrunk) {
		t.Fatalf("update number to a missing trunk: %v", err)
	}
	if _, err := s.UpdateSIPNumber(ctx, SIPNumber{Number: "+1999", TargetKind: "user", TargetValue: "x"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update missing number: %v", err)
	}
	if nums, err := s.SIPNumbers(ctx); err != nil || len(nums) != 2 || nums[0].Number != "+15551234567" {
		t.Fatalf("numbers: %+v, %v", nums, err)
	}
	// Deleting a trunk deletes its numbers.
	if err := s.DeleteSIPTrunk(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SIPNumber(ctx, "+15551234567"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("number of a deleted trunk: %v", err)
	}
	if err := s.DeleteSIPTrunk(ctx, "t1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if err := s.DeleteSIPNumber(ctx, "+442079460000"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSIPNumber(ctx, "+442079460000"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete number twice: %v", err)
	}
}
