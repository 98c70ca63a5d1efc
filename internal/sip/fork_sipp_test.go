package sip

import (
	"errors"
	"strconv"
	"testing"
	"time"
)

// sippPhones registers one sipp phone of alice's per scenario (register.xml
// from a port, then the scenario answering on that port): several
// bindings of one account, each a real SIP stack.
func sippPhones(t *testing.T, h *harness, scenarios ...string) []func() (bool, string) {
	t.Helper()
	var waits []func() (bool, string)
	for _, sc := range scenarios {
		port := freePort(t, "udp")
		if ok, out := sipp(t, h, "udp", "register.xml", "alice", "secret", "-key", "expires", "120", "-p", strconv.Itoa(port)); !ok {
			t.Fatalf("sipp register failed:\n%s", out)
		}
		waits = append(waits, sippUAS(t, sc, port))
	}
	if n := len(h.s.Bindings("alice")); n != len(scenarios) {
		t.Fatalf("%d bindings, want %d", n, len(scenarios))
	}
	return waits
}

// Forking to real phones: two sipp phones on one account. One answers,
// the other is cancelled with "Call completed elsewhere"; both busy gives
// 486; one declining (603) cancels the other.
func TestSippFork(t *testing.T) {
	sippBinary(t)
	check := func(t *testing.T, waits []func() (bool, string)) {
		t.Helper()
		for i, w := range waits {
			if ok, out := w(); !ok {
				t.Errorf("sipp phone %d failed:\n%s", i, out)
			}
		}
	}
	t.Run("one answers", func(t *testing.T) {
		rec := newRecorder()
		h := newHarness(t, func(c *Config) { c.RTPBindAddr = "127.0.0.1:0"; c.OnRecord = rec.add })
		waits := sippPhones(t, h, "uas_fork_cancelled.xml", "uas_fork_answer.xml")
		c, err := h.s.Dial(t.Context(), DialRequest{Username: "alice", FromUser: "bob"})
		if err != nil {
			t.Fatal(err)
		}
		if c.Codec.Name != "PCMU" {
			t.Errorf("codec %+v", c.Codec)
		}
		time.Sleep(200 * time.Millisecond)
		c.Hangup()
		<-c.Done()
		check(t, waits)
		if got := rec.next(t); got.Outcome != OutcomeAnswered {
			t.Errorf("record %+v", got)
		}
		rec.none(t)
	})
	t.Run("all busy", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.RTPBindAddr = "127.0.0.1:0" })
		waits := sippPhones(t, h, "uas_fork_busy.xml", "uas_fork_busy.xml")
		_, err := h.s.Dial(t.Context(), DialRequest{Username: "alice", FromUser: "bob"})
		var de *DialError
		if !errors.As(err, &de) || de.Status != 486 {
			t.Fatalf("want 486, got %v", err)
		}
		check(t, waits)
	})
	t.Run("declined", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.RTPBindAddr = "127.0.0.1:0" })
		waits := sippPhones(t, h, "uas_fork_cancelled_any.xml", "uas_fork_decline.xml")
		_, err := h.s.Dial(t.Context(), DialRequest{Username: "alice", FromUser: "bob"})
		var de *DialError
		if !errors.As(err, &de) || de.Status != 603 {
			t.Fatalf("want 603, got %v", err)
		}
		check(t, waits)
	})
}
