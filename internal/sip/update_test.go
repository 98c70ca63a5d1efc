package sip

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// The phone holds and resumes by UPDATE with SDP (RFC 3311), as by
// re-INVITE: 200 with the mirrored direction, no ACK; OnHold hears of it.
// An unusable offer gets 488 and the session stays.
func TestPhoneHoldsByUpdate(t *testing.T) {
	in := answered(t, nil)
	held := make(chan bool, 4)
	in.c.OnHold(func(h bool) { held <- h })
	port := netip.MustParseAddrPort(in.media.LocalAddr().String()).Port()
	check := func(offer, wantDir string, wantHeld bool) {
		t.Helper()
		in.send("UPDATE", "application/sdp", offer)
		res := in.p.readFinal()
		if res.StatusCode != 200 {
			t.Fatalf("UPDATE got %d", res.StatusCode)
		}
		ans, err := ParseSDP(res.Body())
		if err != nil || ans.Direction != wantDir {
			t.Fatalf("answer direction %q (%v), want %q", ans.Direction, err, wantDir)
		}
		select {
		case h := <-held:
			if h != wantHeld {
				t.Fatalf("OnHold(%v), want %v", h, wantHeld)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("OnHold not called")
		}
		if _, byPhone := in.c.Held(); byPhone != wantHeld {
			t.Fatalf("held by the phone: %v", byPhone)
		}
	}
	check(offerAt(port, SendOnly), RecvOnly, true)
	check(offerAt(port, SendRecv), SendRecv, false)
	in.send("UPDATE", "application/sdp", strings.Replace(offerAt(port, SendRecv), "RTP/AVP 0 101", "RTP/AVP 8 101", 1))
	if res := in.p.readFinal(); res.StatusCode != 488 {
		t.Fatalf("codec change by UPDATE got %d", res.StatusCode)
	}
	select {
	case <-in.c.Done():
		t.Fatal("the call ended")
	default:
	}
}

// When we are the refresher and the phone's Allow lists UPDATE, our
// session refreshes are UPDATEs without a body; a phone that then refuses
// UPDATE (501) is refreshed by re-INVITE.
func TestRefreshByUpdate(t *testing.T) {
	timers := func(c *Config) { c.SessionExpires, c.MinSessionExpires = 2*time.Second, time.Second }
	o := dialed(t, timers, "Session-Expires: 2;refresher=uac", "Require: timer",
		"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE")
	up := o.p.readRequest("UPDATE")
	if len(up.Body()) != 0 || up.GetHeader("Content-Type") != nil {
		t.Fatalf("a refresh UPDATE with a body:\n%s", up)
	}
	if h := up.GetHeader("Session-Expires"); h == nil || !strings.HasPrefix(h.Value(), "2") {
		t.Fatalf("UPDATE without Session-Expires: %v", h)
	}
	if up.CSeq().SeqNo <= o.inv.CSeq().SeqNo {
		t.Fatalf("UPDATE CSeq %d does not grow", up.CSeq().SeqNo)
	}
	o.p.replyWith(up, 200, "OK", "", "Session-Expires: 2;refresher=uac")
	up = o.p.readRequest("UPDATE")
	o.p.replyWith(up, 501, "Not Implemented", "")
	inv := o.p.readRequest("INVITE")
	md, err := ParseSDP(inv.Body())
	if err != nil {
		t.Fatal(err)
	}
	o.p.replyWith(inv, 200, "OK", answerSDP(int(md.Addr.Port()), 0), "Session-Expires: 2;refresher=uac")
	o.p.readRequest("ACK")
	inv = o.p.readRequest("INVITE") // from now on by re-INVITE
	o.p.replyWith(inv, 200, "OK", answerSDP(int(md.Addr.Port()), 0), "Session-Expires: 2;refresher=uac")
	o.p.readRequest("ACK")
	select {
	case <-o.c.Done():
		t.Fatalf("the call ended: %s", o.c.EndReason())
	default:
	}
}
