package sip

import (
	"sync"
	"testing"
	"time"
)

// sipp as a phone in a call: hold by re-INVITE (sendonly), a key by SIP
// INFO, resume, a blind transfer by REFER with NOTIFY progress, BYE. The
// scenario checks our answers' directions and the NOTIFY bodies; here the
// handlers' view is checked.
func TestSippCallControl(t *testing.T) {
	var mu sync.Mutex
	var held []bool
	var keys []byte
	var targets []string
	rec := newRecorder()
	h := newHarness(t, func(c *Config) {
		c.RTPBindAddr = "127.0.0.1:0"
		c.OnRecord = rec.add
		c.OnCall = func(cl *Call) {
			cl.OnHold(func(h bool) {
				mu.Lock()
				held = append(held, h)
				mu.Unlock()
			})
			cl.OnRefer(func(target string, result func(error)) error {
				mu.Lock()
				targets = append(targets, target)
				mu.Unlock()
				go func() {
					time.Sleep(100 * time.Millisecond) // the new call connects
					result(nil)
				}()
				return nil
			})
			rs, err := cl.Answer()
			if err != nil {
				t.Error(err)
				return
			}
			rs.OnSignalledKey(func(e DTMFEvent) {
				mu.Lock()
				keys = append(keys, e.Digit)
				mu.Unlock()
			})
			rs.Start(nil)
		}
	})
	if ok, out := sippCall(t, h, "uac_callctl.xml", "echo"); !ok {
		t.Fatalf("sipp call failed\n%s\n%s", out, h.logs)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(held) != 2 || !held[0] || held[1] {
		t.Errorf("OnHold saw %v, want [true false]", held)
	}
	if string(keys) != "7" {
		t.Errorf("keys %q, want 7", keys)
	}
	if len(targets) != 1 || targets[0] != "1234" {
		t.Errorf("transfer targets %v", targets)
	}
	if r := rec.next(t); r.Outcome != OutcomeAnswered || r.Cause != EndRemoteBye {
		t.Errorf("record %+v", r)
	}
}
