package app

import (
	"testing"
	"time"
)

func TestPINGuard(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	g := pinGuard{now: func() time.Time { return now }}
	for i := 1; i < pinFailLimit; i++ {
		if g.failed("account:100") {
			t.Fatalf("blocked after %d wrong PINs", i)
		}
		now = now.Add(time.Second)
	}
	if g.blocked("account:100") {
		t.Fatal("blocked before the limit")
	}
	if !g.failed("account:100") || !g.blocked("account:100") {
		t.Fatalf("not blocked after %d wrong PINs", pinFailLimit)
	}
	if g.blocked("account:200") {
		t.Fatal("another caller is blocked")
	}
	// The first failures age out of the window one by one.
	now = now.Add(pinFailWindow - time.Duration(pinFailLimit-2)*time.Second)
	if g.blocked("account:100") {
		t.Fatal("still blocked after the oldest failure left the window")
	}
	now = now.Add(pinFailWindow)
	if g.blocked("account:100") || len(g.fails) != 0 {
		t.Fatalf("state left after the window: %v", g.fails)
	}
}
