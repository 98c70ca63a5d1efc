package sip

import (
	"strings"
	"sync/atomic"
	"testing"
)

// The phone's transfer as the app runs it: refusals with a status (491
// while one is pending), Refer-To on another host refused 403, progress
// NOTIFYs (180) before the outcome, a failure's own status, and the BYE
// after the last NOTIFY.
func TestPhoneTransferProgress(t *testing.T) {
	in := answered(t, nil)
	results := make(chan func(error), 2)
	var pending atomic.Bool
	in.c.OnRefer(func(target string, result func(error)) error {
		if pending.Load() {
			return &ReferError{Status: 491, Reason: "Request Pending"}
		}
		if target == "+15557654321" {
			return &ReferError{Status: 403, Reason: "Forbidden"}
		}
		pending.Store(true)
		results <- result
		return nil
	})
	// Each accepted REFER is its own subscription: its NOTIFYs name it by
	// the REFER's CSeq (Event: refer;id=N), the same id throughout.
	var event string
	readNotify := func(want, state string) {
		t.Helper()
		n := in.p.readRequest("NOTIFY")
		ev := n.GetHeader("Event")
		if ev == nil || !strings.HasPrefix(ev.Value(), "refer;id=") {
			t.Fatalf("NOTIFY Event %v, want refer;id=<the REFER's CSeq>", ev)
		}
		if strings.HasPrefix(want, "SIP/2.0 100") {
			if ev.Value() == event {
				t.Fatalf("a new REFER's NOTIFYs reuse the id of the one before (%s)", event)
			}
			event = ev.Value()
		} else if ev.Value() != event {
			t.Fatalf("NOTIFY Event %s within the subscription %s", ev.Value(), event)
		}
		if !strings.HasPrefix(string(n.Body()), want) {
			t.Fatalf("NOTIFY body %q, want %q", n.Body(), want)
		}
		if ss := n.GetHeader("Subscription-State"); ss == nil || !strings.HasPrefix(ss.Value(), state) {
			t.Fatalf("Subscription-State %v, want %s", ss, state)
		}
		in.p.reply(n, 200, "OK", "")
	}
	in.send("REFER", "", "", "Refer-To: <sip:300@evil.example>")
	in.p.expect(403)
	in.send("REFER", "", "", "Refer-To: <tel:+15557654321>")
	in.p.expect(403) // the app's refusal
	in.send("REFER", "", "", "Refer-To: <sip:300@"+testRealm+">")
	in.p.expect(202)
	readNotify("SIP/2.0 100 Trying", "active")
	in.send("REFER", "", "", "Refer-To: <sip:400@"+testRealm+">")
	in.p.expect(491)
	result := <-results
	result(&TransferError{Status: 180})
	readNotify("SIP/2.0 180 Ringing", "active")
	go result(&TransferError{Status: 486})
	readNotify("SIP/2.0 486 Busy Here", "terminated")
	result(nil) // after the outcome: ignored

	pending.Store(false)
	in.send("REFER", "", "", "Refer-To: sip:300@"+testRealm)
	in.p.expect(202)
	readNotify("SIP/2.0 100 Trying", "active")
	done := make(chan struct{})
	go func() {
		(<-results)(nil)
		in.c.HangupTransferred()
		close(done)
	}()
	readNotify("SIP/2.0 200 OK", "terminated")
	<-done
	bye := in.p.readRequest("BYE")
	in.p.reply(bye, 200, "OK", "")
	if r := in.c.EndReason(); r != EndTransferred {
		t.Fatalf("ended as %q", r)
	}
}

func TestReferTarget(t *testing.T) {
	for v, want := range map[string][2]string{
		"<sip:300@sb.test>":                       {"300", "sb.test"},
		"sip:bob@10.0.0.1:5060;method=INVITE":     {"bob", "10.0.0.1"},
		"<tel:+1-555-0100;phone-context=x>":       {"+1-555-0100", ""},
		"Carl <sip:+15550100@sb.test;user=phone>": {"+15550100", "sb.test"},
	} {
		u, h, err := referTarget(v)
		if err != nil || u != want[0] || h != want[1] {
			t.Errorf("%q: %q %q %v, want %v", v, u, h, err, want)
		}
	}
	for _, v := range []string{"<sip:sb.test>", "<tel:abc>", "<sip:x@y?Replaces=1>", "<sip:300@sb.test"} {
		if u, h, err := referTarget(v); err == nil {
			t.Errorf("%q accepted as %q %q", v, u, h)
		}
	}
}
